//! Lu et al.'s dying statistic as a sweep: how often a deep, narrow ReLU net is born dead and
//! how often it collapses to a constant after training (Lu, Shin, Su & Karniadakis 2019,
//! "Dying ReLU and Initialization: Theory and Numerical Examples", section 6: width-2 nets of
//! depth 10 fitting |x| collapse in more than 90% of runs under He initialisation; RAI
//! initialisation lowers that).
//!
//! Setting (the same in the PyTorch peer, bench/peers/lu_dying.py): widths 1-2×depth-1, ReLU,
//! the chosen initialisation with zero biases (RAI sets its own), 128 points evenly spaced on
//! [−√3, √3], target |x|, full batch, mean squared error, Adam (lr 1e-3, β = (0.9, 0.999),
//! ε = 1e-8), 1,000 steps.
//!
//! * **Born dead**: at initialisation some hidden layer outputs exactly 0 on every data point,
//!   so the network is constant on the data (and no gradient reaches the layers below it).
//! * **Collapsed**: after training the output varies over the data by less than 10⁻³ of the
//!   target's range (max − min), i.e. the network has become a constant function there.

use crate::activation::Activation;
use crate::net::{
    BiasInit, Grads, Init, Loss, Mlp, Optimizer, OptimizerConfig, TargetSlice, Trace, Workspace,
};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use std::time::Instant;

/// The sweep's setting.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct DyingSweep {
    /// Independent runs.
    pub runs: usize,
    /// Hidden layers.
    pub depth: usize,
    /// Units per hidden layer.
    pub width: usize,
    /// Data points on [−√3, √3].
    pub points: usize,
    /// Adam steps (full batch).
    pub steps: usize,
    /// Adam learning rate.
    pub lr: f64,
    /// Seed; run r initialises from ChaCha8(seed) stream r.
    pub seed: u64,
}

impl Default for DyingSweep {
    fn default() -> Self {
        DyingSweep {
            runs: 1000,
            depth: 10,
            width: 2,
            points: 128,
            steps: 1000,
            lr: 1e-3,
            seed: 0,
        }
    }
}

/// Outcome of a sweep for one initialisation.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DyingOutcome {
    /// Initialisation name.
    pub init: String,
    /// Runs.
    pub runs: usize,
    /// Runs born dead.
    pub born_dead: usize,
    /// Runs collapsed to a constant after training.
    pub collapsed: usize,
    /// born_dead / runs.
    pub born_dead_fraction: f64,
    /// collapsed / runs.
    pub collapsed_fraction: f64,
    /// Mean wall time of one run (each run is single-threaded), seconds.
    pub seconds_per_run: f64,
    /// Wall time of the whole sweep, seconds.
    pub wall_seconds: f64,
    /// Threads the runs were spread over.
    pub threads: usize,
}

/// Born dead (some hidden layer all zero on the data) from a trace.
fn has_dead_layer(trace: &Trace<f32>) -> bool {
    let nl = trace.post.len();
    trace.post[..nl.saturating_sub(1)]
        .iter()
        .any(|a| a.iter().all(|&v| v == 0.0))
}

/// Forward and backward for tiny layers (width 2 here) in a unit-major layout (unit j's values
/// for all samples contiguous), so every inner loop runs over the batch and vectorises; the
/// general passes' per-layer fixed costs dominate at this size. Same semantics as
/// [`Mlp::forward_ws`]/[`Mlp::backward_ws`] for ReLU hidden layers (ReLU'(0) from the layer's
/// activation) and a linear output; the test `small_pass_matches_the_engine` checks it.
#[derive(Default)]
struct SmallPass {
    /// Input, unit-major (d_in × n).
    x: Vec<f32>,
    pre: Vec<Vec<f32>>,
    post: Vec<Vec<f32>>,
    up: Vec<f32>,
    down: Vec<f32>,
}

impl SmallPass {
    /// The output (d_out × n, unit-major; sample-major for d_out = 1).
    fn output(&self) -> &[f32] {
        self.post.last().map_or(&[], |v| v.as_slice())
    }

    fn set_input(&mut self, x: &[f32], n: usize, d: usize) {
        self.x.resize(n * d, 0.0);
        for s in 0..n {
            for k in 0..d {
                self.x[k * n + s] = x[s * d + k];
            }
        }
    }

