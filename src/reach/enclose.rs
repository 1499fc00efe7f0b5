//! Sound per-step enclosures of the reachable states, by the verifier's engine on the unrolled
//! loop, over a partition of the initial box refined until a target tightness.
//!
//! For each part P of the initial box: sound bounds of every hidden layer of the unrolled
//! network on P ([`optimized_hidden`]: IBP, then CROWN / α-CROWN on every unit IBP leaves
//! unstable, back to x\[0\]), then for each step k the rows `±e_j` (and the template directions)
//! over the layer holding x\[k\] ([`bound_rows`]): `c·x[k] ≥ lb` on P, with every rounding charged
//! (the engine's directed-rounding discipline). The box of step k is the hull of the parts'
//! boxes; a template polytope keeps, per direction, the largest upper bound over the parts.
//!
//! Refinement: the tightness of the final step (area of the computed box − area of the box of
//! simulated states) / area of the simulated box (Everett et al. 2021, "Reachability analysis
//! of neural feedback loops", IEEE Access, §VI) is measured against simulated trajectories;
//! while it exceeds the target and time remains, the parts whose final-step bounds stick out
//! furthest past the simulated box are halved along the input with the largest
//! `Σ |λ_i|·width_i` (λ the CROWN coefficients of their final-step rows). Parts are bounded in
//! parallel (rayon); each part's result does not depend on the thread count, and the parts are
//! split in a fixed order, so the answer is the same for any number of threads.

use super::{ClosedLoop, Unrolled};
use crate::error::Result;
use crate::verify::engine::{bound_rows, optimized_hidden, Domain, Optim, Relaxation, Row};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Options of [`reach`].
#[derive(Clone, Debug)]
pub struct ReachOptions {
    /// Number of steps N.
    pub steps: usize,
    /// Uniform parts per state dimension at the start.
    pub parts: usize,
    /// Stop refining once the final step's tightness is at or below this (0: refine until the
    /// time limit or `max_parts`).
    pub target_error: f64,
    /// Wall-clock limit of the refinement (the first partition is always bounded).
    pub time_limit: Duration,
    /// Most parts.
    pub max_parts: usize,
    /// α-CROWN iterations for the hidden bounds and the state rows (0: CROWN).
    pub alpha_iters: usize,
    /// Template directions over the state (each row `d` gets a bound `d·x ≤ e`); empty for
    /// boxes only.
    pub directions: Vec<Vec<f64>>,
    /// Simulated trajectories guiding the refinement (plus the initial box's corners).
    pub guide_samples: usize,
    /// Seed of the simulation.
    pub seed: u64,
    /// A cancel flag (the Python binding's Ctrl-C): once set, the refinement stops at its
    /// next part, a safety query at its verifier's next round, and the run returns
    /// [`crate::Error::Cancelled`] with [`CANCELLED`].
    pub cancel: Option<Arc<AtomicBool>>,
}

/// The error message of a run stopped through [`ReachOptions::cancel`].
pub const CANCELLED: &str = "reach: cancelled";

impl ReachOptions {
    /// Whether the cancel flag is set.
    pub fn cancelled(&self) -> bool {
        self.cancel
            .as_ref()
            .is_some_and(|c| c.load(Ordering::Relaxed))
    }

    /// `Err(Cancelled)` once the cancel flag is set.
    pub fn check_cancel(&self) -> Result<()> {
        if self.cancelled() {
            Err(crate::Error::Cancelled(CANCELLED.into()))
        } else {
            Ok(())
        }
    }
}

impl Default for ReachOptions {
    fn default() -> Self {
        ReachOptions {
            steps: 1,
            parts: 1,
            target_error: 0.0,
            time_limit: Duration::from_secs(10),
            max_parts: 1 << 16,
            alpha_iters: 0,
            directions: Vec::new(),
            guide_samples: 2000,
            seed: 0,
            cancel: None,
        }
    }
}

