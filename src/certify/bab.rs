//! Certify's branch and bound: the verifier's ReLU-split search run through
//! [`crate::verify::relu_bab::decide_case`] exactly as [`crate::verify::verify`] runs it for
//! one case (the same falsifier runs and seeds, the same goal), returning also the best sound
//! lower bound of the margins the search reached ([`crate::verify::relu_bab::CaseBound`]), for
//! the samples it leaves open. Each term of the case has one atom `c·y ≤ 0` with
//! `c = e_label − e_j`, so that bound holds for every margin not proved.

use crate::net::Mlp;
use crate::verify::bab::{falsify, Checker, Stop, Witness};
use crate::verify::relu_bab::{decide_case, CaseResult};
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
    let mut full = |c: &Case| falsify(net, &checker, c, vo.samples, 8, 100, &mut rng);
    let mut domains = 0;
    let (r, lb) = decide_case(
        net,
        &checker,
        case,
        &vo.relu_split,
        stop,
        &mut domains,
        &mut full,
    );
    let end = match r {
        CaseResult::Sat(w) => End::Sat(w),
        CaseResult::Unsat => End::Unsat,
        CaseResult::Timeout | CaseResult::Unknown => End::Open,
    };
    BabResult { end, lb }
}
