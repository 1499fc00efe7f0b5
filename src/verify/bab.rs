//! Complete verification by input-space branch and bound, with a falsifier.
//!
//! Each domain (a sub-box of one case's input box, with the unsafe output terms not yet
//! refuted on it) is bounded by forward symbolic intermediate bounds and a CROWN backward pass
//! per output atom (α-CROWN at the root). A term is refuted on a domain when one of its atoms
//! `c·y ≤ b` has a sound lower bound of `c·y − b` above 0. A domain whose terms are all refuted
//! is safe; otherwise the box is halved along the input with the largest `|λ_i|·width_i` (λ the
//! CROWN coefficients on the input of the term closest to failing), ReluVal-style.
//!
//! Counterexamples are sought first (uniform sampling plus projected-gradient descent on the
//! most violated atom) and then at the centre and the CROWN-minimising corners of every domain,
//! with a short projected-gradient run between rounds. A candidate is reported as `sat` only
//! after [`check_witness`] accepts it. Domains are processed in parallel batches (rayon) in a
//! fixed order, so the answer does not depend on the thread count.

use super::bounds::{crown_hidden, lower_bounds};
use super::fp::{add_up, dot_err, sub_down};
use super::net::PwlNet;
use super::vnnlib::{OutputAtom, Property};
use crate::error::{Error, Result};
use crate::net::Mlp;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;
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
}

