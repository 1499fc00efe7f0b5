//! `reach` (issue 12): the unrolled loop against plain simulation, the sound enclosures against
//! simulated states and the exact sets of the region engine, the exact sets themselves
//! (samples inside, vertices reproduced by simulation), safety answers against the exact sets,
//! bad input, determinism. Self-contained loops are built here; the double integrator comes
//! from data/control (a copy of shared/benchmarks/control), the quadrotor from shared/ through
//! the skip helper.

#![allow(clippy::needless_range_loop)]

mod common;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use relulab::activation::Activation;
use relulab::net::{Layer, Mlp};
use relulab::reach::enclose::{
    octagon, reach, sample_initial, simulated_boxes, tightness, ReachOptions,
};
use relulab::reach::exact::exact_sets;
use relulab::reach::safety::{decide, Answer, Query, StateSet};
use relulab::reach::{double_integrator, unroll, ClosedLoop, Plant};
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

fn data(p: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(p)
}

/// A random 2-h1-h2-m ReLU controller.
fn controller(widths: &[usize], seed: u64, scale: f32) -> Mlp<f32> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let n = widths.len() - 1;
    Mlp {
        layers: (0..n)
            .map(|l| {
                let (i, o) = (widths[l], widths[l + 1]);
                Layer {
                    in_dim: i,
                    out_dim: o,
                    weight: (0..i * o)
                        .map(|_| scale * (rng.random::<f32>() * 2.0 - 1.0))
                        .collect(),
                    bias: Some((0..o).map(|_| 0.3 * (rng.random::<f32>() - 0.5)).collect()),
                    activation: if l + 1 < n {
                        Activation::RELU
                    } else {
                        Activation::Identity
                    },
                    prelu_alpha: Vec::new(),
                }
            })
            .collect(),
    }
}

/// A damped 2-D plant. `exact_numbers`: every bias fold is exact (powers of two); otherwise
/// u_min = −0.3 and c = 0.1 force the separate `u` layer and the constant units.
fn toy(exact_numbers: bool, seed: u64) -> ClosedLoop {
    let text = if exact_numbers {
        "A = [[1.0, 0.25], [0.0, 0.875]]\nB = [[0.125], [0.5]]\nc = [0.0, 0.0625]\n\
         u_min = [-0.5]\nu_max = [0.5]\ninitial_box = [[0.5, 1.0], [-0.25, 0.25]]\nsteps = 4\n"
    } else {
        "A = [[0.9, 0.2], [-0.1, 0.95]]\nB = [[0.1], [0.3]]\nc = [0.1, -0.07]\n\
         u_min = [-0.3]\nu_max = [0.45]\ninitial_box = [[0.5, 1.1], [-0.3, 0.2]]\nsteps = 4\n"
    };
    let plant = Plant::parse(text, "toy.toml").unwrap();
    ClosedLoop::new(plant, controller(&[2, 8, 6, 1], seed, 1.2), "toy").unwrap()
}

/// A 3-state, 2-input loop.
fn toy3(seed: u64) -> ClosedLoop {
    let text = "A = [[1.0, 0.1, 0.0], [0.0, 0.9, 0.1], [0.05, 0.0, 0.95]]\n\
                B = [[0.0, 0.1], [0.2, 0.0], [0.1, 0.1]]\nc = [0.01, 0.0, -0.02]\n\
                u_min = [-0.4, -0.2]\nu_max = [0.4, 0.3]\n\
                initial_box = [[0.0, 0.3], [0.1, 0.4], [-0.2, 0.1]]\nsteps = 3\n";
    let plant = Plant::parse(text, "toy3.toml").unwrap();
    ClosedLoop::new(plant, controller(&[3, 10, 2], seed, 1.0), "toy3").unwrap()
}

