//! The loss whose gradients a diagnosis reports (gradient flow needs one).

use crate::error::{Error, Result};
use crate::real::Real;

/// What ∂L/∂(output) to back-propagate for gradient-flow statistics. Losses are means over
/// the whole data set, so gradients summed over batches are the data set's mean-loss gradient.
#[derive(Clone, Copy, Debug)]
pub enum Objective<'a> {
    /// No backward pass: no gradient statistics.
    None,
    /// Mean squared error ½·mean_s ‖y_s − t_s‖² against targets (n × d_out, row-major).
    Mse(&'a [f64]),
    /// Softmax cross-entropy mean_s −log softmax(y_s)_{c_s} against class labels.
    CrossEntropy(&'a [usize]),
}

impl Objective<'_> {
    /// Check the targets fit `n` samples with `d_out` outputs.
    pub fn check(&self, n: usize, d_out: usize) -> Result<()> {
        match *self {
            Objective::None => Ok(()),
            Objective::Mse(t) if t.len() != n * d_out => Err(Error::Shape(format!(
                "targets: {} values, expected {n} samples × {d_out} outputs",
                t.len()
            ))),
            Objective::CrossEntropy(c) => {
                if c.len() != n {
                    return Err(Error::Shape(format!(
                        "labels: {} values, expected {n}",
                        c.len()
                    )));
                }
                if let Some((i, &bad)) = c.iter().enumerate().find(|(_, &v)| v >= d_out) {
                    return Err(Error::Value(format!(
                        "label of sample {i} is {bad}, but the network has {d_out} outputs"
                    )));
                }
                Ok(())
            }
            Objective::Mse(_) => Ok(()),
        }
    }

    /// ∂L/∂(output) for samples `start..start+b` of the data set, given their outputs
    /// (b × d_out); `None` for [`Objective::None`].
    pub fn grad_output<T: Real>(
        &self,
        out: &[T],
        start: usize,
        b: usize,
        d_out: usize,
    ) -> Option<Vec<T>> {
        match *self {
            Objective::None => None,
            Objective::Mse(t) => {
                let n = (t.len() / d_out.max(1)).max(1) as f64;
                let t = &t[start * d_out..(start + b) * d_out];
                Some(
                    out.iter()
                        .zip(t)
                        .map(|(y, t)| T::of_f64((y.as_f64() - t) / n))
                        .collect(),
                )
            }
            Objective::CrossEntropy(c) => {
                let n = c.len().max(1) as f64;
                let mut g = vec![T::zero(); b * d_out];
                for s in 0..b {
                    let row = &out[s * d_out..(s + 1) * d_out];
                    let m = row
                        .iter()
                        .map(|v| v.as_f64())
                        .fold(f64::NEG_INFINITY, f64::max);
                    let e: Vec<f64> = row.iter().map(|v| (v.as_f64() - m).exp()).collect();
                    let z: f64 = e.iter().sum();
                    for j in 0..d_out {
                        let p = e[j] / z;
                        let y = if c[start + s] == j { 1.0 } else { 0.0 };
                        g[s * d_out + j] = T::of_f64((p - y) / n);
                    }
                }
                Some(g)
            }
        }
    }
}
