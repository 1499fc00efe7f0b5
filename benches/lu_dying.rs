//! Lu et al. 2019's dying sweep: relulab against the PyTorch CPU peer (bench/peers/lu_dying.py),
//! same setting, one thread per run, measured in the same run; prints the ratio.
//!
//! `cargo bench --bench lu_dying` (env: RELULAB_BENCH_RUNS relulab runs per init, default
//! 1000; RELULAB_PEER_RUNS peer runs, default 20; RELULAB_PYTHON the Python with torch,
//! default python3 then python3).

use relulab::net::Init;
use relulab::remedy::lu::{dying_sweep, DyingSweep};
use std::process::Command;

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn load() -> String {
    std::fs::read_to_string("/proc/loadavg").unwrap_or_else(|_| "unknown".into())
}

fn main() {
    let runs = env_usize("RELULAB_BENCH_RUNS", 1000);
    let peer_runs = env_usize("RELULAB_PEER_RUNS", 20);
    println!("load average before: {}", load().trim());
    let cfg = DyingSweep {
        runs,
        ..Default::default()
    };
    let one = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .unwrap();
    let all = rayon::ThreadPoolBuilder::new().build().unwrap();
    let mut per_run = 0.0;
    for init in [Init::HeNormal, Init::Rai { sigma2: 1.0 }] {
        let o1 = one.install(|| dying_sweep(&cfg, init));
        let on = all.install(|| dying_sweep(&cfg, init));
        assert_eq!(
            (o1.born_dead, o1.collapsed),
            (on.born_dead, on.collapsed),
            "thread count changed the outcome"
        );
        println!(
            "relulab {:<10} runs {:>5}: born dead {:>5.1}%  collapsed {:>5.1}%  {:.5} s/run (1 thread)  sweep wall {:.2} s on {} threads",
            o1.init,
            runs,
            100.0 * o1.born_dead_fraction,
            100.0 * o1.collapsed_fraction,
            o1.seconds_per_run,
            on.wall_seconds,
            on.threads
        );
        if matches!(init, Init::HeNormal) {
            per_run = o1.seconds_per_run;
        }
    }
    let python = std::env::var("RELULAB_PYTHON").unwrap_or_else(|_| "python3".into());
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/bench/peers/lu_dying.py");
    match Command::new(&python)
        .args([script, &peer_runs.to_string(), "0"])
        .output()
    {
        Ok(out) if out.status.success() => {
            let line = String::from_utf8_lossy(&out.stdout);
            println!("peer: {}", line.trim());
            let v: serde_json::Value = serde_json::from_str(line.trim()).expect("peer JSON");
            let peer = v["seconds_per_run"].as_f64().unwrap_or(f64::NAN);
            println!(
                "ratio (PyTorch s/run ÷ relulab s/run, He init, one thread each): {:.1}×",
                peer / per_run
            );
        }
        Ok(out) => println!(
            "peer failed (is torch installed?): {}",
            String::from_utf8_lossy(&out.stderr)
        ),
        Err(e) => println!("peer not run ({python}: {e})"),
    }
    println!("load average after: {}", load().trim());
}
