//! Certified robustness of classifiers (issue 14): for each labelled sample and radius ε,
//! is the predicted class provably the same at every input of the ε-ball (∩ an optional
//! input domain), or is there a checked counterexample?
//!
//! The question goes to the verifier's one bound engine ([`crate::verify::engine`]); this
//! module only translates it: the ball becomes an input box of the model, the claim "class
//! `y` wins" becomes the margin rows `z_y − z_j` (j ≠ y), each of which must have a sound
//! lower bound above 0.
//!
//! # The network being certified
//! The data are given in the user's units (built-in digits: pixels / 16, in [0, 1]); the
//! model sees `x_model = (s·x − μ)/σ` per feature (`s` = 16 for the built-in digits, 1 for
//! files; μ, σ the checkpoint's input [`Standardizer`], or 0 and 1). That map is part of the
//! network being certified, and ε is never rescaled: a data box `[lo, hi]` is mapped to the
//! model's input coordinates *with directed rounding* ([`InputMap::image_box`]): the box
//! `[↓((↓(s·lo) − μ)/σ), ↑((↑(s·hi) − μ)/σ)]` contains the exact real image, so every bound
//! over it is a bound over the ball. (The standardisation is not folded into the first layer:
//! folded weights would be rounded, and the rounding would have to be charged.)
//!
//! # Per sample
//! clean prediction (f64 forward) → IBP → CROWN (CROWN intermediate bounds,
//! [`crate::verify::engine::optimized_hidden`]) → PGD with restarts, seeded → α-CROWN on the rows CROWN left
//! open → branch and bound ([`crate::verify::verify`], ReLU splits) within the per-sample time
//! limit. The attack runs after the two cheap bounds: a sample they certify has no
//! counterexample, so the outcome is the same as attacking first, and the time is less.
//! A counterexample is reported only after [`Certifier::recheck`] accepts it: inside the ball
//! and the domain in exact comparisons, misclassified by a plain f64 forward pass and, with
//! every rounding accounted for, by a sound interval pass at the point.
//!
//! # L2 balls
//! Bounds are computed on the box that contains the ball (∩ domain), which is sound; the final
//! linear bound `c·z ≥ λ·x_model + k` (valid on that box) is then also minimised over the ball
//! itself, `λ·x_model(x₀) − ε·‖(s/σ)⊙λ‖₂ + k` rounded down (the dual norm of L2 is L2), and the
//! better of the two is kept. Branch and bound is L∞ only (an L2 sample it would be needed for
//! is `unknown`).

mod bab;
pub mod train;

use crate::data::Standardizer;
use crate::error::{Error, Result};
use crate::net::Mlp;
use crate::verify::bounds::{ibp, LayerBounds};
use crate::verify::engine::{
    bound_rows, optimized_hidden, Domain, Optim, Relaxation, Row, RowResult,
};
use crate::verify::fp::{add_up, dot_err, mul_down, mul_up, next_down, next_up, sub_down};
use crate::verify::vnnlib::{Case, OutputAtom};
use crate::verify::PwlNet;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::Serialize;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The map from the user's data units to the model's input: `x_model = (scale·x − mean)/std`.
#[derive(Clone, Debug, PartialEq)]
pub struct InputMap {
    /// Data-unit to raw-unit factor (16 for the built-in digits in [0, 1]).
    pub scale: f64,
    /// Per-feature mean of the standardisation (0 without one).
    pub mean: Vec<f64>,
    /// Per-feature standard deviation (1 without one); every entry > 0.
    pub std: Vec<f64>,
}

impl InputMap {
    /// The map for `d` features, data scale `scale` and an optional standardisation.
    pub fn new(d: usize, scale: f64, st: Option<&Standardizer>) -> Result<Self> {
        if !(scale > 0.0 && scale.is_finite()) {
            return Err(Error::Value(format!("input scale {scale} must be > 0")));
        }
        let (mean, std) = match st {
            Some(s) => {
                s.validate(d)
                    .map_err(|e| Error::Value(format!("standardisation: {e}")))?;
                (s.mean.clone(), s.std.clone())
            }
            None => (vec![0.0; d], vec![1.0; d]),
        };
        Ok(InputMap { scale, mean, std })
    }

    /// Plain f64 image of a point (round to nearest; not a bound).
    pub fn point(&self, x: &[f64]) -> Vec<f64> {
        x.iter()
            .zip(self.mean.iter().zip(&self.std))
            .map(|(&v, (m, s))| (self.scale * v - m) / s)
            .collect()
    }

    /// Plain f64 preimage of a model-coordinate point, `(x_model·std + mean)/scale` (round to
    /// nearest; not a bound: for branch-and-bound witnesses, which are re-checked).
    pub fn data_point(&self, x_model: &[f64]) -> Vec<f64> {
        x_model
            .iter()
            .enumerate()
            .map(|(i, &v)| (v * self.std[i] + self.mean[i]) / self.scale)
            .collect()
    }

    /// ∂x_model/∂x per feature (`scale/std`), round to nearest (for attack steps only).
    pub fn gain(&self) -> Vec<f64> {
        self.std.iter().map(|s| self.scale / s).collect()
    }

    /// A box in model coordinates containing the exact real image of the data box [lo, hi].
    pub fn image_box(&self, lo: &[f64], hi: &[f64]) -> (Vec<f64>, Vec<f64>) {
        let mut ml = Vec::with_capacity(lo.len());
        let mut mh = Vec::with_capacity(lo.len());
        for i in 0..lo.len() {
            let (m, s) = (self.mean[i], self.std[i]);
            let a = sub_down(mul_down(self.scale, lo[i]), m);
            let b = add_up(mul_up(self.scale, hi[i]), -m);
            // Division by s > 0 is monotone; one step outward covers its rounding (an exact
            // quotient only loses one ulp of tightness).
            let (qa, qb) = (a / s, b / s);
            ml.push(if qa == 0.0 && a == 0.0 {
                0.0
            } else {
                next_down(qa)
            });
            mh.push(if qb == 0.0 && b == 0.0 {
                0.0
            } else {
                next_up(qb)
            });
        }
        (ml, mh)
    }
}

