//! Complete verification by ReLU-split branch and bound (β-CROWN style), for inputs too wide
//! for splitting the input box (MNIST: 784 inputs).
//!
//! The root's hidden-layer bounds come from α-CROWN on every layer
//! ([`super::engine::optimized_hidden`]); a domain is the input box with split constraints
//! `z ≥ 0` / `z ≤ 0` on unstable units, bounded by the engine with the split units clamped
//! (linear on the domain) and their constraints in the backward pass through β, α and β
//! optimised together and inherited by the children from their parent. An unsafe term
//! (a conjunction of atoms `c·y ≤ b`) is refuted on a domain when one of its atoms has a sound
//! lower bound of `c·y − b` above 0. A domain is split on the unit with the largest BaBSR
//! intercept score for its worst atom. Domains are processed depth-first in batches; each
//! batch's children are bounded together (rows in fixed chunks over rayon), so the answer does
//! not depend on the thread count. Every minimising corner of an open atom is tried as a
//! counterexample, with a short projected-gradient run from the worst one every few rounds;
//! `sat` needs the [`super::bab::Checker`]'s acceptance as in the input-split search.
//!
//! The search itself (`search`) is generic over a `Goal`: which rows a domain's terms have,
//! when a term is closed on a domain, what a candidate point is worth, and when to stop. The
//! verifier's goal (`decide_case`) closes a term when one of its atoms is refuted and stops at
//! a checked counterexample; the optimizer's (`optimize::relu`, objective mode) has one term,
//! the objective row and the constraint rows, closes a domain when a constraint row's sound
//! bound proves it infeasible or its objective bound is within the gap of the incumbent,
//! splits the domains with the smallest bounds first, and stops when the smallest open bound
//! is within the gap.

use super::bab::{pgd, term_value, Checker, Stop, Witness};
use super::bounds::LayerBounds;
use super::engine::{
    bound_rows, optimized_hidden_alpha, optimized_hidden_refined, Domain as EngineDomain,
    HiddenAlpha, Lines, Optim, Relaxation, Row, RowResult, Split, Tighten, Tightener,
};
use super::fp::sub_down;
use super::net::PwlNet;
use super::vnnlib::Case;
use rayon::prelude::*;
use std::sync::Arc;
use std::time::Instant;

/// The share of a search's time left that refining the root's hidden bounds may take
/// ([`ReluSplitOptions::root_refine`]).
const REFINE_SHARE: f64 = 0.4;

/// The time left (seconds) up to which the root refinement gets
/// [`ReluSplitOptions::root_refine`] domains per unit; with more, the budget grows with the
/// square root of the time left ([`refine_budget`]).
const REFINE_SECONDS: f64 = 30.0;

/// Domains per unit for the root refinement with `left` seconds left:
/// `root_refine · max(1, √(left / 30 s))`. On 256×4 prop_3 at ε = 0.03 (300 s limit, 2 threads)
/// 128 domains per unit proved it in 55.7 s, 512 in 40.3 s, 2,048 in 64.4 s (the refinement
/// itself 9.4 s, 13.4 s, 32.1 s): deeper pays off until it eats the search's time.
fn refine_budget(root_refine: usize, left: f64) -> usize {
    let scale = (left / REFINE_SECONDS).sqrt().max(1.0);
    (root_refine as f64 * scale).round() as usize
}

/// The time (seconds) a search must have left when it starts for its tightening rows to take
/// [`ReluSplitOptions::tighten_iters`] α/β steps; shorter searches tighten by one CROWN pass.
/// Measured (2 threads): at the competition's limits 256×4 prop_3 at ε = 0.03 (300 s) is proved
/// in 20.1 s with 2 steps against 39.9 s with none, while with a 30 s cap MNIST-FC solves the
/// same 65 of 90 either way and `certify`'s 1 s searches leave 8 samples of the standard digits
/// net unknown at ε = 0.02 with steps against 5–7 without.
const TIGHTEN_SECONDS: f64 = 60.0;

/// Settings of the ReLU-split search.
#[derive(Clone, Debug)]
pub struct ReluSplitOptions {
    /// α iterations for the intermediate layers at the root.
    pub root_hidden_iters: usize,
    /// α iterations for the output atoms at the root.
    pub root_iters: usize,
    /// α/β iterations per batch of children.
    pub iters: usize,
    /// Parent domains split per round (each gives two children).
    pub batch: usize,
    /// Tighten each child's bounds of the hidden layers after its new split
    /// ([`Tightener::tighten`]).
    pub refine: bool,
    /// How the unit to split is chosen among the [`Self::candidates`] best by the BaBSR score.
    pub branching: Branching,
    /// How many of the best units by the BaBSR score [`Self::branching`] chooses from.
    pub candidates: usize,
    /// Domains per unit for refining the root's hidden-layer bounds by a ReLU-split search of
    /// their own (`refine_layer`, see [`refined_hidden_bounds`]); 0: no refinement. A search
    /// with more than 30 s left gives each unit `root_refine · √(left / 30 s)` domains.
    pub root_refine: usize,
    /// α/β steps of each row that tightens a child's hidden-layer bounds in the output's search
    /// ([`Tightener::new`]; 0: one CROWN pass with the root's slopes), for searches with at
    /// least 60 s left (`TIGHTEN_SECONDS`). The per-unit searches that refine the root's bounds
    /// ([`Self::root_refine`]) keep one CROWN pass: there the steps cost more time than they
    /// save.
    pub tighten_iters: usize,
}

