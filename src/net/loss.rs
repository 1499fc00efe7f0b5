//! Losses, each with its gradient with respect to the network output, mean-reduced as PyTorch's
//! default `reduction="mean"`.
//!
//! * MSE: (1/(N·D)) Σ (y − t)² (`nn.MSELoss`).
//! * Softmax cross-entropy with integer labels (`nn.CrossEntropyLoss`), computed with the
//!   log-sum-exp shift by the row maximum: ℓ = log Σ_j e^(x_j − m) − (x_y − m).
//! * Binary cross-entropy with logits (`nn.BCEWithLogitsLoss`), in the stable form
//!   max(x, 0) − x·t + log(1 + e^(−|x|)), mean over N·D.
//! * Hinge: one output → mean max(0, 1 − y·x) with y = 2t − 1 ∈ {−1, +1}; several outputs →
//!   the multi-class margin loss of `nn.MultiMarginLoss` (p = 1, margin 1):
//!   (1/C) Σ_{j≠y} max(0, 1 − x_y + x_j), mean over N.

use crate::real::Real;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// A training loss.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Loss {
    /// Mean squared error (regression targets).
    Mse,
    /// Softmax cross-entropy with integer class labels.
    CrossEntropy,
    /// Binary cross-entropy with logits (labels 0/1 or targets in [0, 1]).
    BceWithLogits,
    /// Hinge (binary) / multi-class margin loss.
    Hinge,
}

impl Loss {
    /// True when the loss takes integer class labels (MSE takes real targets; BCE takes
    /// either).
    pub fn wants_labels(&self) -> bool {
        !matches!(self, Loss::Mse)
    }
    /// The canonical name.
    pub fn name(&self) -> &'static str {
        match self {
            Loss::Mse => "mse",
            Loss::CrossEntropy => "cross_entropy",
            Loss::BceWithLogits => "bce_with_logits",
            Loss::Hinge => "hinge",
        }
    }
}

impl fmt::Display for Loss {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Loss {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Ok(match s {
            "mse" => Loss::Mse,
            "cross_entropy" | "ce" | "xent" => Loss::CrossEntropy,
            "bce_with_logits" | "bce" => Loss::BceWithLogits,
            "hinge" => Loss::Hinge,
            _ => {
                return Err(format!(
                    "unknown loss '{s}'; expected mse, cross_entropy, bce_with_logits or hinge"
                ))
            }
        })
    }
}

