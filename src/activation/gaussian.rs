//! Gaussian statistics of an activation: for X ~ N(μ, σ²), E\[f(X)\], E\[f(X)²\], E\[f'(X)\] and
//! P(f'(X) ≠ 0), in closed form where one exists, otherwise by Gauss–Hermite quadrature, and
//! beside either a seeded Monte Carlo estimate with its standard error.
//!
//! # Closed forms
//! With a = μ/σ, Φ = Φ(a), φ = φ(a) (the moments of the truncated normal, e.g. Johnson, Kotz &
//! Balakrishnan, *Continuous Univariate Distributions* vol. 1, 2nd ed., 1994, §13.10.1):
//!
//! * E\[X·1{X>0}\] = μΦ + σφ,  E\[X²·1{X>0}\] = (μ²+σ²)Φ + μσφ,  P(X > 0) = Φ, and the mirror
//!   images for X < 0 (Φ(−a) in place of Φ, −φ in place of φ).
//! * Every piecewise-linear member is f(x) = k₊x for x > 0, k₋x for x < 0 (ReLU 0/1, Leaky
//!   and PReLU α/1, ReLU+εx ε/1+ε, identity 1/1), so E\[f\] = k₊E\[X;X>0\] + k₋E\[X;X<0\],
//!   E\[f²\] = k₊²E\[X²;X>0\] + k₋²E\[X²;X<0\], E\[f'\] = k₊Φ(a) + k₋Φ(−a) and
//!   P(f' ≠ 0) = [k₊≠0]Φ(a) + [k₋≠0]Φ(−a). For ReLU: E\[ReLU(X)\] = μΦ(μ/σ) + σφ(μ/σ).
//! * GELU, with s = √(1+σ²): E\[Φ(X)\] = Φ(μ/s) and E\[φ(X)\] = φ(μ/s)/s (the product of two
//!   Gaussian densities; Owen 1980, "A table of normal integrals"), so by Stein's lemma
//!   E\[Xg(X)\] = μE\[g(X)\] + σ²E\[g'(X)\]: E\[GELU(X)\] = μΦ(μ/s) + (σ²/s)φ(μ/s), and
//!   E\[GELU'(X)\] = E\[Φ(X)\] + E\[Xφ(X)\] = Φ(μ/s) + μφ(μ/s)/s³. E\[GELU²\] has no elementary form
//!   (it needs the bivariate normal): quadrature.
//! * ELU, from the lognormal partial expectation E\[e^{tX}; X<0\] = e^{tμ+t²σ²/2}Φ(−(μ+tσ²)/σ):
//!   E\[ELU\] = E\[X;X>0\] + α(E\[e^X;X<0\] − Φ(−a)), E\[ELU'\] = Φ(a) + αE\[e^X;X<0\],
//!   E\[ELU²\] = E\[X²;X>0\] + α²(E\[e^{2X};X<0\] − 2E\[e^X;X<0\] + Φ(−a)).
//!
//! For Z ~ N(0, 1) this gives E\[ReLU(Z)\] = 1/√(2π) and E\[GELU(Z)\] = 1/(2√π): their ratio is
//! exactly √2 (the seed document's claim; tested).
//!
//! Everything else (GELU-tanh, sigmoid, tanh, SiLU, softplus, and E\[GELU²\]) uses
//! Gauss–Hermite quadrature with nodes and weights computed here (Golub & Welsch 1969: the
//! eigenvalues of the Jacobi matrix of the Hermite recurrence, by implicit QL), reported with an
//! error estimate (the difference between the 200- and 100-node rules). P(f' ≠ 0) = 1 for the
//! smooth members: their derivatives vanish at isolated points at most.

use super::reference::{normal_cdf, normal_pdf};
use super::Activation;
use crate::error::{Error, Result};
use rand::SeedableRng;
use rand_distr::{Distribution, StandardNormal};
use rayon::prelude::*;
use serde::Serialize;
use std::sync::OnceLock;

/// How an exact value was obtained.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum Method {
    /// A closed-form expression (see the module docs).
    ClosedForm,
    /// Gauss–Hermite quadrature with `nodes` nodes; `error_estimate` is the difference from the
    /// rule with half as many nodes (conservative: it bounds the coarser rule's error).
    Quadrature {
        /// Number of nodes of the reported rule.
        nodes: usize,
        /// |Q(n) − Q(n/2)|.
        error_estimate: f64,
    },
    /// X is a point mass (σ = 0): the functions at μ.
    PointMass,
    /// By analysis: the derivative vanishes at isolated points at most, so P(f' ≠ 0) = 1.
    AlmostEverywhere,
}

