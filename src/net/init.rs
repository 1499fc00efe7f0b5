//! Weight and bias initialisation schemes.
//!
//! fan_in = in_dim, fan_out = out_dim of the layer.
//! * He/Kaiming (He et al. 2015, eq. 10): normal N(0, 2/fan_in), uniform U(±√(6/fan_in)).
//! * Xavier/Glorot (Glorot & Bengio 2010, eq. 16): normal N(0, 2/(fan_in+fan_out)), uniform
//!   U(±√(6/(fan_in+fan_out))).
//! * LeCun (LeCun et al. 1998, "Efficient BackProp" §4.6): N(0, 1/fan_in).
//! * Orthogonal (Saxe et al. 2014): W = gain·Q from the QR factorisation of a Gaussian matrix,
//!   the sign of each column fixed by diag(R) > 0 (as PyTorch's `orthogonal_`).
//! * PyTorch's `nn.Linear` default: W and b from U(±1/√fan_in).
//! * RAI, randomized asymmetric initialisation (Lu, Shin, Su & Karniadakis 2019, "Dying ReLU
//!   and initialization", §5): for each unit, one incoming parameter chosen uniformly among its
//!   weights and bias is drawn from Beta(2, 1) (positive, asymmetric), the others from
//!   N(0, σ²/fan_in). RAI sets the bias too, so the bias scheme is ignored under RAI.

use super::Mlp;
use crate::real::Real;
use rand::Rng;
use rand_distr::{Beta, Distribution, Normal, Uniform};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// A weight initialisation scheme.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "name", rename_all = "snake_case")]
pub enum Init {
    /// N(0, 2/fan_in).
    HeNormal,
    /// U(±√(6/fan_in)).
    HeUniform,
    /// N(0, 2/(fan_in+fan_out)).
    XavierNormal,
    /// U(±√(6/(fan_in+fan_out))).
    XavierUniform,
    /// N(0, 1/fan_in).
    LecunNormal,
    /// gain · a random orthogonal matrix.
    Orthogonal {
        /// Scale (√2 suits ReLU).
        gain: f64,
    },
    /// PyTorch `nn.Linear` default: W, b ~ U(±1/√fan_in).
    Torch,
    /// Randomized asymmetric initialisation (Lu et al. 2019).
    Rai {
        /// σ²: the other parameters are N(0, σ²/fan_in).
        sigma2: f64,
    },
}

/// Names accepted by [`Init::from_str`].
pub const INIT_NAMES: [&str; 8] = [
    "he_normal",
    "he_uniform",
    "xavier_normal",
    "xavier_uniform",
    "lecun_normal",
    "orthogonal",
    "torch",
    "rai",
];

impl FromStr for Init {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Ok(match s {
            "he_normal" | "kaiming_normal" | "he" => Init::HeNormal,
            "he_uniform" | "kaiming_uniform" => Init::HeUniform,
            "xavier_normal" | "glorot_normal" => Init::XavierNormal,
            "xavier_uniform" | "glorot_uniform" | "xavier" => Init::XavierUniform,
            "lecun_normal" | "lecun" => Init::LecunNormal,
            "orthogonal" => Init::Orthogonal {
                gain: std::f64::consts::SQRT_2,
            },
            "torch" | "pytorch" => Init::Torch,
            "rai" => Init::Rai { sigma2: 1.0 },
            _ => {
                return Err(format!(
                    "unknown init '{s}'; expected one of {}",
                    INIT_NAMES.join(", ")
                ))
            }
        })
    }
}

impl fmt::Display for Init {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = match self {
            Init::HeNormal => "he_normal",
            Init::HeUniform => "he_uniform",
            Init::XavierNormal => "xavier_normal",
            Init::XavierUniform => "xavier_uniform",
            Init::LecunNormal => "lecun_normal",
            Init::Orthogonal { .. } => "orthogonal",
            Init::Torch => "torch",
            Init::Rai { .. } => "rai",
        };
        f.write_str(s)
    }
}

/// A bias initialisation scheme (ignored by [`Init::Torch`] and [`Init::Rai`], which set biases
/// themselves).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "name", rename_all = "snake_case")]
pub enum BiasInit {
    /// b = 0.
    Zero,
    /// b = c (e.g. −2 to start units dead, or a small positive value to keep them alive).
    Constant {
        /// The value.
        value: f64,
    },
    /// b ~ N(0, std²).
    Normal {
        /// Standard deviation.
        std: f64,
    },
}

impl FromStr for BiasInit {
    type Err = String;
    /// `zero`, `const:C` (or a bare number C), `normal:STD`.
    fn from_str(s: &str) -> Result<Self, String> {
        if s == "zero" || s == "zeros" {
            return Ok(BiasInit::Zero);
        }
        let num = |t: &str| {
            t.parse::<f64>()
                .ok()
                .filter(|v| v.is_finite())
                .ok_or_else(|| format!("bias init '{s}': '{t}' is not a finite number"))
        };
        if let Some(v) = s.strip_prefix("const:") {
            return Ok(BiasInit::Constant { value: num(v)? });
        }
        if let Some(v) = s.strip_prefix("normal:") {
            return Ok(BiasInit::Normal { std: num(v)? });
        }
        if let Ok(v) = s.parse::<f64>() {
            if v.is_finite() {
                return Ok(BiasInit::Constant { value: v });
            }
        }
        Err(format!(
            "unknown bias init '{s}'; expected zero, const:C, C or normal:STD"
        ))
    }
}

