//! `relulab diagnose`: Activation health of a model on data.

use std::process::ExitCode;

/// Options of `relulab diagnose`.
#[derive(clap::Args, Debug)]
pub struct Args {}

/// Run `relulab diagnose`.
pub fn run(_args: Args) -> anyhow::Result<ExitCode> {
    anyhow::bail!("`relulab diagnose` is not built yet")
}
