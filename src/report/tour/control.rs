//! Control: reachable sets of the double integrator under its ReLU controller (issue 12).

use super::{SectionOutput, Tour};
use crate::plot::Figure;
use crate::reach::enclose::{reach, simulated_boxes, tightness, ReachOptions};
use crate::reach::exact::exact_sets;
use crate::reach::plot::reach_chart;
use crate::reach::safety::{decide, Answer, Query, StateSet};
use crate::reach::{double_integrator, unroll};
use crate::report::{pointer, Headline, Section, Table};
use crate::Result;
use serde_json::json;
use std::time::Duration;

/// The section.
pub(super) fn section(tour: &mut Tour, mut s: Section) -> Result<SectionOutput> {
    let cl = double_integrator()?;
    let steps = 5;
    let un = unroll(&cl, steps)?;
    let r = reach(
        &cl,
        &un,
        &ReachOptions {
            steps,
            target_error: 0.05,
            time_limit: Duration::from_secs(2),
            ..Default::default()
        },
    )?;
    let samples = tour.pick(100_000, 10_000);
    let truth = simulated_boxes(&cl, steps, samples, tour.seed());
    let exact = exact_sets(&cl, steps)?;
    let err: Vec<f64> = (0..=steps)
        .map(|k| tightness((&r.steps[k].lo, &r.steps[k].hi), (&truth[k].0, &truth[k].1)))
        .collect();
    let avoid = StateSet::Box {
        lo: vec![f64::NEG_INFINITY, f64::NEG_INFINITY],
        hi: vec![f64::INFINITY, -1.2],
    };
    let (answer, safety_s) = decide(
        &cl,
        &Query::Avoid(avoid),
        steps,
        Duration::from_secs(5),
        tour.seed(),
    )?;
    let chart = reach_chart(&cl, &r, Some(&exact), steps, [0, 1], tour.seed());
    let fig = Figure::single(chart);
    tour.save_figure(&fig, "control_double_integrator")?;
    s.lead(format!(
        "The double integrator x[t+1] = [[1, 1], [0, 1]] x[t] + [0.5, 1] u[t] under a 2-10-5-1 ReLU \
         controller with u clipped to [−1, 1] (nfl_veripy's benchmark) is one piecewise-linear \
         network of x[0] when unrolled; the verifier's engine bounds every step through it. From \
         [2.5, 3] × [−0.25, 0.25], the sound boxes of 5 steps take {:.3} s on {} parts, and the \
         final box is {:.2}% larger in area than the box of {samples} simulated trajectories \
         (published: Reach-LP 1590×, Reach-LP with 16 parts 34×, Everett et al. 2021).",
        r.seconds,
        r.parts.len(),
        100.0 * err[steps]
    ))
    .key_figure(
        &fig,
        "Sound boxes per step (red), exact reachable polygons (green), simulated trajectories (grey)",
    )?;
    let mut t = Table {
        id: "control-steps".into(),
        caption: "Per step: sound box, box of simulated states, exact pieces".into(),
        header: vec![
            "step".into(),
            "sound box".into(),
            "simulated box".into(),
            "tightness".into(),
            "exact pieces".into(),
        ],
        ..Default::default()
    };
    let fmt = |lo: &[f64], hi: &[f64]| {
        format!(
            "[{:.4}, {:.4}] × [{:.4}, {:.4}]",
            lo[0], hi[0], lo[1], hi[1]
        )
    };
    for k in 0..=steps {
        t.rows.push(vec![
            k.to_string(),
            fmt(&r.steps[k].lo, &r.steps[k].hi),
            fmt(&truth[k].0, &truth[k].1),
            format!("{:.4}", err[k]),
            if k == 0 {
                "-".into()
            } else {
                exact.steps[k - 1].len().to_string()
            },
        ]);
    }
    s.table(t).text(format!(
        "Exact mode: the region engine cuts the initial box into the cells where the unrolled \
         loop is affine; each step's reachable set is the union of the cells' images ({} pieces \
         at step 5). Safety: `--avoid 'box = [[-inf, inf], [-inf, -1.2]]'` (velocity below −1.2 \
         within 5 steps) is {} ({:.3} s, the verifier's branch and bound on the unrolled loop). \
         Command: relulab reach --system data/control/double_integrator/system.toml \
         --controller data/control/double_integrator/controller.safetensors --target-error 0.05 \
         --exact --plot reach.svg",
        exact.steps[steps - 1].len(),
        answer.as_str(),
        safety_s
    ));
    s.headline(Headline::number(
        "final-step error of the sound boxes, double integrator",
        err[steps],
        2,
        pointer(&["final_tightness"]),
    ))
    .headline(Headline::number(
        "seconds for the sound boxes",
        r.seconds,
        2,
        pointer(&["seconds"]),
    ));
    let text = format!(
        "Double integrator, 5 steps: final-step tightness {:.4} in {:.3} s ({} parts); avoid v ≤ −1.2: {}\n",
        err[steps],
        r.seconds,
        r.parts.len(),
        answer.as_str()
    );
    let safe = matches!(answer, Answer::Safe);
    Ok(SectionOutput {
        section: s,
        json: json!({
            "steps": (0..=steps).map(|k| json!({
                "lo": r.steps[k].lo, "hi": r.steps[k].hi,
                "true_lo": truth[k].0, "true_hi": truth[k].1, "tightness": err[k],
            })).collect::<Vec<_>>(),
            "final_tightness": err[steps],
            "seconds": r.seconds,
            "parts": r.parts.len(),
            "true_samples": samples,
            "exact_pieces": exact.steps.iter().map(|p| p.len()).collect::<Vec<_>>(),
            "avoid_safe": safe,
        }),
        text,
    })
}
