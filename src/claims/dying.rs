//! Claims 6, 7, 9, 10 and 11: dying ReLU units, the ReLU'(0) convention, curriculum bias
//! warm-up, learning rate and weight decay.
//!
//! The dead setting (claim 6, after the seed): a 4→8→1 ReLU net whose first-layer units have
//! bias −2 and weights in [−0.01, 0.01], inputs in [−1, 1]⁴, so z = wᵀx + b ≤ 4·0.01 − 2 < 0
//! for every input. Then a_1 = 0 and ReLU'(z) = 0, so ∂L/∂W₁ = ∂L/∂b₁ = 0 and also
//! ∂L/∂W₂ = g·a_1ᵀ = 0: only the output bias learns, and SGD converges to the best constant,
//! whose ½·MSE is ½·Var(y) (population variance) — a closed form the experiment checks.

use super::util::{gaussian_mlp, mse_loss, rng, uniform_vec, Sgd};
use super::{Check, Draft};
use crate::activation::Activation;
use crate::diagnose::{diagnose_trace, HealthConfig};
use crate::net::{Grads, Mlp, Trace};
use crate::remedy::{BiasWarmup, Decay};

struct Problem {
    mlp: Mlp<f64>,
    x: Vec<f64>,
    y: Vec<f64>,
    n: usize,
}

impl Problem {
    /// ½·Var(y): the ½·MSE of the best constant predictor.
    fn constant_loss(&self) -> f64 {
        let m = self.y.iter().sum::<f64>() / self.n as f64;
        0.5 * self.y.iter().map(|v| (v - m).powi(2)).sum::<f64>() / self.n as f64
    }
    fn loss(&self, mlp: &Mlp<f64>) -> f64 {
        mse_loss(mlp, &self.x, &self.y, self.n, &mut Trace::default())
    }
    fn dead(&self, mlp: &Mlp<f64>, layer: usize) -> usize {
        let mut t = Trace::default();
        mlp.forward_batch(&self.x, self.n, &mut t);
        diagnose_trace(mlp, &t, None, HealthConfig::default())[layer]
            .dead
            .len()
    }
}

fn target(x: &[f64]) -> f64 {
    (x[0] + x[1]).abs() + 0.5 * x[2] - 0.25 * x[3]
}

/// The dead setting of claim 6.
fn dead_problem(seed: u64) -> Problem {
    let mut r = rng(seed, 6);
    let n = 256;
    let x = uniform_vec(&mut r, n * 4, -1.0, 1.0);
    let y = (0..n).map(|s| target(&x[s * 4..s * 4 + 4])).collect();
    let mut mlp = gaussian_mlp(
        &[4, 8, 1],
        Activation::RELU,
        Activation::Identity,
        true,
        1.0,
        &mut r,
    );
    mlp.layers[0].weight = uniform_vec(&mut r, 32, -0.01, 0.01);
    mlp.layers[0].bias = Some(vec![-2.0; 8]);
    Problem { mlp, x, y, n }
}

fn max_abs_diff(a: &[f64], b: &[f64]) -> f64 {
    a.iter()
        .zip(b)
        .fold(0.0f64, |m, (x, y)| m.max((x - y).abs()))
}

fn layer_params(mlp: &Mlp<f64>, l: usize) -> Vec<f64> {
    let layer = &mlp.layers[l];
    let mut v = layer.weight.clone();
    v.extend(layer.bias.iter().flatten());
    v
}

fn grad_abs_max(g: &Grads<f64>, l: usize) -> f64 {
    g.weight[l]
        .iter()
        .chain(&g.bias[l])
        .fold(0.0f64, |m, v| m.max(v.abs()))
}

pub(crate) fn claim6(seed: u64) -> Draft {
    let mut d = Draft::new(
        "A bias of −2 kills a unit for good",
        "With bias initialised at −2 and small weights and inputs, the unit's pre-activation is \
         always negative: its output and gradient are exactly 0 and training never revives it.",
    );
    let p = dead_problem(seed);
    let mut mlp = p.mlp.clone();
    let mut t = Trace::default();
    mlp.forward_batch(&p.x, p.n, &mut t);
    let zmax = t.pre[0].iter().fold(f64::NEG_INFINITY, |m, &v| m.max(v));
    d.check(Check::at_most(
        "max first-layer pre-activation over the data",
        zmax,
        -2.0 + 4.0 * 0.01,
    ));
    d.check(Check::exact(
        "dead first-layer units at init",
        p.dead(&mlp, 0) as f64,
        8.0,
    ));
    let before = layer_params(&mlp, 0);
    let sgd = Sgd::plain(0.1);
    let mut grads = Grads::default();
    let mut worst_grad = 0.0f64;
    let steps = 2000;
    for _ in 0..steps {
        sgd.step(&mut mlp, &p.x, &p.y, p.n, &mut grads);
        worst_grad = worst_grad.max(grad_abs_max(&grads, 0));
    }
    d.check(Check::exact(
        "max |∂L/∂W₁|, |∂L/∂b₁| over 2000 SGD steps",
        worst_grad,
        0.0,
    ));
    d.check(Check::exact(
        "max |change| of the first layer's weights and biases",
        max_abs_diff(&before, &layer_params(&mlp, 0)),
        0.0,
    ));
    d.check(Check::exact(
        "dead first-layer units after training",
        p.dead(&mlp, 0) as f64,
        8.0,
    ));
    let c = p.constant_loss();
    d.check(Check::close(
        "final ½·MSE = best constant's ½·Var(y) (stuck)",
        p.loss(&mlp),
        c,
        1e-9 * c,
    ));
    d
}

