//! Sound output bounds on an input box: interval bound propagation (IBP), forward symbolic
//! linear bounds, CROWN and α-CROWN.
//!
//! - IBP: interval arithmetic layer by layer (Gowal et al. 2018, "On the effectiveness of
//!   interval bound propagation", eq. 6).
//! - CROWN: backward propagation of a linear objective through linear relaxations of every
//!   activation (Zhang et al. 2018, "Efficient neural network robustness certification with
//!   general activation functions", Thm 3.2). For an unstable unit (l < 0 < u) of a convex
//!   kink σ (slopes s⁻ ≤ s⁺) the upper line is the chord through (l, σ(l)) and (u, σ(u)) —
//!   for ReLU u(z − l)/(u − l) — and the lower line is α·z with α ∈ [s⁻, s⁺]; CROWN picks
//!   α = s⁺ if u > −l else s⁻ (for ReLU 1 or 0). Concave kinks (s⁻ > s⁺) mirror this.
//!   Intermediate bounds come from CROWN itself, layer by layer, intersected with IBP.
//! - α-CROWN: the lower slopes α are optimised for each objective row by projected gradient
//!   ascent (Adam) on the CROWN bound (Xu et al. 2021, "Fast and complete", §3.1), with the
//!   intermediate bounds held at their CROWN values.
//! - Forward symbolic bounds (Wang et al. 2018, ReluVal/Neurify "symbolic intervals", and
//!   DeepPoly's forward form): each unit carries linear lower/upper functions of the input;
//!   cheap when the input is low-dimensional. The branch and bound uses these for intermediate
//!   layers and CROWN for the objective.
//!
//! # Floating point
//! Everything is f64 with round-to-nearest. Each relaxation line is built with directed
//! rounding ([`super::fp`]) so that it is valid in real arithmetic; each sum that enters an
//! inequality (matrix-vector products, constants, concretisation) adds a rigorous bound on its
//! rounding error ([`super::fp::dot_err`]) to a slack that is subtracted, rounded down, from the
//! final bound. The bounds are therefore bounds of the real-arithmetic network with the given
//! (f64) weights.

use super::fp::{add_up, dot_err, mul_down, mul_up, next_down, next_up, sub_down};
use super::net::PwlNet;
use crate::net::kernels::{cast, cast_mut};
use crate::real::Real;

/// Bounds of the pre-activations z_l of every layer (`lo[l][j] ≤ z_l[j] ≤ hi[l][j]`).
#[derive(Clone, Debug, PartialEq)]
pub struct LayerBounds {
    /// Lower bounds per layer.
    pub lo: Vec<Vec<f64>>,
    /// Upper bounds per layer.
    pub hi: Vec<Vec<f64>>,
}

impl LayerBounds {
    /// Per layer, the number of units whose bounds straddle 0 (unstable).
    pub fn unstable_counts(&self) -> Vec<usize> {
        self.lo
            .iter()
            .zip(&self.hi)
            .map(|(l, h)| {
                l.iter()
                    .zip(h)
                    .filter(|(a, b)| **a < 0.0 && **b > 0.0)
                    .count()
            })
            .collect()
    }
}

/// The bounding methods.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Method {
    /// Interval bound propagation.
    Ibp,
    /// CROWN with CROWN intermediate bounds.
    Crown,
    /// α-CROWN (optimised lower slopes) on CROWN intermediate bounds.
    AlphaCrown,
}

impl Method {
    /// Display name.
    pub fn name(self) -> &'static str {
        match self {
            Method::Ibp => "IBP",
            Method::Crown => "CROWN",
            Method::AlphaCrown => "alpha-CROWN",
        }
    }
}

/// A relaxation line s·z + t.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Line {
    pub(crate) s: f64,
    pub(crate) t: f64,
}

