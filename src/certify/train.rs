//! Certified training (issue 14): interval bound propagation as a training objective
//! (Gowal et al. 2018, "On the effectiveness of interval bound propagation for training
//! verifiably robust models", §3–4).
//!
//! **These passes are a training objective, not a proof.** They run in the model's precision
//! (f32 in training, f64 in the gradient test) with round-to-nearest and no error terms; only
//! the verifier's engine ([`crate::verify::engine`], through [`super::Certifier`]) certifies.
//! They live here, once, and are not a copy of the sound engine.
//!
//! # The objective
//! For a batch of boxes `[lo, hi]` in model coordinates, IBP propagates centre c and radius r:
//! `z_c = W c + b`, `z_r = |W| r`, `[z_c − z_r, z_c + z_r]`, then ReLU on both ends (Gowal et al.
//! eq. 6). At the last layer the specification "class y wins" is folded in (Zhang et al. 2020,
//! "Towards stable and efficient training of verifiably robust neural networks", §3, the
//! specification matrix C in the last layer): the margin `m_j ≥ (W_y − W_j)·c + b_y − b_j −
//! |W_y − W_j|·r`, and the robust loss is the cross-entropy of the logits `−m` (m_y = 0),
//! `L_rob = log(1 + Σ_{j≠y} exp(−m_j))`. The loss trained is
//! `κ·L_clean + (1 − κ)·L_rob(ε_t)` with ε_t ramped linearly from 0 to ε and κ from 1 to
//! `kappa_end` over the same steps (Gowal et al. §4: κ ends at 0.5).
//!
//! The gradient is exact: the backward pass differentiates every max(0, ·) (taking 0 at a tie)
//! and the |W| terms (sign(W), 0 at 0); `tests/certify.rs` checks it against central finite
//! differences in f64.
//!
//! CROWN-IBP ([`crown_ibp_loss`], Zhang et al. 2020 §3) keeps the IBP hidden bounds, replaces
//! the last layer's interval bound by one CROWN backward pass from the folded margin rows to the
//! input box, and trains on `β·m_CROWN-IBP + (1 − β)·m_IBP`, β ramped from 1 to 0 with ε
//! ([`RobustConfig::beta`]); its gradient is exact in the same sense and tested the same way.

use super::{Certifier, CertifyOptions, InputMap, Status};
use crate::activation::Activation;
use crate::data::{Dataset, Targets};
use crate::error::{Error, Result};
use crate::net::kernels::{dense_backward_input, dense_backward_params, dense_forward, Level};
use crate::net::{Grads, Loss, Mlp, TargetSlice, Trace, Workspace};
use crate::real::Real;
use crate::train::{EpochMetrics, Trainer};
use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use std::time::Instant;

/// Scratch and intermediate values of one IBP pass (reused between batches).
#[derive(Default)]
pub struct IbpPass<T> {
    /// Per layer: centre and radius of its input box (batch × in).
    c: Vec<Vec<T>>,
    r: Vec<Vec<T>>,
    /// Per hidden layer: pre-activation bounds (batch × out).
    zl: Vec<Vec<T>>,
    zu: Vec<Vec<T>>,
    /// Margin lower bounds (batch × classes; 0 at the label).
    pub margins: Vec<T>,
    wabs: Vec<Vec<T>>,
    wt: Vec<T>,
    /// CROWN-IBP: `lam[l]` = Λ⁽ˡ⁾, the coefficients of the margins on layer l's input
    /// ((batch·classes) × in_l); `lamd[l]` = Λ⁽ˡ⁺¹⁾ ⊙ D_l on hidden layer l's pre-activation.
    lam: Vec<Vec<T>>,
    lamd: Vec<Vec<T>>,
    /// CROWN-IBP: the constant term of each margin row (batch·classes).
    cst: Vec<T>,
    /// The IBP margin lower bounds (batch × classes), before the CROWN-IBP mix.
    pub ibp_margins: Vec<T>,
    /// The CROWN-IBP margin lower bounds (batch × classes; empty for IBP or β = 0).
    pub crown_margins: Vec<T>,
}

/// Check that `mlp` can be trained with IBP here: ReLU hidden layers, identity output,
/// at least 2 outputs, no PReLU.
pub fn check_model<T: Real>(mlp: &Mlp<T>) -> Result<()> {
    let n = mlp.layers.len();
    for (l, layer) in mlp.layers.iter().enumerate() {
        let want_relu = l + 1 < n;
        let ok = if want_relu {
            matches!(layer.activation, Activation::Relu { .. })
        } else {
            matches!(layer.activation, Activation::Identity)
        };
        if !ok {
            return Err(Error::Unsupported(format!(
                "layer {l}: activation {}: robust training and the stability regulariser need relu hidden layers and an identity output",
                layer.activation
            )));
        }
    }
    if mlp.output_dim() < 2 {
        return Err(Error::Shape(format!(
            "robust training and the stability regulariser need a classifier with ≥ 2 outputs; the model has {}",
            mlp.output_dim()
        )));
    }
    Ok(())
}

// `x = x + y` rather than `+=`: `Real` does not promise the assign operators.
/// The IBP robust loss of a batch of boxes (`lo`, `hi`: batch × d, model coordinates) with
/// `labels`: returns (Σ over the batch of L_rob, number of samples whose margins are all > 0).
/// With `grads`, writes ∂(mean L_rob)/∂parameters into it (weights and biases; resized).
pub fn ibp_loss<T: Real>(
    mlp: &Mlp<T>,
    lo: &[T],
    hi: &[T],
    labels: &[u32],
    pass: &mut IbpPass<T>,
    grads: Option<&mut Grads<T>>,
) -> (f64, usize) {
    bound_loss(mlp, lo, hi, labels, None, pass, grads)
}

