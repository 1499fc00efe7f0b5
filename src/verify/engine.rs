//! The bound engine every proof in relulab goes through: lower bounds of linear objectives
//! `c·z_t` over an input box, for many domains at once, by CROWN with optimised slopes (α) and
//! split multipliers (β).
//!
//! A *domain* is the input box intersected with split constraints on hidden units
//! (`z ≥ 0`, active, or `z ≤ 0`, inactive; [`Split`]). A split unit is linear on its domain,
//! and its constraint enters the backward pass through a multiplier β ≥ 0: for an active split
//! `f(x) ≥ f(x) − β·z(x)` on the domain, for an inactive one `f(x) ≥ f(x) + β·z(x)`, so any
//! β ≥ 0 gives a valid bound and the best β tightens it (β-CROWN: Wang et al. 2021,
//! "Beta-CROWN: efficient bound propagation with per-neuron split constraints for complete
//! and incomplete neural network verification", Thm 3.1). The lower slopes α of the unstable,
//! unsplit units are free in their slope range (α-CROWN: Xu et al. 2021, "Fast and complete",
//! §3.1). Both are optimised by projected Adam ascent on the bound (Danskin: at the box
//! corner x* that minimises the linear bound, ∂B/∂α_{h,j} = λ_{h,j}·δ_{h,j} and
//! ∂B/∂β_{h,j} = ∓δ_{h,j}, with δ the pre-activations of the relaxed network at x* and λ the
//! coefficient on the unit's output), keeping the best bound seen: every iterate is sound, so
//! stopping early only costs tightness.
//!
//! Rows are bounded in fixed chunks of [`CHUNK`] rows spread over rayon; a row's result does not
//! depend on the thread count. Rounding is charged exactly as in [`super::bounds`]: every sum
//! adds a bound of its error to a slack subtracted, rounded down, at the end; β enters the
//! coefficient vectors with its magnitude charged through the unit's root bound magnitude.
//!
//! Used by `verify` (ReLU-split branch and bound, [`super::relu_bab`]), by the intermediate
//! bounds of [`optimized_hidden`], and through them by every application that asks how small a
//! linear expression of a network's outputs can get over a set of inputs.

use super::bounds::{act_interval, affine_interval, mags, matmul, relax, LayerBounds, Mags};
use super::fp::{add_up, dot_err, sub_down};
use super::net::{Affine, PwlNet};
use crate::real::Real;
use rayon::prelude::*;

/// Rows bounded together (one matrix product per layer); chunks run in parallel.
pub const CHUNK: usize = 96;

/// A split constraint on hidden unit `unit` of hidden layer `layer`: `z ≥ 0` when `active`,
/// else `z ≤ 0`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Split {
    /// Hidden layer index (the pre-activation `z_layer`).
    pub layer: u32,
    /// Unit within the layer.
    pub unit: u32,
    /// `z ≥ 0` (true) or `z ≤ 0` (false).
    pub active: bool,
}

impl Split {
    /// Whether a point whose pre-activations are `zs` (per hidden layer, as
    /// [`PwlNet::forward_trace`] gives them) meets this constraint.
    pub fn holds(&self, zs: &[Vec<f64>]) -> bool {
        let z = zs[self.layer as usize][self.unit as usize];
        if self.active {
            z >= 0.0
        } else {
            z <= 0.0
        }
    }
}

/// One domain: split constraints, and optionally a sub-box of the relaxation's input box (the
/// relaxation's bounds and rounding magnitudes stay valid on any sub-box).
#[derive(Clone, Copy, Debug)]
pub struct Domain<'a> {
    /// The split constraints.
    pub splits: &'a [Split],
    /// A sub-box `(lo, hi)` of the input box, or `None` for the whole box.
    pub bbox: Option<(&'a [f64], &'a [f64])>,
    /// Hidden-layer bounds tightened on this domain (covering at least the layers below the
    /// relaxation's target; sound on the domain), or `None` for the relaxation's own.
    pub lines: Option<&'a Lines>,
}

impl<'a> Domain<'a> {
    /// The whole box with `splits`.
    pub fn splits(splits: &'a [Split]) -> Self {
        Domain {
            splits,
            bbox: None,
            lines: None,
        }
    }
}

/// Optimiser settings of the engine.
#[derive(Clone, Copy, Debug)]
pub struct Optim {
    /// Projected-gradient iterations (0: CROWN with the given or default slopes).
    pub iters: usize,
    /// Adam step for α.
    pub lr_alpha: f64,
    /// Adam step for β.
    pub lr_beta: f64,
    /// Step decay per iteration.
    pub decay: f64,
    /// Compute each row's branching choice ([`RowResult::branch`]).
    pub branch: bool,
    /// With `branch`: how many of the best-scored units [`RowResult::candidates`] lists (at
    /// least 1).
    pub candidates: usize,
    /// Intermediate bounds ([`optimized_hidden`]) only as far as they settle each unit's sign:
    /// of a unit IBP leaves unstable, bound first the side its value at the box centre points
    /// to (`z ≥ 0` there: the lower bound), and the other side only if that one leaves the
    /// unit unstable. A unit so settled keeps IBP's bound on its other side; its relaxation
    /// (identity or zero) is the same either way, so bounds over later layers lose only what
    /// the looser side costs their IBP pre-filter and rounding terms. About half the rows
    /// when most units settle (certify's 64-256-256-10 at small ε).
    pub settle_first: bool,
    /// Run the α/β iterations in f32, then one sound f64 pass with the slopes and multipliers
    /// whose f32 estimate was best. The f32 estimates only steer the search (no rounding is
    /// charged and none is ever reported); every bound returned comes from the f64 pass. Half
    /// the cost of each product (twice the SIMD lanes), for a bound that can differ from the
    /// all-f64 search's in the last digits of the slopes chosen.
    pub fast: bool,
}

impl Default for Optim {
    fn default() -> Self {
        Optim {
            iters: 20,
            lr_alpha: 0.1,
            lr_beta: 0.05,
            decay: 0.98,
            branch: false,
            candidates: 1,
            settle_first: false,
            fast: false,
        }
    }
}

/// Sound bounds of hidden layers and the relaxation lines they give: the root's (in
/// [`Relaxation`]) or one domain's, tightened under its splits ([`Domain::lines`]).
#[derive(Debug, Clone)]
pub struct Lines {
    /// Bounds of the hidden layers `0..t`.
    pub inter: LayerBounds,
    /// Per hidden layer, the default lower line (CROWN's adaptive choice) and the upper line as
    /// slope and intercept arrays `[lower s, lower t, upper s, upper t]` (for the branch-free
    /// backward loop).
    lines: Vec<[Vec<f64>; 4]>,
    /// `lines` rounded to f32, for the estimate passes ([`Optim::fast`]); made on first use
    /// (the input-split search builds a relaxation per box and never asks for them).
    lines32: std::sync::OnceLock<Vec<[Vec<f32>; 4]>>,
    /// Whether each unit's lower slope is free (unstable convex kink), and the free units.
    free: Vec<Vec<bool>>,
    free_idx: Vec<Vec<usize>>,
}