    fn forward(&mut self, mlp: &Mlp<f32>, n: usize) {
        let nl = mlp.layers.len();
        self.pre.resize_with(nl, Vec::new);
        self.post.resize_with(nl, Vec::new);
        for (l, layer) in mlp.layers.iter().enumerate() {
            let (o, i) = (layer.out_dim, layer.in_dim);
            let (before, after) = self.post.split_at_mut(l);
            let a_prev: &[f32] = if l == 0 { &self.x } else { &before[l - 1] };
            let z = &mut self.pre[l];
            z.resize(n * o, 0.0);
            for j in 0..o {
                let zj = &mut z[j * n..(j + 1) * n];
                zj.fill(layer.bias.as_ref().map_or(0.0, |b| b[j]));
                for k in 0..i {
                    let w = layer.weight[j * i + k];
                    for (zs, &xs) in zj.iter_mut().zip(&a_prev[k * n..(k + 1) * n]) {
                        *zs += w * xs;
                    }
                }
            }
            let a = &mut after[0];
            a.resize(n * o, 0.0);
            let act = layer.activation;
            match act {
                Activation::Identity => a.copy_from_slice(z),
                Activation::Relu { .. } => {
                    for (ak, &zk) in a.iter_mut().zip(z.iter()) {
                        *ak = if zk > 0.0 { zk } else { 0.0 };
                    }
                }
                _ => {
                    for (ak, &zk) in a.iter_mut().zip(z.iter()) {
                        *ak = act.f(zk as f64) as f32;
                    }
                }
            }
        }
    }

    /// Backward from ∂L/∂output (d_out × n unit-major); fills the parameter gradients (and
    /// ∂L/∂z, unit-major).
    fn backward(&mut self, mlp: &Mlp<f32>, n: usize, g_out: &[f32], grads: &mut Grads<f32>) {
        let nl = mlp.layers.len();
        grads.weight.resize_with(nl, Vec::new);
        grads.bias.resize_with(nl, Vec::new);
        grads.prelu_alpha.resize_with(nl, Vec::new);
        grads.pre.resize_with(nl, Vec::new);
        self.up.clear();
        self.up.extend_from_slice(g_out);
        for l in (0..nl).rev() {
            let layer = &mlp.layers[l];
            let (o, i) = (layer.out_dim, layer.in_dim);
            let act = layer.activation;
            let z = &self.pre[l];
            let gz = &mut grads.pre[l];
            gz.resize(n * o, 0.0);
            match act {
                Activation::Identity => gz.copy_from_slice(&self.up),
                Activation::Relu { prime_at_zero } => {
                    let p0 = prime_at_zero as f32;
                    for ((g, &u), &zk) in gz.iter_mut().zip(&self.up).zip(z) {
                        let d = if zk > 0.0 {
                            1.0
                        } else if zk == 0.0 {
                            p0
                        } else {
                            0.0
                        };
                        *g = u * d;
                    }
                }
                _ => {
                    for ((g, &u), &zk) in gz.iter_mut().zip(&self.up).zip(z) {
                        *g = u * act.df(zk as f64) as f32;
                    }
                }
            }
            let a_prev: &[f32] = if l == 0 { &self.x } else { &self.post[l - 1] };
            let gw = &mut grads.weight[l];
            gw.clear();
            gw.resize(o * i, 0.0);
            let gb = &mut grads.bias[l];
            gb.clear();
            if layer.bias.is_some() {
                gb.resize(o, 0.0);
            }
            self.down.clear();
            self.down.resize(n * i, 0.0);
            for j in 0..o {
                let gj = &gz[j * n..(j + 1) * n];
                if !gb.is_empty() {
                    gb[j] = gj.iter().sum();
                }
                for k in 0..i {
                    let ak = &a_prev[k * n..(k + 1) * n];
                    gw[j * i + k] = gj.iter().zip(ak).map(|(g, a)| g * a).sum();
                    let w = layer.weight[j * i + k];
                    for (d, &g) in self.down[k * n..(k + 1) * n].iter_mut().zip(gj) {
                        *d += g * w;
                    }
                }
            }
            std::mem::swap(&mut self.up, &mut self.down);
        }
    }
}