/// The CROWN-IBP robust loss (Zhang et al. 2020, "Towards stable and efficient training of
/// verifiably robust neural networks", §3): IBP bounds for the hidden pre-activations,
/// then one CROWN backward pass (Zhang et al. 2018, "Efficient neural network robustness
/// certification with general activation functions", §3) from the specification-folded
/// last layer `C W` (rows `W_y − W_j`) to the input box, relaxing each unstable ReLU
/// (l < 0 < u, the IBP bounds) by the upper line `u/(u − l)·(z − l)` and the lower line
/// `α·z` with CROWN's adaptive slope `α = 1 if u > −l else 0` (Zhang et al. 2018 §3, used by
/// CROWN-IBP §3); a row coefficient ≥ 0 takes the lower line, < 0 the upper. The margin lower
/// bound trained is `m = β·m_CROWN-IBP + (1 − β)·m_IBP` (Zhang et al. 2020 §3) and the loss
/// is the cross-entropy of `−m` as in [`ibp_loss`]; `β = 0` skips the CROWN pass. Returns
/// (Σ over the batch of L_rob, number of samples whose mixed margins are all > 0); with
/// `grads`, the exact ∂(mean L_rob)/∂parameters, through the CROWN pass, the relaxation's
/// dependence on the IBP bounds and the IBP layers (the adaptive slope and the sign choices
/// are piecewise constant).
pub fn crown_ibp_loss<T: Real>(
    mlp: &Mlp<T>,
    lo: &[T],
    hi: &[T],
    labels: &[u32],
    beta: f64,
    pass: &mut IbpPass<T>,
    grads: Option<&mut Grads<T>>,
) -> (f64, usize) {
    bound_loss(mlp, lo, hi, labels, Some(beta), pass, grads)
}

#[allow(clippy::assign_op_pattern)]
fn bound_loss<T: Real>(
    mlp: &Mlp<T>,
    lo: &[T],
    hi: &[T],
    labels: &[u32],
    beta: Option<f64>,
    pass: &mut IbpPass<T>,
    grads: Option<&mut Grads<T>>,
) -> (f64, usize) {
    let batch = labels.len();
    let n = mlp.layers.len();
    ibp_hidden(mlp, lo, hi, pass);
    // Last layer with the specification folded in.
    let last = &mlp.layers[n - 1];
    let (i, k) = (last.in_dim, last.out_dim);
    let bias = |j: usize| last.bias.as_ref().map_or(T::zero(), |b| b[j]);
    pass.margins.clear();
    pass.margins.resize(batch * k, T::zero());
    let mut loss = 0.0;
    let mut robust = 0;
    let mut gm = vec![0.0f64; batch * k];
    for (s, &y) in labels.iter().enumerate() {
        let y = y as usize;
        let (c, r) = (
            &pass.c[n - 1][s * i..(s + 1) * i],
            &pass.r[n - 1][s * i..(s + 1) * i],
        );
        let wy = last.row(y);
        for j in 0..k {
            if j == y {
                continue;
            }
            let wj = last.row(j);
            let mut m = bias(y) - bias(j);
            for q in 0..i {
                let d = wy[q] - wj[q];
                m = m + d * c[q] - d.abs() * r[q];
            }
            pass.margins[s * k + j] = m;
        }
    }
    pass.ibp_margins.clone_from(&pass.margins);
    pass.crown_margins.clear();
    let beta = beta.filter(|&b| b != 0.0);
    if let Some(b) = beta {
        crown_forward(mlp, labels, pass);
        let (bt, bi) = (T::of_f64(b), T::of_f64(1.0 - b));
        for (m, (&mc, &mi)) in pass
            .margins
            .iter_mut()
            .zip(pass.crown_margins.iter().zip(&pass.ibp_margins))
        {
            *m = bt * mc + bi * mi;
        }
    }
    for (s, &y) in labels.iter().enumerate() {
        let y = y as usize;
        let all = (0..k).all(|j| j == y || pass.margins[s * k + j] > T::zero());
        robust += all as usize;
        // L = log Σ_j exp(−m_j) with m_y = 0 (log-sum-exp shifted by its max).
        let neg: Vec<f64> = (0..k).map(|j| -pass.margins[s * k + j].as_f64()).collect();
        let mx = neg.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
        let se: f64 = neg.iter().map(|v| (v - mx).exp()).sum();
        loss += mx + se.ln();
        for j in 0..k {
            if j != y {
                // ∂L/∂m_j = −softmax(−m)_j, for the mean over the batch.
                gm[s * k + j] = -((neg[j] - mx).exp() / se) / batch as f64;
            }
        }
    }
    let Some(grads) = grads else {
        return (loss, robust);
    };
    zero_grads(mlp, grads);
    // CROWN-IBP: its parameter gradients and the seeds it sends into the IBP bounds.
    let crown = beta.map(|b| {
        let gc: Vec<T> = gm.iter().map(|&g| T::of_f64(b * g)).collect();
        for g in gm.iter_mut() {
            *g *= 1.0 - b;
        }
        crown_backward(mlp, labels, pass, &gc)
    });
    // Backward through the last layer: m_j = Σ_q d_q c_q − |d_q| r_q + b_y − b_j, d = W_y − W_j.
    let mut dc = vec![T::zero(); batch * i];
    let mut dr = vec![T::zero(); batch * i];
    for (s, &y) in labels.iter().enumerate() {
        let y = y as usize;
        let (c, r) = (
            &pass.c[n - 1][s * i..(s + 1) * i],
            &pass.r[n - 1][s * i..(s + 1) * i],
        );
        for j in 0..k {
            let g = gm[s * k + j];
            if j == y || g == 0.0 {
                continue;
            }
            let g = T::of_f64(g);
            for q in 0..i {
                let d = last.weight[y * i + q] - last.weight[j * i + q];
                let sg = sign(d);
                let gw = g * (c[q] - sg * r[q]);
                grads.weight[n - 1][y * i + q] = grads.weight[n - 1][y * i + q] + gw;
                grads.weight[n - 1][j * i + q] = grads.weight[n - 1][j * i + q] - gw;
                dc[s * i + q] = dc[s * i + q] + g * d;
                dr[s * i + q] = dr[s * i + q] - g * d.abs();
            }
            if !grads.bias[n - 1].is_empty() {
                grads.bias[n - 1][y] = grads.bias[n - 1][y] + g;
                grads.bias[n - 1][j] = grads.bias[n - 1][j] - g;
            }
        }
    }
    let seeds = crown
        .as_ref()
        .map(|cr| (cr.gzl.as_slice(), cr.gzu.as_slice()));
    ibp_hidden_backward(mlp, pass, batch, dc, dr, seeds, grads);
    if let Some(cr) = crown {
        for l in 0..n {
            for (g, &v) in grads.weight[l].iter_mut().zip(&cr.gw[l]) {
                *g = *g + v;
            }
            for (g, &v) in grads.bias[l].iter_mut().zip(&cr.gb[l]) {
                *g = *g + v;
            }
        }
    }
    (loss, robust)
}

