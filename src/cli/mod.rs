//! Subcommands. Each lives in its own file with its `Args` and `run`.

use clap::{Parser, Subcommand};
use std::process::ExitCode;

mod tour;

/// relulab: ReLU-family neural networks — activations, training, diagnostics, linear regions,
/// verification.
#[derive(Parser, Debug)]
#[command(name = "relulab", version, about, long_about = None)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// The main job on built-in defaults: activation table, statistics, and more.
    Tour(tour::Args),
}

/// Run the parsed command. `Err` is printed by `main` and exits with code 2.
pub fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Tour(a) => tour::run(a),
    }
}
