//! Closed-loop reachability (issue 12): the double integrator (5 steps; embedded copy of
//! shared/benchmarks/control/double_integrator) and the quadrotor (6 states, 9 steps; read from
//! shared/benchmarks/control in place, skipped when absent): final-step tightness
//! (area computed − area true) / area true, the true box from 10⁶ simulated trajectories plus
//! the initial box's corners, and the median runtime of 11 runs; every simulated state checked
//! inside the computed boxes. Exact mode on the double integrator: every one of 10⁶ simulated
//! states inside its step's polygons, every polygon vertex reproduced by simulating its initial
//! state (within 1e-9).
//!
//! Peer: auto_LiRPA's CROWN and α-CROWN on the same unrolled loop over the whole initial box
//! (bench/peers/reach_autolirpa.py, run from `.venv-peers/bin/python` or `$RELULAB_PEER_PYTHON`;
//! skipped with a note when torch / auto_LiRPA are missing), beside relulab's CROWN and
//! α-CROWN on one part.
//!
//! `RAYON_NUM_THREADS=2 cargo bench --bench reach`

use relulab::activation::Activation;
use relulab::reach::enclose::{reach, simulated_boxes, tightness, Reach, ReachOptions};
use relulab::reach::exact::exact_sets;
use relulab::reach::{double_integrator, load_loop, unroll, ClosedLoop};
use std::path::PathBuf;
use std::time::{Duration, Instant};

const SAMPLES: usize = 1_000_000;

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// Median runtime of `reps` runs and the last result.
fn timed(cl: &ClosedLoop, steps: usize, opts: &ReachOptions, reps: usize) -> (f64, Reach) {
    let un = unroll(cl, steps).expect("unroll");
    let mut times = Vec::new();
    let mut last = None;
    for _ in 0..reps {
        let t = Instant::now();
        let r = reach(cl, &un, opts).expect("reach");
        times.push(t.elapsed().as_secs_f64());
        last = Some(r);
    }
    (median(times), last.expect("reps ≥ 1"))
}

fn all_inside(cl: &ClosedLoop, r: &Reach, steps: usize) -> bool {
    relulab::reach::enclose::sample_initial(cl, 100_000, 99)
        .iter()
        .all(|x0| {
            cl.simulate(x0, steps).iter().enumerate().all(|(k, x)| {
                x.iter()
                    .enumerate()
                    .all(|(j, v)| r.steps[k].lo[j] <= *v && *v <= r.steps[k].hi[j])
            })
        })
}

fn row(name: &str, method: &str, secs: f64, err: f64, parts: usize, inside: Option<bool>) {
    println!(
        "| {name} | {method} | {secs:.4} | {err:.4} | {parts} | {} |",
        match inside {
            Some(true) => "yes",
            Some(false) => "NO",
            None => "-",
        }
    );
}

fn bench_loop(name: &str, cl: &ClosedLoop, steps: usize, target: f64) -> Vec<(String, [f64; 2])> {
    let truth = simulated_boxes(cl, steps, SAMPLES, 12);
    let (tlo, thi) = (&truth[steps].0, &truth[steps].1);
    let mut crown_final = Vec::new();
    for (method, opts, reps) in [
        (
            "CROWN, 1 part".to_string(),
            ReachOptions {
                steps,
                time_limit: Duration::ZERO,
                ..Default::default()
            },
            11,
        ),
        (
            "alpha-CROWN (20 it.), 1 part".to_string(),
            ReachOptions {
                steps,
                alpha_iters: 20,
                time_limit: Duration::ZERO,
                ..Default::default()
            },
            11,
        ),
        (
            format!("CROWN, refined to target {target}"),
            ReachOptions {
                steps,
                target_error: target,
                time_limit: Duration::from_secs(30),
                ..Default::default()
            },
            11,
        ),
    ] {
        let (secs, r) = timed(cl, steps, &opts, reps);
        let err = tightness((&r.steps[steps].lo, &r.steps[steps].hi), (tlo, thi));
        row(
            name,
            &method,
            secs,
            err,
            r.parts.len(),
            Some(all_inside(cl, &r, steps)),
        );
        if r.parts.len() == 1 {
            crown_final.push((method, [err, secs]));
        }
    }
    crown_final
}

