//! One `relulab reach` run as a whole (enclosures, simulated boxes, safety query, exact sets)
//! and its JSON form, shared by the command line's `--json` and the Python binding.

use super::enclose::{reach, simulated_boxes_until, tightness, Reach, ReachOptions};
use super::exact::{exact_sets, ExactSets};
use super::safety::{decide_until, Answer, Query};
use super::{unroll, ClosedLoop};
use crate::error::Result;
use std::time::Duration;

/// Everything one reach run computes.
pub struct Report {
    /// The enclosures.
    pub reach: Reach,
    /// Simulated (true) boxes per step, k = 0..=N.
    pub truth: Vec<(Vec<f64>, Vec<f64>)>,
    /// The safety query's answer and seconds.
    pub safety: Option<(Answer, f64)>,
    /// The exact sets (2-D states).
    pub exact: Option<ExactSets>,
    /// Simulated trajectories behind `truth`.
    pub true_samples: usize,
}

/// Run the enclosures of `opts` (steps, seed, ...), `true_samples` simulated trajectories for
/// the true boxes, the safety `query` (within `query_limit`) and, if `exact`, the exact sets.
/// Stops with [`crate::Error::Cancelled`] once `opts.cancel` is set.
pub fn run(
    cl: &ClosedLoop,
    opts: &ReachOptions,
    true_samples: usize,
    query: Option<&Query>,
    query_limit: Duration,
    exact: bool,
) -> Result<Report> {
    let steps = opts.steps;
    let un = unroll(cl, steps)?;
    let r = reach(cl, &un, opts)?;
    let truth = simulated_boxes_until(
        cl,
        steps,
        true_samples,
        opts.seed ^ 0x9e37_79b9,
        opts.cancel.as_deref(),
    )?;
    let safety = match query {
        Some(q) => Some(decide_until(
            cl,
            q,
            steps,
            query_limit,
            opts.seed,
            opts.cancel.clone(),
        )?),
        None => None,
    };
    let exact = if exact {
        opts.check_cancel()?;
        Some(exact_sets(cl, steps)?)
    } else {
        None
    };
    Ok(Report {
        reach: r,
        truth,
        safety,
        exact,
        true_samples,
    })
}

impl Report {
    /// Number of steps N.
    pub fn steps(&self) -> usize {
        self.reach.steps.len() - 1
    }

    /// Tightness of step `k`'s box against the simulated box.
    pub fn tightness(&self, k: usize) -> f64 {
        let e = &self.reach.steps[k];
        tightness((&e.lo, &e.hi), (&self.truth[k].0, &self.truth[k].1))
    }

    /// The JSON that `relulab reach --json` prints.
    pub fn to_json(&self) -> serde_json::Value {
        let r = &self.reach;
        let st: Vec<serde_json::Value> = (0..=self.steps())
            .map(|k| {
                let e = &r.steps[k];
                let mut j = serde_json::json!({
                    "step": k, "lo": e.lo, "hi": e.hi,
                    "true_lo": self.truth[k].0, "true_hi": self.truth[k].1,
                    "tightness": self.tightness(k),
                });
                if !r.directions.is_empty() && k > 0 {
                    j["template"] = serde_json::json!(e.template);
                }
                if let (Some(ex), true) = (&self.exact, k > 0) {
                    j["exact_pieces"] = serde_json::json!(ex.steps[k - 1].len());
                    j["exact_bbox"] = serde_json::json!(ex.bbox(k));
                }
                j
            })
            .collect();
        let mut j = serde_json::json!({
            "steps": st,
            "final_tightness": self.tightness(self.steps()),
            "runtime_s": r.seconds,
            "parts": r.parts.len(),
            "rounds": r.rounds,
            "true_samples": self.true_samples,
            "directions": r.directions,
        });
        if let Some((a, secs)) = &self.safety {
            j["safety"] = safety_json(a, *secs);
        }
        j
    }
}

/// A safety answer as JSON.
pub fn safety_json(a: &Answer, secs: f64) -> serde_json::Value {
    match a {
        Answer::Safe => serde_json::json!({"answer": "safe", "seconds": secs}),
        Answer::Unsafe {
            x0,
            trajectory,
            step,
        } => serde_json::json!({"answer": "unsafe", "seconds": secs, "x0": x0,
            "trajectory": trajectory, "step": step}),
        Answer::Unknown(w) => {
            serde_json::json!({"answer": "unknown", "seconds": secs, "reason": w})
        }
    }
}
