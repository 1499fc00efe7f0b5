"""Peer for benches/certify.rs (issue 14): auto_LiRPA's IBP / CROWN-IBP certified training of the
same network on the same data with the same schedule as the README's relulab runs, and the seconds
per epoch.

    python bench/peers/certify_autolirpa.py [--method ibp|crown-ibp] [--epochs 300] [--threads 2]

Network 64-256-256-10 ReLU; digits (data/scikit-learn/digits.csv.gz), pixels / 16 in [0, 1], 1438
train / 359 test samples (a seeded split of the same sizes as relulab's, not the same indices);
batch 32; AdamW (lr 1e-3, weight decay 0.2), cosine learning rate over the run; 3 clean epochs, then
ε ramped linearly from 0 to ε_train (IBP 0.11, CROWN-IBP 0.1) and κ from 1 to 0 over epochs/3
epochs; loss κ·CE(clean) + (1 − κ)·CE(−m) with m the lower bounds of the margins z_y − z_j
(specification matrix C, Zhang et al. 2020); CROWN-IBP mixes β·m_CROWN-IBP + (1 − β)·m_IBP with β
from 1 to 0 over the ramp. Float32, CPU, `torch.set_num_threads(threads)`.

Prints one JSON line per epoch ({"epoch", "seconds", "eps", "kappa", "loss"}) and a final line with
the mean seconds per epoch (all epochs, and the ramp epochs) and the test accuracies at ε = 0.1:
clean, verified by IBP, and verified by CROWN (auto_LiRPA's bounds, the better of the two per
sample; incomplete: no attack, no branch and bound).

auto_LiRPA 0.3 (the PyPI release) predates torch 2: four shims below restore the torch names it
imports (`_set_opset_version`, `_optimize_graph`, `Node.__getitem__`) and one keyword (`remove_duplicate`); installed with
`pip install torch; pip install --no-deps auto_LiRPA; pip install "numpy<2" appdirs packaging
pyyaml tqdm`.
"""
import argparse
import gzip
import json
import math
import os
import time

import numpy as np
import torch

# Shims for auto_LiRPA 0.3 on torch 2.x (names moved or removed since torch 1.12).
import torch.onnx.symbolic_helper as _sh
import torch.onnx.utils as _ou
from torch.onnx._internal.torchscript_exporter import _globals as _tsg
from torch.onnx._internal.torchscript_exporter import utils as _tsu


def _set_opset_version(v):
    _tsg.GLOBALS.export_onnx_opset_version = v


_sh._set_opset_version = _set_opset_version
_ou._optimize_graph = _tsu._optimize_graph
torch._C.Node.__getitem__ = lambda self, k: getattr(self, self.kindOf(k))(k)

from auto_LiRPA import BoundedModule, BoundedTensor  # noqa: E402
from auto_LiRPA.perturbations import PerturbationLpNorm  # noqa: E402

# torch ≥ 2.0 passes remove_duplicate to _named_members, which auto_LiRPA 0.3 overrides.
_nm = BoundedModule._named_members
BoundedModule._named_members = lambda self, fn, prefix="", recurse=True, **_: _nm(
    self, fn, prefix, recurse)


def load_digits():
    here = os.path.dirname(os.path.abspath(__file__))
    path = os.path.join(here, "..", "..", "data", "scikit-learn", "digits.csv.gz")
    rows = [list(map(float, l.split(","))) for l in gzip.open(path, "rt") if l.strip()]
    a = np.array(rows)
    x, y = a[:, :64] / 16.0, a[:, 64].astype(np.int64)
    idx = np.random.default_rng(0).permutation(len(x))
    te, tr = idx[:359], idx[359:]
    return (torch.tensor(x[tr], dtype=torch.float32), torch.tensor(y[tr]),
            torch.tensor(x[te], dtype=torch.float32), torch.tensor(y[te]))


