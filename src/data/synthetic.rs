//! Synthetic data sets, each fixed by its seed (ChaCha8, stream 0).
//!
//! 2-D classification: two moons and circles (as scikit-learn's `make_moons`/`make_circles`),
//! two interleaved spirals, XOR quadrants, a k×k checkerboard. 1-D regression: |x| and sin(πx)
//! on [−1, 1], the targets of the seed document's narrow-network experiments.

use super::{Dataset, Targets};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Normal};
use std::f64::consts::PI;

fn rng(seed: u64) -> ChaCha8Rng {
    ChaCha8Rng::seed_from_u64(seed)
}

fn gauss(noise: f64) -> Normal<f64> {
    Normal::new(0.0, noise.abs()).expect("finite noise")
}

fn classes(name: &str, x: Vec<f64>, labels: Vec<u32>, n_classes: usize) -> Dataset {
    Dataset {
        name: name.to_string(),
        n: labels.len(),
        d: 2,
        x: x.into_iter().map(|v| v as f32).collect(),
        targets: Targets::Classes { labels, n_classes },
    }
}

/// Two interleaving half circles (n/2 each), Gaussian noise of std `noise`.
pub fn two_moons(n: usize, noise: f64, seed: u64) -> Dataset {
    let mut r = rng(seed);
    let g = gauss(noise);
    let (n_out, n_in) = (n / 2, n - n / 2);
    let mut x = Vec::with_capacity(2 * n);
    let mut y = Vec::with_capacity(n);
    for i in 0..n_out {
        let t = PI * i as f64 / (n_out.max(2) - 1) as f64;
        x.extend([t.cos() + g.sample(&mut r), t.sin() + g.sample(&mut r)]);
        y.push(0);
    }
    for i in 0..n_in {
        let t = PI * i as f64 / (n_in.max(2) - 1) as f64;
        x.extend([
            1.0 - t.cos() + g.sample(&mut r),
            0.5 - t.sin() + g.sample(&mut r),
        ]);
        y.push(1);
    }
    classes("moons", x, y, 2)
}

/// A large circle (label 0) around a small one of radius `factor` (label 1).
pub fn circles(n: usize, noise: f64, factor: f64, seed: u64) -> Dataset {
    let mut r = rng(seed);
    let g = gauss(noise);
    let (n_out, n_in) = (n / 2, n - n / 2);
    let mut x = Vec::with_capacity(2 * n);
    let mut y = Vec::with_capacity(n);
    for (count, radius, label) in [(n_out, 1.0, 0), (n_in, factor, 1)] {
        for i in 0..count {
            let t = 2.0 * PI * i as f64 / count.max(1) as f64;
            x.extend([
                radius * t.cos() + g.sample(&mut r),
                radius * t.sin() + g.sample(&mut r),
            ]);
            y.push(label);
        }
    }
    classes("circles", x, y, 2)
}

/// Two interleaved spirals of 1.5 turns, radius growing to 1.
pub fn spirals(n: usize, noise: f64, seed: u64) -> Dataset {
    let mut r = rng(seed);
    let g = gauss(noise);
    let mut x = Vec::with_capacity(2 * n);
    let mut y = Vec::with_capacity(n);
    for i in 0..n {
        let label = (i % 2) as u32;
        let t = (i / 2) as f64 / (n / 2).max(1) as f64;
        let angle = 3.0 * PI * t + PI * label as f64;
        let radius = 0.05 + 0.95 * t;
        x.extend([
            radius * angle.cos() + g.sample(&mut r),
            radius * angle.sin() + g.sample(&mut r),
        ]);
        y.push(label);
    }
    classes("spirals", x, y, 2)
}

/// Uniform points in [−1, 1]²; label 1 where x₁·x₂ > 0 (decided before the noise is added).
pub fn xor(n: usize, noise: f64, seed: u64) -> Dataset {
    let mut r = rng(seed);
    let g = gauss(noise);
    let mut x = Vec::with_capacity(2 * n);
    let mut y = Vec::with_capacity(n);
    for _ in 0..n {
        let (a, b): (f64, f64) = (r.random_range(-1.0..1.0), r.random_range(-1.0..1.0));
        y.push(u32::from(a * b > 0.0));
        x.extend([a + g.sample(&mut r), b + g.sample(&mut r)]);
    }
    classes("xor", x, y, 2)
}

/// Uniform points in [−1, 1]², labelled by the colour of a k×k checkerboard.
pub fn checkerboard(n: usize, k: usize, seed: u64) -> Dataset {
    let mut r = rng(seed);
    let k = k.max(1);
    let mut x = Vec::with_capacity(2 * n);
    let mut y = Vec::with_capacity(n);
    for _ in 0..n {
        let (a, b): (f64, f64) = (r.random_range(-1.0..1.0), r.random_range(-1.0..1.0));
        let cell = |v: f64| (((v + 1.0) / 2.0 * k as f64).floor() as usize).min(k - 1);
        y.push(((cell(a) + cell(b)) % 2) as u32);
        x.extend([a, b]);
    }
    classes("checkerboard", x, y, 2)
}

/// A 1-D regression target.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Target1d {
    /// |x|.
    Abs,
    /// sin(πx).
    Sin,
}

/// `n` points evenly spaced on [−1, 1] with targets f(x) + N(0, noise²).
pub fn target_1d(n: usize, noise: f64, f: Target1d, seed: u64) -> Dataset {
    let mut r = rng(seed);
    let g = gauss(noise);
    let mut x = Vec::with_capacity(n);
    let mut t = Vec::with_capacity(n);
    for i in 0..n {
        let v = -1.0 + 2.0 * i as f64 / (n.max(2) - 1) as f64;
        let y = match f {
            Target1d::Abs => v.abs(),
            Target1d::Sin => (PI * v).sin(),
        };
        x.push(v as f32);
        t.push((y + if noise > 0.0 { g.sample(&mut r) } else { 0.0 }) as f32);
    }
    Dataset {
        name: match f {
            Target1d::Abs => "abs",
            Target1d::Sin => "sin",
        }
        .to_string(),
        n,
        d: 1,
        x,
        targets: Targets::Values { values: t, dim: 1 },
    }
}
