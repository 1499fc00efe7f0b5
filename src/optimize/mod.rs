//! Certified optimisation over trained ReLU-family surrogates (issue 13): the global optimum of
//! a linear expression of a network's outputs and inputs, over an input box, under linear
//! constraints on inputs and outputs, with a sound bound on the optimum.
//!
//! # The problem, in the user's units
//! The surrogate is x ↦ y with s = (x − μₓ)/σₓ (the checkpoint's input standardisation),
//! ŷ = N(s) (the network, real arithmetic with its f32 weights) and y = μ_y + σ_y·ŷ (the target
//! standardisation, [`surrogate`]). Minimise or maximise `c·y + d·x + e` over x in the box
//! `[lo, hi]` subject to constraints `a_k·y + g_k·x + e_k ≤ 0`.
//!
//! # How the affine maps stay sound
//! Nothing is folded into the network's weights. The search runs in the standardised input
//! space over the box S = [↓((lo − μ)/σ), ↑((hi − μ)/σ)], rounded outward, which contains the
//! exact image of the user box, so a lower bound over S is a lower bound over the user box. The
//! objective over S is `Σ c'_i ŷ_i + Σ d'_j s_j + e'` with c' = fl(c·σ_y), d' = fl(d·σₓ) and
//! e' = fl(e + c·μ_y + d·μₓ); their rounding is charged once: |c_iσ_i − c'_i| ≤ 2u|c'_i| times a
//! sound bound of |ŷ_i| on S (interval bounds of the output layer), the same for d' with
//! max|s_j|, and Higham's γ_n bound for e' ([`crate::verify::fp::dot_err`]). The charge is
//! subtracted (rounded down) from every lower bound, and added the same way to every
//! constraint's lower bound before it may prune a domain.
//!
//! # The search
//! Best-first branch and bound over sub-boxes of S. Each domain gets its own intermediate
//! bounds (`engine::optimized_hidden`, warm-started from its parent's) and one
//! `engine::bound_rows` call for the objective row and every constraint row; each row's
//! linear bound `row ≥ λ·s + k` is combined into a Lagrangian bound
//! `f ≥ ℓ_f(s) + Σ μ_k (ℓ_k(s) − b_k)` valid on the feasible points for any μ ≥ 0 (Lagrangian
//! relaxation; on a box where the network is affine this is LP duality, so the bound is exact
//! there). μ is chosen by exact maximisation of the piecewise-linear concave dual along each
//! coordinate (its breakpoints), then the bound is evaluated with its rounding charged. Domains
//! whose constraint bound exceeds its right-hand side are infeasible; boxes are shrunk by
//! interval propagation of the linear bounds (`verify::bab::tighten`) with the incumbent as a
//! cut-off. Primal points: the minimising corner of each domain's linear bound, the box
//! centre, the exact vertex of the domain's LP when the network is affine on it and there are
//! at most two inputs, and a projected-gradient descent at the root. Every point is
//! re-evaluated by a plain f64 forward pass in user units and every constraint re-checked
//! before it becomes the incumbent. Domains are bounded in batches of [`Options::batch`] in
//! parallel and merged in a fixed order, so the result does not depend on the thread count.
//!
//! # ReLU splitting
//! With more than [`crate::verify::bab::INPUT_SPLIT_MAX_DIM`] inputs (or when
//! [`Options::strategy`] asks for it) the same rows go to the verifier's ReLU-split branch and
//! bound (`verify::relu_bab`, β-CROWN style) as its objective-mode goal: domains are the box
//! with split constraints on hidden units, bounded with α/β by the engine; each domain's rows
//! are combined into the same Lagrangian bound over its box; a domain closes when a constraint
//! row's sound bound proves it infeasible or its objective bound is within the gap of the
//! incumbent; the smallest bounds are split first, and the global bound is the smallest open
//! one. Input splitting narrows a box in every input; in 64 dimensions that barely moves the
//! bound, while a split ReLU removes its relaxation error wherever it is.
//!
//! # Exact mode
//! For one or two inputs, [`solve_exact`] enumerates the linear regions (the regions engine:
//! `regions::partition`, `regions::segment`), clips each region by the constraints (affine on
//! the region) and evaluates the objective at the clipped polygon's vertices: the oracle of the
//! tests, exact up to the partition's vertex rounding.

pub mod expr;
pub mod pwl;
mod relu;
pub mod spec;
pub mod surrogate;

use crate::error::{Error, Result};
use crate::net::Mlp;
use crate::verify::bab::tighten;
pub use crate::verify::bab::Strategy;
use crate::verify::bounds::{output_interval, LayerBounds};
use crate::verify::engine::{
    bound_rows, optimized_hidden, Domain, Optim, Relaxation, Row, RowResult,
};
use crate::verify::fp::{add_up, dot_err, next_down, next_up, sub_down};
use crate::verify::PwlNet;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;
use serde::Serialize;
use std::cmp::Ordering;
use std::collections::BinaryHeap;
use std::sync::atomic::{AtomicBool, Ordering as AtomicOrdering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The affine maps between the user's units and the network's: x = μₓ + σₓ·s, y = μ_y + σ_y·ŷ.
#[derive(Clone, Debug, PartialEq, Serialize, serde::Deserialize)]
pub struct Scaling {
    /// Input means μₓ.
    pub x_mean: Vec<f64>,
    /// Input standard deviations σₓ (> 0).
    pub x_std: Vec<f64>,
    /// Output means μ_y.
    pub y_mean: Vec<f64>,
    /// Output standard deviations σ_y (> 0).
    pub y_std: Vec<f64>,
}

impl Scaling {
    /// No scaling.
    pub fn identity(d_in: usize, d_out: usize) -> Self {
        Scaling {
            x_mean: vec![0.0; d_in],
            x_std: vec![1.0; d_in],
            y_mean: vec![0.0; d_out],
            y_std: vec![1.0; d_out],
        }
    }

    /// s = (x − μₓ)/σₓ (round to nearest).
    pub fn to_net(&self, x: &[f64]) -> Vec<f64> {
        x.iter()
            .zip(&self.x_mean)
            .zip(&self.x_std)
            .map(|((x, m), s)| (x - m) / s)
            .collect()
    }

    /// x = μₓ + σₓ·s (round to nearest).
    pub fn to_user_x(&self, s: &[f64]) -> Vec<f64> {
        s.iter()
            .zip(&self.x_mean)
            .zip(&self.x_std)
            .map(|((s, m), sd)| m + sd * s)
            .collect()
    }

    /// y = μ_y + σ_y·ŷ (round to nearest).
    pub fn to_user_y(&self, yh: &[f64]) -> Vec<f64> {
        yh.iter()
            .zip(&self.y_mean)
            .zip(&self.y_std)
            .map(|((v, m), s)| m + s * v)
            .collect()
    }

    fn validate(&self, d_in: usize, d_out: usize) -> Result<()> {
        let ok = |m: &[f64], s: &[f64], n: usize| {
            m.len() == n
                && s.len() == n
                && m.iter().all(|v| v.is_finite())
                && s.iter().all(|v| v.is_finite() && *v > 0.0)
        };
        if !ok(&self.x_mean, &self.x_std, d_in) || !ok(&self.y_mean, &self.y_std, d_out) {
            return Err(Error::Shape(format!(
                "scaling: expected {d_in} finite input means and positive standard deviations and {d_out} output ones"
            )));
        }
        Ok(())
    }
}

/// A linear function `cy·y + cx·x + c0` in user units.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Linear {
    /// Coefficients on the outputs.
    pub cy: Vec<f64>,
    /// Coefficients on the inputs.
    pub cx: Vec<f64>,
    /// Constant.
    pub c0: f64,
}