/// How a domain's split is chosen (see [`ReluSplitOptions`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Branching {
    /// The best unit by the BaBSR intercept score (Bunel et al. 2020, §5.1).
    Babsr,
    /// Of the best candidates, the one in the earliest hidden layer.
    Earliest,
    /// Filtered smart branching: of the best candidates, the one whose worse child has the best
    /// bound by one CROWN pass (De Palma et al. 2021).
    Smart,
}

impl ReluSplitOptions {
    /// How the root's hidden layers are bounded (α-CROWN, [`Self::root_hidden_iters`] steps).
    fn root_hidden_optim(&self) -> Optim {
        Optim {
            iters: self.root_hidden_iters,
            fast: true,
            ..Optim::default()
        }
    }
}

impl Default for ReluSplitOptions {
    fn default() -> Self {
        ReluSplitOptions {
            root_hidden_iters: 20,
            root_iters: 50,
            iters: 15,
            batch: 32,
            refine: true,
            branching: Branching::Earliest,
            candidates: 16,
            root_refine: 128,
            tighten_iters: 2,
        }
    }
}

/// The result of deciding one case.
pub(crate) enum CaseResult {
    /// Every term refuted on every domain.
    Unsat,
    /// A checked counterexample.
    Sat(Witness),
    /// The deadline passed.
    Timeout,
    /// A domain with every unstable unit split could not be refuted.
    Unknown,
}

/// One open domain.
struct Domain {
    splits: Vec<Split>,
    /// Open terms of the case.
    terms: Vec<usize>,
    /// Per open term, per atom: warm-start α and β.
    alpha: Vec<Vec<Vec<f32>>>,
    beta: Vec<Vec<Vec<f32>>>,
    /// The unit to split next (`usize::MAX`: none is left).
    branch: (usize, usize),
    /// The best units to split by the BaBSR score, best first, for [`smart_branch`].
    cands: Vec<(usize, usize)>,
    /// The open atom with the smallest margin: (index into `terms`, atom).
    worst: (usize, usize),
    /// A sub-box of the case's box (`None`: all of it).
    bbox: Option<SubBox>,
    /// The smallest score of its open terms ([`Verdict::Open`]).
    score: f64,
    /// Hidden-layer bounds tightened under its splits (`None`: the root's).
    lines: Option<Arc<Lines>>,
}

/// A sub-box `(lo, hi)` of a case's input box.
type SubBox = Box<(Vec<f64>, Vec<f64>)>;

/// A sub-box as slices (`None`: the whole box).
fn slices(b: &Option<SubBox>) -> Option<(&[f64], &[f64])> {
    b.as_deref().map(|b| (b.0.as_slice(), b.1.as_slice()))
}

/// How a child domain is made from its parent.
#[derive(Clone, Copy)]
enum Child {
    /// The parent itself, bounded again.
    Same,
    /// One more split constraint.
    Split(Split),
    /// The lower (false) or upper (true) half of the parent's box along one input.
    Half(usize, bool),
}

/// How one term of a domain came out of [`Goal::judge`].
pub(crate) enum Verdict<F> {
    /// Closed on this domain (refuted, infeasible or pruned).
    Closed,
    /// The search is over: the goal found what it was after.
    Found(F),
    /// Open, with its score (smaller: further from closed; the open domain with the smallest
    /// score is the one the search probes) and the atom whose branching choice to follow.
    Open(f64, usize),
}

/// What a ReLU-split search is after (see the module documentation). A domain carries terms;
/// a term is a list of rows `c·y` over the network's outputs, bounded together on every domain.
pub(crate) trait Goal {
    /// What ends the search early.
    type Found;
    /// Number of terms at the root.
    fn terms(&self) -> usize;
    /// The rows of term `t`: coefficients over the outputs and the target above which the
    /// engine may stop optimising the row.
    fn atoms(&self, t: usize) -> Vec<(&[f64], f64)>;
    /// Judge term `t` on a domain with input box `[lo, hi]` from its rows' results (in the
    /// order of [`Goal::atoms`]).
    fn judge(
        &mut self,
        t: usize,
        res: &[RowResult],
        lo: &[f64],
        hi: &[f64],
    ) -> Verdict<Self::Found>;
    /// Run once when the root leaves the search open.
    fn falsify(&mut self) -> Option<Self::Found>;
    /// A short local search from `x` for term `t` (every few rounds, from the worst domain).
    fn probe(&mut self, t: usize, x: &[f64]) -> Option<Self::Found>;
    /// Before each round, per open domain: whether to keep it (its score as it was judged).
    fn keep(&mut self, _score: f64) -> bool {
        true
    }
    /// Before each round, with the open domains' scores and the domains bounded so far:
    /// whether the search is done.
    fn done(&mut self, _open: &[f64], _domains: usize) -> bool {
        false
    }
    /// A domain that cannot be split further and stays open, with its score.
    fn stuck(&mut self, _score: f64) {}
    /// Split the open domains with the smallest scores first (best-first: what raises the
    /// smallest bound of an optimisation), instead of the newest (depth-first: what reaches a
    /// counterexample soonest, and keeps the open list short).
    fn best_first(&self) -> bool {
        false
    }
}

/// How a [`search`] ended.
pub(crate) enum Ended<F> {
    /// [`Goal::judge`], [`Goal::falsify`] or [`Goal::probe`] found it.
    Found(F),
    /// [`Stop`] said so (deadline or cancel flag).
    Stopped,
    /// [`Goal::done`] said so.
    Done,
    /// No open domain is left; `stuck`: some could not be split further (see [`Goal::stuck`]).
    Exhausted {
        /// Some domain could not be split further.
        stuck: bool,
    },
}

