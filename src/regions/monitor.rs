//! Linear regions during training: a [`crate::train::Observer`] that counts the regions of the
//! network on a box of its 2-D input plane every few epochs, and can draw each snapshot.
//! (`relulab train --regions-every N`.)

use super::render::{mosaic_svg, Colouring, RenderOptions};
use super::{partition, Boundary, GeoNet, PlaneOptions, Slice};
use crate::error::{Error, Result};
use crate::net::{Mlp, Optimizer};
use crate::train::{EpochMetrics, Observer};
use serde::Serialize;
use serde_json::json;
use std::path::PathBuf;

/// Region counts of one snapshot.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct RegionCount {
    /// Epochs trained (0: the network before training).
    pub epoch: usize,
    /// Activation regions (cells with distinct activation patterns) in the box.
    pub activation: usize,
    /// Linear regions (adjacent cells with the same affine output map merged).
    pub linear: usize,
}

/// Counts (and optionally draws) the linear regions of the network every `every` epochs.
#[derive(Debug)]
pub struct RegionsMonitor {
    every: usize,
    bbox: [f64; 4],
    svg_dir: Option<PathBuf>,
    /// The snapshots so far, oldest first.
    pub history: Vec<RegionCount>,
}

impl RegionsMonitor {
    /// A monitor counting on `bbox` = [x0, x1, y0, y1] every `every` (≥ 1) epochs; with
    /// `svg_dir`, each snapshot's mosaic is also written there as `regions_epoch{E}.svg` (E with
    /// five digits), with the decision boundary of a one- or two-output network drawn on it.
    /// Checks that `mlp` can be partitioned (2 inputs, piecewise-linear hidden units) and takes
    /// the epoch-`epoch` snapshot of it now.
    pub fn new(
        mlp: &Mlp<f32>,
        epoch: usize,
        every: usize,
        bbox: [f64; 4],
        svg_dir: Option<PathBuf>,
    ) -> Result<Self> {
        if every == 0 {
            return Err(Error::Value("regions: every must be ≥ 1 epoch".into()));
        }
        if mlp.input_dim() != 2 {
            return Err(Error::Shape(format!(
                "regions during training need a network with 2 inputs (this one has {})",
                mlp.input_dim()
            )));
        }
        if let Some(d) = &svg_dir {
            std::fs::create_dir_all(d).map_err(|e| Error::Io {
                path: d.clone(),
                err: e,
            })?;
        }
        let mut m = RegionsMonitor {
            every,
            bbox,
            svg_dir,
            history: Vec::new(),
        };
        m.snapshot(mlp, epoch)?;
        Ok(m)
    }

    /// Count (and draw) the regions of `mlp` now, as the snapshot of `epoch`.
    pub fn snapshot(&mut self, mlp: &Mlp<f32>, epoch: usize) -> Result<RegionCount> {
        let net = GeoNet::new(mlp)?;
        let slice = Slice::plane(self.bbox);
        let p = partition(&net, &slice, PlaneOptions::default())?;
        let c = RegionCount {
            epoch,
            activation: p.activation_regions(),
            linear: p.linear_regions(),
        };
        if let Some(dir) = &self.svg_dir {
            let svg = mosaic_with_boundary(&net, self.bbox)?;
            let path = dir.join(format!("regions_epoch{epoch:05}.svg"));
            crate::plot::write_atomic(&path, svg.as_bytes())?;
        }
        self.history.push(c);
        Ok(c)
    }

    /// The box counted on.
    pub fn bbox(&self) -> [f64; 4] {
        self.bbox
    }
}

impl Observer for RegionsMonitor {
    fn on_epoch_end(
        &mut self,
        metrics: &mut EpochMetrics,
        mlp: &mut Mlp<f32>,
        _optimizer: &mut Optimizer<f32>,
    ) -> Result<()> {
        if metrics.epoch.is_multiple_of(self.every) {
            let c = self.snapshot(mlp, metrics.epoch)?;
            metrics.extra.insert(
                "regions".into(),
                json!({"activation": c.activation, "linear": c.linear, "box": self.bbox}),
            );
        }
        Ok(())
    }
}

/// The mosaic of `net` on `bbox` as an SVG document, cells coloured by their number of active
/// hidden units (with a legend), with the decision boundary of a one-output (zero level set)
/// or two-output (equal outputs) network drawn on it.
pub fn mosaic_with_boundary(net: &GeoNet, bbox: [f64; 4]) -> Result<String> {
    let boundary = match net.output_dim() {
        1 => Boundary::Zero(0),
        2 => Boundary::Equal(0, 1),
        _ => Boundary::None,
    };
    let opts = PlaneOptions {
        boundary,
        ..Default::default()
    };
    let p = partition(net, &Slice::plane(bbox), opts)?;
    mosaic_svg(
        &p,
        &RenderOptions {
            width: 560,
            boundary,
            colouring: Colouring::ActiveUnits,
            legend: true,
            ..Default::default()
        },
    )
}

/// The bounding box of the first two columns of row-major `x` (`d` columns), widened by
/// `margin` of its size on each side (a degenerate side gets ±1): a default box for
/// [`RegionsMonitor`] that covers the data.
pub fn data_box(x: &[f32], d: usize, margin: f64) -> [f64; 4] {
    let (mut b, mut any) = (
        [
            f64::INFINITY,
            f64::NEG_INFINITY,
            f64::INFINITY,
            f64::NEG_INFINITY,
        ],
        false,
    );
    if d >= 2 {
        for row in x.chunks_exact(d) {
            let (u, v) = (row[0] as f64, row[1] as f64);
            if u.is_finite() && v.is_finite() {
                any = true;
                b = [b[0].min(u), b[1].max(u), b[2].min(v), b[3].max(v)];
            }
        }
    }
    if !any {
        return [-1.0, 1.0, -1.0, 1.0];
    }
    let widen = |lo: f64, hi: f64| {
        let w = hi - lo;
        if w > 0.0 {
            (lo - margin * w, hi + margin * w)
        } else {
            (lo - 1.0, hi + 1.0)
        }
    };
    let (x0, x1) = widen(b[0], b[1]);
    let (y0, y1) = widen(b[2], b[3]);
    [x0, x1, y0, y1]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn data_box_covers_the_first_two_columns_with_margin() {
        // Rows (x, y, extra): x in [−1, 3], y in [2, 2] (degenerate), NaN rows skipped.
        let x = [-1.0, 2.0, 9.0, 3.0, 2.0, -9.0, f32::NAN, 100.0, 0.0];
        assert_eq!(data_box(&x, 3, 0.25), [-2.0, 4.0, 1.0, 3.0]);
        assert_eq!(data_box(&x, 1, 0.1), [-1.0, 1.0, -1.0, 1.0]);
        assert_eq!(data_box(&[], 2, 0.1), [-1.0, 1.0, -1.0, 1.0]);
    }
}