impl Linear {
    /// Value at (x, y).
    pub fn value(&self, x: &[f64], y: &[f64]) -> f64 {
        self.c0
            + self.cy.iter().zip(y).map(|(c, v)| c * v).sum::<f64>()
            + self.cx.iter().zip(x).map(|(c, v)| c * v).sum::<f64>()
    }

    fn uses_outputs(&self) -> bool {
        self.cy.iter().any(|&c| c != 0.0)
    }
}

/// A constraint `lin ≤ 0`, with the text it came from.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Constraint {
    /// The function that must be ≤ 0.
    pub lin: Linear,
    /// What the user wrote.
    pub text: String,
}

/// Minimise or maximise.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Sense {
    /// Minimise.
    Minimize,
    /// Maximise.
    Maximize,
}

/// An optimisation problem over a piecewise-linear network.
#[derive(Clone, Debug)]
pub struct Problem {
    /// The network (standardised units).
    pub mlp: Mlp<f32>,
    /// Its f64 view.
    pub net: PwlNet,
    /// User units ↔ network units.
    pub scaling: Scaling,
    /// Minimise or maximise.
    pub sense: Sense,
    /// The objective (user units).
    pub objective: Linear,
    /// Constraints `lin ≤ 0` (user units).
    pub constraints: Vec<Constraint>,
    /// Input box (user units).
    pub lo: Vec<f64>,
    /// Input box (user units).
    pub hi: Vec<f64>,
}

impl Problem {
    /// Build and check a problem; `Error::Unsupported` names the first layer whose activation
    /// is not piecewise linear.
    pub fn new(
        mlp: Mlp<f32>,
        scaling: Scaling,
        sense: Sense,
        objective: Linear,
        constraints: Vec<Constraint>,
        lo: Vec<f64>,
        hi: Vec<f64>,
    ) -> Result<Self> {
        let net = PwlNet::from_mlp(&mlp)?;
        let (d, m) = (net.input_dim(), net.output_dim());
        scaling.validate(d, m)?;
        if lo.len() != d || hi.len() != d {
            return Err(Error::Shape(format!(
                "input bounds: {} given, the model has {d} inputs",
                lo.len()
            )));
        }
        for j in 0..d {
            if !(lo[j].is_finite() && hi[j].is_finite()) {
                return Err(Error::Value(format!(
                    "input bounds: x[{j}] ∈ [{}, {}] is not a finite interval",
                    lo[j], hi[j]
                )));
            }
            if lo[j] > hi[j] {
                return Err(Error::Value(format!(
                    "contradictory bounds: x[{j}] ≥ {} and x[{j}] ≤ {}",
                    lo[j], hi[j]
                )));
            }
        }
        for l in std::iter::once(&objective).chain(constraints.iter().map(|c| &c.lin)) {
            if l.cy.len() != m || l.cx.len() != d {
                return Err(Error::Shape(
                    "objective or constraint of the wrong width".into(),
                ));
            }
            if l.cy.iter().chain(&l.cx).any(|v| !v.is_finite()) || !l.c0.is_finite() {
                return Err(Error::Value("non-finite coefficient".into()));
            }
        }
        Ok(Problem {
            mlp,
            net,
            scaling,
            sense,
            objective,
            constraints,
            lo,
            hi,
        })
    }

    /// Plain f64 forward pass in user units: the outputs y at x.
    pub fn outputs(&self, x: &[f64]) -> Vec<f64> {
        let s = self.scaling.to_net(x);
        self.scaling.to_user_y(&self.net.forward(&s))
    }

    /// Evaluate a point: (outputs, objective, largest constraint value, inside the box).
    pub fn evaluate(&self, x: &[f64]) -> Evaluation {
        let y = self.outputs(x);
        let objective = self.objective.value(x, &y);
        let violation = self
            .constraints
            .iter()
            .map(|c| c.lin.value(x, &y))
            .fold(f64::NEG_INFINITY, f64::max);
        let in_box = x
            .iter()
            .zip(self.lo.iter().zip(&self.hi))
            .all(|(v, (l, h))| v >= l && v <= h);
        Evaluation {
            y,
            objective,
            violation,
            feasible: in_box && violation <= 0.0 && objective.is_finite(),
        }
    }

    fn sign(&self) -> f64 {
        match self.sense {
            Sense::Minimize => 1.0,
            Sense::Maximize => -1.0,
        }
    }
}

/// A point evaluated by a plain f64 forward pass.
#[derive(Clone, Debug)]
pub struct Evaluation {
    /// Outputs (user units).
    pub y: Vec<f64>,
    /// Objective (user units).
    pub objective: f64,
    /// max_k of the constraint functions (≤ 0: all met; −∞ without constraints).
    pub violation: f64,
    /// Inside the box and every constraint met.
    pub feasible: bool,
}

/// Search settings.
#[derive(Clone, Debug)]
pub struct Options {
    /// Stop when incumbent − bound ≤ this.
    pub gap_abs: f64,
    /// Stop when incumbent − bound ≤ this · |incumbent|.
    pub gap_rel: f64,
    /// Wall-clock limit.
    pub time_limit: Option<Duration>,
    /// Domain limit.
    pub max_nodes: usize,
    /// Domains bounded per round (in parallel).
    pub batch: usize,
    /// α-CROWN iterations per domain (0: CROWN).
    pub alpha_iters: usize,
    /// Seed of the root's local search starts.
    pub seed: u64,
    /// Local-search starts at the root.
    pub starts: usize,
    /// A cancel flag (the Python binding's Ctrl-C): once set, the search stops at its next
    /// round and [`solve`] returns [`Error::Cancelled`] with [`CANCELLED`].
    pub cancel: Option<Arc<AtomicBool>>,
    /// Input splitting or ReLU splitting; [`Strategy::Auto`] (the default) chooses as the
    /// verifier does ([`Strategy::resolve`]): input splitting up to
    /// [`crate::verify::bab::INPUT_SPLIT_MAX_DIM`] inputs, ReLU splitting above.
    pub strategy: Strategy,
}

/// The error message of a search stopped through [`Options::cancel`].
pub const CANCELLED: &str = "optimize: cancelled";

