//! ACAS Xu subset (VNN-COMP 2021, 34 instances on 7 networks) and the VNN-COMP test set:
//! solved / sat / unsat / timeouts, total and median time, every answer checked against
//! `instances_expected.csv`.
//!
//! `cargo bench --bench verify_acas` (all cores; `RAYON_NUM_THREADS=2` pins the thread count;
//! `RELULAB_BENCH_TIMEOUT=S` overrides the per-instance limit, default: the CSV's 116 s).
//! Reads ../shared/benchmarks/vnncomp2021 in place (`RELULAB_SHARED` to point elsewhere).
//!
//! There is no peer run here: nnenum and α,β-CROWN are not installable offline. Their
//! VNN-COMP 2021 results on all 186 ACAS Xu instances are printed as published anchors
//! (nnenum: 285 s total, median 1.2 s, i.e. 1.53 s per instance; α,β-CROWN: 2,077 s,
//! median 7.3 s), and compared per instance, not as a measured ratio.

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
    let mut wrong = 0;
    for sub in ["test", "acasxu"] {
        let list =
            read_instances(&base.join(sub).join("instances_expected.csv")).expect("instances");
        let (s, _) = run(sub, &list, timeout);
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
