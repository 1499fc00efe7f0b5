//! Complete verification by input-space branch and bound, with a falsifier.
//!
//! Each domain (a sub-box of one case's input box, with the unsafe output terms not yet
//! refuted on it) is bounded by forward symbolic intermediate bounds and a CROWN backward pass
//! per output atom (α-CROWN at the root). A term is refuted on a domain when one of its atoms
//! `c·y ≤ b` has a sound lower bound of `c·y − b` above 0, or when a convex combination of its
//! atoms does (bounded by CROWN, and by α-CROWN from split depth 8 on where CROWN falls short:
//! this closes near misses such as ACAS Xu 3_3 property 2, margin ~1e-3, which plain CROWN
//! needed over a million boxes for). A domain whose terms are all refuted
//! is safe; otherwise the box is halved along the input with the largest `|λ_i|·width_i` (λ the
//! CROWN coefficients on the input of the term closest to failing), ReluVal-style. When the one
//! open term is a single atom, the halves along each candidate input are bounded first and the
//! pair with the smallest total deficit is kept (see `process`).
//!
//! Counterexamples are sought first (uniform sampling plus projected-gradient descent on the
//! most violated atom) and then at the centre and the CROWN-minimising corners of every domain,
//! with a short projected-gradient run between rounds. A candidate is reported as `sat` only
//! after `check_witness` accepts it. Domains are processed in parallel batches (rayon) in a
//! fixed order, so the answer does not depend on the thread count.

use super::bounds::{lower_bound_until, lower_bounds, output_interval};
use super::engine::{optimized_hidden, Optim};
use super::fp::{add_up, dot_err, next_down, next_up, sub_down};
use super::net::PwlNet;
use super::relu_bab::{decide_case, CaseResult, ReluSplitOptions};
use super::vnnlib::{OutputAtom, Property};
use crate::error::{Error, Result};
use crate::net::Mlp;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The answer of a verification run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// A counterexample exists (witness attached).
    Sat,
    /// The property holds: the unsafe set is unreachable.
    Unsat,
    /// Out of time.
    Timeout,
    /// Neither proven nor refuted (a domain could not be split further).
    Unknown,
}

impl Verdict {
    /// VNN-COMP spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Sat => "sat",
            Verdict::Unsat => "unsat",
            Verdict::Timeout => "timeout",
            Verdict::Unknown => "unknown",
        }
    }
}

/// A checked counterexample.
#[derive(Clone, Debug, PartialEq)]
pub struct Witness {
    /// The input (every value representable in f32).
    pub x: Vec<f64>,
    /// The network output at `x`, f64 forward pass.
    pub y: Vec<f64>,
    /// The network output at `x`, f32 forward pass of the model.
    pub y_f32: Vec<f32>,
}

impl Witness {
    /// VNN-COMP witness text: `((X_0 v)(X_1 v)...(Y_0 v)...)`.
    pub fn vnncomp(&self) -> String {
        let mut s = String::from("(");
        for (i, v) in self.x.iter().enumerate() {
            s.push_str(&format!("(X_{i} {v:e})"));
        }
        for (j, v) in self.y.iter().enumerate() {
            s.push_str(&format!("(Y_{j} {v:e})"));
        }
        s.push(')');
        s
    }
}

/// Options of a verification run.
#[derive(Clone, Debug)]
pub struct VerifyOptions {
    /// Wall-clock limit.
    pub timeout: Duration,
    /// Seed of the falsifier's random stream.
    pub seed: u64,
    /// Domains bounded per parallel round.
    pub batch: usize,
    /// Uniform samples drawn by the falsifier before branch and bound.
    pub samples: usize,
    /// α-CROWN iterations at the root (0: plain CROWN).
    pub alpha_iters_root: usize,
    /// α-CROWN iterations on the output atoms of every other domain.
    pub alpha_iters: usize,
    /// α-CROWN iterations on the combined row of a conjunction (see `combine`) in domains at
    /// depth ≥ `alpha_combined_depth`, run only where CROWN alone does not refute the term,
    /// and stopped as soon as it does.
    pub alpha_combined_iters: usize,
    /// Split depth from which `alpha_combined_iters` applies.
    pub alpha_combined_depth: usize,
    /// Input splitting or ReLU splitting (see [`Strategy`]).
    pub strategy: Strategy,
    /// Settings of the ReLU-split search.
    pub relu_split: ReluSplitOptions,
    /// A cancel flag (the Python binding's Ctrl-C): once set, the search stops at its next
    /// round and the run ends as [`Verdict::Timeout`].
    pub cancel: Option<Arc<AtomicBool>>,
}

/// When a search must stop: its deadline, or a cancel flag being set.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Stop<'a> {
    pub(crate) deadline: Instant,
    pub(crate) cancel: Option<&'a AtomicBool>,
}

impl<'a> Stop<'a> {
    /// A stop at `t0 + limit`, or (no limit, or one past what `Instant` holds) about ten years
    /// on: in effect only the cancel flag.
    pub(crate) fn after(
        t0: Instant,
        limit: Option<Duration>,
        cancel: Option<&'a AtomicBool>,
    ) -> Self {
        let far = Duration::from_secs(10 * 365 * 86_400);
        let deadline = limit
            .and_then(|tl| t0.checked_add(tl))
            .or_else(|| t0.checked_add(far))
            .unwrap_or(t0);
        Stop { deadline, cancel }
    }

