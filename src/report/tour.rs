//! The main job (`relulab tour`): the activation table, every claim of the seed, gradient flow
//! by depth, sparsity, dying units under weight decay, a monitored training run, assembled into
//! the HTML report with its JSON.

use super::{Report, Section, Table};
use crate::activation::Activation;
use crate::claims::{self, ClaimOutcome};
use crate::diagnose::{format_table, HealthAccumulator, HealthConfig, LayerHealth};
use crate::plot::{Figure, Histogram, LineChart, Panel};
use crate::Result;
use serde::Serialize;
use serde_json::json;
use std::path::{Path, PathBuf};

/// Options of the tour.
#[derive(Clone, Debug)]
pub struct TourOptions {
    /// Seed of every random stream.
    pub seed: u64,
    /// Output folder (index.html, report.json, plots/).
    pub out: PathBuf,
}

/// What the tour produced.
#[derive(Clone, Debug)]
pub struct TourOutcome {
    /// The text printed to the console.
    pub text: String,
    /// Path of index.html.
    pub index: PathBuf,
    /// The claim outcomes.
    pub claims: Vec<ClaimOutcome>,
}

/// The activation family at a few points: f(x)/f'(x) per activation (rows from
/// [`crate::activation::table::table`]).
pub fn activation_table() -> String {
    use crate::activation::table::{family, table};
    let xs = [-2.0, -0.5, 0.0, 0.5, 2.0];
    let mut s = format!("{:<12}", "name");
    for x in xs {
        s.push_str(&format!("{:>18}", format!("x={x}")));
    }
    s.push('\n');
    for row in table(&family(), &xs) {
        s.push_str(&format!("{:<12}", row.name));
        for (f, df) in row.values {
            s.push_str(&format!("{:>18}", format!("{f:.4}/{df:.4}")));
        }
        s.push('\n');
    }
    s
}

/// Gaussian statistics of the family for X ~ N(0, 1): E(f), E(f²), E(f'), P(f' ≠ 0), exact
/// (closed form or quadrature, [`crate::activation::gaussian::exact`]).
pub fn gaussian_table() -> Result<Table> {
    use crate::activation::table::family;
    let mut t = Table {
        id: "gaussian-stats".into(),
        caption: "Gaussian statistics, X ~ N(0, 1)".into(),
        header: [
            "activation",
            "E[f(X)]",
            "E[f(X)²]",
            "E[f'(X)]",
            "P(f'(X) ≠ 0)",
        ]
        .map(String::from)
        .to_vec(),
        ..Default::default()
    };
    for act in family() {
        let e = crate::activation::gaussian::exact(&act, 0.0, 1.0)?;
        t.rows.push(vec![
            act.to_string(),
            format!("{:.6}", e.mean.value),
            format!("{:.6}", e.mean_sq.value),
            format!("{:.6}", e.mean_prime.value),
            format!("{:.6}", e.p_prime_nonzero.value),
        ]);
    }
    Ok(t)
}

/// The claims as a report table (one row per check), id `claims-table`.
pub fn claims_table(outcomes: &[ClaimOutcome]) -> Table {
    let mut t = Table {
        id: "claims-table".into(),
        caption: "The seed's claims: measured against the closed form".into(),
        header: ["#", "claim", "check", "measured", "expected", "result"]
            .map(String::from)
            .to_vec(),
        ..Default::default()
    };
    for o in outcomes {
        for (k, c) in o.checks.iter().enumerate() {
            t.rows.push(vec![
                if k == 0 {
                    o.id.to_string()
                } else {
                    String::new()
                },
                if k == 0 {
                    format!("{} — seed: {}", o.title, o.seed_says)
                } else {
                    String::new()
                },
                c.name.clone(),
                format!("{:.6e}", c.measured),
                c.expected.clone(),
                if c.pass { "PASS" } else { "FAIL" }.into(),
            ]);
            t.row_class
                .push(Some(if c.pass { "pass" } else { "fail" }.into()));
        }
    }
    t
}

