//! Objective mode of the ReLU-split branch and bound ([`crate::verify::relu_bab::search`]):
//! the optimizer's problem as a [`Goal`] of the verifier's search, for inputs too many for
//! splitting the input box.
//!
//! One term with the objective row and every constraint row (network units, [`NetRow`]). On a
//! domain (the box with split constraints, or a sub-box with them) each row's linear bound
//! `row ≥ λ·s + k` from the engine is made sound in user units ([`NetRow::const_down`]) and the
//! rows are combined into the same Lagrangian bound as in the input-split search
//! ([`lagrangian_bound`], μ by [`choose_mu`]), minimised over the domain's box. A domain is
//! closed when a constraint row's own sound bound is above 0 (infeasible), or when its
//! objective bound is at or above the incumbent (nothing better there), or within the gap of it
//! (its bound is kept for the answer). Candidates: the minimising corner of the objective's
//! linear bound (input terms included) and of each constraint's, on the domain's box, and
//! every few rounds a short local search from the worst open domain's corner; each is
//! re-evaluated by a plain f64 forward pass and every constraint re-checked ([`consider`]).
//! The global bound is the smallest of the open domains' bounds, the bounds of domains closed
//! within the gap, of domains that cannot be split further, and the incumbent; the domains
//! with the smallest bounds are split first (best-first, [`Goal::best_first`]).

use super::{
    choose_mu, consider_nudged, finish, lagrangian_bound, local_search, user_point, Ctx, Incumbent,
    LinBound, NetRow, Options, Problem, Progress, Solution, Status, CANCELLED,
};
use crate::error::{Error, Result};
use crate::verify::bab::Stop;
use crate::verify::engine::RowResult;
use crate::verify::relu_bab::{search, Ended, Goal, ReluSplitOptions, Verdict};
use std::convert::Infallible;
use std::sync::atomic::Ordering as AtomicOrdering;
use std::time::Instant;

/// The optimizer's goal: minimise the objective row (minimisation form) over the feasible set.
struct Objective<'a> {
    p: &'a Problem,
    ctx: &'a Ctx<'a>,
    opts: &'a Options,
    inc: Option<Incumbent>,
    zero: Vec<f64>,
    /// Bounds of domains closed within the gap.
    pruned_lb: f64,
    /// Bounds of domains that cannot be split further.
    stuck_lb: f64,
    /// The smallest open bound at the last [`Goal::done`].
    open_lb: f64,
    node_limit: bool,
    progress: Option<&'a dyn Fn(&Progress)>,
    t0: Instant,
}

impl<'a> Objective<'a> {
    /// The objective row and the constraint rows (borrowed from the context, not from `self`).
    fn rows(&self) -> impl Iterator<Item = &'a NetRow> + 'a {
        let ctx = self.ctx;
        std::iter::once(&ctx.obj).chain(&ctx.cons)
    }

    /// The objective value below which a domain stays open: the incumbent less the gap.
    fn cutoff(&self) -> f64 {
        self.inc.as_ref().map_or(f64::INFINITY, |i| {
            i.f - self.opts.gap_abs.max(self.opts.gap_rel * i.f.abs())
        })
    }

    /// Whether a bound `lb` is within the gap of the incumbent.
    fn closed(&self, lb: f64) -> bool {
        self.inc.as_ref().is_some_and(|i| {
            i.f - lb <= self.opts.gap_abs || i.f - lb <= self.opts.gap_rel * i.f.abs()
        })
    }

    /// Close a domain with objective bound `lb` if it cannot hold a point better than the
    /// incumbent by more than the gap; a bound within the gap is remembered.
    fn prune(&mut self, lb: f64) -> bool {
        if self.inc.as_ref().is_some_and(|i| lb >= i.f) {
            return true;
        }
        if self.closed(lb) {
            self.pruned_lb = self.pruned_lb.min(lb);
            return true;
        }
        false
    }

    fn try_point(&mut self, s: &[f64], lo: &[f64], hi: &[f64]) {
        let x = user_point(self.p, s);
        let centre: Vec<f64> = lo.iter().zip(hi).map(|(l, h)| 0.5 * (l + h)).collect();
        let toward = user_point(self.p, &centre);
        consider_nudged(self.p, &mut self.inc, &x, &toward);
    }
}

/// The target of a row whose lower bound above it closes the domain (∞ when the row has input
/// terms or the Lagrangian combines rows: the engine then optimises it to the end).
fn target(r: &NetRow, cutoff: f64) -> f64 {
    if r.d.iter().any(|&v| v != 0.0) || !cutoff.is_finite() {
        f64::INFINITY
    } else {
        cutoff - r.e + r.charge
    }
}