/// The norm of the perturbation ball.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Norm {
    /// max_i |δ_i| ≤ ε.
    Linf,
    /// ‖δ‖₂ ≤ ε.
    L2,
}

impl std::str::FromStr for Norm {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        match s {
            "linf" | "inf" | "Linf" => Ok(Norm::Linf),
            "l2" | "L2" | "2" => Ok(Norm::L2),
            _ => Err(format!("--norm {s}: expected linf or l2")),
        }
    }
}

/// Settings of a certification run.
#[derive(Clone, Debug)]
pub struct CertifyOptions {
    /// Ball norm.
    pub norm: Norm,
    /// Input domain `[lo, hi]` per feature in data units (e.g. pixels in [0, 1]).
    pub clamp: Option<(f64, f64)>,
    /// Wall-clock limit per sample and ε for α-CROWN and branch and bound (0: bounds only).
    pub time_limit: Duration,
    /// PGD restarts (the first starts at the sample, the others at random points).
    pub restarts: usize,
    /// PGD steps per restart.
    pub steps: usize,
    /// α-CROWN iterations (0: skip α-CROWN).
    pub alpha_iters: usize,
    /// Run branch and bound on samples the bounds leave open (L∞ only).
    pub bab: bool,
    /// Branch and bound on each open margin `z_label − z_j` as its own problem (the closest to
    /// proved first, each an equal share of the time left; the first margin not proved in its
    /// share ends the sample as unknown) instead of one problem over all of them.
    pub bab_per_class: bool,
    /// Seed of the attack's random starts.
    pub seed: u64,
    /// A cancel flag (the Python binding's Ctrl-C): once set, a sample's branch and bound
    /// stops at its next round, the samples not yet started are skipped, and
    /// [`certify_all`] returns [`Error::Cancelled`] with [`CANCELLED`].
    pub cancel: Option<Arc<AtomicBool>>,
}

/// The error message of a run stopped through [`CertifyOptions::cancel`].
pub const CANCELLED: &str = "certify: cancelled";

impl CertifyOptions {
    /// Whether the cancel flag is set.
    pub fn cancelled(&self) -> bool {
        self.cancel
            .as_ref()
            .is_some_and(|c| c.load(std::sync::atomic::Ordering::Relaxed))
    }
}

impl Default for CertifyOptions {
    fn default() -> Self {
        CertifyOptions {
            norm: Norm::Linf,
            clamp: None,
            time_limit: Duration::from_secs(5),
            restarts: 5,
            steps: 40,
            alpha_iters: 30,
            bab: true,
            bab_per_class: false,
            seed: 0,
            cancel: None,
        }
    }
}

/// The outcome for one sample at one ε.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Every point of the ball gets the label (sound proof).
    Certified,
    /// A re-checked input in the ball is misclassified.
    Attacked,
    /// The sample itself is misclassified.
    Misclassified,
    /// Neither within the limits.
    Unknown,
}

impl Status {
    /// Lower-case name.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Certified => "certified",
            Status::Attacked => "attacked",
            Status::Misclassified => "misclassified",
            Status::Unknown => "unknown",
        }
    }
}

/// Per hidden layer, how many units are stably active (`z ≥ 0` on the whole ball), stably
/// inactive (`z ≤ 0`) and unstable (sign changes), from sound pre-activation bounds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Stability {
    /// Units with lower bound ≥ 0.
    pub active: usize,
    /// Units with upper bound ≤ 0.
    pub inactive: usize,
    /// Units whose bounds straddle 0.
    pub unstable: usize,
}

/// Stability of every hidden layer from sound bounds of its pre-activations (a unit with
/// lo = hi = 0 counts as inactive).
pub fn stability(net: &PwlNet, inter: &LayerBounds) -> Vec<Stability> {
    (0..net.slopes.len())
        .map(|h| {
            let mut s = Stability::default();
            for (&lo, &hi) in inter.lo[h].iter().zip(&inter.hi[h]) {
                if hi <= 0.0 {
                    s.inactive += 1;
                } else if lo >= 0.0 {
                    s.active += 1;
                } else {
                    s.unstable += 1;
                }
            }
            s
        })
        .collect()
}

/// The result for one sample at one ε.
#[derive(Clone, Debug, Serialize)]
pub struct SampleResult {
    /// Index of the sample in the data set.
    pub index: usize,
    /// The radius.
    pub eps: f64,
    /// True label.
    pub label: usize,
    /// Clean prediction (f64 forward pass).
    pub predicted: usize,
    /// The outcome.
    pub status: Status,
    /// What decided it: "clean", "IBP", "CROWN", "PGD", "alpha-CROWN", "BaB", or "" (unknown).
    pub method: &'static str,
    /// Lowest margin lower bound found over j ≠ label (−∞ if none): a sound lower bound of
    /// min_j z_label − z_j over the ball, the best that IBP, CROWN, α-CROWN and the branch and
    /// bound reached (for an `unknown` after branch and bound, the smallest bound over its open
    /// domains; a margin the branch and bound proved counts as 0). How far from certified an
    /// `unknown` is.
    pub margin_lb: f64,
    /// The re-checked adversarial input (data units) for `attacked`.
    pub adversarial: Option<Vec<f64>>,
    /// Stability of each hidden layer over the ball (CROWN intermediate bounds).
    pub stability: Vec<Stability>,
    /// Wall-clock seconds.
    pub seconds: f64,
}

