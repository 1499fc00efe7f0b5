//! Data: built-in real sets (scikit-learn's digits, iris, wine, breast cancer, embedded in the
//! binary), synthetic 2-D and 1-D sets, user CSV/NPY files, seeded train/test splits and
//! standardisation.
//!
//! A [`Dataset`] holds features as f32, sample-major (n × d), and [`Targets`]: integer class
//! labels or real values.

pub mod builtin;
pub mod csv;
pub mod synthetic;

use crate::error::{Error, Result};
use crate::net::TargetSlice;
use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

/// What a dataset predicts.
#[derive(Clone, Debug, PartialEq)]
pub enum Targets {
    /// One integer class label per sample, each < `n_classes`.
    Classes {
        /// Labels.
        labels: Vec<u32>,
        /// Number of classes.
        n_classes: usize,
    },
    /// `dim` real targets per sample (n × dim, row-major).
    Values {
        /// Values.
        values: Vec<f32>,
        /// Targets per sample.
        dim: usize,
    },
}

impl Targets {
    /// Output width a network needs for these targets (classes: n_classes, or 1 for two
    /// classes when `binary_single_output`).
    pub fn output_dim(&self, binary_single_output: bool) -> usize {
        match self {
            Targets::Classes { n_classes, .. } if binary_single_output && *n_classes == 2 => 1,
            Targets::Classes { n_classes, .. } => *n_classes,
            Targets::Values { dim, .. } => *dim,
        }
    }
}

/// Features and targets.
#[derive(Clone, Debug, PartialEq)]
pub struct Dataset {
    /// A name for messages and metrics ("digits", a file name, ...).
    pub name: String,
    /// Samples.
    pub n: usize,
    /// Features per sample.
    pub d: usize,
    /// Features, n × d row-major.
    pub x: Vec<f32>,
    /// Targets.
    pub targets: Targets,
}

impl Dataset {
    /// Check sizes, finiteness of features and targets; the message names the sample and
    /// feature.
    pub fn validate(&self) -> Result<()> {
        if self.n == 0 {
            return Err(Error::Value(format!(
                "{}: the data set is empty",
                self.name
            )));
        }
        if self.x.len() != self.n * self.d {
            return Err(Error::Shape(format!(
                "{}: {} feature values for {} samples × {} features",
                self.name,
                self.x.len(),
                self.n,
                self.d
            )));
        }
        if let Some(k) = self.x.iter().position(|v| !v.is_finite()) {
            return Err(Error::Value(format!(
                "{}: sample {}, feature {}: value {} is not finite",
                self.name,
                k / self.d.max(1),
                k % self.d.max(1),
                self.x[k]
            )));
        }
        match &self.targets {
            Targets::Classes { labels, n_classes } => {
                if labels.len() != self.n {
                    return Err(Error::Shape(format!(
                        "{}: {} labels for {} samples",
                        self.name,
                        labels.len(),
                        self.n
                    )));
                }
                if let Some((s, l)) = labels
                    .iter()
                    .enumerate()
                    .find(|(_, &l)| l as usize >= *n_classes)
                {
                    return Err(Error::Value(format!(
                        "{}: sample {s}: label {l} out of range for {n_classes} classes",
                        self.name
                    )));
                }
            }
            Targets::Values { values, dim } => {
                if values.len() != self.n * dim {
                    return Err(Error::Shape(format!(
                        "{}: {} target values for {} samples × {dim}",
                        self.name,
                        values.len(),
                        self.n
                    )));
                }
                if let Some(k) = values.iter().position(|v| !v.is_finite()) {
                    return Err(Error::Value(format!(
                        "{}: sample {}: target {} is not finite",
                        self.name,
                        k / (*dim).max(1),
                        values[k]
                    )));
                }
            }
        }
        Ok(())
    }

    /// Targets of the samples in `idx`, gathered into `labels` or `values` (whichever applies);
    /// returns the slice view.
    pub fn gather_targets<'a>(
        &self,
        idx: &[usize],
        labels: &'a mut Vec<u32>,
        values: &'a mut Vec<f32>,
    ) -> TargetSlice<'a> {
        match &self.targets {
            Targets::Classes { labels: l, .. } => {
                labels.clear();
                labels.extend(idx.iter().map(|&i| l[i]));
                TargetSlice::Classes(labels)
            }
            Targets::Values { values: v, dim } => {
                values.clear();
                for &i in idx {
                    values.extend_from_slice(&v[i * dim..(i + 1) * dim]);
                }
                TargetSlice::Values(values)
            }
        }
    }

    /// Features of the samples in `idx` appended to `out` (cleared first).
    pub fn gather_x(&self, idx: &[usize], out: &mut Vec<f32>) {
        out.clear();
        for &i in idx {
            out.extend_from_slice(&self.x[i * self.d..(i + 1) * self.d]);
        }
    }

    /// The samples in `idx`, as a new data set.
    pub fn subset(&self, idx: &[usize], name: &str) -> Dataset {
        let mut x = Vec::with_capacity(idx.len() * self.d);
        self.gather_x(idx, &mut x);
        let targets = match &self.targets {
            Targets::Classes { labels, n_classes } => Targets::Classes {
                labels: idx.iter().map(|&i| labels[i]).collect(),
                n_classes: *n_classes,
            },
            Targets::Values { values, dim } => Targets::Values {
                values: idx
                    .iter()
                    .flat_map(|&i| values[i * dim..(i + 1) * dim].iter().copied())
                    .collect(),
                dim: *dim,
            },
        };
        Dataset {
            name: name.to_string(),
            n: idx.len(),
            d: self.d,
            x,
            targets,
        }
    }

    /// Seeded shuffled split: `test_fraction` of the samples (rounded, at least one when the
    /// fraction is positive and n ≥ 2) go to the test set. The permutation comes from
    /// ChaCha8(seed), stream 7.
    pub fn split(&self, test_fraction: f64, seed: u64) -> Result<(Dataset, Dataset)> {
        if !(0.0..1.0).contains(&test_fraction) {
            return Err(Error::Value(format!(
                "test fraction must lie in [0, 1), got {test_fraction}"
            )));
        }
        let mut idx: Vec<usize> = (0..self.n).collect();
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        rng.set_stream(7);
        idx.shuffle(&mut rng);
        let mut n_test = (self.n as f64 * test_fraction).round() as usize;
        if test_fraction > 0.0 && self.n >= 2 {
            n_test = n_test.clamp(1, self.n - 1);
        }
        let (test, train) = idx.split_at(n_test);
        Ok((
            self.subset(train, &format!("{} (train)", self.name)),
            self.subset(test, &format!("{} (test)", self.name)),
        ))
    }
}

