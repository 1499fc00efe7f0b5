//! `relulab optimize` (certified optimum of a surrogate), `relulab surrogate` (train one on a
//! CSV with standardised inputs and targets) and `relulab pwl` (economics' piecewise-linear
//! functions as exact ReLU networks). Issue 13.

use anyhow::{bail, Context};
use relulab::optimize::pwl::{self, Leg, Pwl};
use relulab::optimize::spec::{self, parse_bounds, ProblemSpec};
use relulab::optimize::surrogate::{self, FitSpec};
use relulab::optimize::{self as opt, Progress, Solution};
use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

/// Options of `relulab optimize`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// The model: a relulab checkpoint (a surrogate's carries its scaling and training box),
    /// ONNX, or a JSON Mlp.
    model: PathBuf,
    /// Maximise this linear expression of outputs y[i] and inputs x[i] (or column names).
    #[arg(long, allow_hyphen_values = true)]
    maximize: Option<String>,
    /// Minimise this linear expression.
    #[arg(long, allow_hyphen_values = true, conflicts_with = "maximize")]
    minimize: Option<String>,
    /// A linear constraint, e.g. 'y[11] <= 0.34' or '0.1 <= x[0] <= 0.5' (repeatable).
    #[arg(long = "constraint", allow_hyphen_values = true)]
    constraints: Vec<String>,
    /// Input box LO:HI,LO:HI,… (default: the training data's box recorded in the checkpoint).
    #[arg(long, allow_hyphen_values = true)]
    input_bounds: Option<String>,
    /// A TOML problem file (maximize/minimize, constraints, input_bounds, gap_abs, gap_rel,
    /// time_limit); command-line values override it.
    #[arg(long, value_name = "FILE")]
    problem: Option<PathBuf>,
    /// Stop when incumbent and bound are this close (absolute).
    #[arg(long)]
    gap_abs: Option<f64>,
    /// Stop when incumbent and bound are this close (relative to the incumbent).
    #[arg(long)]
    gap_rel: Option<f64>,
    /// Time limit in seconds.
    #[arg(long)]
    time_limit: Option<f64>,
    /// Enumerate the linear regions instead (1 or 2 inputs): the exact optimum.
    #[arg(long)]
    exact: bool,
    /// Branching: `input` (halve the input box), `relu` (split unstable ReLUs, β-CROWN-style)
    /// or `auto` (input for at most 16 inputs, relu above, as `relulab verify` chooses).
    #[arg(long, default_value = "auto", value_parser = ["auto", "input", "relu"])]
    strategy: String,
    /// Draw the objective, feasible region and optimum (2 inputs; .svg or .png).
    #[arg(long, value_name = "FILE")]
    plot: Option<PathBuf>,
    /// Worker threads (default: all cores).
    #[arg(long)]
    threads: Option<usize>,
    /// Print the result as JSON.
    #[arg(long)]
    json: bool,
}

