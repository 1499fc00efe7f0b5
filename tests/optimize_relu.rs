//! `relulab optimize --strategy relu` (issue 13): the ReLU-split branch and bound in objective
//! mode (`verify::relu_bab::search` with the optimizer's goal).
//!
//! Oracles: the exact region enumeration (`optimize::solve_exact`, the regions engine, no code
//! shared with the bound engine) on random 2-input networks; 10⁴ random feasible points on a
//! 20-input network (the certified bound may not exceed any of them); a plain forward pass for
//! every reported point; and the same bits on a second run and on 1 and 2 threads.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use relulab::net::init::{BiasInit, Init};
use relulab::optimize::{
    solve, solve_exact, Constraint, Linear, Options, Problem, Scaling, Sense, Solution, Status,
    Strategy,
};
use relulab::{Activation, Mlp};
use std::time::Duration;

fn random_net(widths: &[usize], seed: u64) -> Mlp<f32> {
    let mut m = Mlp::zeros(widths, Activation::RELU, Activation::Identity, true);
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    m.init(Init::HeNormal, BiasInit::Normal { std: 0.3 }, &mut rng);
    m
}

fn lin(cy: Vec<f64>, cx: Vec<f64>, c0: f64) -> Linear {
    Linear { cy, cx, c0 }
}

/// Gaps such that bound ≤ exact ≤ incumbent (or the reverse) puts the incumbent within
/// 1e-9·(1 + |exact|) of the exact optimum. (The input-split tests use 1e-11: there an affine
/// domain's LP vertex is a candidate; here the points are box corners, which approach an
/// optimum on a constraint's boundary only as fast as the boxes shrink.)
fn relu_opts() -> Options {
    Options {
        gap_abs: 1e-9,
        gap_rel: 1e-9,
        time_limit: Some(Duration::from_secs(20)),
        strategy: Strategy::ReluSplit,
        ..Options::default()
    }
}

/// A random problem: a `d`-input network of `w`-wide hidden layers and 3 outputs, a random
/// scaling (every third seed: none), an objective over outputs and inputs, and optionally the
/// constraint `y[k] ≤ b` with b at the 30th percentile of y[k] over 200 sampled points (binding).
fn random_problem(seed: u64, d: usize, w: usize, constrained: bool) -> Problem {
    let mut rng = ChaCha8Rng::seed_from_u64(2000 + seed);
    let m = 3;
    let mlp = random_net(&[d, w, w, m], seed);
    let sc = if seed.is_multiple_of(3) {
        Scaling::identity(d, m)
    } else {
        Scaling {
            x_mean: (0..d).map(|_| rng.random_range(-1.0..1.0)).collect(),
            x_std: (0..d).map(|_| rng.random_range(0.3..3.0)).collect(),
            y_mean: (0..m).map(|_| rng.random_range(-2.0..2.0)).collect(),
            y_std: (0..m).map(|_| rng.random_range(0.1..5.0)).collect(),
        }
    };
    let lo: Vec<f64> = (0..d).map(|_| rng.random_range(-2.0..-0.5)).collect();
    let hi: Vec<f64> = (0..d).map(|_| rng.random_range(0.5..2.0)).collect();
    let objective = lin(
        (0..m).map(|_| rng.random_range(-1.0..1.0)).collect(),
        (0..d).map(|_| rng.random_range(-0.3..0.3)).collect(),
        0.25,
    );
    let sense = if seed.is_multiple_of(2) {
        Sense::Maximize
    } else {
        Sense::Minimize
    };
    let mut p = Problem::new(mlp, sc, sense, objective, vec![], lo, hi).unwrap();
    if constrained {
        let k = (seed % 3) as usize;
        let mut vals: Vec<f64> = (0..200)
            .map(|_| {
                let x: Vec<f64> = (0..d).map(|j| rng.random_range(p.lo[j]..p.hi[j])).collect();
                p.outputs(&x)[k]
            })
            .collect();
        vals.sort_by(f64::total_cmp);
        let b = vals[60];
        let mut cy = vec![0.0; m];
        cy[k] = 1.0;
        p.constraints.push(Constraint {
            lin: lin(cy, vec![0.0; d], -b),
            text: format!("y[{k}] <= {b}"),
        });
    }
    p
}

/// The reported point is real: a fresh forward pass gives its objective and meets every
/// constraint.
fn check_point(p: &Problem, s: &Solution, what: &str) {
    let ev = p.evaluate(s.x.as_ref().expect("a point"));
    assert!(ev.feasible, "{what}: {s:?}");
    assert_eq!(ev.objective, s.objective.unwrap(), "{what}");
    assert_eq!(&ev.y, s.y.as_ref().unwrap(), "{what}");
}

#[test]
fn relu_split_agrees_with_exact_enumeration_on_two_inputs() {
    for seed in 0..24u64 {
        let p = random_problem(seed, 2, 5 + (seed % 3) as usize, seed % 2 == 1);
        let ex = solve_exact(&p).unwrap();
        let rb = solve(&p, &relu_opts(), None).unwrap();
        assert_eq!(rb.method, "relu-bab");
        assert_eq!(ex.status, Status::Optimal, "seed {seed}: exact {ex:?}");
        assert_eq!(rb.status, Status::Optimal, "seed {seed}: relu {rb:?}");
        let (e, r) = (ex.objective.unwrap(), rb.objective.unwrap());
        let scale = 1.0 + e.abs();
        assert!(
            (e - r).abs() <= 1e-9 * scale,
            "seed {seed}: exact {e} vs ReLU split {r} ({} domains)",
            rb.nodes
        );
        match p.sense {
            Sense::Maximize => assert!(rb.bound >= e - 1e-12 * scale, "seed {seed}"),
            Sense::Minimize => assert!(rb.bound <= e + 1e-12 * scale, "seed {seed}"),
        }
        check_point(&p, &rb, &format!("seed {seed}"));
    }
}

