"""PyTorch CPU peer of `cargo bench --bench regions`: the usual way to see the linear regions of
a 2-D network without an exact tool, a dense grid. Evaluates the same network (float64, weights
from the bench) on an R×R grid over the same box, takes every hidden unit's sign, and counts the
distinct activation patterns. It finds only regions that contain a grid point (a lower bound);
the bench prints both its time and how many of the exact regions it found.

Usage: python bench/peers/regions_grid.py --net net.json --threads 2 --res 1024
(net.json: {"box": [u0, u1, v0, v1], "layers": [{"w": [[...]], "b": [...]}, ...]})
Needs torch; it is a benchmark, not a test. Prints one JSON line.
"""
import argparse
import json
import time

import torch


def patterns(layers, x, key):
    """A 64-bit hash of every point's activation pattern (sign of every hidden unit): a random
    linear form in wrapping int64 arithmetic; two distinct patterns collide with probability
    about 2^-64, negligible for a few million points."""
    bits = []
    a = x
    for w, b in layers[:-1]:
        z = a @ w.T + b
        bits.append(z > 0)
        a = torch.relu(z)
    s = torch.cat(bits, dim=1).to(torch.int64)
    return (s * key).sum(dim=1)


def run(layers, box, res, chunk=1 << 18):
    u = torch.linspace(box[0], box[1], res, dtype=torch.float64)
    v = torch.linspace(box[2], box[3], res, dtype=torch.float64)
    grid = torch.cartesian_prod(u, v)
    units = sum(w.shape[0] for w, _ in layers[:-1])
    key = torch.randint(-(2**62), 2**62, (units,), dtype=torch.int64,
                        generator=torch.Generator().manual_seed(0)) * 2 + 1
    seen = []
    with torch.no_grad():
        for k in range(0, grid.shape[0], chunk):
            seen.append(torch.unique(patterns(layers, grid[k : k + chunk], key)))
    return torch.unique(torch.cat(seen)).shape[0]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--net", required=True)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--res", type=int, default=1024)
    ap.add_argument("--reps", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    spec = json.load(open(args.net))
    layers = [
        (torch.tensor(l["w"], dtype=torch.float64), torch.tensor(l["b"], dtype=torch.float64))
        for l in spec["layers"]
    ]
    best, found = float("inf"), 0
    for _ in range(args.reps):
        t = time.perf_counter()
        found = run(layers, spec["box"], args.res)
        best = min(best, time.perf_counter() - t)
    print(json.dumps({"seconds": best, "distinct": found, "points": args.res**2,
                      "threads": args.threads, "torch": torch.__version__}))


if __name__ == "__main__":
    main()
