//! Remedies for dying ReLU units: swap the activation keeping the weights, curriculum bias
//! warm-up, ReDo recycling of dormant units.
//!
//! * **Activation swap**: replace the hidden activation (Leaky ReLU, PReLU, ReLU+εx) so that a
//!   unit on its flat side still receives gradient (slope α or ε instead of 0).
//! * **Curriculum bias warm-up** (the seed's "课程偏置预热"): add γ to every hidden
//!   pre-activation, z' = Wx + b + γ, with γ decaying from γ₀ to 0 on a linear or cosine
//!   schedule; units pushed positive by γ receive gradient and can move their own bias up.
//!   The schedule is [`crate::train::BiasWarmup`] and the shift is applied inside the training
//!   forward pass ([`Mlp::forward_ws`]'s `hidden_shift`), re-exported here.
//! * **ReDo** (Sokar et al. 2023, "The Dormant Neuron Phenomenon in Deep Reinforcement
//!   Learning", ICML, algorithm 1): every P steps, re-initialise the incoming weights of
//!   τ-dormant units, zero their bias and outgoing weights (so the network function is
//!   unchanged at the moment of recycling), and reset their optimizer moments (the caller's
//!   optimizer does that from the returned list).

pub mod lu;

use crate::activation::Activation;
use crate::diagnose::{HealthAccumulator, HealthConfig};
use crate::error::Result;
use crate::net::{Mlp, Optimizer};
use crate::real::Real;
pub use crate::train::{BiasWarmup, Decay};
use crate::train::{EpochMetrics, Observer, StepInfo};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, StandardNormal};

/// Replace the activation of every hidden layer (all but the last) by `act`, keeping weights
/// and biases. PReLU layers get one slope per unit, initialised to the activation's α.
pub fn swap_hidden_activation<T: Real>(mlp: &mut Mlp<T>, act: Activation) {
    let nl = mlp.layers.len();
    for layer in mlp.layers.iter_mut().take(nl.saturating_sub(1)) {
        layer.activation = act;
        layer.prelu_alpha = match act {
            Activation::Prelu { alpha } => vec![T::of_f64(alpha); layer.out_dim],
            _ => Vec::new(),
        };
    }
}

/// ReDo recycling of τ-dormant units given each hidden layer's ReDo scores (`scores[l][j]`,
/// see [`crate::diagnose::redo_scores`]). For every hidden unit with s_j ≤ τ: incoming weights
/// redrawn from N(0, 2/fan_in) (He normal), bias set to 0, outgoing weights (column j of the
/// next layer) set to 0. Returns the recycled (layer, unit) pairs so the optimizer can reset
/// their moments.
pub fn redo_recycle<T: Real, R: Rng>(
    mlp: &mut Mlp<T>,
    scores: &[Vec<f64>],
    tau: f64,
    rng: &mut R,
) -> Vec<(usize, usize)> {
    let nl = mlp.layers.len();
    let mut recycled = Vec::new();
    for l in 0..nl.saturating_sub(1) {
        let Some(s) = scores.get(l) else { break };
        let units: Vec<usize> = (0..mlp.layers[l].out_dim)
            .filter(|&j| s.get(j).is_some_and(|&v| v <= tau))
            .collect();
        for &j in &units {
            let layer = &mut mlp.layers[l];
            let std = (2.0 / layer.in_dim as f64).sqrt();
            let i = layer.in_dim;
            for w in &mut layer.weight[j * i..(j + 1) * i] {
                let z: f64 = StandardNormal.sample(rng);
                *w = T::of_f64(z * std);
            }
            if let Some(b) = layer.bias.as_mut() {
                b[j] = T::zero();
            }
            let next = &mut mlp.layers[l + 1];
            let ni = next.in_dim;
            for k in 0..next.out_dim {
                next.weight[k * ni + j] = T::zero();
            }
            recycled.push((l, j));
        }
    }
    recycled
}

/// Zero the optimizer moments of recycled units: their rows of W and b (and per-unit PReLU
/// slope) and their columns in the next layer's W (Sokar et al. 2023, algorithm 1).
pub fn reset_unit_moments<T: Real>(
    optimizer: &mut Optimizer<T>,
    mlp: &Mlp<T>,
    recycled: &[(usize, usize)],
) {
    fn zero<T: Real>(buf: &mut [T], idx: impl Iterator<Item = usize>) {
        if !buf.is_empty() {
            for k in idx {
                buf[k] = T::zero();
            }
        }
    }
    for &(l, j) in recycled {
        let i = mlp.layers[l].in_dim;
        if let Some(st) = optimizer.state.get_mut(l) {
            for p in [&mut st.weight.m, &mut st.weight.v] {
                zero(p, j * i..(j + 1) * i);
            }
            for p in [&mut st.bias.m, &mut st.bias.v] {
                zero(p, j..j + 1);
            }
            if mlp.layers[l].prelu_alpha.len() > 1 {
                for p in [&mut st.prelu_alpha.m, &mut st.prelu_alpha.v] {
                    zero(p, j..j + 1);
                }
            }
        }
        if let (Some(next), Some(st)) = (mlp.layers.get(l + 1), optimizer.state.get_mut(l + 1)) {
            let (o, ni) = (next.out_dim, next.in_dim);
            for p in [&mut st.weight.m, &mut st.weight.v] {
                zero(p, (0..o).map(|k| k * ni + j));
            }
        }
    }
}