/// Run `relulab optimize`.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    super::set_threads(args.threads)?;
    let mut ps = match &args.problem {
        Some(p) => ProblemSpec::load(p)?,
        None => ProblemSpec::default(),
    };
    ps = ps.merge(ProblemSpec {
        maximize: args.maximize.clone(),
        minimize: args.minimize.clone(),
        constraints: args.constraints.clone(),
        input_bounds: args.input_bounds.as_deref().map(parse_bounds).transpose()?,
        gap_abs: args.gap_abs,
        gap_rel: args.gap_rel,
        time_limit: args.time_limit,
    });
    let mut o = ps.options()?;
    o.strategy = opt::Strategy::parse(&args.strategy).expect("clap checked the value");
    let model = surrogate::load(&args.model)?;
    let names = (model.input_names.clone(), model.output_names.clone());
    let problem = spec::build(model, &ps)?;
    if args.plot.is_some() && problem.lo.len() != 2 {
        bail!(
            "--plot needs a model with 2 inputs; this one has {}",
            problem.lo.len()
        );
    }
    let sol = if args.exact {
        opt::solve_exact(&problem)?
    } else {
        let bar = (!args.json && std::io::stderr().is_terminal()).then(|| {
            let b = indicatif::ProgressBar::new_spinner();
            b.enable_steady_tick(Duration::from_millis(200));
            b
        });
        let cb = |p: &Progress| {
            if let Some(b) = &bar {
                b.set_message(format!(
                    "{} domains, {} open, incumbent {}, bound {:.9}",
                    p.nodes,
                    p.open,
                    p.objective.map_or("none".into(), |v| format!("{v:.9}")),
                    p.bound
                ));
            }
        };
        let s = opt::solve(&problem, &o, Some(&cb))?;
        if let Some(b) = bar {
            b.finish_and_clear();
        }
        s
    };
    if let Some(path) = &args.plot {
        opt::picture(&problem, &sol, 120, &names.0)?.save(path)?;
    }
    if args.json {
        let v = opt::report_json(
            &args.model.display().to_string(),
            &names.0,
            &names.1,
            &problem,
            &sol,
        );
        println!("{}", serde_json::to_string_pretty(&v)?);
    } else {
        print_solution(&problem, &sol, &names.1);
    }
    Ok(ExitCode::SUCCESS)
}

fn print_solution(p: &opt::Problem, s: &Solution, out_names: &[String]) {
    let word = match s.sense {
        opt::Sense::Maximize => "maximum",
        opt::Sense::Minimize => "minimum",
    };
    println!(
        "status: {} ({} domains, {:.3} s, method {})",
        s.status.as_str(),
        s.nodes,
        s.seconds,
        s.method
    );
    match (&s.x, s.objective) {
        (Some(x), Some(v)) => {
            println!("{word} found: {v:.10} at x = {x:?}");
            let rel = if s.sense == opt::Sense::Maximize {
                "≤"
            } else {
                "≥"
            };
            println!(
                "bound: optimum {rel} {:.10} (gap {:.3e} absolute, {:.3e} relative)",
                s.bound, s.gap_abs, s.gap_rel
            );
            if let Some(y) = &s.y {
                let shown: Vec<String> = y
                    .iter()
                    .enumerate()
                    .map(|(i, v)| match out_names.get(i) {
                        Some(n) => format!("{n}={v:.6}"),
                        None => format!("y[{i}]={v:.6}"),
                    })
                    .collect();
                println!("outputs: {}", shown.join(" "));
            }
            for c in &p.constraints {
                let y = s.y.as_deref().unwrap_or(&[]);
                println!(
                    "constraint {}: value {:.3e} (≤ 0 holds)",
                    c.text,
                    c.lin.value(x, y)
                );
            }
        }
        _ => {
            if s.status == opt::Status::Infeasible {
                println!("infeasible: every domain of the box was proved to violate a constraint");
            } else {
                println!("no feasible point found; bound {:.10}", s.bound);
            }
        }
    }
}

/// Options of `relulab surrogate`.
#[derive(clap::Args, Debug)]
pub struct SurrogateArgs {
    /// CSV file with a header line.
    #[arg(long, value_name = "FILE")]
    data: PathBuf,
    /// Input columns: indices, ranges a-b or names, comma-separated.
    #[arg(long)]
    inputs: String,
    /// Output columns.
    #[arg(long)]
    outputs: String,
    /// Hidden widths, e.g. 10,10,10,10.
    #[arg(long, default_value = "10,10,10,10", value_delimiter = ',')]
    hidden: Vec<usize>,
    /// Epochs.
    #[arg(long, default_value_t = 100)]
    epochs: usize,
    /// Adam learning rate.
    #[arg(long, default_value_t = 1e-3)]
    lr: f64,
    /// Minibatch size.
    #[arg(long, default_value_t = 32)]
    batch_size: usize,
    /// Seed.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Where the checkpoint goes (written atomically).
    #[arg(long, value_name = "FILE")]
    out: PathBuf,
}

