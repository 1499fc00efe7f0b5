//! The f64 scalar reference: the *definition* of every activation in the family.
//!
//! Every fast kernel (SIMD, f32, threaded) is tested against these functions. They are
//! written for clarity and accuracy, not speed. Conventions:
//!
//! * NaN in, NaN out (for every function and derivative).
//! * The derivative at a kink (x = 0 exactly) is a parameter, never an accident. ReLU'(0) = s
//!   with s in [0, 1] (default 0, as PyTorch, JAX and TensorFlow do); Leaky ReLU'(0) defaults to
//!   the negative slope α; PReLU'(0) is α; ELU'(0) takes the left branch α·e⁰ = α (as PyTorch's
//!   `elu_backward`, which tests `x <= 0`).
//! * `relu(-0.0)` is `+0.0`.
//! * At ±∞ every function and derivative takes its limit (GELU(−∞) = −0, GELU'(+∞) = 1,
//!   SiLU'(−∞) = 0, …), never the NaN of a naive ∞·0. The one exception is a zero slope
//!   times −∞ (Leaky/PReLU with α = 0, ReLU+εx with ε = 0), which is NaN as in IEEE and PyTorch.
//! * Forms are chosen for accuracy over the whole range: 1 − σ(x) is computed as σ(−x), the
//!   tanh-GELU as x·σ(2u) (equal to 0.5x(1 + tanh u), without its cancellation for x ≪ 0),
//!   tanh' as 1/cosh², so the far tails keep their relative accuracy.

/// 1/√2.
pub const FRAC_1_SQRT_2: f64 = std::f64::consts::FRAC_1_SQRT_2;
/// 1/√(2π), the standard normal density at 0.
pub const FRAC_1_SQRT_2PI: f64 = 0.398_942_280_401_432_7;
/// √(2/π), the constant inside the tanh approximation of GELU (Hendrycks & Gimpel 2016, eq. 2).
pub const SQRT_2_OVER_PI: f64 = 0.797_884_560_802_865_4;
/// The cubic coefficient of the tanh approximation of GELU (Hendrycks & Gimpel 2016).
pub const GELU_TANH_COEF: f64 = 0.044_715;

/// Standard normal density φ(x) = exp(−x²/2)/√(2π).
pub fn normal_pdf(x: f64) -> f64 {
    FRAC_1_SQRT_2PI * (-0.5 * x * x).exp()
}

/// Standard normal distribution function Φ(x) = ½·erfc(−x/√2), accurate in both tails.
pub fn normal_cdf(x: f64) -> f64 {
    0.5 * libm::erfc(-x * FRAC_1_SQRT_2)
}

/// ReLU(x) = max(0, x); NaN propagates; ReLU(−0) = +0.
pub fn relu(x: f64) -> f64 {
    if x > 0.0 || x.is_nan() {
        x
    } else {
        0.0
    }
}

/// ReLU'(x): 1 for x > 0, 0 for x < 0, `prime_at_zero` at x = 0 (±0).
pub fn relu_prime(x: f64, prime_at_zero: f64) -> f64 {
    if x > 0.0 {
        1.0
    } else if x < 0.0 {
        0.0
    } else if x == 0.0 {
        prime_at_zero
    } else {
        x // NaN
    }
}

/// Leaky ReLU(x) = x for x > 0, α·x otherwise (PyTorch `LeakyReLU(negative_slope=α)`).
pub fn leaky_relu(x: f64, alpha: f64) -> f64 {
    if x > 0.0 {
        x
    } else {
        alpha * x
    }
}

/// Leaky ReLU'(x): 1 for x > 0, α for x < 0, `prime_at_zero` at 0 (conventionally α).
pub fn leaky_relu_prime(x: f64, alpha: f64, prime_at_zero: f64) -> f64 {
    if x > 0.0 {
        1.0
    } else if x < 0.0 {
        alpha
    } else if x == 0.0 {
        prime_at_zero
    } else {
        x
    }
}

/// ∂PReLU(x; α)/∂α = min(0, x) (0 at x = 0; NaN propagates).
pub fn prelu_dalpha(x: f64) -> f64 {
    if x < 0.0 || x.is_nan() {
        x
    } else {
        0.0
    }
}

/// ReLU+εx: max(0, x) + ε·x.
pub fn relu_eps(x: f64, eps: f64) -> f64 {
    relu(x) + eps * x
}

/// (ReLU+εx)'(x) = ReLU'(x) + ε, with ReLU'(0) = `prime_at_zero`.
pub fn relu_eps_prime(x: f64, eps: f64, prime_at_zero: f64) -> f64 {
    relu_prime(x, prime_at_zero) + eps
}

/// Exact GELU(x) = x·Φ(x) (Hendrycks & Gimpel 2016, eq. 1), Φ through erfc for tail accuracy;
/// GELU(−∞) = −0 (the limit).
pub fn gelu(x: f64) -> f64 {
    if x == f64::NEG_INFINITY {
        return -0.0;
    }
    x * normal_cdf(x)
}

