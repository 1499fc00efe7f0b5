//! `relulab bounds`: Output bounds of a network on an input box.

use std::process::ExitCode;

/// Options of `relulab bounds`.
#[derive(clap::Args, Debug)]
pub struct Args {}

/// Run `relulab bounds`.
pub fn run(_args: Args) -> anyhow::Result<ExitCode> {
    anyhow::bail!("`relulab bounds` is not built yet")
}