impl Default for VerifyOptions {
    fn default() -> Self {
        VerifyOptions {
            timeout: Duration::from_secs(116),
            seed: 0,
            batch: 64,
            samples: 2000,
            alpha_iters_root: 20,
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
fn term_value(atoms: &[OutputAtom], y: &[f64]) -> (f64, usize) {
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
fn pgd(
    net: &PwlNet,
    checker: &Checker,
    lo: &[f64],
    hi: &[f64],
    atoms: &[OutputAtom],
    x0: &[f64],
    steps: usize,
) -> Option<Witness> {
    let mut x = x0.to_vec();
    for s in 0..=steps {
        let y = net.forward(&x);
        let (v, k) = term_value(atoms, &y);
        if v <= 0.0 {
            if let Some(w) = checker.check(lo, hi, atoms, &x) {
                return Some(w);
            }
        }
        if s == steps || atoms.is_empty() {
            break;
        }
        let g = net.input_gradient(&x, &atoms[k].c);
        let step = 0.1 * (1.0 - s as f64 / steps as f64) + 0.001;
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
}

enum Processed {
    Safe,
    Sat(Witness),
    Split(Box<(Domain, Domain)>, Vec<f64>),
    Stuck,
}

/// Decide `prop` on `mlp`. Errors when the widths do not match or an activation is not
/// piecewise linear.
pub fn verify(mlp: &Mlp<f32>, prop: &Property, opts: &VerifyOptions) -> Result<Outcome> {
    let start = Instant::now();
    let net = PwlNet::from_mlp(mlp)?;
    if prop.n_inputs != net.input_dim() || prop.n_outputs != net.output_dim() {
        return Err(Error::Invalid(format!(
            "the property declares {} inputs and {} outputs, the network has {} and {}",
            prop.n_inputs,
            prop.n_outputs,
            net.input_dim(),
            net.output_dim()
        )));
    }
    let checker = Checker::new(&net, mlp);
    let done = |verdict, witness, domains| Outcome {
        verdict,
        witness,
        domains,
        seconds: start.elapsed().as_secs_f64(),
    };
    // Falsifier first.
    let mut rng = ChaCha8Rng::seed_from_u64(opts.seed);
    for case in &prop.cases {
        if let Some(w) = falsify(&net, &checker, case, opts.samples, &mut rng) {
            return Ok(done(Verdict::Sat, Some(w), 0));
        }
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
        })
        .collect();
    let mut domains = 0usize;
    let mut stuck = false;
    let mut round = 0usize;
    while !stack.is_empty() {
        if start.elapsed() > opts.timeout {
            return Ok(done(Verdict::Timeout, None, domains));
        }
        let take = opts.batch.min(stack.len());
        let batch: Vec<Domain> = stack.split_off(stack.len() - take);
        domains += batch.len();
        let results: Vec<Processed> = batch
            .par_iter()
            .map(|d| {
                process(
                    &net,
                    &checker,
                    prop,
                    d,
                    if d.depth == 0 {
                        opts.alpha_iters_root
                    } else {
                        0
                    },
                )
            })
            .collect();
        let mut probe: Option<(usize, Vec<f64>, Vec<f64>)> = None;
        for (d, r) in batch.iter().zip(results) {
            match r {
                Processed::Safe => {}
                Processed::Sat(w) => return Ok(done(Verdict::Sat, Some(w), domains)),
                Processed::Split(children, corner) => {
                    if probe.is_none() {
                        probe = Some((d.case, corner, d.lo.clone()));
                    }
                    let (a, b) = *children;
                    stack.push(b);
                    stack.push(a);
                }
                Processed::Stuck => stuck = true,
            }
        }
        round += 1;
        // Between rounds: a short gradient run from one open domain's CROWN corner.
        if round % 8 == 0 {
            if let Some((c, corner, _)) = probe {
                let case = &prop.cases[c];
                for atoms in &case.terms {
                    if let Some(w) = pgd(&net, &checker, &case.lo, &case.hi, atoms, &corner, 20) {
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

/// Random sampling and gradient descent over one case's box.
fn falsify(
    net: &PwlNet,
    checker: &Checker,
    case: &super::vnnlib::Case,
    samples: usize,
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
            if b.len() < 4 || v < b[b.len() - 1].0 {
                b.push((v, x.clone()));
                b.sort_by(|p, q| p.0.total_cmp(&q.0));
                b.truncate(4);
            }
        }
    }
    for (t, atoms) in case.terms.iter().enumerate() {
        for (_, x) in &best[t] {
            if let Some(w) = pgd(net, checker, &case.lo, &case.hi, atoms, x, 50) {
                return Some(w);
            }
        }
    }
    None
}

/// Bound one domain; refute terms; look for a counterexample; otherwise split.
fn process(
    net: &PwlNet,
    checker: &Checker,
    prop: &Property,
    d: &Domain,
    alpha_iters: usize,
) -> Processed {
    let case = &prop.cases[d.case];
    let inter = crown_hidden(net, &d.lo, &d.hi);
    let mut rows = Vec::new();
    let mut owner = Vec::new();
    for &t in &d.terms {
        for a in &case.terms[t] {
            rows.push(a.c.clone());
            owner.push(t);
        }
    }
    let out_layer = net.layers.len() - 1;
    let rb = lower_bounds(net, out_layer, &rows, &d.lo, &d.hi, &inter, alpha_iters);
    // Per term: refuted if some atom's lower bound of c·y − b is above 0.
    let mut open: Vec<usize> = Vec::new();
    let mut focus: Option<(f64, usize)> = None; // (best atom lb of the hardest term, row index)
    let mut k = 0;
    for &t in &d.terms {
        let atoms = &case.terms[t];
        let mut best: Option<(f64, usize)> = None;
        for (ai, a) in atoms.iter().enumerate() {
            let lb = sub_down(rb[k + ai].lb, a.b);
            if best.is_none_or(|(b, _)| lb > b) {
                best = Some((lb, k + ai));
            }
        }
        k += atoms.len();
        match best {
            Some((lb, _)) if lb > 0.0 => {}
            Some((lb, row)) => {
                open.push(t);
                if focus.is_none_or(|(f, _)| lb < f) {
                    focus = Some((lb, row));
                }
            }
            None => {
                open.push(t); // a term with no output atom: every point of the box is unsafe
                focus = focus.or(Some((f64::NEG_INFINITY, usize::MAX)));
            }
        }
    }
    if open.is_empty() {
        return Processed::Safe;
    }
    // Candidates: the centre and the CROWN corners of the open terms' atoms.
    let centre: Vec<f64> =
        d.lo.iter()
            .zip(&d.hi)
            .map(|(l, h)| l + (h - l) / 2.0)
            .collect();
    let mut cands = vec![centre];
    for (r, &t) in owner.iter().enumerate() {
        if open.contains(&t) {
            cands.push(rb[r].corner.clone());
        }
    }
    for x in &cands {
        let y = net.forward(x);
        for &t in &open {
            let atoms = &case.terms[t];
            if term_value(atoms, &y).0 <= 0.0 {
                if let Some(w) = checker.check(&case.lo, &case.hi, atoms, x) {
                    return Processed::Sat(w);
                }
            }
        }
    }
    // Split.
    let width: Vec<f64> = d.lo.iter().zip(&d.hi).map(|(l, h)| h - l).collect();
    let splittable = |i: usize| {
        let m = d.lo[i] + width[i] / 2.0;
        m > d.lo[i] && m < d.hi[i]
    };
    let (_, row) = focus.expect("an open term");
    let score = |i: usize| {
        if row == usize::MAX {
            width[i]
        } else {
            rb[row].lambda0[i].abs() * width[i]
        }
    };
    let dim = (0..width.len())
        .filter(|&i| splittable(i))
        .max_by(|&a, &b| {
            score(a)
                .total_cmp(&score(b))
                .then(width[a].total_cmp(&width[b]))
        });
    let Some(dim) = dim else {
        return Processed::Stuck;
    };
    let dim = if score(dim) > 0.0 {
        dim
    } else {
        (0..width.len())
            .filter(|&i| splittable(i))
            .max_by(|&a, &b| width[a].total_cmp(&width[b]))
            .unwrap_or(dim)
    };
    let m = d.lo[dim] + width[dim] / 2.0;
    let mut left = Domain {
        case: d.case,
        lo: d.lo.clone(),
        hi: d.hi.clone(),
        terms: open.clone(),
        depth: d.depth + 1,
    };
    let mut right = left.clone();
    left.hi[dim] = m;
    right.lo[dim] = m;
    let corner = if row == usize::MAX {
        cands[0].clone()
    } else {
        rb[row].corner.clone()
    };
    Processed::Split(Box::new((left, right)), corner)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn f32_steps() {
        assert_eq!(f32_next_up(1.0), 1.0 + f32::EPSILON);
        assert_eq!(f32_next_down(1.0), 1.0 - f32::EPSILON / 2.0);
        assert_eq!(f32_next_up(-0.0), f32::from_bits(1));
    }
}