/// A classifier ready for certification.
pub struct Certifier<'a> {
    /// The model (the real-arithmetic network with these f32 weights is certified).
    pub mlp: &'a Mlp<f32>,
    /// Its f64 view.
    pub net: PwlNet,
    /// Data units → model input.
    pub map: InputMap,
    /// Settings.
    pub opts: CertifyOptions,
}

impl<'a> Certifier<'a> {
    /// Check that `mlp` is a classifier the verifier can read (piecewise-linear activations,
    /// ≥ 2 outputs) and that `map` fits it.
    pub fn new(mlp: &'a Mlp<f32>, map: InputMap, opts: CertifyOptions) -> Result<Self> {
        let net = PwlNet::from_mlp(mlp)?;
        if net.output_dim() < 2 {
            return Err(Error::Shape(format!(
                "the model has output width {}: certify needs a classifier with at least 2 outputs (prediction = argmax)",
                net.output_dim()
            )));
        }
        if map.mean.len() != net.input_dim() {
            return Err(Error::Shape(format!(
                "the input map has {} features, the model takes {}",
                map.mean.len(),
                net.input_dim()
            )));
        }
        if let Some((lo, hi)) = opts.clamp {
            if !(lo <= hi && lo.is_finite() && hi.is_finite()) {
                return Err(Error::Value(format!(
                    "--clamp {lo},{hi}: need finite lo ≤ hi"
                )));
            }
        }
        Ok(Certifier {
            mlp,
            net,
            map,
            opts,
        })
    }

    /// The ball's enclosing box in data units (∩ the domain), or None when the sample lies
    /// outside the domain.
    pub fn data_box(&self, x0: &[f64], eps: f64) -> (Vec<f64>, Vec<f64>) {
        let mut lo: Vec<f64> = x0.iter().map(|&v| sub_down(v, eps)).collect();
        let mut hi: Vec<f64> = x0.iter().map(|&v| add_up(v, eps)).collect();
        if let Some((a, b)) = self.opts.clamp {
            for i in 0..lo.len() {
                lo[i] = lo[i].max(a).min(x0[i].max(a));
                hi[i] = hi[i].min(b).max(x0[i].min(b));
            }
        }
        (lo, hi)
    }

    /// Accept `x` as a counterexample for (x0, label, ε) only if it lies in the ball and the
    /// domain (exact comparisons, rounding charged outward) and is misclassified both by a
    /// plain f64 forward pass and by a sound interval pass at the point.
    pub fn recheck(&self, x: &[f64], x0: &[f64], label: usize, eps: f64) -> bool {
        if x.len() != x0.len() {
            return false;
        }
        if let Some((a, b)) = self.opts.clamp {
            if x.iter().any(|&v| !(v >= a && v <= b)) {
                return false;
            }
        }
        match self.opts.norm {
            Norm::Linf => {
                for (&v, &c) in x.iter().zip(x0) {
                    let d = (v - c).abs();
                    if !(d == 0.0 || next_up(d) <= eps) {
                        return false;
                    }
                }
            }
            Norm::L2 => {
                let mut s = 0.0;
                for (&v, &c) in x.iter().zip(x0) {
                    let d = next_up((v - c).abs());
                    s = add_up(s, mul_up(d, d));
                }
                if s.partial_cmp(&mul_down(eps, eps)) == Some(std::cmp::Ordering::Greater)
                    || s.is_nan()
                {
                    return false;
                }
            }
        }
        let y = self.net.forward(&self.map.point(x));
        let j = argmax_other(&y, label);
        if y[j].partial_cmp(&y[label]) != Some(std::cmp::Ordering::Greater) {
            return false;
        }
        let (ml, mh) = self.map.image_box(x, x);
        let b = ibp(&self.net, &ml, &mh);
        let (ylo, yhi) = (b.lo.last().unwrap(), b.hi.last().unwrap());
        (0..ylo.len()).any(|j| j != label && ylo[j] > yhi[label])
    }

