"""Least-squares fits of the f32 polynomial approximations used in src/activation/simd/math.rs.

Run: python3 src/activation/simd/fit.py   (numpy only; prints Rust constants and
the max error of each approximation evaluated in f32 with Horner, no FMA, against f64 math).
Fits are weighted least squares on dense Chebyshev-distributed points (relative error where
the target is relative), in the monomial basis; not minimax, but measured, not assumed.
"""
import math
import numpy as np

f32 = np.float32


def cheb_points(a, b, n=4000):
    k = np.arange(n)
    return 0.5 * (a + b) + 0.5 * (b - a) * np.cos(np.pi * (k + 0.5) / n)


def fit(u, y, deg, w=None):
    V = np.vander(u, deg + 1, increasing=True)
    if w is not None:
        V = V * w[:, None]
        y = y * w
    c, *_ = np.linalg.lstsq(V, y, rcond=None)
    return c


def horner32(c, u):
    u = u.astype(f32)
    acc = np.full_like(u, f32(c[-1]))
    for ci in c[-2::-1]:
        acc = (acc * u + f32(ci)).astype(f32)
    return acc


def show(name, c):
    print(f"const {name}: [f32; {len(c)}] = [" + ", ".join(f"{float(f32(v))!r}" for v in c) + "];")



# 1. GELU-erf: GELU(x) = x/2 + x^2 G(x^2) and GELU'(x) = 1/2 + x D(x^2) for |x| < B, with
#    G(u) = (Phi(sqrt u) - 1/2)/sqrt u, D(u) = G(u) + phi(sqrt u), polynomials in
#    t = u*S - 1 in [-1, 1], S = 2/B^2 (Phi - 1/2 is odd, so only even powers of x are fitted).
#    The bound max(1e-6, 2 ulp) is absolute below |GELU| = 8, so the fit weights the
#    absolute error of GELU (x^2) and of GELU' (x); Lawson reweighting moves the least-squares
#    fit towards minimax. Errors below are of the full f32 expression, with and without FMA.
SQ2 = math.sqrt(2)
verfc_ = np.vectorize(math.erfc)


def ndtr(x):
    return 0.5 * verfc_(-x / SQ2)


def madd(a, b, c, fused):
    if fused:  # a*b is exact in f64; one rounding to f32 (double rounding aside)
        return (a.astype(np.float64) * b.astype(np.float64) + c.astype(np.float64)).astype(f32)
    return ((a * b).astype(f32) + c).astype(f32)


def horner_m(c, t, fused):
    """As math.rs's horner_split8: L(t) + t^8 H(t), both by Horner."""
    lo = np.full_like(t, f32(c[7]))
    for ci in c[6::-1]:
        lo = madd(lo, t, np.full_like(t, f32(ci)), fused)
    hi = np.full_like(t, f32(c[-1]))
    for ci in c[-2:7:-1]:
        hi = madd(hi, t, np.full_like(t, f32(ci)), fused)
    t2 = (t * t).astype(f32)
    t4 = (t2 * t2).astype(f32)
    return madd(hi, (t4 * t4).astype(f32), lo, fused)


def lawson(t, y, w, deg, iters=40):
    V = np.vander(t, deg + 1, increasing=True)
    ww = np.ones_like(t)
    for _ in range(iters):
        c, *_ = np.linalg.lstsq(V * (w * ww)[:, None], y * w * ww, rcond=None)
        e = np.abs((V @ c - y) * w)
        ww = ww * (e / e.max()) ** 0.5 + 1e-12
        ww /= ww.max()
    return c


for kind, B, deg, name in [("f", 5.5, 16, "GELU_POLY"), ("d", 5.9, 16, "GELU_PRIME_POLY")]:
    x = cheb_points(0, B, 6000)
    x = x[x > 1e-3]
    u = x * x
    S = 2 / (B * B)
    phi = np.exp(-u / 2) / math.sqrt(2 * math.pi)
    if kind == "f":
        y, w = (ndtr(x) - 0.5) / x, x * x
    else:
        y, w = (ndtr(x) - 0.5) / x + phi, x
    c = lawson(u * S - 1, y, w, deg)
    show(name, c)
    print(f"  B {B}, S {float(f32(S))!r}")
    xs = np.linspace(-B, B, 800001).astype(f32)
    x64 = xs.astype(np.float64)
    for fused in (True, False):
        us = (xs * xs).astype(f32)
        ts = madd(us, np.full_like(us, f32(S)), np.full_like(us, f32(-1)), fused)
        g = horner_m(c, ts, fused)
        if kind == "f":
            got = madd(us, g, (f32(0.5) * xs).astype(f32), fused)
            ref = x64 * ndtr(x64)
        else:
            got = madd(xs, g, np.full_like(xs, f32(0.5)), fused)
            ref = ndtr(x64) + x64 * np.exp(-x64 * x64 / 2) / math.sqrt(2 * math.pi)
        err = np.abs(got.astype(np.float64) - ref)
        tol = np.maximum(1e-6, 2 * np.spacing(np.abs(ref).astype(f32)).astype(np.float64))
        print(f"  {'fma' if fused else 'plain'}: max err / bound {np.max(err / tol):.3f}")

# 2. exp(r) = 1 + r + r^2 P(r), |r| <= ln2/2.
h = math.log(2) / 2
r = cheb_points(-h, h)
c_exp = fit(r, (np.expm1(r) - r) / (r * r), 5)
show("EXP_POLY", c_exp)
rr = np.linspace(-h, h, 200001)
rr = rr[np.abs(rr) > 1e-9]
approx = (f32(1) + rr.astype(f32) + (rr * rr).astype(f32) * horner32(c_exp, rr.astype(f32))).astype(np.float64)
print("  exp: max rel err", np.max(np.abs(approx - np.exp(rr.astype(f32).astype(np.float64))) / np.exp(rr)))

# 3. expm1(x) = x + x^2 P(x), |x| <= ln2/2 (ELU's small branch).
print("  expm1 shares EXP_POLY: expm1(r) = r + r^2 P(r)")
approx = (rr.astype(f32) + (rr * rr).astype(f32) * horner32(c_exp, rr.astype(f32))).astype(np.float64)
x64 = rr.astype(f32).astype(np.float64)
print("  expm1 small: max rel err", np.max(np.abs(approx - np.expm1(x64)) / np.abs(np.expm1(x64))))

# 4. tanh(x) = x + x^3 P(x^2), |x| <= 0.625.
x = cheb_points(1e-4, 0.625)
c_tanh = fit(x * x, (np.tanh(x) - x) / x**3, 6, w=x**3 / np.tanh(x))
show("TANH_SMALL", c_tanh)
xx = np.linspace(1e-4, 0.625, 200001).astype(f32)
x64 = xx.astype(np.float64)
approx = (xx + (xx * xx * xx).astype(f32) * horner32(c_tanh, (xx * xx).astype(f32))).astype(np.float64)
print("  tanh small: max rel err", np.max(np.abs(approx - np.tanh(x64)) / np.tanh(x64)))

# 5. log1p(u) = u * P(u), u in [0, 1].
u = cheb_points(0, 1)
c_log1p = fit(u, np.log1p(u) / u, 11)
show("LOG1P_POLY", c_log1p)
uu = np.linspace(1e-7, 1, 200001).astype(f32)
u64 = uu.astype(np.float64)
approx = (uu * horner32(c_log1p, uu)).astype(np.float64)
print("  log1p: max rel err", np.max(np.abs(approx - np.log1p(u64)) / np.log1p(u64)))
