//! Regression surrogates (issue 13): a ReLU network trained on standardised inputs *and*
//! targets, saved as a relulab checkpoint with a `surrogate` metadata entry holding both
//! standardisations, the column names and the box of the training inputs (the default bounds
//! of `relulab optimize`). Checkpoints without the entry load as before; their input
//! standardisation (if any) comes from the training state and the targets are unscaled.

use super::Scaling;
use crate::data::{Dataset, Targets};
use crate::error::{Error, Result};
use crate::io::checkpoint::{self, Checkpoint};
use crate::net::{Loss, Mlp};
use crate::train::{TrainSpec, Trainer};
use serde::{Deserialize, Serialize};
use std::path::Path;

/// The metadata key.
pub const META_KEY: &str = "surrogate";

/// What a surrogate checkpoint records besides the weights.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SurrogateMeta {
    /// Input and target standardisation (the network sees s = (x − μₓ)/σₓ and predicts
    /// ŷ = (y − μ_y)/σ_y).
    pub scaling: Scaling,
    /// Smallest training input per feature (user units).
    pub input_lo: Vec<f64>,
    /// Largest training input per feature.
    pub input_hi: Vec<f64>,
    /// Input column names.
    pub input_names: Vec<String>,
    /// Output column names.
    pub output_names: Vec<String>,
}

/// A model loaded for optimisation: the network, its scaling and what is known of its data.
#[derive(Clone, Debug)]
pub struct Loaded {
    /// The network.
    pub mlp: Mlp<f32>,
    /// User units ↔ network units.
    pub scaling: Scaling,
    /// The training box, when recorded.
    pub input_box: Option<(Vec<f64>, Vec<f64>)>,
    /// Input names (may be empty).
    pub input_names: Vec<String>,
    /// Output names (may be empty).
    pub output_names: Vec<String>,
}

/// Load any model `io::load_model` reads; a relulab checkpoint contributes its `surrogate`
/// entry or, without one, its training state's input standardisation.
pub fn load(path: &Path) -> Result<Loaded> {
    let is_ck =
        path.extension().is_some_and(|e| e == "safetensors") && checkpoint::is_checkpoint(path)?;
    if !is_ck {
        let mlp = crate::verify::load_network(path)?;
        let scaling = Scaling::identity(mlp.input_dim(), mlp.output_dim());
        return Ok(Loaded {
            mlp,
            scaling,
            input_box: None,
            input_names: Vec::new(),
            output_names: Vec::new(),
        });
    }
    let ck = checkpoint::load_full(path)?;
    let (d, m) = (ck.mlp.input_dim(), ck.mlp.output_dim());
    if let Some(text) = checkpoint::metadata_entry(path, META_KEY)? {
        let meta: SurrogateMeta = serde_json::from_str(&text)
            .map_err(|e| Error::format(path.display(), "metadata 'surrogate'", e.to_string()))?;
        meta.scaling
            .validate(d, m)
            .map_err(|e| Error::format(path.display(), "metadata 'surrogate'", e.to_string()))?;
        if meta.input_lo.len() != d || meta.input_hi.len() != d {
            return Err(Error::format(
                path.display(),
                "metadata 'surrogate'",
                format!(
                    "input box of width {} for a model with {d} inputs",
                    meta.input_lo.len()
                ),
            ));
        }
        return Ok(Loaded {
            mlp: ck.mlp,
            scaling: meta.scaling,
            input_box: Some((meta.input_lo, meta.input_hi)),
            input_names: meta.input_names,
            output_names: meta.output_names,
        });
    }
    let mut scaling = Scaling::identity(d, m);
    // (`load_full` checked it: d finite means and positive spreads.)
    if let Some(st) = ck.train.as_ref().and_then(|t| t.standardizer.as_ref()) {
        scaling.x_mean = st.mean.clone();
        scaling.x_std = st.std.clone();
    }
    Ok(Loaded {
        mlp: ck.mlp,
        scaling,
        input_box: None,
        input_names: Vec::new(),
        output_names: Vec::new(),
    })
}

