//! Regions per second of the exact 2-D partition (issue 5).
//!
//! `cargo bench --bench regions` prints, for He-initialised ReLU nets 2-[w]×L-1 (w in 16/32/64,
//! L in 2/4/8) on [−2, 2]², the number of activation regions, the time and regions/s; then the
//! anchor 2-[64]×8-1 on [−2, 2]² against Berzins' quoted 1,200 regions/s (edge subdivision,
//! PyTorch CPU, 2 threads: 89,136 regions in 76 s; Berzins, ICML 2023 — a quoted figure, not
//! rerun here), and the million-region run (2-[64]×6-1 on a large box, target ≤ 10 s).
//! Thread count: rayon's default (all cores), or RAYON_NUM_THREADS.
//! `cargo bench --bench regions -- --quick` runs the grid only once each.

use relulab::regions::study::he_relu_net;
use relulab::regions::{partition, GeoNet, PlaneOptions, Slice};
use std::time::Instant;

/// Best of `reps` runs: (cells, activation regions, seconds).
fn measure(widths: &[usize], bbox: [f64; 4], reps: usize) -> (usize, f64) {
    let net = GeoNet::new(&he_relu_net(widths, 0)).expect("valid net");
    let slice = Slice::plane(bbox);
    let mut best = f64::INFINITY;
    let mut cells = 0;
    for _ in 0..reps {
        let t = Instant::now();
        let p = partition(&net, &slice, PlaneOptions::default()).expect("partition");
        best = best.min(t.elapsed().as_secs_f64());
        cells = p.len();
    }
    (cells, best)
}

fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let reps = if quick { 1 } else { 3 };
    println!("threads: {}", rayon::current_num_threads());
    println!("| net | box | regions | seconds | regions/s |");
    println!("|---|---|---:|---:|---:|");
    for w in [16, 32, 64] {
        for depth in [2, 4, 8] {
            let mut widths = vec![2];
            widths.extend(std::iter::repeat_n(w, depth));
            widths.push(1);
            let (n, s) = measure(&widths, [-2.0, 2.0, -2.0, 2.0], reps);
            println!(
                "| 2-[{w}]×{depth}-1 | [−2,2]² | {n} | {s:.3} | {:.0} |",
                n as f64 / s
            );
        }
    }
    let (n, s) = measure(
        &[2, 64, 64, 64, 64, 64, 64, 64, 64, 1],
        [-2.0, 2.0, -2.0, 2.0],
        reps,
    );
    let rate = n as f64 / s;
    println!(
        "anchor 2-[64]×8-1 on [−2,2]²: {n} regions in {s:.3} s = {rate:.0} regions/s = {:.1}× Berzins' 1,200/s (target ≥ 50×)",
        rate / 1200.0
    );
    let (n, s) = measure(
        &[2, 64, 64, 64, 64, 64, 64, 1],
        [-12.0, 12.0, -12.0, 12.0],
        1,
    );
    println!(
        "million: 2-[64]×6-1 on [−12,12]²: {n} regions in {s:.2} s = {:.0} regions/s (target ≥ 1,000,000 in ≤ 10 s)",
        n as f64 / s
    );
}