/// The line bounding σ (slopes `sl` left of 0, `sr` right) on [lo, hi] from below (`lower`)
/// or above, valid in real arithmetic. `alpha` overrides the slope of the through-origin line
/// of an unstable unit (clamped to the slopes' range).
#[inline]
pub(crate) fn relax(sl: f64, sr: f64, lo: f64, hi: f64, lower: bool, alpha: Option<f64>) -> Line {
    if hi <= 0.0 {
        return Line { s: sl, t: 0.0 };
    }
    if lo >= 0.0 {
        return Line { s: sr, t: 0.0 };
    }
    let convex = sl <= sr;
    if convex == lower {
        // Through the origin, slope between the two pieces.
        let (a, b) = if sl <= sr { (sl, sr) } else { (sr, sl) };
        let adaptive = if hi > -lo { sr } else { sl };
        let s = alpha.unwrap_or(adaptive).clamp(a, b);
        return Line { s, t: 0.0 };
    }
    // Chord through (lo, sl·lo) and (hi, sr·hi): slope k* = (sr·hi − sl·lo)/(hi − lo).
    // With slope s on the safe side of k*, the line through (lo, sl·lo) is valid at both ends;
    // its intercept is t = (s − sl)·(−lo), rounded to the safe side.
    let neg_lo = -lo;
    if !lower {
        let num = add_up(mul_up(sr, hi), mul_up(sl, neg_lo));
        let den = if num >= 0.0 {
            next_down(hi - lo)
        } else {
            next_up(hi - lo)
        };
        let s = next_up(num / den);
        let t = mul_up(next_up(s - sl).max(0.0), neg_lo);
        Line { s, t }
    } else {
        let num = next_down(mul_down(sr, hi) + mul_down(sl, neg_lo));
        let den = if num >= 0.0 {
            next_up(hi - lo)
        } else {
            next_down(hi - lo)
        };
        let s = next_down(num / den);
        let t = mul_down(next_down(s - sl).min(0.0), neg_lo);
        Line { s, t }
    }
}

/// σ([lo, hi]) with outward rounding.
#[inline]
pub(crate) fn act_interval(sl: f64, sr: f64, lo: f64, hi: f64) -> (f64, f64) {
    let f = |z: f64| {
        if z < 0.0 {
            (mul_down(sl, z), mul_up(sl, z))
        } else {
            (mul_down(sr, z), mul_up(sr, z))
        }
    };
    let (a_lo, a_hi) = f(lo);
    let (b_lo, b_hi) = f(hi);
    let mut l = a_lo.min(b_lo);
    let mut h = a_hi.max(b_hi);
    if lo < 0.0 && hi > 0.0 {
        l = l.min(0.0);
        h = h.max(0.0);
    }
    (l, h)
}

/// Interval image of an affine layer: W·[alo, ahi] + b, rounded outward (centre–radius form:
/// W·c + b ± |W|·r, both products through `faer`).
pub(crate) fn affine_interval(
    layer: &super::net::Affine,
    alo: &[f64],
    ahi: &[f64],
) -> (Vec<f64>, Vec<f64>) {
    let n = layer.n_in;
    let c: Vec<f64> = alo
        .iter()
        .zip(ahi)
        .map(|(l, h)| 0.5 * l + 0.5 * h)
        .collect();
    // [c − r, c + r] ⊇ [lo, hi].
    let mut rc = vec![0.0; 2 * n];
    for i in 0..n {
        // A computed difference of 0 is exact (x − y rounds to 0 only when x = y), so it needs
        // no rounding up; rounding it up would make a subnormal radius for every stably
        // inactive unit, and subnormal products cost a hundred cycles each.
        let up = |d: f64| if d == 0.0 { 0.0 } else { next_up(d) };
        rc[2 * i] = up(ahi[i] - c[i]).max(up(c[i] - alo[i])).max(0.0);
        rc[2 * i + 1] = c[i].abs();
    }
    let mut zc = vec![0.0; layer.n_out];
    matmul(layer.n_out, 1, n, &mut zc, &layer.w, &c);
    let mut q = vec![0.0; 2 * layer.n_out];
    matmul(layer.n_out, 2, n, &mut q, &layer.w_abs, &rc);
    let mut lo = vec![0.0; layer.n_out];
    let mut hi = vec![0.0; layer.n_out];
    for j in 0..layer.n_out {
        let centre = zc[j] + layer.b[j];
        let rad = q[2 * j];
        let e = add_up(
            dot_err(n + 1, q[2 * j + 1] + layer.b[j].abs() + centre.abs()),
            dot_err(n, rad),
        );
        lo[j] = sub_down(sub_down(centre, rad), e);
        hi[j] = add_up(add_up(centre, rad), e);
    }
    (lo, hi)
}

