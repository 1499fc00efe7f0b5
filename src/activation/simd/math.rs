//! Branch-free f32 element functions: the bodies every SIMD loop is built from.
//!
//! Each function is `#[inline(always)]` and written with selects (`if c { a } else { b }` on
//! values already computed) and integer bit tricks only, so LLVM vectorizes the loops that call
//! them at whatever width the enclosing `#[target_feature]` function allows. The const
//! parameter `F` selects fused multiply-add (the AVX2 and AVX-512 levels, and the portable level
//! on aarch64) or plain multiply and add (the portable level on x86-64); levels with the same
//! `F` return the same bits (tested; GELU-erf at AVX-512 is the exception, with its own kernels
//! in `gelu512.rs`), and every level meets the same accuracy bounds.
//!
//! The polynomial coefficients come from `fit.py` next to this file (weighted least squares on
//! Chebyshev-distributed points against f64 `math`/numpy; its output lists the measured
//! error of each piece). Error against the f64 reference is measured by the kernel tests.

// The constants are printed by fit.py with full f32 round-trip precision.
#![allow(clippy::excessive_precision, clippy::unreadable_literal)]

/// GELU(x) = x/2 + x²·G(x²) for |x| < [`GELU_B`], G(u) = (Φ(√u) − ½)/√u, a polynomial in
/// t = u·[`GELU_S`] − 1 ∈ [−1, 1] (fit.py, Lawson-weighted least squares for the absolute error
/// of GELU). Worst f32 error, in units of max(1e-6, 2 ulp): 0.48 with FMA, 0.82 without
/// (dense-sweep test; fit.py's emulation prints 0.61 / 0.79).
/// Odd/even symmetry halves the degree: Φ(x) − ½ is odd in x.
const GELU_POLY: [f32; 17] = [
    0.1285519301891327,
    -0.06417232751846313,
    0.04773738980293274,
    -0.038793373852968216,
    0.032075513154268265,
    -0.026041395962238312,
    0.020320408046245575,
    -0.015033935196697712,
    0.010409140959382057,
    -0.006729895249009132,
    0.004219452850520611,
    -0.0025421446189284325,
    0.0012125425273552537,
    -0.00044345410424284637,
    0.00031893953564576805,
    -0.0002600453735794872,
    8.033776248339564e-05,
];
/// Beyond |x| = 5.5, GELU(x) is x (x > 0; 1 − Φ(5.5) = 1.9e-8) or −0 (x < 0; |GELU| < 1.1e-7).
const GELU_B: f32 = 5.5;
/// 2/GELU_B², mapping u = x² ∈ [0, GELU_B²] to t ∈ [−1, 1].
const GELU_S: f32 = 0.06611569970846176;
/// GELU'(x) = Φ(x) + xφ(x) = ½ + x·D(x²) for |x| < [`GELU_PRIME_B`], D(u) = (Φ(√u) − ½)/√u +
/// φ(√u), a polynomial in t = u·[`GELU_PRIME_S`] − 1 (fit.py; worst f32 error 0.36 of the bound
/// with FMA, 0.45 without, dense-sweep test).
const GELU_PRIME_POLY: [f32; 17] = [
    0.11991126835346222,
    -0.060465507209300995,
    0.04728486388921738,
    -0.04421224445104599,
    0.04717901721596718,
    -0.05366156995296478,
    0.06233159080147743,
    -0.07109683752059937,
    0.06722074747085571,
    -0.049379751086235046,
    0.051142044365406036,
    -0.06444399058818817,
    0.03353681042790413,
    0.006516554392874241,
    0.004178418777883053,
    -0.01982545293867588,
    0.008529852144420147,
];
/// Beyond |x| = 5.9, GELU'(x) is 1 (x > 0) or 0 (x < 0), within 6.5e-8.
const GELU_PRIME_B: f32 = 5.9;
/// 2/GELU_PRIME_B².
const GELU_PRIME_S: f32 = 0.057454753667116165;
/// e^r = 1 + r + r²·P(r) for |r| ≤ ln2/2 (fit.py, max rel. error 1.2e-7).
const EXP_POLY: [f32; 6] = [
    0.5,
    0.1666666716337204,
    0.04166646674275398,
    0.0083332983776927,
    0.0013933643931522965,
    0.00019899275503121316,
];
/// tanh(x) = x + x³·P(x²) for |x| ≤ 0.625 (fit.py, max rel. error 7.6e-8).
const TANH_SMALL: [f32; 7] = [
    -0.3333333432674408,
    0.1333332657814026,
    -0.05396655574440956,
    0.02185104228556156,
    -0.008755016140639782,
    0.0032351170666515827,
    -0.0008076941012404859,
];
/// ln(1+u) = u·P(u) for u in [0, 1] (fit.py, max rel. error 1.8e-7).
const LOG1P_POLY: [f32; 12] = [
    1.0,
    -0.4999999701976776,
    0.3333316147327423,
    -0.24996647238731384,
    0.199655681848526,
    -0.1645410805940628,
    0.13430124521255493,
    -0.10131047666072845,
    0.06408779323101044,
    -0.030232015997171402,
    0.009105979464948177,
    -0.0012851434294134378,
];

