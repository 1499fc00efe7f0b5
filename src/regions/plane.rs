//! Exact partition of a 2-D slice of input space into activation regions.
//!
//! # Algorithm
//! A region is a convex polygon in slice coordinates (u, v) together with the affine maps
//! z_j(u, v) = c0 + cu·u + cv·v of the current layer's pre-activations (three numbers per
//! unit). Layer by layer, each region is cut by the zero lines of that layer's units
//! (Sutherland–Hodgman clipping by a half-plane, both sides in one pass); each piece then knows
//! its slopes, and the next layer's maps follow as z_{l+1} = W_{l+1}·(s ∘ z_l) + b_{l+1}.
//! Pieces of one region differ in a few units only, so consecutive pieces update the next
//! maps by one axpy per flipped unit (a column of W_{l+1}, stored column-major) instead of a
//! full product. The traversal is depth-first (memory is the output plus one scratch level
//! per layer), and parallel across the pieces of the first layer with rayon; pieces are
//! emitted in a fixed order, so the output does not depend on the thread count.
//!
//! This is the "bent hyperplane" picture of Hanin & Rolnick ("Deep ReLU networks have
//! surprisingly few activation patterns", NeurIPS 2019) and the region-by-region subdivision
//! used by Berzins ("Polyhedral complex extraction from ReLU networks using edge
//! subdivision", ICML 2023), written for a CPU.
//!
//! # Tolerance
//! The value of unit j at a vertex is compared with τ_j = [`TOL_REL`]·(|c0| + |cu|·U + |cv|·V),
//! where U, V bound |u|, |v| on the box: τ_j is the size of the unit's value at the box's
//! scale, times 1e-9, far above f64 rounding (≈1e-16 per operation, times the depth and width
//! sums) and far below any geometric feature worth reporting. A vertex within τ_j is *on* the
//! line: it goes to both pieces, so nothing is lost; a region is split only when some vertex
//! is above τ_j and another below −τ_j, so no sliver thinner than τ_j is created. A unit whose
//! vertices are all on its line (zero weights, dead unit, coincident line) does not cut and gets
//! pattern bit 0, as the forward pass gives for z = 0. An isolated on-line vertex between two
//! vertices of the same side (a unit touching a corner, or a line through a vertex) is counted
//! with that side.

use super::net::GeoNet;
use crate::error::{Error, Result};
use crate::simd::Level as SimdLevel;
use rayon::prelude::*;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

/// Relative tolerance of the on-line test (see the module documentation).
pub const TOL_REL: f64 = 1e-9;

/// A 2-D affine slice of input space: x(u, v) = origin + u·dir_a + v·dir_b for (u, v) in
/// [u0, u1] × [v0, v1].
#[derive(Clone, Debug, PartialEq)]
pub struct Slice {
    /// x0.
    pub origin: Vec<f64>,
    /// a.
    pub dir_a: Vec<f64>,
    /// b.
    pub dir_b: Vec<f64>,
    /// [u0, u1, v0, v1].
    pub bbox: [f64; 4],
}

impl Slice {
    /// For d = 2: the input plane itself, (u, v) = (x₁, x₂) in the box.
    pub fn plane(bbox: [f64; 4]) -> Self {
        Slice {
            origin: vec![0.0, 0.0],
            dir_a: vec![1.0, 0.0],
            dir_b: vec![0.0, 1.0],
            bbox,
        }
    }

    /// The input at slice coordinates (u, v).
    pub fn point(&self, u: f64, v: f64) -> Vec<f64> {
        self.origin
            .iter()
            .zip(&self.dir_a)
            .zip(&self.dir_b)
            .map(|((o, a), b)| o + u * a + v * b)
            .collect()
    }

    /// Area of the box.
    pub fn area(&self) -> f64 {
        (self.bbox[1] - self.bbox[0]) * (self.bbox[3] - self.bbox[2])
    }

    /// Check dimensions and the box; the message names the field.
    pub fn validate(&self, d: usize) -> Result<()> {
        for (name, v) in [
            ("origin", &self.origin),
            ("dir_a", &self.dir_a),
            ("dir_b", &self.dir_b),
        ] {
            if v.len() != d {
                return Err(Error::Shape(format!(
                    "slice {name} has {} values, the network input has {d}",
                    v.len()
                )));
            }
            if v.iter().any(|x| !x.is_finite()) {
                return Err(Error::Value(format!("slice {name} is not finite")));
            }
        }
        let [u0, u1, v0, v1] = self.bbox;
        if !(self.bbox.iter().all(|x| x.is_finite())
            && u0 < u1
            && v0 < v1
            && self.area().is_finite())
        {
            return Err(Error::Value(format!(
                "box [{u0}, {u1}] × [{v0}, {v1}] must be finite with u0 < u1 and v0 < v1"
            )));
        }
        Ok(())
    }
}

