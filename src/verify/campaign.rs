//! Benchmark campaigns in the VNN-COMP layout: a CSV of `onnx,vnnlib,timeout` (paths relative
//! to the CSV; an optional fourth column `expected` and an optional header line), run instance
//! by instance (each instance's branch and bound is parallel), with a results CSV and a summary.

use super::bab::{verify, Outcome, Verdict, VerifyOptions};
use super::{load_network, load_vnnlib};
use crate::error::{Error, Result};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// One benchmark instance.
#[derive(Clone, Debug, PartialEq)]
pub struct Instance {
    /// The model file.
    pub model: PathBuf,
    /// The property file.
    pub property: PathBuf,
    /// Time limit in seconds.
    pub timeout: f64,
    /// The known answer, when the CSV has a fourth column.
    pub expected: Option<String>,
}

/// The project's shared folder holding `benchmarks/vnncomp2021` (read in place, never
/// copied): `$RELULAB_SHARED`, else `<crate>/../shared`; `None` when neither
/// has it (tests and benchmarks that need it then skip).
pub fn shared_benchmarks_root() -> Option<PathBuf> {
    let mut c: Vec<PathBuf> = Vec::new();
    if let Some(p) = std::env::var_os("RELULAB_SHARED") {
        c.push(PathBuf::from(p));
    }
    c.push(PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../shared"
    )));
    c.into_iter()
        .find(|p| p.join("benchmarks/vnncomp2021").is_dir())
}

/// Read an instances CSV. Errors name the file and line.
pub fn read_instances(csv: &Path) -> Result<Vec<Instance>> {
    let text = std::fs::read_to_string(csv).map_err(|e| Error::io(csv, e))?;
    let dir = csv.parent().unwrap_or(Path::new("."));
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let f: Vec<&str> = line.split(',').map(str::trim).collect();
        let loc = format!("line {}", n + 1);
        if f.len() < 3 || f.len() > 4 {
            return Err(Error::format(
                csv.display(),
                loc,
                "expected onnx,vnnlib,timeout[,expected]",
            ));
        }
        let timeout = match f[2].parse::<f64>() {
            Ok(t) if super::time_limit(t, false).is_some() => t,
            _ if n == 0
                && (f[0].eq_ignore_ascii_case("onnx")
                    || f[2].to_ascii_lowercase().starts_with("timeout")) =>
            {
                continue; // header
            }
            _ => {
                return Err(Error::format(
                    csv.display(),
                    loc,
                    format!(
                        "timeout '{}' is not a positive number of seconds, at most {:e}",
                        f[2],
                        super::MAX_SECONDS
                    ),
                ))
            }
        };
        let expected = f.get(3).map(|s| s.to_string());
        if let Some(e) = &expected {
            if !matches!(e.as_str(), "sat" | "unsat" | "unknown" | "timeout" | "") {
                return Err(Error::format(
                    csv.display(),
                    loc,
                    format!("expected answer '{e}' is not sat/unsat"),
                ));
            }
        }
        out.push(Instance {
            model: dir.join(f[0]),
            property: dir.join(f[1]),
            timeout,
            expected,
        });
    }
    Ok(out)
}

/// Instances of shard `i` of `n` (1-based, round robin: instance k goes to shard k mod n + 1).
pub fn shard(instances: Vec<Instance>, i: usize, n: usize) -> Vec<Instance> {
    instances
        .into_iter()
        .enumerate()
        .filter(|(k, _)| k % n + 1 == i)
        .map(|(_, x)| x)
        .collect()
}

/// The outcome of one instance.
#[derive(Clone, Debug)]
pub struct InstanceResult {
    /// The instance.
    pub instance: Instance,
    /// What the verifier answered, or the error that stopped it.
    pub outcome: std::result::Result<Outcome, String>,
}

