//! Claims 3, 4 and 5: piecewise linearity, positive homogeneity, half of the units off.

use super::util::{gaussian_mlp, normal_vec, rng, uniform_vec};
use super::{Check, Draft};
use crate::activation::Activation;
use crate::diagnose::{diagnose_trace, homogeneity_error, HealthConfig};
use crate::net::{Grads, Mlp, Trace};
use rand::Rng;

/// Activation pattern (z > 0) of every hidden unit for each of the `n` inputs.
fn patterns(mlp: &Mlp<f64>, trace: &Trace<f64>) -> Vec<Vec<bool>> {
    let nl = mlp.layers.len();
    (0..trace.batch)
        .map(|s| {
            (0..nl - 1)
                .flat_map(|l| {
                    let h = mlp.layers[l].out_dim;
                    trace.pre[l][s * h..(s + 1) * h].iter().map(|&z| z > 0.0)
                })
                .collect()
        })
        .collect()
}

/// Local affine maps of every hidden unit at x: (z_j(x), ∂z_j/∂x) propagated layer by layer
/// (J_l = W_l D_{l−1} J_{l−1}), plus the output Jacobian. Independent of the backward pass.
fn local_affine(mlp: &Mlp<f64>, x: &[f64]) -> (Vec<(f64, Vec<f64>)>, Vec<f64>) {
    let d = x.len();
    let mut a = x.to_vec();
    // Jacobian of a w.r.t. x, row-major (width × d).
    let mut ja: Vec<f64> = (0..d * d)
        .map(|k| if k / d == k % d { 1.0 } else { 0.0 })
        .collect();
    let mut units = Vec::new();
    let nl = mlp.layers.len();
    for (l, layer) in mlp.layers.iter().enumerate() {
        let (o, i) = (layer.out_dim, layer.in_dim);
        let mut z = vec![0.0; o];
        layer.pre_activation(&a, &mut z);
        let mut jz = vec![0.0; o * d];
        for j in 0..o {
            for k in 0..i {
                let w = layer.weight[j * i + k];
                for c in 0..d {
                    jz[j * d + c] += w * ja[k * d + c];
                }
            }
        }
        if l + 1 == nl {
            return (units, jz);
        }
        for j in 0..o {
            units.push((z[j], jz[j * d..(j + 1) * d].to_vec()));
        }
        let on: Vec<bool> = z.iter().map(|&v| v > 0.0).collect();
        a = z.iter().map(|&v| v.max(0.0)).collect();
        ja = (0..o * d)
            .map(|k| if on[k / d] { jz[k] } else { 0.0 })
            .collect();
    }
    (units, Vec::new())
}

pub(crate) fn claim3(seed: u64) -> Draft {
    let mut d = Draft::new(
        "A ReLU net is piecewise linear",
        "Inside one activation region the set of active units is fixed, so the network is an \
         affine function there: constant Jacobian, exactly affine output.",
    );
    let mut r = rng(seed, 3);
    let mut mlp = gaussian_mlp(
        &[2, 16, 16, 1],
        Activation::RELU,
        Activation::Identity,
        true,
        std::f64::consts::SQRT_2,
        &mut r,
    );
    for layer in &mut mlp.layers {
        layer.bias = Some(normal_vec(&mut r, layer.out_dim, 0.5));
    }
    let x0 = uniform_vec(&mut r, 2, -1.0, 1.0);
    let (units, j0) = local_affine(&mlp, &x0);
    // Radius of a disc inside the region: the distance from x0 to the nearest hyperplane
    // z_j = 0 of the local affine maps, which bound the region (a convex polytope).
    let rho = units
        .iter()
        .map(|(z, g)| z.abs() / g.iter().map(|v| v * v).sum::<f64>().sqrt().max(1e-300))
        .fold(f64::INFINITY, f64::min);
    let n = 1000;
    let mut pts = Vec::with_capacity(n * 2);
    for _ in 0..n {
        let (t, u): (f64, f64) = (r.random(), r.random());
        let rad = 0.99 * rho * u.sqrt();
        let ang = 2.0 * std::f64::consts::PI * t;
        pts.push(x0[0] + rad * ang.cos());
        pts.push(x0[1] + rad * ang.sin());
    }
    pts.extend_from_slice(&x0);
    let mut trace = Trace::default();
    mlp.forward_batch(&pts, n + 1, &mut trace);
    let pats = patterns(&mlp, &trace);
    let mismatched = pats.iter().filter(|p| **p != pats[n]).count();
    let mut grads = Grads::default();
    mlp.backward_batch(&trace, &vec![1.0; n + 1], &mut grads);
    let jnorm = j0.iter().fold(0.0f64, |m, v| m.max(v.abs()));
    let mut jac_dev = 0.0f64;
    let mut affine_dev = 0.0f64;
    let f0 = trace.output()[n];
    for s in 0..n {
        let js = &grads.input[s * 2..s * 2 + 2];
        for c in 0..2 {
            jac_dev = jac_dev.max((js[c] - j0[c]).abs() / jnorm);
        }
        let lin = f0 + j0[0] * (pts[2 * s] - x0[0]) + j0[1] * (pts[2 * s + 1] - x0[1]);
        affine_dev = affine_dev.max((trace.output()[s] - lin).abs() / (1.0 + f0.abs()));
    }
    d.check(Check::at_least(
        "radius of the disc inside the region",
        rho,
        1e-9,
    ));
    d.check(Check::exact(
        "points of the disc with another activation pattern (of 1000)",
        mismatched as f64,
        0.0,
    ));
    d.check(Check::at_most(
        "max relative deviation of the Jacobian (backward) from W₃D₂W₂D₁W₁",
        jac_dev,
        1e-12,
    ));
    d.check(Check::at_most(
        "max |f(x) − f(x₀) − J(x − x₀)| / (1 + |f(x₀)|)",
        affine_dev,
        1e-12,
    ));
    // Globally it is not affine: points spread over [−3, 3]² fall in several regions.
    let wide = uniform_vec(&mut r, 2 * 2000, -3.0, 3.0);
    mlp.forward_batch(&wide, 2000, &mut trace);
    let mut pats = patterns(&mlp, &trace);
    pats.sort();
    pats.dedup();
    d.check(Check::at_least(
        "distinct regions hit by 2000 points of [−3, 3]²",
        pats.len() as f64,
        2.0,
    ));
    d
}

