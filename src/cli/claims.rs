//! `relulab claims`: reproduce every claim of the seed document.

use relulab::claims::{format_outcomes, run_claims, CLAIM_COUNT};
use std::process::ExitCode;

/// Options of `relulab claims`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Print the outcomes as JSON instead of a table.
    #[arg(long)]
    json: bool,
    /// Run only these claims (1 to 11; repeat or separate by commas). Default: all.
    #[arg(long, value_delimiter = ',')]
    only: Vec<u32>,
    /// Seed of every random stream.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Instead of the claims: Lu et al. 2019's dying sweep (depth-10 width-2 ReLU nets fitting
    /// |x|, Adam): fraction born dead and collapsed, He versus RAI initialisation.
    #[arg(long)]
    dying_sweep: bool,
    /// Runs per initialisation of --dying-sweep.
    #[arg(long, default_value_t = 1000)]
    runs: usize,
    /// Threads of --dying-sweep (default: all cores).
    #[arg(long)]
    threads: Option<usize>,
}

fn dying_sweep(args: &Args) -> anyhow::Result<ExitCode> {
    use relulab::net::Init;
    use relulab::remedy::lu::{dying_sweep, DyingSweep};
    if args.runs == 0 {
        anyhow::bail!("--runs must be ≥ 1");
    }
    let cfg = DyingSweep {
        runs: args.runs,
        seed: args.seed,
        ..Default::default()
    };
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(args.threads.unwrap_or(0))
        .build()?;
    let outcomes: Vec<_> = [Init::HeNormal, Init::Rai { sigma2: 1.0 }]
        .into_iter()
        .map(|init| pool.install(|| dying_sweep(&cfg, init)))
        .collect();
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(
                &serde_json::json!({"setting": cfg, "outcomes": outcomes})
            )?
        );
    } else {
        println!(
            "Lu et al. 2019 dying sweep: {} runs per init, widths 1-{}x{}-1 ReLU, |x| on [-√3, √3], \
             {} points, Adam lr {}, {} steps",
            cfg.runs, cfg.width, cfg.depth, cfg.points, cfg.lr, cfg.steps
        );
        println!(
            "{:<10} {:>11} {:>11} {:>14} {:>10} {:>8}",
            "init", "born dead", "collapsed", "s per run", "wall s", "threads"
        );
        for o in &outcomes {
            println!(
                "{:<10} {:>10.1}% {:>10.1}% {:>14.5} {:>10.2} {:>8}",
                o.init,
                100.0 * o.born_dead_fraction,
                100.0 * o.collapsed_fraction,
                o.seconds_per_run,
                o.wall_seconds,
                o.threads
            );
        }
        println!("Lu et al. report more than 90% collapse for He initialisation at this size.");
    }
    Ok(ExitCode::SUCCESS)
}

/// Run the experiments; exit 1 when any claim fails.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    if args.dying_sweep {
        return dying_sweep(&args);
    }
    if let Some(bad) = args.only.iter().find(|&&i| i == 0 || i > CLAIM_COUNT) {
        anyhow::bail!("--only: claim {bad} does not exist; claims are numbered 1 to {CLAIM_COUNT}");
    }
    let start = std::time::Instant::now();
    let outcomes = run_claims(&args.only, args.seed)?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&outcomes)?);
    } else {
        print!("{}", format_outcomes(&outcomes));
        println!("wall time {:.2} s", start.elapsed().as_secs_f64());
    }
    Ok(if outcomes.iter().all(|o| o.pass) {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}