/// IBP bounds of every layer's pre-activations (the last entry is the output).
pub fn ibp(net: &PwlNet, xlo: &[f64], xhi: &[f64]) -> LayerBounds {
    let mut lo = Vec::new();
    let mut hi = Vec::new();
    let (mut alo, mut ahi) = (xlo.to_vec(), xhi.to_vec());
    for (l, layer) in net.layers.iter().enumerate() {
        let (zl, zh) = affine_interval(layer, &alo, &ahi);
        if l < net.slopes.len() {
            let (nl, nh): (Vec<f64>, Vec<f64>) = (0..layer.n_out)
                .map(|j| act_interval(net.slopes[l][j].0, net.slopes[l][j].1, zl[j], zh[j]))
                .unzip();
            alo = nl;
            ahi = nh;
        }
        lo.push(zl);
        hi.push(zh);
    }
    LayerBounds { lo, hi }
}

/// Magnitudes used by the rounding-error terms of a backward pass over one box.
pub(crate) struct Mags {
    /// max |x_i| over the box.
    pub(crate) xmag: Vec<f64>,
    /// `zmag[h][j]` = max |z_h[j]| for hidden layers.
    pub(crate) zmag: Vec<Vec<f64>>,
    /// `wa[l][j]` = Σ_i |W_l[j,i]|·max|a_{l−1}[i]|.
    pub(crate) wa: Vec<Vec<f64>>,
}

pub(crate) fn mags(
    net: &PwlNet,
    xlo: &[f64],
    xhi: &[f64],
    inter: &LayerBounds,
    upto: usize,
) -> Mags {
    let xmag: Vec<f64> = xlo
        .iter()
        .zip(xhi)
        .map(|(l, h)| l.abs().max(h.abs()))
        .collect();
    let mut zmag = Vec::new();
    let mut wa = Vec::new();
    let mut amag = xmag.clone();
    for l in 0..=upto {
        let layer = &net.layers[l];
        let mut r = vec![0.0; layer.n_out];
        matmul(layer.n_out, 1, layer.n_in, &mut r, &layer.w_abs, &amag);
        wa.push(r);
        if l < upto {
            let zm: Vec<f64> = inter.lo[l]
                .iter()
                .zip(&inter.hi[l])
                .map(|(a, b)| a.abs().max(b.abs()))
                .collect();
            amag = (0..layer.n_out)
                .map(|j| {
                    let (sl, sr) = net.slopes[l][j];
                    let (a, b) = act_interval(sl, sr, inter.lo[l][j], inter.hi[l][j]);
                    a.abs().max(b.abs())
                })
                .collect();
            zmag.push(zm);
        }
    }
    Mags { xmag, zmag, wa }
}

/// The result of bounding one objective row from below.
#[derive(Clone, Debug)]
pub struct RowBound {
    /// A sound lower bound of row·z over the box.
    pub lb: f64,
    /// The linear coefficients λ on the input of the relaxed bound.
    pub lambda0: Vec<f64>,
    /// A sound constant: row·z ≥ λ·x + k for every x in the box (λ taken as the exact f64
    /// values in `lambda0`).
    pub k: f64,
    /// The box corner minimising the relaxed linear bound (a falsification candidate).
    pub corner: Vec<f64>,
}

/// Products of at most this many multiply-adds skip faer (see [`matmul`]).
const SMALL_PRODUCT: usize = 1 << 14;

