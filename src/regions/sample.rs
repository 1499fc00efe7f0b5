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
        return Err(Error::Invalid(format!(
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
