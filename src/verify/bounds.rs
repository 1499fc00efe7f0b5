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

/// Bounds of the pre-activations z_l of every layer (`lo[l][j] ≤ z_l[j] ≤ hi[l][j]`).
#[derive(Clone, Debug, PartialEq)]
pub struct LayerBounds {
    /// Lower bounds per layer.
    pub lo: Vec<Vec<f64>>,
    /// Upper bounds per layer.
    pub hi: Vec<Vec<f64>>,
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
struct Line {
    s: f64,
    t: f64,
}

/// The line bounding σ (slopes `sl` left of 0, `sr` right) on [lo, hi] from below (`lower`)
/// or above, valid in real arithmetic. `alpha` overrides the slope of the through-origin line
/// of an unstable unit (clamped to the slopes' range).
#[inline]
fn relax(sl: f64, sr: f64, lo: f64, hi: f64, lower: bool, alpha: Option<f64>) -> Line {
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
fn act_interval(sl: f64, sr: f64, lo: f64, hi: f64) -> (f64, f64) {
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
fn affine_interval(layer: &super::net::Affine, alo: &[f64], ahi: &[f64]) -> (Vec<f64>, Vec<f64>) {
    let n = layer.n_in;
    let c: Vec<f64> = alo
        .iter()
        .zip(ahi)
        .map(|(l, h)| 0.5 * l + 0.5 * h)
        .collect();
    // [c − r, c + r] ⊇ [lo, hi].
    let mut rc = vec![0.0; 2 * n];
    for i in 0..n {
        rc[2 * i] = next_up(ahi[i] - c[i]).max(next_up(c[i] - alo[i])).max(0.0);
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
struct Mags {
    /// max |x_i| over the box.
    xmag: Vec<f64>,
    /// `zmag[h][j]` = max |z_h[j]| for hidden layers.
    zmag: Vec<Vec<f64>>,
    /// `wa[l][j]` = Σ_i |W_l[j,i]|·max|a_{l−1}[i]|.
    wa: Vec<Vec<f64>>,
}

fn mags(net: &PwlNet, xlo: &[f64], xhi: &[f64], inter: &LayerBounds, upto: usize) -> Mags {
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

/// What a backward pass used, for α gradients: per hidden layer, λ over a_h and the lines.
struct BackTrace {
    lam: Vec<Vec<f64>>,
    lines: Vec<Vec<Line>>,
    /// Whether unit j's line is the through-origin α line (its slope is a free parameter).
    free: Vec<Vec<bool>>,
}

/// CROWN backward pass for one row over z_t (layer index `t`), with sound bounds of the
/// hidden layers below `t` in `inter`. `alpha[h][j]` overrides lower slopes.
#[allow(clippy::too_many_arguments)]
fn backward_row(
    net: &PwlNet,
    t: usize,
    row: &[f64],
    xlo: &[f64],
    xhi: &[f64],
    inter: &LayerBounds,
    m: &Mags,
    alpha: Option<&[Vec<f64>]>,
    want_trace: bool,
) -> (RowBound, Option<BackTrace>) {
    let mut g = row.to_vec();
    let mut cst = 0.0f64;
    let mut slack = 0.0f64;
    let mut trace = want_trace.then(|| BackTrace {
        lam: vec![Vec::new(); t],
        lines: vec![Vec::new(); t],
        free: vec![Vec::new(); t],
    });
    for l in (0..=t).rev() {
        let layer = &net.layers[l];
        // g·b
        let (mut sb, mut mb) = (0.0, 0.0);
        for (gj, bj) in g.iter().zip(&layer.b) {
            sb += gj * bj;
            mb += (gj * bj).abs();
        }
        cst += sb;
        slack = add_up(slack, dot_err(layer.n_out + 2, mb + cst.abs()));
        // λ = Wᵀ g, with its error bounded through |g|·(|W| max|a|).
        let mut lam = vec![0.0; layer.n_in];
        let mut mlam = 0.0;
        for (j, &gj) in g.iter().enumerate() {
            if gj != 0.0 {
                for (li, w) in lam.iter_mut().zip(layer.row(j)) {
                    *li += gj * w;
                }
                mlam += gj.abs() * m.wa[l][j];
            }
        }
        slack = add_up(slack, dot_err(layer.n_in + layer.n_out, mlam));
        if l == 0 {
            let mut v = 0.0;
            let mut mc = cst.abs();
            let corner: Vec<f64> = lam
                .iter()
                .enumerate()
                .map(|(i, &li)| {
                    let c = if li >= 0.0 { xlo[i] } else { xhi[i] };
                    v += li * c;
                    mc += li.abs() * m.xmag[i];
                    c
                })
                .collect();
            // Before concretising: row·z ≥ λ·x + k for every x in the box.
            let k = sub_down(cst, slack);
            let total = cst + v;
            slack = add_up(slack, dot_err(layer.n_in + 2, mc + total.abs()));
            let lb = sub_down(total, slack);
            return (
                RowBound {
                    lb,
                    k,
                    lambda0: lam,
                    corner,
                },
                trace,
            );
        }
        // Relax a_{l−1} = σ(z_{l−1}).
        let h = l - 1;
        let mut ng = vec![0.0; layer.n_in];
        let (mut ct, mut mt) = (0.0, 0.0);
        let mut mg = 0.0;
        let mut lines = Vec::new();
        let mut free = Vec::new();
        for i in 0..layer.n_in {
            let li = lam[i];
            let (sl, sr) = net.slopes[h][i];
            let (lo, hi) = (inter.lo[h][i], inter.hi[h][i]);
            let a = alpha.map(|a| a[h][i]);
            let line = if li == 0.0 {
                Line { s: 0.0, t: 0.0 }
            } else {
                relax(sl, sr, lo, hi, li >= 0.0, a)
            };
            let p = li * line.s;
            ng[i] = p;
            mg += p.abs() * m.zmag[h][i];
            let c = li * line.t;
            ct += c;
            mt += c.abs();
            if want_trace {
                lines.push(line);
                free.push(lo < 0.0 && hi > 0.0 && li > 0.0 && sl <= sr);
            }
        }
        cst += ct;
        slack = add_up(slack, dot_err(layer.n_in + 2, mt + mg + cst.abs()));
        if let Some(tr) = trace.as_mut() {
            tr.lam[h] = lam;
            tr.lines[h] = lines;
            tr.free[h] = free;
        }
        g = ng;
    }
    unreachable!("the loop returns at l = 0")
}

/// `dst (m × n) = lhs (m × k) · rhs (k × n)`, all row-major, through `faer` (no threads: the
/// callers already run in parallel). Rounding of any summation order is covered by
/// [`dot_err`].
fn matmul(m: usize, n: usize, k: usize, dst: &mut [f64], lhs: &[f64], rhs: &[f64]) {
    assert!(dst.len() >= m * n && lhs.len() >= m * k && rhs.len() >= k * n);
    if m == 0 || n == 0 {
        return;
    }
    if k == 0 {
        dst[..m * n].iter_mut().for_each(|v| *v = 0.0);
        return;
    }
    let d = faer::MatMut::from_row_major_slice_mut(&mut dst[..m * n], m, n);
    let l = faer::MatRef::from_row_major_slice(&lhs[..m * k], m, k);
    let r = faer::MatRef::from_row_major_slice(&rhs[..k * n], k, n);
    faer::linalg::matmul::matmul(d, faer::Accum::Replace, l, r, 1.0, faer::Par::Seq);
}

/// The CROWN backward pass of [`backward_row`] (no α, no trace) for `r` rows at once
/// (`rows` is r × n_t, row-major): the products with W run as one matrix product per layer and
/// each unit's two relaxation lines are built once.
#[allow(clippy::too_many_arguments, clippy::needless_range_loop)]
fn backward_batch(
    net: &PwlNet,
    t: usize,
    rows: &[f64],
    r: usize,
    xlo: &[f64],
    xhi: &[f64],
    inter: &LayerBounds,
    m: &Mags,
) -> Vec<RowBound> {
    let mut g = rows.to_vec();
    let mut cst = vec![0.0f64; r];
    let mut slack = vec![0.0f64; r];
    let mut lam = Vec::new();
    for l in (0..=t).rev() {
        let layer = &net.layers[l];
        let (n_out, n_in) = (layer.n_out, layer.n_in);
        for k in 0..r {
            let gk = &g[k * n_out..(k + 1) * n_out];
            let (mut sb, mut mb, mut mlam) = (0.0, 0.0, 0.0);
            for j in 0..n_out {
                let p = gk[j] * layer.b[j];
                sb += p;
                mb += p.abs();
                mlam += gk[j].abs() * m.wa[l][j];
            }
            cst[k] += sb;
            slack[k] = add_up(slack[k], dot_err(n_out + 2, mb + cst[k].abs()));
            slack[k] = add_up(slack[k], dot_err(n_in + n_out, mlam));
        }
        lam.resize(r * n_in, 0.0);
        matmul(r, n_in, n_out, &mut lam, &g, &layer.w);
        if l == 0 {
            return (0..r)
                .map(|k| {
                    let lk = &lam[k * n_in..(k + 1) * n_in];
                    let (mut v, mut mc) = (0.0, cst[k].abs());
                    let corner: Vec<f64> = lk
                        .iter()
                        .enumerate()
                        .map(|(i, &li)| {
                            let c = if li >= 0.0 { xlo[i] } else { xhi[i] };
                            v += li * c;
                            mc += li.abs() * m.xmag[i];
                            c
                        })
                        .collect();
                    let kk = sub_down(cst[k], slack[k]);
                    let total = cst[k] + v;
                    let sl = add_up(slack[k], dot_err(n_in + 2, mc + total.abs()));
                    RowBound {
                        lb: sub_down(total, sl),
                        k: kk,
                        lambda0: lk.to_vec(),
                        corner,
                    }
                })
                .collect();
        }
        let h = l - 1;
        let lines: Vec<(Line, Line)> = (0..n_in)
            .map(|i| {
                let (sl, sr) = net.slopes[h][i];
                let (lo, hi) = (inter.lo[h][i], inter.hi[h][i]);
                (
                    relax(sl, sr, lo, hi, true, None),
                    relax(sl, sr, lo, hi, false, None),
                )
            })
            .collect();
        g.resize(r * n_in, 0.0);
        for k in 0..r {
            let (mut ct, mut mt, mut mg) = (0.0, 0.0, 0.0);
            let lk = &lam[k * n_in..(k + 1) * n_in];
            let gk = &mut g[k * n_in..(k + 1) * n_in];
            for i in 0..n_in {
                let li = lk[i];
                let line = if li >= 0.0 { lines[i].0 } else { lines[i].1 };
                let p = li * line.s;
                gk[i] = p;
                mg += p.abs() * m.zmag[h][i];
                let c = li * line.t;
                ct += c;
                mt += c.abs();
            }
            cst[k] += ct;
            slack[k] = add_up(slack[k], dot_err(n_in + 2, mt + mg + cst[k].abs()));
        }
    }
    unreachable!("the loop returns at l = 0")
}

/// Lower bounds of `rows[k]·z_t` over the box (layer index `t`; `t = L−1` is the output),
/// given sound bounds of hidden layers below `t`. `alpha_iters = 0` is CROWN; more runs
/// α-CROWN's projected gradient for that many steps (each row its own slopes).
pub fn lower_bounds(
    net: &PwlNet,
    t: usize,
    rows: &[Vec<f64>],
    xlo: &[f64],
    xhi: &[f64],
    inter: &LayerBounds,
    alpha_iters: usize,
) -> Vec<RowBound> {
    let m = mags(net, xlo, xhi, inter, t);
    let flat: Vec<f64> = rows.iter().flatten().copied().collect();
    let first = backward_batch(net, t, &flat, rows.len(), xlo, xhi, inter, &m);
    if alpha_iters == 0 {
        return first;
    }
    rows.iter()
        .zip(first)
        .map(|(row, rb)| {
            optimise_alpha(
                net,
                t,
                row,
                xlo,
                xhi,
                inter,
                &m,
                rb,
                alpha_iters,
                f64::INFINITY,
            )
        })
        .collect()
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
    let m = mags(net, xlo, xhi, inter, t);
    let first = backward_batch(net, t, row, 1, xlo, xhi, inter, &m).remove(0);
    if alpha_iters == 0 || first.lb > target {
        return first;
    }
    optimise_alpha(net, t, row, xlo, xhi, inter, &m, first, alpha_iters, target)
}

/// α-CROWN for one row: Adam ascent on the lower slopes, keeping the best bound seen; stops
/// early once the bound exceeds `target` (∞: never).
#[allow(clippy::too_many_arguments)]
fn optimise_alpha(
    net: &PwlNet,
    t: usize,
    row: &[f64],
    xlo: &[f64],
    xhi: &[f64],
    inter: &LayerBounds,
    m: &Mags,
    first: RowBound,
    iters: usize,
    target: f64,
) -> RowBound {
    // Start from CROWN's adaptive choice.
    let mut alpha: Vec<Vec<f64>> = (0..t)
        .map(|h| {
            (0..net.layers[h].n_out)
                .map(|j| {
                    let (sl, sr) = net.slopes[h][j];
                    let (lo, hi) = (inter.lo[h][j], inter.hi[h][j]);
                    if hi > -lo {
                        sr
                    } else {
                        sl
                    }
                })
                .collect()
        })
        .collect();
    let mut best = first;
    let (lr, b1, b2) = (0.1, 0.9, 0.999);
    let mut mom: Vec<Vec<f64>> = alpha.iter().map(|a| vec![0.0; a.len()]).collect();
    let mut vel = mom.clone();
    for it in 1..=iters {
        let (rb, tr) = backward_row(net, t, row, xlo, xhi, inter, m, Some(&alpha), true);
        let tr = tr.expect("trace requested");
        if rb.lb > best.lb {
            best = rb.clone();
        }
        if best.lb > target {
            return best;
        }
        // δ_h = z_h of the relaxed network at the minimising corner; ∂B/∂α_{h,j} = λ_{h,j}·δ_{h,j}.
        let mut rho = rb.corner.clone();
        for h in 0..t {
            let layer = &net.layers[h];
            let delta: Vec<f64> = (0..layer.n_out)
                .map(|j| {
                    layer.b[j]
                        + layer
                            .row(j)
                            .iter()
                            .zip(&rho)
                            .map(|(w, r)| w * r)
                            .sum::<f64>()
                })
                .collect();
            for j in 0..layer.n_out {
                if tr.free[h][j] {
                    let grad = tr.lam[h][j] * delta[j];
                    mom[h][j] = b1 * mom[h][j] + (1.0 - b1) * grad;
                    vel[h][j] = b2 * vel[h][j] + (1.0 - b2) * grad * grad;
                    let mh = mom[h][j] / (1.0 - b1.powi(it as i32));
                    let vh = vel[h][j] / (1.0 - b2.powi(it as i32));
                    let (sl, sr) = net.slopes[h][j];
                    alpha[h][j] =
                        (alpha[h][j] + lr * mh / (vh.sqrt() + 1e-8)).clamp(sl.min(sr), sl.max(sr));
                }
            }
            rho = delta
                .iter()
                .zip(&tr.lines[h])
                .map(|(d, ln)| ln.s * d + ln.t)
                .collect();
        }
    }
    let (rb, _) = backward_row(net, t, row, xlo, xhi, inter, m, Some(&alpha), false);
    if rb.lb > best.lb {
        best = rb;
    }
    best
}

/// Bounds of every hidden layer by CROWN (layer by layer, each intersected with IBP), plus the
/// output layer; `alpha_iters > 0` optimises the output rows with α-CROWN.
pub fn crown(net: &PwlNet, xlo: &[f64], xhi: &[f64], alpha_iters: usize) -> LayerBounds {
    let ib = ibp(net, xlo, xhi);
    let mut inter = LayerBounds {
        lo: Vec::new(),
        hi: Vec::new(),
    };
    for t in 0..net.layers.len() {
        let n = net.layers[t].n_out;
        let rows: Vec<Vec<f64>> = (0..2 * n)
            .map(|k| {
                let mut r = vec![0.0; n];
                r[k % n] = if k < n { 1.0 } else { -1.0 };
                r
            })
            .collect();
        let iters = if t + 1 == net.layers.len() {
            alpha_iters
        } else {
            0
        };
        let rb = lower_bounds(net, t, &rows, xlo, xhi, &inter, iters);
        let lo: Vec<f64> = (0..n).map(|j| rb[j].lb.max(ib.lo[t][j])).collect();
        let hi: Vec<f64> = (0..n).map(|j| (-rb[n + j].lb).min(ib.hi[t][j])).collect();
        inter.lo.push(lo);
        inter.hi.push(hi);
    }
    inter
}

/// Hidden-layer bounds by CROWN, computed only for the units that IBP (from the already
/// tightened layers below) and `known` (bounds valid on a larger box, e.g. the parent domain's)
/// cannot show stable; the others keep their IBP ∩ `known` bounds. This is the
/// intermediate-bound routine of the branch and bound.
pub fn crown_hidden(
    net: &PwlNet,
    xlo: &[f64],
    xhi: &[f64],
    known: Option<&LayerBounds>,
) -> LayerBounds {
    let mut inter = LayerBounds {
        lo: Vec::new(),
        hi: Vec::new(),
    };
    let (mut alo, mut ahi) = (xlo.to_vec(), xhi.to_vec());
    for t in 0..net.slopes.len() {
        let layer = &net.layers[t];
        let (mut lo, mut hi) = affine_interval(layer, &alo, &ahi);
        if let Some(k) = known {
            for j in 0..layer.n_out {
                lo[j] = lo[j].max(k.lo[t][j]);
                hi[j] = hi[j].min(k.hi[t][j]);
            }
        }
        if t > 0 {
            let open: Vec<usize> = (0..layer.n_out)
                .filter(|&j| lo[j] < 0.0 && hi[j] > 0.0)
                .collect();
            let n = layer.n_out;
            let mut rows = Vec::with_capacity(2 * open.len());
            for &j in &open {
                let mut r = vec![0.0; n];
                r[j] = 1.0;
                rows.push(r.clone());
                r[j] = -1.0;
                rows.push(r);
            }
            let rb = lower_bounds(net, t, &rows, xlo, xhi, &inter, 0);
            for (k, &j) in open.iter().enumerate() {
                lo[j] = lo[j].max(rb[2 * k].lb);
                hi[j] = hi[j].min(-rb[2 * k + 1].lb);
            }
        }
        let (nl, nh): (Vec<f64>, Vec<f64>) = (0..layer.n_out)
            .map(|j| act_interval(net.slopes[t][j].0, net.slopes[t][j].1, lo[j], hi[j]))
            .unzip();
        alo = nl;
        ahi = nh;
        inter.lo.push(lo);
        inter.hi.push(hi);
    }
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