/// The ReLU-stability regulariser (Xiao, Tjeng, Shafiullah & Madry 2019, "Training for faster
/// adversarial robustness verification via inducing ReLU stability", §4):
/// `RS = Σ_units −tanh(1 + l·u)` over every hidden unit, `[l, u]` its IBP pre-activation bounds
/// over the box (Xiao et al. use interval bounds too). A stable unit (l·u ≥ 0) costs at most
/// −tanh(1); the more a unit's interval straddles 0, the more it costs. For a batch of boxes
/// `[lo, hi]` (batch × d, model coordinates) returns the sum over the batch of each sample's RS
/// and, per hidden layer, the number of unstable units (l < 0 < u) summed over the batch. With
/// `grads`, writes ∂(mean RS over the batch)/∂parameters into it (resized; the last layer's
/// entries are 0): `∂/∂l = −(1 − tanh²)·u`, `∂/∂u = −(1 − tanh²)·l` into the IBP pass's
/// reverse mode, exact like [`ibp_loss`]'s.
pub fn rs_loss<T: Real>(
    mlp: &Mlp<T>,
    lo: &[T],
    hi: &[T],
    pass: &mut IbpPass<T>,
    grads: Option<&mut Grads<T>>,
) -> (f64, Vec<usize>) {
    let n = mlp.layers.len();
    let batch = lo.len() / mlp.input_dim().max(1);
    ibp_hidden(mlp, lo, hi, pass);
    let mut total = 0.0;
    let mut unstable = vec![0usize; n - 1];
    let want = grads.is_some();
    let (mut gl, mut gu): (Vec<Vec<T>>, Vec<Vec<T>>) = (Vec::new(), Vec::new());
    for (l, count) in unstable.iter_mut().enumerate() {
        let (zl, zu) = (&pass.zl[l], &pass.zu[l]);
        let (mut a, mut b) = (Vec::new(), Vec::new());
        if want {
            a.reserve(zl.len());
            b.reserve(zl.len());
        }
        for (&x, &y) in zl.iter().zip(zu) {
            let (x, y) = (x.as_f64(), y.as_f64());
            let t = (1.0 + x * y).tanh();
            total -= t;
            *count += (x < 0.0 && y > 0.0) as usize;
            if want {
                let d = -(1.0 - t * t) / batch.max(1) as f64;
                a.push(T::of_f64(d * y));
                b.push(T::of_f64(d * x));
            }
        }
        gl.push(a);
        gu.push(b);
    }
    let Some(grads) = grads else {
        return (total, unstable);
    };
    zero_grads(mlp, grads);
    let i = mlp.layers[n - 1].in_dim;
    let zeros = vec![T::zero(); batch * i];
    ibp_hidden_backward(
        mlp,
        pass,
        batch,
        zeros.clone(),
        zeros,
        Some((&gl, &gu)),
        grads,
    );
    (total, unstable)
}

/// Size `grads` for `mlp` (weights, biases; no PReLU slopes, no input gradient) and zero it.
fn zero_grads<T: Real>(mlp: &Mlp<T>, grads: &mut Grads<T>) {
    let n = mlp.layers.len();
    grads.weight.resize_with(n, Vec::new);
    grads.bias.resize_with(n, Vec::new);
    grads.prelu_alpha.resize_with(n, Vec::new);
    grads.pre.clear();
    grads.input.clear();
    for (l, layer) in mlp.layers.iter().enumerate() {
        grads.weight[l].clear();
        grads.weight[l].resize(layer.weight.len(), T::zero());
        grads.bias[l].clear();
        if layer.bias.is_some() {
            grads.bias[l].resize(layer.out_dim, T::zero());
        }
        grads.prelu_alpha[l].clear();
    }
}

/// The IBP pass through the hidden layers of `mlp` over the boxes `[lo, hi]` (batch × d, model
/// coordinates): fills `pass.c`, `pass.r` (each layer's input box as centre and radius, up to
/// the last layer's input), `pass.zl`, `pass.zu` (hidden pre-activation bounds) and `pass.wabs`.
fn ibp_hidden<T: Real>(mlp: &Mlp<T>, lo: &[T], hi: &[T], pass: &mut IbpPass<T>) {
    let level = Level::current();
    let batch = lo.len() / mlp.input_dim().max(1);
    let n = mlp.layers.len();
    let two = T::of_f64(2.0);
    pass.c.resize_with(n, Vec::new);
    pass.r.resize_with(n, Vec::new);
    pass.zl.resize_with(n, Vec::new);
    pass.zu.resize_with(n, Vec::new);
    pass.wabs.resize_with(n, Vec::new);
    pass.c[0].clear();
    pass.r[0].clear();
    for (&a, &b) in lo.iter().zip(hi) {
        pass.c[0].push((a + b) / two);
        pass.r[0].push((b - a) / two);
    }
    for (l, layer) in mlp.layers.iter().enumerate() {
        pass.wabs[l].clear();
        pass.wabs[l].extend(layer.weight.iter().map(|w| w.abs()));
    }
    for (l, layer) in mlp.layers.iter().enumerate().take(n - 1) {
        let (i, o) = (layer.in_dim, layer.out_dim);
        let mut zc = vec![T::zero(); batch * o];
        let mut zr = vec![T::zero(); batch * o];
        let bias = layer.bias.as_deref();
        dense_forward(
            level,
            batch,
            i,
            o,
            &pass.c[l],
            &layer.weight,
            bias,
            T::zero(),
            &mut zc,
            &mut pass.wt,
            1,
            crate::net::kernels::SMALL_MAX,
        );
        dense_forward(
            level,
            batch,
            i,
            o,
            &pass.r[l],
            &pass.wabs[l],
            None,
            T::zero(),
            &mut zr,
            &mut pass.wt,
            1,
            crate::net::kernels::SMALL_MAX,
        );
        let zl: Vec<T> = zc.iter().zip(&zr).map(|(&c, &r)| c - r).collect();
        let zu: Vec<T> = zc.iter().zip(&zr).map(|(&c, &r)| c + r).collect();
        let (c, r): (Vec<T>, Vec<T>) = zl
            .iter()
            .zip(&zu)
            .map(|(&a, &b)| {
                let (a, b) = (a.max(T::zero()), b.max(T::zero()));
                ((a + b) / two, (b - a) / two)
            })
            .unzip();
        pass.zl[l] = zl;
        pass.zu[l] = zu;
        pass.c[l + 1] = c;
        pass.r[l + 1] = r;
    }
}