/// What to cut by, beyond the hidden units.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub enum Boundary {
    /// Nothing more.
    #[default]
    None,
    /// The zero set of output o (a one-logit classifier's decision boundary).
    Zero(usize),
    /// Where outputs o1 and o2 are equal (a two-class classifier's decision boundary).
    Equal(usize, usize),
}

/// The partition of a slice into activation regions: one convex polygon per region, with its
/// activation pattern and the affine maps of every output on it. Flat buffers: memory is
/// proportional to the output.
#[derive(Clone, Debug)]
pub struct Partition {
    /// The slice that was partitioned.
    pub slice: Slice,
    /// Number of network outputs.
    pub n_outputs: usize,
    /// u64 words per activation pattern.
    pub pattern_words: usize,
    /// True when maps describe the last layer's pre-activation (its activation is not PWL).
    pub output_is_logit: bool,
    /// The boundary that was cut by (its side is the last pattern word, bit 0).
    pub boundary: Boundary,
    pub(crate) starts: Vec<usize>,
    pub(crate) verts: Vec<[f64; 2]>,
    pub(crate) edge_ids: Vec<u64>,
    pub(crate) patterns: Vec<u64>,
    pub(crate) maps: Vec<f64>,
}

impl Partition {
    /// Number of cells (polygons).
    pub fn len(&self) -> usize {
        self.starts.len() - 1
    }

    /// True when there are no cells (never, for a valid box).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The polygon of cell i: vertices in (u, v), counter-clockwise.
    pub fn polygon(&self, i: usize) -> &[[f64; 2]] {
        &self.verts[self.starts[i]..self.starts[i + 1]]
    }

    /// Edge labels of cell i (edge k runs from vertex k to k+1): edges that lie on the same cut
    /// share a label, which is how neighbours are found.
    pub(crate) fn edge_ids(&self, i: usize) -> &[u64] {
        &self.edge_ids[self.starts[i]..self.starts[i + 1]]
    }

    /// The activation pattern of cell i (see [`GeoNet::pattern_of`] for the bit layout).
    pub fn pattern(&self, i: usize) -> &[u64] {
        &self.patterns[i * self.pattern_words..(i + 1) * self.pattern_words]
    }

    /// The affine map of output o on cell i: [c0, cu, cv] with y_o = c0 + cu·u + cv·v.
    pub fn output_map(&self, i: usize, o: usize) -> [f64; 3] {
        let m = &self.maps[i * 3 * self.n_outputs..(i + 1) * 3 * self.n_outputs];
        [m[o], m[self.n_outputs + o], m[2 * self.n_outputs + o]]
    }

    /// All output maps of cell i: [c0 (n_outputs), cu (n_outputs), cv (n_outputs)].
    pub fn output_maps(&self, i: usize) -> &[f64] {
        &self.maps[i * 3 * self.n_outputs..(i + 1) * 3 * self.n_outputs]
    }

    /// Area of cell i (shoelace formula).
    pub fn area(&self, i: usize) -> f64 {
        polygon_area(self.polygon(i))
    }

    /// Sum of all cell areas (equals the box area up to rounding).
    pub fn area_sum(&self) -> f64 {
        // Pairwise-ish: sum per cell then total; cells are small so plain summation suffices.
        (0..self.len()).map(|i| self.area(i)).sum()
    }

    /// Number of activation regions: distinct activation patterns of the hidden units among the
    /// cells (every cell has non-zero area). A boundary cut splits cells without adding regions.
    pub fn activation_regions(&self) -> usize {
        let w = self.pattern_words - usize::from(self.boundary != Boundary::None);
        let mut seen = std::collections::HashSet::with_capacity(self.len());
        for i in 0..self.len() {
            seen.insert(&self.pattern(i)[..w]);
        }
        seen.len()
    }

    /// Cells whose closed polygon contains (u, v), allowing `tol` (in slice units) outside.
    pub fn locate(&self, u: f64, v: f64, tol: f64) -> Vec<usize> {
        (0..self.len())
            .filter(|&i| point_in_convex(self.polygon(i), u, v, tol))
            .collect()
    }
}

/// Signed area of a polygon (positive when counter-clockwise).
pub fn polygon_area(p: &[[f64; 2]]) -> f64 {
    let n = p.len();
    let mut s = 0.0;
    for k in 0..n {
        let a = p[k];
        let b = p[(k + 1) % n];
        s += a[0] * b[1] - a[1] * b[0];
    }
    0.5 * s
}