    /// Whether the search must stop now.
    pub(crate) fn now(&self) -> bool {
        Instant::now() > self.deadline || self.cancel.is_some_and(|c| c.load(Ordering::Relaxed))
    }
}

/// How the branch and bound splits a domain.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Strategy {
    /// Input splitting when the input has at most [`INPUT_SPLIT_MAX_DIM`] dimensions, ReLU
    /// splitting otherwise.
    Auto,
    /// Halve the input box (ReluVal-style, with box tightening).
    InputSplit,
    /// Split unstable ReLUs (β-CROWN-style).
    ReluSplit,
}

impl Strategy {
    /// The name used on the command line and in results.
    pub fn as_str(self) -> &'static str {
        match self {
            Strategy::Auto => "auto",
            Strategy::InputSplit => "input",
            Strategy::ReluSplit => "relu",
        }
    }

    /// Parse `auto`, `input` or `relu`.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "auto" => Some(Strategy::Auto),
            "input" => Some(Strategy::InputSplit),
            "relu" => Some(Strategy::ReluSplit),
            _ => None,
        }
    }

    /// The strategy used for a network with `d` inputs.
    pub fn resolve(self, d: usize) -> Strategy {
        match self {
            Strategy::Auto if d <= INPUT_SPLIT_MAX_DIM => Strategy::InputSplit,
            Strategy::Auto => Strategy::ReluSplit,
            s => s,
        }
    }
}

/// The widest input for which [`Strategy::Auto`] splits the input box: halving converges
/// when every dimension can be halved a few times (ACAS Xu: 5 inputs), and not at all for
/// images (MNIST: 784), where splitting ReLUs does.
pub const INPUT_SPLIT_MAX_DIM: usize = 16;

impl Default for VerifyOptions {
    fn default() -> Self {
        VerifyOptions {
            timeout: Duration::from_secs(116),
            seed: 0,
            batch: 64,
            samples: 4000,
            alpha_iters_root: 20,
            alpha_iters: 0,
            alpha_combined_iters: 10,
            alpha_combined_depth: 8,
            strategy: Strategy::Auto,
            relu_split: ReluSplitOptions::default(),
            cancel: None,
        }
    }
}

/// The result of a verification run.
#[derive(Clone, Debug)]
pub struct Outcome {
    /// The answer.
    pub verdict: Verdict,
    /// The counterexample for `sat`.
    pub witness: Option<Witness>,
    /// Domains bounded.
    pub domains: usize,
    /// Wall-clock seconds.
    pub seconds: f64,
    /// The strategy the branch and bound used (input or relu).
    pub strategy: Strategy,
}

/// A checker of candidate counterexamples.
pub struct Checker<'a> {
    net: &'a PwlNet,
    mlp: &'a Mlp<f32>,
}

impl<'a> Checker<'a> {
    /// Check against `net` (the f64 view) and `mlp` (the model, evaluated in f32).
    pub fn new(net: &'a PwlNet, mlp: &'a Mlp<f32>) -> Self {
        Checker { net, mlp }
    }

    /// Accept `x` as a counterexample of `atoms` on the box [lo, hi] only if, after rounding x
    /// to f32 inside the box: (1) a sound interval forward pass at the point (which encloses
    /// the real-arithmetic output) puts every atom's `c·y − b` at or below 0; (2) the plain f64
    /// forward pass agrees; (3) the f32 forward pass of the model agrees.
    pub fn check(
        &self,
        lo: &[f64],
        hi: &[f64],
        atoms: &[OutputAtom],
        x: &[f64],
    ) -> Option<Witness> {
        let mut x32 = Vec::with_capacity(x.len());
        for i in 0..x.len() {
            let mut v = x[i].clamp(lo[i], hi[i]) as f32;
            if (v as f64) < lo[i] {
                v = f32_next_up(v);
            }
            if (v as f64) > hi[i] {
                v = f32_next_down(v);
            }
            if !((v as f64) >= lo[i] && (v as f64) <= hi[i]) {
                return None;
            }
            x32.push(v);
        }
        let xr: Vec<f64> = x32.iter().map(|&v| v as f64).collect();
        let ib = super::bounds::ibp(self.net, &xr, &xr);
        let (ylo, yhi) = (ib.lo.last()?, ib.hi.last()?);
        for a in atoms {
            let (mut v, mut mag) = (-a.b, a.b.abs());
            for (j, &c) in a.c.iter().enumerate() {
                let y = if c >= 0.0 { yhi[j] } else { ylo[j] };
                v += c * y;
                mag += (c * y).abs();
            }
            if add_up(v, dot_err(a.c.len() + 1, mag)) > 0.0 {
                return None;
            }
        }
        let y = self.net.forward(&xr);
        let y_f32 = self.mlp.forward_one(&x32);
        let y32: Vec<f64> = y_f32.iter().map(|&v| v as f64).collect();
        if atoms
            .iter()
            .all(|a| a.margin(&y) <= 0.0 && a.margin(&y32) <= 0.0)
        {
            Some(Witness { x: xr, y, y_f32 })
        } else {
            None
        }
    }
}