/// A value with the method that produced it.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Exact {
    /// The value.
    pub value: f64,
    /// How it was obtained.
    pub method: Method,
}

/// A Monte Carlo estimate: the sample mean and its standard error s/√n.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Estimate {
    /// Sample mean.
    pub value: f64,
    /// Standard error of the mean.
    pub std_err: f64,
}

/// The four statistics, exact (closed form or quadrature).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ExactStats {
    /// E\[f(X)\].
    pub mean: Exact,
    /// E\[f(X)²\].
    pub mean_sq: Exact,
    /// E\[f'(X)\].
    pub mean_prime: Exact,
    /// P(f'(X) ≠ 0).
    pub p_prime_nonzero: Exact,
}

/// The four statistics by Monte Carlo.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct MonteCarlo {
    /// Number of samples.
    pub samples: u64,
    /// Seed of the ChaCha8 streams.
    pub seed: u64,
    /// E\[f(X)\].
    pub mean: Estimate,
    /// E\[f(X)²\].
    pub mean_sq: Estimate,
    /// E\[f'(X)\].
    pub mean_prime: Estimate,
    /// P(f'(X) ≠ 0).
    pub p_prime_nonzero: Estimate,
}

/// Everything `relulab stats` prints.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Stats {
    /// The activation (with parameters).
    pub activation: String,
    /// μ.
    pub mu: f64,
    /// σ.
    pub sigma: f64,
    /// Closed form or quadrature.
    pub exact: ExactStats,
    /// Monte Carlo (absent when 0 samples were asked for).
    pub monte_carlo: Option<MonteCarlo>,
}

/// Largest |μ| and σ accepted: their squares stay finite in f64.
pub const MAX_PARAM: f64 = 1e150;

/// Most Monte Carlo samples accepted (about a minute of work on two cores).
pub const MAX_SAMPLES: u64 = 10_000_000_000;

/// Nodes of the rule reported by [`exact`]; the error estimate compares with half as many.
pub const QUADRATURE_NODES: usize = 200;

fn check(act: &Activation, mu: f64, sigma: f64) -> Result<()> {
    act.validate()?;
    if !mu.is_finite() {
        return Err(Error::Value(format!("mu must be finite, got {mu}")));
    }
    if !(sigma.is_finite() && sigma >= 0.0) {
        return Err(Error::Value(format!(
            "sigma must be finite and ≥ 0, got {sigma}"
        )));
    }
    // μ² + σ² must stay finite for the second moments.
    if mu.abs() > MAX_PARAM || sigma > MAX_PARAM {
        return Err(Error::Value(format!(
            "mu and sigma must lie within ±{MAX_PARAM:e} (their squares must stay finite), got {mu:e}, {sigma:e}"
        )));
    }
    Ok(())
}

/// E\[f(X)\], E\[f(X)²\], E\[f'(X)\], P(f'(X) ≠ 0) for X ~ N(μ, σ²), closed form where one exists.
pub fn exact(act: &Activation, mu: f64, sigma: f64) -> Result<ExactStats> {
    check(act, mu, sigma)?;
    if sigma == 0.0 {
        let (f, d) = (act.f(mu), act.df(mu));
        let pm = |v: f64| Exact {
            value: v,
            method: Method::PointMass,
        };
        return Ok(ExactStats {
            mean: pm(f),
            mean_sq: pm(f * f),
            mean_prime: pm(d),
            p_prime_nonzero: pm(if d != 0.0 { 1.0 } else { 0.0 }),
        });
    }
    let closed = |v: f64| Exact {
        value: v,
        method: Method::ClosedForm,
    };
    let a = mu / sigma;
    let (p_pos, p_neg, phi) = (normal_cdf(a), normal_cdf(-a), normal_pdf(a));
    let m2 = mu * mu + sigma * sigma;
    // Truncated moments: E[X; X>0], E[X; X<0], E[X²; X>0], E[X²; X<0].
    let e1p = mu * p_pos + sigma * phi;
    let e1n = mu * p_neg - sigma * phi;
    let e2p = m2 * p_pos + mu * sigma * phi;
    let e2n = m2 * p_neg - mu * sigma * phi;
    if let Some((kl, kr)) = act.pwl_slopes() {
        let nz = |k: f64| if k != 0.0 { 1.0 } else { 0.0 };
        return Ok(ExactStats {
            mean: closed(kr * e1p + kl * e1n),
            mean_sq: closed(kr * kr * e2p + kl * kl * e2n),
            mean_prime: closed(kr * p_pos + kl * p_neg),
            p_prime_nonzero: closed(nz(kr) * p_pos + nz(kl) * p_neg),
        });
    }
    let ae = Exact {
        value: 1.0,
        method: Method::AlmostEverywhere,
    };
    match *act {
        Activation::Gelu => {
            let s = (1.0 + sigma * sigma).sqrt();
            let b = mu / s;
            Ok(ExactStats {
                mean: closed(mu * normal_cdf(b) + sigma * sigma / s * normal_pdf(b)),
                mean_sq: quadrature(|x| act.f(x).powi(2), mu, sigma),
                mean_prime: closed(normal_cdf(b) + mu * normal_pdf(b) / (s * s * s)),
                p_prime_nonzero: ae,
            })
        }
        Activation::Elu { alpha } => {
            let e1 = lognormal_partial_neg(1.0, mu, sigma);
            let e2 = lognormal_partial_neg(2.0, mu, sigma);
            Ok(ExactStats {
                mean: closed(e1p + alpha * (e1 - p_neg)),
                mean_sq: closed(e2p + alpha * alpha * (e2 - 2.0 * e1 + p_neg)),
                mean_prime: closed(p_pos + alpha * e1),
                p_prime_nonzero: if alpha != 0.0 { ae } else { closed(p_pos) },
            })
        }
        _ => Ok(ExactStats {
            mean: quadrature(|x| act.f(x), mu, sigma),
            mean_sq: quadrature(|x| act.f(x).powi(2), mu, sigma),
            mean_prime: quadrature(|x| act.df(x), mu, sigma),
            p_prime_nonzero: ae,
        }),
    }
}

