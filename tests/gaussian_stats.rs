//! Gaussian statistics: the √2 claim, every closed form against an independent composite
//! Simpson integration (split at the kink) and against Gauss–Hermite quadrature, Monte Carlo
//! within a few standard errors, determinism of the seeded estimate, and bad input.

use relulab::activation::gaussian::{self, Method};
use relulab::activation::Activation;

fn family() -> Vec<Activation> {
    relulab::activation::ACTIVATION_NAMES
        .iter()
        .map(|n| Activation::by_name(n).unwrap())
        .chain([
            Activation::leaky(0.3),
            Activation::Elu { alpha: 0.5 },
            Activation::relu_eps(0.2),
        ])
        .collect()
}

/// E[g(X)] by composite Simpson on [μ−14σ, 0] and [0, μ+14σ] (or the whole interval when 0 is
/// outside), 40 000 panels each: independent of both the closed forms and Gauss–Hermite.
fn simpson_expect(g: impl Fn(f64) -> f64, mu: f64, sigma: f64) -> f64 {
    let pdf = |x: f64| {
        let z = (x - mu) / sigma;
        (-0.5 * z * z).exp() / (sigma * (2.0 * std::f64::consts::PI).sqrt())
    };
    let simpson = |a: f64, b: f64| {
        let n = 40_000;
        let h = (b - a) / n as f64;
        // One-sided limits at the ends (the kink's convention at 0 has measure zero).
        let tiny = 1e-12 * (b - a);
        let (a1, b1) = (a + tiny, b - tiny);
        let mut s = g(a1) * pdf(a1) + g(b1) * pdf(b1);
        for i in 1..n {
            let x = a + i as f64 * h;
            s += if i % 2 == 1 { 4.0 } else { 2.0 } * g(x) * pdf(x);
        }
        s * h / 3.0
    };
    let (lo, hi) = (mu - 14.0 * sigma, mu + 14.0 * sigma);
    if lo < 0.0 && hi > 0.0 {
        simpson(lo, 0.0) + simpson(0.0, hi)
    } else {
        simpson(lo, hi)
    }
}

const CASES: [(f64, f64); 5] = [(0.0, 1.0), (0.7, 0.5), (-1.3, 2.0), (2.0, 0.3), (-0.4, 3.0)];

#[test]
fn sqrt2_claim() {
    let relu = gaussian::exact(&Activation::RELU, 0.0, 1.0).unwrap();
    let gelu = gaussian::exact(&Activation::Gelu, 0.0, 1.0).unwrap();
    let pi = std::f64::consts::PI;
    assert_eq!(relu.mean.method, Method::ClosedForm);
    assert_eq!(gelu.mean.method, Method::ClosedForm);
    assert!((relu.mean.value - 1.0 / (2.0 * pi).sqrt()).abs() < 1e-16);
    assert!((gelu.mean.value - 1.0 / (2.0 * pi.sqrt())).abs() < 1e-16);
    let ratio = relu.mean.value / gelu.mean.value;
    assert!(
        (ratio - std::f64::consts::SQRT_2).abs() < 1e-15,
        "ratio {ratio}"
    );
    // The same claim from quadrature and from Monte Carlo, independently.
    let q_relu = gaussian::expect_gauss_hermite(|x| x.max(0.0), 0.0, 1.0, 200);
    let q_gelu = gaussian::expect_gauss_hermite(|x| Activation::Gelu.f(x), 0.0, 1.0, 200);
    assert!((q_gelu - gelu.mean.value).abs() < 1e-14);
    // The kink at 0 slows Gauss–Hermite to algebraic convergence; still close.
    assert!((q_relu - relu.mean.value).abs() < 1e-3, "{q_relu}");
    let mc_r = gaussian::monte_carlo(&Activation::RELU, 0.0, 1.0, 400_000, 1).unwrap();
    let mc_g = gaussian::monte_carlo(&Activation::Gelu, 0.0, 1.0, 400_000, 1).unwrap();
    assert!((mc_r.mean.value - relu.mean.value).abs() < 4.0 * mc_r.mean.std_err);
    assert!((mc_g.mean.value - gelu.mean.value).abs() < 4.0 * mc_g.mean.std_err);
}

