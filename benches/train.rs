//! Training-step throughput of relulab against the PyTorch CPU peer (bench/peers/train.py),
//! measured in the same run with the same thread count.
//!
//!     cargo bench --bench train [-- --threads 2 --seconds 2 --only tiny --no-peer --cpu]
//!
//! One step = forward (trace kept), loss and its gradient, backward, optimizer update, on a
//! fixed random batch (the peer does the same: zero_grad, forward, loss, backward, step).
//! Each figure is the fastest per-step time over many ≈2 ms blocks (the machine is shared);
//! with `--cpu`, one thread on each side and the thread's CPU time per step instead, which
//! does not count time spent preempted (the robust figure on a loaded machine). The peer runs when
//! `RELULAB_PYTHON` (default python3) has torch. Prints a Markdown table with the
//! load average.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use relulab::net::{
    BiasInit, Grads, Init, Loss, OptimKind, Optimizer, OptimizerConfig, Schedule, TargetSlice,
    Trace, Workspace,
};
use relulab::{Activation, Mlp};
use std::time::Instant;

struct Case {
    name: &'static str,
    widths: Vec<usize>,
    batch: usize,
    adam: bool,
    mse: bool,
}

fn cases() -> Vec<Case> {
    let mut narrow = vec![1];
    narrow.extend([2; 10]);
    narrow.push(1);
    vec![
        Case {
            name: "tiny_2-16-16-16-1_b32_adam",
            widths: vec![2, 16, 16, 16, 1],
            batch: 32,
            adam: true,
            mse: true,
        },
        Case {
            name: "narrow_1-(2x10)-1_b64_adam",
            widths: narrow,
            batch: 64,
            adam: true,
            mse: true,
        },
        Case {
            name: "digits_64-256-256-10_b64_sgdm",
            widths: vec![64, 256, 256, 10],
            batch: 64,
            adam: false,
            mse: false,
        },
        Case {
            name: "mnist_784-1024x3-10_b256_sgdm",
            widths: vec![784, 1024, 1024, 1024, 10],
            batch: 256,
            adam: false,
            mse: false,
        },
    ]
}

/// CPU time of the calling thread in seconds (/proc/thread-self/schedstat: ns on CPU).
fn thread_cpu_seconds() -> f64 {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse::<f64>().ok())
        .map_or(f64::NAN, |ns| ns * 1e-9)
}

/// With `--cpu`: the calling thread's CPU seconds per step over `seconds` of stepping. On a
/// loaded machine this approximates an idle machine's single-thread wall time, since time spent
/// preempted is not counted.
fn cpu_step_time(seconds: f64, step: &mut dyn FnMut()) -> f64 {
    let start = Instant::now();
    let c0 = thread_cpu_seconds();
    let mut n = 0usize;
    while start.elapsed().as_secs_f64() < seconds || n < 3 {
        step();
        n += 1;
    }
    (thread_cpu_seconds() - c0) / n as f64
}

/// Seconds per step of `case` (see [`min_step_time`], or [`cpu_step_time`] with `cpu`).
fn time_relulab(
    case: &Case,
    threads: usize,
    seconds: f64,
    small_max: Option<usize>,
    cpu: bool,
) -> f64 {
    let mut rng = ChaCha8Rng::seed_from_u64(0);
    let mut mlp: Mlp<f32> = Mlp::zeros(&case.widths, Activation::RELU, Activation::Identity, true);
    mlp.init(Init::Torch, BiasInit::Zero, &mut rng);
    let d_in = case.widths[0];
    let d_out = *case.widths.last().unwrap();
    let b = case.batch;
    let x: Vec<f32> = (0..b * d_in).map(|_| rng.random_range(-1.0..1.0)).collect();
    let yv: Vec<f32> = (0..b * d_out)
        .map(|_| rng.random_range(-1.0..1.0))
        .collect();
    let yl: Vec<u32> = (0..b).map(|_| rng.random_range(0..d_out as u32)).collect();
    let kind = if case.adam {
        OptimKind::ADAM
    } else {
        OptimKind::sgd(0.9)
    };
    let config = OptimizerConfig {
        kind,
        lr: 1e-3,
        weight_decay: 0.0,
        decay_weights_only: false,
        clip_norm: None,
        schedule: Schedule::Constant,
        warmup_steps: 0,
    };
    let mut opt = Optimizer::new(config);
    let mut ws = Workspace::new(threads);
    if let Some(s) = small_max {
        ws.small_max = s;
    }
    let mut trace = Trace {
        batch: b,
        input: x,
        ..Default::default()
    };
    let mut grads = Grads::default();
    let mut g = vec![0.0f32; b * d_out];
    let (loss, targets) = if case.mse {
        (Loss::Mse, TargetSlice::Values(&yv))
    } else {
        (Loss::CrossEntropy, TargetSlice::Classes(&yl))
    };
    let mut step = || {
        mlp.forward_ws(&mut trace, &mut ws, 0.0);
        loss.eval(trace.output(), b, d_out, targets, Some(&mut g))
            .expect("valid targets");
        mlp.backward_ws(&trace, &g, &mut grads, &mut ws, false);
        opt.step(&mut mlp, &grads, 1e-3);
    };
    for _ in 0..20 {
        step();
    }
    if cpu {
        cpu_step_time(seconds, &mut step)
    } else {
        min_step_time(seconds, &mut step)
    }
}

