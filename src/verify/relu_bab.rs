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

use super::bab::{pgd, term_value, Checker, Stop, Witness};
use super::engine::{
    bound_rows, optimized_hidden, Domain as EngineDomain, Optim, Relaxation, Row, RowResult, Split,
};
use super::fp::sub_down;
use super::net::PwlNet;
use super::vnnlib::Case;
use std::time::Instant;

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
}

impl Default for ReluSplitOptions {
    fn default() -> Self {
        ReluSplitOptions {
            root_hidden_iters: 20,
            root_iters: 50,
            iters: 15,
            batch: 32,
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
    /// A sub-box of the case's box (`None`: all of it).
    bbox: Option<SubBox>,
}

/// A sub-box `(lo, hi)` of a case's input box.
type SubBox = Box<(Vec<f64>, Vec<f64>)>;

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
) -> CaseResult {
    let hidden = Optim {
        iters: opts.root_hidden_iters,
        fast: true,
        ..Optim::default()
    };
    let inter = optimized_hidden(net, &case.lo, &case.hi, None, &hidden);
    let trace = std::env::var_os("RELULAB_TRACE").is_some();
    let t0 = Instant::now();
    if trace {
        let unst = inter.unstable_counts();
        eprintln!("root hidden bounds: unstable per layer {unst:?}");
    }
    let out = net.layers.len() - 1;
    let rel = Relaxation::new(net, out, &case.lo, &case.hi, &inter);
    let all: Vec<usize> = (0..case.terms.len()).collect();
    let root_alpha: Vec<Vec<Vec<f32>>> = case
        .terms
        .iter()
        .map(|t| vec![Vec::new(); t.len()])
        .collect();
    let root = Domain {
        splits: Vec::new(),
        terms: all,
        alpha: root_alpha.clone(),
        beta: root_alpha,
        branch: (0, 0),
        bbox: None,
    };
    let root_opt = Optim {
        iters: opts.root_iters,
        branch: true,
        fast: true,
        ..Optim::default()
    };
    *domains += 1;
    let mut stack = Vec::new();
    match bound_children(net, checker, case, &rel, &[(&root, Child::Same)], &root_opt) {
        Bounded::Sat(w) => return CaseResult::Sat(w),
        Bounded::Open(mut v, _) => stack.append(&mut v),
    }
    if trace {
        eprintln!(
            "root output bound {:.3} s, open {}",
            t0.elapsed().as_secs_f64(),
            stack.len()
        );
    }
    if !stack.is_empty() {
        if let Some(w) = falsify(case) {
            return CaseResult::Sat(w);
        }
    }
    let opt = Optim {
        iters: opts.iters,
        branch: true,
        fast: true,
        ..Optim::default()
    };
    let linear_opt = Optim {
        iters: 400,
        lr_beta: 0.2,
        decay: 0.995,
        branch: true,
        fast: true,
        ..Optim::default()
    };
    let mut stuck = false;
    let mut round = 0usize;
    while !stack.is_empty() {
        if stop.now() {
            return CaseResult::Timeout;
        }
        let take = opts.batch.min(stack.len());
        let parents: Vec<Domain> = stack.split_off(stack.len() - take);
        let mut kids: Vec<(&Domain, Child)> = Vec::with_capacity(2 * take);
        for p in &parents {
            let (h, j) = p.branch;
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
        match bound_children(net, checker, case, &rel, &kids, &opt) {
            Bounded::Sat(w) => return CaseResult::Sat(w),
            Bounded::Open(mut v, worst) => {
                // Children are pushed in order, so the last parent's are explored first.
                stack.append(&mut v);
                round += 1;
                if let Some((t, x)) = worst.filter(|_| round.is_multiple_of(4)) {
                    if let Some(w) = pgd(net, checker, &case.lo, &case.hi, &case.terms[t], &x, 20) {
                        return CaseResult::Sat(w);
                    }
                }
            }
        }
        // A domain with every unstable unit split is linear on its feasible set, and its bound
        // is a linear program that β reaches only at convergence: such domains get a long
        // optimisation, and what stays open is halved along its input box (the relaxation
        // stays valid on sub-boxes), which converges for low-dimensional inputs.
        let (done, open): (Vec<Domain>, Vec<Domain>) =
            stack.drain(..).partition(|d| d.branch.0 == usize::MAX);
        stack = open;
        if !done.is_empty() {
            let kids: Vec<(&Domain, Child)> = done.iter().map(|d| (d, Child::Same)).collect();
            *domains += kids.len();
            let still = match bound_children(net, checker, case, &rel, &kids, &linear_opt) {
                Bounded::Sat(w) => return CaseResult::Sat(w),
                Bounded::Open(v, _) => v,
            };
            let mut halves: Vec<(&Domain, Child)> = Vec::new();
            for d in &still {
                let (lo, hi) = d
                    .bbox
                    .as_deref()
                    .map_or((&case.lo, &case.hi), |b| (&b.0, &b.1));
                let dim = (0..lo.len())
                    .filter(|&i| {
                        let m = lo[i] + (hi[i] - lo[i]) / 2.0;
                        m > lo[i] && m < hi[i]
                    })
                    .max_by(|&a, &b| {
                        let w = |i: usize| (hi[i] - lo[i]) / (case.hi[i] - case.lo[i]);
                        w(a).total_cmp(&w(b))
                    });
                match dim {
                    Some(i) if lo.len() <= super::bab::INPUT_SPLIT_MAX_DIM => {
                        halves.push((d, Child::Half(i, false)));
                        halves.push((d, Child::Half(i, true)));
                    }
                    _ => stuck = true,
                }
            }
            if !halves.is_empty() {
                *domains += halves.len();
                match bound_children(net, checker, case, &rel, &halves, &opt) {
                    Bounded::Sat(w) => return CaseResult::Sat(w),
                    Bounded::Open(mut v, _) => stack.append(&mut v),
                }
            }
        }
    }
    if stuck {
        CaseResult::Unknown
    } else {
        CaseResult::Unsat
    }
}

enum Bounded {
    Sat(Witness),
    /// Open children, and the worst open atom's (term, corner) for a gradient probe.
    Open(Vec<Domain>, Option<(usize, Vec<f64>)>),
}

/// Bound the domains `parent ∧ split` (or the parent itself for `None`) for every atom of the
/// parent's open terms; refute terms; try each open atom's corner as a counterexample.
fn bound_children(
    net: &PwlNet,
    checker: &Checker,
    case: &Case,
    rel: &Relaxation,
    kids: &[(&Domain, Child)],
    opt: &Optim,
) -> Bounded {
    let splits: Vec<Vec<Split>> = kids
        .iter()
        .map(|(p, s)| {
            let mut v = p.splits.clone();
            if let Child::Split(s) = s {
                v.push(*s);
            }
            v
        })
        .collect();
    let boxes: Vec<Option<SubBox>> = kids
        .iter()
        .map(|(p, s)| match *s {
            Child::Half(i, upper) => {
                let (mut lo, mut hi) = p
                    .bbox
                    .as_deref()
                    .cloned()
                    .unwrap_or_else(|| (case.lo.clone(), case.hi.clone()));
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
        .map(|(s, b)| EngineDomain {
            splits: s,
            bbox: b.as_deref().map(|(l, h)| (l.as_slice(), h.as_slice())),
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
    let mut owner = Vec::new();
    for (d, (p, _)) in kids.iter().enumerate() {
        for (ti, &t) in p.terms.iter().enumerate() {
            for (ai, atom) in case.terms[t].iter().enumerate() {
                let a = &p.alpha[ti][ai];
                let b = &betas[d][ti][ai];
                rows.push(Row {
                    dom: d,
                    c: &atom.c,
                    target: atom.b,
                    alpha: (!a.is_empty()).then_some(a.as_slice()),
                    beta: (!b.is_empty()).then_some(b.as_slice()),
                });
                owner.push((d, ti, ai));
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
            bbox: boxes[d].clone(),
        };
        let mut dom_worst: Option<(f64, &RowResult)> = None;
        for &t in &p.terms {
            let atoms = &case.terms[t];
            let rs = &res[k..k + atoms.len()];
            k += atoms.len();
            let refuted = atoms.iter().zip(rs).any(|(a, r)| sub_down(r.lb, a.b) > 0.0);
            if refuted {
                continue;
            }
            // Candidates: each atom's minimising corner.
            for r in rs {
                let y = net.forward(&r.corner);
                if term_value(atoms, &y).0 <= 0.0 {
                    if let Some(w) = checker.check(&case.lo, &case.hi, atoms, &r.corner) {
                        return Bounded::Sat(w);
                    }
                }
            }
            // The term's best atom decides how close it is to refuted.
            let (m, r) = atoms
                .iter()
                .zip(rs)
                .map(|(a, r)| (r.lb - a.b, r))
                .max_by(|a, b| a.0.total_cmp(&b.0))
                .expect("a term has atoms");
            if dom_worst.is_none_or(|(w, _)| m < w) {
                dom_worst = Some((m, r));
            }
            if worst.as_ref().is_none_or(|(w, _, _)| m < *w) {
                worst = Some((m, t, r.corner.clone()));
            }
            dom.terms.push(t);
            dom.alpha.push(rs.iter().map(|r| r.alpha.clone()).collect());
            dom.beta.push(rs.iter().map(|r| r.beta.clone()).collect());
        }
        if let Some((_, r)) = dom_worst {
            if let Some((h, j, _)) = r.branch {
                dom.branch = (h, j);
            }
            out.push(dom);
        }
    }
    Bounded::Open(out, worst.map(|(_, t, x)| (t, x)))
}