impl Lines {
    /// The lines of the hidden layers `0..t` from their sound bounds `inter`.
    pub fn new(net: &PwlNet, t: usize, inter: &LayerBounds) -> Self {
        let mut out = Lines {
            inter: LayerBounds {
                lo: inter.lo[..t].to_vec(),
                hi: inter.hi[..t].to_vec(),
            },
            lines: Vec::with_capacity(t),
            lines32: std::sync::OnceLock::new(),
            free: Vec::with_capacity(t),
            free_idx: Vec::with_capacity(t),
        };
        for h in 0..t {
            let (ln, fr, idx) = Self::layer(net, h, &out.inter.lo[h], &out.inter.hi[h]);
            out.lines.push(ln);
            out.free.push(fr);
            out.free_idx.push(idx);
        }
        out
    }

    /// A copy with hidden layer `h`'s bounds replaced by `[lo, hi]` (sound bounds on the set
    /// the copy is used for).
    pub fn with_layer(&self, net: &PwlNet, h: usize, lo: Vec<f64>, hi: Vec<f64>) -> Self {
        let (ln, fr, idx) = Self::layer(net, h, &lo, &hi);
        let mut out = Lines {
            inter: self.inter.clone(),
            lines: self.lines.clone(),
            lines32: std::sync::OnceLock::new(),
            free: self.free.clone(),
            free_idx: self.free_idx.clone(),
        };
        out.inter.lo[h] = lo;
        out.inter.hi[h] = hi;
        (out.lines[h], out.free[h], out.free_idx[h]) = (ln, fr, idx);
        out
    }

    #[allow(clippy::type_complexity)]
    fn layer(
        net: &PwlNet,
        h: usize,
        lo: &[f64],
        hi: &[f64],
    ) -> ([Vec<f64>; 4], Vec<bool>, Vec<usize>) {
        let n = net.layers[h].n_out;
        let mut ln: [Vec<f64>; 4] = Default::default();
        let mut fr = Vec::with_capacity(n);
        for j in 0..n {
            let (sl, sr) = net.slopes[h][j];
            let (l, u) = (lo[j], hi[j]);
            let lw = relax(sl, sr, l, u, true, None);
            let up = relax(sl, sr, l, u, false, None);
            for (v, x) in ln.iter_mut().zip([lw.s, lw.t, up.s, up.t]) {
                v.push(x);
            }
            fr.push(l < 0.0 && u > 0.0 && sl < sr);
        }
        let idx = (0..n).filter(|&j| fr[j]).collect();
        (ln, fr, idx)
    }

    /// Whether unit j of hidden layer h is unstable under these bounds.
    pub fn unstable(&self, h: usize, j: usize) -> bool {
        self.inter.lo[h][j] < 0.0 && self.inter.hi[h][j] > 0.0
    }
}

/// The fixed part of a bounding problem: the network, the input box, sound bounds of every
/// hidden layer below the target layer `t` on the whole box, and the relaxation lines they give.
pub struct Relaxation<'a> {
    /// The network.
    pub net: &'a PwlNet,
    /// Target layer (rows are over `z_t`; `t = L − 1` is the output).
    pub t: usize,
    /// Input box.
    pub xlo: Vec<f64>,
    /// Input box.
    pub xhi: Vec<f64>,
    /// Bounds of the hidden layers `0..t` on the box, and their lines.
    pub root: Lines,
    mags: Mags,
    /// Offsets of hidden layer h in a flat α vector; `off[t]` is its length.
    off: Vec<usize>,
}

impl<'a> Relaxation<'a> {
    /// Build from sound bounds `inter` of (at least) the hidden layers below `t`.
    pub fn new(net: &'a PwlNet, t: usize, xlo: &[f64], xhi: &[f64], inter: &LayerBounds) -> Self {
        let root = Lines::new(net, t, inter);
        let mags = mags(net, xlo, xhi, &root.inter, t);
        let mut off = vec![0];
        for h in 0..t {
            off.push(off[h] + net.layers[h].n_out);
        }
        Relaxation {
            root,
            net,
            t,
            xlo: xlo.to_vec(),
            xhi: xhi.to_vec(),
            mags,
            off,
        }
    }

    /// Length of a flat α vector.
    pub fn alpha_len(&self) -> usize {
        self.off[self.t]
    }

    /// Whether unit j of hidden layer h is unstable on the box.
    pub fn unstable(&self, h: usize, j: usize) -> bool {
        self.root.unstable(h, j)
    }

    /// CROWN's default α (the adaptive lower slope), flat.
    pub fn default_alpha(&self) -> Vec<f64> {
        default_alpha(&self.root, self.t)
    }
}

/// CROWN's default α of the first `t` hidden layers of `lines`, flat.
fn default_alpha(lines: &Lines, t: usize) -> Vec<f64> {
    lines.lines[..t]
        .iter()
        .flat_map(|l| l[0].iter().copied())
        .collect()
}

/// One objective row to bound: `c·z_t` on domain `dom` (an index into the caller's domain
/// list), stopping its optimisation once the bound exceeds `target`.
#[derive(Clone, Debug)]
pub struct Row<'r> {
    /// Index of the domain.
    pub dom: usize,
    /// Coefficients over z_t.
    pub c: &'r [f64],
    /// Refutation threshold: no more optimisation once `lb > target` (∞: never stop).
    pub target: f64,
    /// Warm start for α (flat, [`Relaxation::alpha_len`]); `None`: CROWN's choice.
    pub alpha: Option<&'r [f32]>,
    /// Warm start for β, one per split of the domain; `None`: zeros.
    pub beta: Option<&'r [f32]>,
    /// With [`Optim::fast`]: a row whose f32 estimate is at or below `floor` skips the sound
    /// f64 pass and reports `lb = −∞` with empty vectors (for a caller that already holds a
    /// bound of `floor`, such as a unit's bound on the parent domain); `−∞`: never skipped.
    pub floor: f64,
}