/// Save a surrogate checkpoint (atomically).
pub fn save(path: &Path, mlp: &Mlp<f32>, meta: &SurrogateMeta) -> Result<()> {
    let ck = Checkpoint {
        mlp: mlp.clone(),
        train: None,
    };
    let text = serde_json::to_string(meta).map_err(|e| Error::Output(e.to_string()))?;
    checkpoint::save_with_metadata(path, &ck, &[(META_KEY, text)])
}

/// A table of numbers with a header: column names and rows.
#[derive(Clone, Debug)]
pub struct Table {
    /// Column names.
    pub names: Vec<String>,
    /// Rows (each of `names.len()` values).
    pub rows: Vec<Vec<f64>>,
}

/// Read a CSV file whose first line names the columns; every other cell is a finite number
/// (errors at line and column).
pub fn read_table(path: &Path) -> Result<Table> {
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    let mut rd = ::csv::ReaderBuilder::new()
        .has_headers(true)
        .trim(::csv::Trim::All)
        .comment(Some(b'#'))
        .from_reader(bytes.as_slice());
    let names: Vec<String> = rd
        .headers()
        .map_err(|e| Error::format(path.display(), "line 1", e.to_string()))?
        .iter()
        .map(|s| s.to_string())
        .collect();
    let mut rows = Vec::new();
    for rec in rd.records() {
        let rec = rec.map_err(|e| {
            let line = e.position().map_or(0, |p| p.line());
            Error::format(path.display(), format!("line {line}"), e.to_string())
        })?;
        let line = rec.position().map_or(0, |p| p.line());
        if rec.len() != names.len() {
            return Err(Error::format(
                path.display(),
                format!("line {line}"),
                format!("{} fields, the header has {}", rec.len(), names.len()),
            ));
        }
        let mut row = Vec::with_capacity(rec.len());
        for (c, f) in rec.iter().enumerate() {
            match f.parse::<f64>() {
                Ok(v) if v.is_finite() => row.push(v),
                _ => {
                    return Err(Error::format(
                        path.display(),
                        format!("line {line}, column {} ({})", c + 1, names[c]),
                        format!("'{f}' is not a finite number"),
                    ))
                }
            }
        }
        rows.push(row);
    }
    if rows.is_empty() {
        return Err(Error::format(path.display(), "line 2", "no data rows"));
    }
    Ok(Table { names, rows })
}

/// Resolve a column list: comma-separated indices, ranges `a-b` (inclusive) or names.
pub fn columns(spec: &str, names: &[String]) -> Result<Vec<usize>> {
    let mut out = Vec::new();
    for item in spec.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        if let Some(i) = names.iter().position(|n| n == item) {
            out.push(i);
            continue;
        }
        let parse = |s: &str| -> Result<usize> {
            let i: usize = s
                .trim()
                .parse()
                .map_err(|_| Error::Value(format!("column '{s}': not a column name or index")))?;
            if i >= names.len() {
                return Err(Error::Shape(format!(
                    "column {i}: the file has {} columns (0..{})",
                    names.len(),
                    names.len() - 1
                )));
            }
            Ok(i)
        };
        match item.split_once('-') {
            Some((a, b)) if !a.trim().is_empty() => {
                let (a, b) = (parse(a)?, parse(b)?);
                if a > b {
                    return Err(Error::Value(format!("column range {item} is empty")));
                }
                out.extend(a..=b);
            }
            _ => out.push(parse(item)?),
        }
    }
    if out.is_empty() {
        return Err(Error::Value(format!("no columns in '{spec}'")));
    }
    Ok(out)
}

/// Training settings of [`fit`].
#[derive(Clone, Debug)]
pub struct FitSpec {
    /// Hidden widths (ReLU).
    pub hidden: Vec<usize>,
    /// Epochs.
    pub epochs: usize,
    /// Adam learning rate.
    pub lr: f64,
    /// Minibatch size.
    pub batch_size: usize,
    /// Seed.
    pub seed: u64,
    /// Hidden activation.
    pub activation: String,
}

