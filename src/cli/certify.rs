//! `relulab certify`: certified robustness of a classifier on labelled data.

use anyhow::Context;
use relulab::certify::{self, Certifier, CertifyOptions, InputMap, Norm, Summary};
use relulab::data::{self, Dataset, Targets};
use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

/// Options of `relulab certify`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// The classifier: a relulab checkpoint (its input standardisation is part of the
    /// network), an ONNX file, or a PyTorch state_dict (with --activation).
    model: PathBuf,
    /// Labelled data: `digits` (built-in, pixels / 16 so in [0, 1]) or a .csv/.npy file
    /// (labels in --targets or the last column), in the units ε is given in.
    #[arg(long)]
    data: String,
    /// Labels file for --data FILE.
    #[arg(long, value_name = "FILE")]
    targets: Option<PathBuf>,
    /// Which samples of `digits`: test (the checkpoint's split; default when it has one), train
    /// or all.
    #[arg(long)]
    split: Option<String>,
    /// Radii, comma-separated, in data units.
    #[arg(
        long,
        value_delimiter = ',',
        allow_hyphen_values = true,
        required = true
    )]
    eps: Vec<f64>,
    /// Ball norm: linf or l2.
    #[arg(long, default_value = "linf")]
    norm: String,
    /// Input domain LO,HI intersected with the ball (default 0,1 for digits).
    #[arg(long, value_delimiter = ',', allow_hyphen_values = true)]
    clamp: Option<Vec<f64>>,
    /// Do not clamp to a domain (also for digits).
    #[arg(long)]
    no_clamp: bool,
    /// Seconds per sample and ε for α-CROWN and branch and bound (0: IBP, CROWN and attack).
    #[arg(long, default_value_t = 2.0)]
    time_limit_per_sample: f64,
    /// PGD restarts.
    #[arg(long, default_value_t = 5)]
    restarts: usize,
    /// PGD steps per restart.
    #[arg(long, default_value_t = 40)]
    steps: usize,
    /// Branch and bound on each open margin (target class) as its own problem, each an equal
    /// share of the time left, instead of one problem over all open margins.
    #[arg(long)]
    bab_per_class: bool,
    /// Certify only the first N samples.
    #[arg(long)]
    limit: Option<usize>,
    /// Seed of the attack.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Hidden activation of a PyTorch state_dict.
    #[arg(long)]
    activation: Option<String>,
    /// One JSON line per sample and ε, then one per ε summary.
    #[arg(long)]
    json: bool,
    /// Plot certified and attacked accuracy against ε (SVG or PNG), written atomically.
    #[arg(long, value_name = "FILE")]
    plot: Option<PathBuf>,
}

