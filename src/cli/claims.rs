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
}

/// Run the experiments; exit 1 when any claim fails.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
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