/// E\[e^{tX}; X < 0\] = e^{tμ + t²σ²/2}·Φ(−(μ + tσ²)/σ), evaluated in logs so neither factor
/// overflows or underflows on its own.
fn lognormal_partial_neg(t: f64, mu: f64, sigma: f64) -> f64 {
    let y = -(mu + t * sigma * sigma) / sigma;
    (t * mu + 0.5 * t * t * sigma * sigma + ln_normal_cdf(y)).exp()
}

/// ln Φ(y), accurate far into the lower tail (asymptotic Mills-ratio series below −30,
/// Abramowitz & Stegun 26.2.12).
pub fn ln_normal_cdf(y: f64) -> f64 {
    if y > -30.0 {
        normal_cdf(y).ln()
    } else {
        let r = 1.0 / (y * y);
        let series = 1.0 - r + 3.0 * r * r - 15.0 * r * r * r + 105.0 * r * r * r * r;
        -0.5 * y * y - (-y * (2.0 * std::f64::consts::PI).sqrt()).ln() + series.ln()
    }
}

/// Gauss–Hermite nodes xᵢ and weights wᵢ for ∫ e^{−x²} g(x) dx ≈ Σ wᵢ g(xᵢ) (physicists'
/// convention), ascending nodes. Golub & Welsch (1969): the nodes are the eigenvalues of the
/// symmetric tridiagonal Jacobi matrix with zero diagonal and off-diagonal √(k/2), k = 1..n−1;
/// wᵢ = √π·vᵢ₀² with vᵢ the normalized eigenvectors. Eigenvalues by the implicit QL method
/// with Wilkinson shifts, tracking only the first component of each eigenvector.
pub fn gauss_hermite(n: usize) -> (Vec<f64>, Vec<f64>) {
    assert!(n >= 1, "gauss_hermite: n must be ≥ 1");
    let mut d = vec![0.0f64; n];
    let mut e: Vec<f64> = (1..n).map(|k| (k as f64 / 2.0).sqrt()).collect();
    e.push(0.0);
    // z[i]: first component of eigenvector i (the rotations act on columns; row 0 suffices).
    let mut z = vec![0.0f64; n];
    z[0] = 1.0;
    for l in 0..n {
        let mut iter = 0;
        loop {
            let mut m = l;
            while m + 1 < n {
                let dd = d[m].abs() + d[m + 1].abs();
                if e[m].abs() <= f64::EPSILON * dd {
                    break;
                }
                m += 1;
            }
            if m == l {
                break;
            }
            iter += 1;
            assert!(iter < 100, "gauss_hermite: QL did not converge");
            let mut g = (d[l + 1] - d[l]) / (2.0 * e[l]);
            let mut r = g.hypot(1.0);
            g = d[m] - d[l] + e[l] / (g + r.copysign(g));
            let (mut s, mut c, mut p) = (1.0f64, 1.0f64, 0.0f64);
            let mut i = m;
            let mut early = false;
            while i > l {
                i -= 1;
                let f = s * e[i];
                let b = c * e[i];
                r = f.hypot(g);
                e[i + 1] = r;
                if r == 0.0 {
                    d[i + 1] -= p;
                    e[m] = 0.0;
                    early = true;
                    break;
                }
                s = f / r;
                c = g / r;
                g = d[i + 1] - p;
                r = (d[i] - g) * s + 2.0 * c * b;
                p = s * r;
                d[i + 1] = g + p;
                g = c * r - b;
                let zf = z[i + 1];
                z[i + 1] = s * z[i] + c * zf;
                z[i] = c * z[i] - s * zf;
            }
            if early {
                continue;
            }
            d[l] -= p;
            e[l] = g;
            e[m] = 0.0;
        }
    }
    let sqrt_pi = std::f64::consts::PI.sqrt();
    let mut pairs: Vec<(f64, f64)> = d
        .into_iter()
        .zip(z)
        .map(|(x, v)| (x, sqrt_pi * v * v))
        .collect();
    pairs.sort_by(|a, b| a.0.total_cmp(&b.0));
    pairs.into_iter().unzip()
}