/// The octagonal template over n states: ±x_i ± x_j for i < j (the box rows are separate).
pub fn octagon(n: usize) -> Vec<Vec<f64>> {
    let mut out = Vec::new();
    for i in 0..n {
        for j in i + 1..n {
            for (si, sj) in [(1.0, 1.0), (1.0, -1.0), (-1.0, 1.0), (-1.0, -1.0)] {
                let mut d = vec![0.0; n];
                d[i] = si;
                d[j] = sj;
                out.push(d);
            }
        }
    }
    out
}

/// Sound bounds of one part: per step k = 1..=N, the box and the template upper bounds.
#[derive(Clone, Debug)]
pub struct PartBounds {
    /// The part, lower ends.
    pub lo: Vec<f64>,
    /// The part, upper ends.
    pub hi: Vec<f64>,
    /// `boxes[k − 1] = (lo, hi)` of x\[k\] on the part.
    pub boxes: Vec<(Vec<f64>, Vec<f64>)>,
    /// `template[k − 1][d]`: upper bound of `directions[d]·x[k]` on the part.
    pub template: Vec<Vec<f64>>,
    /// The input to halve next (largest Σ|λ_i|·width_i over the final step's rows).
    pub split_dim: usize,
}

/// Bound every step of `un` over the part [lo, hi].
pub fn bound_part(
    un: &Unrolled,
    lo: &[f64],
    hi: &[f64],
    directions: &[Vec<f64>],
    alpha_iters: usize,
) -> PartBounds {
    let net = &un.net;
    let opt = Optim {
        iters: alpha_iters,
        ..Optim::default()
    };
    let inter = optimized_hidden(net, lo, hi, None, &opt);
    let n = net.output_dim();
    let d = lo.len();
    let mut rows_c: Vec<Vec<f64>> = Vec::with_capacity(2 * n + directions.len());
    for j in 0..n {
        let mut e = vec![0.0; n];
        e[j] = 1.0;
        rows_c.push(e.clone());
        e[j] = -1.0;
        rows_c.push(e);
    }
    // Template rows bound −d·x from below: d·x ≤ −lb.
    for dir in directions {
        rows_c.push(dir.iter().map(|v| -v).collect());
    }
    let mut boxes = Vec::with_capacity(un.state_layer.len());
    let mut template = Vec::with_capacity(un.state_layer.len());
    let mut score = vec![0.0; d];
    let last = un.state_layer.len() - 1;
    for (k, &t) in un.state_layer.iter().enumerate() {
        let rel = Relaxation::new(net, t, lo, hi, &inter);
        let rows: Vec<Row> = rows_c
            .iter()
            .map(|c| Row {
                dom: 0,
                c,
                target: f64::INFINITY,
                alpha: None,
                beta: None,
                floor: f64::NEG_INFINITY,
            })
            .collect();
        let res = bound_rows(&rel, &[Domain::splits(&[])], &rows, &opt);
        let (mut blo, mut bhi) = (vec![0.0; n], vec![0.0; n]);
        for j in 0..n {
            blo[j] = res[2 * j].lb;
            bhi[j] = -res[2 * j + 1].lb;
            if t < inter.lo.len() {
                // The hidden bounds of the identity units are sound too.
                blo[j] = blo[j].max(inter.lo[t][j]);
                bhi[j] = bhi[j].min(inter.hi[t][j]);
            }
        }
        if k == last {
            for r in &res[..2 * n] {
                for i in 0..d {
                    score[i] += r.lambda0[i].abs() * (hi[i] - lo[i]);
                }
            }
        }
        boxes.push((blo, bhi));
        template.push(res[2 * n..].iter().map(|r| -r.lb).collect());
    }
    let split_dim = (0..d)
        .max_by(|&a, &b| score[a].total_cmp(&score[b]).then(b.cmp(&a)))
        .unwrap_or(0);
    PartBounds {
        lo: lo.to_vec(),
        hi: hi.to_vec(),
        boxes,
        template,
        split_dim,
    }
}

/// One step's enclosure.
#[derive(Clone, Debug)]
pub struct StepEnclosure {
    /// Box, lower ends.
    pub lo: Vec<f64>,
    /// Box, upper ends.
    pub hi: Vec<f64>,
    /// Template upper bounds (one per direction).
    pub template: Vec<f64>,
}