impl Default for Options {
    fn default() -> Self {
        Options {
            gap_abs: 1e-9,
            gap_rel: 1e-6,
            time_limit: Some(Duration::from_secs(60)),
            max_nodes: 5_000_000,
            batch: 64,
            alpha_iters: 0,
            seed: 0,
            starts: 16,
            cancel: None,
            strategy: Strategy::Auto,
        }
    }
}

/// How a search ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Gap closed (within the tolerances).
    Optimal,
    /// Every domain was pruned without a feasible point: proved infeasible.
    Infeasible,
    /// Stopped at the time limit.
    TimeLimit,
    /// Stopped at the domain limit.
    NodeLimit,
    /// Domains too small to split remain open (the gap is what f64 can resolve).
    Resolution,
}

impl Status {
    /// The name used in output.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Optimal => "optimal",
            Status::Infeasible => "infeasible",
            Status::TimeLimit => "time_limit",
            Status::NodeLimit => "node_limit",
            Status::Resolution => "resolution",
        }
    }
}

/// The answer.
#[derive(Clone, Debug, Serialize)]
pub struct Solution {
    /// How the search ended.
    pub status: Status,
    /// Minimise or maximise.
    pub sense: Sense,
    /// Best feasible input found (user units).
    pub x: Option<Vec<f64>>,
    /// Its outputs (plain f64 forward pass).
    pub y: Option<Vec<f64>>,
    /// Its objective.
    pub objective: Option<f64>,
    /// A sound bound on the optimum: ≤ it when minimising, ≥ it when maximising (±∞ when
    /// nothing is known; for an infeasible problem the bound is +∞ / −∞).
    pub bound: f64,
    /// |objective − bound| (∞ without an incumbent).
    pub gap_abs: f64,
    /// gap_abs / max(|objective|, 1e-300).
    pub gap_rel: f64,
    /// Domains bounded.
    pub nodes: usize,
    /// Wall-clock seconds.
    pub seconds: f64,
    /// Largest constraint value at x (≤ 0).
    pub violation: Option<f64>,
    /// The search that produced it: "bab" (input splitting), "relu-bab" (ReLU splitting) or
    /// "exact".
    pub method: &'static str,
    /// Exact mode: linear pieces (cells) enumerated.
    pub regions: Option<usize>,
}

/// Progress of a running search.
#[derive(Clone, Debug)]
pub struct Progress {
    /// Domains bounded.
    pub nodes: usize,
    /// Open domains.
    pub open: usize,
    /// Incumbent (user units).
    pub objective: Option<f64>,
    /// Bound (user units).
    pub bound: f64,
    /// Seconds.
    pub seconds: f64,
}

/// 2u, the relative error bound of one rounded product (u = 2⁻⁵³), with margin.
const TWO_U: f64 = f64::EPSILON;

/// A row in network units: `Σ c_i ŷ_i + Σ d_j s_j + e` with `e` and the coefficients' rounding
/// in `charge`: the user-unit function is ≥ row − charge and ≤ row + charge on S.
struct NetRow {
    c: Vec<f64>,
    d: Vec<f64>,
    e: f64,
    charge: f64,
    uses_outputs: bool,
}

impl NetRow {
    fn new(lin: &Linear, sign: f64, sc: &Scaling, ymag: &[f64], smag: &[f64]) -> Self {
        let c: Vec<f64> = lin
            .cy
            .iter()
            .zip(&sc.y_std)
            .map(|(c, s)| sign * c * s)
            .collect();
        let d: Vec<f64> = lin
            .cx
            .iter()
            .zip(&sc.x_std)
            .map(|(c, s)| sign * c * s)
            .collect();
        let mut e = sign * lin.c0;
        let mut emag = e.abs();
        for (c, m) in lin.cy.iter().zip(&sc.y_mean) {
            e += sign * c * m;
            emag += (c * m).abs();
        }
        for (c, m) in lin.cx.iter().zip(&sc.x_mean) {
            e += sign * c * m;
            emag += (c * m).abs();
        }
        let n = lin.cy.len() + lin.cx.len() + 1;
        let mut mag = 0.0;
        for (ci, y) in c.iter().zip(ymag) {
            mag += ci.abs() * y;
        }
        for (di, s) in d.iter().zip(smag) {
            mag += di.abs() * s;
        }
        // Rounded products: 2u|c'|·max|ŷ| (with 2× headroom for the sum), plus e's sum.
        let charge = add_up(
            next_up(next_up(2.0 * TWO_U * mag) + 1e3 * f64::MIN_POSITIVE),
            dot_err(2 * n, emag + e.abs()),
        );
        NetRow {
            c,
            d,
            e,
            charge,
            uses_outputs: lin.uses_outputs(),
        }
    }

    /// Sound constant of the row's linear lower bound: engine constant k + e − charge.
    fn const_down(&self, k: f64) -> f64 {
        sub_down(sub_down(k, -self.e), self.charge)
    }

    /// The row's linear lower bound on a domain from the engine's result for it (λ over the
    /// outputs' part; a row without outputs was bounded as 0 and is its constant alone).
    fn lin_bound(&self, r: &RowResult) -> LinBound {
        if self.uses_outputs {
            LinBound {
                lam: r.lambda0.clone(),
                k: self.const_down(r.k),
            }
        } else {
            LinBound {
                lam: vec![0.0; self.d.len()],
                k: self.const_down(0.0),
            }
        }
    }
}

/// A row's linear lower bound on a domain: row ≥ λ·s + k (k sound, λ exact), λ including d.
struct LinBound {
    /// λ from the engine (over s), exact.
    lam: Vec<f64>,
    /// Sound constant.
    k: f64,
}

/// The sound minimum over [lo, hi] of `Σ_r w_r (λ_r·s + k_r − b_r)` with w_0 = 1 (the
/// objective, b_0 = 0) and w_r = μ_r ≥ 0, where each row's λ is `lam + d` (both exact): the
/// value is computed in f64 and its rounding charged (Higham's γ_n with headroom).
fn lagrangian_bound(rows: &[(&LinBound, &[f64], f64)], w: &[f64], lo: &[f64], hi: &[f64]) -> f64 {
    let d = lo.len();
    let mut total = 0.0;
    let mut mag = 0.0;
    for j in 0..d {
        let (mut a, mut m) = (0.0, 0.0);
        for (r, &(lb, dv, _)) in rows.iter().enumerate() {
            if w[r] == 0.0 {
                continue;
            }
            a += w[r] * (lb.lam[j] + dv[j]);
            m += w[r] * (lb.lam[j].abs() + dv[j].abs());
        }
        total += (a * lo[j]).min(a * hi[j]);
        mag += m * lo[j].abs().max(hi[j].abs());
    }
    for (r, &(lb, _, b)) in rows.iter().enumerate() {
        if w[r] == 0.0 {
            continue;
        }
        total += w[r] * (lb.k - b);
        mag += w[r] * (lb.k.abs() + b.abs());
    }
    if !total.is_finite() {
        return f64::NEG_INFINITY;
    }
    let n = 3 * rows.len() + d + 4;
    sub_down(total, dot_err(n, 2.0 * mag + total.abs()))
}

