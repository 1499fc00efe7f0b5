"""Binding overhead of ``Mlp.forward``: a 1 × 64 float32 input through a 64-256-256-10 ReLU
network, Python call against the Rust call it makes (timed in Rust, no Python in the loop).

    python python/bench/forward_overhead.py        # prints ns per call, best of 7 runs

Target (issue 15): at most 2 µs above the Rust call.
"""

import time

import numpy as np

import relulab
from relulab import _relulab


def best_ns(f, iters, reps=7):
    best = float("inf")
    for _ in range(reps):
        t = time.perf_counter_ns()
        for _ in range(iters):
            f()
        best = min(best, (time.perf_counter_ns() - t) / iters)
    return best


def main():
    rng = np.random.default_rng(0)
    widths = [64, 256, 256, 10]
    ws = [rng.standard_normal((o, i)).astype(np.float32) * np.sqrt(2 / i) for i, o in zip(widths, widths[1:])]
    net = relulab.Mlp.from_layers(ws, [np.zeros(o, np.float32) for o in widths[1:]])
    for shape in [(64,), (1, 64), (32, 64)]:
        x = rng.standard_normal(shape).astype(np.float32)
        iters = 20000 if shape[0] != 32 else 2000
        net.forward(x)
        py = best_ns(lambda: net.forward(x), iters)
        rust = min(_relulab._bench_forward_rust(net, x, iters) for _ in range(7))
        print(f"input {shape}: Python forward {py / 1000:.2f} µs, Rust call {rust / 1000:.2f} µs, "
              f"overhead {(py - rust) / 1000:.2f} µs")


if __name__ == "__main__":
    main()
