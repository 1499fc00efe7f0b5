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
    /// Run only these sections (comma-separated ids, any order): activations, claims,
    /// gradient-flow, sparsity-dying, digits, dying-sweep, training, regions, control,
    /// economics, ai-safety.
    #[arg(long, value_delimiter = ',', value_name = "IDS")]
    sections: Vec<String>,
    /// A smaller run when time matters: fewer epochs (digits 5, monitored run 10, regions 10)
    /// and a 50-run dying sweep.
    #[arg(long)]
    quick: bool,
}

/// Run the tour: print the tables and write the HTML report. Exit 1 when a claim fails.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let outcome = run_tour(&TourOptions {
        seed: args.seed,
        out: args.out,
        sections: args.sections,
        quick: args.quick,
    })?;
    print!("{}", outcome.text);
    Ok(if outcome.claims.iter().all(|c| c.pass) {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}
