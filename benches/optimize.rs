//! `relulab optimize` against MILP peers (issue 13), on the networks relulab trains here.
//!
//!     cargo bench --bench optimize            # all cases
//!     cargo bench --bench optimize -- reformer peaks digits
//!
//! Cases: the autothermal reformer (2 → 10×4 ReLU → 12 on data/omlt-reformer,
//! maximise H2 subject to N2 ≤ 0.34), the `peaks` surrogate (400 × 400 grid, certified
//! minimum against the true one) and the digits 64-256-256-10 model (maximise y[3] − y[8] over
//! the pixel box, time-limited). Peers, run in the same invocation by
//! bench/peers/optimize_omlt.py on the same weights: OMLT's big-M formulation solved by HiGHS,
//! and gurobi-machinelearning where the pip licence's size limit allows. The Python is
//! `$RELULAB_PEER_PYTHON`, else `.venv-peers/bin/python` in the crate, else `python3`; a
//! missing package is a printed note, not a failure. Threads: 2 (rayon pool), like the README.

use relulab::data::Standardizer;
use relulab::optimize::surrogate::{self, FitSpec, SurrogateMeta};
use relulab::optimize::{
    solve, solve_exact, Constraint, Linear, Options, Problem, Scaling, Sense, Solution,
};
use relulab::train::{TrainSpec, Trainer};
use relulab::{Activation, Mlp};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

fn crate_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn python() -> PathBuf {
    if let Some(p) = std::env::var_os("RELULAB_PEER_PYTHON") {
        return PathBuf::from(p);
    }
    let venv = crate_dir().join(".venv-peers/bin/python");
    if venv.exists() {
        venv
    } else {
        PathBuf::from("python3")
    }
}

/// The problem as the peer script reads it.
fn problem_json(p: &Problem) -> Value {
    let layers: Vec<Value> = p
        .mlp
        .layers
        .iter()
        .map(|l| {
            let w: Vec<Vec<f64>> = (0..l.out_dim)
                .map(|j| {
                    (0..l.in_dim)
                        .map(|i| l.weight[j * l.in_dim + i] as f64)
                        .collect()
                })
                .collect();
            let b: Vec<f64> = (0..l.out_dim).map(|j| l.bias_at(j) as f64).collect();
            json!({"w": w, "b": b, "relu": l.activation != Activation::Identity})
        })
        .collect();
    json!({
        "layers": layers,
        "x_mean": p.scaling.x_mean, "x_std": p.scaling.x_std,
        "y_mean": p.scaling.y_mean, "y_std": p.scaling.y_std,
        "lo": p.lo, "hi": p.hi,
        "sense": if p.sense == Sense::Maximize { "maximize" } else { "minimize" },
        "cy": p.objective.cy, "cx": p.objective.cx,
        "constraints": p.constraints.iter().map(|c| json!({
            "cy": c.lin.cy, "cx": c.lin.cx, "rhs": -c.lin.c0})).collect::<Vec<_>>(),
    })
}

fn peer(name: &str, p: &Problem, solver: &str, time_limit: f64) -> Option<Value> {
    let dir = std::env::temp_dir().join(format!("relulab-bench-opt-{}", std::process::id()));
    std::fs::create_dir_all(&dir).ok()?;
    let file = dir.join(format!("{name}.json"));
    std::fs::write(&file, problem_json(p).to_string()).ok()?;
    let script = crate_dir().join("bench/peers/optimize_omlt.py");
    // A hard wall-clock cap besides the solver's own limit (HiGHS through Pyomo's legacy
    // appsi interface was seen running past it): coreutils `timeout`.
    let cap = format!("{}", (time_limit * 1.5 + 30.0).ceil());
    let out = std::process::Command::new("timeout")
        .args(["-s", "KILL", &cap])
        .arg(python())
        .arg(&script)
        .arg(&file)
        .arg(solver)
        .arg(time_limit.to_string())
        .output();
    let out = match out {
        Ok(o) => o,
        Err(e) => {
            println!(
                "  note: peer {solver} not run ({}: {e})",
                python().display()
            );
            return None;
        }
    };
    let text = String::from_utf8_lossy(&out.stdout);
    let v: Value = match text
        .lines()
        .last()
        .and_then(|l| serde_json::from_str(l).ok())
    {
        Some(v) => v,
        None => {
            println!(
                "  note: peer {solver} printed no result: {}",
                String::from_utf8_lossy(&out.stderr)
                    .lines()
                    .last()
                    .unwrap_or("")
            );
            return None;
        }
    };
    if v["status"] == "missing" || v["status"] == "error" {
        println!("  note: peer {solver}: {} {}", v["status"], v["error"]);
        return None;
    }
    Some(v)
}

fn median_time(p: &Problem, o: &Options, reps: usize) -> (Solution, f64) {
    let mut times = Vec::new();
    let mut sol = None;
    for _ in 0..reps {
        let t = Instant::now();
        let s = solve(p, o, None).unwrap();
        times.push(t.elapsed().as_secs_f64());
        sol = Some(s);
    }
    times.sort_by(f64::total_cmp);
    (sol.expect("reps ≥ 1"), times[times.len() / 2])
}

