//! Certify's branch and bound: the verifier's ReLU-split search
//! ([`crate::verify::relu_bab`]) run exactly as [`crate::verify::verify`] runs it for one case
//! (the same falsifier runs and seeds, the same refutation of each margin atom, the same
//! candidate checks), with a goal that also keeps the best sound lower bound of the margins
//! that the search reached, for the samples it leaves open.
//!
//! Each term of the case has one atom `c·y ≤ 0` with `c = e_label − e_j`, so a domain's score
//! (the smallest over its open terms of the atom's sound lower bound `lb(c·y)`) bounds every
//! open margin on it from below, and a refuted margin is > 0 there. Before each round the
//! search hands the goal the open domains' scores; the open domains and the ones it could not
//! split further ([`Goal::stuck`]) cover the ball's box, so the smallest of their scores is a
//! sound lower bound of each margin of the case over the box. The goal keeps the largest such
//! bound over the rounds.

use crate::net::Mlp;
use crate::verify::bab::{falsify, pgd, Checker, Stop, Witness};
use crate::verify::engine::RowResult;
use crate::verify::fp::sub_down;
use crate::verify::relu_bab::{search, Ended, Goal, ReluSplitOptions, Verdict as Judged};
use crate::verify::vnnlib::Case;
use crate::verify::PwlNet;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};

/// How the search ended.
pub(crate) enum End {
    /// Every margin proved on every domain.
    Unsat,
    /// A candidate the verifier's checker accepted (in the enclosing box of model
    /// coordinates; certify re-checks it in the ball).
    Sat(Witness),
    /// Deadline, cancel flag, or a domain that could not be split further.
    Open,
}

/// The search's end and the best sound lower bound it reached of every margin of the case
/// over the box (−∞: the search stopped before its first round).
pub(crate) struct BabResult {
    pub end: End,
    pub lb: f64,
}

/// The verifier's case goal (refute an atom, check each atom's minimising corner, probe with
/// projected gradient), plus the bound.
struct MarginGoal<'a> {
    net: &'a PwlNet,
    checker: &'a Checker<'a>,
    case: &'a Case,
    rng: &'a mut ChaCha8Rng,
    samples: usize,
    /// The smallest score of a domain reported stuck.
    stuck: f64,
    /// The largest frontier bound seen.
    best: f64,
}

impl Goal for MarginGoal<'_> {
    type Found = Witness;

    fn terms(&self) -> usize {
        self.case.terms.len()
    }

    fn atoms(&self, t: usize) -> Vec<(&[f64], f64)> {
        self.case.terms[t]
            .iter()
            .map(|a| (a.c.as_slice(), a.b))
            .collect()
    }

    fn judge(&mut self, t: usize, rs: &[RowResult], _: &[f64], _: &[f64]) -> Judged<Witness> {
        let atoms = &self.case.terms[t];
        if atoms.iter().zip(rs).any(|(a, r)| sub_down(r.lb, a.b) > 0.0) {
            return Judged::Closed;
        }
        for r in rs {
            let y = self.net.forward(&r.corner);
            let worst = atoms
                .iter()
                .map(|a| a.margin(&y))
                .fold(f64::NEG_INFINITY, f64::max);
            if worst <= 0.0 {
                if let Some(w) = self
                    .checker
                    .check(&self.case.lo, &self.case.hi, atoms, &r.corner)
                {
                    return Judged::Found(w);
                }
            }
        }
        let (m, ai) = atoms
            .iter()
            .zip(rs)
            .enumerate()
            .map(|(i, (a, r))| (r.lb - a.b, i))
            .max_by(|a, b| a.0.total_cmp(&b.0))
            .expect("a term has atoms");
        Judged::Open(m, ai)
    }

    fn falsify(&mut self) -> Option<Witness> {
        falsify(
            self.net,
            self.checker,
            self.case,
            self.samples,
            8,
            100,
            self.rng,
        )
    }

    fn probe(&mut self, t: usize, x: &[f64]) -> Option<Witness> {
        let c = self.case;
        pgd(self.net, self.checker, &c.lo, &c.hi, &c.terms[t], x, 20)
    }

    fn done(&mut self, open: &[f64], _domains: usize) -> bool {
        let frontier = open.iter().copied().fold(self.stuck, f64::min);
        self.best = self.best.max(frontier);
        false
    }

    fn stuck(&mut self, score: f64) {
        self.stuck = self.stuck.min(score);
    }
}

/// Decide `case` (every term one atom `c·y ≤ 0`, see the module docs) on `net` by ReLU-split
/// branch and bound within `timeout`, as `verify::verify` with the ReLU-split strategy and
/// default options would, seeded by `seed`.
pub(crate) fn margin_bab(
    net: &PwlNet,
    mlp: &Mlp<f32>,
    case: &Case,
    timeout: Duration,
    seed: u64,
    cancel: Option<&AtomicBool>,
) -> BabResult {
    let start = Instant::now();
    let vo = crate::verify::VerifyOptions::default();
    let checker = Checker::new(net, mlp);
    let stop = Stop {
        deadline: start + timeout,
        cancel,
    };
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    // The verifier's short falsifier run before the search (its full run is the goal's).
    if let Some(w) = falsify(net, &checker, case, 64, 2, 30, &mut rng) {
        return BabResult {
            end: End::Sat(w),
            lb: f64::NEG_INFINITY,
        };
    }
    let mut goal = MarginGoal {
        net,
        checker: &checker,
        case,
        rng: &mut rng,
        samples: vo.samples,
        stuck: f64::INFINITY,
        best: f64::NEG_INFINITY,
    };
    let opts: ReluSplitOptions = vo.relu_split.clone();
    let mut domains = 0;
    let ended = search(
        net,
        &case.lo,
        &case.hi,
        &mut goal,
        &opts,
        stop,
        &mut domains,
    );
    // Stuck domains found after the last round's start are the rest of the cover.
    let lb = goal.best.max(goal.stuck.min(0.0));
    match ended {
        Ended::Found(w) => BabResult {
            end: End::Sat(w),
            lb: goal.best,
        },
        Ended::Done | Ended::Exhausted { stuck: false } => BabResult {
            end: End::Unsat,
            lb: goal.best,
        },
        Ended::Stopped => BabResult {
            end: End::Open,
            lb: goal.best,
        },
        Ended::Exhausted { stuck: true } => BabResult { end: End::Open, lb },
    }
}
