//! Lu et al. 2019's dying sweep: depth-10 width-2 ReLU nets, He versus RAI initialisation.

use super::{SectionOutput, Tour};
use crate::plot::{Bars, Figure};
use crate::report::{fmt_sig, pointer, Headline, Section, Table};
use crate::Result;
use serde_json::json;

/// The section.
pub(super) fn section(tour: &mut Tour, mut s: Section) -> Result<SectionOutput> {
    let cfg = crate::remedy::lu::DyingSweep {
        // A smaller sweep than the bench's, for time.
        runs: tour.pick(200, 50),
        seed: tour.seed(),
        ..Default::default()
    };
    let sweeps: Vec<_> = [
        crate::net::Init::HeNormal,
        crate::net::Init::Rai { sigma2: 1.0 },
    ]
    .into_iter()
    .map(|init| crate::remedy::lu::dying_sweep(&cfg, init))
    .collect();
    let bars = Bars::new("Depth-10 width-2 ReLU nets fitting |x|")
        .labels("initialisation", "fraction of runs")
        .categories(sweeps.iter().map(|o| o.init.clone()).collect())
        .group(
            "born dead",
            sweeps.iter().map(|o| o.born_dead_fraction).collect(),
        )
        .group(
            "collapsed after training",
            sweeps.iter().map(|o| o.collapsed_fraction).collect(),
        );
    let fig = Figure::single(bars).panel_size(crate::plot::ROW_WIDTH * 2 / 3, 340);
    tour.save_figure(&fig, "dying_sweep")?;
    let mut t = Table {
        id: "dying-sweep-table".into(),
        caption: format!(
            "Lu et al. 2019: depth-10 width-2 ReLU nets fitting |x| (Adam, {} steps)",
            cfg.steps
        ),
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
    let mut text = String::from("Lu et al. dying sweep (depth 10, width 2, |x|):\n");
    for o in &sweeps {
        t.rows.push(vec![
            o.init.clone(),
            o.runs.to_string(),
            format!("{:.1}%", 100.0 * o.born_dead_fraction),
            format!("{:.1}%", 100.0 * o.collapsed_fraction),
            fmt_sig(o.seconds_per_run, 3),
            fmt_sig(o.wall_seconds, 3),
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
    let verdicts = sweeps
        .iter()
        .map(|o| format!("{:.0}% under {}", 100.0 * o.collapsed_fraction, o.init))
        .collect::<Vec<_>>()
        .join(", ");
    s.lead(format!(
        "Of {} narrow deep ReLU nets per initialisation, the share that starts with a dead \
         layer and the share that collapses to a constant after training; collapsed: {verdicts}.",
        cfg.runs
    ))
    .key_figure(&fig, "Born dead and collapsed fraction, He versus RAI")?
    .text(
        "Lu, Shin, Su & Karniadakis 2019 report that more than 90% of such nets collapse under \
         He initialisation, and far fewer under their randomized asymmetric initialisation \
         (RAI). Born dead: some hidden layer is zero on every data point at initialisation. \
         Collapsed: the trained output varies by less than 1e-3·√3 over the data.",
    )
    .table(t);
    for (i, o) in sweeps.iter().enumerate() {
        s.headline(Headline::percent(
            format!("collapsed, {}", o.init),
            o.collapsed_fraction,
            1,
            pointer(&[&i.to_string(), "collapsed_fraction"]),
        ));
    }
    Ok(SectionOutput {
        section: s,
        json: json!(sweeps),
        text,
    })
}
