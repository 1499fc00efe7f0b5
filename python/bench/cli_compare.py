"""A Python call against the CLI process on the same problem: wall time, best of 3.

    RELULAB_BIN=target/release/relulab python python/bench/cli_compare.py

The ACAS Xu rows need the VNN-COMP 2021 benchmarks in ../shared/benchmarks (skipped otherwise).
"""
import os, subprocess, tempfile, time
from pathlib import Path
import numpy as np, relulab
REPO = Path(__file__).resolve().parents[2]
BIN = os.environ.get("RELULAB_BIN", str(REPO / "target" / "release" / "relulab"))
A = str(REPO.parent / "shared" / "benchmarks" / "vnncomp2021" / "acasxu")
TMP = tempfile.mkdtemp()
def best(f, k=3):
    return min((lambda t: (f(), time.perf_counter() - t)[1])(time.perf_counter()) for _ in range(k))
rng = np.random.default_rng(0)
w = [2] + [64] * 8 + [1]
ws = [(rng.standard_normal((o, i)) * np.sqrt(2 / i)).astype(np.float32) for i, o in zip(w, w[1:])]
net = relulab.Mlp.from_layers(ws, [np.zeros(o, np.float32) for o in w[1:]])
net.save(f"{TMP}/he.safetensors")
py = best(lambda: net.regions(box=(-2, 2, -2, 2)))
cli = best(lambda: subprocess.run([BIN, "regions", "--model", f"{TMP}/he.safetensors", "--box=-2,2,-2,2", "--json"], capture_output=True, check=True))
r = net.regions(box=(-2, 2, -2, 2))
print(f"regions 2-[64]x8-1 ({r['activation_regions']} regions): Python {py*1e3:.1f} ms, CLI process {cli*1e3:.1f} ms, ratio {py/cli:.3f}")
for onnx, prop in [("ACASXU_run2a_1_1_batch_2000.onnx", "prop_6.vnnlib"), ("ACASXU_run2a_1_2_batch_2000.onnx", "prop_2.vnnlib")]:
    if not os.path.exists(f"{A}/{prop}"):
        continue
    m = relulab.load(f"{A}/{onnx}")
    py = best(lambda: relulab.verify(m, f"{A}/{prop}", timeout=116))
    cli = best(lambda: subprocess.run([BIN, "verify", "--model", f"{A}/{onnx}", "--property", f"{A}/{prop}", "--json"], capture_output=True, check=True))
    res = relulab.verify(m, f"{A}/{prop}")["result"]
    print(f"verify {onnx[12:15]} {prop} ({res}): Python {py:.3f} s, CLI process {cli:.3f} s, ratio {py/cli:.3f}")