/// One run: (born dead, collapsed).
pub fn dying_run(cfg: &DyingSweep, init: Init, run: usize) -> (bool, bool) {
    let mut widths = vec![1];
    widths.extend(std::iter::repeat_n(cfg.width, cfg.depth));
    widths.push(1);
    let mut mlp = Mlp::<f32>::zeros(&widths, Activation::RELU, Activation::Identity, true);
    let mut rng = ChaCha8Rng::seed_from_u64(cfg.seed);
    rng.set_stream(run as u64);
    mlp.init(init, BiasInit::Zero, &mut rng);
    let n = cfg.points;
    let r = 3f64.sqrt();
    let x: Vec<f32> = (0..n)
        .map(|i| (-r + 2.0 * r * i as f64 / (n - 1).max(1) as f64) as f32)
        .collect();
    let y: Vec<f32> = x.iter().map(|v| v.abs()).collect();
    let mut trace = Trace {
        batch: n,
        input: x,
        ..Default::default()
    };
    let mut ws = Workspace::new(1);
    mlp.forward_ws(&mut trace, &mut ws, 0.0);
    let born_dead = has_dead_layer(&trace);
    let mut grads = Grads::default();
    let mut g = vec![0.0f32; n];
    let mut opt = Optimizer::<f32>::new(OptimizerConfig::adam(cfg.lr));
    let mut small = SmallPass::default();
    small.set_input(&trace.input, n, 1);
    for _ in 0..cfg.steps {
        small.forward(&mlp, n);
        Loss::Mse
            .eval(small.output(), n, 1, TargetSlice::Values(&y), Some(&mut g))
            .expect("sizes match");
        small.backward(&mlp, n, &g, &mut grads);
        opt.step(&mut mlp, &grads, cfg.lr);
    }
    small.forward(&mlp, n);
    let out = small.output();
    let (lo, hi) = out
        .iter()
        .fold((f32::INFINITY, f32::NEG_INFINITY), |(a, b), &v| {
            (a.min(v), b.max(v))
        });
    let target_range = r as f32; // |x| on [−√3, √3] spans [0, √3]
                                 // A NaN range (diverged run) counts as collapsed.
    let collapsed = (hi - lo).is_nan() || hi - lo < 1e-3 * target_range;
    (born_dead, collapsed)
}

/// Run the sweep for one initialisation on rayon's current pool.
pub fn dying_sweep(cfg: &DyingSweep, init: Init) -> DyingOutcome {
    let t0 = Instant::now();
    let results: Vec<(bool, bool, f64)> = (0..cfg.runs)
        .into_par_iter()
        .map(|r| {
            let t = Instant::now();
            let (b, c) = dying_run(cfg, init, r);
            (b, c, t.elapsed().as_secs_f64())
        })
        .collect();
    let wall = t0.elapsed().as_secs_f64();
    let born_dead = results.iter().filter(|r| r.0).count();
    let collapsed = results.iter().filter(|r| r.1).count();
    let runs = cfg.runs.max(1) as f64;
    DyingOutcome {
        init: init.to_string(),
        runs: cfg.runs,
        born_dead,
        collapsed,
        born_dead_fraction: born_dead as f64 / runs,
        collapsed_fraction: collapsed as f64 / runs,
        seconds_per_run: results.iter().map(|r| r.2).sum::<f64>() / runs,
        wall_seconds: wall,
        threads: rayon::current_num_threads(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_pass_matches_the_engine() {
        let cfg = DyingSweep::default();
        let mut mlp = Mlp::<f32>::zeros(
            &[1, 2, 2, 2, 1],
            Activation::RELU,
            Activation::Identity,
            true,
        );
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        mlp.init(Init::Rai { sigma2: 1.0 }, BiasInit::Zero, &mut rng);
        let n = cfg.points;
        let x: Vec<f32> = (0..n).map(|i| -1.7 + 3.4 * i as f32 / n as f32).collect();
        let g: Vec<f32> = x.iter().map(|v| v.sin()).collect();
        let mut t = Trace::default();
        mlp.forward_batch(&x, n, &mut t);
        let mut ge = Grads::default();
        mlp.backward_batch(&t, &g, &mut ge);
        let mut sp = SmallPass::default();
        sp.set_input(&x, n, 1);
        sp.forward(&mlp, n);
        let mut gs = Grads::default();
        sp.backward(&mlp, n, &g, &mut gs);
        for (a, b) in sp.output().iter().zip(t.output()) {
            assert!((a - b).abs() <= 1e-5 * (1.0 + b.abs()));
        }
        for l in 0..4 {
            for (a, b) in gs.weight[l]
                .iter()
                .chain(&gs.bias[l])
                .zip(ge.weight[l].iter().chain(&ge.bias[l]))
            {
                assert!(
                    (a - b).abs() <= 1e-4 * (1.0 + b.abs()),
                    "layer {l}: {a} vs {b}"
                );
            }
        }
    }

    #[test]
    fn he_runs_die_more_often_than_rai_runs() {
        // Small version of the sweep: the statistic behind the target, not its size.
        let cfg = DyingSweep {
            runs: 60,
            steps: 200,
            ..Default::default()
        };
        let he = dying_sweep(&cfg, Init::HeNormal);
        let rai = dying_sweep(&cfg, Init::Rai { sigma2: 1.0 });
        assert!(he.born_dead_fraction > 0.7, "{he:?}");
        assert!(
            rai.born_dead_fraction < he.born_dead_fraction,
            "{rai:?} vs {he:?}"
        );
        assert!(
            he.collapsed >= he.born_dead,
            "a born-dead net cannot fit |x|"
        );
    }
}