/// The verifier's goal: the terms of one case, refuted atom by atom.
struct CaseGoal<'a> {
    net: &'a PwlNet,
    checker: &'a Checker<'a>,
    case: &'a Case,
    falsify: &'a mut dyn FnMut(&Case) -> Option<Witness>,
    /// The smallest score of a domain reported stuck.
    stuck: f64,
    /// The largest frontier bound seen ([`CaseBound`]).
    best: f64,
}

impl Goal for CaseGoal<'_> {
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

    fn judge(&mut self, t: usize, rs: &[RowResult], _: &[f64], _: &[f64]) -> Verdict<Witness> {
        let atoms = &self.case.terms[t];
        let refuted = atoms.iter().zip(rs).any(|(a, r)| sub_down(r.lb, a.b) > 0.0);
        if refuted {
            return Verdict::Closed;
        }
        // Candidates: each atom's minimising corner.
        for r in rs {
            let y = self.net.forward(&r.corner);
            if term_value(atoms, &y).0 <= 0.0 {
                if let Some(w) = self
                    .checker
                    .check(&self.case.lo, &self.case.hi, atoms, &r.corner)
                {
                    return Verdict::Found(w);
                }
            }
        }
        // The term's best atom decides how close it is to refuted.
        let (m, ai) = atoms
            .iter()
            .zip(rs)
            .enumerate()
            .map(|(i, (a, r))| (r.lb - a.b, i))
            .max_by(|a, b| a.0.total_cmp(&b.0))
            .expect("a term has atoms");
        Verdict::Open(m, ai)
    }

    fn falsify(&mut self) -> Option<Witness> {
        (self.falsify)(self.case)
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

/// The goal of [`refine_layer`]'s search for one unit: a sound lower bound of `c·z`, `c = ±e_j`
/// over a hidden layer's pre-activations (the outputs of the network cut after that layer),
/// above 0 if it can be had (the unit is then stable).
struct UnitGoal<'a> {
    net: &'a PwlNet,
    c: Vec<f64>,
    budget: usize,
    /// The largest frontier bound seen (as [`CaseGoal::best`]).
    best: f64,
    /// The smallest bound of a closed domain (all above 0).
    closed: f64,
    /// The smallest bound of a domain that could not be split further.
    stuck: f64,
}

impl Goal for UnitGoal<'_> {
    /// A point where `c·z < 0` by a plain forward pass: the bound cannot cross 0.
    type Found = ();

    fn terms(&self) -> usize {
        1
    }

    fn atoms(&self, _t: usize) -> Vec<(&[f64], f64)> {
        vec![(self.c.as_slice(), 0.0)]
    }

    fn judge(&mut self, _t: usize, rs: &[RowResult], _: &[f64], _: &[f64]) -> Verdict<()> {
        let r = &rs[0];
        if r.lb > 0.0 {
            self.closed = self.closed.min(r.lb);
            return Verdict::Closed;
        }
        let y = self.net.forward(&r.corner);
        let v: f64 = self.c.iter().zip(&y).map(|(c, y)| c * y).sum();
        if v < 0.0 {
            return Verdict::Found(());
        }
        Verdict::Open(r.lb, 0)
    }

    fn falsify(&mut self) -> Option<()> {
        None
    }

    fn probe(&mut self, _t: usize, _x: &[f64]) -> Option<()> {
        None
    }

    fn done(&mut self, open: &[f64], domains: usize) -> bool {
        let frontier = open.iter().copied().fold(self.stuck, f64::min);
        self.best = self.best.max(frontier);
        domains >= self.budget
    }

    fn stuck(&mut self, score: f64) {
        self.stuck = self.stuck.min(score);
    }

    fn best_first(&self) -> bool {
        true
    }
}

/// Refine hidden layer `t`'s bounds `lo`/`hi` over the box `[xlo, xhi]` (`below`: the sound
/// bounds of the layers under it, `al` their slopes): for each unit left unstable, a ReLU-split
/// search of [`ReluSplitOptions::root_refine`] domains over the network cut after layer `t`
/// bounds the side nearer to 0 (`z ≥ 0` when `|lo| < |hi|`, `z ≤ 0` otherwise), and the sound
/// bound it reaches replaces that side's. A unit both of whose sides settle is stable; every
/// later layer is bounded from these (Zhang et al. 2022, "General Cutting Planes for
/// Bound-Propagation-Based Neural Network Verification", refine the first layers' bounds the
/// same way with a MIP solver; here the search is relulab's own, with its sound arithmetic).
/// Returns the domains bounded.
#[allow(clippy::too_many_arguments)]
fn refine_layer(
    net: &PwlNet,
    xlo: &[f64],
    xhi: &[f64],
    opts: &ReluSplitOptions,
    stop: Stop,
    t: usize,
    below: &LayerBounds,
    al: &[Vec<[Vec<f32>; 2]>],
    lo: &mut [f64],
    hi: &mut [f64],
) -> usize {
    // No unstable unit below: layer t's CROWN bounds are exact already.
    if below.unstable_counts().iter().all(|&n| n == 0) {
        return 0;
    }
    let cut = PwlNet {
        layers: net.layers[..=t].to_vec(),
        slopes: net.slopes[..t].to_vec(),
    };
    let n = lo.len();
    let open: Vec<(usize, bool)> = (0..n)
        .filter(|&j| lo[j] < 0.0 && hi[j] > 0.0)
        .map(|j| (j, -lo[j] < hi[j]))
        .collect();
    let sub = ReluSplitOptions {
        root_refine: 0,
        tighten_iters: 0,
        ..opts.clone()
    };
    let got: Vec<(f64, usize)> = open
        .par_iter()
        .map(|&(j, lower)| {
            if stop.now() {
                return (f64::NEG_INFINITY, 0);
            }
            let mut c = vec![0.0; n];
            c[j] = if lower { 1.0 } else { -1.0 };
            let mut goal = UnitGoal {
                net: &cut,
                c,
                budget: opts.root_refine,
                best: f64::NEG_INFINITY,
                closed: f64::INFINITY,
                stuck: f64::INFINITY,
            };
            let mut count = 0;
            let ended = search_from(
                &cut,
                xlo,
                xhi,
                &mut goal,
                &sub,
                stop,
                &mut count,
                (below, &al[..t]),
                false,
                Phase::Whole,
            );
            let bound = match ended {
                Ended::Exhausted { .. } => goal.best.max(goal.closed.min(goal.stuck)),
                _ => goal.best,
            };
            (bound, count)
        })
        .collect();
    if std::env::var_os("RELULAB_TRACE").is_some() {
        let settled = got.iter().filter(|g| g.0 > 0.0).count();
        let run = got.iter().filter(|g| g.1 > 0).count();
        let domains: usize = got.iter().map(|g| g.1).sum();
        eprintln!(
            "  refined layer {t}: {} unstable, {run} searched, {settled} settled, {domains} domains",
            open.len()
        );
    }
    let mut count = 0;
    for (&(j, lower), (b, k)) in open.iter().zip(got) {
        count += k;
        if lower {
            lo[j] = lo[j].max(b);
        } else {
            hi[j] = hi[j].min(-b);
        }
    }
    count
}