/// Plain-arithmetic value of the same function (for choosing μ).
fn lagrangian_plain(rows: &[(&LinBound, &[f64], f64)], w: &[f64], lo: &[f64], hi: &[f64]) -> f64 {
    let mut total = 0.0;
    for j in 0..lo.len() {
        let a: f64 = rows
            .iter()
            .zip(w)
            .map(|(&(lb, dv, _), &wr)| wr * (lb.lam[j] + dv[j]))
            .sum();
        total += (a * lo[j]).min(a * hi[j]);
    }
    for (&(lb, _, b), &wr) in rows.iter().zip(w) {
        total += wr * (lb.k - b);
    }
    total
}

/// Choose μ ≥ 0 by coordinate ascent on the concave piecewise-linear dual: along one
/// coordinate the maximum is at 0 or at a breakpoint (a coefficient crossing zero).
fn choose_mu(rows: &[(&LinBound, &[f64], f64)], lo: &[f64], hi: &[f64]) -> Vec<f64> {
    let mut w = vec![0.0; rows.len()];
    w[0] = 1.0;
    let d = lo.len();
    for _sweep in 0..3 {
        for r in 1..rows.len() {
            let mut cands = vec![0.0];
            let (lb, dv, _) = rows[r];
            for j in 0..d {
                let gr = lb.lam[j] + dv[j];
                if gr == 0.0 {
                    continue;
                }
                let rest: f64 = rows
                    .iter()
                    .zip(&w)
                    .enumerate()
                    .filter(|(q, _)| *q != r)
                    .map(|(_, (&(l, dd, _), &wq))| wq * (l.lam[j] + dd[j]))
                    .sum();
                let mu = -rest / gr;
                if mu > 0.0 && mu.is_finite() {
                    cands.push(mu);
                }
            }
            let mut best = (f64::NEG_INFINITY, w[r]);
            for mu in cands {
                w[r] = mu;
                let v = lagrangian_plain(rows, &w, lo, hi);
                if v > best.0 {
                    best = (v, mu);
                }
            }
            w[r] = best.1;
        }
    }
    w
}

/// One open domain.
struct Node {
    lo: Vec<f64>,
    hi: Vec<f64>,
    inter: Option<LayerBounds>,
    lb: f64,
    id: u64,
}

impl PartialEq for Node {
    fn eq(&self, o: &Self) -> bool {
        self.cmp(o) == Ordering::Equal
    }
}
impl Eq for Node {}
impl PartialOrd for Node {
    fn partial_cmp(&self, o: &Self) -> Option<Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for Node {
    // A max-heap: the smallest bound (then the oldest) first.
    fn cmp(&self, o: &Self) -> Ordering {
        o.lb.total_cmp(&self.lb).then(o.id.cmp(&self.id))
    }
}

/// What bounding one domain gave.
struct Outcome {
    /// None: pruned (infeasible or no better point).
    kept: Option<(Vec<f64>, Vec<f64>, f64, LayerBounds)>,
    /// Candidate points (network units).
    cands: Vec<Vec<f64>>,
}

struct Ctx<'a> {
    p: &'a Problem,
    obj: NetRow,
    cons: Vec<NetRow>,
    slo: Vec<f64>,
    shi: Vec<f64>,
    opt: Optim,
}

/// Outward-rounded image of the user box in network units.
fn net_box(p: &Problem) -> (Vec<f64>, Vec<f64>) {
    let sc = &p.scaling;
    let f = |v: f64, j: usize| (v - sc.x_mean[j]) / sc.x_std[j];
    let slo = (0..p.lo.len())
        .map(|j| next_down(next_down(next_down(f(p.lo[j], j)))))
        .collect();
    let shi = (0..p.hi.len())
        .map(|j| next_up(next_up(next_up(f(p.hi[j], j)))))
        .collect();
    (slo, shi)
}

impl Ctx<'_> {
    fn bound_domain(
        &self,
        lo: &[f64],
        hi: &[f64],
        known: Option<&LayerBounds>,
        cutoff: f64,
    ) -> Outcome {
        let net = &self.p.net;
        let t = net.layers.len() - 1;
        let mut out = Outcome {
            kept: None,
            cands: Vec::new(),
        };
        let inter = optimized_hidden(
            net,
            lo,
            hi,
            known,
            &Optim {
                iters: 0,
                ..self.opt
            },
        );
        let rel = Relaxation::new(net, t, lo, hi, &inter);
        let zero = vec![0.0; net.output_dim()];
        let all: Vec<&NetRow> = std::iter::once(&self.obj).chain(&self.cons).collect();
        let rows: Vec<Row> = all
            .iter()
            .map(|r| Row {
                dom: 0,
                c: if r.uses_outputs { &r.c } else { &zero },
                target: f64::INFINITY,
                alpha: None,
                beta: None,
                floor: f64::NEG_INFINITY,
            })
            .collect();
        let res = bound_rows(&rel, &[Domain::splits(&[])], &rows, &self.opt);
        let lbs: Vec<LinBound> = res
            .iter()
            .zip(&all)
            .map(|(r, nr)| nr.lin_bound(r))
            .collect();
        let (mut tlo, mut thi) = (lo.to_vec(), hi.to_vec());
        // Atoms for tightening: λ + d (rounded; the rounding charged into the constant).
        let mut atoms_own: Vec<(Vec<f64>, f64, f64)> = Vec::new();
        for (r, (lb, nr)) in lbs.iter().zip(&all).enumerate() {
            let b = if r == 0 { cutoff } else { 0.0 };
            if !b.is_finite() {
                continue;
            }
            let a: Vec<f64> = lb.lam.iter().zip(&nr.d).map(|(l, d)| l + d).collect();
            let extra: f64 = a
                .iter()
                .zip(lo.iter().zip(hi))
                .map(|(a, (l, h))| TWO_U * a.abs() * l.abs().max(h.abs()))
                .sum();
            atoms_own.push((a, sub_down(lb.k, next_up(2.0 * extra)), b));
        }
        let atoms: Vec<(&[f64], f64, f64)> = atoms_own
            .iter()
            .map(|(a, k, b)| (a.as_slice(), *k, *b))
            .collect();
        if tighten(&mut tlo, &mut thi, &atoms).is_none() {
            return out;
        }
        // Infeasible domain: some constraint's lower bound above 0.
        for (r, lb) in lbs.iter().enumerate().skip(1) {
            let one = [(lb, all[r].d.as_slice(), 0.0)];
            if lagrangian_bound(&one, &[1.0], &tlo, &thi) > 0.0 {
                return out;
            }
        }
        let rows3: Vec<(&LinBound, &[f64], f64)> = lbs
            .iter()
            .zip(&all)
            .map(|(lb, nr)| (lb, nr.d.as_slice(), 0.0))
            .collect();
        let w = choose_mu(&rows3, &tlo, &thi);
        let mut lb = lagrangian_bound(&rows3, &w, &tlo, &thi);
        if w.iter().skip(1).any(|&m| m != 0.0) {
            let mut w0 = vec![0.0; w.len()];
            w0[0] = 1.0;
            lb = lb.max(lagrangian_bound(&rows3, &w0, &tlo, &thi));
        }
        // Candidates: the minimising corner of the objective's linear bound, the centre.
        let a: Vec<f64> = lbs[0]
            .lam
            .iter()
            .zip(&self.obj.d)
            .map(|(l, d)| l + d)
            .collect();
        out.cands.push(
            (0..lo.len())
                .map(|j| if a[j] >= 0.0 { tlo[j] } else { thi[j] })
                .collect(),
        );
        out.cands
            .push(tlo.iter().zip(&thi).map(|(l, h)| 0.5 * (l + h)).collect());
        // Affine on the box (every unit stable) and at most two inputs: the LP's vertex.
        let stable = inter
            .lo
            .iter()
            .zip(&inter.hi)
            .all(|(l, h)| l.iter().zip(h).all(|(l, h)| *l >= 0.0 || *h <= 0.0));
        if stable && lo.len() <= 2 && !self.cons.is_empty() {
            // Each constraint's linear bound is exact where the network is affine (up to
            // rounding); the LP's vertex is a heuristic point, re-checked like any other.
            let half: Vec<[f64; 3]> = lbs
                .iter()
                .zip(&all)
                .skip(1)
                .map(|(lb, nr)| {
                    let g = |j: usize| {
                        if j < lo.len() {
                            lb.lam[j] + nr.d[j]
                        } else {
                            0.0
                        }
                    };
                    [g(0), g(1), lb.k]
                })
                .collect();
            let poly = box_polygon(&tlo, &thi);
            let poly = half.iter().fold(poly, |p, h| clip(&p, h[0], h[1], h[2]));
            if let Some(v) = best_vertex(&poly, a[0], *a.get(1).unwrap_or(&0.0)) {
                let c: Vec<f64> = v[..lo.len()].to_vec();
                out.cands.push(c);
                out.cands.push(centroid(&poly)[..lo.len()].to_vec());
            }
        }
        out.kept = Some((tlo, thi, lb, inter));
        out
    }
}

