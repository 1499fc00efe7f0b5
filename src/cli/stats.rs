//! `relulab stats`: Gaussian statistics of an activation.

use std::process::ExitCode;

/// Options of `relulab stats`.
#[derive(clap::Args, Debug)]
pub struct Args {}

/// Run `relulab stats`.
pub fn run(_args: Args) -> anyhow::Result<ExitCode> {
    anyhow::bail!("`relulab stats` is not built yet")
}