fn f32_next_up(v: f32) -> f32 {
    if v.is_nan() || v == f32::INFINITY {
        return v;
    }
    if v == 0.0 {
        return f32::from_bits(1);
    }
    let b = v.to_bits();
    f32::from_bits(if v > 0.0 { b + 1 } else { b - 1 })
}

fn f32_next_down(v: f32) -> f32 {
    -f32_next_up(-v)
}

/// max over atoms of `c·y − b` (≤ 0 means the term holds at y).
pub(super) fn term_value(atoms: &[OutputAtom], y: &[f64]) -> (f64, usize) {
    let mut best = (f64::NEG_INFINITY, 0);
    for (k, a) in atoms.iter().enumerate() {
        let m = a.margin(y);
        if m > best.0 {
            best = (m, k);
        }
    }
    if atoms.is_empty() {
        best.0 = f64::NEG_INFINITY;
    }
    best
}

/// Projected sign-gradient descent on a term's most violated atom from `x`, inside [lo, hi].
/// Returns the first point that the checker accepts.
pub(crate) fn pgd(
    net: &PwlNet,
    checker: &Checker,
    lo: &[f64],
    hi: &[f64],
    atoms: &[OutputAtom],
    x0: &[f64],
    steps: usize,
) -> Option<Witness> {
    let mut x = x0.to_vec();
    // Descend on Σ_k max(0, c_k·y − b_k + τ): every violated atom pulls, and τ pushes a little
    // past the boundary so that the f32 re-check also passes.
    let tau: Vec<f64> = atoms.iter().map(|a| 1e-7 * (1.0 + a.b.abs())).collect();
    let mut c = vec![0.0; atoms.first().map_or(0, |a| a.c.len())];
    for s in 0..=steps {
        let y = net.forward(&x);
        let (v, _) = term_value(atoms, &y);
        if v <= 0.0 {
            if let Some(w) = checker.check(lo, hi, atoms, &x) {
                return Some(w);
            }
        }
        if s == steps || atoms.is_empty() {
            break;
        }
        c.iter_mut().for_each(|v| *v = 0.0);
        for (a, t) in atoms.iter().zip(&tau) {
            if a.margin(&y) + t > 0.0 {
                for (cv, ac) in c.iter_mut().zip(&a.c) {
                    *cv += ac;
                }
            }
        }
        let g = net.input_gradient(&x, &c);
        let step = 0.05 * (1.0 - s as f64 / steps as f64) + 0.0005;
        for i in 0..x.len() {
            let w = hi[i] - lo[i];
            x[i] = (x[i] - step * w * g[i].signum()).clamp(lo[i], hi[i]);
        }
    }
    None
}

/// One branch-and-bound domain.
#[derive(Clone, Debug)]
struct Domain {
    case: usize,
    lo: Vec<f64>,
    hi: Vec<f64>,
    terms: Vec<usize>,
    depth: usize,
    /// Hidden-layer bounds of the parent domain (valid here too: this box lies inside it).
    parent: Option<std::sync::Arc<super::bounds::LayerBounds>>,
    /// This box's bounds, when its parent computed them to choose the split (the same call
    /// `process` would make).
    pre: Option<std::sync::Arc<Eval>>,
}

enum Processed {
    Safe,
    Sat(Witness),
    /// Two children (or, with the flag, one domain to bound again: the pair holds it twice),
    /// and a falsification probe point.
    Split(Box<(Domain, Domain)>, Vec<f64>, bool),
    Stuck,
}

/// Decide `prop` on `mlp`. Errors when the widths do not match or an activation is not
/// piecewise linear.
pub fn verify(mlp: &Mlp<f32>, prop: &Property, opts: &VerifyOptions) -> Result<Outcome> {
    let net = PwlNet::from_mlp(mlp)?;
    verify_net(&net, mlp, prop, opts)
}