/// A box as a polygon (d = 1: a degenerate segment in (u, 0)).
fn box_polygon(lo: &[f64], hi: &[f64]) -> Vec<[f64; 2]> {
    if lo.len() == 1 {
        return vec![[lo[0], 0.0], [hi[0], 0.0]];
    }
    vec![
        [lo[0], lo[1]],
        [hi[0], lo[1]],
        [hi[0], hi[1]],
        [lo[0], hi[1]],
    ]
}

/// Clip a convex polygon (or segment) by a·u + b·v + c ≤ 0 (Sutherland–Hodgman, one edge).
fn clip(p: &[[f64; 2]], a: f64, b: f64, c: f64) -> Vec<[f64; 2]> {
    let f = |q: &[f64; 2]| a * q[0] + b * q[1] + c;
    let n = p.len();
    let mut out = Vec::with_capacity(n + 1);
    if n == 0 {
        return out;
    }
    let closed = n > 2;
    let edges = if closed { n } else { n.saturating_sub(1) };
    if n == 1 {
        if f(&p[0]) <= 0.0 {
            out.push(p[0]);
        }
        return out;
    }
    for i in 0..edges {
        let (s, e) = (p[i], p[(i + 1) % n]);
        let (fs, fe) = (f(&s), f(&e));
        if fs <= 0.0 && (closed || i == 0) {
            out.push(s);
        }
        if (fs < 0.0 && fe > 0.0) || (fs > 0.0 && fe < 0.0) {
            let t = fs / (fs - fe);
            out.push([s[0] + t * (e[0] - s[0]), s[1] + t * (e[1] - s[1])]);
        }
        if !closed && fe <= 0.0 {
            out.push(e);
        }
    }
    if closed {
        out
    } else {
        // A segment: keep its extreme points.
        out.dedup();
        out
    }
}

fn best_vertex(p: &[[f64; 2]], a: f64, b: f64) -> Option<[f64; 2]> {
    p.iter()
        .copied()
        .min_by(|x, y| (a * x[0] + b * x[1]).total_cmp(&(a * y[0] + b * y[1])))
}

fn centroid(p: &[[f64; 2]]) -> [f64; 2] {
    let n = p.len().max(1) as f64;
    let s = p.iter().fold([0.0, 0.0], |s, q| [s[0] + q[0], s[1] + q[1]]);
    [s[0] / n, s[1] / n]
}

/// The incumbent, in user units and in minimisation form.
struct Incumbent {
    x: Vec<f64>,
    ev: Evaluation,
    f: f64,
}

fn consider(p: &Problem, inc: &mut Option<Incumbent>, x: Vec<f64>) -> bool {
    let ev = p.evaluate(&x);
    if !ev.feasible {
        return false;
    }
    let f = p.sign() * ev.objective;
    if inc.as_ref().is_none_or(|i| f < i.f) {
        *inc = Some(Incumbent { x, ev, f });
        return true;
    }
    false
}

/// Net-unit point → user point clamped into the box.
fn user_point(p: &Problem, s: &[f64]) -> Vec<f64> {
    p.scaling
        .to_user_x(s)
        .iter()
        .zip(p.lo.iter().zip(&p.hi))
        .map(|(v, (l, h))| v.clamp(*l, *h))
        .collect()
}

/// A feasible point near `x` when `x` lies on a constraint's boundary and rounds outside:
/// steps towards `toward` by 10⁻¹², 10⁻¹⁰, …, 10⁻⁴ of the way.
fn consider_nudged(p: &Problem, inc: &mut Option<Incumbent>, x: &[f64], toward: &[f64]) {
    if consider(p, inc, x.to_vec()) || p.evaluate(x).feasible {
        return;
    }
    for e in [-12, -10, -8, -6, -4] {
        let t = 10f64.powi(e);
        let q: Vec<f64> = x
            .iter()
            .zip(toward)
            .zip(p.lo.iter().zip(&p.hi))
            .map(|((a, b), (l, h))| (a + t * (b - a)).clamp(*l, *h))
            .collect();
        if p.evaluate(&q).feasible {
            consider(p, inc, q);
            return;
        }
    }
}