const LOG2E: f32 = std::f32::consts::LOG2_E;
/// ln 2 split in a part exact in few bits and the rest (Cody & Waite 1980), so n·LN2_HI is
/// exact for |n| ≤ 256.
const LN2_HI: f32 = 0.693359375;
const LN2_LO: f32 = -2.12194440e-4;
/// 1.5·2²³: adding it rounds an |v| < 2²² to the nearest integer, kept in the low mantissa bits.
const ROUND_MAGIC: f32 = 12582912.0;
/// Below this, e^x is below half the smallest f32 subnormal.
const EXP_MIN: f32 = -103.972_08;
/// Above this, e^x overflows f32.
const EXP_MAX: f32 = 88.722_83;
const SQRT_2_OVER_PI: f32 = 0.797_884_6;
const GELU_TANH_COEF: f32 = 0.044_715;

#[inline(always)]
fn horner<const N: usize, const F: bool>(c: &[f32; N], u: f32) -> f32 {
    let mut acc = c[N - 1];
    let mut i = N - 1;
    while i > 0 {
        i -= 1;
        acc = madd::<F>(acc, u, c[i]);
    }
    acc
}

/// c\[0\] + c\[1\]·u + … as L(u) + u⁸·H(u), L holding c\[0..8\] and H the rest, each by
/// Horner: two independent chains of about half the length (u⁸ by three squarings), so
/// consecutive vectors' evaluations overlap in the out-of-order window. Unlike an even/odd
/// split there is no cancellation between the parts when the coefficients alternate in sign
/// (u⁸·H is small beside L for the decaying coefficients used here), so the rounding stays
/// that of plain Horner.
#[inline(always)]
fn horner_split8<const N: usize, const F: bool>(c: &[f32; N], u: f32) -> f32 {
    const K: usize = 8;
    let mut lo = c[K - 1];
    let mut i = K - 1;
    while i > 0 {
        i -= 1;
        lo = madd::<F>(lo, u, c[i]);
    }
    let mut hi = c[N - 1];
    let mut j = N - 1;
    while j > K {
        j -= 1;
        hi = madd::<F>(hi, u, c[j]);
    }
    let u2 = u * u;
    let u4 = u2 * u2;
    madd::<F>(hi, u4 * u4, lo)
}

/// a·b + c: fused (one rounding) when `F` (levels with hardware FMA), plain otherwise (the
/// portable level on x86-64: a software `fmaf` would be far slower).
#[inline(always)]
fn madd<const F: bool>(a: f32, b: f32, c: f32) -> f32 {
    if F {
        a.mul_add(b, c)
    } else {
        a * b + c
    }
}