/// The result for one row.
#[derive(Clone, Debug)]
pub struct RowResult {
    /// A sound lower bound of `c·z_t` over the domain.
    pub lb: f64,
    /// Input coefficients λ of the best linear bound: `c·z_t ≥ λ·x + k` on the domain.
    pub lambda0: Vec<f64>,
    /// The constant of that bound (sound).
    pub k: f64,
    /// The box corner minimising the linear bound (a falsification candidate).
    pub corner: Vec<f64>,
    /// The α of the best bound.
    pub alpha: Vec<f32>,
    /// The β of the best bound.
    pub beta: Vec<f32>,
    /// With [`Optim::branch`]: the unsplit unstable unit whose relaxation costs this row most
    /// (hidden layer, unit, score), by the BaBSR intercept score (Bunel et al. 2020, "Branch and bound for piecewise
    /// linear neural network verification", §5.1).
    pub branch: Option<(usize, usize, f64)>,
    /// With [`Optim::branch`]: the [`Optim::candidates`] best units by that score, best first
    /// (`branch` is the first).
    pub candidates: Vec<(usize, usize, f64)>,
}

impl RowResult {
    /// No bound yet: `lb = −∞`, empty vectors.
    fn unset() -> Self {
        RowResult {
            lb: f64::NEG_INFINITY,
            lambda0: Vec::new(),
            k: f64::NEG_INFINITY,
            corner: Vec::new(),
            alpha: Vec::new(),
            beta: Vec::new(),
            branch: None,
            candidates: Vec::new(),
        }
    }
}

/// Lower bounds of every row, in order. Each split of a domain must name an unstable unit of a
/// layer below `rel.t` (others are ignored).
pub fn bound_rows(
    rel: &Relaxation,
    splits: &[Domain],
    rows: &[Row],
    opt: &Optim,
) -> Vec<RowResult> {
    let chunks: Vec<&[Row]> = rows.chunks(CHUNK).collect();
    chunks
        .par_iter()
        .flat_map_iter(|ch| bound_chunk(rel, splits, ch, opt))
        .collect()
}

/// Per-row scratch of a backward pass: for each hidden layer, λ (coefficients on a_h), and
/// the line slopes and intercepts used.
struct Trace<T> {
    lam: Vec<Vec<T>>,
    s: Vec<Vec<T>>,
    t: Vec<Vec<T>>,
}

/// The precision of a backward pass: f64 for sound bounds (every rounding charged), f32 for
/// the estimates that steer α and β ([`Optim::fast`]; nothing charged, never reported).
trait Prec: Real {
    /// Whether the pass charges its rounding (its bounds are sound).
    const SOUND: bool;
    /// The relaxation's lines in this precision.
    fn lines(l: &Lines) -> &[[Vec<Self>; 4]];
    /// W, Wᵀ and b in this precision.
    fn affine(a: &Affine) -> [&[Self]; 3];
}

impl Prec for f64 {
    const SOUND: bool = true;
    fn lines(l: &Lines) -> &[[Vec<f64>; 4]] {
        &l.lines
    }
    fn affine(a: &Affine) -> [&[f64]; 3] {
        [&a.w, &a.wt, &a.b]
    }
}

impl Prec for f32 {
    const SOUND: bool = false;
    fn lines(l: &Lines) -> &[[Vec<f32>; 4]] {
        l.lines32.get_or_init(|| {
            let narrow = |v: &Vec<f64>| v.iter().map(|&x| x as f32).collect();
            l.lines.iter().map(|l| l.each_ref().map(narrow)).collect()
        })
    }
    fn affine(a: &Affine) -> [&[f32]; 3] {
        [&a.f32[0], &a.f32[1], &a.f32[2]]
    }
}

/// Results of one backward pass for the active rows.
struct Pass<T> {
    lb: Vec<f64>,
    k: Vec<f64>,
    lam0: Vec<T>,
    corner: Vec<T>,
}

/// Split lookup for a row: per hidden layer, (unit, sign S, index of β) with S = −1 for an
/// active split (the term −β·z) and +1 for an inactive one.
type SplitMap = Vec<Vec<(usize, f64, usize)>>;

fn split_map(rel: &Relaxation, splits: &[Split]) -> SplitMap {
    let mut m: SplitMap = vec![Vec::new(); rel.t];
    for (k, s) in splits.iter().enumerate() {
        let (h, j) = (s.layer as usize, s.unit as usize);
        if h < rel.t && j < rel.net.layers[h].n_out {
            m[h].push((j, if s.active { -1.0 } else { 1.0 }, k));
        }
    }
    m
}