fn unit(n: usize, i: usize) -> Vec<f64> {
    let mut v = vec![0.0; n];
    v[i] = 1.0;
    v
}

fn report_peers(name: &str, p: &Problem, ours: &Solution, our_s: f64, tl: f64) {
    for solver in ["omlt-highs", "gurobi-ml"] {
        let Some(v) = peer(name, p, solver, tl) else {
            continue;
        };
        let obj = v["objective"].as_f64();
        let solve_s = v["solve_s"].as_f64().unwrap_or(f64::NAN);
        let build_s = v["build_s"].as_f64().unwrap_or(f64::NAN);
        let rel = match (obj, ours.objective) {
            (Some(a), Some(b)) => format!("{:.1e}", (a - b).abs() / b.abs().max(1e-300)),
            _ => "-".into(),
        };
        println!(
            "  {solver:<11} status {:<10} objective {:<22} bound {:<22} x {}  build {build_s:.3} s, solve {solve_s:.3} s  | rel. diff to relulab {rel}; (build+solve)/relulab {:.0}×, solve/relulab {:.0}×",
            v["status"].as_str().unwrap_or("?"),
            obj.map_or("-".into(), |o| format!("{o:.12}")),
            v["bound"].as_f64().map_or("-".into(), |o| format!("{o:.12}")),
            v["x"],
            (build_s + solve_s) / our_s,
            solve_s / our_s
        );
    }
}

/// Fit a surrogate and print `  trained {what} in … s, {mse} (standardised) …`.
fn fit_timed(
    x: &[Vec<f64>],
    y: &[Vec<f64>],
    spec: &FitSpec,
    what: &str,
    mse_label: &str,
) -> (Mlp<f32>, SurrogateMeta) {
    let t0 = Instant::now();
    let (mlp, meta, mse) = surrogate::fit(x, y, vec![], vec![], spec).unwrap();
    println!(
        "  trained {what} in {:.1} s, {mse_label} (standardised) {mse:.2e}",
        t0.elapsed().as_secs_f64()
    );
    (mlp, meta)
}

fn reformer() {
    println!("## reformer: maximise H2 subject to N2 ≤ 0.34 (2 → 10×4 ReLU → 12)");
    let csv = Path::new(env!("CARGO_MANIFEST_DIR")).join("data/omlt-reformer/reformer.csv");
    let t = surrogate::read_table(&csv).expect("reformer.csv");
    let x: Vec<Vec<f64>> = t.rows.iter().map(|r| r[..2].to_vec()).collect();
    let y: Vec<Vec<f64>> = t.rows.iter().map(|r| r[2..14].to_vec()).collect();
    let (mlp, meta) = fit_timed(&x, &y, &FitSpec::default(), "100 epochs", "training MSE");
    let p = Problem::new(
        mlp,
        meta.scaling,
        Sense::Maximize,
        Linear {
            cy: unit(12, 9),
            cx: vec![0.0; 2],
            c0: 0.0,
        },
        vec![Constraint {
            lin: Linear {
                cy: unit(12, 11),
                cx: vec![0.0; 2],
                c0: -0.34,
            },
            text: "N2 <= 0.34".into(),
        }],
        meta.input_lo,
        meta.input_hi,
    )
    .unwrap();
    let o = Options {
        gap_rel: 1e-6,
        ..Options::default()
    };
    let (s, med) = median_time(&p, &o, 21);
    let ex = solve_exact(&p).unwrap();
    println!(
        "  relulab bab   status {} H2 {:.12} bound {:.12} gap {:.1e} at x {:?}, {} domains, median {:.4} s (21 runs)",
        s.status.as_str(),
        s.objective.unwrap_or(f64::NAN),
        s.bound,
        s.gap_rel,
        s.x,
        s.nodes,
        med
    );
    println!(
        "  relulab exact H2 {:.12} at {:?} ({} regions, {:.4} s); |bab − exact| = {:.1e}",
        ex.objective.unwrap_or(f64::NAN),
        ex.x,
        ex.regions.unwrap_or(0),
        ex.seconds,
        (ex.objective.unwrap_or(f64::NAN) - s.objective.unwrap_or(f64::NAN)).abs()
    );
    println!(
        "  OMLT's published answer for its own Keras network: x = (0.1, 1.1404918), H2 0.33255362"
    );
    report_peers("reformer", &p, &s, med, 600.0);
}

fn peaks(x: f64, y: f64) -> f64 {
    3.0 * (1.0 - x).powi(2) * (-x * x - (y + 1.0).powi(2)).exp()
        - 10.0 * (x / 5.0 - x.powi(3) - y.powi(5)) * (-x * x - y * y).exp()
        - (-(x + 1.0).powi(2) - y * y).exp() / 3.0
}