fn peer(name: &str, cl: &ClosedLoop, steps: usize) {
    let python = std::env::var("RELULAB_PEER_PYTHON").unwrap_or_else(|_| {
        concat!(env!("CARGO_MANIFEST_DIR"), "/.venv-peers/bin/python").to_string()
    });
    let un = unroll(cl, steps).expect("unroll");
    let dir = std::env::temp_dir().join(format!("relulab-reach-peer-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let net = dir.join("unrolled.json");
    let j = serde_json::json!({
        "layers": un.mlp.layers.iter().map(|l| serde_json::json!({
            "in": l.in_dim, "out": l.out_dim, "w": l.weight, "b": l.bias,
            "alpha": if l.prelu_alpha.is_empty() { vec![1.0; l.out_dim] } else { l.prelu_alpha.clone() },
        })).collect::<Vec<_>>(),
        "lo": cl.plant.init_lo, "hi": cl.plant.init_hi,
    });
    std::fs::write(&net, j.to_string()).expect("write");
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/bench/peers/reach_autolirpa.py"
    );
    let truth = simulated_boxes(cl, steps, SAMPLES, 12);
    let out = std::process::Command::new(&python)
        .arg(script)
        .arg(&net)
        .output();
    std::fs::remove_dir_all(&dir).ok();
    match out {
        Ok(o) if o.status.success() => {
            for line in String::from_utf8_lossy(&o.stdout).lines() {
                let Ok(v) = serde_json::from_str::<serde_json::Value>(line) else {
                    continue;
                };
                let f = |k: &str| -> Vec<f64> {
                    v[k].as_array()
                        .map(|a| a.iter().filter_map(|x| x.as_f64()).collect())
                        .unwrap_or_default()
                };
                let (lo, hi) = (f("lo"), f("hi"));
                let err = tightness((&lo, &hi), (&truth[steps].0, &truth[steps].1));
                row(
                    name,
                    &format!("auto_LiRPA {}, 1 part", v["method"].as_str().unwrap_or("?")),
                    v["seconds"].as_f64().unwrap_or(f64::NAN),
                    err,
                    1,
                    None,
                );
            }
        }
        Ok(o) => println!(
            "  (peer auto_LiRPA skipped: {})",
            String::from_utf8_lossy(&o.stderr)
                .lines()
                .last()
                .unwrap_or("failed")
        ),
        Err(e) => println!("  (peer auto_LiRPA skipped: {python}: {e})"),
    }
}

fn main() {
    let threads = rayon::current_num_threads();
    println!("reach bench, {threads} threads, true boxes from {SAMPLES} trajectories + corners");
    println!("| loop | method | median s | final-step error | parts | all sims inside |");
    println!("|---|---|---|---|---|---|");
    let di = double_integrator().expect("embedded double integrator");
    bench_loop("double integrator, 5 steps", &di, 5, 0.05);
    peer("double integrator, 5 steps", &di, 5);
    let root = std::env::var_os("RELULAB_SHARED")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../shared")));
    let q = root.join("benchmarks/control/quadrotor");
    if q.is_dir() {
        let cl = load_loop(
            &q.join("system.toml"),
            &q.join("controller.onnx"),
            Activation::RELU,
        )
        .expect("quadrotor");
        bench_loop("quadrotor, 9 steps", &cl, 9, 0.5);
        peer("quadrotor, 9 steps", &cl, 9);
    } else {
        println!("  (quadrotor skipped: {} absent)", q.display());
    }
    // Exact mode.
    let t = Instant::now();
    let ex = exact_sets(&di, 5).expect("exact");
    let secs = t.elapsed().as_secs_f64();
    let x0s = relulab::reach::enclose::sample_initial(&di, SAMPLES, 77);
    let mut pts: Vec<Vec<Vec<f64>>> = (0..5).map(|_| Vec::with_capacity(SAMPLES)).collect();
    for x0 in &x0s {
        for (k, x) in di.simulate(x0, 5).into_iter().enumerate().skip(1) {
            pts[k - 1].push(x);
        }
    }
    let outside = ex.outside(&pts, 1e-9);
    let mut worst: f64 = 0.0;
    let mut vertices = 0;
    for k in 1..=5 {
        for p in &ex.steps[k - 1] {
            for (v, s) in p.image.iter().zip(&p.source) {
                let x = &di.simulate(s, k)[k];
                worst = worst.max((x[0] - v[0]).abs()).max((x[1] - v[1]).abs());
                vertices += 1;
            }
        }
    }
    println!(
        "exact double integrator: {secs:.3} s, pieces per step {:?}, simulated states outside (of {SAMPLES} per step): {outside:?}, {vertices} vertices, worst vertex-vs-simulation gap {worst:.2e}",
        ex.steps.iter().map(|s| s.len()).collect::<Vec<_>>()
    );
}