/// Projected (sub)gradient descent in user units on f + ρ·Σ max(0, g_k) from `x0`.
fn local_search(p: &Problem, inc: &mut Option<Incumbent>, x0: Vec<f64>, steps: usize) {
    let d = x0.len();
    let width: Vec<f64> = p.lo.iter().zip(&p.hi).map(|(l, h)| h - l).collect();
    let sign = p.sign();
    let mut x = x0;
    let rho = 10.0;
    for it in 0..steps {
        let ev = p.evaluate(&x);
        if ev.feasible {
            consider(p, inc, x.clone());
        }
        // Gradient in user units: chain rule through the scaling.
        let mut cy: Vec<f64> = p.objective.cy.iter().map(|c| sign * c).collect();
        let mut cx: Vec<f64> = p.objective.cx.iter().map(|c| sign * c).collect();
        for c in &p.constraints {
            if c.lin.value(&x, &ev.y) > 0.0 {
                for (a, b) in cy.iter_mut().zip(&c.lin.cy) {
                    *a += rho * b;
                }
                for (a, b) in cx.iter_mut().zip(&c.lin.cx) {
                    *a += rho * b;
                }
            }
        }
        let chat: Vec<f64> = cy
            .iter()
            .zip(&p.scaling.y_std)
            .map(|(c, s)| c * s)
            .collect();
        let s = p.scaling.to_net(&x);
        let gs = p.net.input_gradient(&s, &chat);
        let g: Vec<f64> = (0..d).map(|j| gs[j] / p.scaling.x_std[j] + cx[j]).collect();
        let step = 0.05 * 0.93f64.powi(it as i32);
        for j in 0..d {
            let dir = if g[j] > 0.0 {
                -1.0
            } else if g[j] < 0.0 {
                1.0
            } else {
                0.0
            };
            x[j] = (x[j] + dir * step * width[j]).clamp(p.lo[j], p.hi[j]);
        }
    }
    let ev = p.evaluate(&x);
    if ev.feasible {
        consider(p, inc, x);
    }
}

fn finish(
    p: &Problem,
    status: Status,
    inc: Option<Incumbent>,
    lb: f64,
    nodes: usize,
    t0: Instant,
    method: &'static str,
) -> Solution {
    let sign = p.sign();
    let (x, y, obj, viol) = match inc {
        Some(i) => (
            Some(i.x),
            Some(i.ev.y),
            Some(i.ev.objective),
            Some(i.ev.violation),
        ),
        None => (None, None, None, None),
    };
    // The bound in user units: sign·lb rounded away from the optimum.
    let bound = if sign > 0.0 { lb } else { -lb };
    let gap = obj.map_or(f64::INFINITY, |o| (o - bound).abs());
    let gap_abs = if status == Status::Infeasible {
        0.0
    } else {
        gap
    };
    Solution {
        status,
        sense: p.sense,
        x,
        y,
        objective: obj,
        bound,
        gap_abs,
        gap_rel: obj.map_or(f64::INFINITY, |o| gap_abs / o.abs().max(1e-300)),
        nodes,
        seconds: t0.elapsed().as_secs_f64(),
        violation: viol.map(|v| if v == f64::NEG_INFINITY { 0.0 } else { v }),
        method,
        regions: None,
    }
}

/// Branch and bound (see the module documentation). `progress` is called after every round.
/// The only error is [`Error::Cancelled`], once [`Options::cancel`] is set.
pub fn solve(
    p: &Problem,
    opts: &Options,
    progress: Option<&dyn Fn(&Progress)>,
) -> Result<Solution> {
    let cancelled = || {
        opts.cancel
            .as_ref()
            .is_some_and(|c| c.load(AtomicOrdering::Relaxed))
    };
    let t0 = Instant::now();
    let sign = p.sign();
    let (slo, shi) = net_box(p);
    let net = &p.net;
    let crown = Optim {
        iters: 0,
        ..Optim::default()
    };
    let root_inter = optimized_hidden(net, &slo, &shi, None, &crown);
    let (ylo, yhi) = output_interval(net, &slo, &shi, &root_inter);
    let ymag: Vec<f64> = ylo
        .iter()
        .zip(&yhi)
        .map(|(a, b)| a.abs().max(b.abs()))
        .collect();
    let smag: Vec<f64> = slo
        .iter()
        .zip(&shi)
        .map(|(a, b)| a.abs().max(b.abs()))
        .collect();
    let ctx = Ctx {
        p,
        obj: NetRow::new(&p.objective, sign, &p.scaling, &ymag, &smag),
        cons: p
            .constraints
            .iter()
            .map(|c| NetRow::new(&c.lin, 1.0, &p.scaling, &ymag, &smag))
            .collect(),
        slo: slo.clone(),
        shi: shi.clone(),
        opt: Optim {
            iters: opts.alpha_iters,
            ..Optim::default()
        },
    };
    let mut inc: Option<Incumbent> = None;
    // Root local search: centre and seeded random starts.
    let d = p.lo.len();
    let centre: Vec<f64> = p.lo.iter().zip(&p.hi).map(|(l, h)| 0.5 * (l + h)).collect();
    local_search(p, &mut inc, centre, 60);
    let mut rng = ChaCha8Rng::seed_from_u64(opts.seed);
    for _ in 0..opts.starts {
        let x0: Vec<f64> = (0..d)
            .map(|j| p.lo[j] + rng.random::<f64>() * (p.hi[j] - p.lo[j]))
            .collect();
        local_search(p, &mut inc, x0, 60);
    }
    if opts.strategy.resolve(d) == Strategy::ReluSplit {
        return relu::solve(p, opts, &ctx, inc, progress, t0);
    }
    let mut heap = BinaryHeap::new();
    let mut next_id = 0u64;
    heap.push(Node {
        lo: slo,
        hi: shi,
        inter: Some(root_inter),
        lb: f64::NEG_INFINITY,
        id: next_id,
    });
    next_id += 1;
    let mut nodes = 0usize;
    // Bounds of domains that cannot be split further (f64 resolution).
    let mut stuck_lb = f64::INFINITY;
    // Bounds of domains dropped because they were within the gap.
    let mut pruned_lb = f64::INFINITY;
    let closed = |inc: &Option<Incumbent>, lb: f64| match inc {
        Some(i) => i.f - lb <= opts.gap_abs || i.f - lb <= opts.gap_rel * i.f.abs(),
        None => false,
    };
    let mut status = Status::Optimal;
    loop {
        let open_lb = heap
            .peek()
            .map_or(f64::INFINITY, |n| n.lb)
            .min(stuck_lb)
            .min(pruned_lb);
        if heap.is_empty() {
            if stuck_lb < f64::INFINITY && !closed(&inc, stuck_lb) {
                status = Status::Resolution;
            }
            break;
        }
        if closed(&inc, open_lb) {
            break;
        }
        if cancelled() {
            return Err(Error::Cancelled(CANCELLED.into()));
        }
        if opts.time_limit.is_some_and(|tl| t0.elapsed() >= tl) {
            status = Status::TimeLimit;
            break;
        }
        if nodes >= opts.max_nodes {
            status = Status::NodeLimit;
            break;
        }
        let mut batch = Vec::new();
        while batch.len() < opts.batch {
            match heap.pop() {
                Some(n) => batch.push(n),
                None => break,
            }
        }
        let cutoff = inc.as_ref().map_or(f64::INFINITY, |i| i.f);
        let results: Vec<Outcome> = batch
            .par_iter()
            .map(|n| ctx.bound_domain(&n.lo, &n.hi, n.inter.as_ref(), cutoff))
            .collect();
        nodes += batch.len();
        for out in &results {
            for s in &out.cands {
                let x = user_point(p, s);
                let toward = user_point(p, &out.cands.last().cloned().unwrap_or_default());
                consider_nudged(p, &mut inc, &x, &toward);
            }
        }
        let cutoff = inc.as_ref().map_or(f64::INFINITY, |i| i.f);
        for out in results {
            let Some((lo, hi, lb, inter)) = out.kept else {
                continue;
            };
            if lb >= cutoff {
                continue;
            }
            // Within the gap: not worth splitting, but its bound stays part of the answer's.
            if closed(&inc, lb) {
                pruned_lb = pruned_lb.min(lb);
                continue;
            }
            // Split the widest dimension relative to the root box.
            let (mut best, mut bw) = (0, -1.0);
            for j in 0..d {
                let w = (hi[j] - lo[j]) / (ctx.shi[j] - ctx.slo[j]).max(f64::MIN_POSITIVE);
                if w > bw {
                    bw = w;
                    best = j;
                }
            }
            let mid = 0.5 * (lo[best] + hi[best]);
            if !(mid > lo[best] && mid < hi[best]) {
                stuck_lb = stuck_lb.min(lb);
                continue;
            }
            let mut h1 = hi.clone();
            h1[best] = mid;
            let mut l2 = lo.clone();
            l2[best] = mid;
            for (l, h) in [(lo.clone(), h1), (l2, hi.clone())] {
                heap.push(Node {
                    lo: l,
                    hi: h,
                    inter: Some(inter.clone()),
                    lb,
                    id: next_id,
                });
                next_id += 1;
            }
        }
        if let Some(cb) = progress {
            let lb = heap
                .peek()
                .map_or(f64::INFINITY, |n| n.lb)
                .min(stuck_lb)
                .min(pruned_lb);
            let lb = inc.as_ref().map_or(lb, |i| lb.min(i.f));
            cb(&Progress {
                nodes,
                open: heap.len(),
                objective: inc.as_ref().map(|i| i.ev.objective),
                bound: sign * lb,
                seconds: t0.elapsed().as_secs_f64(),
            });
        }
    }
    let open_lb = heap
        .peek()
        .map_or(f64::INFINITY, |n| n.lb)
        .min(stuck_lb)
        .min(pruned_lb);
    let lb = match &inc {
        Some(i) => open_lb.min(i.f),
        None => open_lb,
    };
    if inc.is_none() && heap.is_empty() && stuck_lb == f64::INFINITY {
        status = Status::Infeasible;
    }
    Ok(finish(p, status, inc, lb, nodes, t0, "bab"))
}