fn cached_rule(n: usize) -> &'static (Vec<f64>, Vec<f64>) {
    static R1: OnceLock<(Vec<f64>, Vec<f64>)> = OnceLock::new();
    static R2: OnceLock<(Vec<f64>, Vec<f64>)> = OnceLock::new();
    match n {
        QUADRATURE_NODES => R1.get_or_init(|| gauss_hermite(QUADRATURE_NODES)),
        _ => R2.get_or_init(|| gauss_hermite(QUADRATURE_NODES / 2)),
    }
}

/// E\[g(X)\], X ~ N(μ, σ²), by the n-node Gauss–Hermite rule:
/// (1/√π) Σ wᵢ g(μ + √2·σ·xᵢ).
pub fn expect_gauss_hermite(g: impl Fn(f64) -> f64, mu: f64, sigma: f64, n: usize) -> f64 {
    let owned;
    let (x, w) = if n == QUADRATURE_NODES || n == QUADRATURE_NODES / 2 {
        cached_rule(n)
    } else {
        owned = gauss_hermite(n);
        &owned
    };
    let s = std::f64::consts::SQRT_2 * sigma;
    let sum: f64 = x.iter().zip(w).map(|(&xi, &wi)| wi * g(mu + s * xi)).sum();
    sum / std::f64::consts::PI.sqrt()
}

fn quadrature(g: impl Fn(f64) -> f64, mu: f64, sigma: f64) -> Exact {
    let q = expect_gauss_hermite(&g, mu, sigma, QUADRATURE_NODES);
    let q_half = expect_gauss_hermite(&g, mu, sigma, QUADRATURE_NODES / 2);
    Exact {
        value: q,
        method: Method::Quadrature {
            nodes: QUADRATURE_NODES,
            error_estimate: (q - q_half).abs(),
        },
    }
}

/// Samples per Monte Carlo block: each block draws from its own ChaCha8 stream (stream index
/// = block index), and block sums are added in order, so the estimate is the same bits for any
/// thread count.
pub const MC_BLOCK: u64 = 1 << 16;

/// Monte Carlo estimates of the four statistics from `samples` draws, seeded.
pub fn monte_carlo(
    act: &Activation,
    mu: f64,
    sigma: f64,
    samples: u64,
    seed: u64,
) -> Result<MonteCarlo> {
    check(act, mu, sigma)?;
    if samples > MAX_SAMPLES {
        return Err(Error::Value(format!(
            "samples must be at most {MAX_SAMPLES}, got {samples}"
        )));
    }
    if samples < 2 {
        return Err(Error::Value(format!(
            "samples must be at least 2 for a standard error, got {samples}"
        )));
    }
    let blocks = samples.div_ceil(MC_BLOCK);
    // Sums are taken of v − c with c the value at μ (a shift that keeps Σ(v−c)² free of the
    // cancellation Σv² − n·mean² suffers when |mean| ≫ spread).
    let (f0, d0) = (act.f(mu), act.df(mu));
    let shift = [f0, f0 * f0, d0, if d0 != 0.0 { 1.0 } else { 0.0 }];
    // Per block: Σ(v−c) and Σ(v−c)² for f, f², f', 1{f'≠0}.
    let sums: Vec<[f64; 8]> = (0..blocks)
        .into_par_iter()
        .map(|b| {
            let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
            rng.set_stream(b);
            let n = MC_BLOCK.min(samples - b * MC_BLOCK);
            let mut s = [0.0f64; 8];
            for _ in 0..n {
                let z: f64 = StandardNormal.sample(&mut rng);
                let x = mu + sigma * z;
                let f = act.f(x);
                let d = act.df(x);
                let vals = [f, f * f, d, if d != 0.0 { 1.0 } else { 0.0 }];
                for (k, v) in vals.into_iter().enumerate() {
                    let u = v - shift[k];
                    s[2 * k] += u;
                    s[2 * k + 1] += u * u;
                }
            }
            s
        })
        .collect();
    let mut tot = [0.0f64; 8];
    for s in &sums {
        for k in 0..8 {
            tot[k] += s[k];
        }
    }
    let n = samples as f64;
    let est = |k: usize| {
        let m = tot[2 * k] / n; // mean of v − c
        let var = ((tot[2 * k + 1] - n * m * m) / (n - 1.0)).max(0.0);
        Estimate {
            value: shift[k] + m,
            std_err: (var / n).sqrt(),
        }
    };
    Ok(MonteCarlo {
        samples,
        seed,
        mean: est(0),
        mean_sq: est(1),
        mean_prime: est(2),
        p_prime_nonzero: est(3),
    })
}

