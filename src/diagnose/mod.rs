//! Activation health: sparsity, dead and dormant units, pre-activation statistics, gradient
//! flow and the positive-homogeneity check, per layer.
//!
//! Everything here reads a forward [`Trace`] (and, for gradient flow, the [`Grads`] of a
//! backward pass) and never recomputes them. Statistics are accumulated in one streaming pass
//! over the trace buffers ([`HealthAccumulator::observe`]), so a data set can be diagnosed in
//! batches, or live during training, at a cost far below one forward pass.
//!
//! # Definitions
//! * **Active**: unit j of a layer is active on a sample when its pre-activation z_j > 0.
//! * **Sparsity**: the fraction of outputs a_j that are exactly 0 (overall, and per sample).
//! * **Dead unit**: never active on the whole data set (z_j ≤ 0 for every sample). For plain
//!   ReLU with ReLU'(0) = 0 this means its output and its gradient are exactly 0 everywhere.
//! * **Dormant unit, ReDo score** (Sokar, Agarwal, Castro, Evci 2023, "The Dormant Neuron
//!   Phenomenon in Deep Reinforcement Learning", ICML, eq. 1): with H units in the layer,
//!   s_j = E|h_j| / ((1/H) Σ_k E|h_k|), the mean absolute output of unit j divided by the
//!   *mean* over the layer's units; unit j is τ-dormant when s_j ≤ τ. (The paper's eq. 1 divides
//!   by the mean as here; its reference code divides by the sum, which makes scores smaller by
//!   the factor H.) A layer whose outputs are all 0 gives s_j = 0 for every unit.

pub mod homogeneity;
pub mod monitor;
pub mod objective;

pub use homogeneity::homogeneity_error;
pub use monitor::HealthMonitor;
pub use objective::Objective;

use crate::net::{Grads, Mlp, Trace};
use crate::real::Real;
use crate::simd::Level;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

/// Options of a diagnosis.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct HealthConfig {
    /// τ of the dormant test s_j ≤ τ (ReDo score, Sokar et al. 2023).
    pub tau: f64,
    /// Number of bins of the per-sample sparsity histogram over [0, 1].
    pub hist_bins: usize,
}

impl Default for HealthConfig {
    fn default() -> Self {
        HealthConfig {
            tau: 0.1,
            hist_bins: 20,
        }
    }
}

/// The health of one layer over a data set.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LayerHealth {
    /// Layer index, input side first (0-based).
    pub layer: usize,
    /// Number of units.
    pub units: usize,
    /// Activation name with parameters.
    pub activation: String,
    /// True for the last (output) layer.
    pub is_output: bool,
    /// Samples seen.
    pub samples: u64,
    /// Fraction of outputs exactly 0, over all samples and units.
    pub sparsity: f64,
    /// Mean over samples of the per-sample fraction of zero outputs.
    pub sample_sparsity_mean: f64,
    /// Smallest per-sample fraction of zero outputs.
    pub sample_sparsity_min: f64,
    /// Largest per-sample fraction of zero outputs.
    pub sample_sparsity_max: f64,
    /// Histogram of the per-sample fraction of zero outputs, equal bins over [0, 1].
    pub sample_sparsity_hist: Vec<u64>,
    /// Indices of dead units (z ≤ 0 on every sample).
    pub dead: Vec<usize>,
    /// Dead units / units.
    pub dead_fraction: f64,
    /// The τ used for dormancy.
    pub tau: f64,
    /// Indices of τ-dormant units (ReDo score ≤ τ).
    pub dormant: Vec<usize>,
    /// Dormant units / units.
    pub dormant_fraction: f64,
    /// ReDo score of every unit.
    pub redo_scores: Vec<f64>,
    /// Mean of the pre-activations (all samples and units).
    pub pre_mean: f64,
    /// Standard deviation of the pre-activations (all samples and units).
    pub pre_std: f64,
    /// Fraction of pre-activations < 0.
    pub pre_frac_negative: f64,
    /// Fraction of pre-activations exactly 0.
    pub pre_frac_zero: f64,
    /// ‖∂L/∂z‖ (Frobenius over samples and units), when gradients were observed.
    pub grad_pre_norm: Option<f64>,
    /// ‖∂L/∂W‖ (Frobenius) of the gradient summed over the observed batches (over a data set
    /// split in batches: the data set's gradient), when gradients were observed.
    pub grad_weight_norm: Option<f64>,
    /// Mean over the observed batches of each batch's ‖∂L/∂W‖ (during training: the typical
    /// per-step gradient norm), when gradients were observed.
    pub grad_weight_norm_per_batch: Option<f64>,
}

