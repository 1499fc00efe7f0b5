//! Claim 1: E[ReLU(Z)] = 1/√(2π), E[GELU(Z)] = 1/(2√π), ratio √2, for Z ~ N(0, 1).
//!
//! Closed forms: E[max(0, Z)] = ∫₀^∞ z φ(z) dz = φ(0) = 1/√(2π); E[Z Φ(Z)] = E[φ(Z)] (Stein's
//! lemma, E[Z g(Z)] = E[g'(Z)] with g = Φ) = ∫ φ(z)² dz = 1/(2√π). Their ratio is √2.

use super::util::rng;
use super::{Check, Draft};
use crate::activation::Activation;
use rand_distr::{Distribution, StandardNormal};

/// E[f(Z)] by composite Simpson on [−40, 40] (the density is below 1e-300 outside).
fn quadrature(f: impl Fn(f64) -> f64) -> f64 {
    let n = 80_000usize; // even
    let (a, b) = (-40.0f64, 40.0f64);
    let h = (b - a) / n as f64;
    let phi = crate::activation::reference::normal_pdf;
    let g = |x: f64| f(x) * phi(x);
    let mut s = g(a) + g(b);
    for i in 1..n {
        let x = a + i as f64 * h;
        s += if i % 2 == 1 { 4.0 } else { 2.0 } * g(x);
    }
    s * h / 3.0
}

pub(crate) fn claim1(seed: u64) -> Draft {
    let mut d = Draft::new(
        "Gaussian means of ReLU and GELU",
        "For Z ~ N(0,1), E[ReLU(Z)] = 1/√(2π), E[GELU(Z)] = 1/(2√π), and their ratio is exactly √2.",
    );
    let relu = Activation::RELU;
    let gelu = Activation::Gelu;
    let want_relu = 1.0 / (2.0 * std::f64::consts::PI).sqrt();
    let want_gelu = 1.0 / (2.0 * std::f64::consts::PI.sqrt());
    let want_ratio = std::f64::consts::SQRT_2;

    let q_relu = quadrature(|x| relu.f(x));
    let q_gelu = quadrature(|x| gelu.f(x));
    d.check(Check::close(
        "E[ReLU(Z)], quadrature",
        q_relu,
        want_relu,
        1e-10,
    ));
    d.check(Check::close(
        "E[GELU(Z)], quadrature",
        q_gelu,
        want_gelu,
        1e-10,
    ));
    d.check(Check::close(
        "ratio, quadrature",
        q_relu / q_gelu,
        want_ratio,
        1e-9,
    ));

    // The library's own Gaussian statistics (closed forms in activation::gaussian) must agree.
    for (act, want, name) in [(relu, want_relu, "ReLU"), (gelu, want_gelu, "GELU")] {
        let v = crate::activation::gaussian::exact(&act, 0.0, 1.0)
            .map(|e| e.mean.value)
            .unwrap_or(f64::NAN);
        d.check(Check::close(
            format!("E[{name}(Z)], activation::gaussian::exact"),
            v,
            want,
            1e-12,
        ));
    }

    // Monte Carlo with 2·10⁶ draws; tolerance 5 standard errors (estimated from the draws).
    let n = 2_000_000usize;
    let mut r = rng(seed, 1);
    let (mut s1, mut s1q, mut s2, mut s2q) = (0.0f64, 0.0f64, 0.0f64, 0.0f64);
    for _ in 0..n {
        let z: f64 = StandardNormal.sample(&mut r);
        let (a, b) = (relu.f(z), gelu.f(z));
        s1 += a;
        s1q += a * a;
        s2 += b;
        s2q += b * b;
    }
    let nf = n as f64;
    let (m1, m2) = (s1 / nf, s2 / nf);
    let se1 = ((s1q / nf - m1 * m1) / nf).sqrt();
    let se2 = ((s2q / nf - m2 * m2) / nf).sqrt();
    // The two means are positively correlated, so this delta-method bound is conservative.
    let se_ratio = (m1 / m2) * ((se1 / m1).powi(2) + (se2 / m2).powi(2)).sqrt();
    d.check(Check::close(
        "E[ReLU(Z)], Monte Carlo 2e6 draws (±5 s.e.)",
        m1,
        want_relu,
        5.0 * se1,
    ));
    d.check(Check::close(
        "E[GELU(Z)], Monte Carlo 2e6 draws (±5 s.e.)",
        m2,
        want_gelu,
        5.0 * se2,
    ));
    d.check(Check::close(
        "ratio, Monte Carlo (±5 s.e.)",
        m1 / m2,
        want_ratio,
        5.0 * se_ratio,
    ));
    d
}
