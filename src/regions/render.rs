//! Pictures of a partition: the mosaic of polygons as SVG or PNG (plotters), coloured by
//! activation pattern, by the number of active units or by output value, with the decision
//! boundary (the zero set of an output) drawn on top. The ordered colourings use the shared
//! [`crate::plot::sequential`] map and can carry a [`crate::plot::ColourBar`] legend beside the
//! mosaic (the only text, in the bundled font).

use super::plane::{Boundary, Partition};
use crate::error::{Error, Result};
use plotters::coord::Shift;
use plotters::prelude::*;
use std::path::Path;

/// How to colour cells.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub enum Colouring {
    /// A colour per activation pattern (hash of the pattern into a palette).
    #[default]
    Pattern,
    /// By the value of output o at the cell's centroid (blue low, yellow high).
    Output(usize),
    /// By the number of active hidden units (z > 0) of the cell's pattern (blue few, yellow
    /// many): neighbouring regions differ by one unit's switch, so they differ by one step.
    ActiveUnits,
}

/// Options of the pictures.
#[derive(Clone, Debug)]
pub struct RenderOptions {
    /// Width in pixels; the height follows the box's aspect ratio.
    pub width: u32,
    /// Cell colours.
    pub colouring: Colouring,
    /// Draw this decision boundary on top: the zero set of one output (one-logit classifier) or
    /// where two outputs are equal (two-logit classifier).
    pub boundary: Boundary,
    /// Outline every cell.
    pub outlines: bool,
    /// Draw a colour legend ([`crate::plot::ColourBar`], `ColourBar::WIDTH` pixels) right of
    /// the mosaic (ordered colourings only; the picture gets wider by that much).
    pub legend: bool,
}

impl Default for RenderOptions {
    fn default() -> Self {
        RenderOptions {
            width: 800,
            colouring: Colouring::Pattern,
            boundary: Boundary::None,
            outlines: true,
            legend: false,
        }
    }
}

/// The mosaic as an SVG document.
pub fn mosaic_svg(p: &Partition, opts: &RenderOptions) -> Result<String> {
    check(p, opts)?;
    let size = size(p, opts);
    let mut buf = String::new();
    {
        let root = SVGBackend::with_string(&mut buf, size).into_drawing_area();
        draw(&root, p, opts).map_err(|e| Error::Output(format!("drawing the SVG: {e}")))?;
    }
    Ok(buf)
}

/// Write the mosaic as an SVG file (atomically: temp file in the same directory, fsync,
/// rename).
pub fn write_svg(p: &Partition, opts: &RenderOptions, path: &Path) -> Result<()> {
    let svg = mosaic_svg(p, opts)?;
    write_atomic(path, svg.as_bytes())
}

/// Write the mosaic as a PNG file (atomically).
pub fn write_png(p: &Partition, opts: &RenderOptions, path: &Path) -> Result<()> {
    check(p, opts)?;
    let size = size(p, opts);
    let tmp = temp_path(path, "png");
    let res = (|| {
        {
            let root = BitMapBackend::new(&tmp, size).into_drawing_area();
            draw(&root, p, opts)
                .map_err(|e| Error::Output(format!("{}: drawing the PNG: {e}", path.display())))?;
        }
        let f = std::fs::File::open(&tmp).map_err(|e| Error::io(path, e))?;
        f.sync_all().map_err(|e| Error::io(path, e))?;
        std::fs::rename(&tmp, path).map_err(|e| Error::io(path, e))
    })();
    if res.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    res
}

pub use crate::io::checkpoint::write_atomic;

fn temp_path(path: &Path, ext: &str) -> std::path::PathBuf {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "out".into());
    path.with_file_name(format!(".{name}.{}.partial.{ext}", std::process::id()))
}

fn check(p: &Partition, opts: &RenderOptions) -> Result<()> {
    if !(16..=16384).contains(&opts.width) {
        return Err(Error::Value(format!(
            "picture width {} must be in 16..=16384 pixels",
            opts.width
        )));
    }
    let bad = |o: usize| o >= p.n_outputs;
    if let Colouring::Output(o) = opts.colouring {
        if bad(o) {
            return Err(Error::Value(format!(
                "colour output {o} out of range (the network has {} outputs)",
                p.n_outputs
            )));
        }
    }
    let outs: &[usize] = match &opts.boundary {
        Boundary::None => &[],
        Boundary::Zero(o) => std::slice::from_ref(o),
        Boundary::Equal(a, b) => &[*a, *b],
    };
    for &o in outs {
        if bad(o) {
            return Err(Error::Value(format!(
                "boundary output {o} out of range (the network has {} outputs)",
                p.n_outputs
            )));
        }
    }
    Ok(())
}

fn size(p: &Partition, opts: &RenderOptions) -> (u32, u32) {
    let [u0, u1, v0, v1] = p.slice.bbox;
    let h = (opts.width as f64 * (v1 - v0) / (u1 - u0)).round();
    (
        opts.width + legend_width(opts),
        h.clamp(16.0, 16384.0) as u32,
    )
}

fn legend_width(opts: &RenderOptions) -> u32 {
    if opts.legend && opts.colouring != Colouring::Pattern {
        crate::plot::ColourBar::WIDTH
    } else {
        0
    }
}

/// Active hidden units of cell i: set bits of its pattern, less the boundary side bit.
fn active_units(p: &Partition, i: usize) -> u32 {
    let w = p.pattern_words - usize::from(p.boundary != Boundary::None);
    p.pattern(i)[..w].iter().map(|x| x.count_ones()).sum()
}