/// Decide `prop` on `net`, the real-arithmetic network the answer is about (for [`verify`], the
/// f64 view of `mlp`). `mlp` is evaluated in f32 as the last filter of every witness (see
/// [`Checker::check`]); for a network not built from an f32 model (the unrolled closed loop of
/// `reach`) it is that network rounded to f32, a filter that can only reject candidates.
pub fn verify_net(
    net: &PwlNet,
    mlp: &Mlp<f32>,
    prop: &Property,
    opts: &VerifyOptions,
) -> Result<Outcome> {
    let start = Instant::now();
    if prop.n_inputs != net.input_dim() || prop.n_outputs != net.output_dim() {
        return Err(Error::Shape(format!(
            "the property declares {} inputs and {} outputs, the network has {} and {}",
            prop.n_inputs,
            prop.n_outputs,
            net.input_dim(),
            net.output_dim()
        )));
    }
    let checker = Checker::new(net, mlp);
    let strategy = opts.strategy.resolve(net.input_dim());
    let stop = Stop {
        deadline: start + opts.timeout,
        cancel: opts.cancel.as_deref(),
    };
    let done = |verdict, witness, domains| Outcome {
        verdict,
        witness,
        domains,
        seconds: start.elapsed().as_secs_f64(),
        strategy,
    };
    // Falsifier first: in full for input splitting; for ReLU splitting (wide inputs, where each
    // step is costly and the root bound often settles the case) a short run here and the full
    // one only for a case that the root bound leaves open.
    let mut rng = ChaCha8Rng::seed_from_u64(opts.seed);
    let quick = strategy == Strategy::ReluSplit;
    for case in &prop.cases {
        let found = if quick {
            falsify(net, &checker, case, 64, 2, 30, &mut rng)
        } else {
            falsify(net, &checker, case, opts.samples, 8, 100, &mut rng)
        };
        if let Some(w) = found {
            return Ok(done(Verdict::Sat, Some(w), 0));
        }
    }
    if std::env::var_os("RELULAB_TRACE").is_some() {
        eprintln!("falsifier done at {:.3} s", start.elapsed().as_secs_f64());
    }
    if strategy == Strategy::ReluSplit {
        let mut domains = 0;
        let mut unknown = false;
        for case in &prop.cases {
            let mut full =
                |c: &super::vnnlib::Case| falsify(net, &checker, c, opts.samples, 8, 100, &mut rng);
            match decide_case(
                net,
                &checker,
                case,
                &opts.relu_split,
                stop,
                &mut domains,
                &mut full,
            )
            .0
            {
                CaseResult::Unsat => {}
                CaseResult::Sat(w) => return Ok(done(Verdict::Sat, Some(w), domains)),
                CaseResult::Timeout => return Ok(done(Verdict::Timeout, None, domains)),
                CaseResult::Unknown => unknown = true,
            }
        }
        let v = if unknown {
            Verdict::Unknown
        } else {
            Verdict::Unsat
        };
        return Ok(done(v, None, domains));
    }
    let mut stack: Vec<Domain> = prop
        .cases
        .iter()
        .enumerate()
        .rev()
        .map(|(c, case)| Domain {
            case: c,
            lo: case.lo.clone(),
            hi: case.hi.clone(),
            terms: (0..case.terms.len()).collect(),
            depth: 0,
            parent: None,
            pre: None,
        })
        .collect();
    let mut domains = 0usize;
    let mut stuck = false;
    let mut round = 0usize;
    while !stack.is_empty() {
        if stop.now() {
            return Ok(done(Verdict::Timeout, None, domains));
        }
        let take = opts.batch.min(stack.len());
        let batch: Vec<Domain> = stack.split_off(stack.len() - take);
        // Boxes bounded: those of the batch not bounded by their parent's look-ahead, and the
        // look-ahead's (counted where they are made).
        domains += batch.iter().filter(|d| d.pre.is_none()).count();
        let results: Vec<(Processed, usize)> = batch
            .par_iter()
            .map(|d| process(net, &checker, prop, d, opts))
            .collect();
        let mut probe: Option<(usize, Vec<f64>, Vec<f64>)> = None;
        for (d, (r, looked)) in batch.iter().zip(results) {
            domains += looked;
            match r {
                Processed::Safe => {}
                Processed::Sat(w) => return Ok(done(Verdict::Sat, Some(w), domains)),
                Processed::Split(children, corner, single) => {
                    if probe.is_none() && !corner.is_empty() {
                        probe = Some((d.case, corner, d.lo.clone()));
                    }
                    let (a, b) = *children;
                    if !single {
                        stack.push(b);
                    }
                    stack.push(a);
                }
                Processed::Stuck => stuck = true,
            }
        }
        round += 1;
        // Between rounds: a short gradient run from one open domain's CROWN corner.
        if round.is_multiple_of(8) {
            if let Some((c, corner, _)) = probe {
                let case = &prop.cases[c];
                for atoms in &case.terms {
                    if let Some(w) = pgd(net, &checker, &case.lo, &case.hi, atoms, &corner, 20) {
                        return Ok(done(Verdict::Sat, Some(w), domains));
                    }
                }
            }
        }
    }
    Ok(done(
        if stuck {
            Verdict::Unknown
        } else {
            Verdict::Unsat
        },
        None,
        domains,
    ))
}

/// Random sampling and gradient descent over one case's box: `samples` uniform points, then
/// `steps` of projected sign-gradient descent from the best `starts` of them per term.
pub(crate) fn falsify(
    net: &PwlNet,
    checker: &Checker,
    case: &super::vnnlib::Case,
    samples: usize,
    starts: usize,
    steps: usize,
    rng: &mut ChaCha8Rng,
) -> Option<Witness> {
    let d = case.lo.len();
    // Keep the best few starting points per term.
    let mut best: Vec<Vec<(f64, Vec<f64>)>> = vec![Vec::new(); case.terms.len()];
    let mid: Vec<f64> = case
        .lo
        .iter()
        .zip(&case.hi)
        .map(|(l, h)| l + (h - l) / 2.0)
        .collect();
    for s in 0..samples.max(1) {
        let x: Vec<f64> = if s == 0 {
            mid.clone()
        } else {
            (0..d)
                .map(|i| case.lo[i] + (case.hi[i] - case.lo[i]) * rng.random::<f64>())
                .collect()
        };
        let y = net.forward(&x);
        for (t, atoms) in case.terms.iter().enumerate() {
            let (v, _) = term_value(atoms, &y);
            if v <= 0.0 {
                if let Some(w) = checker.check(&case.lo, &case.hi, atoms, &x) {
                    return Some(w);
                }
            }
            let b = &mut best[t];
            if b.len() < starts || v < b[b.len() - 1].0 {
                b.push((v, x.clone()));
                b.sort_by(|p, q| p.0.total_cmp(&q.0));
                b.truncate(starts);
            }
        }
    }
    for (t, atoms) in case.terms.iter().enumerate() {
        for (_, x) in &best[t] {
            if let Some(w) = pgd(net, checker, &case.lo, &case.hi, atoms, x, steps) {
                return Some(w);
            }
        }
    }
    None
}