/// Run `relulab certify`.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    certify::check_eps(&args.eps)?;
    if let Some(p) = &args.plot {
        relulab::plot::Format::from_path(p)?;
        relulab::io::checkpoint::check_output_path(p)?;
    }
    let norm: Norm = args.norm.parse().map_err(anyhow::Error::msg)?;
    let (mlp, _, state) = super::load_with_state(
        &args.model,
        args.activation.as_deref(),
        relulab::verify::load_network_with,
    )?;
    let mdisp = args.model.display().to_string();
    anyhow::ensure!(
        mlp.output_dim() >= 2,
        "{mdisp}: output width {}: certify needs a classifier with at least 2 outputs (prediction = argmax)",
        mlp.output_dim()
    );
    let digits = args.data == "digits";
    // Flags that would be silently ignored are refused.
    if digits && args.targets.is_some() {
        anyhow::bail!("--targets is for --data FILE; the built-in digits carry their labels");
    }
    if !digits && args.split.is_some() {
        anyhow::bail!("--split is for --data digits; a data file is certified whole");
    }
    if args.limit == Some(0) {
        anyhow::bail!("--limit 0: nothing to certify (give N ≥ 1, or leave it out for all)");
    }
    let (mut ds, scale): (Dataset, f64) = if digits {
        let full = data::by_name("digits", 0, None, None)?;
        let spec = state.as_ref().map(|s| s.spec.clone());
        let has_split = spec.as_ref().is_some_and(|s| s.test_fraction > 0.0);
        let split = args
            .split
            .clone()
            .unwrap_or_else(|| if has_split { "test" } else { "all" }.into());
        let ds = match split.as_str() {
            "all" => full,
            "train" | "test" => {
                let s = spec.filter(|s| s.test_fraction > 0.0).with_context(|| {
                    format!("--split {split} needs a training checkpoint with a test split")
                })?;
                let (tr, te) = full.split(s.test_fraction, s.seed)?;
                if split == "train" {
                    tr
                } else {
                    te
                }
            }
            s => anyhow::bail!("--split {s}: expected test, train or all"),
        };
        (ds, 16.0)
    } else {
        let p = PathBuf::from(&args.data);
        (data::csv::load(&p, args.targets.as_deref(), true)?, 1.0)
    };
    ds.validate()?;
    let labels: Vec<usize> = match &ds.targets {
        Targets::Classes { labels, .. } => labels.iter().map(|&l| l as usize).collect(),
        Targets::Values { .. } => anyhow::bail!("{}: certify needs integer class labels", ds.name),
    };
    anyhow::ensure!(
        ds.d == mlp.input_dim(),
        "{}: {} features per sample, but the model {mdisp} takes {}",
        ds.name,
        ds.d,
        mlp.input_dim()
    );
    if let Some((s, &l)) = labels
        .iter()
        .enumerate()
        .find(|(_, &l)| l >= mlp.output_dim())
    {
        anyhow::bail!(
            "{}: sample {s}: label {l} out of range for the model's {} outputs",
            args.targets
                .as_ref()
                .map_or(ds.name.clone(), |t| t.display().to_string()),
            mlp.output_dim()
        );
    }
    if let Some(n) = args.limit {
        let idx: Vec<usize> = (0..n.min(ds.n)).collect();
        ds = ds.subset(&idx, &ds.name.clone());
    }
    let labels = &labels[..ds.n];
    let clamp = match (&args.clamp, args.no_clamp) {
        (Some(_), true) => anyhow::bail!("give --clamp or --no-clamp, not both"),
        (Some(c), false) => {
            anyhow::ensure!(
                c.len() == 2,
                "--clamp: expected two numbers LO,HI, got {}",
                c.len()
            );
            anyhow::ensure!(
                c[0].is_finite() && c[1].is_finite() && c[0] <= c[1],
                "--clamp {},{}: expected finite LO ≤ HI",
                c[0],
                c[1]
            );
            Some((c[0], c[1]))
        }
        (None, false) if digits => Some((0.0, 1.0)),
        _ => None,
    };
    let st = state.as_ref().and_then(|s| s.standardizer.clone());
    let map = InputMap::new(ds.d, scale, st.as_ref()).with_context(|| mdisp.clone())?;
    let Some(time_limit) = relulab::verify::time_limit(args.time_limit_per_sample, true) else {
        anyhow::bail!(
            "--time-limit-per-sample: {} is not a number of seconds in [0, {:e}]",
            args.time_limit_per_sample,
            relulab::verify::MAX_SECONDS
        );
    };
    let opts = CertifyOptions {
        norm,
        clamp,
        time_limit,
        restarts: args.restarts,
        steps: args.steps,
        bab_per_class: args.bab_per_class,
        seed: args.seed,
        ..Default::default()
    };
    let cert = Certifier::new(&mlp, map, opts).with_context(|| mdisp.clone())?;
    let x: Vec<f64> = ds.x.iter().map(|&v| v as f64 / scale).collect();
    if let Some((lo, hi)) = clamp {
        if let Some(k) = x.iter().position(|v| *v < lo || *v > hi) {
            anyhow::bail!(
                "{}: sample {}, feature {}: value {} lies outside --clamp {lo},{hi}",
                ds.name,
                k / ds.d,
                k % ds.d,
                x[k]
            );
        }
    }
    let bar = (!args.json && std::io::stderr().is_terminal()).then(|| {
        let b = indicatif::ProgressBar::new((ds.n * args.eps.len()) as u64);
        b.set_style(
            indicatif::ProgressStyle::with_template("{bar:30} {pos}/{len} samples×ε {elapsed}")
                .expect("valid template"),
        );
        b
    });
    let tick = || {
        if let Some(b) = &bar {
            b.inc(1);
        }
    };
    let t0 = std::time::Instant::now();
    let results = certify::certify_all(&cert, &x, labels, &args.eps, &tick)?;
    let wall = t0.elapsed().as_secs_f64();
    if let Some(b) = &bar {
        b.finish_and_clear();
    }
    let sums = Summary::per_eps(&args.eps, &results);
    if args.json {
        for r in results.iter().flatten() {
            println!("{}", serde_json::to_string(r).expect("serialisable"));
        }
        for s in &sums {
            println!("{}", s.to_json());
        }
    } else {
        println!(
            "{} samples of {} ({} norm{}), model {}; time limit {} s per sample",
            ds.n,
            ds.name,
            args.norm,
            clamp.map_or(String::new(), |(a, b)| format!(", clamp [{a}, {b}]")),
            mlp.widths()
                .iter()
                .map(|w| w.to_string())
                .collect::<Vec<_>>()
                .join("-"),
            args.time_limit_per_sample
        );
        print!("{}", Summary::table(&sums));
        println!("wall {wall:.2} s");
    }
    if let Some(p) = &args.plot {
        let fig = plot_summaries(&sums, &ds.name);
        fig.save(p)?;
    }
    Ok(ExitCode::SUCCESS)
}

/// Certified and attacked accuracy against ε.
pub fn plot_summaries(sums: &[Summary], name: &str) -> relulab::plot::Figure {
    let cert: Vec<(f64, f64)> = sums
        .iter()
        .map(|s| (s.eps, 100.0 * s.certified_accuracy()))
        .collect();
    let att: Vec<(f64, f64)> = sums
        .iter()
        .map(|s| (s.eps, 100.0 * s.attacked_accuracy()))
        .collect();
    relulab::plot::Figure::single(
        relulab::plot::LineChart::new(format!("certified robustness, {name}"))
            .labels("ε", "accuracy (%)")
            .series("certified (lower bound)", cert)
            .series("under attack (upper bound)", att)
            .y_range(0.0, 100.0)
            .legend_lower_left(),
    )
}