/// `dst (m × n) = lhs (m × k) · rhs (k × n)`, all row-major, in f64 (the sound passes) or f32
/// (the engine's estimate passes): through `faer` (no threads: the callers already run in
/// parallel), or plain loops for small products. Rounding of any summation order is covered
/// by [`dot_err`].
pub(crate) fn matmul<T: Real>(m: usize, n: usize, k: usize, dst: &mut [T], lhs: &[T], rhs: &[T]) {
    assert!(dst.len() >= m * n && lhs.len() >= m * k && rhs.len() >= k * n);
    let zero = T::zero();
    if m == 0 || n == 0 {
        return;
    }
    if k == 0 {
        dst[..m * n].iter_mut().for_each(|v| *v = zero);
        return;
    }
    if n <= 2 && m * k <= SMALL_PRODUCT {
        // Matrix-vector products (interval centres and radii, magnitudes): dot products with
        // eight accumulators.
        if n == 1 {
            // The same sums as below, on contiguous data (so they vectorise): same bits.
            let rhs = &rhs[..k];
            for i in 0..m {
                let a = &lhs[i * k..(i + 1) * k];
                let mut acc = [zero; 8];
                let (a8, at) = a.split_at(k - k % 8);
                let (r8, rt) = rhs.split_at(k - k % 8);
                for (ac, rc) in a8.chunks_exact(8).zip(r8.chunks_exact(8)) {
                    for l in 0..8 {
                        acc[l] += ac[l] * rc[l];
                    }
                }
                let mut sum = zero;
                for (&x, &y) in at.iter().zip(rt) {
                    sum += x * y;
                }
                dst[i] = acc.iter().copied().sum::<T>() + sum;
            }
            return;
        }
        for i in 0..m {
            let a = &lhs[i * k..(i + 1) * k];
            for c in 0..n {
                let mut acc = [zero; 8];
                let mut kk = 0;
                while kk + 8 <= k {
                    for (l, av) in acc.iter_mut().enumerate() {
                        *av += a[kk + l] * rhs[(kk + l) * n + c];
                    }
                    kk += 8;
                }
                let mut sum = zero;
                while kk < k {
                    sum += a[kk] * rhs[kk * n + c];
                    kk += 1;
                }
                dst[i * n + c] = acc.iter().copied().sum::<T>() + sum;
            }
        }
        return;
    }
    // A sparse left factor (the unit rows ±e_j of intermediate bounds: one nonzero in each
    // row of k) costs its nonzeros' row updates, not a dense product; the scan is 1/n of the
    // product's work at most (it stops once the count passes the threshold). Below one
    // nonzero in eight, row updates beat faer's packed kernel.
    let sparse = || {
        let mut nnz = 0;
        for ch in lhs[..m * k].chunks(256) {
            nnz += ch.iter().map(|&a| usize::from(a != zero)).sum::<usize>();
            if 8 * nnz > m * k {
                return false;
            }
        }
        true
    };
    if m * n * k <= SMALL_PRODUCT || sparse() {
        // Small products (one row, ACAS Xu's 50-unit layers) and sparse ones: plain row
        // updates that skip zeros (exact: adding 0·w changes nothing for finite w) beat faer's
        // dispatch and packing.
        for i in 0..m {
            let d = &mut dst[i * n..(i + 1) * n];
            d.iter_mut().for_each(|v| *v = zero);
            for (kk, &a) in lhs[i * k..(i + 1) * k].iter().enumerate() {
                if a != zero {
                    for (dv, &r) in d.iter_mut().zip(&rhs[kk * n..(kk + 1) * n]) {
                        *dv += a * r;
                    }
                }
            }
        }
        return;
    }
    fn dense<U: faer::traits::ComplexField + Copy>(
        (m, n, k): (usize, usize, usize),
        dst: &mut [U],
        lhs: &[U],
        rhs: &[U],
        one: U,
    ) {
        // dstᵀ = rhsᵀ · lhsᵀ, every factor column-major.
        let d = faer::MatMut::from_column_major_slice_mut(&mut dst[..m * n], n, m);
        let l = faer::MatRef::from_column_major_slice(&rhs[..k * n], n, k);
        let r = faer::MatRef::from_column_major_slice(&lhs[..m * k], k, m);
        faer::linalg::matmul::matmul(d, faer::Accum::Replace, l, r, one, faer::Par::Seq);
    }
    if let (Some(d), Some(l), Some(r)) = (cast_mut::<T, f64>(dst), cast(lhs), cast(rhs)) {
        dense((m, n, k), d, l, r, 1.0f64);
    } else if let (Some(d), Some(l), Some(r)) = (cast_mut::<T, f32>(dst), cast(lhs), cast(rhs)) {
        dense((m, n, k), d, l, r, 1.0f32);
    } else {
        unreachable!("Real is f32 or f64");
    }
}

