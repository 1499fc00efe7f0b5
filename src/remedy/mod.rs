//! Remedies for dying ReLU units: swap the activation keeping the weights, curriculum bias
//! warm-up, ReDo recycling of dormant units.
//!
//! * **Activation swap**: replace the hidden activation (Leaky ReLU, PReLU, ReLU+εx) so that a
//!   unit on its flat side still receives gradient (slope α or ε instead of 0).
//! * **Curriculum bias warm-up** (the seed's "课程偏置预热"): add γ to every hidden
//!   pre-activation, z' = Wx + b + γ, with γ decaying from γ₀ to 0 on a linear or cosine
//!   schedule; units pushed positive by γ receive gradient and can move their own bias up.
//! * **ReDo** (Sokar et al. 2023, "The Dormant Neuron Phenomenon in Deep Reinforcement
//!   Learning", ICML, algorithm 1): every P steps, re-initialise the incoming weights of
//!   τ-dormant units, zero their bias and outgoing weights (so the network function is
//!   unchanged at the moment of recycling), and reset their optimizer moments (the caller's
//!   optimizer does that from the returned list).

use crate::activation::Activation;
use crate::net::Mlp;
use crate::real::Real;
use rand::Rng;
use rand_distr::{Distribution, StandardNormal};
use serde::{Deserialize, Serialize};

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

/// Shape of the warm-up decay.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WarmupSchedule {
    /// γ(t) = γ₀ (1 − t/T).
    Linear,
    /// γ(t) = γ₀ · ½ (1 + cos(π t/T)).
    Cosine,
}

/// Curriculum bias warm-up: γ(t) added to every hidden pre-activation, decaying to 0 at step T.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct BiasWarmup {
    /// γ₀, the shift at step 0.
    pub gamma0: f64,
    /// T, the step at which γ reaches 0 (and stays).
    pub steps: usize,
    /// Decay shape.
    pub schedule: WarmupSchedule,
}

impl BiasWarmup {
    /// γ at step t (exactly 0 for t ≥ T).
    pub fn gamma(&self, t: usize) -> f64 {
        if t >= self.steps || self.steps == 0 {
            return 0.0;
        }
        let u = t as f64 / self.steps as f64;
        match self.schedule {
            WarmupSchedule::Linear => self.gamma0 * (1.0 - u),
            WarmupSchedule::Cosine => self.gamma0 * 0.5 * (1.0 + (std::f64::consts::PI * u).cos()),
        }
    }

    /// The network that computes z' = Wx + b + γ in every hidden layer: a copy of `mlp` with γ
    /// added to the hidden biases (a bias-free layer gets a bias of γ). Its gradients with
    /// respect to W and b are the gradients of the warm-up objective for `mlp`'s parameters.
    pub fn shifted<T: Real>(mlp: &Mlp<T>, gamma: f64) -> Mlp<T> {
        let mut out = mlp.clone();
        if gamma == 0.0 {
            return out;
        }
        let nl = out.layers.len();
        let g = T::of_f64(gamma);
        for layer in out.layers.iter_mut().take(nl.saturating_sub(1)) {
            match layer.bias.as_mut() {
                Some(b) => b.iter_mut().for_each(|v| *v += g),
                None => layer.bias = Some(vec![g; layer.out_dim]),
            }
        }
        out
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::net::Trace;
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
    fn warmup_schedules_hit_their_closed_forms() {
        let lin = BiasWarmup {
            gamma0: 2.0,
            steps: 100,
            schedule: WarmupSchedule::Linear,
        };
        assert_eq!(lin.gamma(0), 2.0);
        assert_eq!(lin.gamma(25), 1.5);
        assert_eq!(lin.gamma(100), 0.0);
        assert_eq!(lin.gamma(1000), 0.0);
        let cos = BiasWarmup {
            schedule: WarmupSchedule::Cosine,
            ..lin
        };
        assert_eq!(cos.gamma(0), 2.0);
        assert!((cos.gamma(50) - 1.0).abs() < 1e-15);
        assert!((cos.gamma(25) - (1.0 + std::f64::consts::FRAC_1_SQRT_2)).abs() < 1e-15);
        assert_eq!(cos.gamma(100), 0.0);
    }

    #[test]
    fn shifted_adds_gamma_to_hidden_pre_activations_only() {
        let m = net();
        let s = BiasWarmup::shifted(&m, 0.75);
        let x = [0.3, -0.8, 1.1, 0.2];
        let (mut a, mut b) = (Trace::default(), Trace::default());
        m.forward_batch(&x, 2, &mut a);
        // Layer 0 pre-activations shift by exactly γ; the output layer's bias is untouched.
        s.forward_batch(&x, 2, &mut b);
        for (za, zb) in a.pre[0].iter().zip(&b.pre[0]) {
            assert!((zb - za - 0.75).abs() < 1e-15);
        }
        assert_eq!(s.layers[2].bias, m.layers[2].bias);
        let mut nb = m.clone();
        nb.layers[0].bias = None;
        assert_eq!(
            BiasWarmup::shifted(&nb, 1.0).layers[0].bias,
            Some(vec![1.0; 3])
        );
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
