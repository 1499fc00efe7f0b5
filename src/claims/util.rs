//! Small shared pieces of the claim experiments: seeded random streams, initialisation, plain
//! SGD on a mean-squared-error loss (the setting the seed's claims are about).

use crate::activation::Activation;
use crate::net::{Grads, Layer, Mlp, Trace, Workspace};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, StandardNormal};

/// A ChaCha8 stream for experiment `stream` under the run's `seed`.
pub fn rng(seed: u64, stream: u64) -> ChaCha8Rng {
    let mut r = ChaCha8Rng::seed_from_u64(seed);
    r.set_stream(stream);
    r
}

/// n standard-normal draws times `std`.
pub fn normal_vec(r: &mut ChaCha8Rng, n: usize, std: f64) -> Vec<f64> {
    (0..n)
        .map(|_| {
            let z: f64 = StandardNormal.sample(r);
            z * std
        })
        .collect()
}

/// n uniform draws on [lo, hi).
pub fn uniform_vec(r: &mut ChaCha8Rng, n: usize, lo: f64, hi: f64) -> Vec<f64> {
    (0..n).map(|_| lo + (hi - lo) * r.random::<f64>()).collect()
}

/// The regression of claim 11 and the tour's monitored run, drawn from `r` in this order:
/// n inputs x ~ U(−1, 1)⁸, targets y = Σᵢ sin xᵢ, and an 8→64→64→1 ReLU net with Gaussian
/// weights (gain √2) whose hidden biases are −0.1.
pub fn sin_regression(r: &mut ChaCha8Rng, n: usize) -> (Vec<f64>, Vec<f64>, Mlp<f64>) {
    let x = uniform_vec(r, n * 8, -1.0, 1.0);
    let y: Vec<f64> = (0..n)
        .map(|s| x[s * 8..s * 8 + 8].iter().map(|v| v.sin()).sum::<f64>())
        .collect();
    let mut mlp = gaussian_mlp(
        &[8, 64, 64, 1],
        Activation::RELU,
        Activation::Identity,
        true,
        std::f64::consts::SQRT_2,
        r,
    );
    for l in 0..2 {
        mlp.layers[l].bias = Some(vec![-0.1; 64]);
    }
    (x, y, mlp)
}

/// A network with N(0, gain²/fan_in) weights (He normal for gain √2) and zero biases (or none).
pub fn gaussian_mlp(
    widths: &[usize],
    hidden: Activation,
    output: Activation,
    bias: bool,
    gain: f64,
    r: &mut ChaCha8Rng,
) -> Mlp<f64> {
    let mut mlp = Mlp::zeros(widths, hidden, output, bias);
    for layer in &mut mlp.layers {
        let std = gain / (layer.in_dim as f64).sqrt();
        layer.weight = normal_vec(r, layer.in_dim * layer.out_dim, std);
    }
    mlp
}

/// A random n × n orthogonal matrix (modified Gram–Schmidt on a Gaussian matrix), row-major.
pub fn orthogonal(n: usize, r: &mut ChaCha8Rng) -> Vec<f64> {
    let mut q = normal_vec(r, n * n, 1.0);
    for i in 0..n {
        for k in 0..i {
            let dot: f64 = (0..n).map(|c| q[i * n + c] * q[k * n + c]).sum();
            for c in 0..n {
                q[i * n + c] -= dot * q[k * n + c];
            }
        }
        let norm = (0..n).map(|c| q[i * n + c].powi(2)).sum::<f64>().sqrt();
        for c in 0..n {
            q[i * n + c] /= norm;
        }
    }
    q
}

/// ½·mean_s ‖f(x_s) − y_s‖²; fills `trace`.
pub fn mse_loss(mlp: &Mlp<f64>, x: &[f64], y: &[f64], n: usize, trace: &mut Trace<f64>) -> f64 {
    mlp.forward_batch(x, n, trace);
    0.5 * trace
        .output()
        .iter()
        .zip(y)
        .map(|(o, t)| (o - t).powi(2))
        .sum::<f64>()
        / n as f64
}

