//! Subcommands. Each lives in its own file with its `Args` and `run`.

use clap::{Parser, Subcommand};
use std::process::ExitCode;

mod act;
mod bounds;
mod certify;
mod claims;
mod diagnose;
mod eval;
mod optimize;
mod plot;
mod reach;
mod regions;
mod stats;
mod sweep;
mod tour;
mod train;
mod verify;

/// relulab: ReLU-family neural networks — activations, training, diagnostics, linear regions,
/// verification.
#[derive(Parser, Debug)]
#[command(name = "relulab", version, about, long_about = None)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// The main job on built-in defaults.
    Tour(tour::Args),
    /// Value and derivative of an activation at given points.
    Act(act::Args),
    /// Gaussian statistics of an activation: E[f(X)], E[f(X)²], E[f'(X)], P(f'(X) ≠ 0).
    Stats(stats::Args),
    /// Draw plots (SVG or PNG).
    Plot(plot::Args),
    /// Train an MLP.
    Train(train::Args),
    /// Evaluate a model on data.
    Eval(eval::Args),
    /// Run many small trainings in parallel.
    Sweep(sweep::Args),
    /// Activation health of a model on data.
    Diagnose(diagnose::Args),
    /// Reproduce every claim of the seed document.
    Claims(claims::Args),
    /// Exact linear regions of a network.
    Regions(regions::Args),
    /// Output bounds of a network on an input box.
    Bounds(bounds::Args),
    /// Verify a VNN-LIB property.
    Verify(verify::Args),
    /// Reachability and safety of a closed loop with a ReLU controller.
    Reach(reach::Args),
    /// Certified optimum of a linear expression of a surrogate's outputs and inputs.
    Optimize(optimize::Args),
    /// Train a regression surrogate (standardised inputs and targets) on a CSV file.
    Surrogate(optimize::SurrogateArgs),
    /// Economics' piecewise-linear functions as exact ReLU networks.
    Pwl(optimize::PwlArgs),
    /// Certified robustness of a classifier: certified / attacked / unknown per sample and ε.
    Certify(certify::Args),
}

/// `--threads N`: the size of rayon's global pool (once per process; `None` keeps rayon's
/// default, `RAYON_NUM_THREADS` or the number of cores).
pub(crate) fn set_threads(t: Option<usize>) -> anyhow::Result<()> {
    if let Some(t) = t {
        if t == 0 {
            anyhow::bail!("--threads must be at least 1");
        }
        rayon::ThreadPoolBuilder::new()
            .num_threads(t)
            .build_global()
            .map_err(|e| anyhow::anyhow!("thread pool: {e}"))?;
    }
    Ok(())
}

/// A model file, whether it is a relulab checkpoint, and then its training state. `activation` is the hidden
/// activation of a PyTorch state_dict (`--activation`); other files go through `load`.
pub(crate) fn load_with_state(
    path: &std::path::Path,
    activation: Option<&str>,
    load: impl Fn(&std::path::Path, Option<relulab::Activation>) -> relulab::Result<relulab::Mlp<f32>>,
) -> anyhow::Result<(
    relulab::Mlp<f32>,
    bool,
    Option<relulab::io::checkpoint::TrainState>,
)> {
    use relulab::io::checkpoint;
    let hidden = activation
        .map(relulab::train::parse_activation)
        .transpose()?;
    if path.extension().is_some_and(|e| e == "safetensors") && checkpoint::is_checkpoint(path)? {
        let ck = checkpoint::load_full(path)?;
        Ok((ck.mlp, true, ck.train))
    } else {
        Ok((load(path, hidden)?, false, None))
    }
}

/// Run the parsed command. `Err` is printed by `main` and exits with code 2.
pub fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Tour(a) => tour::run(a),
        Command::Act(a) => act::run(a),
        Command::Stats(a) => stats::run(a),
        Command::Plot(a) => plot::run(a),
        Command::Train(a) => train::run(a),
        Command::Eval(a) => eval::run(a),
        Command::Sweep(a) => sweep::run(a),
        Command::Diagnose(a) => diagnose::run(a),
        Command::Claims(a) => claims::run(a),
        Command::Regions(a) => regions::run(a),
        Command::Bounds(a) => bounds::run(a),
        Command::Verify(a) => verify::run(a),
        Command::Reach(a) => reach::run(a),
        Command::Optimize(a) => optimize::run(a),
        Command::Surrogate(a) => optimize::run_surrogate(a),
        Command::Pwl(a) => optimize::run_pwl(a),
        Command::Certify(a) => certify::run(a),
    }
}