/// True when (u, v) is inside the counter-clockwise convex polygon `p` or within `tol` of it.
pub fn point_in_convex(p: &[[f64; 2]], u: f64, v: f64, tol: f64) -> bool {
    let n = p.len();
    for k in 0..n {
        let a = p[k];
        let b = p[(k + 1) % n];
        let (ex, ey) = (b[0] - a[0], b[1] - a[1]);
        let len = (ex * ex + ey * ey).sqrt();
        if len == 0.0 {
            continue;
        }
        // Distance of the point to the left of edge a→b (inside is left for CCW).
        let cross = (ex * (v - a[1]) - ey * (u - a[0])) / len;
        if cross < -tol {
            return false;
        }
    }
    true
}

/// Options of [`partition`].
#[derive(Clone, Copy, Debug, Default)]
pub struct PlaneOptions<'a> {
    /// Also cut by a decision boundary.
    pub boundary: Boundary,
    /// Stop with an error once more than this many cells are found (`None`: no limit), so a
    /// huge network fails cleanly instead of exhausting memory.
    pub max_cells: Option<usize>,
    /// The SIMD level of the map products (`None`: [`SimdLevel::current`]). With FMA (AVX2,
    /// AVX-512) products round once instead of twice, so the portable level may differ in the
    /// last bits of the maps (ARCHITECTURE.md, "Same bits").
    pub simd: Option<SimdLevel>,
    /// Stop with an error soon after this flag is set (from another thread: the Python
    /// binding's Ctrl-C).
    pub cancel: Option<&'a AtomicBool>,
}

/// The error of a partition stopped through [`PlaneOptions::cancel`].
pub const CANCELLED: &str = "regions: cancelled";

/// Partition `slice` into the activation regions of `net` (see the module documentation).
pub fn partition(net: &GeoNet, slice: &Slice, opts: PlaneOptions<'_>) -> Result<Partition> {
    slice.validate(net.input_dim())?;
    let n_out = net.output_dim();
    match opts.boundary {
        Boundary::Zero(o) if o >= n_out => {
            return Err(Error::Value(format!(
                "boundary output {o} out of range (the network has {n_out} outputs)"
            )))
        }
        Boundary::Equal(a, b) if a >= n_out || b >= n_out || a == b => {
            return Err(Error::Value(format!(
                "boundary outputs {a}, {b} must be distinct and below {n_out}"
            )))
        }
        _ => {}
    }
    let [u0, u1, v0, v1] = slice.bbox;
    let scale = [u0.abs().max(u1.abs()), v0.abs().max(v1.abs())];
    let extra_word = usize::from(opts.boundary != Boundary::None);
    let pattern_words = net.pattern_words + extra_word;

    // First-layer maps over the slice: z_j = W_j·x0 + b_j + u·W_j·a + v·W_j·b.
    let l0 = &net.layers[0];
    let n0 = l0.n_out;
    let mut maps0 = vec![0.0; 3 * n0];
    for j in 0..n0 {
        let row = &l0.w[j * l0.n_in..(j + 1) * l0.n_in];
        let dot = |x: &[f64]| row.iter().zip(x).map(|(w, x)| w * x).sum::<f64>();
        maps0[j] = dot(&slice.origin) + l0.b[j];
        maps0[n0 + j] = dot(&slice.dir_a);
        maps0[2 * n0 + j] = dot(&slice.dir_b);
    }
    let box_poly = [[u0, v0], [u1, v0], [u1, v1], [u0, v1]];
    let box_ids = [1u64, 2, 3, 4];

    // Level 0 on one thread: its pieces are the parallel tasks.
    let limit = Limit {
        max: opts.max_cells.unwrap_or(usize::MAX),
        cells: AtomicUsize::new(0),
        stop: AtomicBool::new(false),
        cancel: opts.cancel,
    };
    let simd = opts.simd.unwrap_or_else(SimdLevel::current);
    let mut top = Worker::new(net, scale, pattern_words, opts.boundary, 0, 5, &limit, simd);
    let mut tasks: Vec<Task> = Vec::new();
    let pattern = vec![0u64; pattern_words];
    top.descend(0, &box_poly, &box_ids, &maps0, &pattern, Some(&mut tasks));
    let mut outs: Vec<Out> = vec![top.out];
    let rest: Vec<Out> = tasks
        .into_par_iter()
        .enumerate()
        .map(|(t, task)| {
            let mut w = Worker::new(
                net,
                scale,
                pattern_words,
                opts.boundary,
                (t as u64 + 1) << 40,
                0,
                &limit,
                simd,
            );
            w.descend(1, &task.poly, &task.ids, &task.maps, &task.pattern, None);
            w.out
        })
        .collect();
    outs.extend(rest);
    let total: usize = outs.iter().map(|o| o.starts.len()).sum();
    if limit.cancelled() {
        return Err(Error::Cancelled(CANCELLED.into()));
    }
    if limit.stop.load(Ordering::Relaxed) || total > limit.max {
        return Err(Error::Value(format!(
            "more than {} cells on this slice: stopped (raise the cell limit or shrink the box)",
            limit.max
        )));
    }

    // Concatenate in task order (deterministic).
    let nv: usize = outs.iter().map(|o| o.verts.len()).sum();
    let mut p = Partition {
        slice: slice.clone(),
        n_outputs: n_out,
        pattern_words,
        output_is_logit: net.output_is_logit,
        boundary: opts.boundary,
        starts: Vec::with_capacity(total + 1),
        verts: Vec::with_capacity(nv),
        edge_ids: Vec::with_capacity(nv),
        patterns: Vec::with_capacity(total * pattern_words),
        maps: Vec::with_capacity(total * 3 * n_out),
    };
    for o in outs {
        let base = p.verts.len();
        p.starts.extend(o.starts.iter().map(|s| s + base));
        p.verts.extend_from_slice(&o.verts);
        p.edge_ids.extend_from_slice(&o.edge_ids);
        p.patterns.extend_from_slice(&o.patterns);
        p.maps.extend_from_slice(&o.maps);
    }
    p.starts.push(p.verts.len());
    Ok(p)
}