#[test]
fn exact_values_match_simpson_integration() {
    for act in family() {
        for (mu, sigma) in CASES {
            let ex = gaussian::exact(&act, mu, sigma).unwrap();
            let checks = [
                ("E[f]", &ex.mean, simpson_expect(|x| act.f(x), mu, sigma)),
                (
                    "E[f²]",
                    &ex.mean_sq,
                    simpson_expect(|x| act.f(x).powi(2), mu, sigma),
                ),
                (
                    "E[f']",
                    &ex.mean_prime,
                    simpson_expect(|x| act.df(x), mu, sigma),
                ),
                (
                    "P(f'≠0)",
                    &ex.p_prime_nonzero,
                    simpson_expect(|x| if act.df(x) != 0.0 { 1.0 } else { 0.0 }, mu, sigma),
                ),
            ];
            for (what, got, want) in checks {
                // Quadrature values carry their own error estimate.
                let est = match got.method {
                    Method::Quadrature { error_estimate, .. } => error_estimate,
                    _ => 0.0,
                };
                let tol = 1e-9 * want.abs().max(1.0) + est;
                assert!(
                    (got.value - want).abs() <= tol,
                    "{act} μ={mu} σ={sigma} {what}: {} ({:?}) vs Simpson {want}",
                    got.value,
                    got.method
                );
            }
        }
    }
}

#[test]
fn closed_forms_match_quadrature_where_the_integrand_is_smooth() {
    // GELU mean and derivative mean, ELU with α = 1 (C¹): Gauss–Hermite converges fast.
    for (mu, sigma) in CASES {
        let g = gaussian::exact(&Activation::Gelu, mu, sigma).unwrap();
        let q = |f: &dyn Fn(f64) -> f64| gaussian::expect_gauss_hermite(f, mu, sigma, 200);
        assert!((g.mean.value - q(&|x| Activation::Gelu.f(x))).abs() < 1e-12);
        assert!((g.mean_prime.value - q(&|x| Activation::Gelu.df(x))).abs() < 1e-12);
        let e = gaussian::exact(&Activation::Elu { alpha: 1.0 }, mu, sigma).unwrap();
        let elu = Activation::Elu { alpha: 1.0 };
        let qe = q(&|x| elu.f(x));
        // f'' jumps at 0: algebraic convergence, so a loose tolerance.
        assert!(
            (e.mean.value - qe).abs() < 1e-3 * sigma,
            "{mu} {sigma}: {} vs {qe}",
            e.mean.value
        );
    }
}

#[test]
fn quadrature_reports_its_error_estimate() {
    let ex = gaussian::exact(&Activation::Sigmoid, 0.3, 1.5).unwrap();
    match ex.mean.method {
        Method::Quadrature {
            nodes,
            error_estimate,
        } => {
            assert_eq!(nodes, gaussian::QUADRATURE_NODES);
            assert!(error_estimate < 1e-12, "{error_estimate}");
        }
        ref m => panic!("expected quadrature, got {m:?}"),
    }
    // σ(x) − ½ is odd: E[σ(Z)] = ½ exactly for μ = 0.
    let ex = gaussian::exact(&Activation::Sigmoid, 0.0, 2.0).unwrap();
    assert!((ex.mean.value - 0.5).abs() < 1e-15);
}

#[test]
fn monte_carlo_within_standard_errors() {
    for act in family() {
        for (mu, sigma) in CASES {
            let ex = gaussian::exact(&act, mu, sigma).unwrap();
            let mc = gaussian::monte_carlo(&act, mu, sigma, 200_000, 42).unwrap();
            for (what, e, m) in [
                ("E[f]", &ex.mean, mc.mean),
                ("E[f²]", &ex.mean_sq, mc.mean_sq),
                ("E[f']", &ex.mean_prime, mc.mean_prime),
                ("P", &ex.p_prime_nonzero, mc.p_prime_nonzero),
            ] {
                // 5 SE (≈ 6e-7 chance per check), plus rounding when the SE is 0.
                let tol = 5.0 * m.std_err + 1e-9;
                assert!(
                    (m.value - e.value).abs() <= tol,
                    "{act} μ={mu} σ={sigma} {what}: MC {} ± {} vs {}",
                    m.value,
                    m.std_err,
                    e.value
                );
            }
        }
    }
}