/// The result of [`reach`].
#[derive(Clone, Debug)]
pub struct Reach {
    /// `steps[k]` encloses x\[k\], k = 0..=N (step 0 is the initial box).
    pub steps: Vec<StepEnclosure>,
    /// The template directions.
    pub directions: Vec<Vec<f64>>,
    /// Parts of the final partition.
    pub parts: Vec<PartBounds>,
    /// Refinement rounds.
    pub rounds: usize,
    /// The final step's tightness against the guiding simulation.
    pub guide_error: f64,
    /// Wall-clock seconds.
    pub seconds: f64,
}

/// Area (volume) of a box.
pub fn box_area(lo: &[f64], hi: &[f64]) -> f64 {
    lo.iter().zip(hi).map(|(l, h)| (h - l).max(0.0)).product()
}

/// Tightness (area computed − area true) / area true.
pub fn tightness(computed: (&[f64], &[f64]), truth: (&[f64], &[f64])) -> f64 {
    let t = box_area(truth.0, truth.1);
    (box_area(computed.0, computed.1) - t) / t
}

#[allow(clippy::needless_range_loop)]
/// Per-step boxes of simulated states: `samples` initial states drawn uniformly from the
/// initial set (box ∩ half-spaces, by rejection) plus the box's corners (those inside the
/// half-spaces), simulated in f64.
pub fn simulated_boxes(
    cl: &ClosedLoop,
    steps: usize,
    samples: usize,
    seed: u64,
) -> Vec<(Vec<f64>, Vec<f64>)> {
    simulated_boxes_until(cl, steps, samples, seed, None).expect("no cancel flag")
}

/// [`simulated_boxes`] that stops between chunks of 4096 trajectories once `cancel` is set
/// (error [`crate::Error::Cancelled`]).
#[allow(clippy::needless_range_loop)]
pub fn simulated_boxes_until(
    cl: &ClosedLoop,
    steps: usize,
    samples: usize,
    seed: u64,
    cancel: Option<&AtomicBool>,
) -> Result<Vec<(Vec<f64>, Vec<f64>)>> {
    let cancelled = || cancel.is_some_and(|c| c.load(Ordering::Relaxed));
    let p = &cl.plant;
    let n = p.n;
    let mut starts = corners(&p.init_lo, &p.init_hi);
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut tries = 0usize;
    while starts.len() < samples + (1 << n.min(20)) && tries < 100 * samples.max(1) {
        tries += 1;
        let x: Vec<f64> = (0..n)
            .map(|i| p.init_lo[i] + rng.random::<f64>() * (p.init_hi[i] - p.init_lo[i]))
            .collect();
        if p.in_halfspaces(&x) {
            starts.push(x);
        }
    }
    starts.retain(|x| p.in_halfspaces(x));
    let chunk = 4096;
    let parts: Vec<Vec<(Vec<f64>, Vec<f64>)>> = starts
        .par_chunks(chunk)
        .filter(|_| !cancelled())
        .map(|ch| {
            let mut b = vec![(vec![f64::INFINITY; n], vec![f64::NEG_INFINITY; n]); steps + 1];
            for x0 in ch {
                for (k, x) in cl.simulate(x0, steps).iter().enumerate() {
                    for i in 0..n {
                        b[k].0[i] = b[k].0[i].min(x[i]);
                        b[k].1[i] = b[k].1[i].max(x[i]);
                    }
                }
            }
            b
        })
        .collect();
    let mut out = vec![(vec![f64::INFINITY; n], vec![f64::NEG_INFINITY; n]); steps + 1];
    for b in parts {
        for k in 0..=steps {
            for i in 0..n {
                out[k].0[i] = out[k].0[i].min(b[k].0[i]);
                out[k].1[i] = out[k].1[i].max(b[k].1[i]);
            }
        }
    }
    if cancelled() {
        return Err(crate::Error::Cancelled(CANCELLED.into()));
    }
    Ok(out)
}