/// Per-epoch health of a monitored run.
#[derive(Clone, Debug, Serialize)]
pub struct EpochHealth {
    /// Epoch (1-based).
    pub epoch: usize,
    /// Training loss, mean over the epoch's steps.
    pub loss: f64,
    /// Per-layer health accumulated over the epoch's steps.
    pub layers: Vec<LayerHealth>,
}

/// A small monitored SGD run (8→64→64→1 ReLU, negative biases, regression of Σ sin x_i, with
/// and without L2 decay), health accumulated over every step of every epoch from the training
/// passes' own traces and gradients.
fn monitored_run(seed: u64, wd: f64, epochs: usize) -> Vec<EpochHealth> {
    use crate::claims::util::{mse_grads_traced, rng, Sgd};
    use crate::net::{Grads, Trace};
    let mut r = rng(seed, 100);
    let n = 512;
    let batch = 64;
    let (x, y, mut mlp) = crate::claims::util::sin_regression(&mut r, n);
    let sgd = Sgd {
        lr: 0.05,
        wd_weight: wd,
        wd_bias: 0.0,
    };
    let mut grads = Grads::default();
    let mut trace = Trace::default();
    let mut out = Vec::new();
    for epoch in 1..=epochs {
        let mut acc = HealthAccumulator::new(&mlp, HealthConfig::default());
        let mut loss = 0.0;
        for b in 0..n / batch {
            let xs = &x[b * batch * 8..(b + 1) * batch * 8];
            let ys = &y[b * batch..(b + 1) * batch];
            loss += mse_grads_traced(&mlp, xs, ys, batch, &mut trace, &mut grads);
            // The observer reads the step's own trace and gradients.
            acc.observe(&trace, Some(&grads));
            sgd.apply(&mut mlp, &grads);
        }
        out.push(EpochHealth {
            epoch,
            loss: loss / (n / batch) as f64,
            layers: acc.finish(),
        });
    }
    out
}

/// The digits run of the tour: 64-256-256-10 ReLU, Adam (lr 1e-3, batch 32), standardised,
/// 80/20 split, with the health monitor on every step; then the trained model diagnosed on the
/// test split with cross-entropy gradients.
pub struct DigitsRun {
    /// Per-epoch metrics (health fields included).
    pub metrics: Vec<crate::train::EpochMetrics>,
    /// Per-epoch health from the monitor.
    pub history: Vec<Vec<LayerHealth>>,
    /// Health of the trained model on the test split.
    pub test_health: Vec<LayerHealth>,
    /// Test accuracy at the end.
    pub test_accuracy: f64,
}

/// Train and monitor the digits run (`epochs` epochs).
pub fn digits_run(seed: u64, epochs: usize) -> Result<DigitsRun> {
    use crate::data::Targets;
    use crate::diagnose::{diagnose_dataset, HealthMonitor, Objective};
    use crate::train::{TrainSpec, Trainer};
    let spec = TrainSpec {
        dataset: Some("digits".into()),
        seed,
        epochs,
        ..TrainSpec::default()
    };
    let p = spec.prepare()?;
    let mut trainer = Trainer::new(p.mlp.clone(), p.config.clone());
    let mut monitor = HealthMonitor::new(HealthConfig::default());
    let metrics = trainer.run(
        &p.train,
        p.test.as_ref(),
        &mut [&mut monitor],
        |_, _| Ok(()),
    )?;
    let test = p
        .test
        .as_ref()
        .ok_or_else(|| crate::Error::Invalid("digits: no test split".into()))?;
    let labels: Vec<usize> = match &test.targets {
        Targets::Classes { labels, .. } => labels.iter().map(|&c| c as usize).collect(),
        Targets::Values { .. } => Vec::new(),
    };
    let test_health = diagnose_dataset(
        &trainer.mlp,
        &test.x,
        test.n,
        &Objective::CrossEntropy(&labels),
        256,
        HealthConfig::default(),
    )?;
    Ok(DigitsRun {
        test_accuracy: metrics
            .last()
            .and_then(|m| m.test_accuracy)
            .unwrap_or(f64::NAN),
        metrics,
        history: monitor.history,
        test_health,
    })
}

