//! `relulab eval`: Evaluate a model on data.

use std::process::ExitCode;

/// Options of `relulab eval`.
#[derive(clap::Args, Debug)]
pub struct Args {}

/// Run `relulab eval`.
pub fn run(_args: Args) -> anyhow::Result<ExitCode> {
    anyhow::bail!("`relulab eval` is not built yet")
}