#[test]
fn unrolled_network_equals_simulation() {
    for (cl, folded) in [
        (toy(true, 1), true),
        (toy(false, 2), false),
        (toy3(3), false),
    ] {
        let steps = cl.plant.steps;
        let un = unroll(&cl, steps).unwrap();
        assert_eq!(un.folded_constant, folded);
        assert_eq!(un.state_layer.len(), steps);
        for x0 in sample_initial(&cl, 500, 7) {
            let tr = cl.simulate(&x0, steps);
            let st = un.states(&x0);
            for k in 1..=steps {
                for (a, b) in st[k - 1].iter().zip(&tr[k]) {
                    assert!(
                        (a - b).abs() <= 1e-12 * (1.0 + b.abs()),
                        "step {k}: network {a}, simulation {b}"
                    );
                }
            }
        }
    }
    // The commands saturate on these loops (otherwise the clip is not exercised).
    let cl = toy(false, 2);
    let sat = sample_initial(&cl, 500, 7).iter().any(|x| {
        let u = cl.ctrl.forward(x)[0];
        u < cl.plant.u_min[0] || u > cl.plant.u_max[0]
    });
    assert!(sat, "no sample saturates");
}

#[test]
fn enclosures_contain_simulated_and_exact_states() {
    for (i, cl) in [toy(true, 11), toy(false, 12), toy(false, 13)]
        .into_iter()
        .enumerate()
    {
        let steps = cl.plant.steps;
        let un = unroll(&cl, steps).unwrap();
        let exact = exact_sets(&cl, steps).unwrap();
        for (parts, alpha) in [(1, 0), (3, 5)] {
            let opts = ReachOptions {
                steps,
                parts,
                alpha_iters: alpha,
                directions: octagon(2),
                time_limit: Duration::ZERO,
                ..Default::default()
            };
            let r = reach(&cl, &un, &opts).unwrap();
            assert_eq!(r.parts.len(), parts * parts);
            for x0 in sample_initial(&cl, 3000, 5 + i as u64) {
                let tr = cl.simulate(&x0, steps);
                for (k, x) in tr.iter().enumerate() {
                    let e = &r.steps[k];
                    for j in 0..2 {
                        assert!(e.lo[j] <= x[j] && x[j] <= e.hi[j], "step {k} state {j}");
                    }
                    if k > 0 {
                        for (d, ub) in r.directions.iter().zip(&e.template) {
                            assert!(d[0] * x[0] + d[1] * x[1] <= *ub, "template, step {k}");
                        }
                    }
                }
            }
            // Every vertex of the exact sets (images of initial states) is inside.
            for k in 1..=steps {
                for p in &exact.steps[k - 1] {
                    for v in &p.image {
                        let e = &r.steps[k];
                        for j in 0..2 {
                            assert!(
                                e.lo[j] <= v[j] + 1e-9 && v[j] - 1e-9 <= e.hi[j],
                                "exact vertex outside, step {k}"
                            );
                        }
                    }
                }
            }
        }
    }
}

#[test]
fn three_state_enclosures_contain_simulated_states() {
    let cl = toy3(21);
    let un = unroll(&cl, 3).unwrap();
    let r = reach(
        &cl,
        &un,
        &ReachOptions {
            steps: 3,
            parts: 2,
            alpha_iters: 3,
            directions: octagon(3),
            time_limit: Duration::ZERO,
            ..Default::default()
        },
    )
    .unwrap();
    for x0 in sample_initial(&cl, 3000, 9) {
        for (k, x) in cl.simulate(&x0, 3).iter().enumerate() {
            for j in 0..3 {
                assert!(r.steps[k].lo[j] <= x[j] && x[j] <= r.steps[k].hi[j]);
            }
            if k > 0 {
                for (d, ub) in r.directions.iter().zip(&r.steps[k].template) {
                    let v: f64 = d.iter().zip(x).map(|(a, b)| a * b).sum();
                    assert!(v <= *ub);
                }
            }
        }
    }
}