/// A linear piece: its polygon in network units and the affine maps [c0, cu, cv] of every
/// output on it.
type Piece = (Vec<[f64; 2]>, Vec<[f64; 3]>);

/// Exact mode for one or two inputs: every linear region, clipped by the constraints, the
/// objective at its vertices (see the module documentation). The bound is the best vertex
/// value over all regions (exact up to the partition's vertex rounding, not a directed-rounding
/// The JSON that `relulab optimize --json` prints: the model (as named), its input and output
/// names, the box, the constraints' text and the solution.
pub fn report_json(
    model: &str,
    input_names: &[String],
    output_names: &[String],
    problem: &Problem,
    sol: &Solution,
) -> serde_json::Value {
    serde_json::json!({
        "model": model,
        "input_names": input_names,
        "output_names": output_names,
        "lo": problem.lo,
        "hi": problem.hi,
        "constraints": problem.constraints.iter().map(|c| c.text.clone()).collect::<Vec<_>>(),
        "solution": sol,
    })
}

/// certificate); the point is the best vertex that a plain forward pass confirms feasible.
pub fn solve_exact(p: &Problem) -> Result<Solution> {
    solve_exact_until(p, None)
}

/// [`solve_exact`] with a cancel flag: once it is set, the enumeration of the regions stops
/// and the call returns [`Error::Cancelled`].
#[allow(clippy::needless_range_loop)]
pub fn solve_exact_until(p: &Problem, cancel: Option<&AtomicBool>) -> Result<Solution> {
    let t0 = Instant::now();
    let d = p.lo.len();
    if d == 0 || d > 2 {
        return Err(Error::Shape(format!(
            "--exact needs 1 or 2 inputs; the model has {d}"
        )));
    }
    let sign = p.sign();
    let geo = crate::regions::GeoNet::new(&p.mlp)?;
    let (slo, shi) = net_box(p);
    let m = p.net.output_dim();
    let sc = &p.scaling;
    // Network-unit affine pieces: (polygon in s, maps of every output [c0, cu, cv]).
    let mut pieces: Vec<Piece> = Vec::new();
    if d == 2 {
        let part = crate::regions::partition(
            &geo,
            &crate::regions::Slice::plane([slo[0], shi[0], slo[1], shi[1]]),
            crate::regions::PlaneOptions {
                cancel,
                ..Default::default()
            },
        )?;
        for i in 0..part.len() {
            let maps = (0..m).map(|o| part.output_map(i, o)).collect();
            pieces.push((part.polygon(i).to_vec(), maps));
        }
    } else {
        let seg = crate::regions::segment(&geo, &slo, &shi)?;
        let w = shi[0] - slo[0];
        for k in 0..seg.maps.len() {
            let (t0s, t1s) = (seg.t[k], seg.t[k + 1]);
            let poly = vec![[slo[0] + t0s * w, 0.0], [slo[0] + t1s * w, 0.0]];
            // y = a + b t with t = (s − slo)/w  →  y = (a − b·slo/w) + (b/w)·s.
            let maps = seg.maps[k]
                .iter()
                .map(|&(a, b)| [a - b * slo[0] / w, b / w, 0.0])
                .collect();
            pieces.push((poly, maps));
        }
    }
    // Affine map of a user-unit linear function on a piece, in s: [c0, cu, cv].
    let affine = |lin: &Linear, maps: &[[f64; 3]], sgn: f64| -> [f64; 3] {
        let mut r = [sgn * lin.c0, 0.0, 0.0];
        for o in 0..m {
            let (c, mu, sd) = (lin.cy[o], sc.y_mean[o], sc.y_std[o]);
            r[0] += sgn * c * (mu + sd * maps[o][0]);
            r[1] += sgn * c * sd * maps[o][1];
            r[2] += sgn * c * sd * maps[o][2];
        }
        for j in 0..d {
            let c = lin.cx[j];
            r[0] += sgn * c * sc.x_mean[j];
            r[1 + j] += sgn * c * sc.x_std[j];
        }
        r
    };
    let mut cands: Vec<(f64, Vec<f64>, Vec<f64>)> = Vec::new();
    for (poly, maps) in &pieces {
        let mut poly = poly.clone();
        for c in &p.constraints {
            let a = affine(&c.lin, maps, 1.0);
            poly = clip(&poly, a[1], a[2], a[0]);
            if poly.is_empty() {
                break;
            }
        }
        if poly.is_empty() {
            continue;
        }
        let f = affine(&p.objective, maps, sign);
        if let Some(v) = best_vertex(&poly, f[1], f[2]) {
            let val = f[0] + f[1] * v[0] + f[2] * v[1];
            cands.push((val, v[..d].to_vec(), centroid(&poly)[..d].to_vec()));
        }
    }
    cands.sort_by(|a, b| a.0.total_cmp(&b.0));
    let mut inc = None;
    for (_, v, cen) in cands.iter().take(64) {
        let x = user_point(p, v);
        let toward = user_point(p, cen);
        consider_nudged(p, &mut inc, &x, &toward);
        if inc.is_some() {
            break;
        }
    }
    let lb = cands.first().map_or(f64::INFINITY, |c| c.0);
    let status = if cands.is_empty() {
        Status::Infeasible
    } else {
        Status::Optimal
    };
    let mut sol = finish(p, status, inc, lb, pieces.len(), t0, "exact");
    sol.regions = Some(pieces.len());
    Ok(sol)
}