/// Run `relulab surrogate`.
pub fn run_surrogate(a: SurrogateArgs) -> anyhow::Result<ExitCode> {
    let t = surrogate::read_table(&a.data)?;
    let ic = surrogate::columns(&a.inputs, &t.names)?;
    let oc = surrogate::columns(&a.outputs, &t.names)?;
    let x: Vec<Vec<f64>> = t
        .rows
        .iter()
        .map(|r| ic.iter().map(|&i| r[i]).collect())
        .collect();
    let y: Vec<Vec<f64>> = t
        .rows
        .iter()
        .map(|r| oc.iter().map(|&i| r[i]).collect())
        .collect();
    let names = |c: &[usize]| c.iter().map(|&i| t.names[i].replace(' ', "_")).collect();
    let spec = FitSpec {
        hidden: a.hidden.clone(),
        epochs: a.epochs,
        lr: a.lr,
        batch_size: a.batch_size,
        seed: a.seed,
        ..FitSpec::default()
    };
    let (mlp, meta, mse) = surrogate::fit(&x, &y, names(&ic), names(&oc), &spec)?;
    surrogate::save(&a.out, &mlp, &meta)?;
    println!(
        "trained {} → {:?} → {} on {} rows; training MSE (standardised) {mse:.3e}; saved {}",
        ic.len(),
        a.hidden,
        oc.len(),
        x.len(),
        a.out.display()
    );
    println!("inputs: {}", meta.input_names.join(", "));
    println!("outputs: {}", meta.output_names.join(", "));
    Ok(ExitCode::SUCCESS)
}