/// The 2^d corners of a box (d ≤ 20).
pub fn corners(lo: &[f64], hi: &[f64]) -> Vec<Vec<f64>> {
    let d = lo.len().min(20);
    (0..1usize << d)
        .map(|mask| {
            (0..lo.len())
                .map(|i| {
                    if i < 20 && mask >> i & 1 == 1 {
                        hi[i]
                    } else {
                        lo[i]
                    }
                })
                .collect()
        })
        .collect()
}

/// Whether the part can meet the initial half-spaces (else it holds no initial state).
fn part_feasible(cl: &ClosedLoop, lo: &[f64], hi: &[f64]) -> bool {
    cl.plant.init_h.iter().all(|(h, k)| {
        let min: f64 = (0..lo.len())
            .map(|i| (h[i] * lo[i]).min(h[i] * hi[i]))
            .sum();
        // Rounding of this sum only decides whether a part is kept: keep it when in doubt.
        min <= *k + 1e-12 * (1.0 + k.abs() + min.abs())
    })
}

fn hull(parts: &[PartBounds], cl: &ClosedLoop, ndir: usize) -> Vec<StepEnclosure> {
    let p = &cl.plant;
    let n = p.n;
    let steps = parts.first().map_or(0, |q| q.boxes.len());
    let mut out = vec![StepEnclosure {
        lo: p.init_lo.clone(),
        hi: p.init_hi.clone(),
        template: vec![f64::INFINITY; ndir],
    }];
    for k in 0..steps {
        let mut e = StepEnclosure {
            lo: vec![f64::INFINITY; n],
            hi: vec![f64::NEG_INFINITY; n],
            template: vec![f64::NEG_INFINITY; ndir],
        };
        for q in parts {
            for i in 0..n {
                e.lo[i] = e.lo[i].min(q.boxes[k].0[i]);
                e.hi[i] = e.hi[i].max(q.boxes[k].1[i]);
            }
            for (t, v) in e.template.iter_mut().zip(&q.template[k]) {
                *t = t.max(*v);
            }
        }
        out.push(e);
    }
    out
}

