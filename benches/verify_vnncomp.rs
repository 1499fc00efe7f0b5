//! VNN-COMP 2021 benchmarks read in place: the test set, ACAS Xu (all 186 instances on 45
//! networks) and MNIST-FC (90 instances on 256×2/4/6 ReLU networks): solved / sat / unsat /
//! timeouts / wrong, total and median time, every answer checked against
//! `instances_expected.csv` ("unknown" there: no two tools agreed, so any sound answer counts
//! as solved and none as wrong). Also the root α-CROWN time on mnist-net_256x6 (every hidden
//! layer optimised, then the output rows).
//!
//! `RAYON_NUM_THREADS=2 cargo bench --bench verify_vnncomp [-- SETS]` with SETS among `test`,
//! `acasxu`, `mnistfc`, `root` (default: all). `RELULAB_BENCH_TIMEOUT=S` caps the per-instance
//! limit (default: the CSV's, 116 s for ACAS Xu, 120/300 s for MNIST-FC).
//! Reads ../shared/benchmarks/vnncomp2021 in place (`RELULAB_SHARED` to point elsewhere).
//!
//! There is no peer run here: nnenum and α,β-CROWN are not installable offline. Their
//! published VNN-COMP 2021 results are printed as anchors (ACAS Xu: nnenum 186 solved, 285 s
//! total; α,β-CROWN 2,077 s on a GPU. MNIST-FC: α,β-CROWN 70/90 on a GPU, VeriNet 60, nnenum
//! 47), not as measured ratios.

use relulab::verify::campaign::{read_instances, run_instance, Instance, InstanceResult, Summary};
use relulab::verify::VerifyOptions;
use std::path::PathBuf;

fn shared() -> Option<PathBuf> {
    relulab::verify::campaign::shared_benchmarks_root()
}

fn run(name: &str, list: &[Instance], timeout: Option<f64>) -> (Summary, Vec<InstanceResult>) {
    let opts = VerifyOptions::default();
    let mut results = Vec::new();
    for inst in list {
        let mut inst = inst.clone();
        if let Some(t) = timeout {
            inst.timeout = t;
        }
        let r = run_instance(&inst, &opts);
        println!(
            "{name:7} {:34} {:15} expected {:6} got {:8} {:8.3} s {:7} domains{}",
            inst.model.file_name().unwrap().to_string_lossy(),
            inst.property.file_name().unwrap().to_string_lossy(),
            inst.expected.as_deref().unwrap_or("?"),
            r.answer(),
            r.outcome.as_ref().map_or(0.0, |o| o.seconds),
            r.outcome.as_ref().map_or(0, |o| o.domains),
            if r.is_wrong() { "  WRONG" } else { "" }
        );
        if let Err(e) = &r.outcome {
            println!("        error: {e}");
        }
        results.push(r);
    }
    (Summary::of(&results), results)
}