/// A first-layer piece handed to a thread.
struct Task {
    poly: Vec<[f64; 2]>,
    ids: Vec<u64>,
    maps: Vec<f64>,
    pattern: Vec<u64>,
}

/// One thread's emitted cells (the same flat layout as [`Partition`], starts without the end).
#[derive(Default)]
struct Out {
    starts: Vec<usize>,
    verts: Vec<[f64; 2]>,
    edge_ids: Vec<u64>,
    patterns: Vec<u64>,
    maps: Vec<f64>,
}

/// Scratch of one layer: the pieces a region is cut into.
#[derive(Default)]
struct Level {
    verts: Vec<[f64; 2]>,
    ids: Vec<u64>,
    /// (start, len) of each piece in `verts`.
    polys: Vec<(usize, usize)>,
    /// Layer-local pattern words of each piece.
    bits: Vec<u64>,
    /// The next layer's maps, updated piece to piece.
    next: Vec<f64>,
    /// Slopes of the previous piece, for the incremental update.
    slopes: Vec<f64>,
    pattern: Vec<u64>,
    s: Vec<f64>,
    cls: Vec<i8>,
    tau: Vec<f64>,
    zmin: Vec<f64>,
    zmax: Vec<f64>,
    /// Finished pieces in output order.
    order: Vec<usize>,
    /// Pieces still to cut: (piece, first unit to test).
    stack: Vec<(usize, usize)>,
}

/// The shared cell budget, and the caller's cancel flag.
struct Limit<'a> {
    max: usize,
    cells: AtomicUsize,
    stop: AtomicBool,
    cancel: Option<&'a AtomicBool>,
}

impl Limit<'_> {
    fn cancelled(&self) -> bool {
        self.cancel.is_some_and(|c| c.load(Ordering::Relaxed))
    }
}

struct Worker<'a> {
    net: &'a GeoNet,
    limit: &'a Limit<'a>,
    /// Cells emitted since the last report to `limit`.
    unreported: usize,
    scale: [f64; 2],
    pattern_words: usize,
    boundary: Boundary,
    id_prefix: u64,
    next_id: u64,
    levels: Vec<Level>,
    /// Scratch for the boundary cut.
    last: Level,
    out: Out,
    simd: SimdLevel,
}

impl<'a> Worker<'a> {
    #[allow(clippy::too_many_arguments)]
    fn new(
        net: &'a GeoNet,
        scale: [f64; 2],
        pattern_words: usize,
        boundary: Boundary,
        id_prefix: u64,
        first_id: u64,
        limit: &'a Limit<'a>,
        simd: SimdLevel,
    ) -> Self {
        Worker {
            net,
            limit,
            unreported: 0,
            scale,
            pattern_words,
            boundary,
            id_prefix,
            next_id: first_id,
            levels: (0..net.layers.len()).map(|_| Level::default()).collect(),
            last: Level::default(),
            out: Out::default(),
            simd,
        }
    }

    fn fresh_id(&mut self) -> u64 {
        self.next_id += 1;
        self.id_prefix | self.next_id
    }

