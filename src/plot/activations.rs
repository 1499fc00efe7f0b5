//! The activation family drawn: one panel of f(x), one of f'(x).

use super::{Figure, LineChart, Panel, Series, PALETTE};
use crate::activation::Activation;

/// Two panels, f(x) and f'(x) on [lo, hi] with `points` samples, one series per activation
/// (named by its canonical name, same colour in both panels).
pub fn activation_figure(acts: &[Activation], lo: f64, hi: f64, points: usize) -> Figure {
    let points = points.max(2);
    let xs: Vec<f64> = (0..points)
        .map(|i| lo + (hi - lo) * i as f64 / (points - 1) as f64)
        .collect();
    let mut f = LineChart::new("Activations f(x)").labels("x", "f(x)");
    let mut d = LineChart::new("Derivatives f'(x)").labels("x", "f'(x)");
    for (i, a) in acts.iter().enumerate() {
        // The tanh approximation of GELU lies almost on GELU: dash it so both show.
        let dashed = matches!(a, Activation::GeluTanh);
        let color = Some(PALETTE[i % PALETTE.len()]);
        let series = |points: Vec<(f64, f64)>| Series {
            name: a.name().to_string(),
            points,
            color,
            dashed,
        };
        f = f.with_series(series(xs.iter().map(|&x| (x, a.f(x))).collect()));
        d = d.with_series(series(xs.iter().map(|&x| (x, a.df(x))).collect()));
    }
    Figure::grid(vec![Panel::Line(f), Panel::Line(d)], 2).panel_size(720, 560)
}