/// Bounds of one box: which terms stay open, and the atom to focus on.
#[derive(Clone, Debug)]
struct Eval {
    inter: super::bounds::LayerBounds,
    rb: Vec<super::bounds::RowBound>,
    owner: Vec<usize>,
    open: Vec<usize>,
    /// (best atom lower bound of the hardest open term, its row); row `usize::MAX` for a term
    /// without output atoms.
    focus: Option<(f64, usize)>,
    /// The box that holds every possibly unsafe point of the open terms (inside the input box).
    lo: Vec<f64>,
    /// Its upper corner.
    hi: Vec<f64>,
}

#[allow(clippy::too_many_arguments)]
fn evaluate(
    net: &PwlNet,
    case: &super::vnnlib::Case,
    terms: &[usize],
    lo: &[f64],
    hi: &[f64],
    known: Option<&super::bounds::LayerBounds>,
    alpha_iters: usize,
    alpha_combined: usize,
) -> Eval {
    let crown_only = Optim {
        iters: 0,
        ..Optim::default()
    };
    let inter = optimized_hidden(net, lo, hi, known, &crown_only);
    let mut rows = Vec::new();
    let mut owner = Vec::new();
    for &t in terms {
        for a in &case.terms[t] {
            rows.push(a.c.clone());
            owner.push(t);
        }
    }
    let out_layer = net.layers.len() - 1;
    let rb = lower_bounds(net, out_layer, &rows, lo, hi, &inter, alpha_iters);
    // Per term: refuted if some atom's lower bound of c·y − b is above 0, or if no point of
    // the box meets all its atoms' linear bounds; the open terms' shrunk boxes are joined.
    let mut open: Vec<usize> = Vec::new();
    let mut focus: Option<(f64, usize)> = None;
    let mut k = 0;
    let (mut ulo, mut uhi) = (
        vec![f64::INFINITY; lo.len()],
        vec![f64::NEG_INFINITY; lo.len()],
    );
    let mut ymag: Option<Vec<f64>> = None;
    for &t in terms {
        let atoms = &case.terms[t];
        let mut best: Option<(f64, usize)> = None;
        for (ai, a) in atoms.iter().enumerate() {
            let lb = sub_down(rb[k + ai].lb, a.b);
            if best.is_none_or(|(b, _)| lb > b) {
                best = Some((lb, k + ai));
            }
        }
        let lin: Vec<(&[f64], f64, f64)> = atoms
            .iter()
            .enumerate()
            .map(|(ai, a)| (rb[k + ai].lambda0.as_slice(), rb[k + ai].k, a.b))
            .collect();
        let rbs = &rb[k..k + atoms.len()];
        k += atoms.len();
        if best.is_some_and(|(lb, _)| lb > 0.0) {
            continue;
        }
        // A conjunction: bound one convex combination of its atoms as a single objective.
        let mut lin = lin;
        let comb;
        if atoms.len() >= 2 {
            let ymag = ymag.get_or_insert_with(|| {
                let (a, b) = output_interval(net, lo, hi, &inter);
                a.iter()
                    .zip(&b)
                    .map(|(a, b)| a.abs().max(b.abs()))
                    .collect::<Vec<f64>>()
            });
            match combine(net, &inter, lo, hi, atoms, rbs, ymag, alpha_combined) {
                Combined::Refuted => continue,
                Combined::Bound(l, kk, b) => {
                    comb = (l, kk, b);
                    lin.push((comb.0.as_slice(), comb.1, comb.2));
                }
                Combined::Nothing => {}
            }
        }
        let (mut tlo, mut thi) = (lo.to_vec(), hi.to_vec());
        if tighten(&mut tlo, &mut thi, &lin).is_none() {
            continue;
        }
        for i in 0..lo.len() {
            ulo[i] = ulo[i].min(tlo[i]);
            uhi[i] = uhi[i].max(thi[i]);
        }
        open.push(t);
        let (lb, row) = best.unwrap_or((f64::NEG_INFINITY, usize::MAX));
        if focus.is_none_or(|(f, _)| lb < f) {
            focus = Some((lb, row));
        }
    }
    Eval {
        inter,
        rb,
        owner,
        open,
        focus,
        lo: ulo,
        hi: uhi,
    }
}

enum Combined {
    /// The combination proves the term unreachable on the box.
    Refuted,
    /// A further linear constraint (λ, k, b): unsafe points have λ·x + k ≤ b.
    Bound(Vec<f64>, f64, f64),
    /// Nothing gained.
    Nothing,
}