fn series_points(o: &ClaimOutcome, name: &str) -> Vec<(f64, f64)> {
    o.series
        .iter()
        .find(|s| s.name == name)
        .map(|s| s.x.iter().copied().zip(s.y.iter().copied()).collect())
        .unwrap_or_default()
}

/// Save a figure as SVG and PNG under `dir/plots/NAME.{svg,png}`.
fn save_both(fig: &Figure, dir: &Path, name: &str) -> Result<()> {
    let plots = dir.join("plots");
    std::fs::create_dir_all(&plots).map_err(|e| crate::Error::io(&plots, e))?;
    fig.save(plots.join(format!("{name}.svg")))?;
    fig.save(plots.join(format!("{name}.png")))
}

/// A 2-16-16-2 ReLU classifier trained on moons for 40 epochs with its regions counted every 2
/// (on the training data's box): the monitor, the final mosaic with the decision boundary, and
/// the test accuracy.
fn regions_during_training(
    seed: u64,
) -> Result<(crate::regions::monitor::RegionsMonitor, String, f64)> {
    use crate::regions::monitor::{data_box, mosaic_with_boundary, RegionsMonitor};
    let spec = crate::train::TrainSpec {
        dataset: Some("moons".into()),
        hidden: vec![16, 16],
        epochs: 40,
        lr: 0.01,
        seed,
        ..Default::default()
    };
    let p = spec.prepare()?;
    let bbox = data_box(&p.train.x, p.train.d, 0.1);
    let mut trainer = crate::train::Trainer::new(p.mlp.clone(), p.config.clone());
    let mut monitor = RegionsMonitor::new(&trainer.mlp, 0, 2, bbox, None)?;
    trainer.run(
        &p.train,
        p.test.as_ref(),
        &mut [&mut monitor],
        |_, _| Ok(()),
    )?;
    let svg = mosaic_with_boundary(&crate::regions::GeoNet::new(&trainer.mlp)?, bbox)?;
    let acc = match &p.test {
        Some(t) => trainer.evaluate(t, 0.0)?.1.unwrap_or(f64::NAN),
        None => f64::NAN,
    };
    Ok((monitor, svg, acc))
}

