//! `relulab tour`: the main job on built-in defaults.

use relulab::report::tour::{run_tour, TourOptions};
use std::path::PathBuf;
use std::process::ExitCode;

/// Options of `relulab tour`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Output folder for index.html, report.json and plots/.
    #[arg(long, default_value = "relulab-tour")]
    out: PathBuf,
    /// Seed of every random stream.
    #[arg(long, default_value_t = 0)]
    seed: u64,
}

/// Run the tour: print the tables and write the HTML report. Exit 1 when a claim fails.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let outcome = run_tour(&TourOptions {
        seed: args.seed,
        out: args.out,
    })?;
    print!("{}", outcome.text);
    Ok(if outcome.claims.iter().all(|c| c.pass) {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}