/// NaN in, NaN out: `r` unless `x` is NaN.
#[inline(always)]
pub fn nan_pass(x: f32, r: f32) -> f32 {
    if x.is_nan() {
        x
    } else {
        r
    }
}

/// min/max as selects (NaN in `x` gives `lo`; callers restore NaN with [`nan_pass`]).
#[inline(always)]
fn clamp(x: f32, lo: f32, hi: f32) -> f32 {
    let x = if x > lo { x } else { lo };
    if x < hi {
        x
    } else {
        hi
    }
}

/// 2^n for integer n in [−126, 127] from the exponent bits.
#[inline(always)]
fn pow2i(n: i32) -> f32 {
    f32::from_bits(((n + 127) as u32) << 23)
}

/// e^x, relative error about 2e-7 over the whole range, correct 0 below −103.97, +∞ above
/// 88.72 and for +∞, subnormal results where they belong, NaN propagates.
#[inline(always)]
pub fn exp<const F: bool>(x: f32) -> f32 {
    let xc = clamp(x, EXP_MIN, EXP_MAX);
    // n = round(x/ln2), read back from the mantissa bits of t.
    let t = xc * LOG2E + ROUND_MAGIC;
    let n = t - ROUND_MAGIC;
    let ni = (t.to_bits() as i32) - (ROUND_MAGIC.to_bits() as i32);
    let r = madd::<F>(-n, LN2_LO, madd::<F>(-n, LN2_HI, xc));
    let p = madd::<F>(r * r, horner::<_, F>(&EXP_POLY, r), 1.0 + r);
    // 2^n in two factors so n in [−150, 128] needs no special case (subnormals, near-overflow).
    let n1 = ni >> 1;
    let y = p * pow2i(n1) * pow2i(ni - n1);
    let y = if x < EXP_MIN { 0.0 } else { y };
    let y = if x > EXP_MAX { f32::INFINITY } else { y };
    nan_pass(x, y)
}

/// e^x for x ≤ 0 (the argument every activation passes: e^(−|x|), e^(−z²)), cheaper than
/// [`exp`]: results below the smallest normal f32 (x < −87.34) flush to 0, so one exponent
/// scaling suffices, and no overflow is possible. Relative error about 2e-7 above that; the
/// flush is an absolute error below 1.2e-38. Positive x is not supported (callers never pass
/// it); NaN gives an unspecified finite value (callers restore NaN).
#[inline(always)]
pub fn exp_nonpos<const F: bool>(x: f32) -> f32 {
    const LO: f32 = -87.336_54; // ln(2^-126)
    let xc = if x > LO { x } else { LO };
    let t = xc * LOG2E + ROUND_MAGIC;
    let n = t - ROUND_MAGIC;
    let ni = (t.to_bits() as i32) - (ROUND_MAGIC.to_bits() as i32);
    let r = madd::<F>(-n, LN2_LO, madd::<F>(-n, LN2_HI, xc));
    let p = madd::<F>(r * r, horner::<_, F>(&EXP_POLY, r), 1.0 + r);
    let y = p * pow2i(ni);
    if x < LO {
        0.0
    } else {
        y
    }
}

/// e^x − 1 for x ≤ 0 or small |x| (ELU): the polynomial near 0 keeps relative accuracy and the
/// sign of zero.
#[inline(always)]
pub fn expm1<const F: bool>(x: f32) -> f32 {
    let small = x * (1.0 + x * horner::<_, F>(&EXP_POLY, x));
    let big = exp::<F>(x) - 1.0;
    let r = if x.abs() < 0.5 * std::f32::consts::LN_2 {
        small
    } else {
        big
    };
    nan_pass(x, r)
}