    /// A search for a counterexample: APGD (Croce & Hein 2020, "Reliable evaluation of
    /// adversarial robustness with an ensemble of diverse parameter-free attacks", Alg. 1) on
    /// the margin `z_label − max_{j≠label} z_j` (the Carlini–Wagner margin loss), or with
    /// `target = Some(j)` on `z_label − z_j` throughout (a targeted attack); returns the first
    /// point [`Certifier::recheck`] accepts. Each of the `restarts` runs takes `steps`
    /// gradient steps from its start: the sample itself, then the corner
    /// `x₀ − ε·sign(∇margin(x₀))` (the fast gradient sign step, Goodfellow et al. 2015; L2:
    /// `x₀ − ε·∇/‖∇‖`), then random vertices of the L∞ box (random points of the L2 ball),
    /// drawn from `rng`.
    ///
    /// APGD's schedule: step η = 2ε at first, momentum 0.75 (`x ← P(x + 0.75·(z − x) +
    /// 0.25·(x − x_prev))` with `z = P(x + η·sign ∇)`), and at the checkpoints
    /// `p₀ = 0, p₁ = 0.22, p_{j+1} = p_j + max(p_j − p_{j−1} − 0.03, 0.06)` of the run, η is
    /// halved and the run resumes from its best point when fewer than 75% of the steps since
    /// the last checkpoint improved the loss, or when neither η nor the best loss changed.
    #[allow(clippy::too_many_arguments)]
    pub fn attack(
        &self,
        x0: &[f64],
        label: usize,
        target: Option<usize>,
        eps: f64,
        restarts: usize,
        steps: usize,
        rng: &mut ChaCha8Rng,
    ) -> Option<Vec<f64>> {
        let d = x0.len();
        // Project into a slightly smaller ball so that the re-check's rounding margin holds.
        let e_in = eps * (1.0 - 1e-9);
        let (dlo, dhi) = self
            .opts
            .clamp
            .unwrap_or((f64::NEG_INFINITY, f64::INFINITY));
        let norm = self.opts.norm;
        let project = |x: &mut [f64]| {
            match norm {
                Norm::Linf => {
                    for i in 0..d {
                        x[i] = x[i].clamp(x0[i] - e_in, x0[i] + e_in);
                    }
                }
                Norm::L2 => {
                    let n: f64 = x.iter().zip(x0).map(|(a, b)| (a - b) * (a - b)).sum();
                    let n = n.sqrt();
                    if n > e_in {
                        for i in 0..d {
                            x[i] = x0[i] + (x[i] - x0[i]) * (e_in / n);
                        }
                    }
                }
            }
            // Clamping moves each coordinate towards x0 (x0 lies in the domain): stays in ball.
            for v in x.iter_mut() {
                *v = v.clamp(dlo, dhi);
            }
        };
        let gain = self.map.gain();
        let n_out = self.net.output_dim();
        let mut c = vec![0.0; n_out];
        // Loss to maximise, max_j z_j − z_label (or z_target − z_label), its gradient in data
        // units, and whether the point is a counterexample candidate (some z_j > z_label).
        let mut eval = |x: &[f64]| -> (f64, Vec<f64>, bool) {
            let zs = self.net.forward_trace(&self.map.point(x));
            let y = zs.last().expect("layers");
            let j = argmax_other(y, label);
            let wins = y[j] > y[label];
            let j = target.unwrap_or(j);
            c.iter_mut().for_each(|v| *v = 0.0);
            c[label] = -1.0;
            c[j] = 1.0;
            let mut g = self.net.gradient_from_trace(&zs, &c);
            g.iter_mut().zip(&gain).for_each(|(g, k)| *g *= k);
            (y[j] - y[label], g, wins)
        };
        // The step direction of a gradient: its sign (L∞) or its direction (L2).
        let direction = |g: &[f64]| -> Vec<f64> {
            match norm {
                Norm::Linf => g
                    .iter()
                    .map(|&v| {
                        if v > 0.0 {
                            1.0
                        } else if v < 0.0 {
                            -1.0
                        } else {
                            0.0
                        }
                    })
                    .collect(),
                Norm::L2 => {
                    let n = g.iter().map(|v| v * v).sum::<f64>().sqrt();
                    g.iter()
                        .map(|v| if n > 0.0 { v / n } else { 0.0 })
                        .collect()
                }
            }
        };
        let checkpoints = apgd_checkpoints(steps);
        let mut g0: Option<Vec<f64>> = None;
        for r in 0..restarts.max(1) {
            let mut x = x0.to_vec();
            match r {
                0 => {}
                1 => {
                    let g = g0.get_or_insert_with(|| eval(x0).1);
                    for (v, s) in x.iter_mut().zip(direction(g)) {
                        *v += eps * s;
                    }
                }
                _ => match norm {
                    Norm::Linf => {
                        for v in x.iter_mut() {
                            *v += if rng.random::<bool>() { eps } else { -eps };
                        }
                    }
                    Norm::L2 => {
                        let g: Vec<f64> = (0..d).map(|_| rng.random::<f64>() - 0.5).collect();
                        let n = g.iter().map(|v| v * v).sum::<f64>().sqrt().max(1e-300);
                        let rad = eps * rng.random::<f64>();
                        for (v, gi) in x.iter_mut().zip(&g) {
                            *v += rad * gi / n;
                        }
                    }
                },
            }
            project(&mut x);
            let mut eta = 2.0 * eps;
            let (mut f, mut g, wins) = eval(&x);
            if wins && self.recheck(&x, x0, label, eps) {
                return Some(x);
            }
            let (mut best_f, mut best_x, mut best_g) = (f, x.clone(), g.clone());
            let mut x_prev = x.clone();
            let (mut last_ck, mut ck) = (0usize, 1usize);
            let (mut improved, mut eta_ck, mut best_ck) = (0usize, eta, best_f);
            for k in 0..steps {
                let dir = direction(&g);
                let mut z: Vec<f64> = x.iter().zip(&dir).map(|(v, s)| v + eta * s).collect();
                project(&mut z);
                let mut xn = z;
                if k > 0 {
                    for i in 0..d {
                        xn[i] = x[i] + 0.75 * (xn[i] - x[i]) + 0.25 * (x[i] - x_prev[i]);
                    }
                    project(&mut xn);
                }
                x_prev = std::mem::replace(&mut x, xn);
                let (fx, gx, wins) = eval(&x);
                if wins && self.recheck(&x, x0, label, eps) {
                    return Some(x);
                }
                improved += usize::from(fx > f);
                f = fx;
                g = gx;
                if f > best_f {
                    best_f = f;
                    best_x.clone_from(&x);
                    best_g.clone_from(&g);
                }
                if ck < checkpoints.len() && k + 1 == checkpoints[ck] {
                    let span = checkpoints[ck] - last_ck;
                    let few = (improved as f64) < 0.75 * span as f64;
                    let stuck = eta_ck == eta && best_ck == best_f;
                    eta_ck = eta;
                    best_ck = best_f;
                    if few || stuck {
                        eta *= 0.5;
                        x.clone_from(&best_x);
                        x_prev.clone_from(&best_x);
                        g.clone_from(&best_g);
                        f = best_f;
                    }
                    improved = 0;
                    last_ck = checkpoints[ck];
                    ck += 1;
                }
            }
        }
        None
    }

    /// Sound bounds of every hidden layer's pre-activations over the model box `[xlo, xhi]`:
    /// IBP, then CROWN for the units IBP leaves unstable, only as far as the bounds settle each
    /// unit's sign ([`Optim::settle_first`]; the stability and the relaxation need no more).
    pub fn hidden_bounds(&self, xlo: &[f64], xhi: &[f64]) -> LayerBounds {
        let settle = Optim {
            iters: 0,
            settle_first: true,
            ..Optim::default()
        };
        optimized_hidden(&self.net, xlo, xhi, None, &settle)
    }