/// For a conjunction of atoms c_k·y ≤ b_k (all needed for the unsafe set): choose weights
/// μ ≥ 0, Σμ = 1, that maximise the minimum over the box of Σ μ_k (λ_k·x + k_k − b_k) (their
/// CROWN linear bounds; exponentiated-gradient ascent), then bound the single objective
/// (Σ μ_k c_k)·y by CROWN, whose relaxation is chosen for the combination. Every unsafe point
/// satisfies (Σ μ_k c_k)·y ≤ Σ μ_k b_k; the f64 rounding of the combined row is charged
/// through the output's interval magnitude `ymag`.
#[allow(clippy::too_many_arguments)]
fn combine(
    net: &PwlNet,
    inter: &super::bounds::LayerBounds,
    lo: &[f64],
    hi: &[f64],
    atoms: &[OutputAtom],
    rbs: &[super::bounds::RowBound],
    ymag: &[f64],
    alpha_iters: usize,
) -> Combined {
    let (nk, d) = (atoms.len(), lo.len());
    let mut mu = vec![1.0 / nk as f64; nk];
    let value = |mu: &[f64]| -> (f64, Vec<f64>) {
        let lam: Vec<f64> = (0..d)
            .map(|i| (0..nk).map(|k| mu[k] * rbs[k].lambda0[i]).sum())
            .collect();
        let x: Vec<f64> = (0..d)
            .map(|i| if lam[i] >= 0.0 { lo[i] } else { hi[i] })
            .collect();
        let g: Vec<f64> = (0..nk)
            .map(|k| {
                rbs[k]
                    .lambda0
                    .iter()
                    .zip(&x)
                    .map(|(l, x)| l * x)
                    .sum::<f64>()
                    + rbs[k].k
                    - atoms[k].b
            })
            .collect();
        (mu.iter().zip(&g).map(|(m, g)| m * g).sum(), g)
    };
    let (mut best_v, mut best_mu) = (f64::NEG_INFINITY, mu.clone());
    let scale = rbs.iter().map(|r| r.lb.abs()).fold(1e-12, f64::max);
    for _ in 0..25 {
        let (v, g) = value(&mu);
        if v > best_v {
            best_v = v;
            best_mu = mu.clone();
        }
        let mut z = 0.0;
        for k in 0..nk {
            mu[k] *= (g[k] / scale).clamp(-30.0, 30.0).exp();
            z += mu[k];
        }
        mu.iter_mut().for_each(|m| *m /= z);
    }
    let mu = best_mu;
    let n_out = atoms[0].c.len();
    let c: Vec<f64> = (0..n_out)
        .map(|j| (0..nk).map(|k| mu[k] * atoms[k].c[j]).sum())
        .collect();
    // b_μ ≥ Σ μ_k b_k + |fl(Σ μ_k c_k) − Σ μ_k c_k|·max|y|.
    let (mut b, mut mb, mut mc) = (0.0, 0.0, 0.0);
    for k in 0..nk {
        b += mu[k] * atoms[k].b;
        mb += (mu[k] * atoms[k].b).abs();
        mc += mu[k]
            * atoms[k]
                .c
                .iter()
                .zip(ymag)
                .map(|(c, y)| c.abs() * y)
                .sum::<f64>();
    }
    let b = add_up(add_up(b, dot_err(nk, mb)), dot_err(nk, mc));
    if !b.is_finite() {
        return Combined::Nothing;
    }
    let out = net.layers.len() - 1;
    let rb = lower_bound_until(net, out, &c, lo, hi, inter, alpha_iters, b);
    if sub_down(rb.lb, b) > 0.0 {
        return Combined::Refuted;
    }
    Combined::Bound(rb.lambda0, rb.k, b)
}

/// Shrink [lo, hi] to a box that still holds every x with `λ_a·x + k_a ≤ b_a` for all atoms a
/// (the linear CROWN bounds of the atoms of one unsafe term): interval constraint propagation,
/// rounded outward. Returns `None` when no such x exists in the box (the term is refuted).
pub(crate) fn tighten(lo: &mut [f64], hi: &mut [f64], atoms: &[(&[f64], f64, f64)]) -> Option<()> {
    let d = lo.len();
    for _round in 0..2 {
        for &(lam, k, b) in atoms {
            // λ·x ≤ r with r ≥ b − k.
            let r = next_up(b - k);
            let xmag: f64 = (0..d)
                .map(|j| lam[j].abs() * lo[j].abs().max(hi[j].abs()))
                .sum();
            let mins: Vec<f64> = (0..d)
                .map(|j| (lam[j] * lo[j]).min(lam[j] * hi[j]))
                .collect();
            let total: f64 = mins.iter().sum();
            let err = dot_err(d + 4, 2.0 * xmag + r.abs() + total.abs());
            for i in 0..d {
                if lam[i] == 0.0 {
                    continue;
                }
                // λ_i·x_i ≤ r − Σ_{j≠i} min(λ_j x_j) ≤ q.
                let q = add_up(r - (total - mins[i]), err);
                if lam[i] > 0.0 {
                    hi[i] = hi[i].min(next_up(q / lam[i]));
                } else {
                    lo[i] = lo[i].max(next_down(q / lam[i]));
                }
                if lo[i] > hi[i] || lo[i].is_nan() || hi[i].is_nan() {
                    return None;
                }
            }
        }
    }
    Some(())
}

