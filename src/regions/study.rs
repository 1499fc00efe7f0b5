//! Regions vs architecture: the sweep over depth and width at initialisation, with a plot, and
//! an entry point for training snapshots.
//!
//! Hanin & Rolnick ("Complexity of linear regions in deep networks", ICML 2019) show that at
//! initialisation the number of regions along a line, and per unit area on a 2-D slice, grows
//! with the total number of units, not exponentially in depth; the sweep measures that.

use super::net::GeoNet;
use super::plane::{partition, PlaneOptions, Slice};
use super::segment::segment;
use crate::activation::Activation;
use crate::error::Result;
use crate::net::Mlp;
use crate::plot::{Figure, LineChart};
use crate::real::Real;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Normal};

/// A He-initialised ReLU network (the benchmark and study network): widths
/// `[d_in, h, ..., d_out]`, W ~ N(0, 2/fan_in) (He et al., ICCV 2015, eq. 10) and biases
/// uniform on ±1/√fan_in (PyTorch's `nn.Linear` default), ReLU hidden, identity output, drawn
/// from ChaCha8 seeded with `seed`.
pub fn he_relu_net(widths: &[usize], seed: u64) -> Mlp<f64> {
    let mut mlp = Mlp::<f64>::zeros(widths, Activation::RELU, Activation::Identity, true);
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    for layer in &mut mlp.layers {
        let fan_in = layer.in_dim as f64;
        let normal = Normal::new(0.0, (2.0 / fan_in).sqrt()).expect("positive std");
        for w in &mut layer.weight {
            *w = normal.sample(&mut rng);
        }
        let bound = 1.0 / fan_in.sqrt();
        if let Some(b) = &mut layer.bias {
            for x in b {
                *x = rng.random_range(-bound..bound);
            }
        }
    }
    mlp
}

/// One architecture of the sweep.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct SweepPoint {
    /// Units per hidden layer.
    pub width: usize,
    /// Hidden layers.
    pub depth: usize,
    /// Hidden units in all (width × depth).
    pub units: usize,
    /// Activation regions on the box.
    pub activation_regions: usize,
    /// Linear regions on the box.
    pub linear_regions: usize,
    /// Activation pieces along the box diagonal (Hanin & Rolnick's count along a line).
    pub diagonal_pieces: usize,
}

/// Regions vs depth and width of He-initialised 2-\[w\]×L-1 ReLU nets on one box.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct Sweep {
    /// The box [u0, u1, v0, v1] (input plane).
    pub bbox: [f64; 4],
    /// Seed of the nets (net of width w and depth L uses `seed`).
    pub seed: u64,
    /// One point per (width, depth), widths outer.
    pub points: Vec<SweepPoint>,
}

/// Count regions at initialisation for every (width, depth): the study's sweep.
pub fn init_sweep(widths: &[usize], depths: &[usize], bbox: [f64; 4], seed: u64) -> Result<Sweep> {
    let mut points = Vec::new();
    for &w in widths {
        for &d in depths {
            let mut ws = vec![2];
            ws.extend(std::iter::repeat_n(w, d));
            ws.push(1);
            let net = GeoNet::new(&he_relu_net(&ws, seed))?;
            points.push(count(&net, w, d, bbox)?);
        }
    }
    Ok(Sweep { bbox, seed, points })
}

fn count(net: &GeoNet, width: usize, depth: usize, bbox: [f64; 4]) -> Result<SweepPoint> {
    let p = partition(net, &Slice::plane(bbox), PlaneOptions::default())?;
    let seg = segment(net, &[bbox[0], bbox[2]], &[bbox[1], bbox[3]])?;
    Ok(SweepPoint {
        width,
        depth,
        units: width * depth,
        activation_regions: p.activation_regions(),
        linear_regions: p.linear_regions(),
        diagonal_pieces: seg.activation_pieces(),
    })
}

/// Region counts of training snapshots: the entry point for "regions during training". Give it
/// (epoch, network) pairs (for instance checkpoints saved by `relulab train`); each network must
/// have 2 inputs.
pub fn snapshot_counts<T: Real>(
    snapshots: &[(usize, Mlp<T>)],
    bbox: [f64; 4],
) -> Result<Vec<(usize, SweepPoint)>> {
    snapshots
        .iter()
        .map(|(epoch, mlp)| {
            let net = GeoNet::new(mlp)?;
            let hidden = &mlp.layers[..mlp.layers.len() - 1];
            let width = hidden.iter().map(|l| l.out_dim).max().unwrap_or(0);
            let mut pt = count(&net, width, hidden.len(), bbox)?;
            pt.units = mlp.hidden_units();
            Ok((*epoch, pt))
        })
        .collect()
}

