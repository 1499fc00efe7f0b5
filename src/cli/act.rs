//! `relulab act`: value and derivative of an activation at given points.

use anyhow::Context;
use relulab::activation::{kernels, table, Params};
use serde::Serialize;
use std::process::ExitCode;

/// Options of `relulab act`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// relu, leaky_relu, prelu, relu_eps, gelu, gelu_tanh, sigmoid, tanh, elu, silu, softplus
    /// (or identity).
    pub name: String,
    /// Leaky ReLU's negative_slope (default 0.01), PReLU's α (0.25), ELU's α (1).
    #[arg(long, allow_negative_numbers = true)]
    pub alpha: Option<String>,
    /// ReLU+εx's ε (default 0.01).
    #[arg(long, allow_negative_numbers = true)]
    pub eps: Option<String>,
    /// Derivative used at exactly x = 0 (ReLU: any s in [0, 1], default 0; Leaky ReLU: default
    /// α; ReLU+εx: default ε).
    #[arg(long, allow_negative_numbers = true)]
    pub prime_at_zero: Option<String>,
    /// Evaluate in f32 (the SIMD kernels) or f64 (the reference).
    #[arg(long, default_value = "f64")]
    pub dtype: String,
    /// Points, comma-separated (negative values: `--at=-3,-0.5,0,2`).
    #[arg(long, allow_negative_numbers = true, allow_hyphen_values = true)]
    pub at: String,
    /// Machine-readable output: {"activation": NAME, "points": [{"x", "f", "df"}, ...]}
    /// (NaN and ±∞ become null).
    #[arg(long)]
    pub json: bool,
}

/// Parse one number named `what` (a one-line error otherwise).
pub fn number(what: &str, s: &str) -> anyhow::Result<f64> {
    s.trim()
        .parse::<f64>()
        .map_err(|_| anyhow::anyhow!("{what}: '{s}' is not a number"))
}

/// The activation parameters given as options.
pub fn params(
    alpha: &Option<String>,
    eps: &Option<String>,
    prime_at_zero: &Option<String>,
) -> anyhow::Result<Params> {
    let opt = |what: &str, v: &Option<String>| v.as_deref().map(|s| number(what, s)).transpose();
    Ok(Params {
        alpha: opt("--alpha", alpha)?,
        eps: opt("--eps", eps)?,
        prime_at_zero: opt("--prime-at-zero", prime_at_zero)?,
    })
}

#[derive(Serialize)]
struct Point {
    x: f64,
    f: f64,
    df: f64,
}

#[derive(Serialize)]
struct Output<'a> {
    activation: &'a str,
    points: Vec<Point>,
}

/// Run `relulab act`.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let act = table::build(
        &args.name,
        params(&args.alpha, &args.eps, &args.prime_at_zero)?,
    )?;
    let xs: Vec<f64> = args
        .at
        .split(',')
        .enumerate()
        .map(|(i, s)| number(&format!("--at, item {}", i + 1), s))
        .collect::<anyhow::Result<_>>()?;
    let (f, df): (Vec<f64>, Vec<f64>) = match args.dtype.as_str() {
        "f64" => xs.iter().map(|&x| (act.f(x), act.df(x))).unzip(),
        "f32" => {
            let x32: Vec<f32> = xs.iter().map(|&x| x as f32).collect();
            let mut y = vec![0f32; x32.len()];
            let mut d = vec![0f32; x32.len()];
            kernels::forward(&act, &x32, &mut y);
            kernels::backward(&act, &x32, &vec![1f32; x32.len()], &mut d);
            (
                y.iter().map(|&v| v as f64).collect(),
                d.iter().map(|&v| v as f64).collect(),
            )
        }
        other => anyhow::bail!("--dtype: '{other}' is not f32 or f64"),
    };
    let xs: Vec<f64> = if args.dtype == "f32" {
        xs.iter().map(|&x| x as f32 as f64).collect()
    } else {
        xs
    };
    if args.json {
        let out = Output {
            activation: act.name(),
            points: xs
                .iter()
                .zip(f.iter().zip(&df))
                .map(|(&x, (&f, &df))| Point { x, f, df })
                .collect(),
        };
        println!("{}", serde_json::to_string(&out).context("JSON output")?);
    } else {
        println!("{act} ({})", args.dtype);
        println!("{:>14} {:>24} {:>24}", "x", "f(x)", "f'(x)");
        for ((x, f), d) in xs.iter().zip(&f).zip(&df) {
            if args.dtype == "f32" {
                println!("{:>14} {:>24} {:>24}", x, *f as f32, *d as f32);
            } else {
                println!("{x:>14} {f:>24} {d:>24}");
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
