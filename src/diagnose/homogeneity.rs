//! Positive homogeneity of bias-free piecewise-linear networks.
//!
//! Every member of ReLU's piecewise-linear family through the origin satisfies
//! f(c·x) = c·f(x) for c > 0. A bias-free L-layer network of such units therefore satisfies
//! f_{aW}(x) = a^L · f_W(x) for a > 0 (Neyshabur, Salakhutdinov, Srebro 2015, "Path-SGD",
//! section 2; the seed's "positive homogeneity" paragraph).

use crate::activation::Activation;
use crate::error::{Error, Result};
use crate::net::{Mlp, Trace};

/// Largest relative error max_s ‖f_{aW}(x_s) − a^L f_W(x_s)‖∞ / max(‖a^L f_W(x_s)‖∞, tiny)
/// over the `n` inputs `x` (n × d_in), computed in f64. Errors when the network has a bias or
/// an activation that is not positively homogeneous (ReLU, Leaky ReLU, PReLU, ReLU+εx and the
/// identity are), or when a ≤ 0.
pub fn homogeneity_error(mlp: &Mlp<f64>, x: &[f64], n: usize, a: f64) -> Result<f64> {
    if !(a > 0.0 && a.is_finite()) {
        return Err(Error::Value(format!(
            "homogeneity: the scale a must be finite and > 0, got {a}"
        )));
    }
    for (l, layer) in mlp.layers.iter().enumerate() {
        if layer.bias.is_some() {
            return Err(Error::Value(format!(
                "homogeneity: layer {l} has a bias; the law holds for bias-free networks"
            )));
        }
        let homogeneous = matches!(
            layer.activation,
            Activation::Identity
                | Activation::Relu { .. }
                | Activation::LeakyRelu { .. }
                | Activation::Prelu { .. }
                | Activation::ReluEps { .. }
        );
        if !homogeneous {
            return Err(Error::Value(format!(
                "homogeneity: layer {l} uses {}, which is not positively homogeneous",
                layer.activation
            )));
        }
    }
    let mut scaled = mlp.clone();
    for layer in &mut scaled.layers {
        for w in &mut layer.weight {
            *w *= a;
        }
    }
    let depth = mlp.layers.len() as i32;
    let factor = a.powi(depth);
    let (mut t1, mut t2) = (Trace::default(), Trace::default());
    mlp.forward_batch(x, n, &mut t1);
    scaled.forward_batch(x, n, &mut t2);
    let d = mlp.output_dim();
    let mut worst = 0.0f64;
    for s in 0..n {
        let want: Vec<f64> = t1.output()[s * d..(s + 1) * d]
            .iter()
            .map(|v| factor * v)
            .collect();
        let got = &t2.output()[s * d..(s + 1) * d];
        let scale = want.iter().fold(0.0f64, |m, v| m.max(v.abs())).max(1e-300);
        let err = want
            .iter()
            .zip(got)
            .fold(0.0f64, |m, (w, g)| m.max((w - g).abs()));
        worst = worst.max(err / scale);
    }
    Ok(worst)
}