/// Per-feature affine standardisation x' = (x − mean)/std, fitted on training data (features
/// with zero spread keep std = 1).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Standardizer {
    /// Per-feature mean.
    pub mean: Vec<f64>,
    /// Per-feature standard deviation (population).
    pub std: Vec<f64>,
}

impl Standardizer {
    /// Check it for a model of `d` inputs: `d` means and `d` spreads, every mean finite and
    /// every spread finite and > 0 (a zero spread divides by 0, a negative one flips the
    /// feature). The message names the first feature that fails.
    pub fn validate(&self, d: usize) -> std::result::Result<(), String> {
        if self.mean.len() != d || self.std.len() != d {
            return Err(format!(
                "{} means and {} spreads for a model of {d} inputs",
                self.mean.len(),
                self.std.len()
            ));
        }
        match (0..d)
            .find(|&j| !(self.mean[j].is_finite() && self.std[j].is_finite() && self.std[j] > 0.0))
        {
            Some(j) => Err(format!(
                "feature {j}: mean {}, std {} (the std must be finite and > 0)",
                self.mean[j], self.std[j]
            )),
            None => Ok(()),
        }
    }

    /// Fit on `data` (f64 accumulation).
    pub fn fit(data: &Dataset) -> Self {
        let (n, d) = (data.n.max(1) as f64, data.d);
        let mut mean = vec![0.0; d];
        for row in data.x.chunks_exact(d.max(1)) {
            for (m, &v) in mean.iter_mut().zip(row) {
                *m += v as f64;
            }
        }
        mean.iter_mut().for_each(|m| *m /= n);
        let mut var = vec![0.0; d];
        for row in data.x.chunks_exact(d.max(1)) {
            for ((s, &v), m) in var.iter_mut().zip(row).zip(&mean) {
                *s += (v as f64 - m) * (v as f64 - m);
            }
        }
        let std = var
            .iter()
            .map(|s| {
                let sd = (s / n).sqrt();
                if sd > 1e-12 {
                    sd
                } else {
                    1.0
                }
            })
            .collect();
        Standardizer { mean, std }
    }

    /// Apply in place.
    pub fn apply(&self, data: &mut Dataset) {
        let d = self.mean.len();
        if d == 0 {
            return;
        }
        for row in data.x.chunks_exact_mut(d) {
            for ((v, m), s) in row.iter_mut().zip(&self.mean).zip(&self.std) {
                *v = ((*v as f64 - m) / s) as f32;
            }
        }
    }
}

/// Names of every built-in data set (real and synthetic), for `--dataset`.
pub const DATASET_NAMES: [&str; 11] = [
    "digits",
    "iris",
    "wine",
    "breast_cancer",
    "moons",
    "circles",
    "spirals",
    "xor",
    "checkerboard",
    "abs",
    "sin",
];

/// A built-in data set by name: real ones are embedded; synthetic ones are drawn with `seed`
/// (`n` samples, noise `noise`; `None` picks each set's default).
pub fn by_name(name: &str, seed: u64, n: Option<usize>, noise: Option<f64>) -> Result<Dataset> {
    use synthetic as s;
    let ds = match name {
        "digits" => builtin::digits()?,
        "iris" => builtin::iris()?,
        "wine" => builtin::wine()?,
        "breast_cancer" => builtin::breast_cancer()?,
        "moons" => s::two_moons(n.unwrap_or(400), noise.unwrap_or(0.1), seed),
        "circles" => s::circles(n.unwrap_or(400), noise.unwrap_or(0.05), 0.5, seed),
        "spirals" => s::spirals(n.unwrap_or(400), noise.unwrap_or(0.05), seed),
        "xor" => s::xor(n.unwrap_or(400), noise.unwrap_or(0.1), seed),
        "checkerboard" => s::checkerboard(n.unwrap_or(800), 4, seed),
        "abs" => s::target_1d(
            n.unwrap_or(256),
            noise.unwrap_or(0.0),
            s::Target1d::Abs,
            seed,
        ),
        "sin" => s::target_1d(
            n.unwrap_or(256),
            noise.unwrap_or(0.0),
            s::Target1d::Sin,
            seed,
        ),
        _ => {
            return Err(Error::Value(format!(
                "unknown dataset '{name}'; expected one of {}",
                DATASET_NAMES.join(", ")
            )))
        }
    };
    Ok(ds)
}