/// Per hidden layer, ∂/∂ the IBP pre-activation lower and upper bounds (batch × out each).
type Seeds<'a, T> = (&'a [Vec<T>], &'a [Vec<T>]);

/// Reverse mode through [`ibp_hidden`]: from `dc`, `dr` (∂/∂ the last layer's input centre and
/// radius, batch × its in_dim) and optional `seeds` (∂/∂ `pass.zl`, `pass.zu` per hidden layer,
/// batch × out), writes ∂/∂ the hidden layers' weights and biases into `grads` (sized by the
/// caller; hidden layers overwritten).
#[allow(clippy::assign_op_pattern)]
fn ibp_hidden_backward<T: Real>(
    mlp: &Mlp<T>,
    pass: &IbpPass<T>,
    batch: usize,
    mut dc: Vec<T>,
    mut dr: Vec<T>,
    seeds: Option<Seeds<T>>,
    grads: &mut Grads<T>,
) {
    let level = Level::current();
    let n = mlp.layers.len();
    let two = T::of_f64(2.0);
    for l in (0..n - 1).rev() {
        let layer = &mlp.layers[l];
        let (i, o) = (layer.in_dim, layer.out_dim);
        // c = (a_l + a_u)/2, r = (a_u − a_l)/2 with a = max(0, z).
        let mut dzc = vec![T::zero(); batch * o];
        let mut dzr = vec![T::zero(); batch * o];
        for q in 0..batch * o {
            let dal = (dc[q] - dr[q]) / two;
            let dau = (dc[q] + dr[q]) / two;
            let mut dzl = if pass.zl[l][q] > T::zero() {
                dal
            } else {
                T::zero()
            };
            let mut dzu = if pass.zu[l][q] > T::zero() {
                dau
            } else {
                T::zero()
            };
            if let Some((gl, gu)) = seeds {
                dzl = dzl + gl[l][q];
                dzu = dzu + gu[l][q];
            }
            // z_l = z_c − z_r, z_u = z_c + z_r.
            dzc[q] = dzl + dzu;
            dzr[q] = dzu - dzl;
        }
        let mut gb = vec![T::zero(); if layer.bias.is_some() { o } else { 0 }];
        dense_backward_params(
            level,
            batch,
            i,
            o,
            &pass.c[l],
            &dzc,
            &mut grads.weight[l],
            &mut gb,
            1,
            crate::net::kernels::SMALL_MAX,
        );
        if !gb.is_empty() {
            grads.bias[l].copy_from_slice(&gb);
        }
        let mut gwr = vec![T::zero(); o * i];
        let mut none: Vec<T> = Vec::new();
        dense_backward_params(
            level,
            batch,
            i,
            o,
            &pass.r[l],
            &dzr,
            &mut gwr,
            &mut none,
            1,
            crate::net::kernels::SMALL_MAX,
        );
        for (g, (&w, &gr)) in grads.weight[l]
            .iter_mut()
            .zip(layer.weight.iter().zip(&gwr))
        {
            *g = *g + sign(w) * gr;
        }
        if l > 0 {
            dc = vec![T::zero(); batch * i];
            dr = vec![T::zero(); batch * i];
            dense_backward_input(
                level,
                batch,
                i,
                o,
                &dzc,
                &layer.weight,
                &mut dc,
                1,
                crate::net::kernels::SMALL_MAX,
            );
            dense_backward_input(
                level,
                batch,
                i,
                o,
                &dzr,
                &pass.wabs[l],
                &mut dr,
                1,
                crate::net::kernels::SMALL_MAX,
            );
        }
    }
}

/// Gradients of the CROWN part of CROWN-IBP: parameters, and the seeds ∂/∂(IBP pre-activation
/// bounds) per hidden layer (batch × out).
struct CrownGrads<T> {
    gw: Vec<Vec<T>>,
    gb: Vec<Vec<T>>,
    gzl: Vec<Vec<T>>,
    gzu: Vec<Vec<T>>,
}

/// The relaxation of one ReLU for a lower bound of `v·relu(z)`, z ∈ [l, u]: (slope, intercept)
/// with `v·relu(z) ≥ v·(slope·z + intercept)`. Stable: exact. Unstable with v ≥ 0: the lower
/// line α·z, α = 1 if u > −l else 0 (CROWN's adaptive choice); v < 0: the upper line
/// u/(u − l)·(z − l) (Zhang et al. 2018 §3).
fn relax<T: Real>(v: T, l: T, u: T) -> (T, T) {
    if l >= T::zero() {
        (T::one(), T::zero())
    } else if u <= T::zero() {
        (T::zero(), T::zero())
    } else if v >= T::zero() {
        (if u > -l { T::one() } else { T::zero() }, T::zero())
    } else {
        let s = u / (u - l);
        (s, -(s * l))
    }
}

