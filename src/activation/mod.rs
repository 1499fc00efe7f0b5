//! The activation family: ReLU and its repairs (Leaky ReLU, PReLU, ReLU+εx), the smooth
//! comparisons (GELU, sigmoid, tanh, ELU, SiLU, softplus) and the identity.
//!
//! [`Activation`] names a scalar function with all its parameters, including the derivative
//! chosen at the kink x = 0. [`reference`](mod@reference) holds the f64 definitions. Fast slice kernels
//! live in [`kernels`] and are tested against the reference.
//!
//! # The derivative at exactly zero
//! ReLU is not differentiable at 0; any s in [0, 1] is a valid subgradient. relulab makes the
//! choice explicit: `Relu { prime_at_zero }` (default 0, as PyTorch, JAX and TensorFlow).
//! Leaky ReLU and ReLU+εx carry their own `prime_at_zero` (defaults α and ε: the left
//! derivative); PReLU'(0) = α. Other frameworks differ (candle returns 1 for ReLU'(0), burn and
//! dfdx 1 for leaky), which matters: a unit whose pre-activation is exactly 0 for every input
//! never moves under s = 0 and does under s = 1.

pub mod gaussian;
pub mod kernels;
pub mod reference;
pub mod simd;
pub mod table;

pub use table::{table, Params, Row};

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// One scalar activation function with its parameters.
///
/// For PReLU, `alpha` is the initial (or, for one-parameter layers, current) slope; a layer
/// with one α per neuron keeps its α values in the layer and evaluates neuron j with
/// [`Activation::with_prelu_alpha`].
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "name", rename_all = "snake_case")]
pub enum Activation {
    /// f(x) = x (output layers).
    Identity,
    /// max(0, x) with ReLU'(0) = `prime_at_zero`.
    Relu {
        /// Derivative used at exactly x = 0, in [0, 1].
        prime_at_zero: f64,
    },
    /// x for x > 0, `negative_slope`·x otherwise.
    LeakyRelu {
        /// α, PyTorch's `negative_slope` (default 0.01).
        negative_slope: f64,
        /// Derivative used at exactly 0 (default α).
        prime_at_zero: f64,
    },
    /// Leaky ReLU whose slope α is learned (PyTorch `PReLU(num_parameters, init=0.25)`).
    Prelu {
        /// α (initial value for a layer; PReLU'(0) = α).
        alpha: f64,
    },
    /// max(0, x) + ε·x.
    ReluEps {
        /// ε > 0.
        eps: f64,
        /// Derivative used at exactly 0 (default ε, i.e. ReLU'(0) = 0 plus ε).
        prime_at_zero: f64,
    },
    /// Exact GELU x·Φ(x).
    Gelu,
    /// GELU, tanh approximation (PyTorch `approximate="tanh"`).
    GeluTanh,
    /// Logistic sigmoid.
    Sigmoid,
    /// Hyperbolic tangent.
    Tanh,
    /// ELU with scale α (default 1).
    Elu {
        /// α.
        alpha: f64,
    },
    /// SiLU / swish x·σ(x).
    Silu,
    /// Softplus (1/β)ln(1+e^(βx)), linear above `threshold` (PyTorch defaults β=1, threshold=20).
    Softplus {
        /// β.
        beta: f64,
        /// Linear where β·x > threshold.
        threshold: f64,
    },
}

/// Names accepted on the command line and in files, in the order of the family.
pub const ACTIVATION_NAMES: [&str; 12] = [
    "identity",
    "relu",
    "leaky_relu",
    "prelu",
    "relu_eps",
    "gelu",
    "gelu_tanh",
    "sigmoid",
    "tanh",
    "elu",
    "silu",
    "softplus",
];

impl Activation {
    /// ReLU with the default convention ReLU'(0) = 0.
    pub const RELU: Activation = Activation::Relu { prime_at_zero: 0.0 };

    /// Leaky ReLU with slope α and Leaky'(0) = α.
    pub fn leaky(negative_slope: f64) -> Self {
        Activation::LeakyRelu {
            negative_slope,
            prime_at_zero: negative_slope,
        }
    }

