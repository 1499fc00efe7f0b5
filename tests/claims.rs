//! Each claim of the seed document is an integration test: the experiment must pass every check
//! against its closed-form expectation (see src/claims/ for the derivations and tolerances).

use relulab::claims::{run_claim, run_claims, ClaimOutcome, CLAIM_COUNT};

fn assert_claim(id: u32) -> ClaimOutcome {
    let o = run_claim(id, 0).expect("claim runs");
    let failed: Vec<_> = o.checks.iter().filter(|c| !c.pass).collect();
    assert!(
        o.pass && failed.is_empty(),
        "claim {id} failed: {failed:#?}"
    );
    assert!(!o.checks.is_empty());
    o
}

fn measured(o: &ClaimOutcome, name_part: &str) -> f64 {
    o.checks
        .iter()
        .find(|c| c.name.contains(name_part))
        .unwrap_or_else(|| panic!("no check named like '{name_part}'"))
        .measured
}

#[test]
fn claim01_gaussian_means() {
    let o = assert_claim(1);
    let q = measured(&o, "E[ReLU(Z)], quadrature");
    assert!((q - 1.0 / (2.0 * std::f64::consts::PI).sqrt()).abs() < 1e-10);
}

#[test]
fn claim02_vanishing_gradients() {
    let o = assert_claim(2);
    let sig = &o
        .series
        .iter()
        .find(|s| s.name.starts_with("sigmoid"))
        .unwrap()
        .y;
    assert!(sig[0] / sig[9] <= 0.25f64.powi(9) * (1.0 + 1e-11));
}

#[test]
fn claim03_piecewise_linear() {
    let o = assert_claim(3);
    assert_eq!(measured(&o, "another activation pattern"), 0.0);
}

#[test]
fn claim04_positive_homogeneity() {
    assert_claim(4);
}

#[test]
fn claim05_half_off() {
    let o = assert_claim(5);
    assert!((measured(&o, "layer 0: fraction") - 0.5).abs() <= 0.01);
}

#[test]
fn claim06_dead_unit() {
    let o = assert_claim(6);
    assert_eq!(measured(&o, "change"), 0.0);
}

#[test]
fn claim07_relu_prime_at_zero() {
    assert_claim(7);
}

#[test]
fn claim08_zero_gradients() {
    let o = assert_claim(8);
    assert_eq!(measured(&o, "Leaky"), 0.0);
}

#[test]
fn claim09_bias_warmup() {
    assert_claim(9);
}

#[test]
fn claim10_learning_rate() {
    assert_claim(10);
}

#[test]
fn claim11_weight_decay() {
    assert_claim(11);
}

#[test]
fn unknown_claim_is_an_error() {
    assert!(run_claim(0, 0).is_err());
    assert!(run_claim(CLAIM_COUNT + 1, 0).is_err());
    assert!(run_claims(&[12], 0).is_err());
}