/// Pictures of training snapshots: for each (epoch, network) the mosaic of the input plane on
/// `bbox` as an SVG document (with the decision boundary that `opts` names).
pub fn snapshot_pictures<T: Real>(
    snapshots: &[(usize, Mlp<T>)],
    bbox: [f64; 4],
    opts: &super::render::RenderOptions,
) -> Result<Vec<(usize, String)>> {
    snapshots
        .iter()
        .map(|(epoch, mlp)| {
            let net = GeoNet::new(mlp)?;
            let p = partition(&net, &Slice::plane(bbox), PlaneOptions::default())?;
            Ok((*epoch, super::render::mosaic_svg(&p, opts)?))
        })
        .collect()
}

impl Sweep {
    /// Two line charts as one SVG document (the shared [`crate::plot`] module): activation
    /// regions vs depth on a log scale, one line per width; pieces along the box diagonal vs
    /// total hidden units.
    pub fn to_svg(&self) -> Result<String> {
        let mut widths: Vec<usize> = self.points.iter().map(|p| p.width).collect();
        widths.sort_unstable();
        widths.dedup();
        let series = |x: fn(&SweepPoint) -> usize, y: fn(&SweepPoint) -> usize, w: usize| {
            self.points
                .iter()
                .filter(|p| p.width == w)
                .map(|p| (x(p) as f64, y(p) as f64))
                .collect::<Vec<_>>()
        };
        let mut regions = LineChart::new("Activation regions vs depth (He init)")
            .labels("hidden layers L", "activation regions")
            .log_y(true);
        let mut pieces = LineChart::new("Pieces along the box diagonal vs units")
            .labels("hidden units (w × L)", "activation pieces on the diagonal");
        for &w in &widths {
            regions = regions.series(
                format!("w = {w}"),
                series(|p| p.depth, |p| p.activation_regions, w),
            );
            pieces = pieces.series(
                format!("w = {w}"),
                series(|p| p.units, |p| p.diagonal_pieces, w),
            );
        }
        Figure::row(vec![regions.into(), pieces.into()]).to_svg()
    }
}

/// What the tour report shows about linear regions: the numbers and two SVG pictures.
#[derive(Clone, Debug)]
pub struct TourRegions {
    /// The network shown (He-initialised 2-\[16\]×3-1 ReLU).
    pub widths: Vec<usize>,
    /// Box of the mosaic.
    pub bbox: [f64; 4],
    /// Activation regions of the shown network.
    pub activation_regions: usize,
    /// Linear regions of the shown network.
    pub linear_regions: usize,
    /// Sum of the polygon areas and the box area.
    pub area_sum: f64,
    /// Box area.
    pub box_area: f64,
    /// The mosaic, coloured by the number of active hidden units (with a legend), with the zero
    /// level set of the output on top.
    pub mosaic_svg: String,
    /// The sweep over width (8, 16, 32) and depth (1..4) at initialisation.
    pub sweep: Sweep,
    /// Its chart.
    pub sweep_svg: String,
}

/// The regions section of the tour report (runs in well under a second).
pub fn tour_regions(seed: u64) -> Result<TourRegions> {
    let widths = vec![2, 16, 16, 16, 1];
    let bbox = [-2.0, 2.0, -2.0, 2.0];
    let net = GeoNet::new(&he_relu_net(&widths, seed))?;
    let p = partition(&net, &Slice::plane(bbox), PlaneOptions::default())?;
    let mosaic_svg = super::render::mosaic_svg(
        &p,
        &super::render::RenderOptions {
            width: 560,
            boundary: super::plane::Boundary::Zero(0),
            colouring: super::render::Colouring::ActiveUnits,
            legend: true,
            ..Default::default()
        },
    )?;
    let sweep = init_sweep(&[8, 16, 32], &[1, 2, 3, 4], bbox, seed)?;
    let sweep_svg = sweep.to_svg()?;
    Ok(TourRegions {
        widths,
        bbox,
        activation_regions: p.activation_regions(),
        linear_regions: p.linear_regions(),
        area_sum: p.area_sum(),
        box_area: p.slice.area(),
        mosaic_svg,
        sweep,
        sweep_svg,
    })
}
