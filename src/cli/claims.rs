//! `relulab claims`: Reproduce every claim of the seed document.

use std::process::ExitCode;

/// Options of `relulab claims`.
#[derive(clap::Args, Debug)]
pub struct Args {}

/// Run `relulab claims`.
pub fn run(_args: Args) -> anyhow::Result<ExitCode> {
    anyhow::bail!("`relulab claims` is not built yet")
}