    /// Cut the region (poly, maps of layer l) by layer l's units, then for each piece either
    /// recurse into layer l+1, emit it (last layer), or, at the top level, hand it to `tasks`.
    fn descend(
        &mut self,
        l: usize,
        poly: &[[f64; 2]],
        ids: &[u64],
        maps: &[f64],
        pattern: &[u64],
        mut tasks: Option<&mut Vec<Task>>,
    ) {
        if self.limit.stop.load(Ordering::Relaxed) {
            return;
        }
        let net = self.net;
        let layer = &net.layers[l];
        let n = layer.n_out;
        let mut lv = std::mem::take(&mut self.levels[l]);
        lv.verts.clear();
        lv.ids.clear();
        lv.polys.clear();
        lv.bits.clear();
        lv.verts.extend_from_slice(poly);
        lv.ids.extend_from_slice(ids);
        lv.polys.push((0, poly.len()));
        let words = layer.words;
        lv.bits.resize(words, 0);

        // Cut by the units in order. Each piece is tested against all remaining units at once
        // (the values at its vertices, min and max per unit: contiguous, vectorised); at the
        // first unit whose line crosses it, it is split and both halves continue with the next
        // unit. Every lineage sees the units in the same order as a unit-by-unit sweep would.
        let (m0, rest) = maps.split_at(n);
        let (mu, mv) = rest.split_at(n);
        lv.tau.clear();
        lv.tau.extend((0..n).map(|j| {
            if layer.lo[j] == layer.hi[j] {
                f64::INFINITY
            } else {
                TOL_REL * (m0[j].abs() + mu[j].abs() * self.scale[0] + mv[j].abs() * self.scale[1])
            }
        }));
        lv.order.clear();
        lv.stack.clear();
        if !layer.cuts.is_empty() {
            lv.stack.push((0, layer.cuts[0]));
        } else {
            lv.order.push(0);
        }
        while let Some((p, j0)) = lv.stack.pop() {
            let (s0, len) = lv.polys[p];
            lv.zmin.clear();
            lv.zmin.resize(n, f64::INFINITY);
            lv.zmax.clear();
            lv.zmax.resize(n, f64::NEG_INFINITY);
            value_range(
                self.simd,
                &lv.verts[s0..s0 + len],
                (&m0[j0..], &mu[j0..], &mv[j0..]),
                &mut lv.zmin[j0..],
                &mut lv.zmax[j0..],
            );
            // First unit whose line crosses the piece; units before it are decided. Units that
            // never cut have τ = ∞: never plus, never minus.
            let mut split_at = None;
            {
                let bits = &mut lv.bits[p * words..(p + 1) * words];
                let ranges = lv.zmin[j0..n].iter().zip(&lv.zmax[j0..n]);
                for (k, ((&lo, &hi), &tau)) in ranges.zip(&lv.tau[j0..n]).enumerate() {
                    let plus = hi > tau;
                    if plus && lo < -tau {
                        split_at = Some(j0 + k);
                        break;
                    }
                    let j = j0 + k;
                    bits[j / 64] |= u64::from(plus) << (j % 64);
                }
            }
            let Some(j) = split_at else {
                lv.order.push(p);
                continue;
            };
            let tau = lv.tau[j];
            match self.cut_piece(&mut lv, p, m0[j], mu[j], mv[j], tau) {
                Side::Split => {
                    // Piece p became the plus side; the minus side q was pushed last.
                    let q = lv.polys.len() - 1;
                    lv.bits.extend_from_within(p * words..(p + 1) * words);
                    lv.bits[p * words + j / 64] |= 1 << (j % 64);
                    debug_assert_eq!(lv.bits.len(), (q + 1) * words);
                    lv.stack.push((q, j + 1));
                    lv.stack.push((p, j + 1));
                }
                // Unreachable: cut_piece classifies with the same values.
                Side::Plus => {
                    lv.bits[p * words + j / 64] |= 1 << (j % 64);
                    lv.stack.push((p, j + 1));
                }
                Side::Minus => lv.stack.push((p, j + 1)),
            }
        }

        let last = l + 1 == net.layers.len();
        lv.pattern.clear();
        lv.pattern.extend_from_slice(pattern);
        for r in 0..lv.order.len() {
            let p = lv.order[r];
            let prev = if r == 0 { None } else { Some(lv.order[r - 1]) };
            lv.pattern[layer.word_offset..layer.word_offset + words]
                .copy_from_slice(&lv.bits[p * words..(p + 1) * words]);
            // Slopes of this piece, and the maps after the activation or of the next layer.
            self.update_next(&mut lv, l, maps, p, prev, r);
            let (s, e) = lv.polys[p];
            if last {
                self.emit(
                    &lv.verts[s..s + e],
                    &lv.ids[s..s + e],
                    &lv.next,
                    &lv.pattern,
                );
            } else if let Some(t) = tasks.as_deref_mut() {
                t.push(Task {
                    poly: lv.verts[s..s + e].to_vec(),
                    ids: lv.ids[s..s + e].to_vec(),
                    maps: lv.next.clone(),
                    pattern: lv.pattern.clone(),
                });
            } else {
                let poly = std::mem::take(&mut lv.verts);
                let pids = std::mem::take(&mut lv.ids);
                let next = std::mem::take(&mut lv.next);
                let pat = std::mem::take(&mut lv.pattern);
                self.descend(l + 1, &poly[s..s + e], &pids[s..s + e], &next, &pat, None);
                lv.verts = poly;
                lv.ids = pids;
                lv.next = next;
                lv.pattern = pat;
            }
        }
        self.levels[l] = lv;
    }

