//! Exact 1-D: the breakpoints and affine pieces of a network along the segment
//! x(t) = x0 + t·(x1 − x0), t in [0, 1], for any input dimension.
//!
//! Same scheme as the plane: each interval carries the affine maps z_j(t) = c0 + c1·t of the
//! current layer, is cut at the roots of the cutting units, and every piece passes its maps to
//! the next layer. On-root tolerance as in the plane: |z| ≤ [`TOL_REL`]·(|c0| + |c1|).

use super::net::GeoNet;
use super::plane::TOL_REL;
use crate::error::{Error, Result};

/// The pieces of a network along a segment.
#[derive(Clone, Debug)]
pub struct SegmentPieces {
    /// Segment start x0.
    pub x0: Vec<f64>,
    /// Segment end x1.
    pub x1: Vec<f64>,
    /// Number of outputs.
    pub n_outputs: usize,
    /// Piece k covers [t_k, t_{k+1}]: `t` has one more entry than there are pieces, from 0 to 1.
    pub t: Vec<f64>,
    /// Activation pattern of each piece (`pattern_words` words each).
    pub patterns: Vec<Vec<u64>>,
    /// Output maps of each piece: for output o, (a_o, b_o) with y_o(t) = a_o + b_o·t.
    pub maps: Vec<Vec<(f64, f64)>>,
}

impl SegmentPieces {
    /// Number of activation pieces (intervals of constant activation pattern).
    pub fn activation_pieces(&self) -> usize {
        self.patterns.len()
    }

    /// The breakpoints strictly inside (0, 1) where the pattern changes.
    pub fn breakpoints(&self) -> &[f64] {
        &self.t[1..self.t.len() - 1]
    }

    /// The input at parameter t.
    pub fn point(&self, t: f64) -> Vec<f64> {
        self.x0
            .iter()
            .zip(&self.x1)
            .map(|(a, b)| a + t * (b - a))
            .collect()
    }

    /// Number of linear pieces: maximal intervals on which every output is one affine function
    /// (neighbouring pieces with equal maps, within 1e-9 relative, merged).
    pub fn linear_pieces(&self) -> usize {
        if self.maps.is_empty() {
            return 0;
        }
        let equal = |a: &[(f64, f64)], b: &[(f64, f64)]| {
            a.iter().zip(b).all(|(p, q)| {
                let size = (p.0.abs() + p.1.abs()).max(q.0.abs() + q.1.abs());
                (p.0 - q.0).abs() + (p.1 - q.1).abs() <= 1e-9 * size
            })
        };
        1 + self
            .maps
            .windows(2)
            .filter(|w| !equal(&w[0], &w[1]))
            .count()
    }
}

/// The exact pieces of `net` along the segment from `x0` to `x1`.
pub fn segment(net: &GeoNet, x0: &[f64], x1: &[f64]) -> Result<SegmentPieces> {
    let d = net.input_dim();
    for (name, x) in [("start", x0), ("end", x1)] {
        if x.len() != d {
            return Err(Error::Shape(format!(
                "segment {name} has {} values, the network input has {d}",
                x.len()
            )));
        }
        if x.iter().any(|v| !v.is_finite()) {
            return Err(Error::Value(format!("segment {name} is not finite")));
        }
    }
    let l0 = &net.layers[0];
    let mut maps = Vec::with_capacity(l0.n_out);
    for j in 0..l0.n_out {
        let row = &l0.w[j * d..(j + 1) * d];
        let a: f64 = row.iter().zip(x0).map(|(w, x)| w * x).sum::<f64>() + l0.b[j];
        let b: f64 = row
            .iter()
            .zip(x0.iter().zip(x1))
            .map(|(w, (p, q))| w * (q - p))
            .sum();
        maps.push((a, b));
    }
    let mut out = SegmentPieces {
        x0: x0.to_vec(),
        x1: x1.to_vec(),
        n_outputs: net.output_dim(),
        t: vec![0.0],
        patterns: Vec::new(),
        maps: Vec::new(),
    };
    let pattern = vec![0u64; net.pattern_words];
    descend(net, 0, (0.0, 1.0), &maps, &pattern, &mut out);
    Ok(out)
}

fn descend(
    net: &GeoNet,
    l: usize,
    iv: (f64, f64),
    maps: &[(f64, f64)],
    pattern: &[u64],
    out: &mut SegmentPieces,
) {
    let layer = &net.layers[l];
    // Pieces in increasing t, with their layer-local "positive" flags.
    let mut pieces: Vec<((f64, f64), Vec<bool>)> = vec![(iv, vec![false; layer.n_out])];
    for &j in &layer.cuts {
        let (a, b) = maps[j];
        let tau = TOL_REL * (a.abs() + b.abs());
        let mut next = Vec::with_capacity(pieces.len() + 1);
        for ((t0, t1), mut pos) in pieces {
            let (z0, z1) = (a + b * t0, a + b * t1);
            let plus = z0 > tau || z1 > tau;
            let minus = z0 < -tau || z1 < -tau;
            if plus && minus {
                let r = (-a / b).clamp(t0, t1);
                let mut lo = pos.clone();
                let mut hi = pos;
                // Positive on the side where z grows.
                if b > 0.0 {
                    hi[j] = true;
                } else {
                    lo[j] = true;
                }
                next.push(((t0, r), lo));
                next.push(((r, t1), hi));
            } else {
                pos[j] = plus;
                next.push(((t0, t1), pos));
            }
        }
        pieces = next;
    }
    let last = l + 1 == net.layers.len();
    for ((t0, t1), pos) in pieces {
        if t1 <= t0 {
            continue; // a root exactly at an end: empty piece
        }
        let mut pat = pattern.to_vec();
        if layer.words > 0 {
            for (j, &p) in pos.iter().enumerate() {
                if p {
                    pat[layer.word_offset + j / 64] |= 1 << (j % 64);
                }
            }
        }
        let slope = |j: usize| {
            if last && net.output_is_logit {
                1.0
            } else if pos[j] {
                layer.hi[j]
            } else {
                layer.lo[j]
            }
        };
        let post: Vec<(f64, f64)> = (0..layer.n_out)
            .map(|j| (slope(j) * maps[j].0, slope(j) * maps[j].1))
            .collect();
        if last {
            out.t.push(t1);
            out.patterns.push(pat);
            out.maps.push(post);
        } else {
            let nx = &net.layers[l + 1];
            let m = nx.n_out;
            let mut next: Vec<(f64, f64)> = nx.b.iter().map(|&b| (b, 0.0)).collect();
            for (j, &(a, b)) in post.iter().enumerate() {
                if a == 0.0 && b == 0.0 {
                    continue;
                }
                for (i, nxt) in next.iter_mut().enumerate() {
                    let w = nx.wt[j * m + i];
                    nxt.0 += w * a;
                    nxt.1 += w * b;
                }
            }
            descend(net, l + 1, (t0, t1), &next, &pat, out);
        }
    }
}