/// Logistic σ(x) and σ(−x) together, both with relative accuracy in both tails:
/// with e = e^(−|x|), σ(|x|) = 1/(1+e) and σ(−|x|) = e/(1+e).
#[inline(always)]
pub fn sigmoid_pair<const F: bool>(x: f32) -> (f32, f32) {
    let e = exp_nonpos::<F>(-x.abs());
    let hi = 1.0 / (1.0 + e);
    let lo = e * hi;
    if x >= 0.0 {
        (hi, lo)
    } else {
        (lo, hi)
    }
}

/// σ(x).
#[inline(always)]
pub fn sigmoid<const F: bool>(x: f32) -> f32 {
    nan_pass(x, sigmoid_pair::<F>(x).0)
}

/// σ'(x) = σ(x)σ(−x) = e/(1+e)², e = e^(−|x|).
#[inline(always)]
pub fn sigmoid_prime<const F: bool>(x: f32) -> f32 {
    let e = exp_nonpos::<F>(-x.abs());
    let hi = 1.0 / (1.0 + e);
    nan_pass(x, e * hi * hi)
}

/// tanh(x): odd polynomial for |x| < 0.625, (1−e)/(1+e) with e = e^(−2|x|) above.
#[inline(always)]
pub fn tanh<const F: bool>(x: f32) -> f32 {
    let a = x.abs();
    let small = a * (1.0 + a * a * horner::<_, F>(&TANH_SMALL, a * a));
    let e = exp_nonpos::<F>(-2.0 * a);
    let big = (1.0 - e) / (1.0 + e);
    let t = if a < 0.625 { small } else { big };
    nan_pass(x, t.copysign(x))
}

/// tanh'(x) = 1 − tanh² = 4e/(1+e)², e = e^(−2|x|) (no cancellation in the tails).
#[inline(always)]
pub fn tanh_prime<const F: bool>(x: f32) -> f32 {
    let e = exp_nonpos::<F>(-2.0 * x.abs());
    let d = 1.0 + e;
    nan_pass(x, 4.0 * e / (d * d))
}

/// Exact GELU x·Φ(x) (Hendrycks & Gimpel 2016) as x/2 + x²·G(x²): one polynomial, no exp,
/// no division (see `GELU_POLY`). The result takes the sign of x (GELU(x) has it; this also
/// gives GELU(±0) = ±0), ±∞ and |x| ≥ 5.5 take the limits x and −0, NaN propagates through
/// the polynomial.
#[inline(always)]
pub fn gelu<const F: bool>(x: f32) -> f32 {
    let u = x * x;
    let t = madd::<F>(u, GELU_S, -1.0);
    let g = horner_split8::<_, F>(&GELU_POLY, t);
    let near = madd::<F>(u, g, 0.5 * x).copysign(x);
    let far = if x < 0.0 { -0.0 } else { x };
    if x.abs() >= GELU_B {
        far
    } else {
        near
    }
}

/// GELU'(x) = Φ(x) + x·φ(x) as ½ + x·D(x²) (see `GELU_PRIME_POLY`); 0 and 1 for
/// |x| ≥ 5.9 and at ∓∞, NaN propagates through the polynomial.
#[inline(always)]
pub fn gelu_prime<const F: bool>(x: f32) -> f32 {
    let t = madd::<F>(x * x, GELU_PRIME_S, -1.0);
    let d = horner_split8::<_, F>(&GELU_PRIME_POLY, t);
    let near = madd::<F>(x, d, 0.5);
    let far = if x < 0.0 { 0.0 } else { 1.0 };
    if x.abs() >= GELU_PRIME_B {
        far
    } else {
        near
    }
}

/// GELU, tanh form: 0.5x(1+tanh(u)) = x·σ(2u), u = √(2/π)(x + 0.044715x³) — the σ form has
/// no cancellation for x < 0.
#[inline(always)]
pub fn gelu_tanh<const F: bool>(x: f32) -> f32 {
    let xc = clamp(x, -1e4, 1e4);
    let u2 = 2.0 * SQRT_2_OVER_PI * (xc + GELU_TANH_COEF * xc * xc * xc);
    let (s, _) = sigmoid_pair::<F>(u2);
    let xm = if x > -f32::MAX { x } else { -f32::MAX };
    nan_pass(x, xm * s)
}

