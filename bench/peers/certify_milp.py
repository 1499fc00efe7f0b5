"""Ground truth for benches/certify.rs (issue 14): the exact MILP of L∞ robustness of a ReLU
classifier, per sample, solved by HiGHS (highspy, PyPI).

    cargo bench --bench certify -- --export DIR          # the standard net and the test split
    # the same network (same weights, same test split) with its training state, for `certify`:
    relulab train --dataset digits --hidden 256,256 --no-standardize --model-out std.safetensors
    relulab certify std.safetensors --data digits --eps 0.05,0.1 --json > runs.jsonl
    python bench/peers/certify_milp.py DIR --eps 0.05 --indices 3,17,... [--time-limit 60]
        [--from-json runs.jsonl --status unknown --sample 40 --seed 0] [--budget 20]
        [--out results.jsonl]

`--from-json` takes the samples `certify` left with `--status` (default unknown) at `--eps`.

DIR holds what the bench's `--export` writes: W0.npy, b0.npy, … (layers, out × in), x_test.npy
(n × 64, pixels / 16 in [0, 1]) and y_test.npy. The model's input is 16·x (no standardisation).

For a sample x0 with label y and radius ε the question is the sign of

    min over j ≠ y of min over x ∈ [x0 − ε, x0 + ε] ∩ [0, 1]^64 of z_y(x) − z_j(x).

It is answered exactly (up to the solver's tolerances, see below) by one mixed-integer linear
program per target class j: every ReLU a = max(z, 0) that the pre-activation bounds l ≤ z ≤ u
leave unstable (l < 0 < u) becomes the big-M encoding with a binary δ (Tjeng, Xiao & Tedrake
2019, "Evaluating robustness of neural networks with mixed integer programming", eq. (5)):
a ≥ z, a ≥ 0, a ≤ z − l·(1 − δ), a ≤ u·δ; stable units are linear. Bounds: the first layer's
are exact interval bounds over the box; the second layer's are the LP bounds (minimise and
maximise each pre-activation over the LP relaxation of the first layer, Tjeng et al. §5 "LP"
tightening), which are at least as tight as CROWN's. Per class, the LP relaxation of the whole
program is solved first; when its bound is > 0 the class is robust without branching. The
classes left are solved worst LP bound first, each with HiGHS's `objective_bound = 0` (nodes
that cannot go below 0 are pruned) and `mip_max_improving_sols = 1` (stop at the first
solution below 0): the sample is non-robust as soon as one class has a solution below 0 (early
stop), robust when every class's program is infeasible under that bound (its optimum is ≥ 0),
and `timeout` when a class hits `--time-limit` undecided (or `--budget`, the seconds per sample
in all, is spent before every class is decided).

Every counterexample is re-checked by a plain float64 forward pass of the network at the
solution (clipped into the box): it counts as non-robust only if some z_j exceeds z_y there;
otherwise the sample is reported `tolerance` (a solution below 0 only within the solver's
feasibility tolerances). A "robust" verdict is the solver's, with its default tolerances
(primal feasibility 1e-7); it is a ground truth for measuring, not a certificate.

One JSON line per sample: index, eps, label, verdict (robust / nonrobust / timeout /
tolerance), seconds (bounds + all programs), per class the LP bound and the program's outcome
and seconds, the number of unstable units per layer, and for non-robust samples the
counterexample (data units) and its float64 margin.
"""
import argparse
import json
import os
import random
import time

import highspy
import numpy as np

INF = highspy.kHighsInf


def load(dirname):
    layers = []
    l = 0
    while os.path.exists(os.path.join(dirname, f"W{l}.npy")):
        W = np.load(os.path.join(dirname, f"W{l}.npy")).astype(np.float64)
        b = np.load(os.path.join(dirname, f"b{l}.npy")).astype(np.float64)
        layers.append((W, b))
        l += 1
    x = np.load(os.path.join(dirname, "x_test.npy"))
    y = np.load(os.path.join(dirname, "y_test.npy")).astype(int)
    return layers, x, y


def forward(layers, x, scale):
    a = scale * x
    for i, (W, b) in enumerate(layers):
        a = W @ a + b
        if i + 1 < len(layers):
            a = np.maximum(a, 0.0)
    return a


def new_highs(threads):
    h = highspy.Highs()
    h.setOptionValue("output_flag", False)
    h.setOptionValue("threads", threads)
    return h


