"""Peer for benches/reach.rs: auto_LiRPA's CROWN and alpha-CROWN bounds of x[N] for the closed loop
unrolled by relulab (the same network: its layers, biases and per-unit slopes are read from the JSON that
the bench writes), over the whole initial box, in float64.

    python bench/peers/reach_autolirpa.py unrolled.json

Prints one JSON line per method: {"method", "lo", "hi", "seconds"} (seconds: compute_bounds only, median
of 5 runs). Hidden unit j of a layer is relu(z_j) where alpha_j = 0 and z_j where alpha_j = 1, written as
relu(z) * m + z * (1 - m) with the constant mask m (CROWN relaxes relu(z_j) of an identity unit, but its
coefficient is 0 after the mask, so nothing is lost).
"""
import json
import sys
import time

import torch
from auto_LiRPA import BoundedModule, BoundedTensor
from auto_LiRPA.perturbations import PerturbationLpNorm


class Masked(torch.nn.Module):
    def __init__(self, alpha):
        super().__init__()
        a = torch.tensor(alpha, dtype=torch.float64)
        if not bool(((a == 0) | (a == 1)).all()):
            raise SystemExit("only relu (alpha 0) and identity (alpha 1) units")
        self.register_buffer("m", (a == 0).to(torch.float64).unsqueeze(0))
        self.register_buffer("k", (a == 1).to(torch.float64).unsqueeze(0))

    def forward(self, z):
        return torch.relu(z) * self.m + z * self.k


def main():
    spec = json.load(open(sys.argv[1]))
    mods = []
    n = len(spec["layers"])
    for i, l in enumerate(spec["layers"]):
        lin = torch.nn.Linear(l["in"], l["out"]).double()
        with torch.no_grad():
            lin.weight.copy_(torch.tensor(l["w"], dtype=torch.float64).reshape(l["out"], l["in"]))
            lin.bias.copy_(torch.tensor(l["b"], dtype=torch.float64))
        mods.append(lin)
        if i + 1 < n:
            mods.append(Masked(l["alpha"]))
    model = torch.nn.Sequential(*mods).double().eval()
    lo = torch.tensor([spec["lo"]], dtype=torch.float64)
    hi = torch.tensor([spec["hi"]], dtype=torch.float64)
    x = (lo + hi) / 2
    bm = BoundedModule(model, torch.zeros_like(x), device="cpu")
    torch.set_num_threads(2)
    for method in ["CROWN", "alpha-CROWN"]:
        times = []
        for _ in range(5):
            bx = BoundedTensor(x, PerturbationLpNorm(norm=float("inf"), x_L=lo, x_U=hi))
            t = time.perf_counter()
            lb, ub = bm.compute_bounds(x=(bx,), method=method)
            times.append(time.perf_counter() - t)
        times.sort()
        print(json.dumps({"method": method, "lo": lb[0].tolist(), "hi": ub[0].tolist(),
                          "seconds": times[len(times) // 2]}))


if __name__ == "__main__":
    main()
