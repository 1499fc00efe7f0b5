//! `relulab train`: Train an MLP.

use std::process::ExitCode;

/// Options of `relulab train`.
#[derive(clap::Args, Debug)]
pub struct Args {}

/// Run `relulab train`.
pub fn run(_args: Args) -> anyhow::Result<ExitCode> {
    anyhow::bail!("`relulab train` is not built yet")
}