/// Per-layer running sums for [`LayerHealth`].
#[derive(Clone, Debug, Default)]
struct LayerAcc {
    units: usize,
    samples: u64,
    // per unit
    active: Vec<u64>,
    sum_abs_out: Vec<f64>,
    // layer totals
    sum_z: f64,
    sum_z2: f64,
    n_neg: u64,
    n_zero_pre: u64,
    n_zero_out: u64,
    // per-sample sparsity
    hist: Vec<u64>,
    sample_sp_sum: f64,
    sample_sp_min: f64,
    sample_sp_max: f64,
    // gradients
    grad_pre_sq: f64,
    grad_weight_sum: Vec<f64>,
    grad_weight_batch_norm_sum: f64,
    grad_batches: u64,
    grads_seen: bool,
}

/// Streaming accumulator of layer health: feed it traces (and gradients), then
/// [`HealthAccumulator::finish`].
#[derive(Clone, Debug)]
pub struct HealthAccumulator {
    config: HealthConfig,
    activations: Vec<String>,
    layers: Vec<LayerAcc>,
}

impl HealthAccumulator {
    /// An empty accumulator for the layers of `mlp`.
    pub fn new<T: Real>(mlp: &Mlp<T>, config: HealthConfig) -> Self {
        let bins = config.hist_bins.max(1);
        let layers = mlp
            .layers
            .iter()
            .map(|l| LayerAcc {
                units: l.out_dim,
                active: vec![0; l.out_dim],
                sum_abs_out: vec![0.0; l.out_dim],
                hist: vec![0; bins],
                sample_sp_min: f64::INFINITY,
                sample_sp_max: f64::NEG_INFINITY,
                ..Default::default()
            })
            .collect();
        HealthAccumulator {
            config,
            activations: mlp
                .layers
                .iter()
                .map(|l| l.activation.to_string())
                .collect(),
            layers,
        }
    }

    /// Add one traced batch, and its gradients when given (same batch).
    pub fn observe<T: Real>(&mut self, trace: &Trace<T>, grads: Option<&Grads<T>>) {
        self.observe_at(Level::current(), trace, grads)
    }

    /// [`Self::observe`] with the per-block statistics run at `level` (the same bits at every
    /// level and thread count).
    pub fn observe_at<T: Real>(
        &mut self,
        level: Level,
        trace: &Trace<T>,
        grads: Option<&Grads<T>>,
    ) {
        assert_eq!(
            trace.pre.len(),
            self.layers.len(),
            "trace depth differs from the network's"
        );
        let batch = trace.batch;
        let bins = self.layers.first().map_or(1, |l| l.hist.len());
        for (l, acc) in self.layers.iter_mut().enumerate() {
            let h = acc.units;
            let z = &trace.pre[l];
            let a = &trace.post[l];
            assert_eq!(z.len(), batch * h, "trace layer {l} has the wrong size");
            assert_eq!(a.len(), batch * h, "trace layer {l} has the wrong size");
            acc.samples += batch as u64;
            // Fixed blocks of rows, merged in order: the same bits on any number of threads.
            let block = |r0: usize| {
                let r1 = (r0 + BLOCK_ROWS).min(batch);
                block_stats(
                    level,
                    &z[r0 * h..r1 * h],
                    &a[r0 * h..r1 * h],
                    h,
                    r1 - r0,
                    bins,
                )
            };
            let starts: Vec<usize> = (0..batch).step_by(BLOCK_ROWS).collect();
            let blocks: Vec<RowBlock> = if batch * h >= PARALLEL_ELEMENTS {
                starts.par_iter().map(|&r0| block(r0)).collect()
            } else {
                starts.iter().map(|&r0| block(r0)).collect()
            };
            for b in blocks {
                for (c, &v) in acc.active.iter_mut().zip(&b.active) {
                    *c += u64::from(v);
                }
                for (c, &v) in acc.sum_abs_out.iter_mut().zip(&b.sum_abs) {
                    *c += v;
                }
                acc.sum_z += b.sz;
                acc.sum_z2 += b.sz2;
                acc.n_neg += b.nneg;
                acc.n_zero_pre += b.nzp;
                acc.n_zero_out += b.nzo;
                for (c, &v) in acc.hist.iter_mut().zip(&b.hist) {
                    *c += v;
                }
                acc.sample_sp_sum += b.sp_sum;
                acc.sample_sp_min = acc.sample_sp_min.min(b.sp_min);
                acc.sample_sp_max = acc.sample_sp_max.max(b.sp_max);
            }
            if let Some(g) = grads {
                acc.grads_seen = true;
                acc.grad_pre_sq += g.pre[l]
                    .iter()
                    .map(|v| v.as_f64() * v.as_f64())
                    .sum::<f64>();
                let gw = &g.weight[l];
                if acc.grad_weight_sum.len() != gw.len() {
                    acc.grad_weight_sum = vec![0.0; gw.len()];
                }
                let mut sq = 0.0f64;
                for (s, v) in acc.grad_weight_sum.iter_mut().zip(gw) {
                    let v = v.as_f64();
                    *s += v;
                    sq += v * v;
                }
                acc.grad_weight_batch_norm_sum += sq.sqrt();
                acc.grad_batches += 1;
            }
        }
    }

