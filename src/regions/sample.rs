//! Sampling estimate for higher dimensions: the number of distinct activation patterns among N
//! sampled inputs. Every pattern seen is the pattern of a region with non-zero volume (ties
//! have probability zero), so the count is a lower bound on the number of activation regions
//! that meet the sampled box; its growth curve shows how far from saturation it is.

use super::net::GeoNet;
use crate::error::{Error, Result};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;
use std::collections::HashSet;

/// Options of [`sample_patterns`].
#[derive(Clone, Debug)]
pub struct SampleOptions {
    /// Number of inputs N.
    pub n: usize,
    /// Seed of the ChaCha8 stream that draws the inputs.
    pub seed: u64,
    /// Inputs are uniform in [lo, hi]^d.
    pub lo: f64,
    /// Upper end of the box.
    pub hi: f64,
}

/// Distinct patterns among the samples, with the growth curve.
#[derive(Clone, Debug, PartialEq)]
pub struct PatternGrowth {
    /// Distinct activation patterns among all N samples (a lower bound on the regions).
    pub distinct: usize,
    /// (samples so far, distinct so far) at 1, 2, 4, ... and N.
    pub curve: Vec<(usize, usize)>,
}

/// Count distinct activation patterns among `opts.n` uniform samples of [lo, hi]^d.
/// Deterministic: the samples come from one seeded stream; patterns are computed in parallel
/// and counted in sample order.
pub fn sample_patterns(net: &GeoNet, opts: &SampleOptions) -> Result<PatternGrowth> {
    if !(opts.lo.is_finite() && opts.hi.is_finite() && opts.lo < opts.hi) {
        return Err(Error::Value(format!(
            "sampling box [{}, {}] must be finite with lo < hi",
            opts.lo, opts.hi
        )));
    }
    let d = net.input_dim();
    let mut rng = ChaCha8Rng::seed_from_u64(opts.seed);
    let xs: Vec<f64> = (0..opts.n * d)
        .map(|_| rng.random_range(opts.lo..opts.hi))
        .collect();
    let pats: Vec<Vec<u64>> = xs
        .par_chunks(d.max(1))
        .map(|x| net.pattern_of(x).0)
        .collect();
    let mut seen = HashSet::with_capacity(pats.len());
    let mut curve = Vec::new();
    let mut next_mark = 1;
    for (k, p) in pats.iter().enumerate() {
        seen.insert(p.as_slice());
        if k + 1 == next_mark || k + 1 == opts.n {
            curve.push((k + 1, seen.len()));
            if k + 1 == next_mark {
                next_mark *= 2;
            }
        }
    }
    curve.dedup();
    Ok(PatternGrowth {
        distinct: seen.len(),
        curve,
    })
}

impl PatternGrowth {
    /// The growth curve as an SVG chart (log₂ samples on x, distinct patterns on y; no external
    /// fonts): a curve still rising at the right end means the count is far from saturation.
    pub fn to_svg(&self) -> String {
        let (w, h, x0, y0, pw, ph) = (560.0, 360.0, 80.0, 300.0, 440.0, 250.0);
        let xmax = self
            .curve
            .last()
            .map_or(1.0, |c| (c.0.max(2) as f64).log2());
        let ymax = self.curve.iter().map(|c| c.1).max().unwrap_or(1).max(1) as f64;
        let px = |n: usize| x0 + pw * (n.max(1) as f64).log2() / xmax;
        let py = |d: usize| y0 - ph * d as f64 / ymax;
        let mut s = format!(
            "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"{h}\" \
             viewBox=\"0 0 {w} {h}\" font-family=\"sans-serif\" font-size=\"12\">\n\
             <rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n\
             <text x=\"300\" y=\"24\" text-anchor=\"middle\" font-size=\"14\">distinct \
             activation patterns among sampled inputs</text>\n\
             <line x1=\"{x0}\" y1=\"{y0}\" x2=\"{}\" y2=\"{y0}\" stroke=\"black\"/>\n\
             <line x1=\"{x0}\" y1=\"{y0}\" x2=\"{x0}\" y2=\"{}\" stroke=\"black\"/>\n\
             <text x=\"300\" y=\"340\" text-anchor=\"middle\">samples (log scale)</text>\n\
             <text x=\"20\" y=\"175\" text-anchor=\"middle\" transform=\"rotate(-90 20 175)\">\
             distinct patterns</text>\n",
            x0 + pw,
            y0 - ph
        );
        for &(n, d) in &self.curve {
            s += &format!(
                "<line x1=\"{0:.1}\" y1=\"{y0}\" x2=\"{0:.1}\" y2=\"{1}\" stroke=\"black\"/>\
                 <text x=\"{0:.1}\" y=\"{2}\" text-anchor=\"middle\" font-size=\"9\">{n}</text>\
                 <circle cx=\"{0:.1}\" cy=\"{3:.1}\" r=\"3\" fill=\"#d95f02\"/>\n",
                px(n),
                y0 + 4.0,
                y0 + 16.0,
                py(d)
            );
        }
        for k in 0..=4 {
            let d = (ymax * k as f64 / 4.0).round() as usize;
            s += &format!(
                "<text x=\"{}\" y=\"{:.1}\" text-anchor=\"end\">{d}</text>\n",
                x0 - 6.0,
                py(d) + 4.0
            );
        }
        let pts: Vec<String> = self
            .curve
            .iter()
            .map(|&(n, d)| format!("{:.1},{:.1}", px(n), py(d)))
            .collect();
        s += &format!(
            "<polyline points=\"{}\" fill=\"none\" stroke=\"#d95f02\" stroke-width=\"2\"/>\n</svg>\n",
            pts.join(" ")
        );
        s
    }
}
