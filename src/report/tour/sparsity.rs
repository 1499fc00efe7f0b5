//! Sparsity (claim 5) and dying units under weight decay and bias warm-up (claims 9 and 11).

use super::{SectionOutput, Tour};
use crate::claims::ClaimOutcome;
use crate::plot::{Figure, Histogram, LineChart, Panel};
use crate::report::{pointer, Headline, Section};
use crate::Result;
use serde_json::json;

fn series_points(o: Option<&ClaimOutcome>, name: &str) -> Vec<(f64, f64)> {
    o.and_then(|o| o.series.iter().find(|s| s.name == name))
        .map(|s| s.x.iter().copied().zip(s.y.iter().copied()).collect())
        .unwrap_or_default()
}

/// The section.
pub(super) fn section(tour: &mut Tour, mut s: Section) -> Result<SectionOutput> {
    let outcomes = tour.claims()?.to_vec();
    let claim = |id: u32| outcomes.iter().find(|o| o.id == id);
    let (c5, c9, c11) = (claim(5), claim(9), claim(11));
    let no_decay = series_points(c11, "dead fraction, λ = 0");
    let decay = series_points(c11, "dead fraction, λ = 0.05");
    let dying = LineChart::new("Dead fraction, ReLU net with biases −0.1")
        .labels("SGD step", "dead fraction of hidden units")
        .series("no decay", no_decay.clone())
        .series("L2 decay λ = 0.05", decay.clone());
    let warm = LineChart::new("Bias warm-up on a dead layer (claim 9)")
        .labels("SGD step", "½·MSE at γ = 0 (log scale)")
        .log_y(true)
        .series(
            "warm-up γ₀ = 3",
            series_points(c9, "½·MSE at γ = 0, warm-up"),
        );
    let fig = Figure::row(vec![dying.into(), warm.into()]);
    tour.save_figure(&fig, "dying")?;
    let last = |v: &[(f64, f64)]| v.last().map_or(f64::NAN, |p| p.1);
    let (final_plain, final_decay) = (last(&no_decay), last(&decay));
    s.lead(
        "Left: L2 weight decay on the weights raises the fraction of dead units during SGD \
         (claim 11). Right: the loss of claim 6's dead network falls once curriculum bias \
         warm-up revives it (claim 9).",
    )
    .key_figure(&fig, "Dead fraction under weight decay; bias warm-up")?;
    s.headline(Headline::percent(
        "dead units at the end, no decay",
        final_plain,
        1,
        pointer(&["dead_fraction_final", "no_decay"]),
    ))
    .headline(Headline::percent(
        "dead units at the end, with weight decay",
        final_decay,
        1,
        pointer(&["dead_fraction_final", "decay"]),
    ));
    let mut hist_panels = Vec::new();
    for ser in c5.map(|c| c.series.as_slice()).unwrap_or_default() {
        // The histogram's counts per bin of [0, 1], re-expanded to bin centres.
        let values: Vec<f64> = ser
            .x
            .iter()
            .zip(&ser.y)
            .flat_map(|(&c, &k)| std::iter::repeat_n(c, k as usize))
            .collect();
        let mut h = Histogram::new(ser.name.clone(), values, ser.x.len())
            .labels("fraction of units off, per input", "inputs (count)");
        h.range = Some((0.0, 1.0));
        hist_panels.push(Panel::from(h));
    }
    if !hist_panels.is_empty() {
        let fig = Figure::row(hist_panels);
        tour.save_figure(&fig, "sparsity_histogram")?;
        s.text(
            "Per-input fraction of hidden units that output exactly 0 (claim 5: He-initialised \
             50→500→500 ReLU net, zero bias, standard normal inputs): about half, as the seed \
             says.",
        )
        .figure(&fig, "Sparsity histogram per hidden layer")?;
    }
    Ok(SectionOutput {
        section: s,
        json: json!({
            "dead_fraction_final": {"no_decay": final_plain, "decay": final_decay},
            "dead_fraction": {"no_decay": no_decay, "decay": decay},
        }),
        text: format!(
            "Dead fraction at the end of claim 11's run: {:.1}% without decay, {:.1}% with L2 \
             decay λ = 0.05\n",
            100.0 * final_plain,
            100.0 * final_decay
        ),
    })
}
