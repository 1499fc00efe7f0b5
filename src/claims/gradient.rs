//! Claims 2 and 8: gradient flow through sigmoid versus ReLU, and the zero gradients of ReLU.
//!
//! Claim 2. σ'(x) = σ(x)(1 − σ(x)) ≤ ¼ with equality only at 0. In a bias-free net whose
//! hidden weight matrices are orthogonal (‖Wᵀv‖ = ‖v‖), back-propagation through layer l is
//! g_l = f'(z_l) ⊙ (W_{l+1}ᵀ g_{l+1}), so ‖g_l‖ ≤ max|f'|·‖g_{l+1}‖: at most ¼ per sigmoid
//! layer, hence ‖g_1‖/‖g_L‖ ≤ 4^−(L−1); for ReLU the factor on an active unit is exactly 1
//! (g_l,j = (W_{l+1}ᵀ g_{l+1})_j) and exactly 0 on an inactive one.

use super::util::{normal_vec, orthogonal, rng};
use super::{Check, Draft};
use crate::activation::Activation;
use crate::net::{Grads, Mlp, Trace};

/// ‖∂L/∂z_l‖ (Frobenius over a batch of 256 standard-normal inputs) for each hidden layer l of
/// a bias-free net of `depth` hidden layers of width `width`, hidden weights orthogonal × `gain`
/// and a linear read-out, with L = Σ outputs. Returns (norms, net, trace, grads).
pub fn layer_gradient_norms(
    act: Activation,
    depth: usize,
    width: usize,
    gain: f64,
    seed: u64,
) -> (Vec<f64>, Mlp<f64>, Trace<f64>, Grads<f64>) {
    let mut r = rng(seed, 2);
    let mut widths = vec![width; depth + 1];
    widths.push(1);
    let mut mlp = Mlp::<f64>::zeros(&widths, act, Activation::Identity, false);
    for l in 0..depth {
        mlp.layers[l].weight = orthogonal(width, &mut r)
            .into_iter()
            .map(|v| v * gain)
            .collect();
    }
    mlp.layers[depth].weight = normal_vec(&mut r, width, 1.0 / (width as f64).sqrt());
    let batch = 256;
    let x = normal_vec(&mut r, batch * width, 1.0);
    let mut trace = Trace::default();
    mlp.forward_batch(&x, batch, &mut trace);
    let mut grads = Grads::default();
    mlp.backward_batch(&trace, &vec![1.0; batch], &mut grads);
    let norms = (0..depth)
        .map(|l| grads.pre[l].iter().map(|v| v * v).sum::<f64>().sqrt())
        .collect();
    (norms, mlp, trace, grads)
}