/// The CROWN backward pass of CROWN-IBP over the IBP bounds in `pass` (see [`crown_ibp_loss`]):
/// fills `pass.lam`, `pass.lamd`, `pass.cst` and `pass.crown_margins` (batch × classes,
/// 0 at the label).
#[allow(clippy::assign_op_pattern)]
fn crown_forward<T: Real>(mlp: &Mlp<T>, labels: &[u32], pass: &mut IbpPass<T>) {
    let level = Level::current();
    let batch = labels.len();
    let n = mlp.layers.len();
    let last = &mlp.layers[n - 1];
    let k = last.out_dim;
    let rows = batch * k;
    pass.lam.resize_with(n, Vec::new);
    pass.lamd.resize_with(n, Vec::new);
    let bias = |j: usize| last.bias.as_ref().map_or(T::zero(), |b| b[j]);
    // Λ⁽ⁿ⁻¹⁾ = C W, constant C b: row (s, j) is W_y − W_j, b_y − b_j (zero at j = y).
    let i = last.in_dim;
    let mut lam = std::mem::take(&mut pass.lam[n - 1]);
    lam.clear();
    lam.resize(rows * i, T::zero());
    pass.cst.clear();
    pass.cst.resize(rows, T::zero());
    for (s, &y) in labels.iter().enumerate() {
        let y = y as usize;
        for j in (0..k).filter(|&j| j != y) {
            let row = s * k + j;
            pass.cst[row] = bias(y) - bias(j);
            for q in 0..i {
                lam[row * i + q] = last.weight[y * i + q] - last.weight[j * i + q];
            }
        }
    }
    pass.lam[n - 1] = lam;
    for l in (0..n - 1).rev() {
        let layer = &mlp.layers[l];
        let (i, o) = (layer.in_dim, layer.out_dim);
        let mut lamd = std::mem::take(&mut pass.lamd[l]);
        lamd.clear();
        lamd.resize(rows * o, T::zero());
        for row in 0..rows {
            let s = row / k;
            let mut cst = pass.cst[row];
            for q in 0..o {
                let v = pass.lam[l + 1][row * o + q];
                let (d, h) = relax(v, pass.zl[l][s * o + q], pass.zu[l][s * o + q]);
                let vd = v * d;
                lamd[row * o + q] = vd;
                cst = cst + v * h;
                if let Some(b) = &layer.bias {
                    cst = cst + vd * b[q];
                }
            }
            pass.cst[row] = cst;
        }
        // Λ⁽ˡ⁾ = Λ'_l W_l.
        let mut lam = std::mem::take(&mut pass.lam[l]);
        lam.clear();
        lam.resize(rows * i, T::zero());
        dense_backward_input(
            level,
            rows,
            i,
            o,
            &lamd,
            &layer.weight,
            &mut lam,
            1,
            crate::net::kernels::SMALL_MAX,
        );
        pass.lam[l] = lam;
        pass.lamd[l] = lamd;
    }
    // Concretise over the input box: m = Λ⁽⁰⁾ c − |Λ⁽⁰⁾| r + const.
    let d = mlp.layers[0].in_dim;
    pass.crown_margins.clear();
    pass.crown_margins.resize(rows, T::zero());
    for (s, &y) in labels.iter().enumerate() {
        let y = y as usize;
        let (c, r) = (
            &pass.c[0][s * d..(s + 1) * d],
            &pass.r[0][s * d..(s + 1) * d],
        );
        for j in (0..k).filter(|&j| j != y) {
            let row = s * k + j;
            let mut m = pass.cst[row];
            for (x, &a) in pass.lam[0][row * d..(row + 1) * d].iter().enumerate() {
                m = m + a * c[x] - a.abs() * r[x];
            }
            pass.crown_margins[row] = m;
        }
    }
}

