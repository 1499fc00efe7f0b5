//! `relulab sweep`: Run many small trainings in parallel.

use super::train::Opts;
use anyhow::Context;
use relulab::io::checkpoint::write_atomic;
use relulab::train::sweep::{parse_shard, SweepSpec};
use std::path::PathBuf;
use std::process::ExitCode;

/// Options of `relulab sweep`: the base run takes the `relulab train` flags that set a run's
/// fields (the per-run loop flags --save-every, --monitor, --redo-every, --swap-activation,
/// --dormant-tau and --regions-* are refused; --json is implied; --quiet drops the failure summary); `--config`
/// is a sweep file (`seeds = [...]`, `[base]` run fields, `[grid]` field = [values]).
#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(flatten)]
    base: Box<Opts>,
    /// Vary a run field: KEY=V1,V2,... (values as JSON where they parse, else strings; use ';'
    /// between values that contain commas, e.g. 'hidden=[16,16];[32,32]'). Repeatable.
    #[arg(long, value_name = "KEY=VALUES")]
    grid: Vec<String>,
    /// Seeds: A..B (B excluded) or a list 0,1,2.
    #[arg(long)]
    seeds: Option<String>,
    /// Run only shard I of N (runs with index mod N = I), e.g. --shard 0/4.
    #[arg(long, default_value = "0/1")]
    shard: String,
    /// Parallel runs (default: all cores).
    #[arg(long)]
    jobs: Option<usize>,
    /// Write the JSON lines to this file (atomically) instead of stdout.
    #[arg(long, value_name = "FILE.jsonl")]
    out: Option<PathBuf>,
    /// Print the number of runs and exit.
    #[arg(long)]
    count: bool,
}

fn parse_seeds(s: &str) -> anyhow::Result<Vec<u64>> {
    if let Some((a, b)) = s.split_once("..") {
        let (a, b): (u64, u64) = (
            a.trim().parse().with_context(|| format!("--seeds {s}"))?,
            b.trim().parse().with_context(|| format!("--seeds {s}"))?,
        );
        anyhow::ensure!(a < b, "--seeds {s}: empty range");
        return Ok((a..b).collect());
    }
    s.split(',')
        .map(|t| {
            t.trim()
                .parse::<u64>()
                .with_context(|| format!("--seeds {s}: '{t}' is not a seed"))
        })
        .collect()
}

fn parse_axis(s: &str) -> anyhow::Result<(String, Vec<serde_json::Value>)> {
    let (k, vals) = s
        .split_once('=')
        .with_context(|| format!("--grid {s}: expected KEY=V1,V2,..."))?;
    let sep = if vals.contains(';') { ';' } else { ',' };
    let values = vals
        .split(sep)
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .map(|v| serde_json::from_str(v).unwrap_or_else(|_| serde_json::Value::String(v.into())))
        .collect::<Vec<_>>();
    anyhow::ensure!(!values.is_empty(), "--grid {s}: no values");
    Ok((k.trim().to_string(), values))
}

/// Run `relulab sweep`.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let o = &args.base;
    anyhow::ensure!(
        o.model_in.is_none()
            && o.resume.is_none()
            && o.model_out.is_none()
            && o.state_dict_out.is_none(),
        "sweep runs keep no models: --model-in, --resume, --model-out and --state-dict-out \
         belong to `relulab train`"
    );
    // Flags of `relulab train` that act on one run's loop, not on its spec: refuse them rather
    // than ignore them. (--json is accepted: a sweep always writes JSON lines.)
    let loop_only = [
        ("--save-every", o.save_every > 0),
        ("--monitor", o.monitor),
        ("--redo-every", o.redo_every.is_some()),
        ("--swap-activation", o.swap_activation.is_some()),
        ("--dormant-tau", o.dormant_tau != 0.1),
        ("--regions-every", o.regions_every.is_some()),
        ("--regions-box", o.regions_box.is_some()),
        ("--regions-svg", o.regions_svg.is_some()),
    ];
    let given: Vec<&str> = loop_only
        .iter()
        .filter(|(_, set)| *set)
        .map(|(f, _)| *f)
        .collect();
    anyhow::ensure!(
        given.is_empty(),
        "{} belong(s) to `relulab train`: a sweep run keeps only its spec's fields",
        given.join(", ")
    );
    let mut sweep = match &o.config {
        Some(p) => {
            let text = std::fs::read_to_string(p)
                .with_context(|| format!("cannot read {}", p.display()))?;
            toml::from_str::<SweepSpec>(&text)
                .map_err(|e| anyhow::anyhow!("{}: {e}", p.display()))?
        }
        None => SweepSpec::default(),
    };
    sweep.base = o.apply(sweep.base.clone())?;
    for g in &args.grid {
        let (k, v) = parse_axis(g)?;
        sweep.grid.insert(k, v);
    }
    if let Some(s) = &args.seeds {
        sweep.seeds = parse_seeds(s)?;
    }
    let (shard, shards) = parse_shard(&args.shard)?;
    if args.count {
        println!("{}", sweep.len());
        return Ok(ExitCode::SUCCESS);
    }
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(args.jobs.unwrap_or(0))
        .build()
        .context("thread pool")?;
    let results = pool.install(|| sweep.run(shard, shards))?;
    let mut text = String::new();
    for r in &results {
        text.push_str(&serde_json::to_string(r).expect("serialisable"));
        text.push('\n');
    }
    match &args.out {
        Some(p) => write_atomic(p, text.as_bytes())?,
        None => print!("{text}"),
    }
    let failed = results.iter().filter(|r| r.error.is_some()).count();
    if failed > 0 && !o.quiet {
        eprintln!(
            "{failed} of {} runs failed (see their \"error\" field)",
            results.len()
        );
    }
    Ok(ExitCode::SUCCESS)
}