/// The CROWN backward pass with slopes `alpha` (rows × A) and multipliers `beta` for the rows
/// `act` of the chunk, in precision `T`: with f64 the bounds are sound (every rounding charged
/// to a slack subtracted at the end), with f32 they are estimates (see [`Optim::fast`]).
#[allow(clippy::too_many_arguments, clippy::needless_range_loop)]
fn backward<T: Prec>(
    rel: &Relaxation,
    maps: &[&SplitMap],
    lns: &[&Lines],
    boxes: &[(&[f64], &[f64])],
    c: &[&[f64]],
    act: &[usize],
    (alpha, a_stride): (&[T], usize),
    beta: &[Vec<f64>],
    trace: Option<&mut Trace<T>>,
) -> Pass<T> {
    let net = rel.net;
    let t = rel.t;
    let r = act.len();
    let m = &rel.mags;
    let nt = net.layers[t].n_out;
    let zero = T::zero();
    let mut g = vec![zero; r * nt];
    for (q, &i) in act.iter().enumerate() {
        for (gv, &cv) in g[q * nt..(q + 1) * nt].iter_mut().zip(c[i]) {
            *gv = T::of_f64(cv);
        }
    }
    let mut cst = vec![zero; r];
    let mut slack = vec![0.0f64; r];
    let mut lam = Vec::new();
    let mut trace = trace;
    let mut scratch: [Vec<T>; 4] = Default::default();
    for l in (0..=t).rev() {
        let layer = &net.layers[l];
        let [w, _, b] = T::affine(layer);
        let (n_out, n_in) = (layer.n_out, layer.n_in);
        for q in 0..r {
            let gq = &g[q * n_out..(q + 1) * n_out];
            let (mut sb, mut mb, mut mlam) = (zero, 0.0, 0.0);
            for j in 0..n_out {
                let p = gq[j] * b[j];
                sb += p;
                if T::SOUND {
                    mb += p.as_f64().abs();
                    mlam += gq[j].as_f64().abs() * m.wa[l][j];
                }
            }
            cst[q] += sb;
            if T::SOUND {
                let cq = cst[q].as_f64().abs();
                slack[q] = add_up(slack[q], dot_err(n_out + 2, mb + cq));
                slack[q] = add_up(slack[q], dot_err(n_in + n_out, mlam));
            }
        }
        lam.resize(r * n_in, zero);
        matmul(r, n_in, n_out, &mut lam, &g, w);
        if l == 0 {
            let mut out = Pass {
                lb: vec![0.0; r],
                k: vec![0.0; r],
                lam0: std::mem::take(&mut lam),
                corner: vec![zero; r * n_in],
            };
            for q in 0..r {
                let lq = &out.lam0[q * n_in..(q + 1) * n_in];
                let cq = cst[q].as_f64();
                let (xlo, xhi) = boxes[act[q]];
                let corner = &mut out.corner[q * n_in..(q + 1) * n_in];
                // The corner by a select (no branch), then the sums in index order.
                for (((x, &li), &lo), &hi) in corner.iter_mut().zip(lq).zip(xlo).zip(xhi) {
                    *x = T::of_f64(if li >= zero { lo } else { hi });
                }
                if T::SOUND {
                    let (mut v, mut mc) = (0.0, cq.abs());
                    for i in 0..n_in {
                        let li = lq[i].as_f64();
                        v += li * corner[i].as_f64();
                        mc += li.abs() * m.xmag[i];
                    }
                    out.k[q] = sub_down(cq, slack[q]);
                    let total = cq + v;
                    let sl = add_up(slack[q], dot_err(n_in + 2, mc + total.abs()));
                    out.lb[q] = sub_down(total, sl);
                } else {
                    (out.k[q], out.lb[q]) = (cq, cq + dot16(lq, corner).as_f64());
                }
            }
            return out;
        }
        let h = l - 1;
        g.resize(r * n_in, zero);
        if let Some(tr) = trace.as_deref_mut() {
            tr.lam[h].clear();
            tr.lam[h].extend_from_slice(&lam);
            tr.s[h].resize(r * n_in, zero);
            tr.t[h].resize(r * n_in, zero);
        }
        let (sl_h, zmag) = (&net.slopes[h], &m.zmag[h]);
        // Per row, the lower line's slope and intercept and the upper line's, per unit (the
        // layer's defaults, then the row's α on free units and the fixed slope on split units),
        // so that the loop over units picks a line without a branch.
        let zmag = &zmag[..n_in];
        let mut ln = std::mem::take(&mut scratch);
        for v in ln.iter_mut() {
            v.resize(n_in, zero);
        }
        for q in 0..r {
            let row = act[q];
            let map = &maps[row][h];
            let [lo_s, lo_t, up_s, up_t] = &mut ln;
            let [lo_s0, lo_t0, up_s0, up_t0] = &T::lines(lns[row])[h];
            lo_s.copy_from_slice(lo_s0);
            lo_t.copy_from_slice(lo_t0);
            up_s.copy_from_slice(up_s0);
            up_t.copy_from_slice(up_t0);
            if a_stride > 0 {
                let al = &alpha[row * a_stride + rel.off[h]..row * a_stride + rel.off[h + 1]];
                for &i in &lns[row].free_idx[h] {
                    lo_s[i] = al[i];
                }
            }
            for &(j, sgn, _) in map {
                let s = T::of_f64(if sgn < 0.0 { sl_h[j].1 } else { sl_h[j].0 });
                (lo_s[j], lo_t[j], up_s[j], up_t[j]) = (s, zero, s, zero);
            }
            let (lo_s, lo_t, up_s, up_t) =
                (&lo_s[..n_in], &lo_t[..n_in], &up_s[..n_in], &up_t[..n_in]);
            let (mut ct, mut mt, mut mg) = (zero, 0.0, 0.0);
            let lq = &lam[q * n_in..(q + 1) * n_in];
            let gq = &mut g[q * n_in..(q + 1) * n_in];
            // The lines used go to the trace when there is one.
            let mut tr_st = trace.as_deref_mut().map(|tr| {
                (
                    &mut tr.s[h][q * n_in..(q + 1) * n_in],
                    &mut tr.t[h][q * n_in..(q + 1) * n_in],
                )
            });
            if T::SOUND {
                for i in 0..n_in {
                    let li = lq[i];
                    let pos = li >= zero;
                    let s = if pos { lo_s[i] } else { up_s[i] };
                    let t = if pos { lo_t[i] } else { up_t[i] };
                    let p = li * s;
                    gq[i] = p;
                    let cc = li * t;
                    ct += cc;
                    mg += p.as_f64().abs() * zmag[i];
                    mt += cc.as_f64().abs();
                }
            } else {
                // An estimate: sixteen partial sums, so the loop vectorises.
                let mut acc = [zero; 16];
                let n16 = n_in - n_in % 16;
                for c in (0..n16).step_by(16) {
                    let (lq, gq) = (&lq[c..c + 16], &mut gq[c..c + 16]);
                    let (ls, lt, us, ut) = (
                        &lo_s[c..c + 16],
                        &lo_t[c..c + 16],
                        &up_s[c..c + 16],
                        &up_t[c..c + 16],
                    );
                    for k in 0..16 {
                        let li = lq[k];
                        let pos = li >= zero;
                        gq[k] = li * if pos { ls[k] } else { us[k] };
                        acc[k] += li * if pos { lt[k] } else { ut[k] };
                    }
                }
                for i in n16..n_in {
                    let li = lq[i];
                    let pos = li >= zero;
                    gq[i] = li * if pos { lo_s[i] } else { up_s[i] };
                    ct += li * if pos { lo_t[i] } else { up_t[i] };
                }
                ct += acc.iter().copied().sum::<T>();
            }
            if let Some((ts, tt)) = tr_st.as_mut() {
                for i in 0..n_in {
                    let pos = lq[i] >= zero;
                    ts[i] = if pos { lo_s[i] } else { up_s[i] };
                    tt[i] = if pos { lo_t[i] } else { up_t[i] };
                }
            }
            for &(j, sgn, k) in map {
                let b = beta[row][k];
                gq[j] += T::of_f64(sgn * b);
                mg += b * zmag[j];
            }
            cst[q] += ct;
            if T::SOUND {
                let cq = cst[q].as_f64().abs();
                slack[q] = add_up(slack[q], dot_err(n_in + 2, mt + mg + cq));
            }
        }
        scratch = ln;
    }
    unreachable!("the loop returns at l = 0")
}

/// `a·b` with sixteen partial sums (for estimates: the order is not the index order).
fn dot16<T: Real>(a: &[T], b: &[T]) -> T {
    let mut acc = [T::zero(); 16];
    let (a16, at) = a.split_at(a.len() - a.len() % 16);
    let (b16, bt) = b.split_at(a16.len());
    for (x, y) in a16.chunks_exact(16).zip(b16.chunks_exact(16)) {
        for k in 0..16 {
            acc[k] += x[k] * y[k];
        }
    }
    let tail = at.iter().zip(bt).fold(T::zero(), |s, (&x, &y)| s + x * y);
    acc.iter().copied().sum::<T>() + tail
}