/// The hidden layers' sound bounds over the box `[lo, hi]` as the search starts from them when
/// [`ReluSplitOptions::root_refine`] is set: α-CROWN ([`optimized_hidden_alpha`]), each layer's
/// unstable units then refined by a ReLU-split search of their own, before the layers above
/// are bounded. Each such search runs on the network cut after the unit's layer, bounds the
/// unit's pre-activation on the side nearer to 0 over at most
/// [`ReluSplitOptions::root_refine`] domains, and its sound frontier bound replaces that
/// side's (Zhang et al. 2022, "General Cutting Planes for Bound-Propagation-Based Neural
/// Network Verification", refine intermediate bounds with a MIP solver instead). Also the
/// domains those searches bounded.
pub fn refined_hidden_bounds(
    net: &PwlNet,
    lo: &[f64],
    hi: &[f64],
    opts: &ReluSplitOptions,
) -> (LayerBounds, usize) {
    let stop = Stop::after(Instant::now(), None, None);
    let plain = optimized_hidden_alpha(net, lo, hi, &opts.root_hidden_optim()).0;
    let ((inter, _), count) = refine_root(net, lo, hi, opts, stop, &plain);
    (inter, count)
}

/// α-CROWN on every hidden layer again, each layer refined by [`refine_layer`] before the next
/// is bounded, intersected with the unrefined bounds `plain` of the same box; with the slopes
/// and the domains the searches bounded.
fn refine_root(
    net: &PwlNet,
    lo: &[f64],
    hi: &[f64],
    opts: &ReluSplitOptions,
    stop: Stop,
    plain: &LayerBounds,
) -> ((LayerBounds, HiddenAlpha), usize) {
    let mut count = 0usize;
    let hidden = opts.root_hidden_optim();
    let refined = optimized_hidden_refined(
        net,
        lo,
        hi,
        Some(plain),
        &hidden,
        &mut |t, below, al, l, h| {
            count += refine_layer(net, lo, hi, opts, stop, t, below, al, l, h);
        },
    );
    (refined, count)
}

/// The best sound lower bound the search reached of every open term's best atom margin
/// (`c·y − b` of the term's best atom) over the case's box: before each round the open
/// domains, with the ones that could not be split further ([`Goal::stuck`]), cover every
/// point of the box where some term is not refuted, and each domain's score bounds its open
/// terms' best margins from below; the largest such frontier bound over the rounds
/// (−∞: the search stopped before its first round).
pub(crate) type CaseBound = f64;

/// Decide one case by ReLU-split branch and bound. `domains` counts the domains bounded;
/// `falsify` is run once if the root bound leaves the case open.
pub(crate) fn decide_case(
    net: &PwlNet,
    checker: &Checker,
    case: &Case,
    opts: &ReluSplitOptions,
    stop: Stop,
    domains: &mut usize,
    falsify: &mut dyn FnMut(&Case) -> Option<Witness>,
) -> (CaseResult, CaseBound) {
    let mut goal = CaseGoal {
        net,
        checker,
        case,
        falsify,
        stuck: f64::INFINITY,
        best: f64::NEG_INFINITY,
    };
    let ended = search(net, &case.lo, &case.hi, &mut goal, opts, stop, domains);
    let r = match ended {
        Ended::Found(w) => CaseResult::Sat(w),
        Ended::Stopped => CaseResult::Timeout,
        Ended::Done | Ended::Exhausted { stuck: false } => CaseResult::Unsat,
        // Domains stuck after the last round's start are the rest of the cover.
        Ended::Exhausted { stuck: true } => {
            goal.best = goal.best.max(goal.stuck.min(0.0));
            CaseResult::Unknown
        }
    };
    (r, goal.best)
}

