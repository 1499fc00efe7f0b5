//! A monitored SGD run with and without L2 decay: per-epoch health from the training passes.

use super::digits::{health_table, hidden_fraction};
use super::{SectionOutput, Tour};
use crate::diagnose::{format_table, HealthAccumulator, HealthConfig, LayerHealth};
use crate::plot::{Figure, LineChart};
use crate::report::{fmt_sig, pointer, Block, Headline, Section};
use crate::Result;
use serde::Serialize;
use serde_json::json;

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

/// The section.
pub(super) fn section(tour: &mut Tour, mut s: Section) -> Result<SectionOutput> {
    let epochs = tour.pick(30, 10);
    let runs = [
        (0.0, monitored_run(tour.seed(), 0.0, epochs)),
        (0.05, monitored_run(tour.seed(), 0.05, epochs)),
    ];
    let mut chart = LineChart::new("Dead and dormant hidden units per epoch")
        .labels("epoch", "fraction of hidden units");
    let mut dead_last = Vec::new();
    for (wd, hist) in &runs {
        let per_epoch = || hist.iter().map(|e| (e.epoch, e.layers.as_slice()));
        let dead = hidden_fraction(per_epoch(), |h| h.dead.len());
        dead_last.push(dead.last().map_or(f64::NAN, |p| p.1));
        chart = chart.series(format!("dead, λ = {wd}"), dead).series(
            format!("dormant τ = 0.1, λ = {wd}"),
            hidden_fraction(per_epoch(), |h| h.dormant.len()),
        );
    }
    let fig = Figure::single(chart);
    tour.save_figure(&fig, "health_over_epochs")?;
    let last = &runs[0].1[epochs - 1];
    let last_wd = &runs[1].1[epochs - 1];
    s.lead(
        "Dead and dormant units of a small regression net per epoch, without and with L2 weight \
         decay, measured on the training steps themselves.",
    )
    .key_figure(&fig, "Dead and dormant fraction over epochs")?
    .text(format!(
        "8→64→64→1 ReLU net, hidden biases −0.1, SGD (lr 0.05, batch 64) on Σ sin(x_i) over 512 \
         inputs, {epochs} epochs; health accumulated over each epoch's training steps from \
         their own traces and gradients. Final loss {} without decay, {} with λ = 0.05.",
        fmt_sig(last.loss, 4),
        fmt_sig(last_wd.loss, 4)
    ))
    .details(
        "Per-layer health in the final epoch",
        vec![
            Block::Table(health_table("No decay", &last.layers)),
            Block::Table(health_table("L2 decay λ = 0.05", &last_wd.layers)),
        ],
    );
    s.headline(Headline::percent(
        "dead hidden units at the end, no decay",
        dead_last[0],
        1,
        pointer(&["dead_fraction_last_epoch", "0"]),
    ))
    .headline(Headline::percent(
        "dead hidden units at the end, weight decay",
        dead_last[1],
        1,
        pointer(&["dead_fraction_last_epoch", "1"]),
    ));
    Ok(SectionOutput {
        section: s,
        json: json!({
            "runs": runs.iter().map(|(wd, h)| json!({"weight_decay": wd, "epochs": h})).collect::<Vec<_>>(),
            "dead_fraction_last_epoch": dead_last,
        }),
        text: format!(
            "Monitored training run, final epoch (no decay):\n{}",
            format_table(&last.layers)
        ),
    })
}
