//! `relulab regions`: Exact linear regions of a network.

use std::process::ExitCode;

/// Options of `relulab regions`.
#[derive(clap::Args, Debug)]
pub struct Args {}

/// Run `relulab regions`.
pub fn run(_args: Args) -> anyhow::Result<ExitCode> {
    anyhow::bail!("`relulab regions` is not built yet")
}
