//! Sweeps: many small independent trainings (configurations × seeds) run in parallel across
//! cores, one single-threaded deterministic run per task, results as JSON lines.
//!
//! Runs are numbered configuration-major: run k has configuration k / |seeds| (the cartesian
//! product of the grid axes in key order, last axis fastest) and seed k mod |seeds|. With
//! `--shard I/N` a process runs the k with k mod N = I; concatenating every shard's lines and
//! sorting by `index` gives exactly the lines of the unsharded sweep.

use super::{TrainSpec, Trainer};
use crate::error::{Error, Result};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::time::Instant;

/// A sweep: a base run, axes to vary (any [`TrainSpec`] field, values as JSON/TOML values)
/// and seeds.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SweepSpec {
    /// The run every configuration starts from.
    pub base: TrainSpec,
    /// Field name → values.
    pub grid: BTreeMap<String, Vec<serde_json::Value>>,
    /// Seeds (each configuration runs once per seed); empty means the base seed.
    pub seeds: Vec<u64>,
}

/// One finished (or failed) run of a sweep.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunResult {
    /// Run number in the whole sweep.
    pub index: usize,
    /// The seed.
    pub seed: u64,
    /// The grid values of this run.
    pub config: BTreeMap<String, serde_json::Value>,
    /// Epochs completed.
    pub epochs: usize,
    /// Final training loss.
    pub train_loss: Option<f64>,
    /// Final training accuracy.
    pub train_accuracy: Option<f64>,
    /// Final test loss.
    pub test_loss: Option<f64>,
    /// Final test accuracy.
    pub test_accuracy: Option<f64>,
    /// Wall-clock seconds of the run.
    pub seconds: f64,
    /// Why the run failed (diverged, bad configuration), if it did.
    pub error: Option<String>,
}

impl SweepSpec {
    /// Number of runs.
    pub fn len(&self) -> usize {
        self.grid.values().map(Vec::len).product::<usize>() * self.seeds.len().max(1)
    }

    /// True when there is nothing to run.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The grid values and seed of run `index`.
    pub fn run_point(&self, index: usize) -> (BTreeMap<String, serde_json::Value>, u64) {
        let n_seeds = self.seeds.len().max(1);
        let seed = self
            .seeds
            .get(index % n_seeds)
            .copied()
            .unwrap_or(self.base.seed);
        let mut c = index / n_seeds;
        let mut point = BTreeMap::new();
        for (k, vals) in self.grid.iter().rev() {
            point.insert(k.clone(), vals[c % vals.len()].clone());
            c /= vals.len();
        }
        (point, seed)
    }

    /// The full specification of run `index` (threads forced to 1).
    pub fn run_spec(&self, index: usize) -> Result<TrainSpec> {
        let (point, seed) = self.run_point(index);
        let mut v = serde_json::to_value(&self.base).expect("serialisable");
        let obj = v.as_object_mut().expect("a struct");
        for (k, val) in &point {
            if !obj.contains_key(k) {
                return Err(Error::Value(format!("sweep grid: unknown field '{k}'")));
            }
            obj.insert(k.clone(), val.clone());
        }
        obj.insert("seed".into(), seed.into());
        obj.insert("threads".into(), 1.into());
        serde_json::from_value(v).map_err(|e| Error::Value(format!("sweep grid {point:?}: {e}")))
    }

    /// Check that every grid value fits its field (before starting any run).
    pub fn validate(&self) -> Result<()> {
        if let Some((k, _)) = self.grid.iter().find(|(_, v)| v.is_empty()) {
            return Err(Error::Value(format!("sweep grid: '{k}' has no values")));
        }
        for (k, vals) in &self.grid {
            for (i, _) in vals.iter().enumerate() {
                // Build a spec varying only this value.
                let mut probe = self.clone();
                probe.grid = BTreeMap::from([(k.clone(), vec![vals[i].clone()])]);
                probe.seeds.clear();
                probe.run_spec(0)?;
            }
        }
        Ok(())
    }

    /// Run the runs of shard `shard` of `shards` (all when shards = 1) on rayon's pool;
    /// results in index order.
    pub fn run(&self, shard: usize, shards: usize) -> Result<Vec<RunResult>> {
        if shards == 0 || shard >= shards {
            return Err(Error::Value(format!(
                "shard {shard}/{shards}: need 0 ≤ I < N"
            )));
        }
        self.validate()?;
        let idx: Vec<usize> = (0..self.len()).filter(|k| k % shards == shard).collect();
        Ok(idx.par_iter().map(|&k| self.run_one(k)).collect())
    }

    /// Run number `index` alone (deterministic: same bits whatever else runs).
    pub fn run_one(&self, index: usize) -> RunResult {
        let (config, seed) = self.run_point(index);
        let t0 = Instant::now();
        let mut r = RunResult {
            index,
            seed,
            config,
            epochs: 0,
            train_loss: None,
            train_accuracy: None,
            test_loss: None,
            test_accuracy: None,
            seconds: 0.0,
            error: None,
        };
        let outcome = (|| -> Result<Vec<super::EpochMetrics>> {
            let spec = self.run_spec(index)?;
            let p = spec.prepare()?;
            let mut t = Trainer::new(p.mlp, p.config);
            t.run(&p.train, p.test.as_ref(), &mut [], |_, _| Ok(()))
        })();
        match outcome {
            Ok(m) => {
                if let Some(last) = m.last() {
                    r.epochs = last.epoch;
                    r.train_loss = Some(last.train_loss);
                    r.train_accuracy = last.train_accuracy;
                    r.test_loss = last.test_loss;
                    r.test_accuracy = last.test_accuracy;
                }
            }
            Err(e) => r.error = Some(e.to_string()),
        }
        r.seconds = t0.elapsed().as_secs_f64();
        r
    }
}

/// Parse `I/N`.
pub fn parse_shard(s: &str) -> Result<(usize, usize)> {
    let bad = || Error::Value(format!("--shard {s}: expected I/N with 0 ≤ I < N"));
    let (i, n) = s.split_once('/').ok_or_else(bad)?;
    let (i, n): (usize, usize) = (
        i.trim().parse().map_err(|_| bad())?,
        n.trim().parse().map_err(|_| bad())?,
    );
    if n == 0 || i >= n {
        return Err(bad());
    }
    Ok((i, n))
}
