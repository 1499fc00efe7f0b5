//! `relulab diagnose`: activation health of a model on data.

use anyhow::Context;
use relulab::data::{self, Targets};
use relulab::diagnose::{diagnose_dataset, format_table, HealthConfig, LayerHealth, Objective};
use relulab::io::checkpoint;
use relulab::plot::{Figure, Histogram, LineChart, Panel};
use relulab::train::parse_activation;
use std::path::PathBuf;
use std::process::ExitCode;

/// Options of `relulab diagnose`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// The model: a relulab checkpoint (.safetensors), a PyTorch state_dict (give
    /// --activation) or an ONNX graph.
    #[arg(long, value_name = "FILE")]
    model: PathBuf,
    /// Features file (.csv or .npy); targets in --targets or the last column.
    #[arg(long, value_name = "FILE", conflicts_with = "dataset")]
    data: Option<PathBuf>,
    /// Targets/labels file (.csv or .npy).
    #[arg(long, value_name = "FILE")]
    targets: Option<PathBuf>,
    /// Real-valued targets (regression) instead of class labels in --data.
    #[arg(long)]
    regression: bool,
    /// A built-in data set (digits, iris, wine, breast_cancer, moons, ...).
    #[arg(long)]
    dataset: Option<String>,
    /// Seed of a synthetic data set.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Hidden activation of a PyTorch state_dict.
    #[arg(long)]
    activation: Option<String>,
    /// Do not apply the standardisation stored in the checkpoint.
    #[arg(long)]
    no_standardize: bool,
    /// τ of the dormant test: ReDo score s_j ≤ τ (s_j = E|h_j| / layer mean of E|h_k|).
    #[arg(long, default_value_t = 0.1)]
    tau: f64,
    /// Samples per forward pass.
    #[arg(long, default_value_t = 1024)]
    batch: usize,
    /// Print JSON (every statistic, per-unit ReDo scores included).
    #[arg(long)]
    json: bool,
    /// Write plots (sparsity histograms, gradient norm per layer) as SVG and PNG here.
    #[arg(long, value_name = "DIR")]
    plots: Option<PathBuf>,
    /// Also report ReLU stability over the L∞ ball of this radius around every sample (issue
    /// 14; data units: for digits pixels / 16, clamped to [0, 1]; standardisation included).
    #[arg(long, allow_hyphen_values = true)]
    eps: Option<f64>,
}