    /// Sound lower bounds of the margins `z_label − z_j`, one per class in `targets` (in that
    /// order), over the model box `[xlo, xhi]`, with the hidden bounds `inter` of that box
    /// ([`Certifier::hidden_bounds`]): CROWN with `iters = 0`, α-CROWN with `iters` steps of
    /// slope optimisation otherwise. Each result also carries the linear bound `λ·x + k` and
    /// the box corner minimising it ([`RowResult::corner`], model coordinates). This is the
    /// bound step of [`Certifier::certify_sample`] (and what benches/certify.rs times).
    pub fn crown_margins(
        &self,
        xlo: &[f64],
        xhi: &[f64],
        inter: &LayerBounds,
        label: usize,
        targets: &[usize],
        iters: usize,
    ) -> Vec<RowResult> {
        let net = &self.net;
        let n_out = net.output_dim();
        let rel = Relaxation::new(net, net.layers.len() - 1, xlo, xhi, inter);
        let coefs: Vec<Vec<f64>> = targets
            .iter()
            .map(|&j| {
                let mut c = vec![0.0; n_out];
                c[label] = 1.0;
                c[j] = -1.0;
                c
            })
            .collect();
        let rows: Vec<Row> = coefs
            .iter()
            .map(|c| Row {
                dom: 0,
                c,
                target: 0.0,
                alpha: None,
                beta: None,
                floor: f64::NEG_INFINITY,
            })
            .collect();
        // The α search in f32, the bound from one sound f64 pass (`Optim::fast`).
        let opt = Optim {
            iters,
            fast: true,
            ..Optim::default()
        };
        bound_rows(&rel, &[Domain::splits(&[])], &rows, &opt)
    }

    /// Minimum over the L2 ball around x0 (data units) of `λ·x_model + k`, rounded down.
    fn l2_min(&self, lambda: &[f64], k: f64, x0: &[f64], eps: f64) -> f64 {
        let (al, ah) = self.map.image_box(x0, x0);
        let (mut v, mut mag) = (k, k.abs());
        let mut nrm = 0.0;
        for i in 0..lambda.len() {
            let l = lambda[i];
            // λ·x_model(x0) ≥ Σ min(λ a, λ b) over the enclosure [a, b] of x_model(x0).
            let p = if l >= 0.0 { l * al[i] } else { l * ah[i] };
            v += p;
            mag += p.abs();
            let g = mul_up(l.abs(), next_up(self.map.scale / self.map.std[i]));
            nrm = add_up(nrm, mul_up(g, g));
        }
        let pen = mul_up(eps, next_up(nrm.sqrt()));
        sub_down(sub_down(v, dot_err(lambda.len() + 2, mag + v.abs())), pen)
    }