    /// Set `lv.next` to the maps that follow piece p: the next layer's pre-activations, or for
    /// the last layer the outputs. Piece 0 (and every 32nd) is computed in full; other pieces
    /// update the previous piece's maps for the units whose slope changed (one axpy with a column
    /// of W each).
    #[inline(never)]
    fn update_next(
        &self,
        lv: &mut Level,
        l: usize,
        maps: &[f64],
        p: usize,
        prev: Option<usize>,
        rank: usize,
    ) {
        let net = self.net;
        let layer = &net.layers[l];
        let n = layer.n_out;
        let words = layer.words;
        let slope = |bits: &[u64], j: usize| {
            if words > 0 && bits[j / 64] >> (j % 64) & 1 == 1 {
                layer.hi[j]
            } else {
                layer.lo[j]
            }
        };
        let bits = &lv.bits[p * words..(p + 1) * words];
        if l + 1 == net.layers.len() {
            // Outputs: s ∘ z (or z itself for a non-PWL output: the logits).
            lv.next.clear();
            lv.next.resize(3 * n, 0.0);
            for j in 0..n {
                let s = if net.output_is_logit {
                    1.0
                } else {
                    slope(bits, j)
                };
                lv.next[j] = s * maps[j];
                lv.next[n + j] = s * maps[n + j];
                lv.next[2 * n + j] = s * maps[2 * n + j];
            }
            return;
        }
        let nx = &net.layers[l + 1];
        let m = nx.n_out;
        // Full product every REFRESH pieces bounds the rounding a chain of updates accumulates.
        const REFRESH: usize = 32;
        let refresh = if rank.is_multiple_of(REFRESH) {
            None
        } else {
            prev
        };
        if let Some(q) = refresh {
            let prev = &lv.bits[q * words..(q + 1) * words];
            let (n0, rest) = lv.next.split_at_mut(m);
            let (nu, nv) = rest.split_at_mut(m);
            for w in 0..words {
                let mut diff = bits[w] ^ prev[w];
                while diff != 0 {
                    let j = w * 64 + diff.trailing_zeros() as usize;
                    diff &= diff - 1;
                    let s = slope(bits, j);
                    let ds = s - lv.slopes[j];
                    lv.slopes[j] = s;
                    let (a0, au, av) = (ds * maps[j], ds * maps[n + j], ds * maps[2 * n + j]);
                    axpy3(&nx.wt[j * m..(j + 1) * m], a0, au, av, n0, nu, nv);
                }
            }
        } else {
            lv.slopes.clear();
            lv.slopes.extend((0..n).map(|j| slope(bits, j)));
            lv.next.clear();
            lv.next.extend_from_slice(&nx.b);
            lv.next.resize(3 * m, 0.0);
            full_product(self.simd, &nx.wt, &lv.slopes, maps, &mut lv.next);
        }
    }

    /// Classify piece p against the line c0 + cu·u + cv·v = 0 and split it when it straddles.
    fn cut_piece(&mut self, lv: &mut Level, p: usize, c0: f64, cu: f64, cv: f64, tau: f64) -> Side {
        let (s0, len) = lv.polys[p];
        lv.s.clear();
        lv.cls.clear();
        let (mut plus, mut minus) = (false, false);
        for v in &lv.verts[s0..s0 + len] {
            let z = c0 + cu * v[0] + cv * v[1];
            let c = if z > tau {
                plus = true;
                1
            } else if z < -tau {
                minus = true;
                -1
            } else {
                0
            };
            lv.s.push(z);
            lv.cls.push(c);
        }
        if !minus {
            return if plus { Side::Plus } else { Side::Minus };
        }
        if !plus {
            return Side::Minus;
        }
        reclassify_isolated(&mut lv.cls);
        let chord = self.fresh_id();
        // Write the plus piece and the minus piece at the end of the arena.
        let start = lv.verts.len();
        for side in [1i8, -1] {
            let piece_start = lv.verts.len();
            for i in 0..len {
                let k = if i + 1 == len { 0 } else { i + 1 };
                let (ci, ck) = (lv.cls[i] * side, lv.cls[k] * side);
                let cross = (ci > 0 && ck < 0) || (ci < 0 && ck > 0);
                let vi = lv.verts[s0 + i];
                let ei = lv.ids[s0 + i];
                if ci >= 0 {
                    lv.verts.push(vi);
                    lv.ids.push(if ck >= 0 || cross { ei } else { chord });
                }
                if cross {
                    let vk = lv.verts[s0 + k];
                    let t = lv.s[i] / (lv.s[i] - lv.s[k]);
                    lv.verts
                        .push([vi[0] + t * (vk[0] - vi[0]), vi[1] + t * (vk[1] - vi[1])]);
                    lv.ids.push(if ck > 0 { ei } else { chord });
                }
            }
            let piece_len = lv.verts.len() - piece_start;
            if side == 1 {
                lv.polys[p] = (piece_start, piece_len);
            } else {
                lv.polys.push((piece_start, piece_len));
            }
        }
        debug_assert!(lv.verts.len() > start);
        Side::Split
    }