/// Pre-activations δ_h (h < t) of the relaxed network (the lines in `tr`) at each row's corner.
fn relaxed_forward<T: Prec>(
    rel: &Relaxation,
    corner: &[T],
    r: usize,
    tr: &Trace<T>,
) -> Vec<Vec<T>> {
    let net = rel.net;
    let mut out = Vec::with_capacity(rel.t);
    let mut a: Vec<T> = corner.to_vec();
    for h in 0..rel.t {
        let layer = &net.layers[h];
        let [_, wt, b] = T::affine(layer);
        let (n_in, n_out) = (layer.n_in, layer.n_out);
        let mut z = vec![T::zero(); r * n_out];
        matmul(r, n_out, n_in, &mut z, &a, wt);
        for q in 0..r {
            for j in 0..n_out {
                z[q * n_out + j] += b[j];
            }
        }
        a = z
            .iter()
            .zip(&tr.s[h])
            .zip(&tr.t[h])
            .map(|((&z, &s), &t)| s * z + t)
            .collect();
        out.push(z);
    }
    out
}

/// The BaBSR-style branching choice of row q of the trace.
#[allow(clippy::needless_range_loop)]
fn branch_choice<T: Prec>(
    rel: &Relaxation,
    map: &SplitMap,
    ln: &Lines,
    tr: &Trace<T>,
    q: usize,
    k: usize,
) -> Vec<(usize, usize, f64)> {
    // The k best by score, best first (ties: the earlier unit).
    let mut best: Vec<(usize, usize, f64)> = Vec::with_capacity(k + 1);
    for h in 0..rel.t {
        let n = rel.net.layers[h].n_out;
        let lam = &tr.lam[h][q * n..(q + 1) * n];
        for j in 0..n {
            if !ln.unstable(h, j) || map[h].iter().any(|&(u, _, _)| u == j) {
                continue;
            }
            let (lo, hi) = (ln.inter.lo[h][j], ln.inter.hi[h][j]);
            let li = lam[j].as_f64();
            // The upper line's intercept is what a negative coefficient pays; a positive one pays
            // the lower line's gap, at most min(u, −l)·(s⁺ − s⁻) at the worst point.
            let (sl, sr) = rel.net.slopes[h][j];
            let score = if li < 0.0 {
                -li * ln.lines[h][3][j]
            } else {
                1e-3 * li * hi.min(-lo) * (sr - sl).abs()
            };
            if best.len() < k || score > best[best.len() - 1].2 {
                let at = best.partition_point(|&(_, _, b)| b >= score);
                best.insert(at, (h, j, score));
                best.truncate(k);
            }
        }
    }
    best
}

fn bound_chunk(rel: &Relaxation, splits: &[Domain], rows: &[Row], opt: &Optim) -> Vec<RowResult> {
    if !opt.fast || opt.iters == 0 {
        return bound_chunk_as::<f64>(rel, splits, rows, opt);
    }
    // The search in f32, then one sound f64 pass from the slopes and multipliers it found
    // best (each row's warm start, so clamped into its slope range again).
    let search = Optim {
        branch: false,
        ..*opt
    };
    let est = bound_chunk_as::<f32>(rel, splits, rows, &search);
    // Only the rows whose estimate can beat their floor get the sound pass.
    let keep: Vec<usize> = (0..rows.len())
        .filter(|&i| est[i].lb > rows[i].floor)
        .collect();
    let warm: Vec<Row> = keep
        .iter()
        .map(|&i| Row {
            alpha: Some(&est[i].alpha),
            beta: Some(&est[i].beta),
            ..rows[i].clone()
        })
        .collect();
    let sound = bound_chunk_as::<f64>(rel, splits, &warm, &Optim { iters: 0, ..*opt });
    if keep.len() == rows.len() {
        return sound;
    }
    let mut out: Vec<RowResult> = (0..rows.len()).map(|_| RowResult::unset()).collect();
    for (&i, r) in keep.iter().zip(sound) {
        out[i] = r;
    }
    out
}