    /// Certify one sample (data units) at radius ε.
    pub fn certify_sample(&self, index: usize, x0: &[f64], label: usize, eps: f64) -> SampleResult {
        let t0 = Instant::now();
        let net = &self.net;
        let n_out = net.output_dim();
        let y0 = net.forward(&self.map.point(x0));
        let predicted = argmax(&y0);
        let (dlo, dhi) = self.data_box(x0, eps);
        let (xlo, xhi) = self.map.image_box(&dlo, &dhi);
        let inter = self.hidden_bounds(&xlo, &xhi);
        let stab = stability(net, &inter);
        let mut res = SampleResult {
            index,
            eps,
            label,
            predicted,
            status: Status::Unknown,
            method: "",
            margin_lb: f64::NEG_INFINITY,
            adversarial: None,
            stability: stab,
            seconds: 0.0,
        };
        let finish = |mut r: SampleResult, st: Status, m: &'static str| {
            r.status = st;
            r.method = m;
            r.seconds = t0.elapsed().as_secs_f64();
            r
        };
        if predicted != label {
            return finish(res, Status::Misclassified, "clean");
        }
        // IBP.
        let ib = ibp(net, &xlo, &xhi);
        let (ylo, yhi) = (ib.lo.last().unwrap(), ib.hi.last().unwrap());
        let mut lbs: Vec<f64> = (0..n_out)
            .map(|j| {
                if j == label {
                    f64::INFINITY
                } else {
                    sub_down(ylo[label], yhi[j])
                }
            })
            .collect();
        let worst = |v: &[f64]| v.iter().cloned().fold(f64::INFINITY, f64::min);
        res.margin_lb = worst(&lbs);
        if res.margin_lb > 0.0 {
            return finish(res, Status::Certified, "IBP");
        }
        // CROWN on the margin rows.
        let others: Vec<usize> = (0..n_out).filter(|&j| j != label).collect();
        let run_rows = |open: &[usize], iters: usize, lbs: &mut Vec<f64>| {
            let out = self.crown_margins(&xlo, &xhi, &inter, label, open, iters);
            for (&j, r) in open.iter().zip(out) {
                let mut lb = r.lb;
                if self.opts.norm == Norm::L2 {
                    lb = lb.max(self.l2_min(&r.lambda0, r.k, x0, eps));
                }
                lbs[j] = lbs[j].max(lb);
            }
        };
        // The classes whose margin is not proved yet.
        let open_rows = |lbs: &[f64]| -> Vec<usize> {
            others.iter().copied().filter(|&j| lbs[j] <= 0.0).collect()
        };
        let open = open_rows(&lbs);
        run_rows(&open, 0, &mut lbs);
        res.margin_lb = worst(&lbs);
        if res.margin_lb > 0.0 {
            return finish(res, Status::Certified, "CROWN");
        }
        // Attack.
        let mut rng = ChaCha8Rng::seed_from_u64(self.opts.seed);
        rng.set_stream(index as u64);
        if self.opts.steps == 0 {
            // No attack asked for (a bounds-only monitor).
        } else {
            // Untargeted restarts, then targeted ones at every other class, the closest to
            // the label by the CROWN margin bounds first (a targeted margin attack at each
            // class finds what the untargeted one misses, Croce & Hein 2020 §4).
            let mut order: Vec<usize> = (0..n_out).filter(|&j| j != label).collect();
            order.sort_by(|&a, &b| lbs[a].total_cmp(&lbs[b]));
            let targets = std::iter::once(None).chain(order.into_iter().map(Some));
            for tg in targets {
                if let Some(adv) = self.attack(
                    x0,
                    label,
                    tg,
                    eps,
                    self.opts.restarts,
                    self.opts.steps,
                    &mut rng,
                ) {
                    res.adversarial = Some(adv);
                    return finish(res, Status::Attacked, "PGD");
                }
            }
        }
        if self.opts.time_limit.is_zero() {
            return finish(res, Status::Unknown, "");
        }
        // α-CROWN.
        if self.opts.alpha_iters > 0 {
            let open = open_rows(&lbs);
            run_rows(&open, self.opts.alpha_iters, &mut lbs);
            res.margin_lb = worst(&lbs);
            if res.margin_lb > 0.0 {
                return finish(res, Status::Certified, "alpha-CROWN");
            }
        }
        // Branch and bound on the open margins (L∞ only).
        let left = self.opts.time_limit.saturating_sub(t0.elapsed());
        if !self.opts.bab || self.opts.norm != Norm::Linf || left.is_zero() {
            return finish(res, Status::Unknown, "");
        }
        // One branch-and-bound problem over the open margins together (a domain is closed
        // when every margin is proved on it), or with `bab_per_class` one problem per open
        // class, the closest to proved first, each given an equal share of the time left.
        let atom = |j: usize| {
            let mut c = vec![0.0; n_out];
            c[label] = 1.0;
            c[j] = -1.0;
            vec![OutputAtom { c, b: 0.0 }]
        };
        let mut open = open_rows(&lbs);
        let groups: Vec<Vec<usize>> = if self.opts.bab_per_class {
            open.sort_by(|&a, &b| lbs[b].total_cmp(&lbs[a]));
            open.iter().map(|&j| vec![j]).collect()
        } else {
            vec![open]
        };
        for (g, group) in groups.iter().enumerate() {
            let left = self.opts.time_limit.saturating_sub(t0.elapsed());
            let share = left / (groups.len() - g) as u32;
            if share.is_zero() {
                return finish(res, Status::Unknown, "");
            }
            let case = Case {
                lo: xlo.clone(),
                hi: xhi.clone(),
                terms: group.iter().map(|&j| atom(j)).collect(),
            };
            let out = bab::margin_bab(
                net,
                self.mlp,
                &case,
                share,
                self.opts.seed ^ index as u64,
                self.opts.cancel.as_deref(),
            );
            // The search's bound holds for every margin of the group (a proved group: > 0).
            let lb = match out.end {
                bab::End::Unsat => 0.0,
                _ => out.lb,
            };
            for &j in group {
                lbs[j] = lbs[j].max(lb);
            }
            res.margin_lb = worst(&lbs);
            match out.end {
                bab::End::Unsat => {}
                end => {
                    // A witness lies in the enclosing box of model coordinates; map it back
                    // and accept it only if it is a counterexample in the ball itself.
                    if let bab::End::Sat(w) = end {
                        let mut x = self.map.data_point(&w.x);
                        if let Some((a, b)) = self.opts.clamp {
                            x.iter_mut().for_each(|v| *v = v.clamp(a, b));
                        }
                        let e_in = eps * (1.0 - 1e-9);
                        for i in 0..x.len() {
                            x[i] = x[i].clamp(x0[i] - e_in, x0[i] + e_in);
                        }
                        if self.recheck(&x, x0, label, eps) {
                            res.adversarial = Some(x);
                            return finish(res, Status::Attacked, "BaB");
                        }
                    }
                    return finish(res, Status::Unknown, "");
                }
            }
        }
        finish(res, Status::Certified, "BaB")
    }
}

/// APGD's checkpoints for a run of `steps` steps (Croce & Hein 2020, §3.2): ⌈p_j·steps⌉ for
/// p₀ = 0, p₁ = 0.22, p_{j+1} = p_j + max(p_j − p_{j−1} − 0.03, 0.06), while p_j ≤ 1.
pub fn apgd_checkpoints(steps: usize) -> Vec<usize> {
    let mut p = vec![0.0f64, 0.22];
    loop {
        let k = p.len();
        let next = p[k - 1] + (p[k - 1] - p[k - 2] - 0.03).max(0.06);
        if next > 1.0 {
            break;
        }
        p.push(next);
    }
    let mut w: Vec<usize> = p
        .iter()
        // Less a hair before the ceiling: 0.22·100 is 22.000000000000004 in f64.
        .map(|v| (v * steps as f64 - 1e-9).ceil() as usize)
        .collect();
    w.dedup();
    w
}

/// Index of the largest entry (first on ties).
pub fn argmax(y: &[f64]) -> usize {
    let mut b = 0;
    for j in 1..y.len() {
        if y[j] > y[b] {
            b = j;
        }
    }
    b
}

/// Index of the largest entry other than `label`.
pub fn argmax_other(y: &[f64], label: usize) -> usize {
    let mut b = usize::MAX;
    for j in 0..y.len() {
        if j != label && (b == usize::MAX || y[j] > y[b]) {
            b = j;
        }
    }
    b
}