    /// Samples observed so far.
    pub fn samples(&self) -> u64 {
        self.layers.first().map_or(0, |l| l.samples)
    }

    /// The per-layer health of everything observed.
    pub fn finish(&self) -> Vec<LayerHealth> {
        let nl = self.layers.len();
        self.layers
            .iter()
            .enumerate()
            .map(|(l, acc)| {
                let h = acc.units;
                let n = acc.samples;
                let total = (n as f64) * (h as f64);
                let ratio = |c: u64| if total > 0.0 { c as f64 / total } else { 0.0 };
                let dead: Vec<usize> = if n > 0 {
                    (0..h).filter(|&j| acc.active[j] == 0).collect()
                } else {
                    Vec::new()
                };
                let scores = redo_scores(&acc.sum_abs_out, n);
                let dormant: Vec<usize> = (0..h)
                    .filter(|&j| n > 0 && scores[j] <= self.config.tau)
                    .collect();
                let mean = if total > 0.0 { acc.sum_z / total } else { 0.0 };
                let var = if total > 0.0 {
                    (acc.sum_z2 / total - mean * mean).max(0.0)
                } else {
                    0.0
                };
                let frac = |v: usize| if h > 0 { v as f64 / h as f64 } else { 0.0 };
                LayerHealth {
                    layer: l,
                    units: h,
                    activation: self.activations[l].clone(),
                    is_output: l + 1 == nl,
                    samples: n,
                    sparsity: ratio(acc.n_zero_out),
                    sample_sparsity_mean: if n > 0 {
                        acc.sample_sp_sum / n as f64
                    } else {
                        0.0
                    },
                    sample_sparsity_min: if n > 0 { acc.sample_sp_min } else { 0.0 },
                    sample_sparsity_max: if n > 0 { acc.sample_sp_max } else { 0.0 },
                    sample_sparsity_hist: acc.hist.clone(),
                    dead_fraction: frac(dead.len()),
                    dead,
                    tau: self.config.tau,
                    dormant_fraction: frac(dormant.len()),
                    dormant,
                    redo_scores: scores,
                    pre_mean: mean,
                    pre_std: var.sqrt(),
                    pre_frac_negative: ratio(acc.n_neg),
                    pre_frac_zero: ratio(acc.n_zero_pre),
                    grad_pre_norm: acc.grads_seen.then(|| acc.grad_pre_sq.sqrt()),
                    grad_weight_norm: acc.grads_seen.then(|| {
                        acc.grad_weight_sum
                            .iter()
                            .map(|v| v * v)
                            .sum::<f64>()
                            .sqrt()
                    }),
                    grad_weight_norm_per_batch: acc
                        .grads_seen
                        .then(|| acc.grad_weight_batch_norm_sum / acc.grad_batches.max(1) as f64),
                }
            })
            .collect()
    }
}

/// Rows per block of [`HealthAccumulator::observe`]: per-unit counts fit in u32, and a
/// block's partial sums stay in L1/L2.
const BLOCK_ROWS: usize = 64;

/// A layer's trace is split over rayon from this many elements (batch × units); below it the
/// same blocks run on the calling thread.
const PARALLEL_ELEMENTS: usize = 1 << 16;

