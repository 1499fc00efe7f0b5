//! `relulab act`: Value and derivative of an activation at given points.

use std::process::ExitCode;

/// Options of `relulab act`.
#[derive(clap::Args, Debug)]
pub struct Args {}

/// Run `relulab act`.
pub fn run(_args: Args) -> anyhow::Result<ExitCode> {
    anyhow::bail!("`relulab act` is not built yet")
}