/// ReLU-split branch and bound over the input box `[lo, hi]` for `goal` (see the module
/// documentation). `domains` counts the domains bounded.
pub(crate) fn search<G: Goal>(
    net: &PwlNet,
    lo: &[f64],
    hi: &[f64],
    goal: &mut G,
    opts: &ReluSplitOptions,
    stop: Stop,
    domains: &mut usize,
) -> Ended<G::Found> {
    let trace = std::env::var_os("RELULAB_TRACE").is_some();
    let t0 = Instant::now();
    // The tightening steps pay off only in long searches (see `TIGHTEN_SECONDS`).
    let long = stop.deadline.saturating_duration_since(t0).as_secs_f64() >= TIGHTEN_SECONDS;
    let opts = &ReluSplitOptions {
        tighten_iters: if long { opts.tighten_iters } else { 0 },
        ..opts.clone()
    };
    let plain = optimized_hidden_alpha(net, lo, hi, &opts.root_hidden_optim());
    let root = (&plain.0, plain.1.as_slice());
    // Refine only what the root's bound leaves open (it costs seconds on MNIST-FC).
    let phase = if opts.root_refine == 0 {
        Phase::Whole
    } else {
        Phase::RootOnly
    };
    match search_from(net, lo, hi, goal, opts, stop, domains, root, trace, phase) {
        Ended::Stopped if phase == Phase::RootOnly && !stop.now() => {}
        ended => return ended,
    }
    // At most a share of the time left: what is not refined by then keeps α-CROWN's bounds.
    let now = Instant::now();
    let left = stop.deadline.saturating_duration_since(now);
    let rstop = Stop {
        deadline: now + left.mul_f64(REFINE_SHARE),
        cancel: stop.cancel,
    };
    let deeper = ReluSplitOptions {
        root_refine: refine_budget(opts.root_refine, left.as_secs_f64()),
        ..opts.clone()
    };
    let (refined, extra) = refine_root(net, lo, hi, &deeper, rstop, &plain.0);
    *domains += extra;
    if trace {
        eprintln!(
            "refined root bounds ({} domains per unit): {} domains, {:.3} s",
            deeper.root_refine,
            extra,
            t0.elapsed().as_secs_f64()
        );
    }
    let root = (&refined.0, refined.1.as_slice());
    search_from(
        net,
        lo,
        hi,
        goal,
        opts,
        stop,
        domains,
        root,
        trace,
        Phase::Refined,
    )
}

/// Which part of a search [`search_from`] runs.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// All of it.
    Whole,
    /// The root's bound and, if it leaves the search open, [`Goal::falsify`]; then
    /// [`Ended::Stopped`] if still open.
    RootOnly,
    /// All of it after a [`Phase::RootOnly`] run (no second [`Goal::falsify`]).
    Refined,
}