/// Reverse mode through [`crown_forward`] with `gm` = ∂L/∂m_CROWN (batch × classes).
#[allow(clippy::assign_op_pattern)]
fn crown_backward<T: Real>(
    mlp: &Mlp<T>,
    labels: &[u32],
    pass: &IbpPass<T>,
    gm: &[T],
) -> CrownGrads<T> {
    let level = Level::current();
    let batch = labels.len();
    let n = mlp.layers.len();
    let k = mlp.layers[n - 1].out_dim;
    let rows = batch * k;
    let mut out = CrownGrads {
        gw: mlp
            .layers
            .iter()
            .map(|l| vec![T::zero(); l.weight.len()])
            .collect(),
        gb: mlp
            .layers
            .iter()
            .map(|l| vec![T::zero(); if l.bias.is_some() { l.out_dim } else { 0 }])
            .collect(),
        gzl: Vec::with_capacity(n),
        gzu: Vec::with_capacity(n),
    };
    // ∂m/∂Λ⁽⁰⁾ = c − sign(Λ⁽⁰⁾) r.
    let d = mlp.layers[0].in_dim;
    let mut glam = vec![T::zero(); rows * d];
    for row in 0..rows {
        let s = row / k;
        let g = gm[row];
        if g == T::zero() {
            continue;
        }
        for x in 0..d {
            let a = pass.lam[0][row * d + x];
            glam[row * d + x] = g * (pass.c[0][s * d + x] - sign(a) * pass.r[0][s * d + x]);
        }
    }
    for l in 0..n - 1 {
        let layer = &mlp.layers[l];
        let (i, o) = (layer.in_dim, layer.out_dim);
        let lamd = &pass.lamd[l];
        // Λ⁽ˡ⁾ = Λ'_l W_l: ∂Λ'_l = ∂Λ⁽ˡ⁾ W_lᵀ, ∂W_l = Λ'_lᵀ ∂Λ⁽ˡ⁾.
        let mut glamd = vec![T::zero(); rows * o];
        let mut wt = Vec::new();
        dense_forward(
            level,
            rows,
            i,
            o,
            &glam,
            &layer.weight,
            None,
            T::zero(),
            &mut glamd,
            &mut wt,
            1,
            crate::net::kernels::SMALL_MAX,
        );
        dense_backward_params(
            level,
            rows,
            i,
            o,
            &glam,
            lamd,
            &mut out.gw[l],
            &mut [],
            1,
            crate::net::kernels::SMALL_MAX,
        );
        // const += Λ'_l b_l.
        if let Some(b) = &layer.bias {
            for row in 0..rows {
                let g = gm[row];
                for q in 0..o {
                    glamd[row * o + q] = glamd[row * o + q] + g * b[q];
                    out.gb[l][q] = out.gb[l][q] + g * lamd[row * o + q];
                }
            }
        }
        // Λ'_l = Λ⁽ˡ⁺¹⁾ ⊙ D_l, const += Λ⁽ˡ⁺¹⁾ h_l, with D, h from (Λ⁽ˡ⁺¹⁾, l, u).
        let mut gnext = vec![T::zero(); rows * o];
        let mut gzl = vec![T::zero(); batch * o];
        let mut gzu = vec![T::zero(); batch * o];
        for row in 0..rows {
            let s = row / k;
            let g = gm[row];
            for q in 0..o {
                let v = pass.lam[l + 1][row * o + q];
                let (zl, zu) = (pass.zl[l][s * o + q], pass.zu[l][s * o + q]);
                let (dd, h) = relax(v, zl, zu);
                let gd = glamd[row * o + q];
                gnext[row * o + q] = gd * dd + g * h;
                if zl < T::zero() && zu > T::zero() && v < T::zero() {
                    // D = s = u/(u − l), h = −s l.
                    let w = zu - zl;
                    let gs = gd * v - g * v * zl;
                    let gl = -(g * v * dd);
                    gzl[s * o + q] = gzl[s * o + q] + gs * zu / (w * w) + gl;
                    gzu[s * o + q] = gzu[s * o + q] - gs * zl / (w * w);
                }
            }
        }
        out.gzl.push(gzl);
        out.gzu.push(gzu);
        glam = gnext;
    }
    // Λ⁽ⁿ⁻¹⁾ = C W, const = C b.
    let last = &mlp.layers[n - 1];
    let i = last.in_dim;
    for (s, &y) in labels.iter().enumerate() {
        let y = y as usize;
        for j in (0..k).filter(|&j| j != y) {
            let row = s * k + j;
            for q in 0..i {
                let g = glam[row * i + q];
                out.gw[n - 1][y * i + q] = out.gw[n - 1][y * i + q] + g;
                out.gw[n - 1][j * i + q] = out.gw[n - 1][j * i + q] - g;
            }
            if last.bias.is_some() {
                out.gb[n - 1][y] = out.gb[n - 1][y] + gm[row];
                out.gb[n - 1][j] = out.gb[n - 1][j] - gm[row];
            }
        }
    }
    out
}

fn sign<T: Real>(v: T) -> T {
    if v > T::zero() {
        T::one()
    } else if v < T::zero() {
        -T::one()
    } else {
        T::zero()
    }
}

/// The robust method.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RobustMethod {
    /// Interval bound propagation (Gowal et al. 2018).
    Ibp,
    /// CROWN-IBP (Zhang et al. 2020): IBP intermediate bounds, one CROWN pass for the
    /// margins, mixed with IBP by β ramped from 1 to 0 over the ε ramp ([`crown_ibp_loss`]).
    CrownIbp,
}

impl RobustMethod {
    /// The method's CLI name: `ibp` or `crown-ibp`.
    pub fn name(self) -> &'static str {
        match self {
            RobustMethod::Ibp => "ibp",
            RobustMethod::CrownIbp => "crown-ibp",
        }
    }
}

impl std::str::FromStr for RobustMethod {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "ibp" => Ok(RobustMethod::Ibp),
            "crown-ibp" => Ok(RobustMethod::CrownIbp),
            _ => Err(Error::Value(format!(
                "robust method {s}: expected ibp or crown-ibp"
            ))),
        }
    }
}

/// The ReLU-stability regulariser's settings ([`rs_loss`]).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RsConfig {
    /// Its weight in the loss (≥ 0).
    pub weight: f64,
    /// Its ε in data units; `None`: the robust objective's ε. With a robust method it follows
    /// the same ramp (ε_RS,t = ε_RS·ε_t/ε); without one it is used from the first step.
    pub eps: Option<f64>,
}

/// Settings of certified training.
#[derive(Clone, Debug)]
pub struct RobustConfig {
    /// The method; `None`: the clean loss alone (standard training), with [`RobustConfig::rs`].
    pub method: Option<RobustMethod>,
    /// Final ε in data units (without a method: the regulariser's ε).
    pub eps: f64,
    /// Data units → model input (scale, standardisation).
    pub map: InputMap,
    /// Input domain in data units.
    pub clamp: Option<(f64, f64)>,
    /// Epochs of clean training before the ramp (ε = 0, κ = 1).
    pub warmup_epochs: usize,
    /// Epochs over which ε and κ ramp linearly.
    pub ramp_epochs: usize,
    /// κ at the end of the ramp (Gowal et al.: 0.5).
    pub kappa_end: f64,
    /// Certified accuracy on the test split at the epoch's ε (CROWN, sound engine) each epoch.
    pub monitor: bool,
    /// The ReLU-stability regulariser (Xiao et al. 2019), added to the loss with its weight.
    pub rs: Option<RsConfig>,
}

impl RobustConfig {
    /// (ε_t, κ_t) at optimizer step `step` with `per_epoch` steps per epoch (without a method:
    /// (ε, 1) throughout).
    pub fn schedule(&self, step: u64, per_epoch: usize) -> (f64, f64) {
        if self.method.is_none() {
            return (self.eps, 1.0);
        }
        let w = (self.warmup_epochs * per_epoch) as f64;
        let r = (self.ramp_epochs * per_epoch).max(1) as f64;
        let t = ((step as f64 - w) / r).clamp(0.0, 1.0);
        (self.eps * t, 1.0 - (1.0 - self.kappa_end) * t)
    }

    /// The regulariser's ε at the schedule's ε_t (see [`RsConfig::eps`]).
    pub fn rs_eps(&self, eps_t: f64) -> f64 {
        match self.rs.and_then(|r| r.eps) {
            None => eps_t,
            Some(e) if self.method.is_some() && self.eps > 0.0 => e * eps_t / self.eps,
            Some(e) => e,
        }
    }