pub(crate) fn claim4(seed: u64) -> Draft {
    let mut d = Draft::new(
        "Positive homogeneity",
        "In a bias-free L-layer ReLU network, scaling all weights by a > 0 scales the output by \
         a^L: f_{aW}(x) = a^L f_W(x).",
    );
    let mut r = rng(seed, 4);
    let x = normal_vec(&mut r, 256 * 3, 1.0);
    for act in [Activation::RELU, Activation::leaky(0.1)] {
        let mlp = gaussian_mlp(
            &[3, 32, 32, 32, 2],
            act,
            Activation::Identity,
            false,
            std::f64::consts::SQRT_2,
            &mut r,
        );
        for a in [0.5, 2.0, 3.7] {
            let err = homogeneity_error(&mlp, &x, 256, a).unwrap_or(f64::INFINITY);
            d.check(Check::at_most(
                format!("{}, L=4, a={a}: max rel |f_aW − a⁴ f_W|", act.name()),
                err,
                1e-13,
            ));
        }
    }
    d
}

pub(crate) fn claim5(seed: u64) -> Draft {
    let mut d = Draft::new(
        "Sparsity: about half of the units are off",
        "With pre-activations distributed symmetrically about 0, about half of the units are \
         off for a given input.",
    );
    let mut r = rng(seed, 5);
    // Zero bias and symmetric weights make every hidden pre-activation symmetric about 0.
    let mlp = gaussian_mlp(
        &[50, 500, 500, 1],
        Activation::RELU,
        Activation::Identity,
        true,
        std::f64::consts::SQRT_2,
        &mut r,
    );
    let n = 400;
    let x = normal_vec(&mut r, n * 50, 1.0);
    let mut trace = Trace::default();
    mlp.forward_batch(&x, n, &mut trace);
    let health = diagnose_trace(&mlp, &trace, None, HealthConfig::default());
    // For one input, the 500 pre-activations of a layer are i.i.d. and symmetric given the
    // layer's input (independent symmetric weight rows), so the fraction off is
    // Binomial(500, ½)/500: s.d. 0.022; [0.38, 0.62] is ±5.4 s.d. for each of the 800
    // (input, layer) pairs. Over all inputs: in layer 0 every unit is off for half of the
    // symmetric inputs (4e-4 s.d.), ±0.01; deeper, a unit's weights are shared by all inputs
    // whose non-negative features have a common mean, so unit j is off with its own
    // probability p_j and the layer mean varies with the draw of W (s.d. ≈ 0.01): ±0.05.
    for h in health.iter().filter(|h| !h.is_output) {
        d.check(Check::close(
            format!("layer {}: fraction of outputs exactly 0", h.layer),
            h.sparsity,
            0.5,
            if h.layer == 0 { 0.01 } else { 0.05 },
        ));
        d.check(Check::at_least(
            format!("layer {}: least per-input fraction off", h.layer),
            h.sample_sparsity_min,
            0.38,
        ));
        d.check(Check::at_most(
            format!("layer {}: largest per-input fraction off", h.layer),
            h.sample_sparsity_max,
            0.62,
        ));
        let bins = h.sample_sparsity_hist.len();
        d.series(
            format!("layer {} per-input sparsity histogram", h.layer),
            (0..bins).map(|b| (b as f64 + 0.5) / bins as f64).collect(),
            h.sample_sparsity_hist.iter().map(|&c| c as f64).collect(),
        );
    }
    d
}