def spec(y, n=10):
    """C (batch × (n−1) × n): rows e_y − e_j for j ≠ y."""
    eye = torch.eye(n)
    c = eye[y].unsqueeze(1) - eye.unsqueeze(0)
    keep = torch.arange(n).unsqueeze(0) != y.unsqueeze(1)
    return c[keep].view(len(y), n - 1, n)


def margins(bm, x, y, eps, method):
    ptb = PerturbationLpNorm(norm=float("inf"), eps=eps, x_L=(x - eps).clamp(0, 1),
                             x_U=(x + eps).clamp(0, 1))
    lb, _ = bm.compute_bounds(x=(BoundedTensor(x, ptb),), C=spec(y), method=method,
                              bound_upper=False)
    return lb


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--method", default="ibp", choices=["ibp", "crown-ibp"])
    ap.add_argument("--epochs", type=int, default=300)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--eps", type=float, default=None)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    xtr, ytr, xte, yte = load_digits()
    eps_train = args.eps if args.eps is not None else (0.11 if args.method == "ibp" else 0.1)
    net = torch.nn.Sequential(torch.nn.Linear(64, 256), torch.nn.ReLU(), torch.nn.Linear(256, 256),
                              torch.nn.ReLU(), torch.nn.Linear(256, 10))
    bm = BoundedModule(net, xtr[:1], device="cpu")
    opt = torch.optim.AdamW(bm.parameters(), lr=1e-3, weight_decay=0.2)
    bs = 32
    per_epoch = math.ceil(len(xtr) / bs)
    warm, ramp = 3 * per_epoch, max(1, (args.epochs // 3) * per_epoch)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=args.epochs)
    step = 0
    times, ramp_times = [], []
    for epoch in range(args.epochs):
        t0 = time.perf_counter()
        g = torch.Generator().manual_seed(1000 + epoch)
        order = torch.randperm(len(xtr), generator=g)
        total = 0.0
        for b in range(0, len(xtr), bs):
            idx = order[b:b + bs]
            x, y = xtr[idx], ytr[idx]
            t = min(max((step - warm) / ramp, 0.0), 1.0)
            eps, kappa, beta = eps_train * t, 1.0 - t, 1.0 - t
            loss = kappa * torch.nn.functional.cross_entropy(bm(x), y)
            if kappa < 1.0:
                m = margins(bm, x, y, eps, "IBP")
                if args.method == "crown-ibp" and beta > 0:
                    m = beta * margins(bm, x, y, eps, "CROWN-IBP") + (1 - beta) * m
                # CE(−m): logits 0 for the label and −m_j for the others.
                z = torch.cat([torch.zeros(len(y), 1), -m], dim=1)
                loss = loss + (1 - kappa) * torch.nn.functional.cross_entropy(
                    z, torch.zeros(len(y), dtype=torch.long))
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += float(loss)
            step += 1
        sched.step()
        dt = time.perf_counter() - t0
        times.append(dt)
        if 3 <= epoch < 3 + args.epochs // 3:
            ramp_times.append(dt)
        print(json.dumps({"epoch": epoch + 1, "seconds": round(dt, 4), "eps": eps,
                          "kappa": kappa, "loss": total / per_epoch}), flush=True)
    with torch.no_grad():
        clean = (bm(xte).argmax(1) == yte).float()
        ok = clean.clone()
        m_ibp = margins(bm, xte, yte, 0.1, "IBP").min(1).values
        m_crown = margins(bm, xte, yte, 0.1, "CROWN").min(1).values
    print(json.dumps({
        "method": args.method, "epochs": args.epochs, "threads": args.threads,
        "seconds_per_epoch": sum(times) / len(times),
        "seconds_per_ramp_epoch": sum(ramp_times) / max(1, len(ramp_times)),
        "clean_accuracy": float(clean.mean()),
        "ibp_verified_accuracy_0.1": float((ok * (m_ibp > 0)).mean()),
        "crown_verified_accuracy_0.1": float((ok * ((m_ibp > 0) | (m_crown > 0))).mean()),
        "torch": torch.__version__,
    }))


if __name__ == "__main__":
    main()