/// Gradients of the ½·mean squared error; returns the loss.
pub fn mse_grads(mlp: &Mlp<f64>, x: &[f64], y: &[f64], n: usize, grads: &mut Grads<f64>) -> f64 {
    mse_grads_traced(mlp, x, y, n, &mut Trace::default(), grads)
}

/// Gradients of the ½·MSE with γ added to every hidden pre-activation (curriculum bias
/// warm-up, through the engine's `forward_ws` shift); returns the loss.
pub fn mse_grads_shifted(
    mlp: &Mlp<f64>,
    x: &[f64],
    y: &[f64],
    n: usize,
    gamma: f64,
    grads: &mut Grads<f64>,
) -> f64 {
    let mut trace = Trace {
        batch: n,
        input: x.to_vec(),
        ..Default::default()
    };
    let mut ws = Workspace::new(1);
    mlp.forward_ws(&mut trace, &mut ws, gamma);
    let loss = 0.5
        * trace
            .output()
            .iter()
            .zip(y)
            .map(|(o, t)| (o - t).powi(2))
            .sum::<f64>()
        / n as f64;
    let g: Vec<f64> = trace
        .output()
        .iter()
        .zip(y)
        .map(|(o, t)| (o - t) / n as f64)
        .collect();
    mlp.backward_ws(&trace, &g, grads, &mut ws, false);
    loss
}

/// [`mse_grads`] keeping the forward trace (for observers).
pub fn mse_grads_traced(
    mlp: &Mlp<f64>,
    x: &[f64],
    y: &[f64],
    n: usize,
    trace: &mut Trace<f64>,
    grads: &mut Grads<f64>,
) -> f64 {
    let loss = mse_loss(mlp, x, y, n, trace);
    let g: Vec<f64> = trace
        .output()
        .iter()
        .zip(y)
        .map(|(o, t)| (o - t) / n as f64)
        .collect();
    mlp.backward_batch(trace, &g, grads);
    loss
}

/// Plain SGD with optional L2 weight decay: W ← W − η(∂L/∂W + λ_w W), b ← b − η(∂L/∂b + λ_b b).
#[derive(Clone, Copy, Debug)]
pub struct Sgd {
    /// η.
    pub lr: f64,
    /// λ_w, decay of the weights.
    pub wd_weight: f64,
    /// λ_b, decay of the biases.
    pub wd_bias: f64,
}

impl Sgd {
    /// SGD without decay.
    pub fn plain(lr: f64) -> Self {
        Sgd {
            lr,
            wd_weight: 0.0,
            wd_bias: 0.0,
        }
    }

    /// Apply one step with the given gradients.
    pub fn apply(&self, mlp: &mut Mlp<f64>, grads: &Grads<f64>) {
        for (l, layer) in mlp.layers.iter_mut().enumerate() {
            self.step_layer(layer, grads, l);
        }
    }

    fn step_layer(&self, layer: &mut Layer<f64>, g: &Grads<f64>, l: usize) {
        let (lr, wdw, wdb) = (self.lr, self.wd_weight, self.wd_bias);
        for (w, gw) in layer.weight.iter_mut().zip(&g.weight[l]) {
            *w -= lr * (gw + wdw * *w);
        }
        if let Some(b) = layer.bias.as_mut() {
            for (bj, gb) in b.iter_mut().zip(&g.bias[l]) {
                *bj -= lr * (gb + wdb * *bj);
            }
        }
    }

    /// One step on the ½·MSE loss; returns the loss before the step (gradients in `grads`).
    pub fn step(
        &self,
        mlp: &mut Mlp<f64>,
        x: &[f64],
        y: &[f64],
        n: usize,
        grads: &mut Grads<f64>,
    ) -> f64 {
        let loss = mse_grads(mlp, x, y, n, grads);
        self.apply(mlp, grads);
        loss
    }
}