/// Lower bounds of `rows[k]·z_t` over the box (layer index `t`; `t = L−1` is the output),
/// given sound bounds of hidden layers below `t`. `alpha_iters = 0` is CROWN; more runs
/// α-CROWN's projected gradient for that many steps (each row its own slopes), through the
/// engine ([`super::engine`]).
pub fn lower_bounds(
    net: &PwlNet,
    t: usize,
    rows: &[Vec<f64>],
    xlo: &[f64],
    xhi: &[f64],
    inter: &LayerBounds,
    alpha_iters: usize,
) -> Vec<RowBound> {
    let targets = vec![f64::INFINITY; rows.len()];
    engine_rows(net, t, rows, &targets, xlo, xhi, inter, alpha_iters)
}

/// The lower bound of one row `row·z_t` over the box: CROWN first, and, only if its bound is
/// not above `target`, α-CROWN for up to `alpha_iters` steps, stopping as soon as the bound
/// exceeds `target` (the caller's refutation threshold). Every bound returned is sound
/// whatever the slopes, so stopping early changes only the cost.
#[allow(clippy::too_many_arguments)]
pub fn lower_bound_until(
    net: &PwlNet,
    t: usize,
    row: &[f64],
    xlo: &[f64],
    xhi: &[f64],
    inter: &LayerBounds,
    alpha_iters: usize,
    target: f64,
) -> RowBound {
    engine_rows(
        net,
        t,
        &[row.to_vec()],
        &[target],
        xlo,
        xhi,
        inter,
        alpha_iters,
    )
    .remove(0)
}

#[allow(clippy::too_many_arguments)]
fn engine_rows(
    net: &PwlNet,
    t: usize,
    rows: &[Vec<f64>],
    targets: &[f64],
    xlo: &[f64],
    xhi: &[f64],
    inter: &LayerBounds,
    alpha_iters: usize,
) -> Vec<RowBound> {
    use super::engine::{bound_rows, Domain, Optim, Relaxation, Row};
    let rel = Relaxation::new(net, t, xlo, xhi, inter);
    let rows: Vec<Row> = rows
        .iter()
        .zip(targets)
        .map(|(c, &target)| Row {
            dom: 0,
            c,
            target,
            alpha: None,
            beta: None,
            floor: f64::NEG_INFINITY,
        })
        .collect();
    let opt = Optim {
        iters: alpha_iters,
        decay: 1.0,
        ..Optim::default()
    };
    bound_rows(&rel, &[Domain::splits(&[])], &rows, &opt)
        .into_iter()
        .map(|r| RowBound {
            lb: r.lb,
            lambda0: r.lambda0,
            k: r.k,
            corner: r.corner,
        })
        .collect()
}