#[test]
fn monte_carlo_is_seeded_and_thread_independent() {
    let run = |threads: usize, seed: u64| {
        rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap()
            .install(|| gaussian::monte_carlo(&Activation::Gelu, 0.1, 1.2, 300_000, seed).unwrap())
    };
    let a = run(1, 9);
    let b = run(3, 9);
    assert_eq!(a.mean.value.to_bits(), b.mean.value.to_bits());
    assert_eq!(a.mean_sq.std_err.to_bits(), b.mean_sq.std_err.to_bits());
    let c = run(2, 10);
    assert_ne!(a.mean.value, c.mean.value);
    // A large mean does not swamp the spread: GELU(X) ≈ X for μ = 1e8, σ = 3, so the standard
    // error of E[f] is σ/√n.
    let far = gaussian::monte_carlo(&Activation::Gelu, 1e8, 3.0, 10_000, 4).unwrap();
    let want = 3.0 / 100.0;
    assert!(
        (far.mean.std_err / want - 1.0).abs() < 0.05,
        "{}",
        far.mean.std_err
    );
    // The standard error shrinks like 1/√n.
    let small = gaussian::monte_carlo(&Activation::RELU, 0.0, 1.0, 10_000, 3).unwrap();
    let large = gaussian::monte_carlo(&Activation::RELU, 0.0, 1.0, 1_000_000, 3).unwrap();
    let ratio = small.mean.std_err / large.mean.std_err;
    assert!((ratio - 10.0).abs() < 1.0, "SE ratio {ratio}");
}

#[test]
fn point_mass_and_bad_input() {
    let ex = gaussian::exact(&Activation::RELU, -1.0, 0.0).unwrap();
    assert_eq!(ex.mean.method, Method::PointMass);
    assert_eq!(ex.mean.value, 0.0);
    assert_eq!(ex.p_prime_nonzero.value, 0.0);
    let ex = gaussian::exact(&Activation::Gelu, 2.0, 0.0).unwrap();
    assert_eq!(ex.mean.value, Activation::Gelu.f(2.0));
    assert!(gaussian::exact(&Activation::RELU, 0.0, -1.0).is_err());
    assert!(gaussian::exact(&Activation::RELU, f64::NAN, 1.0).is_err());
    assert!(gaussian::exact(&Activation::RELU, 0.0, f64::INFINITY).is_err());
    assert!(gaussian::monte_carlo(&Activation::RELU, 0.0, 1.0, 1, 0).is_err());
    assert!(gaussian::monte_carlo(&Activation::RELU, 0.0, 1.0, u64::MAX, 0).is_err());
    assert!(gaussian::exact(&Activation::RELU, 0.0, 1e300).is_err());
    assert!(gaussian::exact(&Activation::RELU, -1e200, 1.0).is_err());
    assert!(gaussian::exact(&Activation::Relu { prime_at_zero: 2.0 }, 0.0, 1.0).is_err());
    // Far parameters stay finite (ELU's lognormal terms are evaluated in logs).
    let ex = gaussian::exact(&Activation::Elu { alpha: 1.0 }, 0.0, 60.0).unwrap();
    assert!(ex.mean.value.is_finite() && ex.mean_sq.value.is_finite());
    let q = simpson_expect(|x| Activation::Elu { alpha: 1.0 }.f(x), 0.0, 60.0);
    assert!(
        (ex.mean.value - q).abs() < 1e-6 * q.abs(),
        "{} vs {q}",
        ex.mean.value
    );
}
