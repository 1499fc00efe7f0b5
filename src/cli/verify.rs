//! `relulab verify`: decide a VNN-LIB property, or run a campaign of instances.

use anyhow::{bail, Context};
use indicatif::{ProgressBar, ProgressStyle};
use relulab::verify::campaign::{read_instances, run_instance, shard, write_results, Summary};
use relulab::verify::{
    load_network_with, load_vnnlib, verify, ReluSplitOptions, Strategy, VerifyOptions,
};
use std::path::PathBuf;
use std::process::ExitCode;

/// Options of `relulab verify`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// The network (.onnx, .safetensors checkpoint, or .json Mlp; a PyTorch state_dict with
    /// --activation).
    #[arg(long, required_unless_present = "instances")]
    model: Option<PathBuf>,
    /// Hidden activation of a PyTorch state_dict --model.
    #[arg(long, conflicts_with = "instances")]
    activation: Option<String>,
    /// The VNN-LIB property (it describes the unsafe set).
    #[arg(long, required_unless_present = "instances")]
    property: Option<PathBuf>,
    /// Time limit in seconds for a single property.
    #[arg(long, default_value_t = 116.0)]
    timeout: f64,
    /// Print the single result as JSON.
    #[arg(long)]
    json: bool,
    /// A campaign CSV (onnx,vnnlib,timeout[,expected]; paths relative to the CSV).
    #[arg(long, conflicts_with_all = ["model", "property"])]
    instances: Option<PathBuf>,
    /// Where the campaign's results CSV goes.
    #[arg(long, default_value = "verify_results.csv")]
    results: PathBuf,
    /// Run only shard I of N (1-based, round robin), e.g. `--shard 2/4`.
    #[arg(long)]
    shard: Option<String>,
    /// Seed of the falsifier.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Worker threads (default: all cores).
    #[arg(long)]
    threads: Option<usize>,
    /// Branching: `input` (halve the input box), `relu` (split unstable ReLUs, β-CROWN-style)
    /// or `auto` (input for at most 16 inputs, relu above).
    #[arg(long, default_value = "auto", value_parser = ["auto", "input", "relu"])]
    strategy: String,
    /// ReLU splitting: domains per unstable hidden unit for refining the root's hidden-layer
    /// bounds by a search of their own before the output's, with up to 30 s left; times
    /// √(left / 30 s) with more (0: α-CROWN's bounds as they are).
    #[arg(long, default_value_t = ReluSplitOptions::default().root_refine)]
    refine_domains: usize,
    /// ReLU splitting: α/β steps of each bound that tightens a split domain's hidden layers
    /// (β-CROWN on the hidden layers) when at least 60 s are left; one CROWN pass otherwise
    /// or with 0.
    #[arg(long, default_value_t = ReluSplitOptions::default().tighten_iters)]
    tighten_steps: usize,
}

/// Run `relulab verify`.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    super::set_threads(args.threads)?;
    let Some(timeout) = relulab::verify::time_limit(args.timeout, false) else {
        bail!(
            "--timeout must be a positive number of seconds, at most {:e}",
            relulab::verify::MAX_SECONDS
        );
    };
    let opts = VerifyOptions {
        timeout,
        seed: args.seed,
        strategy: Strategy::parse(&args.strategy).expect("clap checked the value"),
        relu_split: ReluSplitOptions {
            root_refine: args.refine_domains,
            tighten_iters: args.tighten_steps,
            ..Default::default()
        },
        ..Default::default()
    };
    match &args.instances {
        Some(csv) => campaign(&args, csv, &opts),
        None => single(&args, &opts),
    }
}

fn single(args: &Args, opts: &VerifyOptions) -> anyhow::Result<ExitCode> {
    let (model, property) = (
        args.model.as_ref().expect("clap"),
        args.property.as_ref().expect("clap"),
    );
    let (mlp, _, _) = super::load_with_state(model, args.activation.as_deref(), load_network_with)?;
    let prop = load_vnnlib(property)?;
    let out = verify(&mlp, &prop, opts)
        .with_context(|| format!("{} on {}", property.display(), model.display()))?;
    if args.json {
        let w = out
            .witness
            .as_ref()
            .map(|w| serde_json::json!({"x": w.x, "y": w.y, "y_f32": w.y_f32}));
        let j = serde_json::json!({
            "result": out.verdict.as_str(), "seconds": out.seconds, "domains": out.domains,
            "strategy": out.strategy.as_str(), "witness": w,
        });
        println!("{}", out.verdict.as_str());
        println!("{j}");
    } else {
        println!("{}", out.verdict.as_str());
        if let Some(w) = &out.witness {
            println!("{}", w.vnncomp());
        }
        eprintln!(
            "{:.3} s, {} domains ({} split)",
            out.seconds,
            out.domains,
            out.strategy.as_str()
        );
    }
    Ok(ExitCode::SUCCESS)
}

fn campaign(args: &Args, csv: &std::path::Path, opts: &VerifyOptions) -> anyhow::Result<ExitCode> {
    let part = match &args.shard {
        Some(s) => Some(
            s.split_once('/')
                .and_then(|(i, n)| {
                    Some((
                        i.trim().parse::<usize>().ok()?,
                        n.trim().parse::<usize>().ok()?,
                    ))
                })
                .filter(|&(i, n)| n >= 1 && (1..=n).contains(&i))
                .with_context(|| format!("--shard '{s}': expected I/N with 1 <= I <= N"))?,
        ),
        None => None,
    };
    let mut list = read_instances(csv)?;
    if let Some((i, n)) = part {
        list = shard(list, i, n);
    }
    let pb = ProgressBar::new(list.len() as u64);
    pb.set_style(
        ProgressStyle::with_template("{bar:30} {pos}/{len} {elapsed} {msg}").expect("template"),
    );
    let mut results = Vec::new();
    for inst in &list {
        pb.set_message(format!(
            "{}",
            inst.property
                .file_name()
                .unwrap_or_default()
                .to_string_lossy()
        ));
        let r = run_instance(inst, opts);
        if r.is_wrong() {
            pb.println(format!(
                "WRONG: {} {} answered {}",
                inst.model.display(),
                inst.property.display(),
                r.answer()
            ));
        }
        results.push(r);
        pb.inc(1);
    }
    pb.finish_and_clear();
    write_results(&args.results, &results)?;
    let s = Summary::of(&results);
    println!("{}", s.line());
    println!("results: {}", args.results.display());
    Ok(if s.wrong > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}