    /// β_t of CROWN-IBP at optimizer step `step`: 1 before and 0 after the ε ramp, linear in
    /// between (Zhang et al. 2020 §3–4: β from 1 to 0 over the ε ramp-up).
    pub fn beta(&self, step: u64, per_epoch: usize) -> f64 {
        let w = (self.warmup_epochs * per_epoch) as f64;
        let r = (self.ramp_epochs * per_epoch).max(1) as f64;
        1.0 - ((step as f64 - w) / r).clamp(0.0, 1.0)
    }

    /// Per-feature box `[lo, hi]` in model coordinates around a model-coordinate sample at
    /// radius ε (data units), intersected with the domain (training-time, round to nearest).
    fn model_box(&self, x: &[f32], eps: f64, lo: &mut Vec<f32>, hi: &mut Vec<f32>) {
        let m = &self.map;
        let d = m.mean.len();
        lo.clear();
        hi.clear();
        for (q, &v) in x.iter().enumerate() {
            let i = q % d;
            let g = m.scale / m.std[i];
            let (mut a, mut b) = (v as f64 - eps * g, v as f64 + eps * g);
            if let Some((cl, ch)) = self.clamp {
                a = a.max((m.scale * cl - m.mean[i]) / m.std[i]).min(v as f64);
                b = b.min((m.scale * ch - m.mean[i]) / m.std[i]).max(v as f64);
            }
            lo.push(a as f32);
            hi.push(b as f32);
        }
    }
}