/// [`search`] from the root's hidden-layer bounds and their slopes, the part `phase` says.
#[allow(clippy::too_many_arguments)]
fn search_from<G: Goal>(
    net: &PwlNet,
    lo: &[f64],
    hi: &[f64],
    goal: &mut G,
    opts: &ReluSplitOptions,
    stop: Stop,
    domains: &mut usize,
    (inter, hidden_alpha): (&LayerBounds, &[Vec<[Vec<f32>; 2]>]),
    trace: bool,
    phase: Phase,
) -> Ended<G::Found> {
    let t0 = Instant::now();
    if trace {
        let unst = inter.unstable_counts();
        eprintln!("root hidden bounds: unstable per layer {unst:?}");
    }
    let out = net.layers.len() - 1;
    let rel = Relaxation::new(net, out, lo, hi, inter);
    let all: Vec<usize> = (0..goal.terms()).collect();
    let root_alpha: Vec<Vec<Vec<f32>>> = all
        .iter()
        .map(|&t| vec![Vec::new(); goal.atoms(t).len()])
        .collect();
    let root = Domain {
        splits: Vec::new(),
        terms: all,
        alpha: root_alpha.clone(),
        beta: root_alpha,
        branch: (0, 0),
        cands: Vec::new(),
        worst: (0, 0),
        bbox: None,
        score: f64::NEG_INFINITY,
        lines: None,
    };
    let root_opt = Optim {
        iters: opts.root_iters,
        branch: true,
        candidates: opts.candidates,
        fast: true,
        ..Optim::default()
    };
    let bx = (lo, hi);
    *domains += 1;
    let mut stack = Vec::new();
    match bound_children(goal, bx, &rel, &[(&root, Child::Same)], &[None], &root_opt) {
        Bounded::Found(w) => return Ended::Found(w),
        Bounded::Open(mut v, _) => stack.append(&mut v),
    }
    if trace {
        eprintln!(
            "root output bound {:.3} s, open {}",
            t0.elapsed().as_secs_f64(),
            stack.len()
        );
    }
    if !stack.is_empty() && phase != Phase::Refined {
        if let Some(w) = goal.falsify() {
            return Ended::Found(w);
        }
    }
    if phase == Phase::RootOnly && !stack.is_empty() {
        return Ended::Stopped;
    }
    let opt = Optim {
        iters: opts.iters,
        branch: true,
        candidates: opts.candidates,
        fast: true,
        ..Optim::default()
    };
    let tightener = opts
        .refine
        .then(|| Tightener::new(net, lo, hi, inter, Some(hidden_alpha), opts.tighten_iters));
    let linear_opt = Optim {
        iters: 400,
        lr_beta: 0.2,
        decay: 0.995,
        branch: true,
        // All in f64: a fully split domain's bound is as tight as the multipliers found, and
        // an optimisation's last digits of gap are closed here.
        ..Optim::default()
    };
    let mut stuck = false;
    let mut round = 0usize;
    let mut split_hist: Vec<usize> = Vec::new();
    while !stack.is_empty() {
        stack.retain(|d| goal.keep(d.score));
        let scores: Vec<f64> = stack.iter().map(|d| d.score).collect();
        if goal.done(&scores, *domains) {
            return Ended::Done;
        }
        if stack.is_empty() {
            break;
        }
        if stop.now() {
            if trace {
                eprintln!("splits per layer {split_hist:?}");
                let open = open_share(&stack);
                let worst = stack.iter().map(|d| d.score).fold(f64::INFINITY, f64::min);
                eprintln!(
                    "open share {open:.3e}, {} open domains, worst bound {worst:.4}",
                    stack.len()
                );
                let mut depth: Vec<usize> = stack.iter().map(|d| d.splits.len()).collect();
                depth.sort_unstable();
                let full = stack.iter().filter(|d| d.branch.0 == usize::MAX).count();
                if let (Some(a), Some(b)) = (depth.first(), depth.last()) {
                    eprintln!(
                        "open depths {a}..{b} (median {}), {full} fully split",
                        depth[depth.len() / 2]
                    );
                }
            }
            return Ended::Stopped;
        }
        if trace && round.is_multiple_of(256) {
            let open = open_share(&stack);
            eprintln!(
                "  {:.1} s, {} domains, open share {open:.3e}, {} on the stack",
                t0.elapsed().as_secs_f64(),
                *domains,
                stack.len()
            );
        }
        if goal.best_first() {
            // Stable: equal scores keep their order, so the result stays the same bits.
            stack.sort_by(|a, b| b.score.total_cmp(&a.score));
        }
        let take = opts.batch.min(stack.len());
        // A parent with every unstable unit split (a sub-box made by halving, below) has no
        // unit to split on: it goes with this round's fully split domains instead.
        let (full, parents): (Vec<Domain>, Vec<Domain>) = stack
            .split_off(stack.len() - take)
            .into_iter()
            .partition(|d| d.branch.0 == usize::MAX);
        let mut parents = parents;
        match opts.branching {
            Branching::Babsr => {}
            Branching::Earliest => earliest(&mut parents),
            Branching::Smart => smart_branch(goal, &rel, &mut parents),
        }
        let mut kids: Vec<(&Domain, Child)> = Vec::with_capacity(2 * take);
        for p in &parents {
            let (h, j) = p.branch;
            if trace {
                if split_hist.len() <= h {
                    split_hist.resize(h + 1, 0);
                }
                split_hist[h] += 1;
            }
            for active in [false, true] {
                kids.push((
                    p,
                    Child::Split(Split {
                        layer: h as u32,
                        unit: j as u32,
                        active,
                    }),
                ));
            }
        }
        *domains += kids.len();
        let (kids, lines) = refine(tightener.as_ref(), kids, &rel.root);
        match bound_children(goal, bx, &rel, &kids, &lines, &opt) {
            Bounded::Found(w) => return Ended::Found(w),
            Bounded::Open(mut v, worst) => {
                // Children are pushed in order, so the last parent's are explored first.
                stack.append(&mut v);
                round += 1;
                if let Some((t, x)) = worst.filter(|_| round.is_multiple_of(4)) {
                    if let Some(w) = goal.probe(t, &x) {
                        return Ended::Found(w);
                    }
                }
            }
        }
        // A domain with every unstable unit split is linear on its feasible set, and its bound
        // is a linear program that β reaches only at convergence: such domains get a long
        // optimisation, and what stays open is halved along its input box (the relaxation
        // stays valid on sub-boxes), which converges for low-dimensional inputs.
        let (mut done, open): (Vec<Domain>, Vec<Domain>) =
            stack.drain(..).partition(|d| d.branch.0 == usize::MAX);
        stack = open;
        done.extend(full);
        if !done.is_empty() {
            let kids: Vec<(&Domain, Child)> = done.iter().map(|d| (d, Child::Same)).collect();
            *domains += kids.len();
            let lines = parent_lines(&kids);
            let still = match bound_children(goal, bx, &rel, &kids, &lines, &linear_opt) {
                Bounded::Found(w) => return Ended::Found(w),
                Bounded::Open(v, _) => v,
            };
            let mut halves: Vec<(&Domain, Child)> = Vec::new();
            for d in &still {
                let (dlo, dhi) = slices(&d.bbox).unwrap_or((lo, hi));
                let dim = (0..dlo.len())
                    .filter(|&i| {
                        let m = dlo[i] + (dhi[i] - dlo[i]) / 2.0;
                        m > dlo[i] && m < dhi[i]
                    })
                    .max_by(|&a, &b| {
                        let w = |i: usize| (dhi[i] - dlo[i]) / (hi[i] - lo[i]);
                        w(a).total_cmp(&w(b))
                    });
                match dim {
                    Some(i) if dlo.len() <= super::bab::INPUT_SPLIT_MAX_DIM => {
                        halves.push((d, Child::Half(i, false)));
                        halves.push((d, Child::Half(i, true)));
                    }
                    _ => {
                        goal.stuck(d.score);
                        stuck = true;
                    }
                }
            }
            if !halves.is_empty() {
                *domains += halves.len();
                let lines = parent_lines(&halves);
                match bound_children(goal, bx, &rel, &halves, &lines, &opt) {
                    Bounded::Found(w) => return Ended::Found(w),
                    Bounded::Open(mut v, _) => stack.append(&mut v),
                }
            }
        }
    }
    if trace {
        eprintln!("splits per layer {split_hist:?}");
    }
    Ended::Exhausted { stuck }
}

/// Share of the split tree (by split depth, ignoring infeasibility) that the open domains
/// still cover: a progress measure for the trace.
fn open_share(stack: &[Domain]) -> f64 {
    stack
        .iter()
        .map(|d| 0.5f64.powi(d.splits.len() as i32))
        .sum()
}