impl Goal for Objective<'_> {
    type Found = Infallible;

    fn terms(&self) -> usize {
        1
    }

    fn atoms(&self, _t: usize) -> Vec<(&[f64], f64)> {
        let cutoff = if self.ctx.cons.is_empty() {
            self.cutoff()
        } else {
            f64::INFINITY
        };
        self.rows()
            .enumerate()
            .map(|(i, r)| {
                let c = if r.uses_outputs {
                    r.c.as_slice()
                } else {
                    self.zero.as_slice()
                };
                (c, target(r, if i == 0 { cutoff } else { 0.0 }))
            })
            .collect()
    }

    fn judge(
        &mut self,
        _t: usize,
        res: &[RowResult],
        lo: &[f64],
        hi: &[f64],
    ) -> Verdict<Infallible> {
        let lbs: Vec<LinBound> = res
            .iter()
            .zip(self.rows())
            .map(|(r, nr)| nr.lin_bound(r))
            .collect();
        let ds: Vec<&[f64]> = self.rows().map(|r| r.d.as_slice()).collect();
        // Infeasible: some constraint's own sound bound above 0.
        for (lb, d) in lbs.iter().zip(&ds).skip(1) {
            if lagrangian_bound(&[(lb, d, 0.0)], &[1.0], lo, hi) > 0.0 {
                return Verdict::Closed;
            }
        }
        // Candidates: the minimising corner of each row's linear bound (input terms included).
        let corners: Vec<Vec<f64>> = lbs
            .iter()
            .zip(&ds)
            .map(|(lb, d)| {
                (0..lo.len())
                    .map(|j| {
                        if lb.lam[j] + d[j] >= 0.0 {
                            lo[j]
                        } else {
                            hi[j]
                        }
                    })
                    .collect()
            })
            .collect();
        for s in &corners {
            self.try_point(s, lo, hi);
        }
        let rows3: Vec<(&LinBound, &[f64], f64)> =
            lbs.iter().zip(&ds).map(|(lb, d)| (lb, *d, 0.0)).collect();
        let w = choose_mu(&rows3, lo, hi);
        let mut lb = lagrangian_bound(&rows3, &w, lo, hi);
        if w.iter().skip(1).any(|&m| m != 0.0) {
            let mut w0 = vec![0.0; w.len()];
            w0[0] = 1.0;
            lb = lb.max(lagrangian_bound(&rows3, &w0, lo, hi));
        }
        if self.prune(lb) {
            return Verdict::Closed;
        }
        Verdict::Open(lb, 0)
    }

    fn falsify(&mut self) -> Option<Infallible> {
        None
    }

    fn probe(&mut self, _t: usize, s: &[f64]) -> Option<Infallible> {
        let x = user_point(self.p, s);
        local_search(self.p, &mut self.inc, x, 20);
        None
    }

    fn keep(&mut self, score: f64) -> bool {
        !self.prune(score)
    }

    fn done(&mut self, open: &[f64], domains: usize) -> bool {
        self.open_lb = open.iter().copied().fold(f64::INFINITY, f64::min);
        let lb = self.open_lb.min(self.pruned_lb).min(self.stuck_lb);
        let lb = self.inc.as_ref().map_or(lb, |i| lb.min(i.f));
        if let Some(cb) = self.progress {
            cb(&Progress {
                nodes: domains,
                open: open.len(),
                objective: self.inc.as_ref().map(|i| i.ev.objective),
                bound: self.p.sign() * lb,
                seconds: self.t0.elapsed().as_secs_f64(),
            });
        }
        if self.closed(lb) {
            return true;
        }
        if domains >= self.opts.max_nodes {
            self.node_limit = true;
            return true;
        }
        false
    }

    fn stuck(&mut self, score: f64) {
        self.stuck_lb = self.stuck_lb.min(score);
    }

    fn best_first(&self) -> bool {
        true
    }
}

/// The ReLU-split search for [`super::solve`] (after its root local search, whose best point
/// is `inc`).
pub(super) fn solve(
    p: &Problem,
    opts: &Options,
    ctx: &Ctx,
    inc: Option<Incumbent>,
    progress: Option<&dyn Fn(&Progress)>,
    t0: Instant,
) -> Result<Solution> {
    let stop = Stop::after(t0, opts.time_limit, opts.cancel.as_deref());
    let mut goal = Objective {
        p,
        ctx,
        opts,
        inc,
        zero: vec![0.0; p.net.output_dim()],
        pruned_lb: f64::INFINITY,
        stuck_lb: f64::INFINITY,
        open_lb: f64::INFINITY,
        node_limit: false,
        progress,
        t0,
    };
    let mut domains = 0;
    let ended = search(
        &p.net,
        &ctx.slo,
        &ctx.shi,
        &mut goal,
        &ReluSplitOptions {
            // Best-first keeps many domains open, and tightened hidden bounds cost each one
            // its own copy: on the digits bench (max y3 − y8, 30 s, 2026-11-30 00:15 UTC) 2.2 GB
            // peak and bound 4,416.0 with them, 0.23 GB and 4,399.5 without. The verifier's
            // depth-first search keeps them.
            refine: false,
            ..ReluSplitOptions::default()
        },
        stop,
        &mut domains,
    );
    if opts
        .cancel
        .as_ref()
        .is_some_and(|c| c.load(AtomicOrdering::Relaxed))
    {
        return Err(Error::Cancelled(CANCELLED.into()));
    }
    let (status, open_lb) = match ended {
        Ended::Found(never) => match never {},
        Ended::Stopped => (Status::TimeLimit, goal.open_lb),
        Ended::Done if goal.node_limit => (Status::NodeLimit, goal.open_lb),
        Ended::Done => (Status::Optimal, goal.open_lb),
        Ended::Exhausted { stuck } => {
            let resolution = stuck && !goal.closed(goal.stuck_lb.min(goal.pruned_lb));
            let s = if resolution {
                Status::Resolution
            } else {
                Status::Optimal
            };
            (s, f64::INFINITY)
        }
    };
    let lb = open_lb.min(goal.pruned_lb).min(goal.stuck_lb);
    let status = if goal.inc.is_none() && lb == f64::INFINITY {
        Status::Infeasible
    } else {
        status
    };
    let lb = goal.inc.as_ref().map_or(lb, |i| lb.min(i.f));
    Ok(finish(p, status, goal.inc, lb, domains, t0, "relu-bab"))
}