fn orthogonal<R: Rng>(rows: usize, cols: usize, gain: f64, rng: &mut R) -> Vec<f64> {
    // Work on a tall matrix (n × m, n ≥ m); Gram–Schmidt on its columns gives Q with R's
    // diagonal positive, i.e. the sign convention of PyTorch's `orthogonal_`.
    let (n, m, transpose) = if rows >= cols {
        (rows, cols, false)
    } else {
        (cols, rows, true)
    };
    let normal = Normal::new(0.0, 1.0).expect("valid normal");
    // Column-major tall matrix: column c at a[c*n..(c+1)*n].
    let mut a: Vec<f64> = (0..n * m).map(|_| normal.sample(rng)).collect();
    for c in 0..m {
        for p in 0..c {
            let (head, tail) = a.split_at_mut(c * n);
            let qp = &head[p * n..(p + 1) * n];
            let col = &mut tail[..n];
            let d: f64 = qp.iter().zip(col.iter()).map(|(x, y)| x * y).sum();
            col.iter_mut().zip(qp).for_each(|(y, x)| *y -= d * x);
        }
        let col = &mut a[c * n..(c + 1) * n];
        let norm = col.iter().map(|x| x * x).sum::<f64>().sqrt();
        col.iter_mut().for_each(|x| *x /= norm);
    }
    let mut w = vec![0.0; rows * cols];
    for r in 0..rows {
        for c in 0..cols {
            // Row-major rows × cols result.
            w[r * cols + c] = gain
                * if transpose {
                    a[r * n + c] // tall is cols × rows: element (c, r) of column r
                } else {
                    a[c * n + r]
                };
        }
    }
    w
}

impl<T: Real> Mlp<T> {
    /// Initialise every layer's weights (and biases) in place from `rng`, layer by layer,
    /// weights before biases.
    pub fn init<R: Rng>(&mut self, init: Init, bias_init: BiasInit, rng: &mut R) {
        for layer in &mut self.layers {
            let (fan_in, fan_out) = (layer.in_dim as f64, layer.out_dim as f64);
            let normal = |std: f64| Normal::new(0.0, std).expect("finite std");
            let uniform = |b: f64| Uniform::new_inclusive(-b, b).expect("finite bound");
            let w: Vec<f64> = match init {
                Init::HeNormal => {
                    let d = normal((2.0 / fan_in).sqrt());
                    (0..layer.weight.len()).map(|_| d.sample(rng)).collect()
                }
                Init::HeUniform => {
                    let d = uniform((6.0 / fan_in).sqrt());
                    (0..layer.weight.len()).map(|_| d.sample(rng)).collect()
                }
                Init::XavierNormal => {
                    let d = normal((2.0 / (fan_in + fan_out)).sqrt());
                    (0..layer.weight.len()).map(|_| d.sample(rng)).collect()
                }
                Init::XavierUniform => {
                    let d = uniform((6.0 / (fan_in + fan_out)).sqrt());
                    (0..layer.weight.len()).map(|_| d.sample(rng)).collect()
                }
                Init::LecunNormal => {
                    let d = normal((1.0 / fan_in).sqrt());
                    (0..layer.weight.len()).map(|_| d.sample(rng)).collect()
                }
                Init::Orthogonal { gain } => orthogonal(layer.out_dim, layer.in_dim, gain, rng),
                Init::Torch => {
                    let d = uniform(1.0 / fan_in.sqrt());
                    (0..layer.weight.len()).map(|_| d.sample(rng)).collect()
                }
                Init::Rai { sigma2 } => {
                    let d = normal((sigma2 / fan_in).sqrt());
                    (0..layer.weight.len()).map(|_| d.sample(rng)).collect()
                }
            };
            for (p, v) in layer.weight.iter_mut().zip(&w) {
                *p = T::of_f64(*v);
            }
            match init {
                Init::Torch => {
                    let d = Uniform::new_inclusive(-1.0 / fan_in.sqrt(), 1.0 / fan_in.sqrt())
                        .expect("finite bound");
                    if let Some(b) = &mut layer.bias {
                        b.iter_mut().for_each(|x| *x = T::of_f64(d.sample(rng)));
                    }
                }
                Init::Rai { sigma2 } => {
                    let d = Normal::new(0.0, (sigma2 / fan_in).sqrt()).expect("finite std");
                    if let Some(b) = &mut layer.bias {
                        b.iter_mut().for_each(|x| *x = T::of_f64(d.sample(rng)));
                    }
                    let beta = Beta::new(2.0, 1.0).expect("valid beta");
                    let n_in = layer.in_dim + usize::from(layer.bias.is_some());
                    for j in 0..layer.out_dim {
                        let k = rng.random_range(0..n_in);
                        let v = T::of_f64(beta.sample(rng));
                        if k < layer.in_dim {
                            layer.weight[j * layer.in_dim + k] = v;
                        } else if let Some(b) = &mut layer.bias {
                            b[j] = v;
                        }
                    }
                }
                _ => {
                    if let Some(b) = &mut layer.bias {
                        match bias_init {
                            BiasInit::Zero => b.iter_mut().for_each(|x| *x = T::zero()),
                            BiasInit::Constant { value } => {
                                b.iter_mut().for_each(|x| *x = T::of_f64(value))
                            }
                            BiasInit::Normal { std } => {
                                let d = Normal::new(0.0, std.abs()).expect("finite std");
                                b.iter_mut().for_each(|x| *x = T::of_f64(d.sample(rng)));
                            }
                        }
                    }
                }
            }
        }
    }
}
