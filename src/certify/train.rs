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
                "layer {l}: activation {}: robust training needs relu hidden layers and an identity output",
                layer.activation
            )));
        }
    }
    if mlp.output_dim() < 2 {
        return Err(Error::Shape(format!(
            "robust training needs a classifier with ≥ 2 outputs; the model has {}",
            mlp.output_dim()
        )));
    }
    Ok(())
}

// `x = x + y` rather than `+=`: `Real` does not promise the assign operators.
/// The IBP robust loss of a batch of boxes (`lo`, `hi`: batch × d, model coordinates) with
/// `labels`: returns (Σ over the batch of L_rob, number of samples whose margins are all > 0).
/// With `grads`, writes ∂(mean L_rob)/∂parameters into it (weights and biases; resized).
#[allow(clippy::assign_op_pattern)]
pub fn ibp_loss<T: Real>(
    mlp: &Mlp<T>,
    lo: &[T],
    hi: &[T],
    labels: &[u32],
    pass: &mut IbpPass<T>,
    grads: Option<&mut Grads<T>>,
) -> (f64, usize) {
    let level = Level::current();
    let batch = labels.len();
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
    // Last layer with the specification folded in.
    let last = &mlp.layers[n - 1];
    let (i, k) = (last.in_dim, last.out_dim);
    let bias = |j: usize| last.bias.as_ref().map_or(T::zero(), |b| b[j]);
    pass.margins.clear();
    pass.margins.resize(batch * k, T::zero());
    let mut loss = 0.0;
    let mut robust = 0;
    let mut gm = vec![0.0f64; batch * k];
    for s in 0..batch {
        let y = labels[s] as usize;
        let (c, r) = (
            &pass.c[n - 1][s * i..(s + 1) * i],
            &pass.r[n - 1][s * i..(s + 1) * i],
        );
        let wy = last.row(y);
        let mut all = true;
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
            all &= m > T::zero();
        }
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
    // Backward through the last layer: m_j = Σ_q d_q c_q − |d_q| r_q + b_y − b_j, d = W_y − W_j.
    let mut dc = vec![T::zero(); batch * i];
    let mut dr = vec![T::zero(); batch * i];
    for s in 0..batch {
        let y = labels[s] as usize;
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
    for l in (0..n - 1).rev() {
        let layer = &mlp.layers[l];
        let (i, o) = (layer.in_dim, layer.out_dim);
        // c = (a_l + a_u)/2, r = (a_u − a_l)/2 with a = max(0, z).
        let mut dzc = vec![T::zero(); batch * o];
        let mut dzr = vec![T::zero(); batch * o];
        for q in 0..batch * o {
            let dal = (dc[q] - dr[q]) / two;
            let dau = (dc[q] + dr[q]) / two;
            let dzl = if pass.zl[l][q] > T::zero() {
                dal
            } else {
                T::zero()
            };
            let dzu = if pass.zu[l][q] > T::zero() {
                dau
            } else {
                T::zero()
            };
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
    (loss, robust)
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
}

/// Settings of certified training.
#[derive(Clone, Debug)]
pub struct RobustConfig {
    /// The method.
    pub method: RobustMethod,
    /// Final ε in data units.
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
}

impl RobustConfig {
    /// (ε_t, κ_t) at optimizer step `step` with `per_epoch` steps per epoch.
    pub fn schedule(&self, step: u64, per_epoch: usize) -> (f64, f64) {
        let w = (self.warmup_epochs * per_epoch) as f64;
        let r = (self.ramp_epochs * per_epoch).max(1) as f64;
        let t = ((step as f64 - w) / r).clamp(0.0, 1.0);
        (self.eps * t, 1.0 - (1.0 - self.kappa_end) * t)
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
/// `eps`, `kappa`, `robust_loss`, `ibp_robust_train_accuracy` and, with `monitor`,
/// `certified_test_accuracy` (CROWN) in `extra`.
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
            "robust training needs the cross_entropy loss and class labels".into(),
        ));
    }
    let Targets::Classes { labels, .. } = &train.targets else {
        return Err(Error::Value(format!(
            "{}: robust training needs class labels",
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
        let (mut eps_t, mut kappa) = (0.0, 1.0);
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
            cfg.model_box(&trace.input, eps_t, &mut lo, &mut hi);
            let need_rob = kappa < 1.0;
            let (rl, rc) = ibp_loss(
                &trainer.mlp,
                &lo,
                &hi,
                &bl,
                &mut pass,
                need_rob.then_some(&mut rg),
            );
            rob_sum += rl;
            robust += rc;
            if !(rl.is_finite() && ls.loss.is_finite()) {
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
        m.extra.insert("eps".into(), eps_t.into());
        m.extra.insert("kappa".into(), kappa.into());
        m.extra
            .insert("robust_loss".into(), (rob_sum / n as f64).into());
        m.extra.insert(
            "ibp_robust_train_accuracy".into(),
            (robust as f64 / n as f64).into(),
        );
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