/// Run `relulab diagnose`.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    if !(args.tau >= 0.0 && args.tau.is_finite()) {
        anyhow::bail!("--tau must be a finite number ≥ 0, got {}", args.tau);
    }
    if args.batch == 0 {
        anyhow::bail!("--batch must be at least 1 sample");
    }
    let hidden = args
        .activation
        .as_deref()
        .map(parse_activation)
        .transpose()
        .map_err(anyhow::Error::msg)?;
    let (mlp, standardizer) = match args.model.extension().and_then(|e| e.to_str()) {
        Some("safetensors") if checkpoint::is_checkpoint(&args.model)? => {
            let ck = checkpoint::load_full(&args.model)?;
            (ck.mlp, ck.train.and_then(|t| t.standardizer))
        }
        _ => (relulab::io::load_model(&args.model, hidden)?, None),
    };
    let mut ds = match (&args.dataset, &args.data) {
        (Some(name), None) => data::by_name(name, args.seed, None, None)?,
        (None, Some(p)) => data::csv::load(p, args.targets.as_deref(), !args.regression)?,
        _ => anyhow::bail!("give the data: --dataset NAME or --data FILE"),
    };
    ds.validate()?;
    let stability = match args.eps {
        None => None,
        Some(eps) => {
            relulab::certify::check_eps(&[eps])?;
            anyhow::ensure!(
                ds.d == mlp.input_dim(),
                "{}: {} features per sample, but the model {} takes {}",
                ds.name,
                ds.d,
                args.model.display(),
                mlp.input_dim()
            );
            let digits = args.dataset.as_deref() == Some("digits");
            let scale = if digits { 16.0 } else { 1.0 };
            let st = standardizer.as_ref().filter(|_| !args.no_standardize);
            let map = relulab::certify::InputMap::new(ds.d, scale, st)?;
            let net = relulab::verify::PwlNet::from_mlp(&mlp)
                .with_context(|| format!("{}: --eps", args.model.display()))?;
            let x: Vec<f64> = ds.x.iter().map(|&v| v as f64 / scale).collect();
            let clamp = digits.then_some((0.0, 1.0));
            Some((
                eps,
                relulab::certify::stability_report(&net, &map, clamp, &x, ds.n, eps),
            ))
        }
    };
    if let (Some(st), false) = (&standardizer, args.no_standardize) {
        st.apply(&mut ds);
    }
    if ds.d != mlp.input_dim() {
        anyhow::bail!(
            "{}: {} features per sample, but the model {} takes {}",
            ds.name,
            ds.d,
            args.model.display(),
            mlp.input_dim()
        );
    }
    let d_out = mlp.output_dim();
    let labels: Vec<usize>;
    let values: Vec<f64>;
    let objective = match &ds.targets {
        Targets::Classes { labels: l, .. } if d_out >= 2 => {
            labels = l.iter().map(|&c| c as usize).collect();
            Objective::CrossEntropy(&labels)
        }
        Targets::Values { values: v, dim } if *dim == d_out => {
            values = v.iter().map(|&x| x as f64).collect();
            Objective::Mse(&values)
        }
        _ => Objective::None,
    };
    let config = HealthConfig {
        tau: args.tau,
        ..Default::default()
    };
    let health = diagnose_dataset(&mlp, &ds.x, ds.n, &objective, args.batch, config)
        .with_context(|| format!("diagnosing {} on {}", args.model.display(), ds.name))?;
    // Positive homogeneity f_{aW}(x) = a^L f_W(x), for bias-free piecewise-linear nets only.
    let homogeneity = relulab::diagnose::homogeneity_error(
        &mlp.cast::<f64>(),
        &ds.x.iter().map(|&v| v as f64).collect::<Vec<_>>(),
        ds.n,
        2.0,
    )
    .ok();
    if let Some(dir) = &args.plots {
        write_plots(&health, dir)?;
    }
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({
                "model": args.model.display().to_string(),
                "data": ds.name,
                "samples": ds.n,
                "loss": match objective {
                    Objective::None => "none",
                    Objective::Mse(_) => "mse",
                    Objective::CrossEntropy(_) => "cross_entropy",
                },
                "layers": health,
                "homogeneity_error_a2": homogeneity,
                "stability": stability.as_ref().map(|(e, r)| serde_json::json!({"eps": e, "layers": r})),
            }))?
        );
    } else {
        println!(
            "{} on {} ({} samples); * = output layer; dormant: ReDo score ≤ {}",
            args.model.display(),
            ds.name,
            ds.n,
            args.tau
        );
        print!("{}", format_table(&health));
        for h in health.iter().filter(|h| !h.dead.is_empty()) {
            let shown: Vec<String> = h.dead.iter().take(20).map(|j| j.to_string()).collect();
            println!(
                "layer {} dead units ({}): {}{}",
                h.layer,
                h.dead.len(),
                shown.join(" "),
                if h.dead.len() > 20 { " ..." } else { "" }
            );
        }
        if let Some(e) = homogeneity {
            println!("positive homogeneity (bias-free): max relative |f_2W − 2^L f_W| = {e:.3e}");
        }
        if let Some((e, r)) = &stability {
            print!("{}", relulab::certify::format_stability(r, *e));
        }
        if matches!(objective, Objective::None) {
            println!("(no gradient statistics: the targets do not fit the model's outputs)");
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn write_plots(health: &[LayerHealth], dir: &std::path::Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let mut panels = Vec::new();
    for h in health.iter().filter(|h| !h.is_output) {
        let bins = h.sample_sparsity_hist.len();
        let values: Vec<f64> = h
            .sample_sparsity_hist
            .iter()
            .enumerate()
            .flat_map(|(b, &k)| std::iter::repeat_n((b as f64 + 0.5) / bins as f64, k as usize))
            .collect();
        let mut hist = Histogram::new(
            format!("layer {} sparsity per sample", h.layer),
            values,
            bins,
        )
        .labels("fraction of units off", "samples");
        hist.range = Some((0.0, 1.0));
        panels.push(Panel::from(hist));
    }
    if !panels.is_empty() {
        let fig = Figure::grid(panels, 2).panel_size(480, 320);
        fig.save(dir.join("sparsity.svg"))?;
        fig.save(dir.join("sparsity.png"))?;
    }
    let pts: Vec<(f64, f64)> = health
        .iter()
        .filter_map(|h| {
            h.grad_pre_norm
                .map(|g| (h.layer as f64 + 1.0, g.max(1e-300)))
        })
        .collect();
    if !pts.is_empty() {
        let fig = Figure::single(
            LineChart::new("‖∂L/∂z‖ per layer")
                .labels("layer", "gradient norm")
                .log_y(true)
                .series("‖∂L/∂z‖", pts),
        );
        fig.save(dir.join("gradient_norms.svg"))?;
        fig.save(dir.join("gradient_norms.png"))?;
    }
    Ok(())
}
