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

/// Exact GELU(x) = x·Φ(x) (Hendrycks & Gimpel 2016), Φ through erfc for tail accuracy.
pub fn gelu(x: f64) -> f64 {
    x * normal_cdf(x)
}

/// GELU'(x) = Φ(x) + x·φ(x).
pub fn gelu_prime(x: f64) -> f64 {
    normal_cdf(x) + x * normal_pdf(x)
}

/// The tanh approximation 0.5·x·(1 + tanh(√(2/π)(x + 0.044715x³))) (PyTorch `approximate="tanh"`).
pub fn gelu_tanh(x: f64) -> f64 {
    let inner = SQRT_2_OVER_PI * (x + GELU_TANH_COEF * x * x * x);
    0.5 * x * (1.0 + inner.tanh())
}

/// Derivative of [`gelu_tanh`]: ½(1+t) + ½x(1−t²)·√(2/π)(1 + 3·0.044715x²), t = tanh(inner).
pub fn gelu_tanh_prime(x: f64) -> f64 {
    let inner = SQRT_2_OVER_PI * (x + GELU_TANH_COEF * x * x * x);
    let t = inner.tanh();
    let dinner = SQRT_2_OVER_PI * (1.0 + 3.0 * GELU_TANH_COEF * x * x);
    0.5 * (1.0 + t) + 0.5 * x * (1.0 - t * t) * dinner
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

/// sigmoid'(x) = σ(x)(1 − σ(x)) ≤ 1/4, with equality only at 0.
pub fn sigmoid_prime(x: f64) -> f64 {
    let s = sigmoid(x);
    s * (1.0 - s)
}

/// tanh(x).
pub fn tanh(x: f64) -> f64 {
    x.tanh()
}

/// tanh'(x) = 1 − tanh²(x).
pub fn tanh_prime(x: f64) -> f64 {
    let t = x.tanh();
    1.0 - t * t
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

/// SiLU(x) = x·σ(x) (Elfwing et al. 2018; "swish" with β = 1).
pub fn silu(x: f64) -> f64 {
    x * sigmoid(x)
}

/// SiLU'(x) = σ(x)(1 + x(1 − σ(x))).
pub fn silu_prime(x: f64) -> f64 {
    let s = sigmoid(x);
    s * (1.0 + x * (1.0 - s))
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