/// GELU'(x) = Φ(x) + x·φ(x); 1 at +∞ and 0 at −∞.
pub fn gelu_prime(x: f64) -> f64 {
    // x·φ(x) underflows to 0 long before |x| reaches ∞; at ±∞ the product is its limit, 0.
    let x_pdf = if x.is_infinite() {
        0.0
    } else {
        x * normal_pdf(x)
    };
    normal_cdf(x) + x_pdf
}

/// The argument 2u = 2√(2/π)(x + 0.044715x³) of the tanh approximation in σ form.
fn gelu_tanh_arg2(x: f64) -> f64 {
    2.0 * SQRT_2_OVER_PI * (x + GELU_TANH_COEF * x * x * x)
}

/// The tanh approximation 0.5·x·(1 + tanh(√(2/π)(x + 0.044715x³))) (Hendrycks & Gimpel 2016;
/// PyTorch `approximate="tanh"`), evaluated as x·σ(2u) (identical, as ½(1+tanh u) = σ(2u)).
pub fn gelu_tanh(x: f64) -> f64 {
    if x == f64::NEG_INFINITY {
        return -0.0;
    }
    x * sigmoid(gelu_tanh_arg2(x))
}

/// Derivative of [`gelu_tanh`]: σ(2u) + x·σ(2u)σ(−2u)·2u', u' = √(2/π)(1 + 3·0.044715x²).
pub fn gelu_tanh_prime(x: f64) -> f64 {
    let v = gelu_tanh_arg2(x);
    let (s, sm) = (sigmoid(v), sigmoid(-v));
    let ss = s * sm;
    if ss == 0.0 {
        // Far tails (and ±∞): the second term vanishes (x·u' grows only polynomially).
        return s;
    }
    let dv = 2.0 * SQRT_2_OVER_PI * (1.0 + 3.0 * GELU_TANH_COEF * x * x);
    s + x * ss * dv
}

/// Logistic sigmoid 1/(1+e^(−x)), evaluated without overflow for either sign.
pub fn sigmoid(x: f64) -> f64 {
    if x >= 0.0 {
        1.0 / (1.0 + (-x).exp())
    } else {
        let e = x.exp();
        e / (1.0 + e)
    }
}

/// sigmoid'(x) = σ(x)(1 − σ(x)) = σ(x)σ(−x) ≤ 1/4, with equality only at 0.
pub fn sigmoid_prime(x: f64) -> f64 {
    sigmoid(x) * sigmoid(-x)
}

/// tanh(x).
pub fn tanh(x: f64) -> f64 {
    x.tanh()
}

/// tanh'(x) = 1 − tanh²(x) = 1/cosh²(x) (the second form keeps the tails' relative accuracy).
pub fn tanh_prime(x: f64) -> f64 {
    let c = x.cosh();
    1.0 / (c * c)
}

/// ELU(x) = x for x > 0, α(eˣ − 1) otherwise (Clevert et al. 2016).
pub fn elu(x: f64, alpha: f64) -> f64 {
    if x > 0.0 {
        x
    } else {
        alpha * x.exp_m1()
    }
}

/// ELU'(x) = 1 for x > 0, α·eˣ for x ≤ 0 (the left branch at 0, as PyTorch).
pub fn elu_prime(x: f64, alpha: f64) -> f64 {
    if x > 0.0 {
        1.0
    } else {
        alpha * x.exp()
    }
}

/// SiLU(x) = x·σ(x) (Elfwing et al. 2018; "swish" with β = 1); SiLU(−∞) = −0.
pub fn silu(x: f64) -> f64 {
    if x == f64::NEG_INFINITY {
        return -0.0;
    }
    x * sigmoid(x)
}

/// SiLU'(x) = σ(x)(1 + x(1 − σ(x))) = σ(x)(1 + x·σ(−x)); 1 at +∞, 0 at −∞.
pub fn silu_prime(x: f64) -> f64 {
    let s = sigmoid(x);
    let x_sm = if x.is_infinite() {
        0.0
    } else {
        x * sigmoid(-x)
    };
    if s == 0.0 {
        return 0.0;
    }
    s * (1.0 + x_sm)
}

/// Softplus(x) = (1/β)·ln(1 + e^(βx)), and x itself where βx > threshold (PyTorch semantics,
/// defaults β = 1, threshold = 20).
pub fn softplus(x: f64, beta: f64, threshold: f64) -> f64 {
    let bx = beta * x;
    if bx > threshold {
        x
    } else {
        // ln(1+e^z) = max(z,0) + ln(1 + e^(−|z|)), no overflow.
        (bx.max(0.0) + (-bx.abs()).exp().ln_1p()) / beta + if x.is_nan() { x } else { 0.0 }
    }
}

/// Softplus'(x) = σ(βx), and 1 where βx > threshold.
pub fn softplus_prime(x: f64, beta: f64, threshold: f64) -> f64 {
    if beta * x > threshold {
        1.0
    } else {
        sigmoid(beta * x)
    }
}
