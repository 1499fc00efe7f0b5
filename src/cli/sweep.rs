//! `relulab sweep`: Run many small trainings in parallel.

use std::process::ExitCode;

/// Options of `relulab sweep`.
#[derive(clap::Args, Debug)]
pub struct Args {}

/// Run `relulab sweep`.
pub fn run(_args: Args) -> anyhow::Result<ExitCode> {
    anyhow::bail!("`relulab sweep` is not built yet")
}