/// The statistics of one block of rows of one layer.
struct RowBlock {
    active: Vec<u32>,
    sum_abs: Vec<f64>,
    sz: f64,
    sz2: f64,
    nneg: u64,
    nzp: u64,
    nzo: u64,
    hist: Vec<u64>,
    sp_sum: f64,
    sp_min: f64,
    sp_max: f64,
}

/// [`block_body`] compiled for each [`Level`], run at `level`.
fn block_stats<T: Real>(
    level: Level,
    z: &[T],
    a: &[T],
    h: usize,
    rows: usize,
    bins: usize,
) -> RowBlock {
    level.run(
        #[inline(always)]
        || block_body(z, a, h, rows, bins),
    )
}

/// Statistics of the `rows` rows of `z` (pre-activations) and `a` (outputs), `h` units per row.
#[inline(always)]
fn block_body<T: Real>(z: &[T], a: &[T], h: usize, rows: usize, bins: usize) -> RowBlock {
    let mut b = RowBlock {
        active: vec![0; h],
        sum_abs: vec![0.0; h],
        sz: 0.0,
        sz2: 0.0,
        nneg: 0,
        nzp: 0,
        nzo: 0,
        hist: vec![0; bins],
        sp_sum: 0.0,
        sp_min: f64::INFINITY,
        sp_max: f64::NEG_INFINITY,
    };
    if h == 0 {
        // A layer without units: every row is "fully sparse" by convention 0, as for any row
        // with no zero output.
        b.hist[0] += rows as u64;
        b.sp_min = 0.0;
        b.sp_max = 0.0;
        return b;
    }
    for (zs, as_) in z.chunks_exact(h).zip(a.chunks_exact(h)) {
        // Separate simple loops over the row: each has independent lanes and vectorises (one
        // fused loop is bound by its serial accumulator chains).
        let (rs, rs2, rneg, rzero) = row_pre_stats(zs);
        b.sz += rs;
        b.sz2 += rs2;
        b.nneg += rneg;
        b.nzp += rzero;
        let zero_out = as_.iter().filter(|&&v| v == T::zero()).count() as u64;
        for (c, &zj) in b.active.iter_mut().zip(zs) {
            *c += u32::from(zj > T::zero());
        }
        for (sa, &aj) in b.sum_abs.iter_mut().zip(as_) {
            *sa += aj.as_f64().abs();
        }
        b.nzo += zero_out;
        let frac = zero_out as f64 / h as f64;
        let bin = ((frac * bins as f64) as usize).min(bins - 1);
        b.hist[bin] += 1;
        b.sp_sum += frac;
        b.sp_min = b.sp_min.min(frac);
        b.sp_max = b.sp_max.max(frac);
    }
    b
}

/// Σz, Σz², #(z < 0), #(z = 0) of one row, with eight independent lanes.
#[inline]
fn row_pre_stats<T: Real>(zs: &[T]) -> (f64, f64, u64, u64) {
    const L: usize = 8;
    let (mut s, mut s2) = ([0.0f64; L], [0.0f64; L]);
    let (mut neg, mut zero) = ([0u64; L], [0u64; L]);
    let chunks = zs.chunks_exact(L);
    let rest = chunks.remainder();
    for c in chunks {
        for k in 0..L {
            let v = c[k].as_f64();
            s[k] += v;
            s2[k] += v * v;
            neg[k] += u64::from(v < 0.0);
            zero[k] += u64::from(v == 0.0);
        }
    }
    let (mut ts, mut ts2) = (s.iter().sum::<f64>(), s2.iter().sum::<f64>());
    let (mut tn, mut tz) = (neg.iter().sum::<u64>(), zero.iter().sum::<u64>());
    for v in rest {
        let v = v.as_f64();
        ts += v;
        ts2 += v * v;
        tn += u64::from(v < 0.0);
        tz += u64::from(v == 0.0);
    }
    (ts, ts2, tn, tz)
}

/// ReDo scores s_j = E|h_j| / ((1/H) Σ_k E|h_k|) from the sums Σ_samples |h_j| over `n`
/// samples (Sokar et al. 2023, eq. 1; normalised by the layer *mean*). 0 for every unit of a
/// layer whose outputs are all 0.
pub fn redo_scores(sum_abs_out: &[f64], n: u64) -> Vec<f64> {
    let h = sum_abs_out.len();
    if h == 0 || n == 0 {
        return vec![0.0; h];
    }
    let e: Vec<f64> = sum_abs_out.iter().map(|s| s / n as f64).collect();
    let layer_mean = e.iter().sum::<f64>() / h as f64;
    if layer_mean > 0.0 {
        e.iter().map(|v| v / layer_mean).collect()
    } else {
        vec![0.0; h]
    }
}