/// The label of input `j`'s axis: its name with its index, or the index alone.
fn axis_label(names: &[String], j: usize) -> String {
    match names
        .get(j)
        .filter(|n| !n.trim().is_empty() && names.len() == 2)
    {
        Some(n) => format!("{n} (x[{j}])"),
        None => format!("x[{j}]"),
    }
}

/// The picture of a 2-input problem: the objective over the box on a `grid` × `grid` raster
/// (plain forward passes at cell centres), infeasible cells grey, each constraint's boundary
/// (its zero level, by marching squares on the cell corners) and the optimum found. The axes
/// are labelled with `input_names` (the data's column names a surrogate checkpoint records,
/// e.g. `Bypass_Fraction (x[0])`) when there are two, else `x[0]` and `x[1]`.
pub fn picture(
    p: &Problem,
    sol: &Solution,
    grid: usize,
    input_names: &[String],
) -> Result<crate::plot::Figure> {
    if p.lo.len() != 2 {
        return Err(Error::Shape(format!(
            "a picture needs 2 inputs; the model has {}",
            p.lo.len()
        )));
    }
    let n = grid.max(4);
    let (x0, x1, y0, y1) = (p.lo[0], p.hi[0], p.lo[1], p.hi[1]);
    let at = |i: usize, j: usize, half: f64| {
        [
            x0 + (x1 - x0) * (i as f64 + half) / n as f64,
            y0 + (y1 - y0) * (j as f64 + half) / n as f64,
        ]
    };
    let mut values = Vec::with_capacity(n * n);
    let mut mask = Vec::with_capacity(n * n);
    for j in 0..n {
        for i in 0..n {
            let ev = p.evaluate(&at(i, j, 0.5));
            values.push(ev.objective);
            mask.push(ev.violation <= 0.0);
        }
    }
    let mut segments = Vec::new();
    for c in &p.constraints {
        // Constraint values at the (n+1)² corners.
        let g: Vec<f64> = (0..=n)
            .flat_map(|j| (0..=n).map(move |i| (i, j)))
            .map(|(i, j)| {
                let x = at(i, j, 0.0);
                c.lin.value(&x, &p.outputs(&x))
            })
            .collect();
        let gv = |i: usize, j: usize| g[j * (n + 1) + i];
        for j in 0..n {
            for i in 0..n {
                let corners = [(i, j), (i + 1, j), (i + 1, j + 1), (i, j + 1)];
                let mut cross = Vec::new();
                for e in 0..4 {
                    let (a, b) = (corners[e], corners[(e + 1) % 4]);
                    let (ga, gb) = (gv(a.0, a.1), gv(b.0, b.1));
                    if (ga <= 0.0) != (gb <= 0.0) {
                        let t = ga / (ga - gb);
                        let (pa, pb) = (at(a.0, a.1, 0.0), at(b.0, b.1, 0.0));
                        cross.push((pa[0] + t * (pb[0] - pa[0]), pa[1] + t * (pb[1] - pa[1])));
                    }
                }
                if cross.len() >= 2 {
                    segments.push((cross[0], cross[1]));
                }
                if cross.len() == 4 {
                    segments.push((cross[2], cross[3]));
                }
            }
        }
    }
    let mut points = Vec::new();
    if let (Some(x), Some(v)) = (&sol.x, sol.objective) {
        points.push((format!(" optimum {v:.5}"), x[0], x[1]));
    }
    let word = match p.sense {
        Sense::Maximize => "maximise",
        Sense::Minimize => "minimise",
    };
    let field = crate::plot::FieldMap {
        title: format!("objective ({word}); grey: infeasible"),
        x_label: axis_label(input_names, 0),
        y_label: axis_label(input_names, 1),
        x_range: (x0, x1),
        y_range: (y0, y1),
        nx: n,
        ny: n,
        values,
        mask,
        segments,
        points,
    };
    Ok(crate::plot::Figure::single(field).panel_size(crate::plot::WIDE_PANEL.0, 520))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clip_keeps_the_half_plane() {
        let sq = box_polygon(&[0.0, 0.0], &[1.0, 1.0]);
        let c = clip(&sq, 1.0, 1.0, -1.0); // u + v ≤ 1
        assert_eq!(c.len(), 3);
        assert!((polygon_area(&c) - 0.5).abs() < 1e-15);
        let seg = box_polygon(&[0.0], &[2.0]);
        let c = clip(&seg, 1.0, 0.0, -0.5); // u ≤ 0.5
        assert_eq!(c, vec![[0.0, 0.0], [0.5, 0.0]]);
        let c = clip(&seg, -1.0, 0.0, 0.5); // u ≥ 0.5
        assert_eq!(c, vec![[0.5, 0.0], [2.0, 0.0]]);
    }

    fn polygon_area(p: &[[f64; 2]]) -> f64 {
        crate::regions::polygon_area(p)
    }

    #[test]
    fn lagrangian_is_lp_duality_on_a_linear_function() {
        // min −s0 − s1 s.t. s0 + s1 − 1 ≤ 0 on [0, 2]²: optimum −1.
        let f = LinBound {
            lam: vec![-1.0, -1.0],
            k: 0.0,
        };
        let g = LinBound {
            lam: vec![1.0, 1.0],
            k: -1.0,
        };
        let z = [0.0, 0.0];
        let rows = [(&f, &z[..], 0.0), (&g, &z[..], 0.0)];
        let (lo, hi) = ([0.0, 0.0], [2.0, 2.0]);
        let w = choose_mu(&rows, &lo, &hi);
        let b = lagrangian_bound(&rows, &w, &lo, &hi);
        assert!(b <= -1.0 && b > -1.0 - 1e-12, "{b} with μ = {w:?}");
    }
}