/// Of each parent's best units by the BaBSR score, split the one in the earliest hidden layer
/// (the best-scored there): with [`ReluSplitOptions::refine`], a split tightens every later
/// layer's bounds, which the score (the unit's own relaxation cost on the output) does not see.
fn earliest(parents: &mut [Domain]) {
    for p in parents.iter_mut() {
        if let Some(&c) = p.cands.iter().min_by_key(|c| c.0) {
            p.branch = c;
        }
    }
}

/// Filtered smart branching (De Palma et al. 2021, "Improved branch and bound for neural
/// network verification via Lagrangian decomposition", §5; α,β-CROWN's "fsb"): of each
/// parent's best units by the BaBSR score, bound both children of every one on the parent's
/// worst atom by one CROWN pass (the parent's α and β, the new split's β at 0, the parent's
/// hidden bounds) and split on the unit whose worse child is best. These bounds only choose
/// the split; the children are then bounded as usual.
fn smart_branch<G: Goal>(goal: &G, rel: &Relaxation, parents: &mut [Domain]) {
    // (parent, candidate) per pair of rows; the domains' splits.
    let mut who: Vec<(usize, usize)> = Vec::new();
    let mut splits: Vec<Vec<Split>> = Vec::new();
    for (pi, p) in parents.iter().enumerate() {
        if p.cands.len() < 2 {
            continue;
        }
        for (ci, &(h, j)) in p.cands.iter().enumerate() {
            who.push((pi, ci));
            for active in [false, true] {
                let mut v = p.splits.clone();
                v.push(Split {
                    layer: h as u32,
                    unit: j as u32,
                    active,
                });
                splits.push(v);
            }
        }
    }
    if who.is_empty() {
        return;
    }
    let doms: Vec<EngineDomain> = splits
        .iter()
        .enumerate()
        .map(|(d, sp)| {
            let p = &parents[who[d / 2].0];
            EngineDomain {
                splits: sp,
                bbox: slices(&p.bbox),
                lines: p.lines.as_deref(),
            }
        })
        .collect();
    let betas: Vec<Vec<f32>> = who
        .iter()
        .map(|&(pi, _)| {
            let p = &parents[pi];
            let mut b = p.beta[p.worst.0][p.worst.1].clone();
            if b.len() == p.splits.len() {
                b.push(0.0);
            }
            b
        })
        .collect();
    let atoms: Vec<Vec<(&[f64], f64)>> = parents
        .iter()
        .map(|p| {
            if p.cands.len() < 2 {
                Vec::new()
            } else {
                goal.atoms(p.terms[p.worst.0])
            }
        })
        .collect();
    let rows: Vec<Row> = (0..doms.len())
        .map(|d| {
            let (pi, _) = who[d / 2];
            let p = &parents[pi];
            let a = &p.alpha[p.worst.0][p.worst.1];
            let b = &betas[d / 2];
            Row {
                dom: d,
                c: atoms[pi][p.worst.1].0,
                target: f64::INFINITY,
                alpha: (!a.is_empty()).then_some(a.as_slice()),
                beta: (!b.is_empty()).then_some(b.as_slice()),
                floor: f64::NEG_INFINITY,
            }
        })
        .collect();
    let one = Optim {
        iters: 0,
        ..Optim::default()
    };
    let res = bound_rows(rel, &doms, &rows, &one);
    // Per parent, the candidate whose worse child is best (the first on ties: BaBSR's order).
    let mut best: Vec<Option<(f64, usize)>> = vec![None; parents.len()];
    for (k, &(pi, ci)) in who.iter().enumerate() {
        let v = res[2 * k].lb.min(res[2 * k + 1].lb);
        if best[pi].is_none_or(|(b, _)| v > b) {
            best[pi] = Some((v, ci));
        }
    }
    for (p, b) in parents.iter_mut().zip(best) {
        if let Some((_, ci)) = b {
            p.branch = p.cands[ci];
        }
    }
}

/// A child's split constraints: its parent's, and the new one if it has one.
fn child_splits(p: &Domain, c: Child) -> Vec<Split> {
    let mut v = p.splits.clone();
    if let Child::Split(s) = c {
        v.push(s);
    }
    v
}

/// The parents' lines, for children bounded on their parent's bounds.
fn parent_lines(kids: &[(&Domain, Child)]) -> Vec<Option<Arc<Lines>>> {
    kids.iter().map(|(p, _)| p.lines.clone()).collect()
}