/// Health of every layer of one traced batch (and its gradients when given).
pub fn diagnose_trace<T: Real>(
    mlp: &Mlp<T>,
    trace: &Trace<T>,
    grads: Option<&Grads<T>>,
    config: HealthConfig,
) -> Vec<LayerHealth> {
    let mut acc = HealthAccumulator::new(mlp, config);
    acc.observe(trace, grads);
    acc.finish()
}

/// Health of every layer over a whole data set `x` (n × d_in), forwarded in batches of
/// `batch` samples. With an [`Objective`] other than `None`, a backward pass per batch adds
/// gradient flow (∂L/∂z and ∂L/∂W of the summed loss).
pub fn diagnose_dataset<T: Real>(
    mlp: &Mlp<T>,
    x: &[T],
    n: usize,
    objective: &Objective<'_>,
    batch: usize,
    config: HealthConfig,
) -> crate::Result<Vec<LayerHealth>> {
    diagnose_dataset_until(mlp, x, n, objective, batch, config, None)
}

/// The error of a diagnosis stopped through `cancel` in [`diagnose_dataset_until`].
pub const CANCELLED: &str = "diagnose: cancelled";

/// [`diagnose_dataset`] that stops between batches once `cancel` is set (from another thread,
/// e.g. the Python binding's Ctrl-C), with the error [`CANCELLED`].
pub fn diagnose_dataset_until<T: Real>(
    mlp: &Mlp<T>,
    x: &[T],
    n: usize,
    objective: &Objective<'_>,
    batch: usize,
    config: HealthConfig,
    cancel: Option<&std::sync::atomic::AtomicBool>,
) -> crate::Result<Vec<LayerHealth>> {
    let d = mlp.input_dim();
    if x.len() != n * d {
        return Err(crate::Error::Shape(format!(
            "data has {} values, expected {n} samples × {d} features",
            x.len()
        )));
    }
    objective.check(n, mlp.output_dim())?;
    let batch = batch.max(1);
    let mut acc = HealthAccumulator::new(mlp, config);
    let mut trace = Trace::default();
    let mut grads = Grads::default();
    let mut start = 0;
    while start < n {
        if cancel.is_some_and(|c| c.load(std::sync::atomic::Ordering::Relaxed)) {
            return Err(crate::Error::Cancelled(CANCELLED.into()));
        }
        let b = batch.min(n - start);
        mlp.forward_batch(&x[start * d..(start + b) * d], b, &mut trace);
        match objective.grad_output(trace.output(), start, b, mlp.output_dim()) {
            Some(g) => {
                mlp.backward_batch(&trace, &g, &mut grads);
                acc.observe(&trace, Some(&grads));
            }
            None => acc.observe::<T>(&trace, None),
        }
        start += b;
    }
    Ok(acc.finish())
}

/// A fixed-width text table of layer health (one row per layer).
pub fn format_table(health: &[LayerHealth]) -> String {
    let mut s = String::new();
    s.push_str(&format!(
        "{:>5} {:>6} {:<22} {:>8} {:>6} {:>8} {:>9} {:>8} {:>7} {:>7} {:>11} {:>11}\n",
        "layer",
        "units",
        "activation",
        "sparsity",
        "dead",
        "dormant",
        "pre_mean",
        "pre_std",
        "pre<0",
        "pre=0",
        "|dL/dz|",
        "|dL/dW|"
    ));
    for h in health {
        let g = |v: Option<f64>| v.map_or("-".to_string(), |v| format!("{v:.3e}"));
        s.push_str(&format!(
            "{:>5} {:>6} {:<22} {:>8.4} {:>6} {:>8} {:>9.4} {:>8.4} {:>7.4} {:>7.4} {:>11} {:>11}\n",
            format!("{}{}", h.layer, if h.is_output { "*" } else { "" }),
            h.units,
            h.activation,
            h.sparsity,
            h.dead.len(),
            h.dormant.len(),
            h.pre_mean,
            h.pre_std,
            h.pre_frac_negative,
            h.pre_frac_zero,
            g(h.grad_pre_norm),
            g(h.grad_weight_norm)
        ));
    }
    s
}

#[cfg(test)]
mod tests;