#[test]
fn refinement_closes_on_the_exact_bounding_box() {
    // The exact sets' bounding box is the true box; refinement must reach it to the target.
    let cl = toy(false, 31);
    let un = unroll(&cl, 4).unwrap();
    let exact = exact_sets(&cl, 4).unwrap();
    let b = exact.bbox(4);
    let (tlo, thi) = (vec![b[0], b[2]], vec![b[1], b[3]]);
    let coarse = reach(
        &cl,
        &un,
        &ReachOptions {
            steps: 4,
            time_limit: Duration::ZERO,
            ..Default::default()
        },
    )
    .unwrap();
    let fine = reach(
        &cl,
        &un,
        &ReachOptions {
            steps: 4,
            target_error: 0.01,
            time_limit: Duration::from_secs(20),
            ..Default::default()
        },
    )
    .unwrap();
    let e0 = tightness((&coarse.steps[4].lo, &coarse.steps[4].hi), (&tlo, &thi));
    let e1 = tightness((&fine.steps[4].lo, &fine.steps[4].hi), (&tlo, &thi));
    assert!(
        e1 >= -1e-9,
        "the sound box is smaller than the exact set: {e1}"
    );
    assert!(e1 <= 0.02, "refined error {e1} (coarse {e0})");
    assert!(e1 <= e0);
}

#[test]
fn exact_sets_hold_every_simulated_state_and_vertices_are_reached() {
    for cl in [toy(true, 41), toy(false, 42)] {
        let steps = 4;
        let exact = exact_sets(&cl, steps).unwrap();
        let x0s = sample_initial(&cl, 20_000, 3);
        let mut pts = vec![Vec::new(); steps];
        for x0 in &x0s {
            for (k, x) in cl.simulate(x0, steps).into_iter().enumerate().skip(1) {
                pts[k - 1].push(x);
            }
        }
        assert_eq!(exact.outside(&pts, 1e-9), vec![0; steps]);
        for k in 1..=steps {
            for p in &exact.steps[k - 1] {
                for (v, s) in p.image.iter().zip(&p.source) {
                    let x = &cl.simulate(s, k)[k];
                    assert!(
                        (x[0] - v[0]).abs() <= 1e-9 && (x[1] - v[1]).abs() <= 1e-9,
                        "vertex {v:?} vs simulated {x:?}"
                    );
                }
            }
        }
        // The sets are not trivially large: a point well outside the sound box is outside.
        let b = exact.bbox(steps);
        assert!(!exact.contains(steps, &[b[1] + 1.0, b[3] + 1.0], 1e-9));
    }
}

#[test]
fn safety_answers_agree_with_the_exact_sets() {
    let cl = toy(false, 51);
    let steps = 4;
    let exact = exact_sets(&cl, steps).unwrap();
    let t = Duration::from_secs(20);
    // Avoid: the half-plane just above the highest x1 ever reached is never entered.
    let top = (0..=steps)
        .map(|k| {
            if k == 0 {
                cl.plant.init_hi[1]
            } else {
                exact.bbox(k)[3]
            }
        })
        .fold(f64::NEG_INFINITY, f64::max);
    let span = 0.05 * (1.0 + top.abs());
    let safe = StateSet::Box {
        lo: vec![f64::NEG_INFINITY, top + span],
        hi: vec![f64::INFINITY, f64::INFINITY],
    };
    let (a, _) = decide(&cl, &Query::Avoid(safe), steps, t, 0).unwrap();
    assert_eq!(a, Answer::Safe);
    // Just below it: some trajectory enters; the witness re-simulates into the set.
    let unsafe_set = StateSet::Box {
        lo: vec![f64::NEG_INFINITY, top - span],
        hi: vec![f64::INFINITY, f64::INFINITY],
    };
    let (a, _) = decide(&cl, &Query::Avoid(unsafe_set.clone()), steps, t, 0).unwrap();
    match a {
        Answer::Unsafe {
            x0,
            trajectory,
            step,
        } => {
            assert_eq!(trajectory, cl.simulate(&x0, steps));
            assert!(unsafe_set.contains(&trajectory[step]));
        }
        other => panic!("expected unsafe, got {other:?}"),
    }
    // Goal: the exact final box, widened, holds x[N]; shrunk, it does not.
    let b = exact.bbox(steps);
    let (w0, w1) = (b[1] - b[0], b[3] - b[2]);
    let goal = |f: f64| StateSet::Box {
        lo: vec![b[0] - f * w0, b[2] - f * w1],
        hi: vec![b[1] + f * w0, b[3] + f * w1],
    };
    let (a, _) = decide(&cl, &Query::ReachGoal(goal(0.05)), steps, t, 0).unwrap();
    assert_eq!(a, Answer::Safe);
    let (a, _) = decide(&cl, &Query::ReachGoal(goal(-0.1)), steps, t, 0).unwrap();
    match a {
        Answer::Unsafe { trajectory, .. } => {
            assert!(!goal(-0.1).contains(&trajectory[steps]))
        }
        other => panic!("expected unsafe, got {other:?}"),
    }
}

