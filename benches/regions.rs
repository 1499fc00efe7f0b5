//! Regions per second of the exact 2-D partition (issue 5).
//!
//! `cargo bench --bench regions` prints, for He-initialised ReLU nets 2-[w]×L-1 (w in 16/32/64,
//! L in 2/4/8; `study::he_relu_net`, seed 0) on [−2, 2]², the number of activation regions, the
//! best wall time of 3 runs, the process CPU time of that run and regions/s; then the anchor
//! 2-[64]×8-1 on [−2, 2]² against Berzins' quoted 1,200 regions/s (edge subdivision, PyTorch
//! CPU, 2 threads: 89,136 regions in 76 s; Berzins, "Polyhedral complex extraction from ReLU
//! networks using edge subdivision", ICML 2023 — a quoted figure, not rerun here), and the
//! million-region run (2-[128]×12-1 on [−3, 3]², target ≥ 1,000,000 regions in ≤ 10 s on
//! 2 cores), with the linear-region merge timed separately.
//!
//! Peer, in the same run: bench/peers/regions_grid.py (PyTorch, float64, same thread count), the
//! usual way to look at regions without an exact tool — a dense R×R grid (R = 1024 and 2048),
//! distinct activation patterns — on the anchor net; it finds only the regions that contain a
//! grid point, so the bench prints its time and the fraction of the exact regions it found.
//! Python: $RELULAB_PYTHON, else python3, else python3; skipped with a note when
//! torch is missing.
//!
//! Threads: rayon's default (all cores) or RAYON_NUM_THREADS. The machine may be shared: CPU
//! seconds (user + system, from /proc/self/stat) are printed next to wall seconds; on an
//! otherwise idle machine with T threads, wall ≈ CPU / T. `-- --quick`: one run each.

use relulab::regions::study::he_relu_net;
use relulab::regions::{partition, GeoNet, PlaneOptions, Slice};
use std::time::Instant;