    /// Emit a finished cell, first cutting it by the decision boundary when asked.
    fn emit(&mut self, poly: &[[f64; 2]], ids: &[u64], maps: &[f64], pattern: &[u64]) {
        let n = self.net.output_dim();
        let g = match self.boundary {
            Boundary::None => None,
            Boundary::Zero(o) => Some((maps[o], maps[n + o], maps[2 * n + o])),
            Boundary::Equal(a, b) => Some((
                maps[a] - maps[b],
                maps[n + a] - maps[n + b],
                maps[2 * n + a] - maps[2 * n + b],
            )),
        };
        let Some((c0, cu, cv)) = g else {
            self.push_cell(poly, ids, maps, pattern, None);
            return;
        };
        let mut lv = std::mem::take(&mut self.last);
        lv.verts.clear();
        lv.ids.clear();
        lv.polys.clear();
        lv.verts.extend_from_slice(poly);
        lv.ids.extend_from_slice(ids);
        lv.polys.push((0, poly.len()));
        let tau = TOL_REL * (c0.abs() + cu.abs() * self.scale[0] + cv.abs() * self.scale[1]);
        let side = self.cut_piece(&mut lv, 0, c0, cu, cv, tau);
        let sides: &[bool] = match side {
            Side::Plus => &[true],
            Side::Minus => &[false],
            Side::Split => &[true, false],
        };
        for (p, &pos) in sides.iter().enumerate() {
            let (s, e) = lv.polys[p];
            self.push_cell(
                &lv.verts[s..s + e],
                &lv.ids[s..s + e],
                maps,
                pattern,
                Some(pos),
            );
        }
        self.last = lv;
    }

    fn push_cell(
        &mut self,
        poly: &[[f64; 2]],
        ids: &[u64],
        maps: &[f64],
        pattern: &[u64],
        side: Option<bool>,
    ) {
        self.unreported += 1;
        if self.unreported == 256 {
            let total = self.limit.cells.fetch_add(256, Ordering::Relaxed) + 256;
            self.unreported = 0;
            if total > self.limit.max || self.limit.cancelled() {
                self.limit.stop.store(true, Ordering::Relaxed);
            }
        }
        let o = &mut self.out;
        o.starts.push(o.verts.len());
        o.verts.extend_from_slice(poly);
        o.edge_ids.extend_from_slice(ids);
        o.patterns
            .extend_from_slice(&pattern[..self.net.pattern_words]);
        if let Some(pos) = side {
            o.patterns.push(u64::from(pos));
        }
        debug_assert_eq!(o.patterns.len() % self.pattern_words.max(1), 0);
        o.maps.extend_from_slice(maps);
    }
}

enum Side {
    Plus,
    Minus,
    Split,
}

/// out += Wᵀ-columns · (slopes ∘ maps) for the three map components: the next layer's maps
/// (without bias) from this layer's, at `level`. The levels with FMA (AVX2, AVX-512) fuse each
/// multiply-add, rounding once instead of twice, so they may differ from the portable level in
/// the last bits (ARCHITECTURE.md, "Same bits"); levels with FMA agree with each other, and one
/// level always gives the same bits, whatever the thread count.
pub(crate) fn full_product(
    level: SimdLevel,
    wt: &[f64],
    slopes: &[f64],
    maps: &[f64],
    out: &mut [f64],
) {
    if level.has_fma() {
        level.run(
            #[inline(always)]
            || full_product_body::<true>(wt, slopes, maps, out),
        )
    } else {
        level.run(
            #[inline(always)]
            || full_product_body::<false>(wt, slopes, maps, out),
        )
    }
}

