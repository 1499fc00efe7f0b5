//! The digits run: a 64-256-256-10 ReLU MLP trained with the health monitor on every step.

use super::{SectionOutput, Tour};
use crate::diagnose::{format_table, HealthConfig, LayerHealth};
use crate::plot::{Figure, LineChart};
use crate::report::{fmt_sig, pointer, Block, Headline, Section, Table};
use crate::Result;
use serde_json::json;

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
        .ok_or_else(|| crate::Error::Value("digits: no test split".into()))?;
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

/// Per-layer health as a report table (four significant digits).
pub(super) fn health_table(caption: &str, health: &[LayerHealth]) -> Table {
    let opt = |v: Option<f64>| v.map_or("–".to_string(), |v| fmt_sig(v, 4));
    Table {
        caption: caption.into(),
        header: [
            "layer",
            "units",
            "activation",
            "sparsity",
            "dead",
            "dormant",
            "pre mean",
            "pre std",
            "pre < 0",
            "‖∂L/∂z‖",
            "‖∂L/∂W‖",
        ]
        .map(String::from)
        .to_vec(),
        rows: health
            .iter()
            .map(|h| {
                vec![
                    format!("{}{}", h.layer, if h.is_output { " (output)" } else { "" }),
                    h.units.to_string(),
                    h.activation.clone(),
                    fmt_sig(h.sparsity, 4),
                    h.dead.len().to_string(),
                    h.dormant.len().to_string(),
                    fmt_sig(h.pre_mean, 4),
                    fmt_sig(h.pre_std, 4),
                    fmt_sig(h.pre_frac_negative, 4),
                    opt(h.grad_pre_norm),
                    opt(h.grad_weight_norm),
                ]
            })
            .collect(),
        ..Default::default()
    }
}

/// Dead and dormant fraction of the hidden units, per epoch, from per-epoch health.
pub(super) fn hidden_fraction<'a>(
    epochs: impl Iterator<Item = (usize, &'a [LayerHealth])>,
    count: fn(&LayerHealth) -> usize,
) -> Vec<(f64, f64)> {
    epochs
        .map(|(e, layers)| {
            let hidden = layers.iter().filter(|h| !h.is_output);
            let units: usize = hidden.clone().map(|h| h.units).sum();
            let k: usize = hidden.map(count).sum();
            (e as f64, k as f64 / units.max(1) as f64)
        })
        .collect()
}

/// The section.
pub(super) fn section(tour: &mut Tour, mut s: Section) -> Result<SectionOutput> {
    let epochs = tour.pick(20, 5);
    let digits = digits_run(tour.seed(), epochs)?;
    let per_epoch = || {
        digits
            .history
            .iter()
            .enumerate()
            .map(|(e, l)| (e + 1, l.as_slice()))
    };
    let health_chart = LineChart::new("Dead and dormant hidden units")
        .labels("epoch", "fraction of hidden units")
        .series(
            "dead (never active in the epoch)",
            hidden_fraction(per_epoch(), |h| h.dead.len()),
        )
        .series(
            "dormant (ReDo score ≤ 0.1)",
            hidden_fraction(per_epoch(), |h| h.dormant.len()),
        );
    let acc_chart = LineChart::new("Test accuracy")
        .labels("epoch", "accuracy (fraction correct)")
        .series(
            "test accuracy",
            digits
                .metrics
                .iter()
                .map(|m| (m.epoch as f64, m.test_accuracy.unwrap_or(f64::NAN)))
                .collect(),
        );
    let fig = Figure::row(vec![health_chart.into(), acc_chart.into()]);
    tour.save_figure(&fig, "digits_health")?;
    let last = |v: Vec<(f64, f64)>| v.last().map_or(f64::NAN, |p| p.1);
    let last_dead = last(hidden_fraction(per_epoch(), |h| h.dead.len()));
    let last_dormant = last(hidden_fraction(per_epoch(), |h| h.dormant.len()));
    s.lead(format!(
        "A 64-256-256-10 ReLU MLP learns scikit-learn's digits to {:.2}% test accuracy in {} \
         epochs; the health monitor, reading every training step, counts {:.1}% of the hidden \
         units dead and {:.1}% dormant in the last epoch.",
        100.0 * digits.test_accuracy,
        digits.metrics.len(),
        100.0 * last_dead,
        100.0 * last_dormant,
    ))
    .key_figure(&fig, "Dead and dormant fraction per epoch; test accuracy")?
    .text(
        "80/20 split, standardised inputs, Adam lr 1e-3, batch 32, health monitored on every \
         training step (relulab train --monitor); then the trained model diagnosed on the test \
         split with cross-entropy gradients.",
    )
    .details(
        "Health of the trained model on the test split, per layer",
        vec![Block::Table(health_table(
            "Trained model, test split (cross-entropy gradients)",
            &digits.test_health,
        ))],
    );
    s.headline(Headline::percent(
        "test accuracy",
        digits.test_accuracy,
        2,
        pointer(&["test_accuracy"]),
    ))
    .headline(Headline::percent(
        "dormant hidden units, last epoch",
        last_dormant,
        1,
        pointer(&["dormant_fraction_last_epoch"]),
    ));
    Ok(SectionOutput {
        section: s,
        json: json!({
            "epochs": digits.metrics.len(),
            "test_accuracy": digits.test_accuracy,
            "dormant_fraction_last_epoch": last_dormant,
            "metrics": digits.metrics,
            "test_health": digits.test_health,
        }),
        text: format!(
            "Digits run: test accuracy {:.2}%; health of the trained model on the test split:\n{}",
            100.0 * digits.test_accuracy,
            format_table(&digits.test_health)
        ),
    })
}