/// ReDo as a training observer: every `every` steps, score the hidden units on the samples
/// of the steps since the last recycling (their own traces), recycle the τ-dormant ones
/// ([`redo_recycle`]) and reset their optimizer moments ([`reset_unit_moments`]). The number
/// recycled per epoch goes into the metrics line as `redo_recycled`.
#[derive(Clone, Debug)]
pub struct Redo {
    /// P, the recycling period in optimizer steps.
    pub every: u64,
    /// τ of the dormant test.
    pub tau: f64,
    /// Units recycled over the whole run.
    pub total: usize,
    epoch_count: usize,
    acc: Option<HealthAccumulator>,
    rng: ChaCha8Rng,
}

impl Redo {
    /// Recycle every `every` steps with threshold `tau`; re-initialisation draws from
    /// ChaCha8(seed) stream 77.
    pub fn new(every: u64, tau: f64, seed: u64) -> Self {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        rng.set_stream(77);
        Redo {
            every: every.max(1),
            tau,
            total: 0,
            epoch_count: 0,
            acc: None,
            rng,
        }
    }
}

impl Observer for Redo {
    fn on_step(
        &mut self,
        info: &StepInfo<'_>,
        mlp: &mut Mlp<f32>,
        optimizer: &mut Optimizer<f32>,
    ) -> Result<()> {
        let cfg = HealthConfig {
            tau: self.tau,
            hist_bins: 1,
        };
        self.acc
            .get_or_insert_with(|| HealthAccumulator::new(mlp, cfg))
            .observe::<f32>(info.trace, None);
        if (info.step + 1).is_multiple_of(self.every) {
            if let Some(acc) = self.acc.take() {
                let scores: Vec<Vec<f64>> =
                    acc.finish().into_iter().map(|h| h.redo_scores).collect();
                let rec = redo_recycle(mlp, &scores, self.tau, &mut self.rng);
                reset_unit_moments(optimizer, mlp, &rec);
                self.total += rec.len();
                self.epoch_count += rec.len();
            }
        }
        Ok(())
    }

    fn on_epoch_end(
        &mut self,
        metrics: &mut EpochMetrics,
        _mlp: &mut Mlp<f32>,
        _optimizer: &mut Optimizer<f32>,
    ) -> Result<()> {
        metrics
            .extra
            .insert("redo_recycled".into(), serde_json::json!(self.epoch_count));
        self.epoch_count = 0;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    fn net() -> Mlp<f64> {
        let mut m = Mlp::<f64>::zeros(&[2, 3, 3, 1], Activation::RELU, Activation::Identity, true);
        let mut k = 0.3f64;
        for layer in &mut m.layers {
            for w in layer.weight.iter_mut() {
                k = (k * 3.1 + 0.17).fract();
                *w = k - 0.5;
            }
        }
        m
    }

    #[test]
    fn redo_recycles_dormant_units_without_changing_the_function() {
        let mut m = net();
        // Unit 1 of layer 0 dead on every input (its output is 0), everything else healthy.
        m.layers[0].bias.as_mut().unwrap()[1] = -100.0;
        let scores = vec![vec![1.0, 0.0, 2.0], vec![1.0, 1.0, 1.0]];
        let before = m.clone();
        let mut r = rand_chacha::ChaCha8Rng::seed_from_u64(1);
        let rec = redo_recycle(&mut m, &scores, 0.1, &mut r);
        assert_eq!(rec, vec![(0, 1)]);
        assert_ne!(m.layers[0].row(1), before.layers[0].row(1));
        assert_eq!(m.layers[0].row(0), before.layers[0].row(0));
        assert_eq!(m.layers[0].bias_at(1), 0.0);
        for k in 0..3 {
            assert_eq!(m.layers[1].weight[k * 3 + 1], 0.0);
        }
        let x = [0.3, -0.8, 1.1, 0.2, -2.0, 0.5];
        for s in 0..3 {
            assert_eq!(
                m.forward_one(&x[2 * s..2 * s + 2]),
                before.forward_one(&x[2 * s..2 * s + 2])
            );
        }
    }

    #[test]
    fn moments_of_recycled_units_are_zeroed() {
        use crate::net::{OptimizerConfig, Trace};
        let mut m = net();
        let mut opt = Optimizer::<f64>::new(OptimizerConfig::adam(0.01));
        let mut t = Trace::default();
        m.forward_batch(&[0.3, -0.8, 1.1, 0.2], 2, &mut t);
        let mut g = crate::net::Grads::default();
        m.backward_batch(&t, &[1.0, -1.0], &mut g);
        opt.step(&mut m, &g, 0.01);
        let nonzero = |v: &[f64]| v.iter().filter(|x| **x != 0.0).count();
        assert!(nonzero(&opt.state[0].weight.v) > 0);
        reset_unit_moments(&mut opt, &m, &[(0, 1)]);
        let st = &opt.state[0];
        assert!(st.weight.m[2..4]
            .iter()
            .chain(&st.weight.v[2..4])
            .all(|v| *v == 0.0));
        assert_eq!((st.bias.m[1], st.bias.v[1]), (0.0, 0.0));
        let next = &opt.state[1];
        for k in 0..3 {
            assert_eq!(
                (next.weight.m[k * 3 + 1], next.weight.v[k * 3 + 1]),
                (0.0, 0.0)
            );
        }
    }

    #[test]
    fn swap_keeps_weights() {
        let mut m = net();
        let before = m.clone();
        swap_hidden_activation(&mut m, Activation::Prelu { alpha: 0.2 });
        assert!(m.validate().is_ok());
        assert_eq!(m.layers[0].prelu_alpha, vec![0.2; 3]);
        assert_eq!(m.layers[2].activation, Activation::Identity);
        for (a, b) in m.layers.iter().zip(&before.layers) {
            assert_eq!(a.weight, b.weight);
            assert_eq!(a.bias, b.bias);
        }
    }
}