/// The targets of a batch: class labels (one per sample) or real values (D per sample).
#[derive(Clone, Copy, Debug)]
pub enum TargetSlice<'a> {
    /// Integer class labels.
    Classes(&'a [u32]),
    /// Real targets, batch × D, row-major.
    Values(&'a [f32]),
}

/// Sum over the batch of the per-sample loss, and the number of correct predictions
/// (classification targets only), from [`Loss::eval`].
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct LossSum {
    /// Σ over samples of the per-sample loss (for MSE/BCE: the per-sample mean over D).
    pub loss: f64,
    /// Correct predictions (argmax, or logit > 0 for one output), when labels are given.
    pub correct: usize,
}

impl Loss {
    /// Loss of a batch of outputs (`batch × d`). When `grad` is given, writes ∂(mean loss)/∂out
    /// into it, the mean being taken over `batch` samples as PyTorch does. Returns the summed
    /// loss (so that means over several batches are exact) and the correct count.
    ///
    /// Panics on mismatched lengths; labels must be checked against `d` by the caller (the data
    /// loaders do so with a located error).
    pub fn eval<T: Real>(
        &self,
        out: &[T],
        batch: usize,
        d: usize,
        targets: TargetSlice<'_>,
        mut grad: Option<&mut [T]>,
    ) -> crate::Result<LossSum> {
        use crate::Error;
        assert_eq!(out.len(), batch * d, "loss: output is not batch × d");
        if let Some(g) = grad.as_deref() {
            assert_eq!(g.len(), out.len(), "loss: gradient length");
        }
        let nb = batch.max(1) as f64;
        let mut total = 0.0f64;
        let mut correct = 0usize;
        match (self, targets) {
            (Loss::Mse, TargetSlice::Values(t)) => {
                if t.len() != out.len() {
                    return Err(Error::Shape(format!(
                        "mse: {} targets for {} outputs",
                        t.len(),
                        out.len()
                    )));
                }
                let scale = 2.0 / (nb * d as f64);
                for k in 0..out.len() {
                    let diff = out[k].as_f64() - t[k] as f64;
                    total += diff * diff / d as f64;
                    if let Some(g) = grad.as_deref_mut() {
                        g[k] = T::of_f64(scale * diff);
                    }
                }
            }
            (Loss::Mse, TargetSlice::Classes(_)) => {
                return Err(Error::Value(
                    "mse needs real-valued targets, got class labels".into(),
                ))
            }
            (Loss::CrossEntropy, TargetSlice::Classes(y)) => {
                check_labels(y, batch, d)?;
                for s in 0..batch {
                    let row = &out[s * d..(s + 1) * d];
                    let label = y[s] as usize;
                    let m = row.iter().fold(f64::NEG_INFINITY, |m, x| m.max(x.as_f64()));
                    let sum: f64 = row.iter().map(|x| (x.as_f64() - m).exp()).sum();
                    let lse = sum.ln() + m;
                    total += lse - row[label].as_f64();
                    if argmax(row) == label {
                        correct += 1;
                    }
                    if let Some(g) = grad.as_deref_mut() {
                        for j in 0..d {
                            let p = (row[j].as_f64() - lse).exp();
                            let ind = if j == label { 1.0 } else { 0.0 };
                            g[s * d + j] = T::of_f64((p - ind) / nb);
                        }
                    }
                }
            }
            (Loss::CrossEntropy, TargetSlice::Values(_)) => {
                return Err(Error::Value(
                    "cross_entropy needs integer class labels".into(),
                ))
            }
            (Loss::BceWithLogits, targets) => {
                let tv = |k: usize| -> f64 {
                    match targets {
                        TargetSlice::Classes(y) => y[k] as f64,
                        TargetSlice::Values(t) => t[k] as f64,
                    }
                };
                match targets {
                    TargetSlice::Classes(y) => {
                        if d != 1 {
                            return Err(Error::Value(format!(
                                "bce_with_logits with class labels needs 1 output, model has {d}"
                            )));
                        }
                        check_labels(y, batch, 2)?;
                    }
                    TargetSlice::Values(t) => {
                        if t.len() != out.len() {
                            return Err(Error::Value(format!(
                                "bce_with_logits: {} targets for {} outputs",
                                t.len(),
                                out.len()
                            )));
                        }
                    }
                }
                let scale = 1.0 / (nb * d as f64);
                for k in 0..out.len() {
                    let x = out[k].as_f64();
                    let t = tv(k);
                    total += (x.max(0.0) - x * t + (-x.abs()).exp().ln_1p()) / d as f64;
                    if d == 1 && ((x > 0.0) == (t > 0.5)) {
                        correct += 1;
                    }
                    if let Some(g) = grad.as_deref_mut() {
                        let sig = crate::activation::reference::sigmoid(x);
                        g[k] = T::of_f64((sig - t) * scale);
                    }
                }
            }
            (Loss::Hinge, TargetSlice::Classes(y)) => {
                if d == 1 {
                    check_labels(y, batch, 2)?;
                    for s in 0..batch {
                        let x = out[s].as_f64();
                        let sign = if y[s] == 1 { 1.0 } else { -1.0 };
                        let margin = 1.0 - sign * x;
                        total += margin.max(0.0);
                        if (x > 0.0) == (y[s] == 1) {
                            correct += 1;
                        }
                        if let Some(g) = grad.as_deref_mut() {
                            g[s] = T::of_f64(if margin > 0.0 { -sign / nb } else { 0.0 });
                        }
                    }
                } else {
                    check_labels(y, batch, d)?;
                    let c = d as f64;
                    for s in 0..batch {
                        let row = &out[s * d..(s + 1) * d];
                        let label = y[s] as usize;
                        let xy = row[label].as_f64();
                        if argmax(row) == label {
                            correct += 1;
                        }
                        let mut gy = 0.0;
                        for j in 0..d {
                            if j == label {
                                continue;
                            }
                            let m = 1.0 - xy + row[j].as_f64();
                            let active = m > 0.0;
                            if active {
                                total += m / c;
                                gy -= 1.0 / c;
                            }
                            if let Some(g) = grad.as_deref_mut() {
                                g[s * d + j] = T::of_f64(if active { 1.0 / (c * nb) } else { 0.0 });
                            }
                        }
                        if let Some(g) = grad.as_deref_mut() {
                            g[s * d + label] = T::of_f64(gy / nb);
                        }
                    }
                }
            }
            (Loss::Hinge, TargetSlice::Values(_)) => {
                return Err(Error::Value("hinge needs integer class labels".into()))
            }
        }
        Ok(LossSum {
            loss: total,
            correct,
        })
    }
}

fn check_labels(y: &[u32], batch: usize, classes: usize) -> crate::Result<()> {
    use crate::Error;
    if y.len() != batch {
        return Err(Error::Shape(format!(
            "{} labels for {batch} samples",
            y.len()
        )));
    }
    if let Some((s, &l)) = y.iter().enumerate().find(|(_, &l)| l as usize >= classes) {
        return Err(Error::Value(format!(
            "sample {s}: label {l} out of range for {classes} classes"
        )));
    }
    Ok(())
}

/// Index of the largest value (first on ties; NaN never wins).
pub fn argmax<T: Real>(row: &[T]) -> usize {
    let mut best = 0;
    for (j, x) in row.iter().enumerate() {
        if *x > row[best] || row[best].is_nan() {
            best = j;
        }
    }
    best
}