/// User + system CPU seconds of this process (Linux; 0 elsewhere).
fn cpu_seconds() -> f64 {
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else {
        return 0.0;
    };
    // Fields after the command name (which is in parentheses): utime is field 14, stime 15.
    let rest = &stat[stat.rfind(')').map_or(0, |i| i + 1)..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |k: usize| f.get(k).and_then(|x| x.parse::<f64>().ok()).unwrap_or(0.0);
    (ticks(11) + ticks(12)) / 100.0 // USER_HZ is 100 on Linux
}

fn widths(w: usize, depth: usize) -> Vec<usize> {
    let mut v = vec![2];
    v.extend(std::iter::repeat_n(w, depth));
    v.push(1);
    v
}

/// Best of `reps` runs: (cells, wall seconds, CPU seconds of that run, merge seconds).
fn measure(widths: &[usize], bbox: [f64; 4], reps: usize, merge: bool) -> (usize, f64, f64, f64) {
    let net = GeoNet::new(&he_relu_net(widths, 0)).expect("valid net");
    let slice = Slice::plane(bbox);
    let mut best = (0, f64::INFINITY, 0.0, 0.0);
    for _ in 0..reps {
        let c = cpu_seconds();
        let t = Instant::now();
        let p = partition(&net, &slice, PlaneOptions::default()).expect("partition");
        let wall = t.elapsed().as_secs_f64();
        let cpu = cpu_seconds() - c;
        let rel = (p.area_sum() - slice.area()).abs() / slice.area();
        assert!(rel < 1e-9, "area sum off by {rel:e}");
        let m = if merge {
            let t = Instant::now();
            let lr = p.linear_regions();
            assert!(lr <= p.len());
            t.elapsed().as_secs_f64()
        } else {
            0.0
        };
        if wall < best.1 {
            best = (p.len(), wall, cpu, m);
        }
    }
    best
}

/// Run the PyTorch grid peer on the He net `widths` (seed 0); returns its JSON line.
fn grid_peer(widths: &[usize], bbox: [f64; 4], res: usize, threads: usize) -> Option<String> {
    let mlp = he_relu_net(widths, 0);
    let layers: Vec<serde_json::Value> = mlp
        .layers
        .iter()
        .map(|l| {
            let w: Vec<&[f64]> = (0..l.out_dim).map(|j| l.row(j)).collect();
            serde_json::json!({"w": w, "b": l.bias})
        })
        .collect();
    let spec = serde_json::json!({"box": bbox, "layers": layers});
    let path =
        std::env::temp_dir().join(format!("relulab-regions-peer-{}.json", std::process::id()));
    std::fs::write(&path, spec.to_string()).ok()?;
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/bench/peers/regions_grid.py");
    let pythons = [
        std::env::var("RELULAB_PYTHON").unwrap_or_default(),
        "python3".into(),
    ];
    let mut result = None;
    for py in pythons.iter().filter(|p| !p.is_empty()) {
        let out = std::process::Command::new(py)
            .args([
                script,
                "--net",
                path.to_str()?,
                "--threads",
                &threads.to_string(),
            ])
            .args(["--res", &res.to_string()])
            .output();
        if let Ok(out) = out {
            if out.status.success() {
                result = Some(String::from_utf8_lossy(&out.stdout).trim().to_string());
                break;
            }
        }
    }
    let _ = std::fs::remove_file(&path);
    result
}

fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let reps = if quick { 1 } else { 3 };
    println!("threads: {}", rayon::current_num_threads());
    println!("| net | box | regions | wall s | CPU s | regions/s (wall) |");
    println!("|---|---|---:|---:|---:|---:|");
    for w in [16, 32, 64] {
        for depth in [2, 4, 8] {
            let (n, s, c, _) = measure(&widths(w, depth), [-2.0, 2.0, -2.0, 2.0], reps, false);
            println!(
                "| 2-[{w}]×{depth}-1 | [−2,2]² | {n} | {s:.3} | {c:.2} | {:.0} |",
                n as f64 / s
            );
        }
    }
    let (n, s, c, m) = measure(&widths(64, 8), [-2.0, 2.0, -2.0, 2.0], reps, true);
    let rate = n as f64 / s;
    println!(
        "anchor 2-[64]×8-1 on [−2,2]²: {n} regions in {s:.3} s wall ({c:.2} s CPU) = {rate:.0} \
         regions/s = {:.0}× Berzins' 1,200/s (target ≥ 50×); linear-region merge {m:.3} s",
        rate / 1200.0
    );
    for res in [1024, 2048] {
        match grid_peer(
            &widths(64, 8),
            [-2.0, 2.0, -2.0, 2.0],
            res,
            rayon::current_num_threads(),
        ) {
            Some(line) => {
                let v: serde_json::Value = serde_json::from_str(&line).unwrap_or_default();
                let (ps, found) = (
                    v["seconds"].as_f64().unwrap_or(f64::NAN),
                    v["distinct"].as_u64().unwrap_or(0),
                );
                println!(
                    "peer PyTorch {} grid {res}² (same net, {} threads): {ps:.3} s, found {found} of {n} \
                     regions ({:.1}%); relulab exact is {:.1}× faster",
                    v["torch"].as_str().unwrap_or("?"),
                    v["threads"],
                    100.0 * found as f64 / n as f64,
                    ps / s
                );
            }
            None => println!("peer skipped: no python with torch (set RELULAB_PYTHON)"),
        }
    }
    let (n, s, c, m) = measure(&widths(128, 12), [-3.0, 3.0, -3.0, 3.0], 1, true);
    println!(
        "million: 2-[128]×12-1 on [−3,3]²: {n} regions in {s:.2} s wall ({c:.2} s CPU) = {:.0} \
         regions/s (target ≥ 1,000,000 in ≤ 10 s); linear-region merge {m:.2} s",
        n as f64 / s
    );
}
