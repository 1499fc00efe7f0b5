"""Piecewise-polynomial tables for the AVX-512 GELU-erf kernels (src/activation/simd/gelu512.rs).

Run: python3 src/activation/simd/fit_gelu_table.py > src/activation/simd/gelu_table.rs
then `cargo fmt` (numpy and mpmath; mpmath comes with sympy, which torch installs). Prints the
Rust table file on stdout and the measured errors on stderr.

Scheme. Phi(x) - 1/2 and GELU'(x) - 1/2 are odd, so tables cover a = |x| in [0, B) only:
N = 32 intervals of width H = B/N centred at C_j = (j + 1/2)H. For a in interval j, with
t = (a - C_j)/H in [-1/2, 1/2]:
  P_j(t) ~ Phi(a) - 1/2, degree DEG_F:   GELU(x)  = x/2 + a P(a), with the sign of x
  R_j(t) ~ GELU'(a) - 1/2, degree DEG_D: GELU'(x) = 1/2 + sign(x) R(a)
a is clamped to BC (the largest f32 below B), where both tables give exactly 1/2: then
GELU(x) = x for x >= B and -0 for x <= -B (x is clamped to -B first, so -inf gives -0, not
NaN), and GELU' = 1 or 0. The true values differ from these limits by at most 6e-9 and 4e-8.
Each coefficient k of all 32 intervals is one 32-entry table: two 512-bit registers, looked up
with one vpermt2ps by the interval index.

Fits: least squares on Chebyshev points of each interval (weighted by a for P: the error that
matters is a * error(P), absolute, since the issue's bound max(1e-6, 2 ulp) is absolute below
|GELU| = 8), with Lawson reweighting towards minimax. The coefficients are rounded to f32, the
last interval's constant is nudged until the clamped point gives exactly 1/2, and the whole f32
evaluation (clamps, index, t, Horner with FMA, products) is replayed in numpy against mpmath at
50 digits on a dense grid over [-7, 7]; the script fails if an error exceeds half the bound.
"""
import sys

import mpmath as mp
import numpy as np

mp.mp.dps = 50
f32 = np.float32
N = 32
B = 6.0
H = B / N
BC = np.nextafter(f32(B), f32(0))
DEG_F = 3
DEG_D = 4


def p_mp(a):
    return mp.ncdf(a) - mp.mpf(1) / 2


def r_mp(a):
    return mp.ncdf(a) + a * mp.npdf(a) - mp.mpf(1) / 2


def dgelu_mp(x):
    return mp.ncdf(x) + x * mp.npdf(x)


def gelu_mp(x):
    return x * mp.ncdf(x)


def centre(j):
    return (j + 0.5) * H


def fit_interval(fn, j, deg, weight_by_a):
    k = np.arange(300)
    t = 0.5 * np.cos(np.pi * (k + 0.5) / len(k))
    a = centre(j) + t * H
    y = np.array([float(fn(mp.mpf(float(v)))) for v in a])
    w = a + 1e-3 if weight_by_a else np.ones_like(a)
    V = np.vander(t, deg + 1, increasing=True)
    lw = np.ones_like(a)
    for _ in range(30):  # Lawson: reweight by the current error, towards minimax
        ww = w * np.sqrt(lw)
        c, *_ = np.linalg.lstsq(V * ww[:, None], y * ww, rcond=None)
        e = np.abs(V @ c - y) * w
        lw = lw * (e / e.max() + 1e-12)
        lw = lw / lw.sum()
    return c


def fma32(a, b, c):
    # a*b is exact in f64 for f32 inputs; one rounding of the sum (double rounding aside)
    return (a.astype(np.float64) * b.astype(np.float64) + c.astype(np.float64)).astype(f32)


SHIFT = f32(1.5 * 2**23)
INV_H = f32(1 / H)
OFF = f32(-0.5)


def lookup(table, ac):
    """Index and Horner as the kernel does them, for clamped a."""
    s = fma32(ac, np.full_like(ac, INV_H), np.full_like(ac, OFF))
    m = (s + SHIFT).astype(f32)
    jf = (m - SHIFT).astype(f32)
    t = (s - jf).astype(f32)
    j = m.view(np.uint32) & 31
    acc = table[-1][j]
    for c in table[-2::-1]:
        acc = fma32(acc, t, c[j])
    return acc


def gelu32(ft, x):
    xp = np.maximum(f32(-B), x)
    a = np.abs(xp)
    ac = np.minimum(BC, a)
    p = lookup(ft, ac)
    y = fma32(a, p, (f32(0.5) * xp).astype(f32))
    return np.copysign(np.abs(y), x).astype(f32)


def dgelu32(dt, x):
    a = np.abs(x)
    ac = np.minimum(BC, a)
    r = lookup(dt, ac)
    return (f32(0.5) + np.copysign(np.abs(r), x) * np.sign(r + (r == 0))).astype(f32)