/// The machine is shared, so a long block measures the scheduler as much as the code: time
/// many short blocks (≈2 ms, at least one step) for `seconds` and keep the fastest per-step
/// time. The peer script does exactly the same.
fn min_step_time(seconds: f64, step: &mut dyn FnMut()) -> f64 {
    let t0 = Instant::now();
    step();
    let one = t0.elapsed().as_secs_f64().max(1e-9);
    let block = ((2e-3 / one) as usize).max(1);
    let start = Instant::now();
    let mut best = f64::INFINITY;
    let mut blocks = 0;
    while start.elapsed().as_secs_f64() < seconds || blocks < 5 {
        let t = Instant::now();
        for _ in 0..block {
            step();
        }
        best = best.min(t.elapsed().as_secs_f64() / block as f64);
        blocks += 1;
    }
    best
}

fn peer(threads: usize, seconds: f64, only: &str, cpu: bool) -> Vec<(String, f64)> {
    let python = std::env::var("RELULAB_PYTHON").unwrap_or_else(|_| "python3".to_string());
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/bench/peers/train.py");
    let out = std::process::Command::new(&python)
        .args([
            script,
            "--threads",
            &threads.to_string(),
            "--seconds",
            &seconds.to_string(),
            "--only",
            only,
            if cpu { "--cpu" } else { "--wall" },
        ])
        .output();
    let Ok(out) = out else {
        eprintln!("peer: cannot run {python}; PyTorch column left empty");
        return Vec::new();
    };
    if !out.status.success() {
        eprintln!(
            "peer failed: {}",
            String::from_utf8_lossy(&out.stderr)
                .lines()
                .last()
                .unwrap_or("")
        );
        return Vec::new();
    }
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter_map(|v| Some((v["case"].as_str()?.to_string(), v["us_per_step"].as_f64()?)))
        .collect()
}

fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "?".into())
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let get = |k: &str| {
        args.iter()
            .position(|a| a == k)
            .and_then(|i| args.get(i + 1).cloned())
    };
    let threads: usize = get("--threads").and_then(|v| v.parse().ok()).unwrap_or(2);
    let seconds: f64 = get("--seconds").and_then(|v| v.parse().ok()).unwrap_or(2.0);
    let only = get("--only").unwrap_or_default();
    let no_peer = args.iter().any(|a| a == "--no-peer");
    let compare_paths = args.iter().any(|a| a == "--compare-paths");
    let cpu = args.iter().any(|a| a == "--cpu");
    let threads = if cpu { 1 } else { threads };
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .expect("thread pool");
    println!(
        "threads {threads}, metric: {}, load average before: {}, cpu: {}",
        if cpu {
            "thread CPU time per step (--cpu)"
        } else {
            "fastest wall-clock per step over ≈2 ms blocks"
        },
        loadavg(),
        std::fs::read_to_string("/proc/cpuinfo")
            .ok()
            .and_then(
                |s| s.lines().find(|l| l.starts_with("model name")).map(|l| l
                    .split(':')
                    .nth(1)
                    .unwrap_or("")
                    .trim()
                    .to_string())
            )
            .unwrap_or_default()
    );
    let mut ours = Vec::new();
    for case in cases().iter().filter(|c| c.name.contains(&only)) {
        let t = pool.install(|| time_relulab(case, threads, seconds, None, cpu));
        if compare_paths {
            let all_gemm = pool.install(|| time_relulab(case, threads, seconds, Some(0), cpu));
            let all_small =
                pool.install(|| time_relulab(case, threads, seconds, Some(usize::MAX), cpu));
            println!(
                "{}: chosen {:.2} µs, all-gemm {:.2} µs, all-small-loops {:.2} µs",
                case.name,
                t * 1e6,
                all_gemm * 1e6,
                all_small * 1e6
            );
        }
        ours.push((case.name, t));
    }
    let theirs = if no_peer {
        Vec::new()
    } else {
        peer(threads, seconds, &only, cpu)
    };
    println!("load average after: {}", loadavg());
    println!();
    println!("| case | relulab µs/step | PyTorch µs/step | relulab steps/s | PyTorch steps/s | speed-up |");
    println!("|---|---:|---:|---:|---:|---:|");
    for (name, t) in ours {
        let p = theirs
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, us)| us * 1e-6);
        let fmt = |v: Option<f64>, f: &dyn Fn(f64) -> String| v.map_or("–".into(), f);
        println!(
            "| {name} | {:.2} | {} | {:.0} | {} | {} |",
            t * 1e6,
            fmt(p, &|v| format!("{:.2}", v * 1e6)),
            1.0 / t,
            fmt(p, &|v| format!("{:.0}", 1.0 / v)),
            fmt(p, &|v| format!("{:.1}×", v / t)),
        );
    }
}