impl Default for FitSpec {
    fn default() -> Self {
        FitSpec {
            hidden: vec![10, 10, 10, 10],
            epochs: 100,
            lr: 1e-3,
            batch_size: 32,
            seed: 0,
            activation: "relu".into(),
        }
    }
}

/// Mean and population standard deviation of each column (std 1 for a constant column).
fn moments(rows: &[Vec<f64>]) -> (Vec<f64>, Vec<f64>) {
    let d = rows.first().map_or(0, Vec::len);
    let n = rows.len().max(1) as f64;
    let mut mean = vec![0.0; d];
    for r in rows {
        for (m, v) in mean.iter_mut().zip(r) {
            *m += v;
        }
    }
    mean.iter_mut().for_each(|m| *m /= n);
    let mut var = vec![0.0; d];
    for r in rows {
        for ((s, v), m) in var.iter_mut().zip(r).zip(&mean) {
            *s += (v - m) * (v - m);
        }
    }
    let std = var
        .iter()
        .map(|s| {
            let sd = (s / n).sqrt();
            if sd > 1e-12 * (1.0 + mean.iter().fold(0.0f64, |a, m| a.max(m.abs()))) {
                sd
            } else {
                1.0
            }
        })
        .collect();
    (mean, std)
}

/// Train a surrogate on inputs `x` and targets `y` (rows): standardise both, train an MLP with
/// MSE and Adam on every row, and return it with its metadata and the final training MSE in
/// standardised units.
pub fn fit(
    x: &[Vec<f64>],
    y: &[Vec<f64>],
    input_names: Vec<String>,
    output_names: Vec<String>,
    spec: &FitSpec,
) -> Result<(Mlp<f32>, SurrogateMeta, f64)> {
    if x.is_empty() || x.len() != y.len() {
        return Err(Error::Shape(
            "surrogate: no data, or inputs and targets of different lengths".into(),
        ));
    }
    let (d, m) = (x[0].len(), y[0].len());
    let (xm, xs) = moments(x);
    let (ym, ys) = moments(y);
    let mut lo = vec![f64::INFINITY; d];
    let mut hi = vec![f64::NEG_INFINITY; d];
    for r in x {
        for j in 0..d {
            lo[j] = lo[j].min(r[j]);
            hi[j] = hi[j].max(r[j]);
        }
    }
    let xf: Vec<f32> = x
        .iter()
        .flat_map(|r| {
            (0..d)
                .map(|j| ((r[j] - xm[j]) / xs[j]) as f32)
                .collect::<Vec<_>>()
        })
        .collect();
    let yf: Vec<f32> = y
        .iter()
        .flat_map(|r| {
            (0..m)
                .map(|j| ((r[j] - ym[j]) / ys[j]) as f32)
                .collect::<Vec<_>>()
        })
        .collect();
    let data = Dataset {
        name: "surrogate".into(),
        n: x.len(),
        d,
        x: xf,
        targets: Targets::Values { values: yf, dim: m },
    };
    data.validate()?;
    let ts = TrainSpec {
        hidden: spec.hidden.clone(),
        activation: spec.activation.clone(),
        lr: spec.lr,
        batch_size: spec.batch_size,
        epochs: spec.epochs,
        seed: spec.seed,
        loss: Some(Loss::Mse),
        test_fraction: 0.0,
        ..TrainSpec::default()
    };
    let mlp = ts.build_model(d, &data.targets, Loss::Mse)?;
    let mut trainer = Trainer::new(mlp, ts.train_config(Loss::Mse)?);
    let metrics = trainer.run(&data, None, &mut [], |_, _| Ok(()))?;
    let mse = metrics.last().map_or(f64::NAN, |m| m.train_loss);
    let meta = SurrogateMeta {
        scaling: Scaling {
            x_mean: xm,
            x_std: xs,
            y_mean: ym,
            y_std: ys,
        },
        input_lo: lo,
        input_hi: hi,
        input_names,
        output_names,
    };
    Ok((trainer.mlp, meta, mse))
}