/// Bound one domain (unless its parent already did); refute terms; look for a
/// counterexample; otherwise split. Also returns how many boxes the split's look-ahead bounded.
///
/// The split: the candidate inputs are those not more than 64 times narrower (relative to the
/// case's box) than the widest; by default the one with the largest `|λ_i|·width_i` is halved.
/// When the domain has one open term and it is a single atom (ACAS Xu property 1, and the last
/// open term of properties 5, 6, 9 and 10), the two halves along each candidate are bounded, and the
/// pair whose best atom bounds fall least short of refutation in total is kept, with its
/// bounds (`Domain::pre`). The λ score misses inputs that the linear bound barely moves but
/// that keep hidden units unstable; bounding the halves sees them (ACAS Xu 2_8 property 1:
/// 2,319 boxes, look-ahead included, against a timeout after 416,035 boxes by the score
/// alone). Measured and not kept: the look-ahead on conjunctions, which are refuted through a
/// combination of their atoms that the single atoms' bounds do not show (3_3 property 2:
/// 34,730 boxes by the score, a timeout after 258,909 with the look-ahead), and on domains
/// with several open terms, where the hardest term's deficit alone steers it (1_1 property 5:
/// 223,750 boxes, against 5,371 when only its last open term looks ahead).
fn process(
    net: &PwlNet,
    checker: &Checker,
    prop: &Property,
    d: &Domain,
    opts: &VerifyOptions,
) -> (Processed, usize) {
    let case = &prop.cases[d.case];
    let eval_box = |b: &Domain| -> Eval {
        evaluate(
            net,
            case,
            &b.terms,
            &b.lo,
            &b.hi,
            b.parent.as_deref(),
            if b.depth == 0 {
                opts.alpha_iters_root
            } else {
                opts.alpha_iters
            },
            if b.depth >= opts.alpha_combined_depth {
                opts.alpha_combined_iters
            } else {
                0
            },
        )
    };
    let Eval {
        inter,
        rb,
        owner,
        open,
        focus,
        lo,
        hi,
    } = match &d.pre {
        Some(e) => (**e).clone(),
        None => eval_box(d),
    };
    if open.is_empty() {
        return (Processed::Safe, 0);
    }
    // Continue on the shrunk box; if it lost more than half its volume, bound it again
    // before splitting.
    let ratio: f64 = (0..lo.len())
        .map(|i| {
            if d.hi[i] > d.lo[i] {
                (hi[i] - lo[i]) / (d.hi[i] - d.lo[i])
            } else {
                1.0
            }
        })
        .product();
    let shrunk = Domain {
        lo,
        hi,
        terms: open.clone(),
        depth: d.depth + 1,
        parent: Some(std::sync::Arc::new(inter)),
        case: d.case,
        pre: None,
    };
    if ratio < 0.5 {
        let a = shrunk.clone();
        return (Processed::Split(Box::new((shrunk, a)), Vec::new(), true), 0);
    }
    let d = &shrunk;
    let clamp = |x: &[f64]| -> Vec<f64> {
        x.iter()
            .enumerate()
            .map(|(i, v)| v.clamp(d.lo[i], d.hi[i]))
            .collect()
    };
    // Candidates: the centre and the CROWN corners of the open terms' atoms.
    let centre: Vec<f64> =
        d.lo.iter()
            .zip(&d.hi)
            .map(|(l, h)| l + (h - l) / 2.0)
            .collect();
    let mut cands = vec![centre];
    for (r, &t) in owner.iter().enumerate() {
        if open.contains(&t) {
            cands.push(clamp(&rb[r].corner));
        }
    }
    for x in &cands {
        let y = net.forward(x);
        for &t in &open {
            let atoms = &case.terms[t];
            if term_value(atoms, &y).0 <= 0.0 {
                if let Some(w) = checker.check(&case.lo, &case.hi, atoms, x) {
                    return (Processed::Sat(w), 0);
                }
            }
        }
    }
    // A short local descent inside this domain from the CROWN corner of the hardest term
    // (every third level of the tree, to keep its cost small against the bounds).
    if let Some((_, row)) = focus.filter(|&(_, r)| r != usize::MAX && d.depth.is_multiple_of(3)) {
        let atoms = &case.terms[owner[row]];
        if let Some(w) = pgd(
            net,
            checker,
            &d.lo,
            &d.hi,
            atoms,
            &clamp(&rb[row].corner),
            6,
        ) {
            return (Processed::Sat(w), 0);
        }
    }
    // Split.
    let width: Vec<f64> = d.lo.iter().zip(&d.hi).map(|(l, h)| h - l).collect();
    let splittable = |i: usize| {
        let m = d.lo[i] + width[i] / 2.0;
        m > d.lo[i] && m < d.hi[i]
    };
    let (_, row) = focus.expect("an open term");
    // Width relative to the case's box; dims more than 64 times narrower (relatively) than the
    // widest are not split, so that a dim the linear bound barely sees (small |λ_i|) but whose width
    // keeps units unstable is still split eventually.
    let rel: Vec<f64> = (0..width.len())
        .map(|i| {
            let w0 = case.hi[i] - case.lo[i];
            if w0 > 0.0 {
                width[i] / w0
            } else {
                0.0
            }
        })
        .collect();
    let max_rel = (0..width.len())
        .filter(|&i| splittable(i))
        .map(|i| rel[i])
        .fold(0.0, f64::max);
    let score = |i: usize| {
        if row == usize::MAX {
            rel[i]
        } else {
            // Σ over the focus term's atoms of |λ_i|·width_i: how much the linear bounds of the
            // term's atoms move across this input.
            let t = owner[row];
            owner
                .iter()
                .enumerate()
                .filter(|&(_, &o)| o == t)
                .map(|(r, _)| rb[r].lambda0[i].abs())
                .sum::<f64>()
                * width[i]
        }
    };
    // The candidates, best score first.
    let mut dims: Vec<usize> = (0..width.len())
        .filter(|&i| splittable(i) && rel[i] >= max_rel / 64.0)
        .collect();
    dims.sort_by(|&a, &b| {
        score(b)
            .total_cmp(&score(a))
            .then(rel[b].total_cmp(&rel[a]))
            .then(a.cmp(&b))
    });
    let Some(dim) = dims
        .first()
        .copied()
        .or_else(|| (0..width.len()).find(|&i| splittable(i)))
    else {
        return (Processed::Stuck, 0);
    };
    let halve = |dim: usize| -> (Domain, Domain) {
        let m = d.lo[dim] + width[dim] / 2.0;
        let mut left = d.clone();
        let mut right = left.clone();
        left.hi[dim] = m;
        right.lo[dim] = m;
        (left, right)
    };
    let corner = if row == usize::MAX {
        cands[0].clone()
    } else {
        clamp(&rb[row].corner)
    };
    let single_atoms = open.len() == 1 && case.terms[open[0]].len() == 1;
    if dims.len() < 2 || row == usize::MAX || !single_atoms {
        let (left, right) = halve(dim);
        return (Processed::Split(Box::new((left, right)), corner, false), 0);
    }
    // Look-ahead: bound the halves along every candidate; keep the pair with the smallest total
    // deficit (a half with no open term has none; ties keep the better score).
    let deficit = |e: &Eval| e.focus.map_or(0.0, |(lb, _)| lb.min(0.0));
    let mut best: Option<(f64, (Domain, Domain))> = None;
    for &dm in &dims {
        let (mut left, mut right) = halve(dm);
        let (el, er) = (eval_box(&left), eval_box(&right));
        let total = deficit(&el) + deficit(&er);
        left.pre = Some(std::sync::Arc::new(el));
        right.pre = Some(std::sync::Arc::new(er));
        if best.as_ref().is_none_or(|(b, _)| total > *b) {
            best = Some((total, (left, right)));
        }
    }
    let (_, pair) = best.expect("at least two candidates");
    (
        Processed::Split(Box::new(pair), corner, false),
        2 * dims.len(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tightening_keeps_every_point_that_meets_the_constraints() {
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        for _ in 0..200 {
            let d = rng.random_range(1..=4);
            let lo: Vec<f64> = (0..d).map(|_| rng.random_range(-1.0..0.0)).collect();
            let hi: Vec<f64> = lo.iter().map(|l| l + rng.random_range(0.1..2.0)).collect();
            let cons: Vec<(Vec<f64>, f64, f64)> = (0..rng.random_range(1..=3))
                .map(|_| {
                    let lam: Vec<f64> = (0..d).map(|_| rng.random_range(-2.0..2.0)).collect();
                    (
                        lam,
                        rng.random_range(-1.0..1.0),
                        rng.random_range(-1.0..1.0),
                    )
                })
                .collect();
            let view: Vec<(&[f64], f64, f64)> = cons
                .iter()
                .map(|(l, k, b)| (l.as_slice(), *k, *b))
                .collect();
            let (mut tlo, mut thi) = (lo.clone(), hi.clone());
            let res = tighten(&mut tlo, &mut thi, &view);
            for _ in 0..300 {
                let x: Vec<f64> = (0..d).map(|i| rng.random_range(lo[i]..=hi[i])).collect();
                let ok = cons
                    .iter()
                    .all(|(l, k, b)| l.iter().zip(&x).map(|(a, x)| a * x).sum::<f64>() + k <= *b);
                if ok {
                    assert!(
                        res.is_some(),
                        "a feasible point exists but the box was declared empty"
                    );
                    assert!(
                        (0..d).all(|i| tlo[i] <= x[i] && x[i] <= thi[i]),
                        "feasible point cut off"
                    );
                }
            }
        }
    }

    #[test]
    fn f32_steps() {
        assert_eq!(f32_next_up(1.0), 1.0 + f32::EPSILON);
        assert_eq!(f32_next_down(1.0), 1.0 - f32::EPSILON / 2.0);
        assert_eq!(f32_next_up(-0.0), f32::from_bits(1));
    }
}