/// Options of `relulab pwl`.
#[derive(clap::Args, Debug)]
pub struct PwlArgs {
    /// A call leg STRIKE[:QTY] (repeatable; negative QTY: written).
    #[arg(long, allow_hyphen_values = true)]
    call: Vec<String>,
    /// A put leg STRIKE[:QTY] (repeatable).
    #[arg(long, allow_hyphen_values = true)]
    put: Vec<String>,
    /// A progressive tax: THRESHOLD:RATE,THRESHOLD:RATE,…
    #[arg(long, allow_hyphen_values = true)]
    tax: Option<String>,
    /// A collar FLOOR:CAP (min(max(x, floor), cap)).
    #[arg(long, allow_hyphen_values = true)]
    collar: Option<String>,
    /// A general function: breakpoints B1,B2,… (with --slopes and --value-at-zero).
    #[arg(long, allow_hyphen_values = true, value_delimiter = ',')]
    breakpoints: Vec<f64>,
    /// Slopes S0,…,SK (K+1 of them).
    #[arg(long, allow_hyphen_values = true, value_delimiter = ',')]
    slopes: Vec<f64>,
    /// f(0) of a general function.
    #[arg(long, default_value_t = 0.0, allow_hyphen_values = true)]
    value_at_zero: f64,
    /// Save the network as a checkpoint.
    #[arg(long, value_name = "FILE")]
    out: Option<PathBuf>,
    /// Also train a small ReLU net on N noisy samples and report where its kinks landed.
    #[arg(long, value_name = "N")]
    learn: Option<usize>,
    /// Noise standard deviation of the samples, relative to the function's range.
    #[arg(long, default_value_t = 0.01)]
    noise: f64,
    /// Seed of samples and training.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

fn pair(s: &str, what: &str, default_second: Option<f64>) -> anyhow::Result<(f64, f64)> {
    let num = |t: &str| -> anyhow::Result<f64> {
        t.trim()
            .parse::<f64>()
            .ok()
            .filter(|v| v.is_finite())
            .with_context(|| format!("{what} '{s}': '{t}' is not a finite number"))
    };
    match (s.split_once(':'), default_second) {
        (Some((a, b)), _) => Ok((num(a)?, num(b)?)),
        (None, Some(d)) => Ok((num(s)?, d)),
        (None, None) => bail!("{what} '{s}': expected A:B"),
    }
}

/// Run `relulab pwl`.
pub fn run_pwl(a: PwlArgs) -> anyhow::Result<ExitCode> {
    let kinds = [
        !a.call.is_empty() || !a.put.is_empty(),
        a.tax.is_some(),
        a.collar.is_some(),
        !a.breakpoints.is_empty() || !a.slopes.is_empty(),
    ];
    if kinds.iter().filter(|k| **k).count() != 1 {
        bail!(
            "give one function: --call/--put legs, --tax, --collar, or --breakpoints with --slopes"
        );
    }
    let (f, what) = if kinds[0] {
        let mut legs = Vec::new();
        for c in &a.call {
            let (k, q) = pair(c, "--call", Some(1.0))?;
            legs.push(Leg::Call { strike: k, qty: q });
        }
        for p in &a.put {
            let (k, q) = pair(p, "--put", Some(1.0))?;
            legs.push(Leg::Put { strike: k, qty: q });
        }
        (Pwl::portfolio(&legs)?, "option portfolio payoff")
    } else if let Some(t) = &a.tax {
        let br = t
            .split(',')
            .map(|p| pair(p, "--tax", None))
            .collect::<anyhow::Result<Vec<_>>>()?;
        (Pwl::tax(&br)?, "progressive tax")
    } else if let Some(c) = &a.collar {
        let (fl, cap) = pair(c, "--collar", None)?;
        (Pwl::collar(fl, cap)?, "collar")
    } else {
        (
            Pwl::new(a.breakpoints.clone(), a.slopes.clone(), a.value_at_zero)?,
            "piecewise-linear function",
        )
    };
    let mlp = f.to_mlp()?;
    let (lo, hi) = pwl::window(&f);
    let ks = pwl::kinks(&mlp, lo, hi, 1e-9)?;
    let max_dev = ks
        .iter()
        .zip(&f.breakpoints)
        .map(|(k, b)| (k.x - b).abs())
        .fold(0.0f64, f64::max);
    if let Some(p) = &a.out {
        relulab::io::checkpoint::save_checkpoint(p, &mlp)?;
    }
    let learned = match a.learn {
        Some(n) => Some(pwl::learn_kinks(&f, n, a.noise, a.seed)?),
        None => None,
    };
    if a.json {
        let v = serde_json::json!({
            "function": f,
            "hidden_units": mlp.layers[0].out_dim,
            "kinks": ks,
            "kinks_match_breakpoints": ks.len() == f.breakpoints.len(),
            "max_kink_deviation": max_dev,
            "learned": learned,
        });
        println!("{}", serde_json::to_string_pretty(&v)?);
        return Ok(ExitCode::SUCCESS);
    }
    println!(
        "{what}: breakpoints {:?}, slopes {:?}, f(0) = {}",
        f.breakpoints, f.slopes, f.value_at_zero
    );
    println!(
        "exact network: 1 → {} ReLU → 1; regions engine on [{lo}, {hi}]: {} kink(s) at {:?} (largest distance to a breakpoint {max_dev:.1e})",
        mlp.layers[0].out_dim,
        ks.len(),
        ks.iter().map(|k| k.x).collect::<Vec<_>>()
    );
    if let Some(p) = &a.out {
        println!("saved {}", p.display());
    }
    if let Some(l) = learned {
        println!(
            "learned ({} samples, noise {}, 1 → {} ReLU → 1, test RMSE {:.3e}): {} kink(s) with |slope change| > {:.2e}, {} unmatched",
            l.samples, a.noise, l.hidden, l.rmse, l.kinks.len(), l.min_jump, l.spurious
        );
        for m in &l.matches {
            match (m.learned, m.distance) {
                (Some(x), Some(dist)) => println!(
                    "  breakpoint {:>10} (slope change {:+.4}): learned kink at {x:.4} (off by {dist:.3e}, change {:+.4})",
                    m.truth,
                    m.true_jump,
                    m.learned_jump.unwrap_or(f64::NAN)
                ),
                _ => println!("  breakpoint {:>10}: no learned kink", m.truth),
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
