"""Least-squares fits of the f32 polynomial approximations used in src/activation/simd/math.rs.

Run: /work/venv/bin/python src/activation/simd/fit.py   (numpy only; prints Rust constants and
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


verf = np.vectorize(math.erf)
verfc = np.vectorize(math.erfc)

# 1. erfc(z) = exp(-z^2) * R(t) with t = 1/(1 + P*z), z in [0, 10]: R fitted relative.
P = 0.5
z = cheb_points(0, 10)
t = 1 / (1 + P * z)
target = verfc(z) * np.exp(z * z)
c_erfc = fit(t, target, 10, w=1 / target)
show("ERFC_POLY", c_erfc)
zz = np.linspace(0, 10, 200001)
tt = (f32(1) / (f32(1) + f32(P) * zz.astype(f32))).astype(f32)
approx = horner32(c_erfc, tt).astype(np.float64)
want = verfc(zz) * np.exp(zz * zz)
print("  erfc R: max rel err", np.max(np.abs(approx - want) / want))

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