/// [`exact`] and, if `samples > 0`, [`monte_carlo`] together.
pub fn stats(act: &Activation, mu: f64, sigma: f64, samples: u64, seed: u64) -> Result<Stats> {
    Ok(Stats {
        activation: act.to_string(),
        mu,
        sigma,
        exact: exact(act, mu, sigma)?,
        monte_carlo: if samples > 0 {
            Some(monte_carlo(act, mu, sigma, samples, seed)?)
        } else {
            None
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_rules_match_their_closed_forms() {
        let sp = std::f64::consts::PI.sqrt();
        let (x, w) = gauss_hermite(2);
        let r = std::f64::consts::FRAC_1_SQRT_2;
        assert!((x[0] + r).abs() < 1e-15 && (x[1] - r).abs() < 1e-15);
        assert!((w[0] - sp / 2.0).abs() < 1e-15 && (w[1] - sp / 2.0).abs() < 1e-15);
        let (x, w) = gauss_hermite(3);
        let r = 1.5f64.sqrt();
        assert!((x[0] + r).abs() < 1e-15 && x[1].abs() < 1e-15 && (x[2] - r).abs() < 1e-15);
        assert!((w[1] - 2.0 * sp / 3.0).abs() < 1e-15);
        assert!((w[0] - sp / 6.0).abs() < 1e-15 && (w[2] - sp / 6.0).abs() < 1e-15);
        let (x, w) = gauss_hermite(1);
        assert_eq!(x, vec![0.0]);
        assert!((w[0] - sp).abs() < 1e-15);
    }

    #[test]
    fn rules_integrate_polynomials_exactly() {
        // ∫ x^{2k} e^{−x²} dx = Γ(k + 1/2) = (2k−1)!!·√π / 2^k; odd moments vanish.
        for n in [5usize, 20, 100, 200] {
            let (x, w) = gauss_hermite(n);
            for i in 0..n {
                assert!((x[i] + x[n - 1 - i]).abs() < 1e-12 * x[i].abs().max(1.0));
                assert!(w[i] > 0.0);
            }
            let mut gamma = std::f64::consts::PI.sqrt(); // Γ(1/2)
            for k in 0..n.min(12) {
                let even: f64 = x
                    .iter()
                    .zip(&w)
                    .map(|(&xi, &wi)| wi * xi.powi(2 * k as i32))
                    .sum();
                let odd: f64 = x
                    .iter()
                    .zip(&w)
                    .map(|(&xi, &wi)| wi * xi.powi(2 * k as i32 + 1))
                    .sum();
                if 2 * k < 2 * n {
                    assert!(
                        (even - gamma).abs() <= 1e-12 * gamma,
                        "n={n} k={k}: {even} vs {gamma}"
                    );
                    assert!(
                        odd.abs() <= 1e-12 * gamma.max(1.0),
                        "n={n} odd k={k}: {odd}"
                    );
                }
                gamma *= k as f64 + 0.5;
            }
        }
    }

    #[test]
    fn ln_normal_cdf_joins_smoothly() {
        for y in [-29.999f64, -30.0, -30.001] {
            let direct = normal_cdf(y).ln();
            assert!(
                (ln_normal_cdf(y) - direct).abs() < 1e-9 * direct.abs(),
                "{y}"
            );
        }
        assert!(ln_normal_cdf(-100.0).is_finite());
    }
}
