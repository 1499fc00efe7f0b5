//! `relulab stats`: Gaussian statistics of an activation.

use super::act::{number, params};
use anyhow::Context;
use relulab::activation::gaussian::{self, Exact, Method};
use relulab::activation::table;
use std::process::ExitCode;

/// Options of `relulab stats`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// relu, leaky_relu, prelu, relu_eps, gelu, gelu_tanh, sigmoid, tanh, elu, silu, softplus
    /// (or identity).
    pub name: String,
    /// Mean μ of X ~ N(μ, σ²).
    #[arg(long, default_value = "0", allow_negative_numbers = true)]
    pub mu: String,
    /// Standard deviation σ ≥ 0.
    #[arg(long, default_value = "1", allow_negative_numbers = true)]
    pub sigma: String,
    /// Monte Carlo samples (0: skip Monte Carlo).
    #[arg(long, default_value = "1000000")]
    pub samples: String,
    /// Seed of the Monte Carlo streams (ChaCha8).
    #[arg(long, default_value = "0")]
    pub seed: String,
    /// Leaky ReLU's negative_slope, PReLU's α, ELU's α.
    #[arg(long, allow_negative_numbers = true)]
    pub alpha: Option<String>,
    /// ReLU+εx's ε.
    #[arg(long, allow_negative_numbers = true)]
    pub eps: Option<String>,
    /// Derivative used at exactly x = 0.
    #[arg(long, allow_negative_numbers = true)]
    pub prime_at_zero: Option<String>,
    /// Machine-readable output (the same fields).
    #[arg(long)]
    pub json: bool,
}

fn integer(what: &str, s: &str) -> anyhow::Result<u64> {
    s.trim()
        .parse::<u64>()
        .map_err(|_| anyhow::anyhow!("{what}: '{s}' is not a non-negative integer"))
}

/// Fixed notation for moderate magnitudes, scientific otherwise.
fn num(v: f64) -> String {
    if v == 0.0 || (1e-4..1e6).contains(&v.abs()) {
        format!("{v:.15}")
    } else {
        format!("{v:.12e}")
    }
}

fn method(e: &Exact) -> String {
    match e.method {
        Method::ClosedForm => "closed form".into(),
        Method::Quadrature {
            nodes,
            error_estimate,
        } => format!("Gauss-Hermite {nodes} (±{error_estimate:.1e})"),
        Method::PointMass => "point mass".into(),
        Method::AlmostEverywhere => "f' ≠ 0 a.e.".into(),
    }
}

/// Run `relulab stats`.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let act = table::build(
        &args.name,
        params(&args.alpha, &args.eps, &args.prime_at_zero)?,
    )?;
    let mu = number("--mu", &args.mu)?;
    let sigma = number("--sigma", &args.sigma)?;
    let samples = integer("--samples", &args.samples)?;
    let seed = integer("--seed", &args.seed)?;
    if samples == 1 {
        anyhow::bail!("--samples: 1 sample has no standard error; use 0 (none) or at least 2");
    }
    let st = gaussian::stats(&act, mu, sigma, samples, seed)?;
    if args.json {
        println!("{}", serde_json::to_string(&st).context("JSON output")?);
        return Ok(ExitCode::SUCCESS);
    }
    println!("{act}, X ~ N({mu}, {sigma}²)");
    let mc = st.monte_carlo.as_ref();
    match mc {
        Some(m) => println!(
            "{:<11} {:>20}  {:<28} {:>20} {:>12}",
            "statistic",
            "exact",
            "method",
            format!("Monte Carlo n={}", m.samples),
            "std. error"
        ),
        None => println!("{:<11} {:>20}  {:<28}", "statistic", "exact", "method"),
    }
    let rows = [
        ("E[f(X)]", &st.exact.mean, mc.map(|m| m.mean)),
        ("E[f(X)²]", &st.exact.mean_sq, mc.map(|m| m.mean_sq)),
        ("E[f'(X)]", &st.exact.mean_prime, mc.map(|m| m.mean_prime)),
        (
            "P(f'(X)≠0)",
            &st.exact.p_prime_nonzero,
            mc.map(|m| m.p_prime_nonzero),
        ),
    ];
    for (what, e, m) in rows {
        match m {
            Some(m) => println!(
                "{what:<11} {:>20}  {:<28} {:>20} {:>12.2e}",
                num(e.value),
                method(e),
                num(m.value),
                m.std_err
            ),
            None => println!("{what:<11} {:>20}  {:<28}", num(e.value), method(e)),
        }
    }
    if let Some(m) = mc {
        println!(
            "(seed {}; Monte Carlo is the same for any thread count)",
            m.seed
        );
    }
    Ok(ExitCode::SUCCESS)
}