    /// ReLU+εx with (ReLU+εx)'(0) = ε.
    pub fn relu_eps(eps: f64) -> Self {
        Activation::ReluEps {
            eps,
            prime_at_zero: eps,
        }
    }

    /// The activation with its default parameters, by name (see [`ACTIVATION_NAMES`]).
    pub fn by_name(name: &str) -> Option<Self> {
        Some(match name {
            "identity" | "linear" => Activation::Identity,
            "relu" => Activation::RELU,
            "leaky_relu" | "leaky" => Activation::leaky(0.01),
            "prelu" => Activation::Prelu { alpha: 0.25 },
            "relu_eps" => Activation::relu_eps(0.01),
            "gelu" => Activation::Gelu,
            "gelu_tanh" => Activation::GeluTanh,
            "sigmoid" => Activation::Sigmoid,
            "tanh" => Activation::Tanh,
            "elu" => Activation::Elu { alpha: 1.0 },
            "silu" | "swish" => Activation::Silu,
            "softplus" => Activation::Softplus {
                beta: 1.0,
                threshold: 20.0,
            },
            _ => return None,
        })
    }

    /// The canonical name (one of [`ACTIVATION_NAMES`]).
    pub fn name(&self) -> &'static str {
        match self {
            Activation::Identity => "identity",
            Activation::Relu { .. } => "relu",
            Activation::LeakyRelu { .. } => "leaky_relu",
            Activation::Prelu { .. } => "prelu",
            Activation::ReluEps { .. } => "relu_eps",
            Activation::Gelu => "gelu",
            Activation::GeluTanh => "gelu_tanh",
            Activation::Sigmoid => "sigmoid",
            Activation::Tanh => "tanh",
            Activation::Elu { .. } => "elu",
            Activation::Silu => "silu",
            Activation::Softplus { .. } => "softplus",
        }
    }

    /// The same PReLU with slope `alpha` (other activations are returned unchanged).
    pub fn with_prelu_alpha(self, alpha: f64) -> Self {
        match self {
            Activation::Prelu { .. } => Activation::Prelu { alpha },
            other => other,
        }
    }

    /// True for the piecewise-linear members (identity, ReLU, Leaky, PReLU, ReLU+εx): the ones
    /// whose networks have exact linear regions.
    pub fn is_piecewise_linear(&self) -> bool {
        matches!(
            self,
            Activation::Identity
                | Activation::Relu { .. }
                | Activation::LeakyRelu { .. }
                | Activation::Prelu { .. }
                | Activation::ReluEps { .. }
        )
    }

    /// For piecewise-linear members, the slopes (left of 0, right of 0); `None` otherwise.
    pub fn pwl_slopes(&self) -> Option<(f64, f64)> {
        match *self {
            Activation::Identity => Some((1.0, 1.0)),
            Activation::Relu { .. } => Some((0.0, 1.0)),
            Activation::LeakyRelu { negative_slope, .. } => Some((negative_slope, 1.0)),
            Activation::Prelu { alpha } => Some((alpha, 1.0)),
            Activation::ReluEps { eps, .. } => Some((eps, 1.0 + eps)),
            _ => None,
        }
    }

    /// True when f(x) = 0 exactly for every x ≤ 0 (plain ReLU): the unit can die.
    pub fn has_flat_side(&self) -> bool {
        matches!(self, Activation::Relu { .. })
    }

    /// f(x) in f64: the reference definition.
    pub fn f(&self, x: f64) -> f64 {
        use reference as r;
        match *self {
            Activation::Identity => x,
            Activation::Relu { .. } => r::relu(x),
            Activation::LeakyRelu { negative_slope, .. } => r::leaky_relu(x, negative_slope),
            Activation::Prelu { alpha } => r::leaky_relu(x, alpha),
            Activation::ReluEps { eps, .. } => r::relu_eps(x, eps),
            Activation::Gelu => r::gelu(x),
            Activation::GeluTanh => r::gelu_tanh(x),
            Activation::Sigmoid => r::sigmoid(x),
            Activation::Tanh => r::tanh(x),
            Activation::Elu { alpha } => r::elu(x, alpha),
            Activation::Silu => r::silu(x),
            Activation::Softplus { beta, threshold } => r::softplus(x, beta, threshold),
        }
    }

    /// f'(x) in f64, with this activation's convention at 0.
    pub fn df(&self, x: f64) -> f64 {
        use reference as r;
        match *self {
            Activation::Identity => {
                if x.is_nan() {
                    x
                } else {
                    1.0
                }
            }
            Activation::Relu { prime_at_zero } => r::relu_prime(x, prime_at_zero),
            Activation::LeakyRelu {
                negative_slope,
                prime_at_zero,
            } => r::leaky_relu_prime(x, negative_slope, prime_at_zero),
            Activation::Prelu { alpha } => r::leaky_relu_prime(x, alpha, alpha),
            Activation::ReluEps { eps, prime_at_zero } => {
                r::relu_eps_prime(x, eps, prime_at_zero - eps)
            }
            Activation::Gelu => r::gelu_prime(x),
            Activation::GeluTanh => r::gelu_tanh_prime(x),
            Activation::Sigmoid => r::sigmoid_prime(x),
            Activation::Tanh => r::tanh_prime(x),
            Activation::Elu { alpha } => r::elu_prime(x, alpha),
            Activation::Silu => r::silu_prime(x),
            Activation::Softplus { beta, threshold } => r::softplus_prime(x, beta, threshold),
        }
    }

    /// ∂f/∂α for PReLU (min(0, x)); 0 for every activation without a learnable parameter.
    pub fn dparam(&self, x: f64) -> f64 {
        match self {
            Activation::Prelu { .. } => reference::prelu_dalpha(x),
            _ => 0.0,
        }
    }

    /// Check the parameters: slopes finite, ReLU'(0) in [0, 1], β > 0, and so on.
    pub fn validate(&self) -> crate::Result<()> {
        use crate::Error;
        let finite = |v: f64, what: &str| {
            if v.is_finite() {
                Ok(())
            } else {
                Err(Error::Value(format!(
                    "{}: {what} must be finite, got {v}",
                    self.name()
                )))
            }
        };
        match *self {
            Activation::Relu { prime_at_zero } if !(0.0..=1.0).contains(&prime_at_zero) => {
                return Err(Error::Value(format!(
                    "relu: prime_at_zero must lie in [0, 1], got {prime_at_zero}"
                )));
            }
            Activation::LeakyRelu {
                negative_slope,
                prime_at_zero,
            } => {
                finite(negative_slope, "negative_slope")?;
                finite(prime_at_zero, "prime_at_zero")?;
            }
            Activation::Prelu { alpha } => finite(alpha, "alpha")?,
            Activation::ReluEps { eps, prime_at_zero } => {
                finite(eps, "eps")?;
                finite(prime_at_zero, "prime_at_zero")?;
            }
            Activation::Elu { alpha } => finite(alpha, "alpha")?,
            Activation::Softplus { beta, threshold } => {
                if !(beta > 0.0 && beta.is_finite()) {
                    return Err(Error::Value(format!(
                        "softplus: beta must be > 0, got {beta}"
                    )));
                }
                finite(threshold, "threshold")?;
            }
            _ => {}
        }
        Ok(())
    }
}

impl Default for Activation {
    fn default() -> Self {
        Activation::RELU
    }
}

impl fmt::Display for Activation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Activation::Relu { prime_at_zero } if prime_at_zero != 0.0 => {
                write!(f, "relu(prime_at_zero={prime_at_zero})")
            }
            Activation::LeakyRelu { negative_slope, .. } => {
                write!(f, "leaky_relu(negative_slope={negative_slope})")
            }
            Activation::Prelu { alpha } => write!(f, "prelu(alpha={alpha})"),
            Activation::ReluEps { eps, .. } => write!(f, "relu_eps(eps={eps})"),
            Activation::Elu { alpha } if alpha != 1.0 => write!(f, "elu(alpha={alpha})"),
            Activation::Softplus { beta, threshold } if beta != 1.0 || threshold != 20.0 => {
                write!(f, "softplus(beta={beta}, threshold={threshold})")
            }
            other => f.write_str(other.name()),
        }
    }
}

impl FromStr for Activation {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Activation::by_name(s).ok_or_else(|| {
            format!(
                "unknown activation '{s}'; expected one of {}",
                ACTIVATION_NAMES.join(", ")
            )
        })
    }
}