/// The α/β search of one chunk in precision `T`, keeping each row's best pass (sound with
/// f64; estimates with f32).
fn bound_chunk_as<T: Prec>(
    rel: &Relaxation,
    splits: &[Domain],
    rows: &[Row],
    opt: &Optim,
) -> Vec<RowResult> {
    let n = rows.len();
    let a_len = rel.alpha_len();
    let d = rel.xlo.len();
    // One split map per distinct domain of the chunk.
    let mut maps_own: Vec<SplitMap> = Vec::new();
    let mut map_of: Vec<usize> = Vec::with_capacity(n);
    let mut seen: std::collections::HashMap<usize, usize> = std::collections::HashMap::new();
    for rw in rows {
        let k = *seen.entry(rw.dom).or_insert_with(|| {
            maps_own.push(split_map(rel, splits[rw.dom].splits));
            maps_own.len() - 1
        });
        map_of.push(k);
    }
    let boxes: Vec<(&[f64], &[f64])> = rows
        .iter()
        .map(|rw| {
            splits[rw.dom]
                .bbox
                .unwrap_or((rel.xlo.as_slice(), rel.xhi.as_slice()))
        })
        .collect();
    let maps: Vec<&SplitMap> = map_of.iter().map(|&k| &maps_own[k]).collect();
    let cs: Vec<&[f64]> = rows.iter().map(|rw| rw.c).collect();
    // Each row's lines: its domain's, or the relaxation's.
    let lns: Vec<&Lines> = rows
        .iter()
        .map(|rw| splits[rw.dom].lines.unwrap_or(&rel.root))
        .collect();
    // Rows share CROWN's slopes (their lines' default lower slopes; no α array) unless they
    // are optimised or warm-started.
    let own_alpha = opt.iters > 0 || rows.iter().any(|r| r.alpha.is_some());
    let a_stride = if own_alpha { a_len } else { 0 };
    let mut alpha: Vec<T> = vec![T::zero(); n * a_stride];
    let mut beta: Vec<Vec<f64>> = Vec::with_capacity(n);
    for (q, rw) in rows.iter().enumerate() {
        let ns = splits[rw.dom].splits.len();
        beta.push(match rw.beta {
            Some(b) if b.len() == ns => b.iter().map(|&v| (v as f64).max(0.0)).collect(),
            _ => vec![0.0; ns],
        });
        if !own_alpha {
            continue;
        }
        // The warm start on the units free in this row's lines (clamped into their slope
        // range), CROWN's slope elsewhere; only free units' α are read.
        let dst = &mut alpha[q * a_len..(q + 1) * a_len];
        let ln = lns[q];
        let warm = rw.alpha.filter(|a| a.len() == a_len);
        for h in 0..rel.t {
            for j in 0..ln.free[h].len() {
                let i = rel.off[h] + j;
                dst[i] = T::of_f64(match warm {
                    Some(a) if ln.free[h][j] => {
                        let (sl, sr) = rel.net.slopes[h][j];
                        (a[i] as f64).clamp(sl, sr)
                    }
                    _ => ln.lines[h][0][j],
                });
            }
        }
    }
    let mut best: Vec<RowResult> = (0..n).map(|_| RowResult::unset()).collect();
    let mut filled = vec![false; n];
    let mut act: Vec<usize> = (0..n).collect();
    let adam_len = if opt.iters > 0 { n * a_len } else { 0 };
    // α's Adam moments in the pass's precision (β's, few, in f64).
    let mut m_a = vec![T::zero(); adam_len];
    let mut v_a = vec![T::zero(); adam_len];
    let mut m_b: Vec<Vec<f64>> = beta.iter().map(|b| vec![0.0; b.len()]).collect();
    let mut v_b = m_b.clone();
    let (b1, b2) = (0.9f64, 0.999f64);
    let mut tr = Trace {
        lam: vec![Vec::new(); rel.t],
        s: vec![Vec::new(); rel.t],
        t: vec![Vec::new(); rel.t],
    };
    for it in 0..=opt.iters {
        if act.is_empty() {
            break;
        }
        let traced = opt.branch || it < opt.iters;
        let pass = backward(
            rel,
            &maps,
            &lns,
            &boxes,
            &cs,
            &act,
            (&alpha, a_stride),
            &beta,
            traced.then_some(&mut tr),
        );
        let r = act.len();
        for (q, &row) in act.iter().enumerate() {
            if pass.lb[q] > best[row].lb || !filled[row] {
                filled[row] = true;
                let b = &mut best[row];
                b.lb = pass.lb[q];
                b.k = pass.k[q];
                if T::SOUND {
                    // (An estimate pass's linear bound and corner are never reported.)
                    let wide = |v: &[T]| v.iter().map(|x| x.as_f64()).collect::<Vec<f64>>();
                    b.lambda0 = wide(&pass.lam0[q * d..(q + 1) * d]);
                    b.corner = wide(&pass.corner[q * d..(q + 1) * d]);
                }
                if own_alpha {
                    b.alpha = alpha[row * a_len..(row + 1) * a_len]
                        .iter()
                        .map(|&v| v.as_f64() as f32)
                        .collect();
                }
                b.beta = beta[row].iter().map(|&v| v as f32).collect();
                if opt.branch {
                    b.candidates =
                        branch_choice(rel, maps[row], lns[row], &tr, q, opt.candidates.max(1));
                    b.branch = b.candidates.first().copied();
                }
            }
        }
        if it == opt.iters {
            break;
        }
        // Gradients at each row's minimising corner.
        let delta = relaxed_forward(rel, &pass.corner, r, &tr);
        let step = it as i32 + 1;
        let lr_scale = opt.decay.powi(it as i32);
        let (c1, c2) = (1.0 - b1.powi(step), 1.0 - b2.powi(step));
        let [tb1, tb2, tc1, tc2] = [b1, b2, c1, c2].map(T::of_f64);
        let [tb1c, tb2c] = [1.0 - b1, 1.0 - b2].map(T::of_f64);
        let (lr, tiny) = (T::of_f64(opt.lr_alpha * lr_scale), T::of_f64(1e-8));
        for (q, &row) in act.iter().enumerate() {
            for h in 0..rel.t {
                let nh = rel.net.layers[h].n_out;
                let dq = &delta[h][q * nh..(q + 1) * nh];
                let lq = &tr.lam[h][q * nh..(q + 1) * nh];
                let base = row * a_len + rel.off[h];
                let sl_h = &rel.net.slopes[h];
                for &j in &lns[row].free_idx[h] {
                    let i = base + j;
                    let (lj, dj) = (lq[j], dq[j]);
                    let grad = if lj >= T::zero() { lj * dj } else { T::zero() };
                    m_a[i] = tb1 * m_a[i] + tb1c * grad;
                    v_a[i] = tb2 * v_a[i] + tb2c * grad * grad;
                    let upd = lr * (m_a[i] / tc1) / ((v_a[i] / tc2).sqrt() + tiny);
                    let (sl, sr) = sl_h[j];
                    alpha[i] = (alpha[i] + upd).max(T::of_f64(sl)).min(T::of_f64(sr));
                }
                for &(j, sgn, k) in &maps[row][h] {
                    let grad = sgn * dq[j].as_f64();
                    let (mb, vb) = (&mut m_b[row][k], &mut v_b[row][k]);
                    *mb = b1 * *mb + (1.0 - b1) * grad;
                    *vb = b2 * *vb + (1.0 - b2) * grad * grad;
                    let upd = opt.lr_beta * lr_scale * (*mb / c1) / ((*vb / c2).sqrt() + 1e-8);
                    beta[row][k] = (beta[row][k] + upd).max(0.0);
                }
            }
        }
        act.retain(|&row| best[row].lb <= rows[row].target);
    }
    best
}

/// One domain whose hidden-layer bounds [`Tightener::tighten`] tightens.
#[derive(Clone, Copy, Debug)]
pub struct Tighten<'a> {
    /// Sound bounds (and lines) on a set containing the domain: its parent's.
    pub base: &'a Lines,
    /// The domain's split constraints (all of them).
    pub splits: &'a [Split],
    /// Hidden layers up to `from` are taken from `base` (with the splits clamped); layers
    /// after it are bounded again: the layer of the newest split.
    pub from: usize,
    /// A sub-box of the input box, or `None` for all of it.
    pub bbox: Option<(&'a [f64], &'a [f64])>,
}

/// Tightens the hidden-layer bounds of split domains: one relaxation per hidden layer l ≥ 1
/// with target l (on the root's bounds, whose rounding magnitudes stay valid on every domain),
/// and the unit rows ±e_j.
pub struct Tightener<'a> {
    net: &'a PwlNet,
    alpha: Option<&'a [Vec<[Vec<f32>; 2]>]>,
    rels: Vec<Relaxation<'a>>,
    /// e_j is `unit[w − 1 − j..][..n]`, −e_j is `unit[3w − 2 − j..][..n]` (w: widest layer).
    unit: Vec<f64>,
    w: usize,
    iters: usize,
}