#[test]
fn same_bits_for_one_and_two_threads() {
    let cl = toy(false, 61);
    let un = unroll(&cl, 4).unwrap();
    let opts = ReachOptions {
        steps: 4,
        parts: 2,
        alpha_iters: 4,
        target_error: 0.001,
        max_parts: 64,
        time_limit: Duration::from_secs(60),
        ..Default::default()
    };
    let run = |t: usize| {
        rayon::ThreadPoolBuilder::new()
            .num_threads(t)
            .build()
            .unwrap()
            .install(|| reach(&cl, &un, &opts).unwrap())
    };
    let (a, b) = (run(1), run(2));
    assert_eq!(a.parts.len(), b.parts.len());
    for (x, y) in a.steps.iter().zip(&b.steps) {
        let bits = |v: &[f64]| v.iter().map(|f| f.to_bits()).collect::<Vec<_>>();
        assert_eq!(bits(&x.lo), bits(&y.lo));
        assert_eq!(bits(&x.hi), bits(&y.hi));
    }
}

#[test]
fn double_integrator_meets_its_target() {
    // Embedded copy equals the state_dict file.
    let cl = double_integrator().unwrap();
    let from_file = relulab::reach::load_loop(
        &data("data/control/double_integrator/system.toml"),
        &data("data/control/double_integrator/controller.safetensors"),
        Activation::RELU,
    )
    .unwrap();
    assert_eq!(cl.controller, from_file.controller);
    assert_eq!(cl.plant, from_file.plant);
    let un = unroll(&cl, 5).unwrap();
    let r = reach(
        &cl,
        &un,
        &ReachOptions {
            steps: 5,
            target_error: 0.05,
            time_limit: Duration::from_secs(5),
            ..Default::default()
        },
    )
    .unwrap();
    let truth = simulated_boxes(&cl, 5, 100_000, 1);
    let exact = exact_sets(&cl, 5).unwrap();
    for k in 0..=5 {
        for j in 0..2 {
            assert!(r.steps[k].lo[j] <= truth[k].0[j] && truth[k].1[j] <= r.steps[k].hi[j]);
        }
        if k > 0 {
            let b = exact.bbox(k);
            assert!(r.steps[k].lo[0] <= b[0] + 1e-9 && b[1] - 1e-9 <= r.steps[k].hi[0]);
            assert!(r.steps[k].lo[1] <= b[2] + 1e-9 && b[3] - 1e-9 <= r.steps[k].hi[1]);
        }
    }
    let err = tightness((&r.steps[5].lo, &r.steps[5].hi), (&truth[5].0, &truth[5].1));
    assert!(err <= 0.05, "final-step error {err}");
}

#[test]
fn quadrotor_from_shared_meets_its_target() {
    let Some(root) = common::shared_or_skip("reach_quadrotor") else {
        return;
    };
    let dir = root.join("benchmarks/control/quadrotor");
    if !dir.is_dir() {
        common::cannot_run(
            "reach_quadrotor",
            "shared/benchmarks/control/quadrotor is absent",
        );
        return;
    }
    for ctrl in ["controller.onnx", "controller.safetensors"] {
        let cl =
            relulab::reach::load_loop(&dir.join("system.toml"), &dir.join(ctrl), Activation::RELU)
                .unwrap();
        let un = unroll(&cl, 9).unwrap();
        let r = reach(
            &cl,
            &un,
            &ReachOptions {
                steps: 9,
                target_error: 0.5,
                time_limit: Duration::from_secs(10),
                ..Default::default()
            },
        )
        .unwrap();
        let truth = simulated_boxes(&cl, 9, 20_000, 2);
        for k in 0..=9 {
            for j in 0..6 {
                assert!(r.steps[k].lo[j] <= truth[k].0[j] && truth[k].1[j] <= r.steps[k].hi[j]);
            }
        }
        let err = tightness((&r.steps[9].lo, &r.steps[9].hi), (&truth[9].0, &truth[9].1));
        assert!(err <= 0.5, "{ctrl}: final-step error {err}");
    }
}

