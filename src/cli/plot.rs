//! `relulab plot`: draw plots (SVG or PNG, by the output's extension). A group of
//! subcommands: `plot activations`; later capabilities add `plot <thing>` here.

use super::act::number;
use relulab::activation::table;
use relulab::plot;
use std::path::PathBuf;
use std::process::ExitCode;

/// Options of `relulab plot`.
#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(subcommand)]
    what: What,
}

#[derive(clap::Subcommand, Debug)]
enum What {
    /// Every activation and its derivative (two panels).
    Activations(ActivationsArgs),
}

/// Options of `relulab plot activations`.
#[derive(clap::Args, Debug)]
struct ActivationsArgs {
    /// Output file: .svg or .png.
    #[arg(long)]
    out: PathBuf,
    /// Left end of the x range.
    #[arg(long, default_value = "-4", allow_negative_numbers = true)]
    from: String,
    /// Right end of the x range.
    #[arg(long, default_value = "4", allow_negative_numbers = true)]
    to: String,
}

/// Run `relulab plot`.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    match args.what {
        What::Activations(a) => {
            plot::Format::from_path(&a.out)?;
            let (lo, hi) = (number("--from", &a.from)?, number("--to", &a.to)?);
            if !(lo.is_finite() && hi.is_finite() && lo < hi) {
                anyhow::bail!("--from/--to: need finite numbers with from < to, got {lo}, {hi}");
            }
            plot::activation_figure(&table::family(), lo, hi, 801).save(&a.out)?;
            eprintln!("wrote {}", a.out.display());
            Ok(ExitCode::SUCCESS)
        }
    }
}