/// Run the tour: compute everything, write the report, return the console text.
pub fn run_tour(opts: &TourOptions) -> Result<TourOutcome> {
    let start = std::time::Instant::now();
    // Fail before the long computations when the folder cannot be made.
    std::fs::create_dir_all(&opts.out).map_err(|e| crate::Error::io(&opts.out, e))?;
    let mut text = String::new();
    let mut sections = Vec::new();

    // 1. The activation family.
    let table = activation_table();
    text.push_str("Activation family: f(x)/f'(x)\n");
    text.push_str(&table);
    let mut s = Section::new("activations", "The activation family");
    s.text("Value and derivative f(x)/f'(x) at a few points; ReLU'(0) = 0 by default.")
        .pre(table)
        .table(gaussian_table()?);
    sections.push(s);

    // 2. The claims.
    let outcomes = claims::run_claims(&[], opts.seed)?;
    text.push_str("\nThe seed's claims\n");
    text.push_str(&claims::format_outcomes(&outcomes));
    let passed = outcomes.iter().filter(|o| o.pass).count();
    let mut s = Section::new("claims", "The seed's claims");
    s.text(format!(
        "{passed} of {} claims pass. Each expected value is a closed form; tolerances are stated \
         in the 'expected' column.",
        outcomes.len()
    ))
    .table(claims_table(&outcomes));
    sections.push(s);

    // 3. Gradient flow by depth (claim 2's construction at depths 10, 30, 50).
    let mut panels = Vec::new();
    let mut flow_json = Vec::new();
    for depth in [10usize, 30, 50] {
        let mut chart = LineChart::new(format!("‖∂L/∂z_l‖ per layer, depth {depth}"))
            .labels("layer l", "gradient norm")
            .log_y(true);
        for (name, act, gain) in [
            ("sigmoid", Activation::Sigmoid, 1.0),
            ("tanh", Activation::Tanh, 1.0),
            ("relu", Activation::RELU, std::f64::consts::SQRT_2),
        ] {
            let (norms, ..) = claims::layer_gradient_norms(act, depth, 64, gain, opts.seed);
            let pts: Vec<(f64, f64)> = norms
                .iter()
                .enumerate()
                .map(|(l, &v)| ((l + 1) as f64, v.max(1e-300)))
                .collect();
            flow_json.push(json!({"activation": name, "depth": depth, "norms": norms}));
            chart = chart.series(name, pts);
        }
        panels.push(Panel::from(chart));
    }
    let flow = Figure::grid(panels, 3).panel_size(420, 340);
    save_both(&flow, &opts.out, "gradient_flow")?;
    let mut s = Section::new("gradient-flow", "Gradient flow: sigmoid, tanh, ReLU");
    s.text(
        "Norm of ∂L/∂z per hidden layer (log scale) in bias-free nets of width 64 with orthogonal \
         weights (gain 1 for sigmoid and tanh, √2 for ReLU), L = Σ outputs over 256 inputs. \
         Sigmoid loses at least a factor 4 per layer; ReLU passes gradients through active units \
         with factor exactly 1.",
    )
    .figure(
        &flow,
        "Gradient norm per layer, log scale, depths 10, 30, 50",
    )?;
    sections.push(s);

    // 4. Sparsity (claim 5) and dying under weight decay (claims 9 and 11).
    let c5 = &outcomes[4];
    let mut hist_panels = Vec::new();
    for ser in &c5.series {
        // The histogram's counts per bin of [0, 1], re-expanded to bin centres.
        let values: Vec<f64> = ser
            .x
            .iter()
            .zip(&ser.y)
            .flat_map(|(&c, &k)| std::iter::repeat_n(c, k as usize))
            .collect();
        let mut h = Histogram::new(ser.name.clone(), values, ser.x.len())
            .labels("fraction of units off", "inputs");
        h.range = Some((0.0, 1.0));
        hist_panels.push(Panel::from(h));
    }
    let c9 = &outcomes[8];
    let c11 = &outcomes[10];
    let dying = LineChart::new("Dead fraction, ReLU net with biases −0.1")
        .labels("SGD step", "dead fraction")
        .series("no decay", series_points(c11, "dead fraction, λ = 0"))
        .series(
            "L2 decay λ=0.05",
            series_points(c11, "dead fraction, λ = 0.05"),
        );
    let warm = LineChart::new("Bias warm-up on a dead layer (claim 9)")
        .labels("SGD step", "½·MSE at γ = 0")
        .log_y(true)
        .series("warm-up γ₀=3", series_points(c9, "½·MSE at γ = 0, warm-up"));
    let mut s = Section::new("sparsity-dying", "Sparsity and dying units");
    if !hist_panels.is_empty() {
        let fig = Figure::grid(hist_panels, 2).panel_size(480, 320);
        save_both(&fig, &opts.out, "sparsity_histogram")?;
        s.text(
            "Per-input fraction of hidden units that output exactly 0 (claim 5: He-initialised \
             50→500→500 ReLU net, zero bias, standard normal inputs).",
        )
        .figure(&fig, "Sparsity histogram per hidden layer")?;
    }
    let fig = Figure::grid(vec![dying.into(), warm.into()], 2).panel_size(480, 340);
    save_both(&fig, &opts.out, "dying")?;
    s.text(
        "Left: L2 weight decay on the weights raises the dead fraction (claim 11). Right: the \
         loss of the dead network of claim 6 under curriculum bias warm-up (claim 9).",
    )
    .figure(&fig, "Dead fraction under weight decay; bias warm-up")?;
    sections.push(s);

    // 5. The digits run with its diagnostics.
    let digits = digits_run(opts.seed, 20)?;
    let frac_of = |f: fn(&LayerHealth) -> usize| -> Vec<(f64, f64)> {
        digits
            .history
            .iter()
            .enumerate()
            .map(|(e, layers)| {
                let hidden: Vec<&LayerHealth> = layers.iter().filter(|h| !h.is_output).collect();
                let units: usize = hidden.iter().map(|h| h.units).sum();
                let k: usize = hidden.iter().map(|h| f(h)).sum();
                ((e + 1) as f64, k as f64 / units.max(1) as f64)
            })
            .collect()
    };
    let health_chart = LineChart::new("digits: dead and dormant fraction per epoch")
        .labels("epoch", "fraction of hidden units")
        .series(
            "dead (never active in the epoch)",
            frac_of(|h| h.dead.len()),
        )
        .series("dormant (ReDo score ≤ 0.1)", frac_of(|h| h.dormant.len()));
    let acc_chart = LineChart::new("digits: test accuracy")
        .labels("epoch", "accuracy")
        .series(
            "test accuracy",
            digits
                .metrics
                .iter()
                .map(|m| (m.epoch as f64, m.test_accuracy.unwrap_or(f64::NAN)))
                .collect(),
        );
    let fig = Figure::grid(vec![health_chart.into(), acc_chart.into()], 2).panel_size(480, 340);
    save_both(&fig, &opts.out, "digits_health")?;
    let mut s = Section::new("digits", "Digits: a training run with its diagnostics");
    s.text(format!(
        "64-256-256-10 ReLU MLP on scikit-learn's digits (80/20 split, standardised), Adam lr \
         1e-3, batch 32, {} epochs, health monitored on every training step (relulab train \
         --monitor). Final test accuracy {:.2}%.",
        digits.metrics.len(),
        100.0 * digits.test_accuracy
    ))
    .figure(&fig, "Dead and dormant fraction per epoch; test accuracy")?
    .text("The trained model diagnosed on the test split (cross-entropy gradients):")
    .pre(format_table(&digits.test_health));
    sections.push(s);
    text.push_str(&format!(
        "\nDigits run: test accuracy {:.2}%; health of the trained model on the test split:\n",
        100.0 * digits.test_accuracy
    ));
    text.push_str(&format_table(&digits.test_health));

    // 6. Lu et al.'s dying sweep (a smaller sweep than the bench's, for time).
    let sweep_cfg = crate::remedy::lu::DyingSweep {
        runs: 200,
        seed: opts.seed,
        ..Default::default()
    };
    let sweeps: Vec<_> = [
        crate::net::Init::HeNormal,
        crate::net::Init::Rai { sigma2: 1.0 },
    ]
    .into_iter()
    .map(|init| crate::remedy::lu::dying_sweep(&sweep_cfg, init))
    .collect();
    let mut t = Table {
        id: "dying-sweep".into(),
        caption: "Lu et al. 2019: depth-10 width-2 ReLU nets fitting |x| (Adam, 1,000 steps)"
            .into(),
        header: [
            "init",
            "runs",
            "born dead",
            "collapsed",
            "s per run",
            "sweep wall s",
        ]
        .map(String::from)
        .to_vec(),
        ..Default::default()
    };
    text.push_str("\nLu et al. dying sweep (depth 10, width 2, |x|):\n");
    for o in &sweeps {
        t.rows.push(vec![
            o.init.clone(),
            o.runs.to_string(),
            format!("{:.1}%", 100.0 * o.born_dead_fraction),
            format!("{:.1}%", 100.0 * o.collapsed_fraction),
            format!("{:.4}", o.seconds_per_run),
            format!("{:.2}", o.wall_seconds),
        ]);
        text.push_str(&format!(
            "  {:<10} born dead {:>5.1}%  collapsed {:>5.1}%  ({} runs, {:.2} s)\n",
            o.init,
            100.0 * o.born_dead_fraction,
            100.0 * o.collapsed_fraction,
            o.runs,
            o.wall_seconds
        ));
    }
    let mut s = Section::new("dying-sweep", "Born dead and collapsed: He versus RAI");
    s.text(
        "Lu, Shin, Su & Karniadakis 2019 report that more than 90% of such nets collapse under \
         He initialisation, and far fewer under their randomized asymmetric initialisation \
         (RAI). Born dead: some hidden layer is zero on every data point at initialisation. \
         Collapsed: the trained output varies by less than 1e-3·√3 over the data.",
    )
    .table(t);
    sections.push(s);

    // 7. A monitored training run: per-epoch health from the training passes.
    let epochs = 30;
    let runs = [
        (0.0, monitored_run(opts.seed, 0.0, epochs)),
        (0.05, monitored_run(opts.seed, 0.05, epochs)),
    ];
    let mut chart = LineChart::new("Dead and dormant fraction per epoch (hidden layers)")
        .labels("epoch", "fraction of hidden units");
    for (wd, hist) in &runs {
        let frac = |f: fn(&LayerHealth) -> usize| -> Vec<(f64, f64)> {
            hist.iter()
                .map(|e| {
                    let hidden: Vec<&LayerHealth> =
                        e.layers.iter().filter(|h| !h.is_output).collect();
                    let units: usize = hidden.iter().map(|h| h.units).sum();
                    let k: usize = hidden.iter().map(|h| f(h)).sum();
                    (e.epoch as f64, k as f64 / units.max(1) as f64)
                })
                .collect()
        };
        chart = chart
            .series(format!("dead, λ={wd}"), frac(|h| h.dead.len()))
            .series(format!("dormant τ=0.1, λ={wd}"), frac(|h| h.dormant.len()));
    }
    let fig = Figure::single(chart).panel_size(760, 420);
    save_both(&fig, &opts.out, "health_over_epochs")?;
    let last = &runs[0].1[epochs - 1];
    let last_wd = &runs[1].1[epochs - 1];
    let mut s = Section::new("training", "A monitored training run");
    s.text(
        "8→64→64→1 ReLU net, hidden biases −0.1, SGD (lr 0.05, batch 64) on Σ sin(x_i) over 512 \
         inputs; health accumulated over each epoch's training steps from their own traces and \
         gradients, without and with L2 weight decay.",
    )
    .figure(&fig, "Dead and dormant fraction over epochs")?
    .text(format!("Final epoch, no decay (loss {:.4e}):", last.loss))
    .pre(format_table(&last.layers))
    .text(format!(
        "Final epoch, λ = 0.05 (loss {:.4e}):",
        last_wd.loss
    ))
    .pre(format_table(&last_wd.layers));
    sections.push(s);
    text.push_str("\nMonitored training run, final epoch (no decay):\n");
    text.push_str(&format_table(&last.layers));

    // 8. Linear regions: the mosaic of one small net and the width/depth sweep.
    let regions = crate::regions::study::tour_regions(opts.seed)?;
    std::fs::create_dir_all(opts.out.join("plots"))
        .map_err(|e| crate::Error::io(opts.out.join("plots"), e))?;
    for (name, svg) in [
        ("regions_mosaic.svg", &regions.mosaic_svg),
        ("regions_sweep.svg", &regions.sweep_svg),
    ] {
        let path = opts.out.join("plots").join(name);
        crate::plot::write_atomic(&path, svg.as_bytes())?;
    }
    let widths = regions
        .widths
        .iter()
        .map(|w| w.to_string())
        .collect::<Vec<_>>()
        .join("-");
    let mut s = Section::new("regions", "Linear regions: the mosaic of a ReLU net");
    s.text(format!(
        "He-initialised {widths} ReLU net on the box [{}, {}]×[{}, {}]: {} activation regions, \
         {} linear regions (adjacent cells with equal affine maps merged); polygon areas sum to \
         {:.12} of the box area {}. Each unit's line z = 0 cuts the plane; inside each polygon the \
         network is one affine map. The black curve is the output's zero level set.",
        regions.bbox[0],
        regions.bbox[1],
        regions.bbox[2],
        regions.bbox[3],
        regions.activation_regions,
        regions.linear_regions,
        regions.area_sum / regions.box_area,
        regions.box_area
    ))
    .svg(
        regions.mosaic_svg.clone(),
        "Activation regions, coloured by pattern",
    )
    .text(
        "Regions at initialisation versus width and depth (He-initialised 2-[w]×L-1 nets on the \
         same box). Hanin & Rolnick (2019) show the number of pieces along a line grows about \
         linearly in the number of units at initialisation, far below the exponential maximum.",
    )
    .svg(
        regions.sweep_svg.clone(),
        "Regions versus width and depth at initialisation",
    );
    let (during, during_svg, during_acc) = regions_during_training(opts.seed)?;
    let during_chart = LineChart::new("moons, 2-16-16-2 ReLU: regions during training")
        .labels("epoch", "regions on the data's box")
        .series(
            "linear regions",
            during
                .history
                .iter()
                .map(|c| (c.epoch as f64, c.linear as f64))
                .collect(),
        )
        .series(
            "activation regions",
            during
                .history
                .iter()
                .map(|c| (c.epoch as f64, c.activation as f64))
                .collect(),
        );
    let fig = Figure::grid(vec![during_chart.into()], 1).panel_size(640, 340);
    save_both(&fig, &opts.out, "regions_during_training")?;
    crate::plot::write_atomic(
        &opts.out.join("plots").join("regions_trained_mosaic.svg"),
        during_svg.as_bytes(),
    )?;
    let (first, last) = (
        during.history.first().copied(),
        during.history.last().copied(),
    );
    let count = |c: Option<crate::regions::monitor::RegionCount>| c.map_or(0, |c| c.linear);
    s.text(format!(
        "During training (`relulab train --dataset moons --hidden 16,16 --lr 0.01 \
         --epochs 40 --regions-every 2`): a 2-16-16-2 ReLU classifier on two interleaved half-moons, \
         counted on the data's box every 2 epochs. Linear regions: {} at initialisation, where \
         the biases are 0 and every first-layer line passes through the origin; {} after {} \
         epochs (test accuracy {:.1}%), once the biases have moved the lines apart. The black \
         curve on the mosaic is the decision boundary (equal logits).",
        count(first),
        count(last),
        last.map_or(0, |c| c.epoch),
        100.0 * during_acc
    ))
    .figure(&fig, "Regions during training")?
    .svg(
        during_svg,
        "The trained classifier's regions and decision boundary",
    );
    sections.push(s);
    text.push_str(&format!(
        "\nLinear regions of a He-initialised {widths} ReLU net on [{}, {}]²: {} activation \
         regions, {} linear regions, area sum / box area = {:.12}\n",
        regions.bbox[0],
        regions.bbox[1],
        regions.activation_regions,
        regions.linear_regions,
        regions.area_sum / regions.box_area
    ));
    text.push_str(&format!(
        "Regions during training (moons, 2-16-16-2): {}\n",
        during
            .history
            .iter()
            .map(|c| format!("{} (epoch {})", c.linear, c.epoch))
            .collect::<Vec<_>>()
            .join(" → ")
    ));

    let seconds = start.elapsed().as_secs_f64();
    let report = Report {
        title: "relulab tour".into(),
        summary: format!(
            "relulab {} — {passed}/{} claims pass — seed {} — {:.1} s",
            env!("CARGO_PKG_VERSION"),
            outcomes.len(),
            opts.seed,
            seconds
        ),
        sections,
    };
    let json = json!({
        "relulab_version": env!("CARGO_PKG_VERSION"),
        "seed": opts.seed,
        "claims": outcomes,
        "gradient_flow": flow_json,
        "training": runs.iter().map(|(wd, h)| json!({"weight_decay": wd, "epochs": h})).collect::<Vec<_>>(),
        "digits": {"metrics": digits.metrics, "test_health": digits.test_health},
        "dying_sweep": sweeps,
        "regions": {
            "widths": regions.widths,
            "box": regions.bbox,
            "activation_regions": regions.activation_regions,
            "linear_regions": regions.linear_regions,
            "area_sum": regions.area_sum,
            "sweep": regions.sweep,
            "during_training": during.history,
        },
        "seconds": seconds,
    });
    let index = report.write(&opts.out, &json)?;
    text.push_str(&format!(
        "\n{passed}/{} claims pass; report: {}\n",
        outcomes.len(),
        index.display()
    ));
    Ok(TourOutcome {
        text,
        index,
        claims: outcomes,
    })
}
