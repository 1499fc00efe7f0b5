//! The `relulab` command line: parse, call the library, print. No logic of its own lives here.

use clap::Parser;
use std::process::ExitCode;

mod cli;

fn main() -> ExitCode {
    restore_sigpipe();
    let args = cli::Cli::parse();
    match cli::run(args) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}

/// Rust ignores SIGPIPE, so `println!` into a closed pipe (`relulab train --json | head`)
/// panics. Command-line tools should instead end quietly, as the C tools do: restore the
/// default action.
fn restore_sigpipe() {
    #[cfg(unix)]
    // SAFETY: called first thing in main, before any thread exists; SIG_DFL is a valid action.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}