/// Totals of one ε over many samples.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Summary {
    /// The radius.
    pub eps: f64,
    /// Samples.
    pub n: usize,
    /// Correctly classified samples.
    pub clean: usize,
    /// Certified samples.
    pub certified: usize,
    /// Samples with a re-checked counterexample.
    pub attacked: usize,
    /// Misclassified samples.
    pub misclassified: usize,
    /// Samples left open.
    pub unknown: usize,
    /// Certified by each method: IBP, CROWN, α-CROWN, BaB.
    pub by_method: [usize; 4],
    /// Per hidden layer, mean fractions (stably active, stably inactive, unstable) over the
    /// samples.
    pub stability: Vec<[f64; 3]>,
    /// Wall-clock seconds (sum over samples).
    pub seconds: f64,
}

impl Summary {
    /// One summary per ε from [`certify_all`]'s results (`results[k]` are those at `eps[k]`).
    pub fn per_eps(eps: &[f64], results: &[Vec<SampleResult>]) -> Vec<Summary> {
        eps.iter()
            .zip(results)
            .map(|(&e, r)| Summary::of(e, r))
            .collect()
    }

    /// The text table of `certify`: one line per ε (clean, certified and attacked accuracy,
    /// unknowns, samples certified by each method, seconds), then the ReLU stability per ε.
    pub fn table(sums: &[Summary]) -> String {
        let mut s = String::new();
        s.push_str(
            "    eps   clean  certified  attacked-acc  unknown   IBP CROWN alpha  BaB   seconds\n",
        );
        for m in sums {
            s.push_str(&format!(
                "{:>7} {:6.2}% {:9.2}% {:12.2}% {:8} {:5} {:5} {:5} {:4} {:9.2}\n",
                eps_cell(m.eps),
                100.0 * m.clean_accuracy(),
                100.0 * m.certified_accuracy(),
                100.0 * m.attacked_accuracy(),
                m.unknown,
                m.by_method[0],
                m.by_method[1],
                m.by_method[2],
                m.by_method[3],
                m.seconds
            ));
        }
        s.push_str(
            "ReLU stability over the ball (mean fraction of units: active / inactive / unstable)\n",
        );
        for m in sums {
            let layers: Vec<String> = m
                .stability
                .iter()
                .enumerate()
                .map(|(l, f)| format!("layer {l}: {:.3} / {:.3} / {:.3}", f[0], f[1], f[2]))
                .collect();
            s.push_str(&format!("{:>7}  {}\n", eps_cell(m.eps), layers.join("   ")));
        }
        s
    }

    /// Sum up the results of one ε.
    pub fn of(eps: f64, results: &[SampleResult]) -> Summary {
        let mut s = Summary {
            eps,
            n: results.len(),
            ..Default::default()
        };
        let layers = results.first().map_or(0, |r| r.stability.len());
        s.stability = vec![[0.0; 3]; layers];
        for r in results {
            match r.status {
                Status::Certified => s.certified += 1,
                Status::Attacked => s.attacked += 1,
                Status::Misclassified => s.misclassified += 1,
                Status::Unknown => s.unknown += 1,
            }
            if let Some(k) = ["IBP", "CROWN", "alpha-CROWN", "BaB"]
                .iter()
                .position(|m| *m == r.method && r.status == Status::Certified)
            {
                s.by_method[k] += 1;
            }
            for (acc, st) in s.stability.iter_mut().zip(&r.stability) {
                let n = (st.active + st.inactive + st.unstable).max(1) as f64;
                acc[0] += st.active as f64 / n;
                acc[1] += st.inactive as f64 / n;
                acc[2] += st.unstable as f64 / n;
            }
            s.seconds += r.seconds;
        }
        s.clean = s.n - s.misclassified;
        let n = s.n.max(1) as f64;
        for acc in &mut s.stability {
            acc.iter_mut().for_each(|v| *v /= n);
        }
        s
    }

    /// Certified accuracy.
    pub fn certified_accuracy(&self) -> f64 {
        self.certified as f64 / self.n.max(1) as f64
    }

    /// Accuracy under attack (an upper bound of the robust accuracy).
    pub fn attacked_accuracy(&self) -> f64 {
        (self.n - self.misclassified - self.attacked) as f64 / self.n.max(1) as f64
    }

    /// Clean accuracy.
    pub fn clean_accuracy(&self) -> f64 {
        self.clean as f64 / self.n.max(1) as f64
    }

    /// The summary line of `relulab certify --json`: the fields, `"summary": true` and the
    /// three accuracies.
    pub fn to_json(&self) -> serde_json::Value {
        let mut v = serde_json::to_value(self).expect("serialisable");
        v["summary"] = true.into();
        v["clean_accuracy"] = self.clean_accuracy().into();
        v["certified_accuracy"] = self.certified_accuracy().into();
        v["attacked_accuracy"] = self.attacked_accuracy().into();
        v
    }
}

/// Certify every sample of `x` (n × d, data units) at each ε; results per ε in sample order.
/// Samples run in parallel (rayon); each sample's result does not depend on the thread count
/// (its attack stream is seeded by its index), though branch and bound's outcome depends on
/// the wall-clock limit. The only error is [`Error::Cancelled`], once
/// [`CertifyOptions::cancel`] is set (samples not yet started are skipped; a running branch
/// and bound stops at its next round).
pub fn certify_all(
    c: &Certifier,
    x: &[f64],
    labels: &[usize],
    eps: &[f64],
    progress: &(dyn Fn() + Sync),
) -> Result<Vec<Vec<SampleResult>>> {
    use rayon::prelude::*;
    let d = c.net.input_dim();
    let mut out = Vec::with_capacity(eps.len());
    for &e in eps {
        let rs: Option<Vec<SampleResult>> = (0..labels.len())
            .into_par_iter()
            .map(|i| {
                if c.opts.cancelled() {
                    return None;
                }
                let r = c.certify_sample(i, &x[i * d..(i + 1) * d], labels[i], e);
                progress();
                Some(r)
            })
            .collect();
        // A sample whose search was cut short by the flag reads "unknown": drop the lot.
        match rs {
            Some(rs) if !c.opts.cancelled() => out.push(rs),
            _ => return Err(Error::Cancelled(CANCELLED.into())),
        }
    }
    Ok(out)
}

