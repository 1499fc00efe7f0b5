//! `relulab optimize` (issue 13): branch and bound (input splitting, and ReLU splitting forced
//! with `Strategy::ReluSplit`) against the exact region enumeration on random small networks,
//! soundness of the bound (also against 10⁴ sampled points on 20 inputs), infeasibility proofs,
//! scaling, same bits, surrogate checkpoints, the command line's errors, and the reformer case
//! (data/omlt-reformer).
//!
//! The oracle is `optimize::solve_exact`: every linear region of a 1- or 2-input network
//! (regions engine), clipped by the constraints, the objective at the vertices (an affine
//! function over a convex polygon is extreme at a vertex). It shares no code with the bound
//! engine that branch and bound uses.

mod common;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use relulab::net::init::{BiasInit, Init};
use relulab::optimize::{
    solve, solve_exact, Constraint, Linear, Options, Problem, Scaling, Sense, Solution, Status,
    Strategy,
};
use relulab::{Activation, Mlp};
use std::process::Command;
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

fn opts() -> Options {
    Options {
        gap_abs: 1e-11,
        gap_rel: 1e-12,
        time_limit: Some(std::time::Duration::from_secs(20)),
        ..Options::default()
    }
}

/// A random problem on a random 2-input (or 1-input) network: objective over outputs and
/// inputs, optionally an output constraint placed inside the output's range so that it binds.
fn random_problem(seed: u64, d: usize, constrained: bool) -> Problem {
    random_problem_w(seed, d, 6 + (seed % 5) as usize, constrained)
}