fn main() {
    // `cargo bench` passes --bench; nothing to parse.
    let Some(root) = shared() else {
        println!("shared benchmarks not found; nothing to run");
        return;
    };
    let timeout = std::env::var("RELULAB_BENCH_TIMEOUT")
        .ok()
        .and_then(|v| v.parse::<f64>().ok());
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    println!(
        "threads {}, load average at start: {}",
        rayon::current_num_threads(),
        load.split_whitespace()
            .take(3)
            .collect::<Vec<_>>()
            .join(" ")
    );
    let base = root.join("benchmarks/vnncomp2021");
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    let want = |s: &str| args.is_empty() || args.iter().any(|a| a == s);
    if want("root") {
        root_alpha_crown(&base);
    }
    let mut wrong = 0;
    for sub in ["test", "acasxu", "mnistfc"] {
        if !want(sub) {
            continue;
        }
        let list =
            read_instances(&base.join(sub).join("instances_expected.csv")).expect("instances");
        let (s, results) = run(sub, &list, timeout);
        println!("{sub}: {}", s.line());
        if sub == "acasxu" {
            let pace = 285.0 / 186.0;
            println!(
                "acasxu: nnenum's published pace (1.53 s/instance, median 1.2 s) over these {} instances would be {:.1} s; relulab: {:.1} s total, median {:.3} s",
                s.total,
                pace * s.total as f64,
                s.total_s,
                s.median_s
            );
        }
        if sub == "mnistfc" {
            let agreed: Vec<&InstanceResult> = results
                .iter()
                .filter(|r| r.instance.expected.as_deref() == Some("unknown"))
                .collect();
            let solved = agreed
                .iter()
                .filter(|r| matches!(r.answer(), "sat" | "unsat"))
                .count();
            println!(
                "mnistfc: {solved} of the {} instances no two tools agreed on solved; published: alpha-beta-CROWN 70/90 (GPU), VeriNet 60, nnenum 47",
                agreed.len()
            );
        }
        wrong += s.wrong;
    }
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    println!(
        "load average at end: {}",
        load.split_whitespace()
            .take(3)
            .collect::<Vec<_>>()
            .join(" ")
    );
    if wrong > 0 {
        println!("{wrong} WRONG ANSWERS");
        std::process::exit(1);
    }
}

/// Root bounds of one MNIST-FC property on the deepest network: α-CROWN on every hidden layer,
/// then on the output rows (best of three runs).
fn root_alpha_crown(base: &std::path::Path) {
    // The search all in f64, then in f32 with one sound f64 pass (`Optim::fast`).
    for fast in [false, true] {
        root_alpha_crown_with(base, fast);
    }
}

fn root_alpha_crown_with(base: &std::path::Path, fast: bool) {
    use relulab::verify::engine::{bound_rows, optimized_hidden, Domain, Optim, Relaxation, Row};
    use relulab::verify::{load_network, load_vnnlib, PwlNet};
    let dir = base.join("mnistfc");
    let mlp = load_network(&dir.join("mnist-net_256x6.onnx")).expect("network");
    let prop = load_vnnlib(&dir.join("prop_0_0.03.vnnlib")).expect("property");
    let net = PwlNet::from_mlp(&mlp).expect("net");
    let case = &prop.cases[0];
    let mut best = f64::INFINITY;
    let mut unstable = Vec::new();
    let mut proved = 0;
    let mut worst = f64::NAN;
    for _ in 0..3 {
        let t0 = std::time::Instant::now();
        let hidden = Optim {
            iters: 20,
            fast,
            ..Optim::default()
        };
        let inter = optimized_hidden(&net, &case.lo, &case.hi, None, &hidden);
        let out = net.layers.len() - 1;
        let rel = Relaxation::new(&net, out, &case.lo, &case.hi, &inter);
        let atoms: Vec<_> = case.terms.iter().flatten().collect();
        let rows: Vec<Row> = atoms
            .iter()
            .map(|a| Row {
                dom: 0,
                c: &a.c,
                target: a.b,
                alpha: None,
                beta: None,
                floor: f64::NEG_INFINITY,
            })
            .collect();
        let res = bound_rows(
            &rel,
            &[Domain::splits(&[])],
            &rows,
            &Optim {
                iters: 50,
                fast,
                ..Optim::default()
            },
        );
        best = best.min(t0.elapsed().as_secs_f64());
        unstable = inter.unstable_counts();
        proved = res.iter().zip(&atoms).filter(|(r, a)| r.lb > a.b).count();
        worst = res
            .iter()
            .zip(&atoms)
            .map(|(r, a)| r.lb - a.b)
            .fold(f64::INFINITY, f64::min);
    }
    println!(
        "root alpha-CROWN ({}), mnist-net_256x6 prop_0 eps 0.03: {best:.3} s (best of 3; 20 steps per hidden layer, 50 on the outputs); unstable per layer {unstable:?}; {proved}/{} atoms refuted at the root; worst atom margin {worst:.4}",
        if fast { "f32 search, f64 bound" } else { "f64" },
        case.terms.iter().flatten().count()
    );
}
