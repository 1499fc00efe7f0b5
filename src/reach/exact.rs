//! Exact reachable sets of loops with 2-D states, from the region engine.
//!
//! The loop unrolled k steps is piecewise affine in x\[0\] ([`super::unroll`]); the region engine
//! ([`crate::regions::partition`]) cuts the initial box into the convex cells on which it is
//! affine and gives each cell's affine map. The image of a convex cell under an affine map is
//! the convex hull of its vertices' images, so the reachable set of step k is the union of the
//! images of the cells, and every vertex of an image is the image of a cell vertex, an initial
//! state. Computed in f64 (the geometry's own rounding; this is the oracle of the tests and a
//! picture, not a proof).

use super::{unroll, ClosedLoop};
use crate::error::{Error, Result};
use crate::regions::{partition, point_in_convex, polygon_area, GeoNet, PlaneOptions, Slice};
use rayon::prelude::*;

/// One linear piece of the k-step map.
#[derive(Clone, Debug)]
pub struct Piece {
    /// The cell in the initial box (counter-clockwise).
    pub cell: Vec<[f64; 2]>,
    /// Its image x\[k\] (counter-clockwise, vertex i the image of a cell vertex).
    pub image: Vec<[f64; 2]>,
    /// The cell vertex each image vertex comes from.
    pub source: Vec<[f64; 2]>,
    /// Bounding box of the image [xmin, xmax, ymin, ymax].
    pub bbox: [f64; 4],
}

/// The exact reachable set of each step: `steps[k − 1]` holds the pieces of x\[k\].
#[derive(Clone, Debug)]
pub struct ExactSets {
    /// Pieces per step k = 1..=N.
    pub steps: Vec<Vec<Piece>>,
}

/// Most cells per step before giving up.
pub const MAX_CELLS: usize = 2_000_000;

/// The exact sets of x\[1..=steps\] over the plant's initial box (2-D states, no initial
/// half-spaces).
pub fn exact_sets(cl: &ClosedLoop, steps: usize) -> Result<ExactSets> {
    let p = &cl.plant;
    if p.n != 2 {
        return Err(Error::Unsupported(format!(
            "reach --exact: exact sets need 2 states, the plant has {}",
            p.n
        )));
    }
    if !p.init_h.is_empty() {
        return Err(Error::Unsupported(
            "reach --exact: the initial set must be a box (no initial_H)".into(),
        ));
    }
    let slice = Slice::plane([p.init_lo[0], p.init_hi[0], p.init_lo[1], p.init_hi[1]]);
    let mut out = Vec::with_capacity(steps);
    for k in 1..=steps {
        let un = unroll(cl, k)?;
        let geo = GeoNet::new(&un.mlp)?;
        let part = partition(
            &geo,
            &slice,
            PlaneOptions {
                max_cells: Some(MAX_CELLS),
                ..Default::default()
            },
        )?;
        let pieces: Vec<Piece> = (0..part.len())
            .map(|i| {
                let cell = part.polygon(i).to_vec();
                let (m0, m1) = (part.output_map(i, 0), part.output_map(i, 1));
                let img = |v: &[f64; 2]| {
                    [
                        m0[0] + m0[1] * v[0] + m0[2] * v[1],
                        m1[0] + m1[1] * v[0] + m1[2] * v[1],
                    ]
                };
                let mut image: Vec<[f64; 2]> = cell.iter().map(img).collect();
                let mut source = cell.clone();
                if polygon_area(&image) < 0.0 {
                    image.reverse();
                    source.reverse();
                }
                let mut bbox = [
                    f64::INFINITY,
                    f64::NEG_INFINITY,
                    f64::INFINITY,
                    f64::NEG_INFINITY,
                ];
                for v in &image {
                    bbox[0] = bbox[0].min(v[0]);
                    bbox[1] = bbox[1].max(v[0]);
                    bbox[2] = bbox[2].min(v[1]);
                    bbox[3] = bbox[3].max(v[1]);
                }
                Piece {
                    cell,
                    image,
                    source,
                    bbox,
                }
            })
            .collect();
        out.push(pieces);
    }
    Ok(ExactSets { steps: out })
}

impl ExactSets {
    /// Whether `x` lies in the reachable set of step k (≥ 1), within `tol`.
    pub fn contains(&self, k: usize, x: &[f64], tol: f64) -> bool {
        self.steps[k - 1].iter().any(|p| {
            x[0] >= p.bbox[0] - tol
                && x[0] <= p.bbox[1] + tol
                && x[1] >= p.bbox[2] - tol
                && x[1] <= p.bbox[3] + tol
                && in_image(p, x, tol)
        })
    }

    /// Bounding box of step k's set (≥ 1).
    pub fn bbox(&self, k: usize) -> [f64; 4] {
        let mut b = [
            f64::INFINITY,
            f64::NEG_INFINITY,
            f64::INFINITY,
            f64::NEG_INFINITY,
        ];
        for p in &self.steps[k - 1] {
            b[0] = b[0].min(p.bbox[0]);
            b[1] = b[1].max(p.bbox[1]);
            b[2] = b[2].min(p.bbox[2]);
            b[3] = b[3].max(p.bbox[3]);
        }
        b
    }

    /// Counts of the points of `pts[k − 1]` (states of step k) outside step k's set.
    pub fn outside(&self, pts: &[Vec<Vec<f64>>], tol: f64) -> Vec<usize> {
        pts.iter()
            .enumerate()
            .map(|(k, ps)| {
                ps.par_iter()
                    .filter(|x| !self.contains(k + 1, x, tol))
                    .count()
            })
            .collect()
    }
}

/// Point in a convex image; a degenerate (flat) image is tested as its segment.
fn in_image(p: &Piece, x: &[f64], tol: f64) -> bool {
    let area = polygon_area(&p.image);
    let scale = (p.bbox[1] - p.bbox[0]).max(p.bbox[3] - p.bbox[2]);
    if area.abs() > 1e-12 * scale * scale {
        return point_in_convex(&p.image, x[0], x[1], tol);
    }
    // Flat: within tol of one of the image's edges.
    let n = p.image.len();
    (0..n).any(|i| {
        let (a, b) = (p.image[i], p.image[(i + 1) % n]);
        let (ex, ey) = (b[0] - a[0], b[1] - a[1]);
        let l2 = ex * ex + ey * ey;
        let t = if l2 > 0.0 {
            (((x[0] - a[0]) * ex + (x[1] - a[1]) * ey) / l2).clamp(0.0, 1.0)
        } else {
            0.0
        };
        let (dx, dy) = (a[0] + t * ex - x[0], a[1] + t * ey - x[1]);
        (dx * dx + dy * dy).sqrt() <= tol
    })
}