fn peaks_case() {
    println!("## peaks: certified minimum of a surrogate trained on a 400 × 400 grid of [−2, 2]²");
    let n = 400;
    let mut x = Vec::with_capacity(n * n);
    let mut y = Vec::with_capacity(n * n);
    for i in 0..n {
        for j in 0..n {
            let (a, b) = (
                -2.0 + 4.0 * i as f64 / (n - 1) as f64,
                -2.0 + 4.0 * j as f64 / (n - 1) as f64,
            );
            x.push(vec![a, b]);
            y.push(vec![peaks(a, b)]);
        }
    }
    let spec = FitSpec {
        hidden: vec![32, 32, 32],
        epochs: 30,
        lr: 2e-3,
        batch_size: 128,
        seed: 0,
        ..FitSpec::default()
    };
    let (mlp, meta) = fit_timed(&x, &y, &spec, "2 → 32×3 ReLU → 1 for 30 epochs", "MSE");
    let p = Problem::new(
        mlp,
        meta.scaling,
        Sense::Minimize,
        Linear {
            cy: vec![1.0],
            cx: vec![0.0; 2],
            c0: 0.0,
        },
        vec![],
        vec![-2.0, -2.0],
        vec![2.0, 2.0],
    )
    .unwrap();
    let o = Options::default();
    let (s, med) = median_time(&p, &o, 5);
    let ex = solve_exact(&p).unwrap();
    let xs = s.x.clone().unwrap_or_default();
    println!(
        "  relulab bab   status {} minimum {:.9} bound {:.9} gap {:.1e} at {:?} ({} domains, median {:.4} s); true peaks there {:.5}",
        s.status.as_str(),
        s.objective.unwrap_or(f64::NAN),
        s.bound,
        s.gap_rel,
        xs,
        s.nodes,
        med,
        if xs.len() == 2 { peaks(xs[0], xs[1]) } else { f64::NAN }
    );
    println!(
        "  relulab exact minimum {:.9} at {:?} ({} regions, {:.3} s)",
        ex.objective.unwrap_or(f64::NAN),
        ex.x,
        ex.regions.unwrap_or(0),
        ex.seconds
    );
    println!(
        "  true minimum of peaks: −6.55113 at (0.2283, −1.6256); peaks(0.2283, −1.6256) = {:.5}",
        peaks(0.2283, -1.6256)
    );
    report_peers("peaks", &p, &s, med, 600.0);
}

fn digits() {
    println!("## digits 64-256-256-10: maximise y[3] − y[8] over the pixel box [0, 16]^64");
    let spec = TrainSpec {
        dataset: Some("digits".into()),
        hidden: vec![256, 256],
        epochs: 30,
        seed: 0,
        ..TrainSpec::default()
    };
    let prep = spec.prepare().unwrap();
    let mut tr = Trainer::new(prep.mlp, prep.config);
    let m = tr
        .run(&prep.train, prep.test.as_ref(), &mut [], |_, _| Ok(()))
        .unwrap();
    println!(
        "  trained 30 epochs, test accuracy {:.3}",
        m.last().and_then(|m| m.test_accuracy).unwrap_or(f64::NAN)
    );
    let st: Standardizer = prep.standardizer.unwrap();
    let sc = Scaling {
        x_mean: st.mean,
        x_std: st.std,
        y_mean: vec![0.0; 10],
        y_std: vec![1.0; 10],
    };
    let mut cy = vec![0.0; 10];
    cy[3] = 1.0;
    cy[8] = -1.0;
    let p = Problem::new(
        tr.mlp,
        sc,
        Sense::Maximize,
        Linear {
            cy,
            cx: vec![0.0; 64],
            c0: 0.0,
        },
        vec![],
        vec![0.0; 64],
        vec![16.0; 64],
    )
    .unwrap();
    let tl: f64 = std::env::var("RELULAB_BENCH_DIGITS_SECONDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(60.0);
    let o = Options {
        time_limit: Some(Duration::from_secs_f64(tl)),
        ..Options::default()
    };
    let s = solve(&p, &o, None).unwrap();
    println!(
        "  relulab {:<8} status {} incumbent {:.6} certified bound {:.6} gap {:.3e} ({} domains, {:.1} s)",
        s.method,
        s.status.as_str(),
        s.objective.unwrap_or(f64::NAN),
        s.bound,
        s.gap_abs,
        s.nodes,
        s.seconds
    );
    report_peers("digits", &p, &s, s.seconds, tl);
}

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    let want = |n: &str| args.is_empty() || args.iter().any(|a| a == n);
    rayon::ThreadPoolBuilder::new()
        .num_threads(2)
        .build_global()
        .ok();
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    println!(
        "# relulab optimize bench, 2 threads, load average at start: {}",
        load.trim()
    );
    if want("reformer") {
        reformer();
    }
    if want("peaks") {
        peaks_case();
    }
    if want("digits") {
        digits();
    }
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    println!("# load average at end: {}", load.trim());
}
