"""Long calls release the GIL and stop on Ctrl-C (SIGINT) within a fraction of a second."""

import os
import signal
import subprocess
import sys
import textwrap
import threading
import time

import numpy as np
import pytest

import relulab
from conftest import REPO

# Child script: start a long call, say so, report how it ended.
CHILD = textwrap.dedent(
    """
    import os, sys, time, numpy as np, relulab
    what = sys.argv[1]
    if what == "regions":
        rng = np.random.default_rng(0)
        ws = [rng.standard_normal((128, 2))] + [rng.standard_normal((128, 128)) / 8 for _ in range(11)]
        ws.append(rng.standard_normal((1, 128)))
        net = relulab.Mlp.from_layers(ws, [rng.standard_normal(w.shape[0]) * 0.1 for w in ws])
    if what == "verify":
        import os, tempfile
        rng = np.random.default_rng(0)
        ws = [rng.standard_normal((64, 2))] + [rng.standard_normal((64, 64)) / 6 for _ in range(7)]
        ws.append(rng.standard_normal((1, 64)))
        net = relulab.Mlp.from_layers(ws, [rng.standard_normal(w.shape[0]) * 0.1 for w in ws])
        g = np.stack(np.meshgrid(np.linspace(-3, 3, 200), np.linspace(-3, 3, 200)), -1).reshape(-1, 2)
        top = float(net.forward(g).max())
        # The unsafe set sits just above the sampled maximum: a hard "unsat" (or a narrow
        # "sat") that input splitting takes far longer than the test to decide.
        spec = os.path.join(tempfile.mkdtemp(), "p.vnnlib")
        with open(spec, "w") as f:
            f.write("(declare-const X_0 Real)\\n(declare-const X_1 Real)\\n(declare-const Y_0 Real)\\n")
            f.write("(assert (>= X_0 -3))\\n(assert (<= X_0 3))\\n(assert (>= X_1 -3))\\n(assert (<= X_1 3))\\n")
            f.write(f"(assert (>= Y_0 {top + 1e-3 * abs(top) + 1e-6}))\\n")
    if what == "optimize":
        # 8 inputs, gap 0: input splitting runs far past the test.
        import os, tempfile
        rng = np.random.default_rng(0)
        ws = [rng.standard_normal((64, 8))] + [rng.standard_normal((64, 64)) / 6 for _ in range(3)]
        ws.append(rng.standard_normal((1, 64)))
        net = relulab.Mlp.from_layers(ws, [rng.standard_normal(w.shape[0]) * 0.1 for w in ws])
        model = os.path.join(tempfile.mkdtemp(), "m.safetensors")
        net.save(model)
    if what == "certify":
        # 2000 samples of a 20-64x4-10 classifier at a radius where most need branch and
        # bound: ~0.1 s each.
        rng = np.random.default_rng(0)
        ws = [rng.standard_normal((64, 20)) / 3] + [rng.standard_normal((64, 64)) / 6 for _ in range(3)]
        ws.append(rng.standard_normal((10, 64)))
        net = relulab.Mlp.from_layers(ws, [rng.standard_normal(w.shape[0]) * 0.1 for w in ws])
        x = rng.uniform(0, 1, (2000, 20))
        labels = np.argmax(net.forward(x), axis=1)
    print("started", flush=True)
    try:
        if what == "train":
            relulab.train(dataset="digits", hidden=[256, 256], epochs=10000)
        elif what == "claims":
            relulab.claims(only=list(range(1, 12)) * 20)
        elif what == "regions":
            net.regions(box=(-3, 3, -3, 3))
        elif what == "verify":
            relulab.verify(net, spec, timeout=600)
        elif what == "reach":
            # Target error 0: refine until the 600 s limit or 65536 parts.
            di = os.path.join(sys.argv[2], "data", "control", "double_integrator")
            relulab.reach(os.path.join(di, "system.toml"), os.path.join(di, "controller.json"),
                          steps=10, target_error=0, time_limit=600, true_samples=2000)
        elif what == "optimize":
            relulab.optimize(model, maximize="y[0]", input_bounds=[(-3, 3)] * 8, gap_abs=0,
                             gap_rel=0, time_limit=600)
        elif what == "certify":
            relulab.certify(net, x, labels, 0.05, clamp=(0, 1), time_limit_per_sample=60)
        print("finished", flush=True)
    except KeyboardInterrupt:
        print("interrupted", flush=True)
        # CPU time of this process over the next half second, and over the half second after
        # that: ~0 once the worker has stopped.
        t = time.process_time()
        time.sleep(0.5)
        t1 = time.process_time()
        time.sleep(0.5)
        print(f"{t1 - t:.3f} {time.process_time() - t1:.3f}", flush=True)
    """
)


def _interrupt_after_start(what, delay=0.5):
    p = subprocess.Popen(
        [sys.executable, "-c", CHILD, what, str(REPO)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        line = p.stdout.readline()
        assert line.strip() == "started", p.stderr.read()
        time.sleep(delay)
        assert p.poll() is None, "the call ended before the signal"
        t0 = time.monotonic()
        p.send_signal(signal.SIGINT)
        out = p.stdout.readline().strip()
        elapsed = time.monotonic() - t0
        cpu_after = [float(v) for v in p.stdout.readline().split()] if out == "interrupted" else None
        p.wait(timeout=30)
    finally:
        if p.poll() is None:
            p.kill()
    return out, elapsed, cpu_after


@pytest.mark.parametrize(
    "what", ["train", "claims", "regions", "verify", "reach", "optimize", "certify"]
)
def test_ctrl_c_stops_a_long_call(what):
    out, elapsed, cpu_after = _interrupt_after_start(what)
    assert out == "interrupted"
    # The wait loop polls every 20 ms; allow for a loaded 2-core CI machine.
    assert elapsed < 0.5, f"{what}: KeyboardInterrupt after {elapsed:.3f} s"
    if what in ("train", "regions"):
        # The worker stopped too (a claim runs to its end: up to ~1 s of CPU).
        assert cpu_after[0] < 0.2, f"{what}: {cpu_after[0]} s of CPU in the 0.5 s after the interrupt"
    if what in ("verify", "reach", "optimize", "certify"):
        # The search stops at the end of its round of domains, part or sample (a fraction of a
        # second here; without the cancel flag it would run on for its 600 s limit, or through
        # 2000 samples).
        assert cpu_after[1] < 0.1, f"{what}: {cpu_after[1]} s of CPU 0.5-1 s after the interrupt"


def test_long_calls_release_the_gil():
    rng = np.random.default_rng(1)
    ws = [rng.standard_normal((64, 2))] + [rng.standard_normal((64, 64)) / 6 for _ in range(5)]
    ws.append(rng.standard_normal((1, 64)))
    net = relulab.Mlp.from_layers(ws)
    ticks = 0
    done = threading.Event()

    def count():
        nonlocal ticks
        while not done.is_set():
            ticks += 1
            time.sleep(0.001)

    t = threading.Thread(target=count)
    t.start()
    t0 = time.monotonic()
    try:
        while time.monotonic() - t0 < 0.3:
            net.regions(box=(-4, 4, -4, 4))
    finally:
        done.set()
        t.join()
    took = time.monotonic() - t0
    # The counting thread sleeps 1 ms per tick; had the calls held the GIL it would have run
    # only between them (a handful of ticks).
    assert ticks >= 0.1 * took / 0.001, (ticks, took)


def test_interruptible_wait_returns_normally():
    t0 = time.monotonic()
    relulab._relulab._sleep_interruptible(0.1)
    assert 0.09 < time.monotonic() - t0 < 2.0