/// [`random_problem`] with `d` inputs and hidden layers `w` wide.
fn random_problem_w(seed: u64, d: usize, w: usize, constrained: bool) -> Problem {
    let mut rng = ChaCha8Rng::seed_from_u64(1000 + seed);
    let mlp = random_net(&[d, w, w, 3], seed);
    let m = 3;
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
        // y[k] ≤ a value between the output's min and max at the box's sample points.
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

#[test]
fn branch_and_bound_agrees_with_exact_enumeration() {
    let mut checked = 0;
    for seed in 0..24u64 {
        let d = if seed % 4 == 3 { 1 } else { 2 };
        let p = random_problem(seed, d, seed % 2 == 1 || seed.is_multiple_of(3));
        let ex = solve_exact(&p).unwrap();
        let bb = solve(&p, &opts(), None).unwrap();
        assert_eq!(ex.status, Status::Optimal, "seed {seed}: exact {ex:?}");
        assert_eq!(bb.status, Status::Optimal, "seed {seed}: bab {bb:?}");
        let (e, b) = (ex.objective.unwrap(), bb.objective.unwrap());
        let scale = 1.0 + e.abs();
        assert!(
            (e - b).abs() <= 1e-9 * scale,
            "seed {seed}: exact {e} vs branch and bound {b} ({} regions, {} domains)",
            ex.regions.unwrap(),
            bb.nodes
        );
        // The certificate: the bound is on the right side of the exact optimum.
        match p.sense {
            Sense::Maximize => assert!(bb.bound >= e - 1e-12 * scale, "seed {seed}"),
            Sense::Minimize => assert!(bb.bound <= e + 1e-12 * scale, "seed {seed}"),
        }
        // Both points are feasible under a fresh forward pass.
        for s in [&ex, &bb] {
            let ev = p.evaluate(s.x.as_ref().unwrap());
            assert!(ev.feasible, "seed {seed}");
            assert_eq!(ev.objective, s.objective.unwrap());
        }
        checked += 1;
    }
    assert_eq!(checked, 24);
}

#[test]
fn a_loose_gap_still_brackets_the_optimum() {
    for seed in 0..6u64 {
        let p = random_problem(seed, 2, true);
        let ex = solve_exact(&p).unwrap().objective.unwrap();
        let o = Options {
            gap_abs: 0.5,
            gap_rel: 0.0,
            starts: 0,
            ..opts()
        };
        let bb = solve(&p, &o, None).unwrap();
        let (lo, hi) = match p.sense {
            Sense::Maximize => (bb.objective.unwrap(), bb.bound),
            Sense::Minimize => (bb.bound, bb.objective.unwrap()),
        };
        // The exact point is nudged into the feasible set (≈1e-12), hence the tolerance.
        assert!(
            lo <= ex + 1e-9 && ex <= hi + 1e-9,
            "seed {seed}: {lo} ≤ {ex} ≤ {hi}"
        );
        assert!(bb.gap_abs <= 0.5 + 1e-12);
    }
}

#[test]
fn unreachable_constraints_are_proved_infeasible() {
    for seed in 0..4u64 {
        let mut p = random_problem(seed, 2, false);
        // y[0] ≤ (its exact minimum over the box) − 0.01: no point qualifies.
        let mut q = p.clone();
        q.sense = Sense::Minimize;
        q.objective = lin(vec![1.0, 0.0, 0.0], vec![0.0, 0.0], 0.0);
        let min0 = solve_exact(&q).unwrap().objective.unwrap();
        p.constraints.push(Constraint {
            lin: lin(vec![1.0, 0.0, 0.0], vec![0.0, 0.0], -(min0 - 0.01)),
            text: "y[0] <= min - 0.01".into(),
        });
        let bb = solve(&p, &opts(), None).unwrap();
        assert_eq!(bb.status, Status::Infeasible, "seed {seed}: {bb:?}");
        assert!(bb.x.is_none());
        assert_eq!(solve_exact(&p).unwrap().status, Status::Infeasible);
    }
}

#[test]
fn results_do_not_depend_on_the_thread_count() {
    let p = random_problem(5, 2, true);
    let run = |t: usize| {
        rayon::ThreadPoolBuilder::new()
            .num_threads(t)
            .build()
            .unwrap()
            .install(|| solve(&p, &opts(), None).unwrap())
    };
    let (a, b) = (run(1), run(2));
    assert_eq!(
        a.objective.unwrap().to_bits(),
        b.objective.unwrap().to_bits()
    );
    assert_eq!(a.bound.to_bits(), b.bound.to_bits());
    assert_eq!(a.nodes, b.nodes);
}

#[test]
fn pwl_payoff_optimum_is_at_a_strike() {
    // Maximise a butterfly's payoff (long 90 and 110 calls, two short 100 calls): 10 at S = 100.
    use relulab::optimize::pwl::{Leg, Pwl};
    let f = Pwl::portfolio(&[
        Leg::Call {
            strike: 90.0,
            qty: 1.0,
        },
        Leg::Call {
            strike: 100.0,
            qty: -2.0,
        },
        Leg::Call {
            strike: 110.0,
            qty: 1.0,
        },
    ])
    .unwrap();
    let mlp = f.to_mlp().unwrap();
    let p = Problem::new(
        mlp,
        Scaling::identity(1, 1),
        Sense::Maximize,
        lin(vec![1.0], vec![0.0], 0.0),
        vec![],
        vec![50.0],
        vec![150.0],
    )
    .unwrap();
    let s = solve(&p, &opts(), None).unwrap();
    assert_eq!(s.status, Status::Optimal);
    assert_eq!(s.x.as_ref().unwrap()[0], 100.0);
    assert_eq!(s.objective.unwrap(), 10.0);
    assert!(s.bound >= 10.0 && s.bound <= 10.0 + 1e-9);
}

fn relulab() -> Command {
    Command::new(env!("CARGO_BIN_EXE_relulab"))
}

fn tmp(name: &str) -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("relulab-opt-{}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d.join(name)
}

/// A small surrogate CSV: y0 = |x0 − 0.3| + x1, y1 = x0 + 2·x1 on a grid.
fn write_csv() -> std::path::PathBuf {
    let path = tmp("data.csv");
    let mut s = String::from("a,b,y0,y1\n");
    for i in 0..21 {
        for j in 0..21 {
            let (a, b) = (i as f64 / 20.0, j as f64 / 20.0);
            s.push_str(&format!(
                "{a},{b},{},{}\n",
                (a - 0.3).abs() + b,
                a + 2.0 * b
            ));
        }
    }
    std::fs::write(&path, s).unwrap();
    path
}

#[test]
fn surrogate_checkpoints_carry_scaling_and_box_and_optimize_uses_them() {
    let csv = write_csv();
    let model = tmp("sur.safetensors");
    let out = relulab()
        .args(["surrogate", "--data"])
        .arg(&csv)
        .args([
            "--inputs",
            "a,b",
            "--outputs",
            "2-3",
            "--hidden",
            "8,8",
            "--epochs",
            "30",
        ])
        .arg("--out")
        .arg(&model)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // The checkpoint loads through the ordinary loader (old readers ignore the entry).
    let mlp = relulab::io::checkpoint::load_checkpoint(&model).unwrap();
    assert_eq!((mlp.input_dim(), mlp.output_dim()), (2, 2));
    let l = relulab::optimize::surrogate::load(&model).unwrap();
    assert_eq!(l.input_box, Some((vec![0.0, 0.0], vec![1.0, 1.0])));
    assert_eq!(l.output_names, vec!["y0", "y1"]);
    // Target standardisation: the means are the columns' means.
    let mean_y1 = (0..21).map(|i| i as f64 / 20.0).sum::<f64>() / 21.0 * 3.0;
    assert!((l.scaling.y_mean[1] - mean_y1).abs() < 1e-12);
    // `relulab eval --input` answers in the data's units: near the true function (training
    // error), not in standardised units.
    let xin = tmp("x.npy");
    let yout = tmp("y.npy");
    let pts = [0.9f64, 0.6, 0.1, 0.2];
    relulab::io::npy::write_npy(&xin, &[2, 2], &pts).unwrap();
    let o = relulab()
        .args(["eval", "--model"])
        .arg(&model)
        .arg("--input")
        .arg(&xin)
        .arg("--output")
        .arg(&yout)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let y = relulab::io::npy::read_npy_f64(&yout).unwrap().data;
    for (r, (a, b)) in [(0.9, 0.6), (0.1, 0.2)].into_iter().enumerate() {
        let truth = [(a - 0.3f64).abs() + b, a + 2.0 * b];
        for k in 0..2 {
            assert!(
                (y[2 * r + k] - truth[k]).abs() < 0.15,
                "row {r} output {k}: {} vs {}",
                y[2 * r + k],
                truth[k]
            );
        }
    }
    let run = |extra: &[&str]| {
        let o = relulab()
            .arg("optimize")
            .arg(&model)
            .args(["--minimize", "y0", "--constraint", "y1 >= 1", "--json"])
            .args(extra)
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        v["solution"].clone()
    };
    let bb = run(&[]);
    let ex = run(&["--exact"]);
    assert_eq!(bb["status"], "optimal");
    assert_eq!(bb["method"], "bab");
    let (b, e) = (
        bb["objective"].as_f64().unwrap(),
        ex["objective"].as_f64().unwrap(),
    );
    assert!((b - e).abs() <= 1e-9 * (1.0 + e.abs()), "{b} vs {e}");
    // The answer in user units satisfies the constraint at the reported outputs.
    assert!(bb["y"][1].as_f64().unwrap() >= 1.0);
    // A plot of the 2-input problem.
    let png = tmp("opt.svg");
    let o = relulab()
        .arg("optimize")
        .arg(&model)
        .args(["--minimize", "y0", "--constraint", "y1 >= 1", "--plot"])
        .arg(&png)
        .output()
        .unwrap();
    assert!(o.status.success());
    assert!(std::fs::read_to_string(&png).unwrap().contains("<svg"));
}

#[test]
fn bad_input_is_one_located_line_and_exit_2() {
    let csv = write_csv();
    let model = tmp("bad.safetensors");
    let ok = relulab()
        .args(["surrogate", "--data"])
        .arg(&csv)
        .args([
            "--inputs",
            "0-1",
            "--outputs",
            "2-3",
            "--hidden",
            "4",
            "--epochs",
            "1",
        ])
        .arg("--out")
        .arg(&model)
        .status()
        .unwrap();
    assert!(ok.success());
    let cases: [(&[&str], &str); 6] = [
        (
            &["--maximize", "y[2]"],
            "unknown output y[2]: the model has 2 output(s)",
        ),
        (&["--maximize", "y[0] * y[1]"], "non-linear term"),
        (
            &["--maximize", "y[0]", "--constraint", "y[0]^2 <= 1"],
            "non-linear",
        ),
        (
            &["--maximize", "y[0]", "--input-bounds", "1:0,0:1"],
            "contradictory bounds: x[0]",
        ),
        (
            &[
                "--maximize",
                "y[0]",
                "--constraint",
                "x[1] >= 0.8",
                "--constraint",
                "x[1] <= 0.2",
            ],
            "contradictory bounds",
        ),
        (
            &["--maximize", "y[0]", "--exact", "--input-bounds", "0:1"],
            "1 interval(s) given",
        ),
    ];
    for (args, want) in cases {
        let o = relulab()
            .arg("optimize")
            .arg(&model)
            .args(args)
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {err}");
        assert_eq!(err.trim().lines().count(), 1, "{args:?}: {err}");
        assert!(err.contains(want), "{args:?}: {err}");
        assert!(o.stdout.is_empty());
    }
    // A GELU network: not piecewise linear, and the message names the layer.
    let mut g = random_net(&[2, 4, 1], 0);
    g.layers[0].activation = "gelu".parse::<Activation>().unwrap();
    let gp = tmp("gelu.safetensors");
    relulab::io::checkpoint::save_checkpoint(&gp, &g).unwrap();
    let o = relulab()
        .arg("optimize")
        .arg(&gp)
        .args(["--maximize", "y[0]", "--input-bounds", "0:1,0:1"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(
        err.contains("layer 0") && err.contains("not piecewise linear"),
        "{err}"
    );
    // A problem file with a typo: file, line and column.
    let toml = tmp("p.toml");
    std::fs::write(&toml, "maximize = \"y[0]\"\nconstraint = [\"y[1] <= 1\"]\n").unwrap();
    let o = relulab()
        .arg("optimize")
        .arg(&model)
        .arg("--problem")
        .arg(&toml)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(err.contains("p.toml") && err.contains("line 2"), "{err}");
}

#[test]
fn reformer_surrogate_bab_matches_exact() {
    // The repository's copy of OMLT's reformer samples (BSD, data/omlt-reformer/LICENSE.rst).
    let csv =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("data/omlt-reformer/reformer.csv");
    let t = relulab::optimize::surrogate::read_table(&csv).unwrap();
    assert_eq!(t.rows.len(), 2800);
    let x: Vec<Vec<f64>> = t.rows.iter().map(|r| r[..2].to_vec()).collect();
    let y: Vec<Vec<f64>> = t.rows.iter().map(|r| r[2..14].to_vec()).collect();
    let spec = relulab::optimize::surrogate::FitSpec {
        epochs: 20,
        ..Default::default()
    };
    let (mlp, meta, _) = relulab::optimize::surrogate::fit(&x, &y, vec![], vec![], &spec).unwrap();
    let mut cy = vec![0.0; 12];
    cy[9] = 1.0; // H2
    let mut n2 = vec![0.0; 12];
    n2[11] = 1.0; // N2 ≤ 0.34
    let p = Problem::new(
        mlp,
        meta.scaling,
        Sense::Maximize,
        lin(cy, vec![0.0; 2], 0.0),
        vec![Constraint {
            lin: lin(n2, vec![0.0; 2], -0.34),
            text: "N2 <= 0.34".into(),
        }],
        meta.input_lo,
        meta.input_hi,
    )
    .unwrap();
    let (ex, bb) = (solve_exact(&p).unwrap(), solve(&p, &opts(), None).unwrap());
    assert_eq!(bb.status, Status::Optimal);
    let (e, b) = (ex.objective.unwrap(), bb.objective.unwrap());
    assert!((e - b).abs() <= 1e-9, "{e} vs {b}");
    assert!(bb.y.unwrap()[11] <= 0.34);
}

/// A hand-built surrogate whose user-unit function is known in closed form: inputs
/// "feed rate", "temp" standardised with μₓ = (1, 10), σₓ = (2, 4); the network computes
/// ŷ0 = 2·s0 + 0.5 and ŷ1 = s1 − 1 (ReLU pairs); targets un-standardised with μ_y = (10, −3),
/// σ_y = (4, 0.5). So, by hand: cost = 10 + 4·(2·(x0 − 1)/2 + 0.5) = 8 + 4·x0 and
/// yield = −3 + 0.5·((x1 − 10)/4 − 1) = −3.5 + (x1 − 10)/8 (every value below is exact in f32).
fn hand_surrogate(name: &str) -> std::path::PathBuf {
    use relulab::optimize::surrogate::{save, SurrogateMeta};
    let meta = SurrogateMeta {
        scaling: Scaling {
            x_mean: vec![1.0, 10.0],
            x_std: vec![2.0, 4.0],
            y_mean: vec![10.0, -3.0],
            y_std: vec![4.0, 0.5],
        },
        input_lo: vec![0.0, 2.0],
        input_hi: vec![3.0, 18.0],
        input_names: vec!["feed_rate".into(), "temp".into()],
        output_names: vec!["cost".into(), "yield".into()],
    };
    let path = tmp(name);
    save(&path, &hand_mlp(), &meta).unwrap();
    path
}

/// The network of [`hand_surrogate`]: ŷ0 = 2·relu(s0) − 2·relu(−s0) + 0.5,
/// ŷ1 = relu(s1) − relu(−s1) − 1.
fn hand_mlp() -> Mlp<f32> {
    use relulab::net::Layer;
    let l1 = Layer {
        in_dim: 2,
        out_dim: 4,
        weight: vec![1.0, 0.0, -1.0, 0.0, 0.0, 1.0, 0.0, -1.0],
        bias: Some(vec![0.0; 4]),
        activation: Activation::RELU,
        prelu_alpha: Vec::new(),
    };
    let l2 = Layer {
        in_dim: 4,
        out_dim: 2,
        weight: vec![2.0, -2.0, 0.0, 0.0, 0.0, 0.0, 1.0, -1.0],
        bias: Some(vec![0.5, -1.0]),
        activation: Activation::Identity,
        prelu_alpha: Vec::new(),
    };
    Mlp {
        layers: vec![l1, l2],
    }
}

#[test]
fn eval_data_on_a_surrogate_reports_errors_in_the_data_units() {
    let model = hand_surrogate("hand.safetensors");
    // Columns by name (a space in the header is the recorded name's `_`), an unrelated column
    // first and the outputs in another order than the model's.
    let csv = tmp("hand.csv");
    std::fs::write(
        &csv,
        "id,yield,feed rate,temp,cost\n7,-2.5,3,18,21\n8,-3,0,10,8\n9,-4.5,1.5,2,16\n",
    )
    .unwrap();
    let preds = tmp("hand_pred.npy");
    let o = relulab()
        .args(["eval", "--json", "--model"])
        .arg(&model)
        .arg("--data")
        .arg(&csv)
        .arg("--output")
        .arg(&preds)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    // By hand: cost = 8 + 4·x0 → 20, 8, 14 against 21, 8, 16 (errors −1, 0, −2);
    // yield = −3.5 + (x1 − 10)/8 → −2.5, −3.5, −4.5 against −2.5, −3, −4.5 (0, −0.5, 0).
    let y = relulab::io::npy::read_npy_f64(&preds).unwrap();
    assert_eq!(y.shape, vec![3, 2]);
    assert_eq!(y.data, vec![20.0, -2.5, 8.0, -3.5, 14.0, -4.5]);
    let close = |a: &serde_json::Value, b: f64| {
        let a = a.as_f64().unwrap();
        assert!((a - b).abs() <= 1e-12 * (1.0 + b.abs()), "{a} vs {b}");
    };
    assert_eq!(v["n"], 3);
    assert_eq!(v["units"], "data");
    close(&v["loss"], (1.0 + 4.0 + 0.25) / 6.0);
    let out = v["outputs"].as_array().unwrap();
    assert_eq!(
        (&out[0]["name"], &out[1]["name"]),
        (&"cost".into(), &"yield".into())
    );
    close(&out[0]["mse"], 5.0 / 3.0);
    close(&out[0]["mae"], 1.0);
    close(&out[0]["max_abs_error"], 2.0);
    close(&out[1]["rmse"], (0.25f64 / 3.0).sqrt());
    close(&out[1]["mae"], 0.5 / 3.0);
    close(&out[1]["max_abs_error"], 0.5);
    // A missing column is one line naming it, exit 2.
    let bad = tmp("hand_bad.csv");
    std::fs::write(&bad, "feed rate,cost,yield\n1,2,3\n").unwrap();
    let o = relulab()
        .args(["eval", "--model"])
        .arg(&model)
        .arg("--data")
        .arg(&bad)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("no column 'temp' (the surrogate's input 1)"),
        "{err}"
    );
}

#[test]
fn the_two_input_picture_labels_its_axes_with_the_column_names() {
    let model = hand_surrogate("hand_pic.safetensors");
    let svg = tmp("hand_pic.svg");
    let o = relulab()
        .arg("optimize")
        .arg(&model)
        .args([
            "--maximize",
            "cost",
            "--constraint",
            "yield <= -3",
            "--plot",
        ])
        .arg(&svg)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let text = std::fs::read_to_string(&svg).unwrap();
    assert!(text.contains("feed_rate (x[0])"), "no x label in the SVG");
    assert!(text.contains("temp (x[1])"), "no y label in the SVG");
    // Without recorded names (a plain checkpoint) the axes keep the indices.
    let plain = tmp("hand_plain.safetensors");
    relulab::io::checkpoint::save_checkpoint(&plain, &hand_mlp()).unwrap();
    let svg2 = tmp("hand_plain.svg");
    let o = relulab()
        .arg("optimize")
        .arg(&plain)
        .args([
            "--maximize",
            "y[0]",
            "--input-bounds",
            "-1:1,-1:1",
            "--plot",
        ])
        .arg(&svg2)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let t2 = std::fs::read_to_string(&svg2).unwrap();
    // (plotters writes each text element's content on its own line)
    assert!(
        t2.contains("\nx[0]\n") && t2.contains("\nx[1]\n"),
        "index labels"
    );
    assert!(!t2.contains("feed_rate"));
}

/// The cancel flag (the Python binding's Ctrl-C) stops a search that would run for 600 s
/// (8 inputs, gap 0) soon after it is set, with `Error::Cancelled`.
#[test]
fn a_cancel_flag_stops_the_search() {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;
    let mlp = random_net(&[8, 64, 64, 64, 1], 5);
    let p = Problem::new(
        mlp,
        Scaling::identity(8, 1),
        Sense::Maximize,
        lin(vec![1.0], vec![0.0; 8], 0.0),
        Vec::new(),
        vec![-3.0; 8],
        vec![3.0; 8],
    )
    .unwrap();
    let flag = Arc::new(AtomicBool::new(false));
    let o = Options {
        gap_abs: 0.0,
        gap_rel: 0.0,
        time_limit: Some(std::time::Duration::from_secs(600)),
        cancel: Some(flag.clone()),
        ..Options::default()
    };
    let setter = {
        let flag = flag.clone();
        std::thread::spawn(move || {
            std::thread::sleep(std::time::Duration::from_millis(200));
            flag.store(true, Ordering::SeqCst);
            std::time::Instant::now()
        })
    };
    let r = solve(&p, &o, None);
    let late = setter.join().unwrap().elapsed();
    assert!(matches!(r, Err(relulab::Error::Cancelled(_))));
    assert!(
        late < std::time::Duration::from_secs(3),
        "stopped {late:?} after the flag"
    );
}

// ReLU-split branch and bound in objective mode (`--strategy relu`: `verify::relu_bab::search`
// with the optimizer's goal), against the same oracles: the exact enumeration on 2 inputs, 10⁴
// random feasible points on 20 inputs, a plain forward pass for every reported point, and the
// same bits on a second run and on 1 and 2 threads.

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
        let p = random_problem_w(seed, 2, 5 + (seed % 3) as usize, seed % 2 == 1);
        let ex = solve_exact(&p).unwrap();
        let rb = solve(&p, &relu_opts(), None).unwrap();
        assert_eq!(rb.method, "relu-bab");
        assert_eq!(ex.status, Status::Optimal, "seed {seed}: exact {ex:?}");
        assert_eq!(rb.status, Status::Optimal, "seed {seed}: relu {rb:?}");
        // The exact optimum: the best vertex value (the exact mode's `bound`). Its point is the
        // best vertex a forward pass confirms feasible, which on a constraint's boundary can be
        // another vertex (seed 11: 1.2e-5 worse).
        let (e, r) = (ex.bound, rb.objective.unwrap());
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
    let mut p = random_problem_w(7, 20, 24, true);
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
        let p = random_problem_w(3, d, 8, false);
        assert_eq!(solve(&p, &o, None).unwrap().method, method, "{d} inputs");
    }
}

/// Same problem, same options: the same bits, run twice and on 1 and 2 threads (a domain
/// limit, not a time limit, ends the search).
#[test]
fn relu_split_gives_the_same_bits_twice_and_on_one_and_two_threads() {
    let p = random_problem_w(11, 20, 24, true);
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
