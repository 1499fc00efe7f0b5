//! The activation family: f and f' drawn, the Gaussian statistics, the value table.

use super::{SectionOutput, Tour};
use crate::report::{fmt_sig, pointer, Block, Headline, Section, Table};
use crate::Result;
use serde_json::json;

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
/// (closed form or quadrature, [`crate::activation::gaussian::exact`]), six significant digits.
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
            fmt_sig(e.mean.value, 6),
            fmt_sig(e.mean_sq.value, 6),
            fmt_sig(e.mean_prime.value, 6),
            fmt_sig(e.p_prime_nonzero.value, 6),
        ]);
    }
    Ok(t)
}

/// The section.
pub(super) fn section(tour: &mut Tour, mut s: Section) -> Result<SectionOutput> {
    use crate::activation::table::family;
    let acts = family();
    let mut fig = crate::plot::activation_figure(&acts, -3.0, 3.0, 241);
    fig.panel_size = (crate::plot::ROW_WIDTH / 2, 420);
    tour.save_figure(&fig, "activations")?;
    let mut stats = Vec::new();
    for act in &acts {
        let e = crate::activation::gaussian::exact(act, 0.0, 1.0)?;
        stats.push(json!({
            "activation": act.to_string(),
            "mean": e.mean.value,
            "mean_sq": e.mean_sq.value,
            "mean_prime": e.mean_prime.value,
            "p_prime_nonzero": e.p_prime_nonzero.value,
        }));
    }
    let at = |name: &str| acts.iter().position(|a| a.name() == name);
    let (relu, gelu) = (at("relu"), at("gelu"));
    let mean = |i: Option<usize>| {
        i.and_then(|i| stats[i]["mean"].as_f64())
            .unwrap_or(f64::NAN)
    };
    let ratio = mean(relu) / mean(gelu);
    let table = activation_table();
    s.lead(
        "Each member of the family, f(x) on the left and its derivative f'(x) on the right, on \
         [−3, 3]; ReLU'(0) = 0 by default.",
    )
    .key_figure(&fig, "The activation family: f(x) and f'(x)")?
    .text(
        "Under a standard normal input the statistics below are exact (closed form or \
         Gauss–Hermite quadrature): E[ReLU(Z)] = 1/√(2π) and E[GELU(Z)] = 1/(2√π), so their \
         ratio is √2.",
    )
    .table(gaussian_table()?)
    .details(
        "Values f(x)/f'(x) at five points",
        vec![Block::Pre(table.clone())],
    );
    if let Some(i) = relu {
        s.headline(Headline::number(
            "E[ReLU(Z)], standard normal Z",
            mean(relu),
            4,
            pointer(&["gaussian", &i.to_string(), "mean"]),
        ));
    }
    if relu.is_some() && gelu.is_some() {
        s.headline(Headline::number(
            "E[ReLU(Z)] / E[GELU(Z)]",
            ratio,
            5,
            pointer(&["relu_over_gelu_mean"]),
        ));
    }
    Ok(SectionOutput {
        section: s,
        json: json!({"gaussian": stats, "relu_over_gelu_mean": ratio}),
        text: format!("Activation family: f(x)/f'(x)\n{table}"),
    })
}