/// Train `trainer` to `trainer.config.epochs` with the robust objective (cross-entropy
/// classifiers). `test_raw`: the test split in data units, for `monitor`. Epoch shuffles come
/// from ChaCha8(seed) stream 1000 + epoch as in [`Trainer`]. `on_epoch` sees the metrics with
/// `eps`, `kappa`, `robust_loss`, `ibp_robust_train_accuracy` (CROWN-IBP:
/// `crown_ibp_robust_train_accuracy` of the mixed bound, and `beta`) and, with `monitor`,
/// `certified_test_accuracy` (CROWN) in `extra`. Without a method the loss is the clean one
/// (and κ, ε_t, the robust fields are left out). With `rs`, the loss gains
/// `weight·mean RS` over the boxes at ε_RS,t ([`RobustConfig::rs_eps`]), and the metrics
/// `rs_eps`, `rs_loss` (mean per sample) and `rs_unstable_fraction` (per hidden layer, the
/// fraction of units IBP leaves unstable over the training samples' boxes).
pub fn run_robust(
    trainer: &mut Trainer,
    train: &Dataset,
    test: Option<&Dataset>,
    test_raw: Option<&Dataset>,
    cfg: &RobustConfig,
    mut on_epoch: impl FnMut(&EpochMetrics, &Trainer) -> Result<()>,
) -> Result<Vec<EpochMetrics>> {
    check_model(&trainer.mlp)?;
    trainer.check_data(train)?;
    if trainer.config.loss != Loss::CrossEntropy {
        return Err(Error::Value(
            "robust training and the stability regulariser need the cross_entropy loss and class labels".into(),
        ));
    }
    let Targets::Classes { labels, .. } = &train.targets else {
        return Err(Error::Value(format!(
            "{}: robust training and the stability regulariser need class labels",
            train.name
        )));
    };
    let n = train.n;
    let d = train.d;
    let bs = trainer.config.batch_size.max(1);
    let per_epoch = n.div_ceil(bs);
    let d_out = trainer.mlp.output_dim();
    let mut pass = IbpPass::default();
    let mut rg = Grads::default();
    let mut cg = Grads::default();
    let mut sg = Grads::default();
    let mut rs_pass = IbpPass::default();
    let (mut rs_lo, mut rs_hi) = (Vec::new(), Vec::new());
    let widths = trainer.mlp.widths();
    let mut trace = Trace::default();
    let mut ws = Workspace::new(trainer.config.threads);
    let (mut lo, mut hi) = (Vec::new(), Vec::new());
    let mut bl: Vec<u32> = Vec::new();
    let mut gout: Vec<f32> = Vec::new();
    let mut all = Vec::new();
    while trainer.epoch < trainer.config.epochs {
        let t0 = Instant::now();
        let epoch = trainer.epoch;
        let mut order: Vec<usize> = (0..n).collect();
        let mut rng = ChaCha8Rng::seed_from_u64(trainer.config.seed);
        rng.set_stream(1000 + epoch as u64);
        order.shuffle(&mut rng);
        let (mut clean_sum, mut rob_sum, mut correct, mut robust) = (0.0, 0.0, 0usize, 0usize);
        let (mut eps_t, mut kappa, mut beta) = (0.0, 1.0, 1.0);
        let (mut rs_sum, mut rs_eps) = (0.0, 0.0);
        let mut rs_unstable = vec![0usize; widths.len().saturating_sub(2)];
        let mut lr = trainer.config.optimizer.lr;
        for idx in order.chunks(bs) {
            let batch = idx.len();
            train.gather_x(idx, &mut trace.input);
            trace.batch = batch;
            bl.clear();
            bl.extend(idx.iter().map(|&i| labels[i]));
            let step = trainer.optimizer.step;
            (eps_t, kappa) = cfg.schedule(step, per_epoch);
            trainer.mlp.forward_ws(&mut trace, &mut ws, 0.0);
            gout.resize(batch * d_out, 0.0);
            let ls = Loss::CrossEntropy
                .eval(
                    trace.output(),
                    batch,
                    d_out,
                    TargetSlice::Classes(&bl),
                    Some(&mut gout),
                )
                .map_err(|e| e.prefixed(&train.name))?;
            clean_sum += ls.loss;
            correct += ls.correct;
            trainer
                .mlp
                .backward_ws(&trace, &gout, &mut cg, &mut ws, false);
            let need_rob = kappa < 1.0;
            if cfg.method.is_some() {
                cfg.model_box(&trace.input, eps_t, &mut lo, &mut hi);
            }
            let (rl, rc) = match cfg.method {
                None => (0.0, 0),
                Some(RobustMethod::Ibp) => ibp_loss(
                    &trainer.mlp,
                    &lo,
                    &hi,
                    &bl,
                    &mut pass,
                    need_rob.then_some(&mut rg),
                ),
                Some(RobustMethod::CrownIbp) => {
                    beta = cfg.beta(step, per_epoch);
                    crown_ibp_loss(
                        &trainer.mlp,
                        &lo,
                        &hi,
                        &bl,
                        beta,
                        &mut pass,
                        need_rob.then_some(&mut rg),
                    )
                }
            };
            rob_sum += rl;
            robust += rc;
            let mut rs_val = 0.0;
            if let Some(rs) = cfg.rs {
                rs_eps = cfg.rs_eps(eps_t);
                cfg.model_box(&trace.input, rs_eps, &mut rs_lo, &mut rs_hi);
                let want = rs.weight > 0.0;
                let (v, u) = rs_loss(
                    &trainer.mlp,
                    &rs_lo,
                    &rs_hi,
                    &mut rs_pass,
                    want.then_some(&mut sg),
                );
                rs_val = v;
                rs_sum += v;
                for (a, b) in rs_unstable.iter_mut().zip(&u) {
                    *a += b;
                }
            }
            if !(rl.is_finite() && ls.loss.is_finite() && rs_val.is_finite()) {
                return Err(Error::Value(format!(
                    "robust training diverged at epoch {}, step {step}; try a smaller --lr or --eps",
                    epoch + 1
                )));
            }
            if need_rob {
                let (kc, kr) = (kappa as f32, (1.0 - kappa) as f32);
                for l in 0..cg.weight.len() {
                    for (a, b) in cg.weight[l].iter_mut().zip(&rg.weight[l]) {
                        *a = kc * *a + kr * b;
                    }
                    for (a, b) in cg.bias[l].iter_mut().zip(&rg.bias[l]) {
                        *a = kc * *a + kr * b;
                    }
                }
            }
            if let Some(rs) = cfg.rs.filter(|r| r.weight > 0.0) {
                let w = rs.weight as f32;
                for l in 0..cg.weight.len() {
                    for (a, b) in cg.weight[l].iter_mut().zip(&sg.weight[l]) {
                        *a += w * b;
                    }
                    for (a, b) in cg.bias[l].iter_mut().zip(&sg.bias[l]) {
                        *a += w * b;
                    }
                }
            }
            if trainer.config.optimizer.clip_norm.is_some() {
                trainer.optimizer.clip(&mut cg);
            }
            lr = trainer.config.optimizer.lr_at(epoch, step);
            trainer.optimizer.step(&mut trainer.mlp, &cg, lr);
        }
        trainer.epoch += 1;
        let seconds = t0.elapsed().as_secs_f64();
        let mut m = EpochMetrics {
            epoch: trainer.epoch,
            step: trainer.optimizer.step,
            train_loss: clean_sum / n as f64,
            train_accuracy: Some(correct as f64 / n as f64),
            lr,
            seconds,
            ..Default::default()
        };
        if let Some(method) = cfg.method {
            m.extra.insert("eps".into(), eps_t.into());
            m.extra.insert("kappa".into(), kappa.into());
            m.extra
                .insert("robust_loss".into(), (rob_sum / n as f64).into());
            let key = match method {
                RobustMethod::Ibp => "ibp_robust_train_accuracy",
                RobustMethod::CrownIbp => {
                    m.extra.insert("beta".into(), beta.into());
                    "crown_ibp_robust_train_accuracy"
                }
            };
            m.extra
                .insert(key.into(), (robust as f64 / n as f64).into());
        }
        if cfg.rs.is_some() {
            m.extra.insert("rs_eps".into(), rs_eps.into());
            m.extra.insert("rs_loss".into(), (rs_sum / n as f64).into());
            let frac: Vec<f64> = rs_unstable
                .iter()
                .zip(&widths[1..])
                .map(|(&u, &w)| u as f64 / (n * w).max(1) as f64)
                .collect();
            m.extra.insert("rs_unstable_fraction".into(), frac.into());
        }
        if let Some(t) = test {
            let (l, a) = trainer.evaluate(t, 0.0)?;
            m.test_loss = Some(l);
            m.test_accuracy = a;
        }
        if cfg.monitor {
            if let Some(raw) = test_raw {
                let acc = certified_accuracy(&trainer.mlp, raw, cfg, eps_t)?;
                m.extra.insert("certified_test_accuracy".into(), acc.into());
            }
        }
        let _ = d;
        on_epoch(&m, trainer)?;
        all.push(m);
    }
    Ok(all)
}

/// Certified accuracy of `mlp` on `raw` (data units) at ε by IBP and CROWN (no attack, no
/// α-CROWN, no branch and bound): the sound engine, cheap enough for a per-epoch monitor.
pub fn certified_accuracy(
    mlp: &Mlp<f32>,
    raw: &Dataset,
    cfg: &RobustConfig,
    eps: f64,
) -> Result<f64> {
    use rayon::prelude::*;
    let opts = CertifyOptions {
        clamp: cfg.clamp,
        time_limit: std::time::Duration::ZERO,
        steps: 0,
        restarts: 0,
        alpha_iters: 0,
        bab: false,
        ..Default::default()
    };
    let c = Certifier::new(mlp, cfg.map.clone(), opts)?;
    let Targets::Classes { labels, .. } = &raw.targets else {
        return Err(Error::Value(format!("{}: needs class labels", raw.name)));
    };
    let d = raw.d;
    let ok: usize = (0..raw.n)
        .into_par_iter()
        .map(|i| {
            let x: Vec<f64> = raw.x[i * d..(i + 1) * d]
                .iter()
                .map(|&v| v as f64 / cfg.map.scale)
                .collect();
            (c.certify_sample(i, &x, labels[i] as usize, eps).status == Status::Certified) as usize
        })
        .sum();
    Ok(ok as f64 / raw.n.max(1) as f64)
}
