//! Branch-free f32 element functions: the bodies every SIMD loop is built from.
//!
//! Each function is `#[inline(always)]` and written with selects (`if c { a } else { b }` on
//! values already computed) and integer bit tricks only, so LLVM vectorizes the loops that call
//! them at whatever width the enclosing `#[target_feature]` function allows. The const
//! parameter `F` selects fused multiply-add (the AVX2 and AVX-512 levels) or plain multiply and
//! add (the portable level); levels with the same `F` return the same bits (tested), and every
//! level meets the same accuracy bounds.
//!
//! The polynomial coefficients come from `fit.py` next to this file (weighted least squares on
//! Chebyshev-distributed points against f64 `math`/numpy; its output lists the measured
//! error of each piece). Error against the f64 reference is measured by the kernel tests.

// The constants are printed by fit.py with full f32 round-trip precision.
#![allow(clippy::excessive_precision, clippy::unreadable_literal)]

/// erfc(z) = e^(−z²)·R(t), t = 1/(1 + z/2), for z in [0, 10] (fit.py, max rel. error of R
/// 3.2e-7 evaluated in f32). The form follows Abramowitz & Stegun 7.1.26 (a polynomial in
/// 1/(1+pz) times e^(−z²)), with more terms and our own fit.
const ERFC_POLY: [f32; 11] = [
    8.044027708820067e-06,
    0.2818577289581299,
    0.28513994812965393,
    0.22438475489616394,
    0.2814010977745056,
    -0.24193815886974335,
    0.6672755479812622,
    -0.9478998780250549,
    0.6275546550750732,
    -0.2045978158712387,
    0.0268140509724617,
];
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
const FRAC_1_SQRT_2: f32 = std::f32::consts::FRAC_1_SQRT_2;
const FRAC_1_SQRT_2PI: f32 = 0.398_942_28;
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

/// a·b + c: fused (one rounding) when `F` (the AVX2/AVX-512 levels, which have FMA), plain
/// otherwise (the portable level: a software `fmaf` would be far slower).
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

/// Φ(x) and φ(x): with z = |x|/√2, erfc(z) = e^(−z²)·R(1/(1+z/2)) and Φ = erfc/2 (x < 0) or
/// 1 − erfc/2 (x ≥ 0), so the lower tail keeps its relative accuracy; φ reuses e^(−z²).
#[inline(always)]
pub fn normal_cdf_pdf<const F: bool>(x: f32) -> (f32, f32) {
    let az = x.abs() * FRAC_1_SQRT_2;
    let e = exp_nonpos::<F>(-(az * az));
    let t = 1.0 / madd::<F>(0.5, az, 1.0);
    let q = 0.5 * (e * horner::<_, F>(&ERFC_POLY, t));
    let cdf = if x < 0.0 { q } else { 1.0 - q };
    (cdf, e * FRAC_1_SQRT_2PI)
}

/// Exact GELU x·Φ(x) (Hendrycks & Gimpel 2016); GELU(−∞) = −0.
#[inline(always)]
pub fn gelu<const F: bool>(x: f32) -> f32 {
    let (cdf, _) = normal_cdf_pdf::<F>(x);
    let xm = if x > -f32::MAX { x } else { -f32::MAX };
    nan_pass(x, xm * cdf)
}

/// GELU'(x) = Φ(x) + x·φ(x).
#[inline(always)]
pub fn gelu_prime<const F: bool>(x: f32) -> f32 {
    let (cdf, pdf) = normal_cdf_pdf::<F>(x);
    let xc = clamp(x, -1e4, 1e4);
    nan_pass(x, cdf + xc * pdf)
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