#[inline(always)]
fn full_product_body<const FUSED: bool>(wt: &[f64], slopes: &[f64], maps: &[f64], out: &mut [f64]) {
    let n = slopes.len();
    let m = out.len() / 3;
    let (n0, rest) = out.split_at_mut(m);
    let (nu, nv) = rest.split_at_mut(m);
    // Units with a non-zero slope, four at a time: the outputs are loaded and stored once per
    // four columns (the loop is bound by loads and stores, not arithmetic). Within each output
    // the additions happen in unit order, as in the one-column update.
    let mut block = [0usize; 4];
    let mut k = 0;
    for (j, &s) in slopes.iter().enumerate() {
        if s == 0.0 {
            continue;
        }
        block[k] = j;
        k += 1;
        if k == 4 {
            let a = block.map(|j| {
                let s = slopes[j];
                [s * maps[j], s * maps[n + j], s * maps[2 * n + j]]
            });
            let cols = block.map(|j| &wt[j * m..(j + 1) * m]);
            axpy3x4::<FUSED>(cols, a, n0, nu, nv);
            k = 0;
        }
    }
    for &j in &block[..k] {
        let s = slopes[j];
        let (a0, au, av) = (s * maps[j], s * maps[n + j], s * maps[2 * n + j]);
        axpy3(&wt[j * m..(j + 1) * m], a0, au, av, n0, nu, nv);
    }
}

/// y += Σ_k col_k·a_k for the three map components, four columns at once.
#[inline(always)]
fn axpy3x4<const FUSED: bool>(
    cols: [&[f64]; 4],
    a: [[f64; 3]; 4],
    y0: &mut [f64],
    yu: &mut [f64],
    yv: &mut [f64],
) {
    let m = y0.len();
    let (yu, yv) = (&mut yu[..m], &mut yv[..m]);
    let [c0, c1, c2, c3] = cols.map(|c| &c[..m]);
    for i in 0..m {
        let w = [c0[i], c1[i], c2[i], c3[i]];
        let (mut t0, mut tu, mut tv) = (y0[i], yu[i], yv[i]);
        for k in 0..4 {
            if FUSED {
                t0 = w[k].mul_add(a[k][0], t0);
                tu = w[k].mul_add(a[k][1], tu);
                tv = w[k].mul_add(a[k][2], tv);
            } else {
                t0 += w[k] * a[k][0];
                tu += w[k] * a[k][1];
                tv += w[k] * a[k][2];
            }
        }
        y0[i] = t0;
        yu[i] = tu;
        yv[i] = tv;
    }
}

/// Min and max over the vertices of every unit's value c0 + cu·u + cv·v, at `level` (no
/// multiply-add is fused: the same bits at every level).
fn value_range(
    level: SimdLevel,
    verts: &[[f64; 2]],
    m: (&[f64], &[f64], &[f64]),
    lo: &mut [f64],
    hi: &mut [f64],
) {
    level.run(
        #[inline(always)]
        || value_range_body(verts, m, lo, hi),
    )
}

#[inline(always)]
fn value_range_body(
    verts: &[[f64; 2]],
    (m0, mu, mv): (&[f64], &[f64], &[f64]),
    lo: &mut [f64],
    hi: &mut [f64],
) {
    for &[u, v] in verts {
        for ((((lo, hi), c0), cu), cv) in lo.iter_mut().zip(hi.iter_mut()).zip(m0).zip(mu).zip(mv) {
            let z = c0 + cu * u + cv * v;
            *lo = lo.min(z);
            *hi = hi.max(z);
        }
    }
}

/// y += col·a for the three map components.
#[inline(always)]
fn axpy3(col: &[f64], a0: f64, au: f64, av: f64, y0: &mut [f64], yu: &mut [f64], yv: &mut [f64]) {
    for (((w, y0), yu), yv) in col.iter().zip(y0).zip(yu).zip(yv) {
        *y0 += w * a0;
        *yu += w * au;
        *yv += w * av;
    }
}

/// An on-line vertex (class 0) whose nearest off-line neighbours on both sides are of the same
/// class takes that class: a line touching a corner does not split there.
fn reclassify_isolated(cls: &mut [i8]) {
    if !cls.contains(&0) {
        return;
    }
    let n = cls.len();
    let orig: Vec<i8> = cls.to_vec();
    for i in 0..n {
        if orig[i] != 0 {
            continue;
        }
        let prev = (1..n).map(|k| orig[(i + n - k) % n]).find(|&c| c != 0);
        let next = (1..n).map(|k| orig[(i + k) % n]).find(|&c| c != 0);
        if let (Some(a), Some(b)) = (prev, next) {
            if a == b {
                cls[i] = a;
            }
        }
    }
}