/// Check ε values: finite and ≥ 0; the message names the offending value.
pub fn check_eps(eps: &[f64]) -> Result<()> {
    if eps.is_empty() {
        return Err(Error::Value("--eps: no radius given".into()));
    }
    for &e in eps {
        if !(e >= 0.0 && e.is_finite()) {
            return Err(Error::Value(format!(
                "--eps: {e} is not a finite radius ≥ 0"
            )));
        }
    }
    Ok(())
}

/// ReLU stability of one hidden layer over the ε-balls around a data set, beside the units
/// that are dead on the data.
#[derive(Clone, Debug, Default, Serialize)]
pub struct LayerStability {
    /// Hidden layer index.
    pub layer: usize,
    /// Units in the layer.
    pub units: usize,
    /// Mean fraction of units stably active over a ball.
    pub active: f64,
    /// Mean fraction of units stably inactive over a ball.
    pub inactive: f64,
    /// Mean fraction of units unstable over a ball.
    pub unstable: f64,
    /// Units whose pre-activation is ≤ 0 at every sample (dead on the data).
    pub dead_on_data: usize,
    /// Units stably inactive on every sample's ball (each of these is dead on the data).
    pub inactive_on_every_ball: usize,
    /// Units dead on the data yet not stably inactive on some ball (why "dead on the data"
    /// does not imply "inactive on every ball").
    pub dead_but_unstable: usize,
}

/// Stability of every hidden layer over the balls of radius `eps` (data units, ∩ `clamp`)
/// around the `n` samples of `x` (n × d, data units), from CROWN intermediate bounds (the
/// verifier's engine), with the dead-on-the-data counts from a plain f64 forward pass.
/// Samples run in parallel; the result does not depend on the thread count.
pub fn stability_report(
    net: &PwlNet,
    map: &InputMap,
    clamp: Option<(f64, f64)>,
    x: &[f64],
    n: usize,
    eps: f64,
) -> Vec<LayerStability> {
    use rayon::prelude::*;
    let d = net.input_dim();
    let hidden: Vec<usize> = net.slopes.iter().map(|s| s.len()).collect();
    // Per sample: per layer (stability counts, per-unit: dead at the sample, inactive on ball).
    type PerSample = Vec<(Stability, Vec<bool>, Vec<bool>)>;
    let per: Vec<PerSample> = (0..n)
        .into_par_iter()
        .map(|i| {
            let x0 = &x[i * d..(i + 1) * d];
            let mut lo: Vec<f64> = x0.iter().map(|&v| sub_down(v, eps)).collect();
            let mut hi: Vec<f64> = x0.iter().map(|&v| add_up(v, eps)).collect();
            if let Some((a, b)) = clamp {
                for k in 0..d {
                    lo[k] = lo[k].max(a).min(x0[k].max(a));
                    hi[k] = hi[k].min(b).max(x0[k].min(b));
                }
            }
            let (ml, mh) = map.image_box(&lo, &hi);
            let opt = Optim {
                iters: 0,
                settle_first: true,
                ..Optim::default()
            };
            let inter = optimized_hidden(net, &ml, &mh, None, &opt);
            let st = stability(net, &inter);
            let zs = net.forward_trace(&map.point(x0));
            (0..hidden.len())
                .map(|h| {
                    let dead: Vec<bool> = zs[h].iter().map(|&z| z <= 0.0).collect();
                    let inact: Vec<bool> = inter.hi[h].iter().map(|&u| u <= 0.0).collect();
                    (st[h], dead, inact)
                })
                .collect()
        })
        .collect();
    (0..hidden.len())
        .map(|h| {
            let w = hidden[h];
            let mut r = LayerStability {
                layer: h,
                units: w,
                ..Default::default()
            };
            let mut dead = vec![true; w];
            let mut inact = vec![true; w];
            for s in &per {
                let (st, dd, ii) = &s[h];
                r.active += st.active as f64 / w as f64;
                r.inactive += st.inactive as f64 / w as f64;
                r.unstable += st.unstable as f64 / w as f64;
                for j in 0..w {
                    dead[j] &= dd[j];
                    inact[j] &= ii[j];
                }
            }
            let nn = n.max(1) as f64;
            r.active /= nn;
            r.inactive /= nn;
            r.unstable /= nn;
            r.dead_on_data = dead.iter().filter(|&&v| v).count();
            r.inactive_on_every_ball = inact.iter().filter(|&&v| v).count();
            r.dead_but_unstable = (0..w).filter(|&j| dead[j] && !inact[j]).count();
            r
        })
        .collect()
}

/// ε for a table cell of 7 characters: 4 decimals where they show it exactly, otherwise
/// scientific notation (so 1e-5 and 2e-5 stay apart, and 1e300 stays short).
fn eps_cell(eps: f64) -> String {
    let fixed = format!("{eps:.4}");
    if fixed.parse::<f64>() == Ok(eps) && fixed.len() <= 7 {
        fixed
    } else {
        format!("{eps:.2e}")
    }
}

/// The stability table as text.
pub fn format_stability(rows: &[LayerStability], eps: f64) -> String {
    let mut s = format!(
        "ReLU stability over ε-balls (ε = {eps}): mean fraction of units per ball; dead on the data vs stably inactive on every ball\n  layer  units  stable-active  stable-inactive  unstable  dead-on-data  inactive-on-every-ball  dead-but-unstable\n"
    );
    for r in rows {
        s.push_str(&format!(
            "  {:5}  {:5}  {:13.3}  {:15.3}  {:8.3}  {:12}  {:22}  {:17}\n",
            r.layer,
            r.units,
            r.active,
            r.inactive,
            r.unstable,
            r.dead_on_data,
            r.inactive_on_every_ball,
            r.dead_but_unstable
        ));
    }
    s
}
