//! `relulab plot`: Draw plots (SVG or PNG).

use std::process::ExitCode;

/// Options of `relulab plot`.
#[derive(clap::Args, Debug)]
pub struct Args {}

/// Run `relulab plot`.
pub fn run(_args: Args) -> anyhow::Result<ExitCode> {
    anyhow::bail!("`relulab plot` is not built yet")
}
