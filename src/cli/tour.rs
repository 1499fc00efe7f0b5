//! `relulab tour`: the main job on built-in defaults.

use relulab::activation::{Activation, ACTIVATION_NAMES};
use std::process::ExitCode;

/// Options of `relulab tour`.
#[derive(clap::Args, Debug)]
pub struct Args {}

/// Print the activation table.
pub fn run(_args: Args) -> anyhow::Result<ExitCode> {
    println!("Activation family: f(x) and f'(x)");
    let xs = [-2.0, -0.5, 0.0, 0.5, 2.0];
    print!("{:<12}", "name");
    for x in xs {
        print!("{:>18}", format!("x={x}"));
    }
    println!();
    for name in ACTIVATION_NAMES {
        let act = Activation::by_name(name).expect("listed names parse");
        print!("{:<12}", name);
        for x in xs {
            print!("{:>18}", format!("{:.4}/{:.4}", act.f(x), act.df(x)));
        }
        println!();
    }
    Ok(ExitCode::SUCCESS)
}
