//! `relulab verify`: Verify a VNN-LIB property.

use std::process::ExitCode;

/// Options of `relulab verify`.
#[derive(clap::Args, Debug)]
pub struct Args {}

/// Run `relulab verify`.
pub fn run(_args: Args) -> anyhow::Result<ExitCode> {
    anyhow::bail!("`relulab verify` is not built yet")
}