pub(crate) fn claim2(seed: u64) -> Draft {
    let mut d = Draft::new(
        "Vanishing gradients: sigmoid versus ReLU",
        "sigmoid' ≤ 0.25, so the gradient reaching early layers of a deep sigmoid net shrinks \
         geometrically; through an active ReLU unit it passes multiplied by exactly 1.",
    );
    let sig = Activation::Sigmoid;
    let max_prime = (-30_000..=30_000)
        .map(|i| sig.df(i as f64 * 1e-3))
        .fold(f64::NEG_INFINITY, f64::max);
    d.check(Check::at_most(
        "max σ'(x) on [−30, 30], step 1e-3",
        max_prime,
        0.25,
    ));
    d.check(Check::exact("σ'(0)", sig.df(0.0), 0.25));

    let depth = 10;
    let width = 64;
    let (sn, ..) = layer_gradient_norms(sig, depth, width, 1.0, seed);
    let (tn, ..) = layer_gradient_norms(Activation::Tanh, depth, width, 1.0, seed);
    let (rn, mlp, trace, grads) = layer_gradient_norms(
        Activation::RELU,
        depth,
        width,
        std::f64::consts::SQRT_2,
        seed,
    );
    let worst_step = (0..depth - 1)
        .map(|l| sn[l] / sn[l + 1])
        .fold(0.0f64, f64::max);
    // 1e-12 slack for the orthogonality of Gram–Schmidt in f64.
    d.check(Check::at_most(
        "sigmoid: max over layers ‖g_l‖/‖g_{l+1}‖ (orthogonal W)",
        worst_step,
        0.25 * (1.0 + 1e-12),
    ));
    d.check(Check::at_most(
        "sigmoid: ‖g_1‖/‖g_10‖ (geometric: 0.25^9)",
        sn[0] / sn[depth - 1],
        0.25f64.powi(depth as i32 - 1) * (1.0 + 1e-11),
    ));

    // ReLU: factor exactly 1 on active units, exactly 0 on inactive ones.
    let batch = trace.batch;
    let mut worst_active = 0.0f64;
    let mut inactive_nonzero = 0usize;
    let mut active_count = 0usize;
    for l in 0..depth - 1 {
        let next = &mlp.layers[l + 1];
        for s in 0..batch {
            let gn = &grads.pre[l + 1][s * width..(s + 1) * width];
            let u: Vec<f64> = (0..width)
                .map(|j| (0..width).map(|k| next.weight[k * width + j] * gn[k]).sum())
                .collect();
            let scale = u.iter().fold(0.0f64, |m, v| m.max(v.abs())).max(1e-300);
            for (j, uj) in u.iter().enumerate() {
                let g = grads.pre[l][s * width + j];
                if trace.pre[l][s * width + j] > 0.0 {
                    active_count += 1;
                    worst_active = worst_active.max((g - uj).abs() / scale);
                } else if g != 0.0 {
                    inactive_nonzero += 1;
                }
            }
        }
    }
    d.check(Check::at_most(
        "ReLU: max |g_l − (Wᵀg_{l+1})| / ‖Wᵀg_{l+1}‖∞ on active units",
        worst_active,
        1e-12,
    ));
    d.check(Check::at_least(
        "ReLU: active (unit, sample) pairs checked",
        active_count as f64,
        1.0,
    ));
    d.check(Check::exact(
        "ReLU: non-zero gradients on inactive units",
        inactive_nonzero as f64,
        0.0,
    ));
    d.check(Check::at_least(
        "ReLU (He gain √2): ‖g_1‖/‖g_10‖, no geometric decay",
        rn[0] / rn[depth - 1],
        0.1,
    ));
    d.check(Check::at_most(
        "tanh: max over layers ‖g_l‖/‖g_{l+1}‖ (tanh' ≤ 1)",
        (0..depth - 1)
            .map(|l| tn[l] / tn[l + 1])
            .fold(0.0f64, f64::max),
        1.0 + 1e-12,
    ));
    let xs: Vec<f64> = (1..=depth).map(|l| l as f64).collect();
    d.series("sigmoid ‖∂L/∂z_l‖, l = 1..10", xs.clone(), sn);
    d.series("tanh ‖∂L/∂z_l‖, l = 1..10", xs.clone(), tn);
    d.series("relu ‖∂L/∂z_l‖, l = 1..10", xs, rn);
    d
}

pub(crate) fn claim8(seed: u64) -> Draft {
    let mut d = Draft::new(
        "Zero gradients: ReLU versus Leaky ReLU",
        "With zero-mean inputs about half of the ReLU units have zero gradient for a given \
         input, while with Leaky ReLU all of them have a non-zero gradient.",
    );
    let count = |act: Activation| {
        let mut r = rng(seed, 8);
        let mut mlp = super::util::gaussian_mlp(
            &[64, 256, 256, 1],
            act,
            Activation::Identity,
            true,
            std::f64::consts::SQRT_2,
            &mut r,
        );
        mlp.layers[2].weight = normal_vec(&mut r, 256, 1.0 / 16.0);
        let batch = 200;
        let x = normal_vec(&mut r, batch * 64, 1.0);
        let mut trace = Trace::default();
        mlp.forward_batch(&x, batch, &mut trace);
        let mut grads = Grads::default();
        mlp.backward_batch(&trace, &vec![1.0; batch], &mut grads);
        let all: Vec<f64> = grads.pre[0].iter().chain(&grads.pre[1]).copied().collect();
        let zeros = all.iter().filter(|v| **v == 0.0).count();
        (zeros as f64 / all.len() as f64, zeros)
    };
    let (relu_frac, _) = count(Activation::RELU);
    let (_, leaky_zeros) = count(Activation::leaky(0.01));
    d.check(Check::close(
        "ReLU: fraction of (unit, input) with ∂L/∂z = 0",
        relu_frac,
        0.5,
        0.02,
    ));
    d.check(Check::exact(
        "Leaky ReLU (α=0.01): number of ∂L/∂z exactly 0",
        leaky_zeros as f64,
        0.0,
    ));
    d
}