impl<'a> Tightener<'a> {
    /// For domains inside the box `[xlo, xhi]`, whose hidden layers have the sound bounds
    /// `inter` there; `alpha`, the slopes those bounds were found with
    /// ([`optimized_hidden_alpha`]), start each unit row (CROWN's otherwise). With `iters > 0`
    /// each row's slopes and the split constraints' multipliers β then take `iters` steps of
    /// projected gradient ascent ([`Optim::fast`]: f32 steps, one sound f64 pass), β-CROWN on
    /// the hidden layers (Wang et al. 2021, "Beta-CROWN", §3.3); with 0, one CROWN pass.
    pub fn new(
        net: &'a PwlNet,
        xlo: &[f64],
        xhi: &[f64],
        inter: &LayerBounds,
        alpha: Option<&'a [Vec<[Vec<f32>; 2]>]>,
        iters: usize,
    ) -> Self {
        let out = net.layers.len() - 1;
        let rels = (1..out)
            .map(|l| Relaxation::new(net, l, xlo, xhi, inter))
            .collect();
        let w = net.layers.iter().map(|l| l.n_out).max().unwrap_or(0).max(1);
        let mut unit = vec![0.0; 2 * (2 * w - 1)];
        unit[w - 1] = 1.0;
        unit[3 * w - 2] = -1.0;
        Tightener {
            net,
            alpha,
            rels,
            unit,
            w,
            iters,
        }
    }

    /// Each domain's hidden-layer bounds, tightened under its splits: every split clamps its
    /// unit's bound at 0 (`z ≥ 0` raises the lower bound, `z ≤ 0` lowers the upper one), and
    /// every unit of a hidden layer after `from` that the bounds so far leave unstable is
    /// bounded again over the domain, the split units linear in the backward pass and, with
    /// [`Tightener::new`]'s `iters > 0`, their constraints weighted by optimised multipliers
    /// (split constraints tighten intermediate bounds as well as the output's: Wang et al.
    /// 2021, "Beta-CROWN", §3.3). Layer by layer, each from the tightened layers below it.
    /// `None` for a domain whose bounds cross (a lower bound above the upper one): no input
    /// meets its splits. All domains' rows of a layer are bounded together.
    pub fn tighten(&self, doms: &[Tighten]) -> Vec<Option<Lines>> {
        let net = self.net;
        let out = net.layers.len() - 1;
        let mut cur: Vec<Option<Lines>> = doms
            .iter()
            .map(|d| {
                let mut ln: Option<Lines> = None;
                for s in d.splits {
                    let (h, j) = (s.layer as usize, s.unit as usize);
                    let b = ln.as_ref().unwrap_or(d.base);
                    let (l, u) = (b.inter.lo[h][j], b.inter.hi[h][j]);
                    let (nl, nu) = if s.active {
                        (l.max(0.0), u)
                    } else {
                        (l, u.min(0.0))
                    };
                    if nl > nu {
                        return None;
                    }
                    if (nl, nu) != (l, u) {
                        let (mut lo, mut hi) = (b.inter.lo[h].clone(), b.inter.hi[h].clone());
                        (lo[j], hi[j]) = (nl, nu);
                        ln = Some(b.with_layer(net, h, lo, hi));
                    }
                }
                Some(ln.unwrap_or_else(|| d.base.clone()))
            })
            .collect();
        let plain = Optim {
            iters: self.iters,
            fast: self.iters > 0,
            ..Optim::default()
        };
        let w = self.w;
        for l in 1..out {
            let n = net.layers[l].n_out;
            // (domain, unit, lower side)
            let mut which: Vec<(usize, usize, bool)> = Vec::new();
            for (k, ln) in cur.iter().enumerate() {
                let Some(ln) = ln.as_ref().filter(|_| doms[k].from < l) else {
                    continue;
                };
                for j in (0..n).filter(|&j| ln.unstable(l, j)) {
                    which.push((k, j, true));
                    which.push((k, j, false));
                }
            }
            if which.is_empty() {
                continue;
            }
            let dv: Vec<Domain> = doms
                .iter()
                .zip(&cur)
                .map(|(d, ln)| Domain {
                    splits: d.splits,
                    bbox: d.bbox,
                    lines: ln.as_ref(),
                })
                .collect();
            let rows: Vec<Row> = which
                .iter()
                .map(|&(k, j, lower)| {
                    let start = if lower { w - 1 - j } else { 3 * w - 2 - j };
                    let warm = self
                        .alpha
                        .map(|a| &a[l][j][usize::from(!lower)])
                        .filter(|a| !a.is_empty());
                    // The unit's bound so far on this domain: a row that cannot beat it
                    // skips the sound pass.
                    let ln = cur[k].as_ref().expect("rows only for kept domains");
                    let floor = if lower {
                        ln.inter.lo[l][j]
                    } else {
                        -ln.inter.hi[l][j]
                    };
                    Row {
                        dom: k,
                        c: &self.unit[start..start + n],
                        target: f64::INFINITY,
                        alpha: warm.map(|a| a.as_slice()),
                        beta: None,
                        floor,
                    }
                })
                .collect();
            let res = bound_rows(&self.rels[l - 1], &dv, &rows, &plain);
            drop(dv);
            let mut i = 0;
            while i < which.len() {
                let k = which[i].0;
                let ln = cur[k].as_ref().expect("rows only for kept domains");
                let (mut lo, mut hi) = (ln.inter.lo[l].clone(), ln.inter.hi[l].clone());
                while i < which.len() && which[i].0 == k {
                    let (_, j, lower) = which[i];
                    if lower {
                        lo[j] = lo[j].max(res[i].lb);
                    } else {
                        hi[j] = hi[j].min(-res[i].lb);
                    }
                    i += 1;
                }
                let feasible = lo.iter().zip(&hi).all(|(a, b)| a <= b);
                cur[k] = feasible.then(|| ln.with_layer(net, l, lo, hi));
            }
        }
        cur
    }
}

/// Bounds of every hidden layer on the box: IBP, then for each layer the units IBP (from the
/// already tightened layers below) and `known` (bounds valid on a larger set, e.g. the parent
/// domain's) leave unstable are bounded by CROWN, with `opt.iters` steps of α optimisation
/// when `opt.iters > 0` (α-CROWN for intermediate layers: each bound row its own slopes).
/// This is the one intermediate-bound routine: `bounds::crown`, the input-split branch and bound
/// and the ReLU-split branch and bound's root all call it.
pub fn optimized_hidden(
    net: &PwlNet,
    xlo: &[f64],
    xhi: &[f64],
    known: Option<&LayerBounds>,
    opt: &Optim,
) -> LayerBounds {
    hidden(net, xlo, xhi, known, opt, None, None)
}

/// The slopes α each unit row of [`optimized_hidden_alpha`] ended with, per hidden layer l,
/// per unit, `[lower side, upper side]` (flat over layers `0..l`; empty where the side was not
/// bounded by CROWN).
pub type HiddenAlpha = Vec<Vec<[Vec<f32>; 2]>>;