fn plant_err(text: &str) -> String {
    Plant::parse(text, "p.toml").unwrap_err().to_string()
}

#[test]
fn bad_plants_name_file_and_field() {
    let ok = "A = [[1.0, 0.0], [0.0, 1.0]]\nB = [[0.0], [1.0]]\nc = [0.0, 0.0]\nu_min = [-1.0]\n\
              u_max = [1.0]\ninitial_box = [[0.0, 1.0], [0.0, 1.0]]\nsteps = 2\n";
    assert!(Plant::parse(ok, "p.toml").is_ok());
    let cases = [
        (
            "A = [[1.0, 0.0], [0.0, 1.0]]",
            "A = [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]]",
            "'A'",
        ),
        ("B = [[0.0], [1.0]]", "B = [[0.0], [1.0], [2.0]]", "'B'"),
        ("c = [0.0, 0.0]", "c = [0.0]", "'c'"),
        ("u_min = [-1.0]", "u_min = [2.0]", "'u_min[0]'"),
        ("u_max = [1.0]", "u_max = [1.0, 2.0]", "'u_max'"),
        (
            "[[0.0, 1.0], [0.0, 1.0]]",
            "[[0.0, 1.0], [1.0, 0.0]]",
            "'initial_box[1]'",
        ),
        ("c = [0.0, 0.0]", "c = [0.0, nan]", "'c[1]'"),
        ("c = [0.0, 0.0]", "c = [inf, 0.0]", "'c[0]'"),
        ("steps = 2", "steps = 0", "'steps'"),
        (
            "steps = 2",
            "steps = 2\ninitial_H = [[1.0, 0.0]]\ninitial_h = [-1.0]",
            "'initial_h[0]'",
        ),
        ("steps = 2", "steps = 2\nD = 1", "'D'"),
    ];
    for (from, to, field) in cases {
        let text = ok.replace(from, to);
        assert_ne!(text, ok);
        let e = plant_err(&text);
        assert!(
            e.starts_with("p.toml: field ") && e.contains(field),
            "{to}: {e}"
        );
        assert!(!e.contains('\n'));
    }
    assert!(plant_err("A = [[1.0").starts_with("p.toml: TOML"));
    // Controller widths.
    let plant = Plant::parse(ok, "p.toml").unwrap();
    let e = ClosedLoop::new(plant.clone(), controller(&[3, 4, 1], 1, 1.0), "c.onnx")
        .unwrap_err()
        .to_string();
    assert!(e.contains("c.onnx") && e.contains("3 inputs"), "{e}");
    let e = ClosedLoop::new(plant, controller(&[2, 4, 2], 1, 1.0), "c.onnx")
        .unwrap_err()
        .to_string();
    assert!(e.contains("c.onnx") && e.contains("2 outputs"), "{e}");
}

