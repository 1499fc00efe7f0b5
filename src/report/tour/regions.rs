//! Linear regions: the mosaic of a He-initialised net, the width/depth sweep, and the regions of
//! a classifier during training.

use super::{SectionOutput, Tour};
use crate::plot::{Figure, LineChart};
use crate::regions::monitor::RegionsMonitor;
use crate::report::{pointer, Headline, Section};
use crate::Result;
use serde_json::json;

/// A 2-16-16-2 ReLU classifier trained on moons for `epochs` epochs with its regions counted
/// every 2 (on the training data's box): the monitor, the final mosaic with the decision
/// boundary, and the test accuracy.
fn regions_during_training(seed: u64, epochs: usize) -> Result<(RegionsMonitor, String, f64)> {
    use crate::regions::monitor::{data_box, mosaic_with_boundary};
    let spec = crate::train::TrainSpec {
        dataset: Some("moons".into()),
        hidden: vec![16, 16],
        epochs,
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

/// The section.
pub(super) fn section(tour: &mut Tour, mut s: Section) -> Result<SectionOutput> {
    let regions = crate::regions::study::tour_regions(tour.seed())?;
    tour.save_svg(&regions.mosaic_svg, "regions_mosaic")?;
    tour.save_svg(&regions.sweep_svg, "regions_sweep")?;
    let widths = regions
        .widths
        .iter()
        .map(|w| w.to_string())
        .collect::<Vec<_>>()
        .join("-");
    let hidden: usize = regions.widths[1..regions.widths.len() - 1].iter().sum();
    let [u0, u1, v0, v1] = regions.bbox;
    s.lead(format!(
        "The square [{u0}, {u1}]×[{v0}, {v1}] of the input plane of a He-initialised {widths} ReLU \
         net falls into {} activation regions; each is coloured by how many of the {hidden} \
         hidden units are active in it, and the black curve is where the output is zero.",
        regions.activation_regions
    ))
    .key_svg(
        regions.mosaic_svg.clone(),
        "Activation regions coloured by the number of active hidden units",
    )
    .text(format!(
        "Each unit's line z = 0 cuts the plane; inside each polygon the network is one affine \
         map. Merging adjacent cells with equal affine maps leaves {} linear regions; polygon \
         areas sum to {:.12} of the box area {}. Crossing one unit's line switches one unit, \
         so neighbouring regions differ by one step of the colour scale.",
        regions.linear_regions,
        regions.area_sum / regions.box_area,
        regions.box_area
    ))
    .text(
        "Regions at initialisation versus width and depth (He-initialised 2-[w]×L-1 nets on the \
         same box). Hanin & Rolnick (2019) show the number of pieces along a line grows about \
         linearly in the number of units at initialisation, far below the exponential maximum.",
    )
    .svg(
        regions.sweep_svg.clone(),
        "Regions versus width and depth at initialisation",
    );
    let epochs = tour.pick(40, 10);
    let (during, during_svg, during_acc) = regions_during_training(tour.seed(), epochs)?;
    let during_chart = LineChart::new("moons, 2-16-16-2 ReLU: regions during training")
        .labels("epoch", "regions on the data's box (count)")
        .series(
            "linear regions",
            during
                .history
                .iter()
                .map(|c| (c.epoch as f64, c.linear as f64))
                .collect(),
        )
        .with_series(crate::plot::Series {
            name: "activation regions".into(),
            points: during
                .history
                .iter()
                .map(|c| (c.epoch as f64, c.activation as f64))
                .collect(),
            color: None,
            // Dashed: with identity outputs the two counts often coincide.
            dashed: true,
        });
    let fig = Figure::single(during_chart);
    tour.save_figure(&fig, "regions_during_training")?;
    tour.save_svg(&during_svg, "regions_trained_mosaic")?;
    let (first, last) = (
        during.history.first().copied(),
        during.history.last().copied(),
    );
    let count = |c: Option<crate::regions::monitor::RegionCount>| c.map_or(0, |c| c.linear);
    s.text(format!(
        "During training (relulab train --dataset moons --hidden 16,16 --lr 0.01 \
         --epochs {epochs} --regions-every 2): a 2-16-16-2 ReLU classifier on two interleaved \
         half-moons, counted on the data's box every 2 epochs. Linear regions: {} at \
         initialisation, where the biases are 0 and every first-layer line passes through the \
         origin; {} after {} epochs (test accuracy {:.1}%), once the biases have moved the lines \
         apart. The black curve on the mosaic is the decision boundary (equal logits).",
        count(first),
        count(last),
        last.map_or(0, |c| c.epoch),
        100.0 * during_acc
    ))
    .figure(&fig, "Regions during training")?
    .svg(
        during_svg,
        "The trained classifier's regions (coloured by active hidden units) and decision boundary",
    );
    s.headline(Headline::count(
        "activation regions, He-initialised net",
        regions.activation_regions,
        pointer(&["activation_regions"]),
    ))
    .headline(Headline::count(
        "linear regions, He-initialised net",
        regions.linear_regions,
        pointer(&["linear_regions"]),
    ))
    .headline(Headline::count(
        "linear regions of the trained classifier",
        count(last),
        pointer(&[
            "during_training",
            &during.history.len().saturating_sub(1).to_string(),
            "linear",
        ]),
    ));
    let text = format!(
        "Linear regions of a He-initialised {widths} ReLU net on [{}, {}]²: {} activation \
         regions, {} linear regions, area sum / box area = {:.12}\nRegions during training \
         (moons, 2-16-16-2): {}\n",
        regions.bbox[0],
        regions.bbox[1],
        regions.activation_regions,
        regions.linear_regions,
        regions.area_sum / regions.box_area,
        during
            .history
            .iter()
            .map(|c| format!("{} (epoch {})", c.linear, c.epoch))
            .collect::<Vec<_>>()
            .join(" → ")
    );
    Ok(SectionOutput {
        section: s,
        json: json!({
            "widths": regions.widths,
            "box": regions.bbox,
            "activation_regions": regions.activation_regions,
            "linear_regions": regions.linear_regions,
            "area_sum": regions.area_sum,
            "sweep": regions.sweep,
            "during_training": during.history,
            "during_training_test_accuracy": during_acc,
        }),
        text,
    })
}
