//! Linear regions: merge adjacent cells whose output maps are equal.
//!
//! Two cells are adjacent when they share a piece of a cut of positive length. Every edge
//! carries the label of the cut that made it (sub-segments of a later-split edge keep it), so
//! neighbours are found by grouping edges by label and intersecting the intervals of the two
//! sides (the two orientations of the edge along the cut: polygons are counter-clockwise). This
//! handles T-junctions, where a cut on one side ends on the middle of an edge of the other.
//! Adjacent cells with equal maps are joined with a union–find; the components are the linear
//! regions.

use super::plane::Partition;
use rayon::prelude::*;

/// Two output maps are equal when they differ, in size on the box (|c0| + |cu|·U + |cv|·V), by at
/// most this times the larger of the two, plus [`MAP_TOL_ABS`] times the largest map size over
/// all cells (the absolute part absorbs the ~1e-16·S residues that units switched on and off
/// again leave in the incrementally updated maps, where the true map is near zero).
pub const MAP_TOL_REL: f64 = 1e-9;
/// See [`MAP_TOL_REL`].
pub const MAP_TOL_ABS: f64 = 1e-12;

impl Partition {
    /// Number of linear regions: maximal connected unions of cells on which every output is one
    /// affine function.
    pub fn linear_regions(&self) -> usize {
        self.linear_region_labels().1
    }

    /// For each cell, the index of its linear region (numbered by first cell), and their number.
    pub fn linear_region_labels(&self) -> (Vec<u32>, usize) {
        let n = self.len();
        // (label, cell, edge index); the box sides (labels 1..=4) have no neighbour.
        let mut edges: Vec<(u64, u32, u32)> = Vec::with_capacity(self.verts.len());
        for i in 0..n {
            for (k, &e) in self.edge_ids(i).iter().enumerate() {
                if e > 4 {
                    edges.push((e, i as u32, k as u32));
                }
            }
        }
        edges.par_sort_unstable();
        let scale = self.map_scale();
        let [u0, u1, v0, v1] = self.slice.bbox;
        let len_tol = 1e-9 * ((u1 - u0).hypot(v1 - v0));
        let mut uf = UnionFind::new(n);
        let mut a_side: Vec<(f64, f64, u32)> = Vec::new();
        let mut b_side: Vec<(f64, f64, u32)> = Vec::new();
        let mut g = 0;
        while g < edges.len() {
            let id = edges[g].0;
            let mut h = g;
            while h < edges.len() && edges[h].0 == id {
                h += 1;
            }
            if h - g >= 2 {
                let (p0, d) = {
                    // Direction from the longest edge of the group.
                    let &(_, c, k) = edges[g..h]
                        .iter()
                        .max_by(|x, y| {
                            let l = |e: &(u64, u32, u32)| {
                                let (a, b) = self.edge(e.1, e.2);
                                let (dx, dy) = (b[0] - a[0], b[1] - a[1]);
                                dx * dx + dy * dy
                            };
                            l(x).total_cmp(&l(y))
                        })
                        .expect("group is not empty");
                    let (a, b) = self.edge(c, k);
                    let (dx, dy) = (b[0] - a[0], b[1] - a[1]);
                    let l = dx.hypot(dy).max(f64::MIN_POSITIVE);
                    (a, [dx / l, dy / l])
                };
                a_side.clear();
                b_side.clear();
                for &(_, c, k) in &edges[g..h] {
                    let (a, b) = self.edge(c, k);
                    let ta = (a[0] - p0[0]) * d[0] + (a[1] - p0[1]) * d[1];
                    let tb = (b[0] - p0[0]) * d[0] + (b[1] - p0[1]) * d[1];
                    if tb >= ta {
                        a_side.push((ta, tb, c));
                    } else {
                        b_side.push((tb, ta, c));
                    }
                }
                a_side.sort_by(|x, y| x.0.total_cmp(&y.0));
                b_side.sort_by(|x, y| x.0.total_cmp(&y.0));
                // Sweep: every pair of overlapping intervals from opposite sides.
                let (mut i, mut j) = (0, 0);
                while i < a_side.len() && j < b_side.len() {
                    let (a, b) = (a_side[i], b_side[j]);
                    if a.1.min(b.1) - a.0.max(b.0) > len_tol {
                        let (ci, cj) = (a.2 as usize, b.2 as usize);
                        if self.maps_equal_within(ci, cj, &scale) {
                            uf.union(ci, cj);
                        }
                    }
                    if a.1 < b.1 {
                        i += 1;
                    } else {
                        j += 1;
                    }
                }
            }
            g = h;
        }
        let mut label = vec![u32::MAX; n];
        let mut root_label = vec![u32::MAX; n];
        let mut count = 0u32;
        for (i, li) in label.iter_mut().enumerate() {
            let r = uf.find(i);
            if root_label[r] == u32::MAX {
                root_label[r] = count;
                count += 1;
            }
            *li = root_label[r];
        }
        (label, count as usize)
    }