impl InstanceResult {
    /// `sat`, `unsat`, `timeout`, `unknown` or `error`.
    pub fn answer(&self) -> &'static str {
        match &self.outcome {
            Ok(o) => o.verdict.as_str(),
            Err(_) => "error",
        }
    }

    /// True when the answer contradicts a known `sat`/`unsat`.
    pub fn is_wrong(&self) -> bool {
        matches!(
            (self.instance.expected.as_deref(), self.answer()),
            (Some("sat"), "unsat") | (Some("unsat"), "sat")
        )
    }
}

/// Run one instance.
pub fn run_instance(inst: &Instance, opts: &VerifyOptions) -> InstanceResult {
    let outcome = (|| -> Result<Outcome> {
        let mlp = load_network(&inst.model)?;
        let prop = load_vnnlib(&inst.property)?;
        let mut o = opts.clone();
        o.timeout = Duration::from_secs_f64(inst.timeout);
        verify(&mlp, &prop, &o)
    })()
    .map_err(|e| e.to_string());
    InstanceResult {
        instance: inst.clone(),
        outcome,
    }
}

/// Counts and times over a campaign.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Summary {
    /// Instances run.
    pub total: usize,
    /// `sat` answers.
    pub sat: usize,
    /// `unsat` answers.
    pub unsat: usize,
    /// Timeouts.
    pub timeouts: usize,
    /// `unknown` answers and errors.
    pub other: usize,
    /// Answers contradicting the expected column.
    pub wrong: usize,
    /// Total seconds over all instances.
    pub total_s: f64,
    /// Median seconds per instance.
    pub median_s: f64,
}

impl Summary {
    /// Summarise results.
    pub fn of(results: &[InstanceResult]) -> Self {
        let mut s = Summary {
            total: results.len(),
            ..Default::default()
        };
        let mut times = Vec::new();
        for r in results {
            match &r.outcome {
                Ok(o) => {
                    times.push(o.seconds);
                    match o.verdict {
                        Verdict::Sat => s.sat += 1,
                        Verdict::Unsat => s.unsat += 1,
                        Verdict::Timeout => s.timeouts += 1,
                        Verdict::Unknown => s.other += 1,
                    }
                }
                Err(_) => s.other += 1,
            }
            s.wrong += r.is_wrong() as usize;
        }
        s.total_s = times.iter().sum();
        times.sort_by(f64::total_cmp);
        s.median_s = match times.len() {
            0 => 0.0,
            n if n % 2 == 1 => times[n / 2],
            n => (times[n / 2 - 1] + times[n / 2]) / 2.0,
        };
        s
    }

    /// One-line text form.
    pub fn line(&self) -> String {
        format!(
            "solved {}/{} (sat {}, unsat {}), timeouts {}, other {}, wrong {}; total {:.2} s, median {:.3} s",
            self.sat + self.unsat,
            self.total,
            self.sat,
            self.unsat,
            self.timeouts,
            self.other,
            self.wrong,
            self.total_s,
            self.median_s
        )
    }
}

/// Write the results CSV atomically (temporary file in the same folder, fsync, rename):
/// `model,property,expected,answer,seconds,strategy,domains,witness_or_error`.
pub fn write_results(path: &Path, results: &[InstanceResult]) -> Result<()> {
    let mut text = String::from("model,property,expected,answer,seconds,strategy,domains,detail\n");
    for r in results {
        let (secs, strategy, doms, detail) = match &r.outcome {
            Ok(o) => (
                format!("{:.4}", o.seconds),
                o.strategy.as_str(),
                o.domains.to_string(),
                o.witness.as_ref().map(|w| w.vnncomp()).unwrap_or_default(),
            ),
            Err(e) => (
                String::new(),
                "",
                String::new(),
                format!("\"{}\"", e.replace('"', "'")),
            ),
        };
        text.push_str(&format!(
            "{},{},{},{},{},{},{},{}\n",
            r.instance.model.display(),
            r.instance.property.display(),
            r.instance.expected.as_deref().unwrap_or(""),
            r.answer(),
            secs,
            strategy,
            doms,
            detail
        ));
    }
    write_atomic(path, text.as_bytes())
}

pub use crate::io::checkpoint::write_atomic;