/// Bounds of every hidden layer by CROWN (layer by layer, each intersected with IBP), plus the
/// output layer; `alpha_iters > 0` optimises the output rows with α-CROWN.
pub fn crown(net: &PwlNet, xlo: &[f64], xhi: &[f64], alpha_iters: usize) -> LayerBounds {
    let crown_only = super::engine::Optim {
        iters: 0,
        ..Default::default()
    };
    let mut inter = super::engine::optimized_hidden(net, xlo, xhi, None, &crown_only);
    let t = net.layers.len() - 1;
    let n = net.layers[t].n_out;
    let (ilo, ihi) = output_interval(net, xlo, xhi, &inter);
    let rows: Vec<Vec<f64>> = (0..2 * n)
        .map(|k| {
            let mut r = vec![0.0; n];
            r[k % n] = if k < n { 1.0 } else { -1.0 };
            r
        })
        .collect();
    let rb = lower_bounds(net, t, &rows, xlo, xhi, &inter, alpha_iters);
    inter
        .lo
        .push((0..n).map(|j| rb[j].lb.max(ilo[j])).collect());
    inter
        .hi
        .push((0..n).map(|j| (-rb[n + j].lb).min(ihi[j])).collect());
    inter
}

/// Interval bounds of the output layer from the hidden-layer bounds `inter` (IBP on the last
/// layer).
pub fn output_interval(
    net: &PwlNet,
    xlo: &[f64],
    xhi: &[f64],
    inter: &LayerBounds,
) -> (Vec<f64>, Vec<f64>) {
    let last = net.layers.len() - 1;
    if last == 0 {
        return affine_interval(&net.layers[0], xlo, xhi);
    }
    let h = last - 1;
    let (alo, ahi): (Vec<f64>, Vec<f64>) = (0..net.layers[h].n_out)
        .map(|j| {
            act_interval(
                net.slopes[h][j].0,
                net.slopes[h][j].1,
                inter.lo[h][j],
                inter.hi[h][j],
            )
        })
        .unzip();
    affine_interval(&net.layers[last], &alo, &ahi)
}

/// Output bounds by one method: (lower, upper) per output.
pub fn output_bounds(
    net: &PwlNet,
    xlo: &[f64],
    xhi: &[f64],
    method: Method,
) -> (Vec<f64>, Vec<f64>) {
    let b = match method {
        Method::Ibp => ibp(net, xlo, xhi),
        Method::Crown => crown(net, xlo, xhi, 0),
        Method::AlphaCrown => crown(net, xlo, xhi, 30),
    };
    (
        b.lo.last().cloned().unwrap_or_default(),
        b.hi.last().cloned().unwrap_or_default(),
    )
}

/// Linear functions of the input, `n` units × (`d` coefficients + constant), with magnitude
/// bounds `mag[j] ≥ max over the box |f_j(x)|`.
struct SymLayer {
    a: Vec<f64>,
    c: Vec<f64>,
    mag: Vec<f64>,
}