/// [`optimized_hidden`], also returning the slopes of every unit row (warm starts for the
/// same rows on sub-domains: [`Tightener::new`]).
pub fn optimized_hidden_alpha(
    net: &PwlNet,
    xlo: &[f64],
    xhi: &[f64],
    opt: &Optim,
) -> (LayerBounds, HiddenAlpha) {
    let mut al = Vec::new();
    let inter = hidden(net, xlo, xhi, None, opt, Some(&mut al), None);
    (inter, al)
}

/// A hook of [`optimized_hidden_refined`]: given hidden layer `t`, the sound bounds and slopes
/// of the layers below it, it may tighten layer t's bounds `lo`/`hi` (soundly) before the
/// layers above are bounded from them.
pub type RefineLayer<'r> =
    dyn FnMut(usize, &LayerBounds, &HiddenAlpha, &mut [f64], &mut [f64]) + 'r;

/// [`optimized_hidden_alpha`], with each hidden layer's bounds passed through `refine` as soon
/// as α-CROWN has them, so that every later layer is bounded from the refined ones; `known`
/// (sound bounds of the same box, e.g. the unrefined ones) are intersected in first.
pub fn optimized_hidden_refined(
    net: &PwlNet,
    xlo: &[f64],
    xhi: &[f64],
    known: Option<&LayerBounds>,
    opt: &Optim,
    refine: &mut RefineLayer,
) -> (LayerBounds, HiddenAlpha) {
    let mut al = Vec::new();
    let inter = hidden(net, xlo, xhi, known, opt, Some(&mut al), Some(refine));
    (inter, al)
}

fn hidden(
    net: &PwlNet,
    xlo: &[f64],
    xhi: &[f64],
    known: Option<&LayerBounds>,
    opt: &Optim,
    mut keep: Option<&mut HiddenAlpha>,
    mut refine: Option<&mut RefineLayer>,
) -> LayerBounds {
    let mut inter = LayerBounds {
        lo: Vec::new(),
        hi: Vec::new(),
    };
    let (mut alo, mut ahi) = (xlo.to_vec(), xhi.to_vec());
    // Pre-activations at the box centre: which side settles a unit, if any (a stable unit has
    // its sign at every point of the box). A rounded forward pass: a wrong guess costs a row.
    let centre = opt.settle_first.then(|| {
        let xc: Vec<f64> = xlo
            .iter()
            .zip(xhi)
            .map(|(l, h)| 0.5 * l + 0.5 * h)
            .collect();
        net.forward_trace(&xc)
    });
    // Unit rows ±e_j as windows of one buffer (no row of its own per unit): with w the widest
    // layer, `unit[w − 1 − j..][..n]` is e_j and `unit[3w − 2 − j..][..n]` is −e_j.
    let w = net.layers.iter().map(|l| l.n_out).max().unwrap_or(0).max(1);
    let mut unit = vec![0.0; 2 * (2 * w - 1)];
    unit[w - 1] = 1.0;
    unit[3 * w - 2] = -1.0;
    for t in 0..net.slopes.len() {
        let layer = &net.layers[t];
        let n = layer.n_out;
        let (mut lo, mut hi) = affine_interval(layer, &alo, &ahi);
        if let Some(k) = known {
            for j in 0..n {
                lo[j] = lo[j].max(k.lo[t][j]);
                hi[j] = hi[j].min(k.hi[t][j]);
            }
        }
        if t > 0 {
            let open = (0..n).filter(|&j| lo[j] < 0.0 && hi[j] > 0.0);
            // (unit, lower side): the lower side bounds e_j·z_t, the upper side −e_j·z_t.
            let first: Vec<(usize, bool)> = match &centre {
                Some(zc) => open.map(|j| (j, zc[t][j] >= 0.0)).collect(),
                None => open.flat_map(|j| [(j, true), (j, false)]).collect(),
            };
            let rel = Relaxation::new(net, t, xlo, xhi, &inter);
            let mut al = keep.as_ref().map(|_| vec![<[Vec<f32>; 2]>::default(); n]);
            bound_units(&rel, &first, &unit, opt, &mut lo, &mut hi, al.as_mut());
            if centre.is_some() {
                let second: Vec<(usize, bool)> = first
                    .iter()
                    .filter(|&&(j, _)| lo[j] < 0.0 && hi[j] > 0.0)
                    .map(|&(j, side)| (j, !side))
                    .collect();
                bound_units(&rel, &second, &unit, opt, &mut lo, &mut hi, al.as_mut());
            }
            if let (Some(k), Some(al)) = (keep.as_deref_mut(), al) {
                k.push(al);
            }
        } else if let Some(k) = keep.as_deref_mut() {
            k.push(vec![Default::default(); n]);
        }
        if let (Some(f), Some(k)) = (refine.as_deref_mut(), keep.as_deref()) {
            f(t, &inter, k, &mut lo, &mut hi);
        }
        let (nl, nh): (Vec<f64>, Vec<f64>) = (0..n)
            .map(|j| act_interval(net.slopes[t][j].0, net.slopes[t][j].1, lo[j], hi[j]))
            .unzip();
        alo = nl;
        ahi = nh;
        inter.lo.push(lo);
        inter.hi.push(hi);
    }
    inter
}

/// Bound the units `rows` (unit, lower side) of the relaxation's target layer by CROWN (or
/// α-CROWN, `opt.iters`), intersecting `lo`/`hi`. `unit` holds e and −e windows
/// (see [`optimized_hidden`]).
fn bound_units(
    rel: &Relaxation,
    rows: &[(usize, bool)],
    unit: &[f64],
    opt: &Optim,
    lo: &mut [f64],
    hi: &mut [f64],
    mut keep: Option<&mut Vec<[Vec<f32>; 2]>>,
) {
    if rows.is_empty() {
        return;
    }
    let n = rel.net.layers[rel.t].n_out;
    let w = unit.len().div_ceil(4);
    // A unit whose sign is settled needs no more work: stop its rows at 0.
    let rs: Vec<Row> = rows
        .iter()
        .map(|&(j, lower)| {
            let start = if lower { w - 1 - j } else { 3 * w - 2 - j };
            Row {
                dom: 0,
                c: &unit[start..start + n],
                target: 0.0,
                alpha: None,
                beta: None,
                floor: f64::NEG_INFINITY,
            }
        })
        .collect();
    let res = bound_rows(rel, &[Domain::splits(&[])], &rs, opt);
    for (&(j, lower), r) in rows.iter().zip(res) {
        if let Some(k) = keep.as_deref_mut() {
            k[j][usize::from(!lower)] = r.alpha.clone();
        }
        if lower {
            lo[j] = lo[j].max(r.lb);
        } else {
            hi[j] = hi[j].min(-r.lb);
        }
    }
}