    fn edge(&self, cell: u32, k: u32) -> ([f64; 2], [f64; 2]) {
        let p = self.polygon(cell as usize);
        let k = k as usize;
        (p[k], p[(k + 1) % p.len()])
    }

    /// Largest size |c0| + |cu|·U + |cv|·V of an output map over all cells, per output.
    fn map_scale(&self) -> Vec<f64> {
        let [u0, u1, v0, v1] = self.slice.bbox;
        let (su, sv) = (u0.abs().max(u1.abs()), v0.abs().max(v1.abs()));
        let n = self.n_outputs;
        let mut s = vec![0.0f64; n];
        for i in 0..self.len() {
            let m = self.output_maps(i);
            for (o, so) in s.iter_mut().enumerate() {
                *so = so.max(m[o].abs() + m[n + o].abs() * su + m[2 * n + o].abs() * sv);
            }
        }
        s
    }

    /// True when every output has the same affine map on cells i and j (within
    /// [`MAP_TOL_REL`] and [`MAP_TOL_ABS`]).
    pub fn maps_equal(&self, i: usize, j: usize) -> bool {
        self.maps_equal_within(i, j, &self.map_scale())
    }

    fn maps_equal_within(&self, i: usize, j: usize, scale: &[f64]) -> bool {
        let [u0, u1, v0, v1] = self.slice.bbox;
        let (su, sv) = (u0.abs().max(u1.abs()), v0.abs().max(v1.abs()));
        let (a, b) = (self.output_maps(i), self.output_maps(j));
        let n = self.n_outputs;
        (0..n).all(|o| {
            let size = |m: &[f64]| m[o].abs() + m[n + o].abs() * su + m[2 * n + o].abs() * sv;
            let diff = (a[o] - b[o]).abs()
                + (a[n + o] - b[n + o]).abs() * su
                + (a[2 * n + o] - b[2 * n + o]).abs() * sv;
            diff <= MAP_TOL_REL * size(a).max(size(b)) + MAP_TOL_ABS * scale[o]
        })
    }
}

struct UnionFind {
    parent: Vec<u32>,
}

impl UnionFind {
    fn new(n: usize) -> Self {
        UnionFind {
            parent: (0..n as u32).collect(),
        }
    }

    fn find(&mut self, mut x: usize) -> usize {
        while self.parent[x] as usize != x {
            let p = self.parent[x] as usize;
            self.parent[x] = self.parent[p];
            x = p;
        }
        x
    }

    fn union(&mut self, a: usize, b: usize) {
        let (ra, rb) = (self.find(a), self.find(b));
        if ra != rb {
            // Smaller index becomes the root: deterministic labels.
            let (lo, hi) = if ra < rb { (ra, rb) } else { (rb, ra) };
            self.parent[hi] = lo as u32;
        }
    }
}