/// Sound enclosures of x\[0..=N\] (see the module documentation).
pub fn reach(cl: &ClosedLoop, un: &Unrolled, opts: &ReachOptions) -> Result<Reach> {
    let start = Instant::now();
    let p = &cl.plant;
    let n = p.n;
    let k = opts.parts.max(1);
    // Uniform grid of k parts per dimension.
    let mut boxes: Vec<(Vec<f64>, Vec<f64>)> = Vec::new();
    let total = k.checked_pow(n as u32).unwrap_or(usize::MAX);
    if total > opts.max_parts {
        return Err(crate::Error::Value(format!(
            "reach: {k} parts per state over {n} states is {} parts, more than the limit {}",
            if total == usize::MAX {
                "too many".to_string()
            } else {
                total.to_string()
            },
            opts.max_parts
        )));
    }
    for idx in 0..total {
        let mut r = idx;
        let (mut lo, mut hi) = (vec![0.0; n], vec![0.0; n]);
        for i in 0..n {
            let c = r % k;
            r /= k;
            let w = p.init_hi[i] - p.init_lo[i];
            lo[i] = if c == 0 {
                p.init_lo[i]
            } else {
                p.init_lo[i] + w * c as f64 / k as f64
            };
            hi[i] = if c + 1 == k {
                p.init_hi[i]
            } else {
                p.init_lo[i] + w * (c + 1) as f64 / k as f64
            };
        }
        if part_feasible(cl, &lo, &hi) {
            boxes.push((lo, hi));
        }
    }
    // Parts left once the flag is set are skipped (`None`), and the run ends as cancelled.
    let bound = |bx: &[(Vec<f64>, Vec<f64>)]| -> Result<Vec<PartBounds>> {
        let out: Option<Vec<PartBounds>> = bx
            .par_iter()
            .map(|(lo, hi)| {
                (!opts.cancelled())
                    .then(|| bound_part(un, lo, hi, &opts.directions, opts.alpha_iters))
            })
            .collect();
        opts.check_cancel()?;
        out.ok_or_else(|| crate::Error::Cancelled(CANCELLED.into()))
    };
    let mut parts = bound(&boxes)?;
    let steps = un.state_layer.len();
    let sim = if opts.target_error > 0.0 || opts.time_limit > Duration::ZERO {
        simulated_boxes_until(
            cl,
            steps,
            opts.guide_samples,
            opts.seed,
            opts.cancel.as_deref(),
        )?
    } else {
        Vec::new()
    };
    let mut rounds = 0;
    let mut err = f64::INFINITY;
    loop {
        opts.check_cancel()?;
        let h = hull(&parts, cl, opts.directions.len());
        if let Some((slo, shi)) = sim.last() {
            err = tightness((&h[steps].lo, &h[steps].hi), (slo, shi));
        }
        if sim.is_empty()
            || err <= opts.target_error
            || start.elapsed() >= opts.time_limit
            || parts.len() >= opts.max_parts
        {
            return Ok(Reach {
                steps: h,
                directions: opts.directions.clone(),
                parts,
                rounds,
                guide_error: err,
                seconds: start.elapsed().as_secs_f64(),
            });
        }
        // Excess of each part's final box past the simulated box, relative to its width.
        let (slo, shi) = sim.last().expect("checked");
        let excess: Vec<f64> = parts
            .iter()
            .map(|q| {
                let (blo, bhi) = &q.boxes[steps - 1];
                (0..n)
                    .map(|i| {
                        let w = (shi[i] - slo[i]).max(1e-12);
                        ((slo[i] - blo[i]).max(0.0) + (bhi[i] - shi[i]).max(0.0)) / w
                    })
                    .sum()
            })
            .collect();
        let mut order: Vec<usize> = (0..parts.len()).filter(|&i| excess[i] > 0.0).collect();
        if order.is_empty() {
            // Nothing sticks out (the guide saw every extreme): nothing left to gain.
            let h = hull(&parts, cl, opts.directions.len());
            return Ok(Reach {
                steps: h,
                directions: opts.directions.clone(),
                parts,
                rounds,
                guide_error: err,
                seconds: start.elapsed().as_secs_f64(),
            });
        }
        order.sort_by(|&a, &b| excess[b].total_cmp(&excess[a]).then(a.cmp(&b)));
        let take = order
            .len()
            .div_ceil(4)
            .max(1)
            .min(opts.max_parts - parts.len());
        let mut chosen: Vec<usize> = order[..take].to_vec();
        chosen.sort_unstable();
        let mut children = Vec::with_capacity(2 * take);
        for &i in &chosen {
            let q = &parts[i];
            let s = q.split_dim;
            let mid = 0.5 * (q.lo[s] + q.hi[s]);
            let (mut ahi, mut blo) = (q.hi.clone(), q.lo.clone());
            ahi[s] = mid;
            blo[s] = mid;
            for (lo, hi) in [(q.lo.clone(), ahi), (blo, q.hi.clone())] {
                if part_feasible(cl, &lo, &hi) {
                    children.push((lo, hi));
                }
            }
        }
        let mut keep: Vec<PartBounds> = Vec::with_capacity(parts.len() + take);
        let mut ci = 0;
        for (i, q) in parts.into_iter().enumerate() {
            if ci < chosen.len() && chosen[ci] == i {
                ci += 1;
            } else {
                keep.push(q);
            }
        }
        keep.extend(bound(&children)?);
        parts = keep;
        rounds += 1;
    }
}

/// Draw `samples` initial states uniformly from the initial set (deterministic in `seed`).
pub fn sample_initial(cl: &ClosedLoop, samples: usize, seed: u64) -> Vec<Vec<f64>> {
    let p = &cl.plant;
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut out = Vec::with_capacity(samples);
    let mut tries = 0;
    while out.len() < samples && tries < 100 * samples.max(1) {
        tries += 1;
        let x: Vec<f64> = (0..p.n)
            .map(|i| p.init_lo[i] + rng.random::<f64>() * (p.init_hi[i] - p.init_lo[i]))
            .collect();
        if p.in_halfspaces(&x) {
            out.push(x);
        }
    }
    out
}