class Encoding:
    """Columns and rows of the network's hidden layers with the given bounds in a Highs model.

    Columns: x (n0 inputs, data units; the model's input is scale·x), then per hidden layer the
    post-activation a of every unit that is not stably inactive, and the binary δ (continuous in
    [0, 1] for the LP relaxation) of each unstable unit. `keep[h]` lists hidden layer h's units
    that have a column, `cols[h]` their columns; a stably inactive unit is a = 0 and has none.
    """

    def __init__(self, h, layers, lx, ux, scale, bounds, integer):
        self.h = h
        n0 = len(lx)
        h.addVars(n0, lx, ux)
        self.ncol = n0
        in_cols = np.arange(n0, dtype=np.int32)
        in_keep = np.arange(n0)
        factor = scale
        self.keep, self.cols = [], []
        for li, (l, u) in enumerate(bounds):
            W, b = layers[li]
            Wk = W[:, in_keep] * factor
            keep, cols = [], []
            for k in range(len(l)):
                if u[k] <= 0.0:
                    continue
                ac = self.ncol
                h.addVar(max(l[k], 0.0), u[k])
                self.ncol += 1
                keep.append(k)
                cols.append(ac)
                nz = Wk[k] != 0.0
                idx = np.concatenate(([ac], in_cols[nz])).astype(np.int32)
                val = np.concatenate(([1.0], -Wk[k][nz]))
                if l[k] >= 0.0:
                    h.addRow(b[k], b[k], len(idx), idx, val)  # a = z
                    continue
                dc = self.ncol
                h.addVar(0.0, 1.0)
                self.ncol += 1
                if integer:
                    h.changeColIntegrality(dc, highspy.HighsVarType.kInteger)
                h.addRow(b[k], INF, len(idx), idx, val)  # a ≥ z
                # a ≤ z − l·(1 − δ)  ⇔  a − W·prev − l·δ ≤ b − l
                idx2 = np.concatenate((idx, [dc])).astype(np.int32)
                val2 = np.concatenate((val, [-l[k]]))
                h.addRow(-INF, b[k] - l[k], len(idx2), idx2, val2)
                # a ≤ u·δ
                h.addRow(-INF, 0.0, 2, np.array([ac, dc], dtype=np.int32), np.array([1.0, -u[k]]))
            self.keep.append(np.array(keep, dtype=np.int64))
            self.cols.append(np.array(cols, dtype=np.int32))
            in_cols, in_keep, factor = self.cols[-1], self.keep[-1], 1.0

    def linear(self, w):
        """Columns and coefficients of w·a over the last encoded hidden layer's units."""
        return self.cols[-1], w[self.keep[-1]]


def set_objective(h, ncol, cols, coef):
    c = np.zeros(ncol)
    c[cols] = coef
    h.changeColsCost(ncol, np.arange(ncol, dtype=np.int32), c)


def interval(W, b, lo, hi):
    Wp, Wn = np.maximum(W, 0), np.minimum(W, 0)
    return Wp @ lo + Wn @ hi + b, Wp @ hi + Wn @ lo + b


def hidden_bounds(layers, lx, ux, scale, threads, pad=1e-6):
    """Bounds of every hidden layer's pre-activations: exact interval bounds for the first (an
    affine map of the box), then for each later hidden layer the interval bounds from the layer
    below, tightened by LP (minimise and maximise each unit over the LP relaxation of the layers
    below) where they leave the unit unstable. Padded by `pad` for the LP tolerances."""
    W0, b0 = layers[0]
    l, u = interval(W0, b0, scale * lx, scale * ux)
    bounds = [(l - pad, u + pad)]
    for li in range(1, len(layers) - 1):
        h = new_highs(threads)
        enc = Encoding(h, layers, lx, ux, scale, bounds, integer=False)
        W, b = layers[li]
        keep, cols = enc.keep[-1], enc.cols[-1]
        Wk = W[:, keep]
        # Interval bounds from the previous layer first; LP only where the unit is unstable.
        pl, pu = bounds[-1]
        il, iu = interval(Wk, b, np.maximum(pl, 0)[keep], np.maximum(pu, 0)[keep])
        lo, hi = il.copy(), iu.copy()
        for k in range(len(b)):
            if il[k] >= 0 or iu[k] <= 0:
                continue
            for sense in (1.0, -1.0):
                set_objective(h, enc.ncol, cols, sense * Wk[k])
                h.run()
                if h.getModelStatus() != highspy.HighsModelStatus.kOptimal:
                    continue
                # The dual objective bound would be the sound one; the primal optimum differs
                # from it by the solver's tolerances only (padded below).
                v = sense * h.getInfo().objective_function_value + b[k]
                if sense > 0:
                    lo[k] = max(lo[k], v)
                else:
                    hi[k] = min(hi[k], v)
        bounds.append((lo - pad, hi + pad))
    return bounds