/// Each split child's hidden-layer bounds tightened under its splits
/// ([`Tightener::tighten`]); children no input reaches are dropped. Other children keep their
/// parent's lines.
#[allow(clippy::type_complexity)]
fn refine<'p>(
    tg: Option<&Tightener>,
    kids: Vec<(&'p Domain, Child)>,
    root: &Lines,
) -> (Vec<(&'p Domain, Child)>, Vec<Option<Arc<Lines>>>) {
    let Some(tg) = tg else {
        let lines = parent_lines(&kids);
        return (kids, lines);
    };
    let splits: Vec<Vec<Split>> = kids.iter().map(|&(p, c)| child_splits(p, c)).collect();
    let jobs: Vec<Tighten> = kids
        .iter()
        .zip(&splits)
        .filter_map(|((p, c), sp)| match c {
            Child::Split(s) => Some(Tighten {
                base: p.lines.as_deref().unwrap_or(root),
                splits: sp,
                from: s.layer as usize,
                bbox: slices(&p.bbox),
            }),
            _ => None,
        })
        .collect();
    let mut tight = tg.tighten(&jobs).into_iter();
    let mut kept = Vec::with_capacity(kids.len());
    let mut lines = Vec::with_capacity(kids.len());
    for (kid, c) in kids {
        if let Child::Split(_) = c {
            if let Some(ln) = tight.next().expect("one result per job") {
                kept.push((kid, c));
                lines.push(Some(Arc::new(ln)));
            }
        } else {
            lines.push(kid.lines.clone());
            kept.push((kid, c));
        }
    }
    (kept, lines)
}

enum Bounded<F> {
    Found(F),
    /// Open children, and the worst open atom's (term, corner) for a gradient probe.
    Open(Vec<Domain>, Option<(usize, Vec<f64>)>),
}

/// Bound the domains `parent ∧ split` (or the parent itself for `None`) for every atom of the
/// parent's open terms, and let the goal judge each term (close it, or stop the search).
fn bound_children<G: Goal>(
    goal: &mut G,
    bx: (&[f64], &[f64]),
    rel: &Relaxation,
    kids: &[(&Domain, Child)],
    lines: &[Option<Arc<Lines>>],
    opt: &Optim,
) -> Bounded<G::Found> {
    let splits: Vec<Vec<Split>> = kids.iter().map(|&(p, c)| child_splits(p, c)).collect();
    let boxes: Vec<Option<SubBox>> = kids
        .iter()
        .map(|(p, s)| match *s {
            Child::Half(i, upper) => {
                let (mut lo, mut hi) = p
                    .bbox
                    .as_deref()
                    .cloned()
                    .unwrap_or_else(|| (bx.0.to_vec(), bx.1.to_vec()));
                let m = lo[i] + (hi[i] - lo[i]) / 2.0;
                if upper {
                    lo[i] = m;
                } else {
                    hi[i] = m;
                }
                Some(Box::new((lo, hi)))
            }
            _ => p.bbox.clone(),
        })
        .collect();
    let doms: Vec<EngineDomain> = splits
        .iter()
        .zip(&boxes)
        .zip(lines)
        .map(|((s, b), ln)| EngineDomain {
            splits: s,
            bbox: slices(b),
            lines: ln.as_deref(),
        })
        .collect();
    // Warm starts: the parent's α, and its β with 0 for the new split.
    let betas: Vec<Vec<Vec<Vec<f32>>>> = kids
        .iter()
        .map(|(p, s)| {
            p.beta
                .iter()
                .map(|atoms| {
                    atoms
                        .iter()
                        .map(|b| {
                            let mut b = b.clone();
                            if matches!(s, Child::Split(_)) && b.len() == p.splits.len() {
                                b.push(0.0);
                            }
                            b
                        })
                        .collect()
                })
                .collect()
        })
        .collect();
    let mut rows = Vec::new();
    let mut counts = vec![0; goal.terms()];
    for (d, (p, _)) in kids.iter().enumerate() {
        for (ti, &t) in p.terms.iter().enumerate() {
            let atoms = goal.atoms(t);
            counts[t] = atoms.len();
            for (ai, (c, target)) in atoms.into_iter().enumerate() {
                let a = &p.alpha[ti][ai];
                let b = &betas[d][ti][ai];
                rows.push(Row {
                    dom: d,
                    c,
                    target,
                    alpha: (!a.is_empty()).then_some(a.as_slice()),
                    beta: (!b.is_empty()).then_some(b.as_slice()),
                    floor: f64::NEG_INFINITY,
                });
            }
        }
    }
    let res = bound_rows(rel, &doms, &rows, opt);
    let mut out = Vec::new();
    let mut worst: Option<(f64, usize, Vec<f64>)> = None;
    let mut k = 0;
    for (d, (p, _)) in kids.iter().enumerate() {
        let mut dom = Domain {
            splits: splits[d].clone(),
            terms: Vec::new(),
            alpha: Vec::new(),
            beta: Vec::new(),
            branch: (usize::MAX, 0),
            cands: Vec::new(),
            worst: (0, 0),
            bbox: boxes[d].clone(),
            score: f64::INFINITY,
            lines: lines[d].clone(),
        };
        let mut dom_worst: Option<(f64, &RowResult, (usize, usize))> = None;
        let (dlo, dhi) = slices(&boxes[d]).unwrap_or(bx);
        for &t in &p.terms {
            let rs = &res[k..k + counts[t]];
            k += counts[t];
            let (m, ai) = match goal.judge(t, rs, dlo, dhi) {
                Verdict::Closed => continue,
                Verdict::Found(w) => return Bounded::Found(w),
                Verdict::Open(m, ai) => (m, ai),
            };
            let r = &rs[ai];
            if dom_worst.is_none_or(|(w, _, _)| m < w) {
                dom_worst = Some((m, r, (dom.terms.len(), ai)));
            }
            if worst.as_ref().is_none_or(|(w, _, _)| m < *w) {
                worst = Some((m, t, r.corner.clone()));
            }
            dom.terms.push(t);
            dom.alpha.push(rs.iter().map(|r| r.alpha.clone()).collect());
            dom.beta.push(rs.iter().map(|r| r.beta.clone()).collect());
        }
        if let Some((m, r, at)) = dom_worst {
            dom.score = m;
            if let Some((h, j, _)) = r.branch {
                dom.branch = (h, j);
            }
            dom.cands = r.candidates.iter().map(|&(h, j, _)| (h, j)).collect();
            dom.worst = at;
            out.push(dom);
        }
    }
    Bounded::Open(out, worst.map(|(_, t, x)| (t, x)))
}
