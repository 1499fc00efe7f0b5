//! The claims of the seed document's "原理与机制" (Principles and Mechanisms) section, each an
//! experiment that measures and compares with what the seed says.
//!
//! Every expected value is a closed form (1/√(2π), 1/(2√π), √2, 0.25, a^L, ½, exactly 0
//! updates) or a bound derived in the claim's comment, never a number recorded from a previous
//! run. Each check states its tolerance. Experiments run in f64 on the reference passes with
//! plain SGD (W ← W − η·∂L/∂W), which is exactly the setting the claims are about.

mod dying;
mod gaussian;
mod geometry;
mod gradient;
pub mod util;

pub use gradient::layer_gradient_norms;

use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use std::time::Instant;

/// The number of claims.
pub const CLAIM_COUNT: u32 = 11;

/// One measured quantity compared with its expected value.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Check {
    /// What was measured.
    pub name: String,
    /// The measured value.
    pub measured: f64,
    /// What the claim predicts, with the tolerance ("= 0.398942 ± 1e-10", "≤ 0.25", "= 0").
    pub expected: String,
    /// Whether the measurement agrees.
    pub pass: bool,
}

impl Check {
    /// |measured − expected| ≤ tol.
    pub fn close(name: impl Into<String>, measured: f64, expected: f64, tol: f64) -> Self {
        Check {
            name: name.into(),
            measured,
            expected: format!("= {expected:.6e} ± {tol:.1e}"),
            pass: (measured - expected).abs() <= tol,
        }
    }
    /// measured ≤ bound.
    pub fn at_most(name: impl Into<String>, measured: f64, bound: f64) -> Self {
        Check {
            name: name.into(),
            measured,
            expected: format!("≤ {bound:.6e}"),
            pass: measured <= bound,
        }
    }
    /// measured ≥ bound.
    pub fn at_least(name: impl Into<String>, measured: f64, bound: f64) -> Self {
        Check {
            name: name.into(),
            measured,
            expected: format!("≥ {bound:.6e}"),
            pass: measured >= bound,
        }
    }
    /// measured == expected exactly (bit-for-bit; used for "exactly 0").
    pub fn exact(name: impl Into<String>, measured: f64, expected: f64) -> Self {
        Check {
            name: name.into(),
            measured,
            expected: format!("= {expected} exactly"),
            pass: measured == expected,
        }
    }
}

/// A named series for plots (x, y), e.g. gradient norm per layer.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Series {
    /// Legend label.
    pub name: String,
    /// Abscissae.
    pub x: Vec<f64>,
    /// Ordinates.
    pub y: Vec<f64>,
}

/// The outcome of one claim's experiment.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ClaimOutcome {
    /// Claim number (1-based, the order of the seed's section).
    pub id: u32,
    /// Short title.
    pub title: String,
    /// What the seed says, in English.
    pub seed_says: String,
    /// The measurements.
    pub checks: Vec<Check>,
    /// True when every check passes.
    pub pass: bool,
    /// Wall time of the experiment in seconds.
    pub seconds: f64,
    /// Series for plots (may be empty).
    pub series: Vec<Series>,
}

pub(crate) struct Draft {
    title: &'static str,
    seed_says: &'static str,
    checks: Vec<Check>,
    series: Vec<Series>,
}

impl Draft {
    pub(crate) fn new(title: &'static str, seed_says: &'static str) -> Self {
        Draft {
            title,
            seed_says,
            checks: Vec::new(),
            series: Vec::new(),
        }
    }
    pub(crate) fn check(&mut self, c: Check) {
        self.checks.push(c);
    }
    pub(crate) fn series(&mut self, name: impl Into<String>, x: Vec<f64>, y: Vec<f64>) {
        self.series.push(Series {
            name: name.into(),
            x,
            y,
        });
    }
}

/// Run claim `id` (1..=11) with the given seed.
pub fn run_claim(id: u32, seed: u64) -> crate::Result<ClaimOutcome> {
    let start = Instant::now();
    let draft = match id {
        1 => gaussian::claim1(seed),
        2 => gradient::claim2(seed),
        3 => geometry::claim3(seed),
        4 => geometry::claim4(seed),
        5 => geometry::claim5(seed),
        6 => dying::claim6(seed),
        7 => dying::claim7(seed),
        8 => gradient::claim8(seed),
        9 => dying::claim9(seed),
        10 => dying::claim10(seed),
        11 => dying::claim11(seed),
        _ => {
            return Err(crate::Error::Value(format!(
                "claim {id} does not exist; claims are numbered 1 to {CLAIM_COUNT}"
            )))
        }
    };
    let pass = !draft.checks.is_empty() && draft.checks.iter().all(|c| c.pass);
    Ok(ClaimOutcome {
        id,
        title: draft.title.to_string(),
        seed_says: draft.seed_says.to_string(),
        checks: draft.checks,
        pass,
        seconds: start.elapsed().as_secs_f64(),
        series: draft.series,
    })
}

/// Run the given claims (all when `ids` is empty) in parallel; results in the order asked.
/// Each experiment seeds its own streams, so the outcome does not depend on the thread count.
pub fn run_claims(ids: &[u32], seed: u64) -> crate::Result<Vec<ClaimOutcome>> {
    let ids: Vec<u32> = if ids.is_empty() {
        (1..=CLAIM_COUNT).collect()
    } else {
        ids.to_vec()
    };
    ids.par_iter().map(|&id| run_claim(id, seed)).collect()
}

/// A text table of outcomes: one block per claim, one line per check.
pub fn format_outcomes(outcomes: &[ClaimOutcome]) -> String {
    let mut s = String::new();
    for o in outcomes {
        s.push_str(&format!(
            "[{}] claim {:>2}: {} ({:.2} s)\n      seed: {}\n",
            if o.pass { "PASS" } else { "FAIL" },
            o.id,
            o.title,
            o.seconds,
            o.seed_says
        ));
        for c in &o.checks {
            s.push_str(&format!(
                "      {} {:<58} measured {:>13.6e}   expected {}\n",
                if c.pass { "ok " } else { "BAD" },
                c.name,
                c.measured,
                c.expected
            ));
        }
        // Short series (per-layer gradient norms, dead fraction every 100 steps) are shown too.
        for ser in o.series.iter().filter(|s| s.y.len() <= 12) {
            let ys: Vec<String> = ser.y.iter().map(|v| format!("{v:.3e}")).collect();
            s.push_str(&format!("      {}: {}\n", ser.name, ys.join(" ")));
        }
    }
    let passed = outcomes.iter().filter(|o| o.pass).count();
    s.push_str(&format!("{passed}/{} claims pass\n", outcomes.len()));
    s
}