def solve_sample(layers, x0, label, eps, scale, time_limit, threads, budget):
    t0 = time.time()
    lx = np.maximum(x0 - eps, 0.0)
    ux = np.minimum(x0 + eps, 1.0)
    bounds = hidden_bounds(layers, lx, ux, scale, threads)
    t_bounds = time.time() - t0
    unstable = [int(np.sum((l < 0) & (u > 0))) for l, u in bounds]
    Wl, bl = layers[-1]
    out = {"unstable": unstable, "bounds_seconds": round(t_bounds, 3), "classes": {}}
    # LP bound per class.
    h = new_highs(threads)
    enc = Encoding(h, layers, lx, ux, scale, bounds, integer=False)
    lp = {}
    for j in range(Wl.shape[0]):
        if j == label:
            continue
        cols, w = enc.linear(Wl[label] - Wl[j])
        c0 = bl[label] - bl[j]
        set_objective(h, enc.ncol, cols, w)
        h.run()
        ok = h.getModelStatus() == highspy.HighsModelStatus.kOptimal
        lp[j] = h.getInfo().objective_function_value + c0 if ok else -np.inf
    order = sorted(lp, key=lambda j: lp[j])
    verdict = "robust"
    for j in order:
        rec = {"lp": lp[j]}
        out["classes"][str(j)] = rec
        if lp[j] > 1e-6:
            rec["outcome"] = "lp"
            continue
        left = budget - (time.time() - t0) if budget > 0 else time_limit
        if left <= 0.5:
            rec["outcome"] = "skipped"  # the sample's budget is spent
            verdict = "timeout" if verdict == "robust" else verdict
            continue
        t1 = time.time()
        h = new_highs(threads)
        enc = Encoding(h, layers, lx, ux, scale, bounds, integer=True)
        cols, w = enc.linear(Wl[label] - Wl[j])
        c0 = bl[label] - bl[j]
        set_objective(h, enc.ncol, cols, w)
        h.setOptionValue("objective_bound", -c0)  # objective + c0 < 0 wanted
        h.setOptionValue("mip_max_improving_sols", 1)
        h.setOptionValue("time_limit", float(min(time_limit, left)))
        h.run()
        st = h.getModelStatus()
        info = h.getInfo()
        rec["seconds"] = round(time.time() - t1, 3)
        rec["status"] = h.modelStatusToString(st)
        rec["dual_bound"] = info.mip_dual_bound + c0
        has_sol = info.primal_solution_status == 2
        if has_sol and info.objective_function_value + c0 < 0:
            xs = np.array(h.getSolution().col_value[: len(x0)])
            xs = np.clip(xs, lx, ux)
            z = forward(layers, xs, scale)
            zo = z.copy()
            zo[label] = -np.inf
            m = z[label] - zo.max()
            rec["milp_value"] = info.objective_function_value + c0
            rec["forward_margin"] = float(m)
            if m < 0:
                rec["outcome"] = "counterexample"
                out["counterexample"] = [float(v) for v in xs]
                out["target"] = int(j)
                out["forward_margin"] = float(m)
                verdict = "nonrobust"
                break
            rec["outcome"] = "tolerance"
            verdict = "tolerance" if verdict == "robust" else verdict
            continue
        if st == highspy.HighsModelStatus.kTimeLimit:
            rec["outcome"] = "timeout"
            if verdict == "robust":
                verdict = "timeout"
            continue
        if st in (highspy.HighsModelStatus.kInfeasible, highspy.HighsModelStatus.kObjectiveBound,
                  highspy.HighsModelStatus.kOptimal):
            rec["outcome"] = "robust"
            continue
        rec["outcome"] = "other"
        verdict = "timeout" if verdict == "robust" else verdict
    out["verdict"] = verdict
    out["seconds"] = round(time.time() - t0, 3)
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("dir")
    ap.add_argument("--eps", type=float, required=True)
    ap.add_argument("--indices", default="")
    ap.add_argument("--from-json", default="")
    ap.add_argument("--status", default="unknown")
    ap.add_argument("--sample", type=int, default=0, help="a seeded random subset of this size")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--time-limit", type=float, default=60.0, help="seconds per MILP")
    ap.add_argument("--budget", type=float, default=0.0,
                    help="seconds per sample in all (bounds and programs); 0: no limit")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--scale", type=float, default=16.0)
    ap.add_argument("--out", default="")
    a = ap.parse_args()
    layers, X, Y = load(a.dir)
    idx = [int(s) for s in a.indices.split(",") if s]
    if a.from_json:
        with open(a.from_json) as f:
            for line in f:
                r = json.loads(line)
                if "index" in r and abs(r.get("eps", -1) - a.eps) < 1e-12 and r["status"] == a.status:
                    idx.append(r["index"])
    if a.sample and len(idx) > a.sample:
        idx = sorted(random.Random(a.seed).sample(idx, a.sample))
    out = open(a.out, "a") if a.out else None
    counts = {}
    for i in idx:
        r = solve_sample(layers, X[i], int(Y[i]), a.eps, a.scale, a.time_limit, a.threads, a.budget)
        r = {"index": i, "eps": a.eps, "label": int(Y[i]), **r}
        counts[r["verdict"]] = counts.get(r["verdict"], 0) + 1
        line = json.dumps(r)
        print(json.dumps({k: r[k] for k in ("index", "eps", "verdict", "seconds", "unstable")}),
              flush=True)
        if out:
            out.write(line + "\n")
            out.flush()
    print(json.dumps({"eps": a.eps, "samples": len(idx), **counts}))


if __name__ == "__main__":
    main()