/// d/dx [x·σ(2u)] = σ(2u) + x·σ(2u)σ(−2u)·2u'.
#[inline(always)]
pub fn gelu_tanh_prime<const F: bool>(x: f32) -> f32 {
    let xc = clamp(x, -1e4, 1e4);
    let x2 = xc * xc;
    let u2 = 2.0 * SQRT_2_OVER_PI * (xc + GELU_TANH_COEF * x2 * xc);
    let du2 = 2.0 * SQRT_2_OVER_PI * (1.0 + 3.0 * GELU_TANH_COEF * x2);
    let (s, sm) = sigmoid_pair::<F>(u2);
    nan_pass(x, s + xc * (s * sm) * du2)
}

/// SiLU x·σ(x); SiLU(−∞) = −0.
#[inline(always)]
pub fn silu<const F: bool>(x: f32) -> f32 {
    let (s, _) = sigmoid_pair::<F>(x);
    let xm = if x > -f32::MAX { x } else { -f32::MAX };
    nan_pass(x, xm * s)
}

/// SiLU'(x) = σ(x)(1 + x·σ(−x)).
#[inline(always)]
pub fn silu_prime<const F: bool>(x: f32) -> f32 {
    let (s, sm) = sigmoid_pair::<F>(x);
    let xc = clamp(x, -f32::MAX, f32::MAX);
    nan_pass(x, s * (1.0 + xc * sm))
}

/// ELU: x for x > 0, α(eˣ − 1) otherwise.
#[inline(always)]
pub fn elu<const F: bool>(x: f32, alpha: f32) -> f32 {
    let neg = alpha * expm1::<F>(x);
    if x > 0.0 {
        x
    } else {
        nan_pass(x, neg)
    }
}

/// ELU'(x): 1 for x > 0, α·eˣ for x ≤ 0.
#[inline(always)]
pub fn elu_prime<const F: bool>(x: f32, alpha: f32) -> f32 {
    let neg = alpha * exp::<F>(x);
    if x > 0.0 {
        1.0
    } else {
        nan_pass(x, neg)
    }
}

/// Softplus (1/β)(max(z,0) + ln(1 + e^(−|z|))), z = βx; x itself where z > threshold.
#[inline(always)]
pub fn softplus<const F: bool>(x: f32, beta: f32, inv_beta: f32, threshold: f32) -> f32 {
    let z = beta * x;
    let u = exp_nonpos::<F>(-z.abs());
    let pos = if z > 0.0 { z } else { 0.0 };
    let soft = (pos + u * horner::<_, F>(&LOG1P_POLY, u)) * inv_beta;
    let r = if z > threshold { x } else { soft };
    nan_pass(x, r)
}

/// Softplus'(x) = σ(βx), 1 where βx > threshold.
#[inline(always)]
pub fn softplus_prime<const F: bool>(x: f32, beta: f32, threshold: f32) -> f32 {
    let z = beta * x;
    let (s, _) = sigmoid_pair::<F>(z);
    let r = if z > threshold { 1.0 } else { s };
    nan_pass(x, r)
}

/// ReLU: x for x > 0 (and NaN), +0 otherwise (ReLU(−0) = +0).
#[inline(always)]
pub fn relu(x: f32) -> f32 {
    if x <= 0.0 {
        0.0
    } else {
        x
    }
}

/// Leaky ReLU / PReLU: x for x > 0, α·x otherwise.
#[inline(always)]
pub fn leaky(x: f32, alpha: f32) -> f32 {
    if x > 0.0 {
        x
    } else {
        alpha * x
    }
}

/// min(0, x) with NaN propagated: ∂PReLU/∂α.
#[inline(always)]
pub fn neg_part(x: f32) -> f32 {
    if x >= 0.0 {
        0.0
    } else {
        x
    }
}
