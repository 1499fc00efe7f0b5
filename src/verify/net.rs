//! [`PwlNet`]: the verifier's f64 view of an [`Mlp`] with piecewise-linear activations.
//!
//! Layer l maps a_{l−1} to z_l = W_l a_{l−1} + b_l; hidden units apply σ(z) = s⁻·z for z < 0,
//! s⁺·z for z ≥ 0 (ReLU (0, 1), Leaky ReLU / PReLU (α, 1), ReLU+εx (ε, 1+ε), identity (1, 1)).
//! The last layer is affine; a network whose last layer has an activation gets an identity
//! layer appended so that the output is always the last pre-activation. Weights are the f32
//! (or f64) values of the model widened exactly to f64: the verifier decides the property for
//! the real-arithmetic network with exactly these weights.

use crate::error::{Error, Result};
use crate::net::Mlp;
use crate::real::Real;

/// One affine map z = W a + b in f64.
#[derive(Clone, Debug)]
pub struct Affine {
    /// Input width.
    pub n_in: usize,
    /// Output width.
    pub n_out: usize,
    /// W, row-major n_out × n_in.
    pub w: Vec<f64>,
    /// Wᵀ, row-major n_in × n_out (for backward passes).
    pub wt: Vec<f64>,
    /// |W|, row-major n_out × n_in (for rounding-error magnitudes).
    pub w_abs: Vec<f64>,
    /// b.
    pub b: Vec<f64>,
    /// W, Wᵀ and b rounded to f32, for the engine's estimate passes (exact for f32 models).
    pub f32: [Vec<f32>; 3],
}

impl Affine {
    fn new(n_in: usize, n_out: usize, w: Vec<f64>, b: Vec<f64>) -> Self {
        let mut wt = vec![0.0; w.len()];
        for j in 0..n_out {
            for i in 0..n_in {
                wt[i * n_out + j] = w[j * n_in + i];
            }
        }
        let w_abs = w.iter().map(|v| v.abs()).collect();
        let narrow = |v: &[f64]| v.iter().map(|&x| x as f32).collect::<Vec<f32>>();
        Affine {
            n_in,
            n_out,
            f32: [narrow(&w), narrow(&wt), narrow(&b)],
            w,
            wt,
            w_abs,
            b,
        }
    }

    /// Row j of W.
    #[inline]
    pub fn row(&self, j: usize) -> &[f64] {
        &self.w[j * self.n_in..(j + 1) * self.n_in]
    }
}

/// A piecewise-linear network in f64: affine layers with a kink-at-zero activation between
/// consecutive layers.
#[derive(Clone, Debug)]
pub struct PwlNet {
    /// The affine layers, input side first.
    pub layers: Vec<Affine>,
    /// `slopes[l][j] = (s⁻, s⁺)` of unit j after layer l, for every layer but the last.
    pub slopes: Vec<Vec<(f64, f64)>>,
}

impl PwlNet {
    /// Build from an `Mlp`; errors name the first layer whose activation is not piecewise
    /// linear.
    pub fn from_mlp<T: Real>(mlp: &Mlp<T>) -> Result<Self> {
        mlp.validate()?;
        let mut layers = Vec::new();
        let mut slopes = Vec::new();
        let n = mlp.layers.len();
        for (l, layer) in mlp.layers.iter().enumerate() {
            let w: Vec<f64> = layer.weight.iter().map(|v| v.as_f64()).collect();
            let b: Vec<f64> = (0..layer.out_dim)
                .map(|j| layer.bias_at(j).as_f64())
                .collect();
            if w.iter().chain(&b).any(|v| !v.is_finite()) {
                return Err(Error::Value(format!(
                    "layer {l}: non-finite weight or bias"
                )));
            }
            layers.push(Affine::new(layer.in_dim, layer.out_dim, w, b));
            let s: Vec<(f64, f64)> = (0..layer.out_dim)
                .map(|j| {
                    layer.unit_activation(j).pwl_slopes().ok_or_else(|| {
                        Error::Unsupported(format!(
                            "layer {l}: activation {} is not piecewise linear; the verifier handles identity, relu, leaky_relu, prelu and relu_eps",
                            layer.activation
                        ))
                    })
                })
                .collect::<Result<_>>()?;
            let identity = s.iter().all(|&p| p == (1.0, 1.0));
            if l + 1 < n || !identity {
                slopes.push(s);
            }
        }
        if slopes.len() == layers.len() {
            // The output layer has an activation: append an identity layer.
            let d = mlp.output_dim();
            let mut w = vec![0.0; d * d];
            for j in 0..d {
                w[j * d + j] = 1.0;
            }
            layers.push(Affine::new(d, d, w, vec![0.0; d]));
        }
        Ok(PwlNet { layers, slopes })
    }

    /// Input width.
    pub fn input_dim(&self) -> usize {
        self.layers[0].n_in
    }

    /// Output width.
    pub fn output_dim(&self) -> usize {
        self.layers.last().map_or(0, |l| l.n_out)
    }

    /// Plain f64 forward pass (round to nearest; not a bound).
    pub fn forward(&self, x: &[f64]) -> Vec<f64> {
        self.forward_trace(x).pop().unwrap_or_default()
    }

    /// Plain f64 forward pass returning every pre-activation z_1..z_L.
    pub fn forward_trace(&self, x: &[f64]) -> Vec<Vec<f64>> {
        let mut a = x.to_vec();
        let mut zs = Vec::with_capacity(self.layers.len());
        for (l, layer) in self.layers.iter().enumerate() {
            // z = b + Σ_i a_i·W[:, i], as column updates (vectorisable, skips inactive units).
            let mut z = layer.b.clone();
            for (i, &ai) in a.iter().enumerate() {
                if ai != 0.0 {
                    let col = &layer.wt[i * layer.n_out..(i + 1) * layer.n_out];
                    for (zj, w) in z.iter_mut().zip(col) {
                        *zj += ai * w;
                    }
                }
            }
            if l < self.slopes.len() {
                a = z
                    .iter()
                    .zip(&self.slopes[l])
                    .map(|(&v, &(sl, sr))| if v < 0.0 { sl * v } else { sr * v })
                    .collect();
            }
            zs.push(z);
        }
        zs
    }

    /// Gradient of `c · y` with respect to the input at `x` (the subgradient of the active
    /// pattern at `x`, taking s⁺ at exactly 0).
    pub fn input_gradient(&self, x: &[f64], c: &[f64]) -> Vec<f64> {
        self.gradient_from_trace(&self.forward_trace(x), c)
    }

    /// [`PwlNet::input_gradient`] from the pre-activations of a [`PwlNet::forward_trace`] at
    /// the point (no second forward pass).
    pub fn gradient_from_trace(&self, zs: &[Vec<f64>], c: &[f64]) -> Vec<f64> {
        let mut g = c.to_vec();
        for l in (0..self.layers.len()).rev() {
            let layer = &self.layers[l];
            let mut prev = vec![0.0; layer.n_in];
            for (j, &gj) in g.iter().enumerate() {
                if gj != 0.0 {
                    for (p, w) in prev.iter_mut().zip(layer.row(j)) {
                        *p += gj * w;
                    }
                }
            }
            if l > 0 {
                for (i, p) in prev.iter_mut().enumerate() {
                    let (sl, sr) = self.slopes[l - 1][i];
                    *p *= if zs[l - 1][i] < 0.0 { sl } else { sr };
                }
            }
            g = prev;
        }
        g
    }
}
