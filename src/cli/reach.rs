//! `relulab reach`: per-step enclosures, safety queries and exact sets of a closed loop.

use anyhow::{bail, Context};
use relulab::activation::Activation;
use relulab::plot::Figure;
use relulab::reach::enclose::{octagon, tightness, ReachOptions};
use relulab::reach::plot::reach_chart;
use relulab::reach::report;
use relulab::reach::safety::{Answer, Query, StateSet};
use relulab::reach::ClosedLoop;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// Options of `relulab reach`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// The plant (TOML: A, B, c, u_min, u_max, initial_box, steps; see README).
    #[arg(long)]
    system: PathBuf,
    /// The controller: relulab checkpoint or PyTorch state_dict (.safetensors, ReLU between
    /// the Linear layers unless --activation says otherwise), or ONNX.
    #[arg(long)]
    controller: PathBuf,
    /// Hidden activation of a state_dict controller.
    #[arg(long, default_value = "relu")]
    activation: String,
    /// Number of steps (default: the plant file's `steps`).
    #[arg(long)]
    steps: Option<usize>,
    /// Uniform parts per state dimension at the start.
    #[arg(long, default_value_t = 1)]
    parts: usize,
    /// Refine the partition until the final step's tightness (against the guiding simulation)
    /// is at most this (0: refine until --time-limit or --max-parts).
    #[arg(long, default_value_t = 0.01)]
    target_error: f64,
    /// Time limit of the refinement (and of safety queries) in seconds.
    #[arg(long, default_value_t = 10.0)]
    time_limit: f64,
    /// Most parts.
    #[arg(long, default_value_t = 65536)]
    max_parts: usize,
    /// α-CROWN iterations (0: CROWN).
    #[arg(long, default_value_t = 0)]
    alpha: usize,
    /// Template: `box`, or `octagon` (adds ±x_i ± x_j).
    #[arg(long, default_value = "box", value_parser = ["box", "octagon"])]
    template: String,
    /// An extra template direction over the state, comma-separated (repeatable).
    #[arg(long, allow_hyphen_values = true)]
    direction: Vec<String>,
    /// States that must never be entered within N steps: 'box = [[lo, hi], ...]' or
    /// 'H = [[...]]; h = [...]' (TOML; inf allowed), or a file holding that.
    #[arg(long, allow_hyphen_values = true)]
    avoid: Option<String>,
    /// A set that must contain x[N] (same syntax as --avoid).
    #[arg(long, allow_hyphen_values = true)]
    reach_goal: Option<String>,
    /// Also compute the exact reachable sets (2-D states).
    #[arg(long)]
    exact: bool,
    /// Simulated trajectories for the true boxes of the report.
    #[arg(long, default_value_t = 1_000_000)]
    true_samples: usize,
    /// Simulated trajectories guiding the refinement.
    #[arg(long, default_value_t = 2000)]
    guide_samples: usize,
    /// Print JSON instead of the table.
    #[arg(long)]
    json: bool,
    /// Draw enclosures over simulated trajectories (.svg or .png).
    #[arg(long)]
    plot: Option<PathBuf>,
    /// The two state coordinates of the plot, e.g. `0,1`.
    #[arg(long, default_value = "0,1")]
    dims: String,
    /// Seed of the simulations and the falsifier.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Worker threads (default: all cores).
    #[arg(long)]
    threads: Option<usize>,
}

fn load_set(spec: &str, name: &str, n: usize) -> anyhow::Result<StateSet> {
    let p = Path::new(spec);
    let text = if p.is_file() {
        std::fs::read_to_string(p).with_context(|| format!("{name}: {}", p.display()))?
    } else {
        spec.to_string()
    };
    Ok(StateSet::parse(&text, name, n)?)
}

/// Load the plant and controller named on the command line.
fn load_loop(system: &Path, controller: &Path, activation: &str) -> anyhow::Result<ClosedLoop> {
    let act = Activation::by_name(activation)
        .with_context(|| format!("--activation '{activation}': unknown activation"))?;
    Ok(relulab::reach::load_loop(system, controller, act)?)
}