def pin_half(table):
    """Nudge the last interval's constant (by ulps) and linear coefficient (by steps of 2^-27,
    at most 6e-8 at t = 1/2), smallest change first, until the clamped point evaluates to
    exactly 1/2. The replay below measures the result."""
    c0, c1 = table[0][N - 1], table[1][N - 1]

    def step(v, k):
        for _ in range(abs(k)):
            v = np.nextafter(v, f32(np.inf) if k > 0 else f32(-np.inf))
        return v

    for k0, k1 in sorted(((i, j) for i in range(-4, 5) for j in range(-16, 17)),
                         key=lambda p: abs(p[0]) + abs(p[1])):
        table[0][N - 1], table[1][N - 1] = step(c0, k0), f32(c1 + k1 * 2.0**-27)
        if lookup(table, np.array([BC], dtype=f32))[0] == f32(0.5):
            return
    sys.exit("could not pin the last interval to 1/2")


def main():
    fw = np.array([fit_interval(p_mp, j, DEG_F, True) for j in range(N)], dtype=np.float64)
    dw = np.array([fit_interval(r_mp, j, DEG_D, False) for j in range(N)], dtype=np.float64)
    ft = [fw[:, k].astype(f32) for k in range(DEG_F + 1)]
    dt = [dw[:, k].astype(f32) for k in range(DEG_D + 1)]
    pin_half(ft)
    pin_half(dt)

    x = np.linspace(-7, 7, 140001).astype(f32)
    x = np.concatenate([x, np.array([0.0, -0.0, 1e-30, -1e-30, 1e30, -1e30], dtype=f32)])
    y = gelu32(ft, x)
    d = dgelu32(dt, x)
    ref_y = np.array([float(gelu_mp(mp.mpf(float(v)))) for v in x])
    ref_d = np.array([float(dgelu_mp(mp.mpf(float(v)))) for v in x])

    def ratio(got, ref):
        ulp = np.spacing(np.abs(ref).astype(f32)).astype(np.float64)
        bound = np.maximum(1e-6, 2 * ulp)
        return (np.abs(got.astype(np.float64) - ref) / bound).max()

    ry = ratio(y, ref_y)
    rd = ratio(d, ref_d)
    print(f"GELU: max error / bound {ry:.3f}; GELU': {rd:.3f} ({len(x)} points on [-7, 7])",
          file=sys.stderr)
    far = np.abs(x) >= B
    exact_limits = (np.all(y[far & (x > 0)] == x[far & (x > 0)])
                    and np.all(np.signbit(y[far & (x < 0)]) & (y[far & (x < 0)] == 0))
                    and np.all(d[far & (x > 0)] == 1) and np.all(d[far & (x < 0)] == 0))
    zero_signs = np.signbit(gelu32(ft, np.array([-0.0], dtype=f32)))[0] and not np.signbit(
        gelu32(ft, np.array([0.0], dtype=f32)))[0]
    print(f"limits exact beyond B: {exact_limits}; GELU(+-0) = +-0: {zero_signs}", file=sys.stderr)
    if max(ry, rd) > 0.5 or not exact_limits or not zero_signs:
        sys.exit("error above half the bound, or a limit or a zero sign wrong")

    def table(name, cols, what):
        out = [f"/// {what}: coefficient k of interval j is `{name}[k][j]`."]
        out.append(f"pub(super) const {name}: [[f32; {N}]; {len(cols)}] = [")
        for col in cols:
            vals = ", ".join(str(f32(v)) for v in col)
            out.append(f"    [{vals}],")
        out.append("];")
        return "\n".join(out)

    print("//! Generated by `src/activation/simd/fit_gelu_table.py` (then `cargo fmt`); do not edit")
    print("//! by hand.")
    print(f"//! Measured: GELU max error {ry:.3f} of max(1e-6, 2 ulp), GELU' {rd:.3f}.")
    print()
    print(f"/// The tables cover |x| in [0, B): {N} intervals of width H = B/{N}.")
    print(f"pub(super) const B: f32 = {B!r};")
    print("/// The largest f32 below B: |x| is clamped to it, where both tables give exactly 1/2.")
    print(f"pub(super) const BC: f32 = {str(BC)};")
    print("/// 1/H.")
    print(f"pub(super) const INV_H: f32 = {str(INV_H)};")
    print("/// s = |x|/H + OFF = j + t with C_j = (j + 1/2)H the centre of interval j.")
    print(f"pub(super) const OFF: f32 = {str(OFF)};")
    print()
    print(table("PHI", ft, f"Phi(a) - 1/2 ~ P_j(t), degree {DEG_F}"))
    print()
    print(table("DGELU", dt, f"GELU'(a) - 1/2 ~ R_j(t), degree {DEG_D}"))


main()