#[test]
fn cli_reports_and_refuses() {
    let bin = env!("CARGO_BIN_EXE_relulab");
    let dir = std::env::temp_dir().join(format!("relulab-reach-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let sys = data("data/control/double_integrator/system.toml");
    let ctrl = data("data/control/double_integrator/controller.safetensors");
    let plot = dir.join("di.svg");
    let out = Command::new(bin)
        .args(["reach", "--system"])
        .arg(&sys)
        .arg("--controller")
        .arg(&ctrl)
        .args([
            "--json",
            "--true-samples",
            "20000",
            "--target-error",
            "0.05",
        ])
        .args(["--avoid", "box = [[-inf, inf], [-inf, -1.5]]", "--plot"])
        .arg(&plot)
        .output()
        .unwrap();
    let j = &common::json_lines(&out)[0];
    assert_eq!(j["steps"].as_array().unwrap().len(), 6);
    assert_eq!(j["safety"]["answer"], "safe");
    assert!(j["final_tightness"].as_f64().unwrap() <= 0.05);
    let svg = std::fs::read_to_string(&plot).unwrap();
    assert!(svg.starts_with("<svg") || svg.starts_with("<?xml"));
    // Bad input: one line, exit 2, no plot written.
    let bad = dir.join("bad.toml");
    std::fs::write(
        &bad,
        std::fs::read_to_string(&sys)
            .unwrap()
            .replace("u_min = [-1.0]", "u_min = [3.0]"),
    )
    .unwrap();
    let plot2 = dir.join("none.svg");
    let out = Command::new(bin)
        .args(["reach", "--system"])
        .arg(&bad)
        .arg("--controller")
        .arg(&ctrl)
        .arg("--plot")
        .arg(&plot2)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(
        err.contains("bad.toml") && err.contains("u_min[0]"),
        "{err}"
    );
    assert!(!plot2.exists());
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn initial_halfspaces_prune_parts_and_stay_sound() {
    // Initial set: the box cut by x0 + x1 ≤ 0.9 (a triangle-ish corner removed).
    let text = "A = [[0.9, 0.2], [-0.1, 0.95]]\nB = [[0.1], [0.3]]\nc = [0.1, -0.07]\n\
                u_min = [-0.3]\nu_max = [0.45]\ninitial_box = [[0.5, 1.1], [-0.3, 0.2]]\n\
                initial_H = [[1.0, 1.0]]\ninitial_h = [0.9]\nsteps = 3\n";
    let plant = Plant::parse(text, "h.toml").unwrap();
    let cl = ClosedLoop::new(plant, controller(&[2, 8, 6, 1], 71, 1.2), "h").unwrap();
    let un = unroll(&cl, 3).unwrap();
    let r = reach(
        &cl,
        &un,
        &ReachOptions {
            steps: 3,
            parts: 4,
            time_limit: Duration::ZERO,
            ..Default::default()
        },
    )
    .unwrap();
    // Parts entirely beyond the half-plane are dropped: of the 16 cells of the 4×4 grid,
    // those with lo0 + lo1 > 0.9 hold no initial state.
    let expected = (0..16)
        .filter(|&i| {
            let (a, b) = (i % 4, i / 4);
            let lo0 = 0.5 + 0.6 * a as f64 / 4.0;
            let lo1 = -0.3 + 0.5 * b as f64 / 4.0;
            lo0 + lo1 <= 0.9 + 1e-12
        })
        .count();
    assert!(expected < 16);
    assert_eq!(r.parts.len(), expected);
    let x0s = sample_initial(&cl, 5000, 4);
    assert!(x0s.iter().all(|x| x[0] + x[1] <= 0.9));
    for x0 in x0s {
        for (k, x) in cl.simulate(&x0, 3).iter().enumerate() {
            for j in 0..2 {
                assert!(r.steps[k].lo[j] <= x[j] && x[j] <= r.steps[k].hi[j]);
            }
        }
    }
}

/// The cancel flag (the Python binding's Ctrl-C) stops a refinement that would run for
/// 600 s, and a safety query's branch and bound, soon after it is set, with
/// `Error::Cancelled`.
#[test]
fn a_cancel_flag_stops_reach_and_decide() {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;
    let cl = double_integrator().unwrap();
    let set_after = |flag: &Arc<AtomicBool>| {
        let flag = flag.clone();
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(200));
            flag.store(true, Ordering::SeqCst);
            std::time::Instant::now()
        })
    };
    let flag = Arc::new(AtomicBool::new(false));
    let opts = ReachOptions {
        steps: 10,
        target_error: 0.0,
        time_limit: Duration::from_secs(600),
        cancel: Some(flag.clone()),
        ..Default::default()
    };
    let un = unroll(&cl, 10).unwrap();
    let setter = set_after(&flag);
    let r = reach(&cl, &un, &opts);
    let late = setter.join().unwrap().elapsed();
    assert!(matches!(r, Err(relulab::Error::Cancelled(_))));
    assert!(
        late < Duration::from_secs(3),
        "reach stopped {late:?} after the flag"
    );
    // A flag already set stops a safety query before its first verification.
    let q = Query::Avoid(StateSet::parse("box = [[-inf, inf], [1.5, inf]]", "avoid", 2).unwrap());
    let r =
        relulab::reach::safety::decide_until(&cl, &q, 5, Duration::from_secs(600), 0, Some(flag));
    assert!(matches!(r, Err(relulab::Error::Cancelled(_))));
}