pub(crate) fn claim7(seed: u64) -> Draft {
    let mut d = Draft::new(
        "The ReLU'(0) convention decides whether a unit at 0 moves",
        "A unit whose pre-activation is exactly 0 for every input never moves when ReLU'(0) = 0 \
         (the convention of PyTorch, JAX, TensorFlow), and does when ReLU'(0) = 1.",
    );
    let mut r = rng(seed, 7);
    let n = 64;
    let x = uniform_vec(&mut r, n * 3, -1.0, 1.0);
    let y: Vec<f64> = (0..n).map(|s| x[3 * s] - x[3 * s + 1] + 0.5).collect();
    let mut base = gaussian_mlp(
        &[3, 4, 1],
        Activation::RELU,
        Activation::Identity,
        true,
        std::f64::consts::SQRT_2,
        &mut r,
    );
    // Unit 0: zero weights and zero bias, so z₀ = 0 exactly for every input.
    base.layers[0].weight[0..3].fill(0.0);
    base.layers[0].bias = Some(vec![0.0, 0.1, 0.1, 0.1]);
    base.layers[1].weight[0] = 0.5;
    let unit0 = |m: &Mlp<f64>| {
        let l = &m.layers[0];
        vec![l.weight[0], l.weight[1], l.weight[2], l.bias_at(0)]
    };
    let start = unit0(&base);
    for s in [0.0, 1.0] {
        let mut mlp = base.clone();
        mlp.layers[0].activation = Activation::Relu { prime_at_zero: s };
        let mut t = Trace::default();
        mlp.forward_batch(&x, n, &mut t);
        let z0max = (0..n).map(|k| t.pre[0][k * 4].abs()).fold(0.0f64, f64::max);
        let sgd = Sgd::plain(0.05);
        let mut grads = Grads::default();
        for _ in 0..100 {
            sgd.step(&mut mlp, &x, &y, n, &mut grads);
        }
        let moved = max_abs_diff(&start, &unit0(&mlp));
        if s == 0.0 {
            d.check(Check::exact("max |z₀| over the data at init", z0max, 0.0));
            d.check(Check::exact(
                "ReLU'(0)=0: max |change| of unit 0 after 100 SGD steps",
                moved,
                0.0,
            ));
        } else {
            d.check(Check::at_least(
                "ReLU'(0)=1: max |change| of unit 0 after 100 SGD steps",
                moved,
                1e-4,
            ));
        }
    }
    d
}

/// Train with warm-up γ(t) for `warm` steps then `after` steps with γ = 0; returns the net,
/// the loss at γ = 0 when the warm-up ended, and the loss history (γ = 0 network) every 50 steps.
fn train_warmup(p: &Problem, warm: usize, after: usize, lr: f64) -> (Mlp<f64>, f64, Vec<f64>) {
    let w = BiasWarmup {
        gamma0: 3.0,
        steps: warm as u64,
        decay: Decay::Linear,
    };
    let sgd = Sgd::plain(lr);
    let mut mlp = p.mlp.clone();
    let mut grads = Grads::default();
    let mut hist = Vec::new();
    let mut at_end = f64::NAN;
    for t in 0..warm + after {
        if t == warm {
            at_end = p.loss(&mlp);
        }
        if t % 50 == 0 {
            hist.push(p.loss(&mlp));
        }
        super::util::mse_grads_shifted(&mlp, &p.x, &p.y, p.n, w.gamma(t as u64), &mut grads);
        sgd.apply(&mut mlp, &grads);
    }
    hist.push(p.loss(&mlp));
    (mlp, at_end, hist)
}

pub(crate) fn claim9(seed: u64) -> Draft {
    let mut d = Draft::new(
        "Curriculum bias warm-up revives dead units",
        "Adding a temporary positive γ to the pre-activations, z' = wᵀx + b + γ, pushes the dead \
         units of claim 6 into the active range so they learn; γ then decays to 0.",
    );
    let p = dead_problem(seed);
    let (warm, after) = (1500, 1500);
    let (mlp, at_end, hist) = train_warmup(&p, warm, after, 0.1);
    let moved = (0..8)
        .filter(|&j| {
            let (a, b) = (&p.mlp.layers[0], &mlp.layers[0]);
            a.row(j) != b.row(j) || a.bias_at(j) != b.bias_at(j)
        })
        .count();
    d.check(Check::exact(
        "first-layer units whose parameters moved (of 8)",
        moved as f64,
        8.0,
    ));
    d.check(Check::at_least(
        "first-layer units alive at γ = 0 after training (of 8)",
        8.0 - p.dead(&mlp, 0) as f64,
        1.0,
    ));
    let c = p.constant_loss();
    let fin = p.loss(&mlp);
    d.check(Check::at_most(
        "final ½·MSE (γ = 0) / best constant's ½·Var(y)",
        fin / c,
        0.5,
    ));
    d.check(Check::at_most(
        "final ½·MSE / ½·MSE when γ reached 0 (training goes on)",
        fin / at_end,
        1.0,
    ));
    let xs = (0..hist.len())
        .map(|k| (k * 50).min(warm + after) as f64)
        .collect();
    d.series("½·MSE at γ = 0, warm-up", xs, hist);
    d
}