/// 20 inputs, an output constraint, minimisation: the certified bound is at most the objective
/// of every one of 10⁴ random feasible points, and the incumbent is one of its own.
#[test]
fn relu_split_bound_is_below_every_sampled_point_on_twenty_inputs() {
    let mut p = random_problem(7, 20, 24, true);
    p.sense = Sense::Minimize;
    let o = Options {
        gap_abs: 1e-6,
        gap_rel: 0.0,
        time_limit: Some(Duration::from_secs(4)),
        max_nodes: 4000,
        ..relu_opts()
    };
    let s = solve(&p, &o, None).unwrap();
    assert_eq!(s.method, "relu-bab");
    check_point(&p, &s, "incumbent");
    assert!(s.bound <= s.objective.unwrap());
    let mut rng = ChaCha8Rng::seed_from_u64(99);
    let mut best = f64::INFINITY;
    let mut feasible = 0;
    for _ in 0..10_000 {
        let x: Vec<f64> = (0..20)
            .map(|j| rng.random_range(p.lo[j]..=p.hi[j]))
            .collect();
        let ev = p.evaluate(&x);
        if ev.feasible {
            feasible += 1;
            best = best.min(ev.objective);
        }
    }
    assert!(feasible > 1000, "{feasible} feasible samples");
    assert!(
        s.bound <= best,
        "certified bound {} above a sampled point's {best}",
        s.bound
    );
    // The search's point is at least as good as the best sample (the root's local search).
    assert!(s.objective.unwrap() <= best + 1e-9 * (1.0 + best.abs()));
}

/// The auto strategy: input splitting up to 16 inputs, ReLU splitting above.
#[test]
fn auto_strategy_chooses_by_the_input_count() {
    let o = Options {
        max_nodes: 64,
        time_limit: Some(Duration::from_secs(5)),
        ..Options::default()
    };
    for (d, method) in [(2, "bab"), (16, "bab"), (17, "relu-bab")] {
        let p = random_problem(3, d, 8, false);
        assert_eq!(solve(&p, &o, None).unwrap().method, method, "{d} inputs");
    }
}

/// Same problem, same options: the same bits, run twice and on 1 and 2 threads (a domain
/// limit, not a time limit, ends the search).
#[test]
fn relu_split_gives_the_same_bits_twice_and_on_one_and_two_threads() {
    let p = random_problem(11, 20, 24, true);
    let o = Options {
        gap_abs: 0.0,
        gap_rel: 0.0,
        time_limit: None,
        max_nodes: 600,
        ..relu_opts()
    };
    let run = |t: usize| {
        rayon::ThreadPoolBuilder::new()
            .num_threads(t)
            .build()
            .unwrap()
            .install(|| solve(&p, &o, None).unwrap())
    };
    let (a, b, c) = (run(2), run(2), run(1));
    assert_eq!(a.status, Status::NodeLimit);
    for s in [&b, &c] {
        assert_eq!(
            a.objective.unwrap().to_bits(),
            s.objective.unwrap().to_bits()
        );
        assert_eq!(a.bound.to_bits(), s.bound.to_bits());
        assert_eq!(a.nodes, s.nodes);
        assert_eq!(
            a.x.as_ref()
                .unwrap()
                .iter()
                .map(|v| v.to_bits())
                .collect::<Vec<_>>(),
            s.x.as_ref()
                .unwrap()
                .iter()
                .map(|v| v.to_bits())
                .collect::<Vec<_>>()
        );
    }
}

/// The command line: `--strategy relu` on a JSON model reaches the exact optimum and says
/// which search ran; `--strategy input` says the other; an unknown strategy is exit 2.
#[test]
fn the_command_line_forces_the_strategy() {
    let dir = std::env::temp_dir().join(format!("relulab-opt-relu-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let model = dir.join("net.json");
    let mlp = random_net(&[2, 6, 6, 1], 4);
    std::fs::write(&model, serde_json::to_string(&mlp).unwrap()).unwrap();
    let p = Problem::new(
        mlp,
        Scaling::identity(2, 1),
        Sense::Maximize,
        lin(vec![1.0], vec![0.0; 2], 0.0),
        vec![],
        vec![-1.0; 2],
        vec![1.0; 2],
    )
    .unwrap();
    let exact = solve_exact(&p).unwrap().objective.unwrap();
    let run = |strategy: &str| {
        std::process::Command::new(env!("CARGO_BIN_EXE_relulab"))
            .arg("optimize")
            .arg(&model)
            .args(["--maximize", "y[0]", "--input-bounds", "-1:1,-1:1"])
            .args(["--gap-abs", "1e-9", "--gap-rel", "1e-9", "--json"])
            .args(["--strategy", strategy])
            .output()
            .unwrap()
    };
    for (strategy, method) in [("relu", "relu-bab"), ("input", "bab"), ("auto", "bab")] {
        let out = run(strategy);
        assert!(out.status.success(), "{strategy}: {out:?}");
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        let s = &v["solution"];
        assert_eq!(s["method"], method, "{strategy}");
        assert_eq!(s["status"], "optimal", "{strategy}");
        let obj = s["objective"].as_f64().unwrap();
        assert!(
            (obj - exact).abs() <= 1e-9 * (1.0 + exact.abs()),
            "{strategy}: {obj} vs {exact}"
        );
    }
    let out = run("milp");
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("--strategy"), "{err}");
}
