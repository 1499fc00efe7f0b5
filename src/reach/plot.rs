//! Pictures of reachable sets: per-step enclosures over simulated trajectories, the initial box
//! and, when given, the exact polygons, in two chosen state coordinates.

use super::enclose::{sample_initial, Reach};
use super::exact::ExactSets;
use super::ClosedLoop;
use crate::plot::{LineChart, Series};

/// Enclosures (boxes per step) over simulated trajectories, the initial box and, when given,
/// the exact polygons, in state coordinates `d`.
pub fn reach_chart(
    cl: &ClosedLoop,
    r: &Reach,
    exact: Option<&ExactSets>,
    steps: usize,
    d: [usize; 2],
    seed: u64,
) -> LineChart {
    use plotters::style::RGBColor;
    let mut c = LineChart::new(format!("reachable sets, {steps} steps"))
        .labels(format!("x{}", d[0]), format!("x{}", d[1]));
    let rect = |lo: &[f64], hi: &[f64]| {
        vec![
            (lo[d[0]], lo[d[1]]),
            (hi[d[0]], lo[d[1]]),
            (hi[d[0]], hi[d[1]]),
            (lo[d[0]], hi[d[1]]),
            (lo[d[0]], lo[d[1]]),
        ]
    };
    for (i, x0) in sample_initial(cl, 40, seed).iter().enumerate() {
        let tr = cl.simulate(x0, steps);
        c = c.with_series(Series {
            name: if i == 0 {
                "simulated".into()
            } else {
                String::new()
            },
            points: tr.iter().map(|x| (x[d[0]], x[d[1]])).collect(),
            color: Some(RGBColor(170, 170, 170)),
            dashed: false,
        });
    }
    if let Some(ex) = exact {
        for (k, pieces) in ex.steps.iter().enumerate() {
            for (i, p) in pieces.iter().enumerate() {
                let mut pts: Vec<(f64, f64)> = p.image.iter().map(|v| (v[0], v[1])).collect();
                pts.push(pts[0]);
                c = c.with_series(Series {
                    name: if k == 0 && i == 0 {
                        "exact".into()
                    } else {
                        String::new()
                    },
                    points: pts,
                    color: Some(RGBColor(44, 160, 44)),
                    dashed: false,
                });
            }
        }
    }
    for (k, e) in r.steps.iter().enumerate() {
        c = c.with_series(Series {
            name: match k {
                0 => "initial box".into(),
                1 => "enclosure".into(),
                _ => String::new(),
            },
            points: rect(&e.lo, &e.hi),
            color: Some(if k == 0 {
                RGBColor(0, 0, 0)
            } else {
                RGBColor(214, 39, 40)
            }),
            dashed: k == 0,
        });
    }
    c
}