pub(crate) fn claim10(seed: u64) -> Draft {
    let mut d = Draft::new(
        "A larger learning rate does not revive a dead unit",
        "Raising the learning rate is futile: a large number times a zero gradient is still \
         zero, so the dead unit's update stays exactly 0.",
    );
    let p = dead_problem(seed);
    for lr in [0.001, 0.01, 0.1, 1.0] {
        let mut mlp = p.mlp.clone();
        let sgd = Sgd::plain(lr);
        let mut grads = Grads::default();
        for _ in 0..200 {
            sgd.step(&mut mlp, &p.x, &p.y, p.n, &mut grads);
        }
        d.check(Check::exact(
            format!("lr {lr}: max |change| of the dead layer after 200 steps"),
            max_abs_diff(&layer_params(&p.mlp, 0), &layer_params(&mlp, 0)),
            0.0,
        ));
    }
    d
}

pub(crate) fn claim11(seed: u64) -> Draft {
    let mut d = Draft::new(
        "L2 weight decay does not help and can hurt",
        "Weight decay shrinks the weights, pulling pre-activations towards the (negative) bias: \
         more units die; and on a dead unit decay only rescales z by (1 − ηλ) per step, so it \
         never changes sign.",
    );
    // (a) Negative biases, decay on the weights only: dead fraction over training.
    let mut r = rng(seed, 11);
    let n = 256;
    let (x, y, base) = super::util::sin_regression(&mut r, n);
    let steps = 1000;
    let mut finals = Vec::new();
    for wd in [0.0, 0.05] {
        let mut mlp = base.clone();
        let sgd = Sgd {
            lr: 0.05,
            wd_weight: wd,
            wd_bias: 0.0,
        };
        let mut grads = Grads::default();
        let (mut xs, mut ys) = (Vec::new(), Vec::new());
        let dead_frac = |m: &Mlp<f64>| {
            let mut t = Trace::default();
            m.forward_batch(&x, n, &mut t);
            let h = diagnose_trace(m, &t, None, HealthConfig::default());
            (h[0].dead.len() + h[1].dead.len()) as f64 / 128.0
        };
        for t in 0..=steps {
            if t % 100 == 0 {
                xs.push(t as f64);
                ys.push(dead_frac(&mlp));
            }
            if t < steps {
                sgd.step(&mut mlp, &x, &y, n, &mut grads);
            }
        }
        finals.push(*ys.last().unwrap_or(&0.0));
        d.series(format!("dead fraction, λ = {wd}"), xs, ys);
    }
    d.check(Check::at_least(
        "dead fraction after training: with decay λ=0.05 minus without",
        finals[1] - finals[0],
        0.05,
    ));

    // (b) A dead unit with decay on weights and bias: z_{t+1}(x) = (1 − ηλ) z_t(x).
    let p = dead_problem(seed);
    let mut mlp = p.mlp.clone();
    let (lr, wd) = (0.1, 0.1);
    let sgd = Sgd {
        lr,
        wd_weight: wd,
        wd_bias: wd,
    };
    let mut grads = Grads::default();
    let mut t = Trace::default();
    mlp.forward_batch(&p.x, p.n, &mut t);
    let z0 = t.pre[0].clone();
    let mut prev = z0.clone();
    let mut worst = 0.0f64;
    let steps = 500;
    for _ in 0..steps {
        sgd.step(&mut mlp, &p.x, &p.y, p.n, &mut grads);
        mlp.forward_batch(&p.x, p.n, &mut t);
        for (a, b) in t.pre[0].iter().zip(&prev) {
            worst = worst.max((a / b - (1.0 - lr * wd)).abs());
        }
        prev.clone_from(&t.pre[0]);
    }
    d.check(Check::at_most(
        "max |z_{t+1}/z_t − (1 − ηλ)| over 500 steps and all inputs",
        worst,
        1e-12,
    ));
    let zmax = prev.iter().fold(f64::NEG_INFINITY, |m, &v| m.max(v));
    d.check(Check::at_most(
        "max pre-activation of the dead layer after 500 decay steps",
        zmax,
        -1e-3,
    ));
    d.check(Check::exact(
        "dead first-layer units after 500 decay steps",
        p.dead(&mlp, 0) as f64,
        8.0,
    ));
    d
}