fn draw<DB: DrawingBackend>(
    full: &DrawingArea<DB, Shift>,
    p: &Partition,
    opts: &RenderOptions,
) -> Result<()> {
    let err = |e: DrawingAreaErrorKind<DB::ErrorType>| Error::Output(format!("{e}"));
    full.fill(&WHITE).map_err(err)?;
    let (root, legend_area) = full.split_horizontally(opts.width);
    let (w, h) = root.dim_in_pixel();
    let [u0, u1, v0, v1] = p.slice.bbox;
    let px = |q: [f64; 2]| -> (i32, i32) {
        (
            ((q[0] - u0) / (u1 - u0) * w as f64).round() as i32,
            ((v1 - q[1]) / (v1 - v0) * h as f64).round() as i32,
        )
    };
    let centroid = |poly: &[[f64; 2]]| {
        let k = poly.len() as f64;
        poly.iter()
            .fold([0.0, 0.0], |a, q| [a[0] + q[0] / k, a[1] + q[1] / k])
    };
    // Output range for value colouring.
    let value = |i: usize, o: usize| {
        let c = centroid(p.polygon(i));
        let [a, b, d] = p.output_map(i, o);
        a + b * c[0] + d * c[1]
    };
    let level = |i: usize| match opts.colouring {
        Colouring::Output(o) => value(i, o),
        Colouring::ActiveUnits => active_units(p, i) as f64,
        Colouring::Pattern => 0.0,
    };
    let range = (0..p.len()).fold((f64::INFINITY, f64::NEG_INFINITY), |r, i| {
        let y = level(i);
        (r.0.min(y), r.1.max(y))
    });
    let bar = crate::plot::ColourBar {
        title: match opts.colouring {
            Colouring::Output(o) => format!("output {o}"),
            _ => "active units".into(),
        },
        lo: range.0,
        hi: range.1,
        integer: opts.colouring == Colouring::ActiveUnits,
    };
    for i in 0..p.len() {
        let pts: Vec<(i32, i32)> = p.polygon(i).iter().map(|&q| px(q)).collect();
        let colour = match opts.colouring {
            Colouring::Pattern => pattern_colour(p.pattern(i)),
            _ => bar.colour(level(i)),
        };
        root.draw(&Polygon::new(pts.clone(), colour.filled()))
            .map_err(err)?;
        if opts.outlines {
            let mut closed = pts;
            closed.push(closed[0]);
            root.draw(&PathElement::new(closed, BLACK.mix(0.3)))
                .map_err(err)?;
        }
    }
    if opts.boundary != Boundary::None {
        for i in 0..p.len() {
            let m = match opts.boundary {
                Boundary::Zero(o) => p.output_map(i, o),
                Boundary::Equal(a, b) => {
                    let (x, y) = (p.output_map(i, a), p.output_map(i, b));
                    [x[0] - y[0], x[1] - y[1], x[2] - y[2]]
                }
                Boundary::None => unreachable!("checked above"),
            };
            if let Some((a, b)) = zero_segment(p.polygon(i), m) {
                root.draw(&PathElement::new(vec![px(a), px(b)], BLACK.stroke_width(3)))
                    .map_err(err)?;
            }
        }
    }
    if legend_width(opts) > 0 {
        bar.draw(&legend_area)?;
    }
    full.present().map_err(err)
}

/// The segment where c0 + cu·u + cv·v = 0 crosses a convex polygon, if it does.
pub fn zero_segment(poly: &[[f64; 2]], m: [f64; 3]) -> Option<([f64; 2], [f64; 2])> {
    let val = |q: [f64; 2]| m[0] + m[1] * q[0] + m[2] * q[1];
    let mut hits = Vec::with_capacity(2);
    let n = poly.len();
    for k in 0..n {
        let (a, b) = (poly[k], poly[(k + 1) % n]);
        let (fa, fb) = (val(a), val(b));
        if (fa < 0.0 && fb >= 0.0) || (fa >= 0.0 && fb < 0.0) {
            let t = fa / (fa - fb);
            hits.push([a[0] + t * (b[0] - a[0]), a[1] + t * (b[1] - a[1])]);
        }
    }
    (hits.len() == 2).then(|| (hits[0], hits[1]))
}

/// A colour per pattern: a 64-bit mix of the words into a pleasant, saturated hue.
fn pattern_colour(pat: &[u64]) -> RGBColor {
    let mut h: u64 = 0x9e37_79b9_7f4a_7c15;
    for &w in pat {
        h ^= w;
        h = h.wrapping_mul(0xbf58_476d_1ce4_e5b9);
        h ^= h >> 31;
    }
    let hue = (h % 3600) as f64 / 3600.0;
    let sat = 0.45 + 0.35 * ((h >> 16) % 100) as f64 / 100.0;
    let val = 0.75 + 0.2 * ((h >> 32) % 100) as f64 / 100.0;
    hsv(hue, sat, val)
}

fn hsv(h: f64, s: f64, v: f64) -> RGBColor {
    let i = (h * 6.0).floor();
    let f = h * 6.0 - i;
    let (p, q, t) = (v * (1.0 - s), v * (1.0 - f * s), v * (1.0 - (1.0 - f) * s));
    let (r, g, b) = match i as i32 % 6 {
        0 => (v, t, p),
        1 => (q, v, p),
        2 => (p, v, t),
        3 => (p, q, v),
        4 => (t, p, v),
        _ => (v, p, q),
    };
    let c = |x: f64| (x * 255.0).round().clamp(0.0, 255.0) as u8;
    RGBColor(c(r), c(g), c(b))
}