/// Run `relulab reach`.
#[allow(clippy::needless_range_loop)]
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    super::set_threads(args.threads)?;
    let Some(time_limit) = relulab::verify::time_limit(args.time_limit, false) else {
        bail!(
            "--time-limit must be a positive number of seconds, at most {:e}",
            relulab::verify::MAX_SECONDS
        );
    };
    if !(args.target_error >= 0.0 && args.target_error.is_finite()) {
        bail!("--target-error must be a finite number ≥ 0");
    }
    if args.parts == 0 {
        bail!("--parts must be at least 1");
    }
    let cl = load_loop(&args.system, &args.controller, &args.activation)?;
    let n = cl.plant.n;
    let steps = args.steps.unwrap_or(cl.plant.steps);
    if steps == 0 {
        bail!("--steps must be at least 1");
    }
    let dims: Vec<usize> = args
        .dims
        .split(',')
        .map(|s| s.trim().parse::<usize>())
        .collect::<Result<_, _>>()
        .ok()
        .filter(|d: &Vec<usize>| d.len() == 2 && d.iter().all(|&i| i < n) && d[0] != d[1])
        .with_context(|| {
            format!(
                "--dims '{}': expected two distinct state indices below {n}",
                args.dims
            )
        })?;
    let mut directions = if args.template == "octagon" {
        octagon(n)
    } else {
        Vec::new()
    };
    for d in &args.direction {
        let v: Vec<f64> = d
            .split(',')
            .map(|s| s.trim().parse::<f64>())
            .collect::<Result<_, _>>()
            .ok()
            .filter(|v: &Vec<f64>| v.len() == n && v.iter().all(|x| x.is_finite()))
            .with_context(|| format!("--direction '{d}': expected {n} finite numbers"))?;
        directions.push(v);
    }
    let query = match (&args.avoid, &args.reach_goal) {
        (Some(_), Some(_)) => bail!("give --avoid or --reach-goal, not both"),
        (Some(s), None) => Some(Query::Avoid(load_set(s, "--avoid", n)?)),
        (None, Some(s)) => Some(Query::ReachGoal(load_set(s, "--reach-goal", n)?)),
        (None, None) => None,
    };
    if let Some(p) = &args.plot {
        relulab::plot::Format::from_path(p)?;
    }
    let opts = ReachOptions {
        steps,
        parts: args.parts,
        target_error: args.target_error,
        time_limit,
        max_parts: args.max_parts,
        alpha_iters: args.alpha,
        directions,
        guide_samples: args.guide_samples,
        seed: args.seed,
        cancel: None,
    };
    let rep = report::run(
        &cl,
        &opts,
        args.true_samples,
        query.as_ref(),
        time_limit,
        args.exact,
    )?;
    let (r, truth, safety, exact) = (&rep.reach, &rep.truth, &rep.safety, &rep.exact);
    let err_n = rep.tightness(steps);
    if args.json {
        println!("{}", rep.to_json());
    } else {
        println!(
            "{:>4}  {:>40}  {:>40}  {:>10}",
            "step", "computed box (lo..hi per state)", "simulated box", "tightness"
        );
        for k in 0..=steps {
            let e = &r.steps[k];
            let fmt = |lo: &[f64], hi: &[f64]| {
                lo.iter()
                    .zip(hi)
                    .map(|(l, h)| format!("[{l:.4}, {h:.4}]"))
                    .collect::<Vec<_>>()
                    .join(" ")
            };
            println!(
                "{:>4}  {:>40}  {:>40}  {:>10.4}",
                k,
                fmt(&e.lo, &e.hi),
                fmt(&truth[k].0, &truth[k].1),
                tightness((&e.lo, &e.hi), (&truth[k].0, &truth[k].1))
            );
        }
        println!(
            "final-step tightness {err_n:.4} ({} true samples + corners); {} parts, {} refinement rounds, {:.3} s",
            args.true_samples,
            r.parts.len(),
            r.rounds,
            r.seconds
        );
        if let Some((a, secs)) = &safety {
            match a {
                Answer::Safe => println!("safe ({secs:.3} s)"),
                Answer::Unsafe {
                    x0,
                    trajectory,
                    step,
                } => {
                    println!("unsafe at step {step} ({secs:.3} s): x0 = {x0:?}");
                    for (k, x) in trajectory.iter().enumerate() {
                        println!("  x[{k}] = {x:?}");
                    }
                }
                Answer::Unknown(why) => println!("unknown: {why} ({secs:.3} s)"),
            }
        }
        if let Some(ex) = &exact {
            for k in 1..=steps {
                let b = ex.bbox(k);
                println!(
                    "exact step {k}: {} pieces, bounding box [{:.4}, {:.4}] x [{:.4}, {:.4}]",
                    ex.steps[k - 1].len(),
                    b[0],
                    b[1],
                    b[2],
                    b[3]
                );
            }
        }
    }
    if let Some(path) = &args.plot {
        let fig = reach_chart(&cl, r, exact.as_ref(), steps, [dims[0], dims[1]], args.seed);
        Figure::single(fig).save(path)?;
        eprintln!("wrote {}", path.display());
    }
    Ok(match safety {
        Some((Answer::Unsafe { .. }, _)) => ExitCode::from(1),
        _ => ExitCode::SUCCESS,
    })
}