/// Hidden-layer bounds by forward symbolic propagation intersected with IBP (cheap for
/// low-dimensional inputs). Returns bounds of the hidden layers only.
pub fn symbolic_hidden(net: &PwlNet, xlo: &[f64], xhi: &[f64]) -> LayerBounds {
    let d = xlo.len();
    let xmag: Vec<f64> = xlo
        .iter()
        .zip(xhi)
        .map(|(l, h)| l.abs().max(h.abs()))
        .collect();
    let mut a_id = vec![0.0; d * d];
    for k in 0..d {
        a_id[k * d + k] = 1.0;
    }
    let mut low = SymLayer {
        a: a_id.clone(),
        c: vec![0.0; d],
        mag: xmag.clone(),
    };
    let mut upp = SymLayer {
        a: a_id,
        c: vec![0.0; d],
        mag: xmag.clone(),
    };
    let (mut alo, mut ahi) = (xlo.to_vec(), xhi.to_vec());
    let mut out = LayerBounds {
        lo: Vec::new(),
        hi: Vec::new(),
    };
    // Magnitude of a linear function over the box.
    let fmag =
        |a: &[f64], c: f64| c.abs() + a.iter().zip(&xmag).map(|(a, x)| a.abs() * x).sum::<f64>();
    for (l, layer) in net.layers.iter().enumerate().take(net.slopes.len()) {
        let n = layer.n_out;
        let (ilo, ihi) = affine_interval(layer, &alo, &ahi);
        let mut zl = SymLayer {
            a: vec![0.0; n * d],
            c: vec![0.0; n],
            mag: vec![0.0; n],
        };
        let mut zu = SymLayer {
            a: vec![0.0; n * d],
            c: vec![0.0; n],
            mag: vec![0.0; n],
        };
        let (mut zlo, mut zhi) = (vec![0.0; n], vec![0.0; n]);
        for j in 0..n {
            let (al, au) = (&mut zl.a[j * d..(j + 1) * d], &mut zu.a[j * d..(j + 1) * d]);
            let (mut cl, mut cu) = (layer.b[j], layer.b[j]);
            let mut mag = layer.b[j].abs();
            for (i, &w) in layer.row(j).iter().enumerate() {
                if w == 0.0 {
                    continue;
                }
                let (src_l, src_u) = if w > 0.0 { (&low, &upp) } else { (&upp, &low) };
                for k in 0..d {
                    al[k] += w * src_l.a[i * d + k];
                    au[k] += w * src_u.a[i * d + k];
                }
                cl += w * src_l.c[i];
                cu += w * src_u.c[i];
                mag += w.abs() * low.mag[i].max(upp.mag[i]);
            }
            let e = dot_err(layer.n_in + 1, mag);
            cl = sub_down(cl, e);
            cu = add_up(cu, e);
            // Concretise over the box.
            let (mut vl, mut vu) = (cl, cu);
            for k in 0..d {
                vl += if al[k] >= 0.0 {
                    al[k] * xlo[k]
                } else {
                    al[k] * xhi[k]
                };
                vu += if au[k] >= 0.0 {
                    au[k] * xhi[k]
                } else {
                    au[k] * xlo[k]
                };
            }
            let (ml, mu) = (fmag(al, cl), fmag(au, cu));
            zlo[j] = sub_down(vl, dot_err(d + 2, ml + vl.abs())).max(ilo[j]);
            zhi[j] = add_up(vu, dot_err(d + 2, mu + vu.abs())).min(ihi[j]);
            zl.c[j] = cl;
            zu.c[j] = cu;
            zl.mag[j] = ml;
            zu.mag[j] = mu;
        }
        // Through the activation.
        let mut nl = SymLayer {
            a: vec![0.0; n * d],
            c: vec![0.0; n],
            mag: vec![0.0; n],
        };
        let mut nu = SymLayer {
            a: vec![0.0; n * d],
            c: vec![0.0; n],
            mag: vec![0.0; n],
        };
        for j in 0..n {
            let (sl, sr) = net.slopes[l][j];
            let (lo, hi) = (zlo[j], zhi[j]);
            for (lower, dst) in [(true, &mut nl), (false, &mut nu)] {
                let line = relax(sl, sr, lo, hi, lower, None);
                // s·z ≥ s·L(x) when s ≥ 0 (lower side); the opposite function when s < 0.
                let src = if (line.s >= 0.0) == lower { &zl } else { &zu };
                let a = &mut dst.a[j * d..(j + 1) * d];
                if line.s == 0.0 {
                    dst.c[j] = line.t;
                    dst.mag[j] = line.t.abs();
                    continue;
                }
                for (ak, sk) in a.iter_mut().zip(&src.a[j * d..(j + 1) * d]) {
                    *ak = line.s * sk;
                }
                let c = line.s * src.c[j] + line.t;
                let e = dot_err(d + 2, line.s.abs() * src.mag[j] + line.t.abs() + c.abs());
                let c = if lower { sub_down(c, e) } else { add_up(c, e) };
                dst.c[j] = c;
                dst.mag[j] = fmag(a, c);
            }
        }
        let (nlo, nhi): (Vec<f64>, Vec<f64>) = (0..n)
            .map(|j| act_interval(net.slopes[l][j].0, net.slopes[l][j].1, zlo[j], zhi[j]))
            .unzip();
        alo = nlo;
        ahi = nhi;
        low = nl;
        upp = nu;
        out.lo.push(zlo);
        out.hi.push(zhi);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `matmul` on integer-valued factors (every product and partial sum is exact in f64, so
    /// any summation order gives the exact integer result) against an i64 reference, on
    /// shapes around the dispatch limits (small, sparse below one nonzero in eight, dense
    /// through faer) and the SIMD widths.
    #[test]
    fn matmul_matches_an_exact_integer_reference() {
        let mut state = 0x9e3779b97f4a7c15u64;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let mut paths = [0usize; 2];
        for &(m, k, n) in &[
            (48, 256, 64),
            (48, 255, 65),
            (47, 257, 63),
            (3, 9, 7),
            (48, 64, 256),
            (20, 40, 40),
            (1, 300, 129),
        ] {
            for per_mille in [0u64, 5, 120, 130, 500, 1000] {
                let lhs: Vec<i64> = (0..m * k)
                    .map(|_| {
                        if next() % 1000 < per_mille {
                            (next() % 7) as i64 - 3
                        } else {
                            0
                        }
                    })
                    .collect();
                let rhs: Vec<i64> = (0..k * n).map(|_| (next() % 2001) as i64 - 1000).collect();
                let (lf, rf): (Vec<f64>, Vec<f64>) = (
                    lhs.iter().map(|&v| v as f64).collect(),
                    rhs.iter().map(|&v| v as f64).collect(),
                );
                let mut dst = vec![f64::NAN; m * n];
                matmul(m, n, k, &mut dst, &lf, &rf);
                for i in 0..m {
                    for c in 0..n {
                        let e: i64 = (0..k).map(|kk| lhs[i * k + kk] * rhs[kk * n + c]).sum();
                        assert_eq!(dst[i * n + c], e as f64, "{m}×{k}×{n} at {i},{c}");
                    }
                }
                let nnz = lhs.iter().filter(|&&v| v != 0).count();
                if m * n * k > SMALL_PRODUCT && n > 2 {
                    paths[usize::from(8 * nnz <= m * k)] += 1;
                }
            }
        }
        // Both large-product paths ran: faer (dense) and sparse row updates.
        assert!(paths[0] >= 5 && paths[1] >= 5, "{paths:?}");
    }

    #[test]
    fn relu_relaxation_lines_are_valid() {
        for &(lo, hi) in &[(-2.0, 2.0), (-1e-300, 3.0), (-0.1, 0.3), (-7.0, 1e-9)] {
            let up = relax(0.0, 1.0, lo, hi, false, None);
            let dn = relax(0.0, 1.0, lo, hi, true, None);
            for k in 0..=100 {
                let z = lo + (hi - lo) * k as f64 / 100.0;
                let r = z.max(0.0);
                assert!(
                    up.s * z + up.t >= r - 1e-12 * (1.0 + z.abs()),
                    "{lo} {hi} {z}"
                );
                assert!(dn.s * z + dn.t <= r);
            }
        }
        let up = relax(0.0, 1.0, -2.0, 2.0, false, None);
        // Outward rounding: never below the exact chord 0.5·z + 1, and within a few ulps of it.
        assert!(
            up.s >= 0.5 && up.t >= 1.0 && up.s - 0.5 < 1e-14 && up.t - 1.0 < 1e-14,
            "{up:?}"
        );
        // Leaky (convex) and a concave kink.
        for &(sl, sr) in &[(0.1, 1.0), (2.0, 0.5)] {
            for &lower in &[true, false] {
                let ln = relax(sl, sr, -1.5, 0.7, lower, None);
                for k in 0..=100 {
                    let z = -1.5 + 2.2 * k as f64 / 100.0;
                    let f = if z < 0.0 { sl * z } else { sr * z };
                    let v = ln.s * z + ln.t;
                    assert!(
                        if lower {
                            v <= f + 1e-12
                        } else {
                            v >= f - 1e-12
                        },
                        "{sl} {sr} {lower} {z}"
                    );
                }
            }
        }
    }
}
