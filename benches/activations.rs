//! Throughput of the activation kernels (f32, forward and backward, out of place) at 4 KiB,
//! 256 KiB and 64 MiB, beside a plain copy of the same bytes measured in the same run, and
//! beside PyTorch CPU (bench/peers/activations.py) run by this same binary with the same
//! thread count.
//!
//! ```sh
//! cargo bench --bench activations                       # 2 threads, PyTorch peer if found
//! RELULAB_BENCH_THREADS=1 cargo bench --bench activations
//! RELULAB_PYTHON=/path/to/python cargo bench --bench activations
//! RELULAB_BENCH_QUICK=1 cargo bench --bench activations  # shorter timings (smoke run)
//! ```
//!
//! Bytes moved: forward reads x and writes y (2·4n bytes), backward reads x and grad_out and
//! writes grad_in (3·4n); copy reads and writes (2·4n). Ratios to the copy compare bandwidths
//! (bytes moved per second); ratios to PyTorch compare elements per second. Each figure is the
//! best of several timed repetitions (the machine is shared; the minimum time is the least
//! disturbed one), and the copies and our kernels of one row are sampled in turn (see
//! `best_times`). The peer is timed the same way.

use rand::SeedableRng;
use rand_distr::{Distribution, StandardNormal};
use rayon::prelude::*;
use relulab::activation::kernels::{self, Par};
use relulab::activation::simd::Level;
use relulab::activation::Activation;
use std::collections::HashMap;
use std::hint::black_box;
use std::time::{Duration, Instant};

/// The family without the identity (`ACTIVATION_NAMES` after its first entry).
fn names() -> &'static [&'static str] {
    &relulab::activation::ACTIVATION_NAMES[1..]
}

/// Best seconds per call of `f`: calibrate a repetition count to ~`target`/samples, then take
/// the fastest of `samples` timed batches ([`best_times`] of one function).
fn best_time(mut f: impl FnMut(), target: Duration, samples: usize) -> f64 {
    best_times(&mut [&mut f], target, samples)[0]
}

/// Best seconds per call of each of `fs`, sampled in turn: calibrate a repetition count per
/// function to ~`target`/samples, then time one batch of each, round after round, and keep
/// each one's fastest batch. Interleaving matters on this shared machine: its memory bandwidth
/// switches between about 55 and 100 GB/s as neighbours come and go, and a ratio of two
/// figures timed seconds apart can mix the two states (a 64 MiB ReLU row once read 1.86× the
/// copy); sampled in turn, every function sees the same states.
fn best_times(fs: &mut [&mut dyn FnMut()], target: Duration, samples: usize) -> Vec<f64> {
    let reps: Vec<usize> = fs
        .iter_mut()
        .map(|f| {
            f();
            let mut reps = 1usize;
            loop {
                let t = Instant::now();
                for _ in 0..reps {
                    f();
                }
                if t.elapsed() >= target / samples as u32 || reps > 1 << 20 {
                    break reps;
                }
                reps *= 2;
            }
        })
        .collect();
    let mut best = vec![f64::INFINITY; fs.len()];
    for _ in 0..samples {
        for ((f, &r), b) in fs.iter_mut().zip(&reps).zip(best.iter_mut()) {
            let t = Instant::now();
            for _ in 0..r {
                f();
            }
            *b = b.min(t.elapsed().as_secs_f64() / r as f64);
        }
    }
    best
}

/// Seconds of CPU time this thread has used (immune to other processes' load, but only
/// meaningful for single-threaded work).
fn thread_cpu_time() -> f64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: a valid pointer to a timespec; CLOCK_THREAD_CPUTIME_ID exists on Linux.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    ts.tv_sec as f64 + ts.tv_nsec as f64 * 1e-9
}

/// Best CPU seconds per call of single-threaded `f` (as [`best_time`], on the thread clock).
fn best_cpu_time(mut f: impl FnMut(), reps: usize, samples: usize) -> f64 {
    f();
    let mut best = f64::INFINITY;
    for _ in 0..samples {
        let t = thread_cpu_time();
        for _ in 0..reps {
            f();
        }
        best = best.min((thread_cpu_time() - t) / reps as f64);
    }
    best
}

fn par_copy(x: &[f32], y: &mut [f32]) {
    y.par_chunks_mut(kernels::CHUNK)
        .zip(x.par_chunks(kernels::CHUNK))
        .for_each(|(yc, xc)| yc.copy_from_slice(xc));
}

/// (activation, bytes) → (forward, backward) elements per second of the peer.
type PeerRates = HashMap<(String, usize), (f64, f64)>;

fn peer(
    threads: usize,
    sizes: &[usize],
    quick: bool,
    cpu_time: bool,
) -> Option<(String, PeerRates)> {
    let python = std::env::var("RELULAB_PYTHON").unwrap_or_else(|_| "python3".into());
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/bench/peers/activations.py");
    let sizes_arg: Vec<String> = sizes.iter().map(|s| s.to_string()).collect();
    let out = std::process::Command::new(&python)
        .args([script, "--json", "--threads", &threads.to_string()])
        .args(["--sizes", &sizes_arg.join(",")])
        .args(["--min-time", if quick { "0.1" } else { "0.5" }])
        .args(if cpu_time {
            &["--cpu-time"][..]
        } else {
            &[][..]
        })
        .output();
    let out = match out {
        Ok(o) if o.status.success() => o,
        Ok(o) => {
            eprintln!(
                "peer: {python} failed: {}",
                String::from_utf8_lossy(&o.stderr)
            );
            return None;
        }
        Err(e) => {
            eprintln!("peer: cannot run {python} ({e}); set RELULAB_PYTHON to a Python with torch");
            return None;
        }
    };
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).ok()?;
    let mut map = HashMap::new();
    for r in v["results"].as_array()? {
        map.insert(
            (
                r["name"].as_str()?.to_string(),
                r["bytes"].as_u64()? as usize,
            ),
            (r["forward_eps"].as_f64()?, r["backward_eps"].as_f64()?),
        );
    }
    Some((v["torch"].as_str().unwrap_or("?").to_string(), map))
}

/// One row of the table: best seconds per call of ours (forward, backward) and of the copy,
/// and the peer's best elements per second (forward, backward).
struct Row {
    name: &'static str,
    bytes: usize,
    fwd: f64,
    bwd: f64,
    copy: f64,
    peer: Option<(f64, f64)>,
}

/// The PyTorch peer as a child process answering one timing request per line.
struct Peer {
    child: std::process::Child,
    stdin: std::process::ChildStdin,
    stdout: std::io::BufReader<std::process::ChildStdout>,
    version: String,
}

impl Peer {
    fn start(threads: usize, quick: bool) -> Option<Peer> {
        use std::process::{Command, Stdio};
        let python = std::env::var("RELULAB_PYTHON").unwrap_or_else(|_| "python3".into());
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/bench/peers/activations.py");
        let version = Command::new(&python)
            .args(["-c", "import torch; print(torch.__version__)"])
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string());
        let Some(version) = version else {
            eprintln!(
                "peer: no Python with torch at {python}; set RELULAB_PYTHON (our columns only)"
            );
            return None;
        };
        let mut child = Command::new(&python)
            .args([script, "--serve", "--threads", &threads.to_string()])
            .args(["--min-time", if quick { "0.1" } else { "0.4" }])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .ok()?;
        let stdin = child.stdin.take()?;
        let stdout = std::io::BufReader::new(child.stdout.take()?);
        Some(Peer {
            child,
            stdin,
            stdout,
            version,
        })
    }

    /// The peer's (forward, backward) elements per second for one activation and size.
    fn rates(&mut self, name: &str, bytes: usize) -> Option<(f64, f64)> {
        use std::io::{BufRead, Write};
        writeln!(self.stdin, "{name} {bytes}").ok()?;
        self.stdin.flush().ok()?;
        let mut line = String::new();
        self.stdout.read_line(&mut line).ok()?;
        let v: serde_json::Value = serde_json::from_str(&line).ok()?;
        Some((v["forward_eps"].as_f64()?, v["backward_eps"].as_f64()?))
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn main() {
    // `cargo bench` passes `--bench`; a filter argument selects activations by substring.
    let filter: Option<String> = std::env::args().skip(1).find(|a| !a.starts_with("--"));
    let threads: usize = std::env::var("RELULAB_BENCH_THREADS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(2);
    let quick = std::env::var("RELULAB_BENCH_QUICK").is_ok();
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build_global()
        .expect("rayon pool");
    let target = Duration::from_millis(if quick { 100 } else { 400 });
    let samples = if quick { 3 } else { 7 };
    let sizes = [4usize << 10, 256 << 10, 64 << 20];
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    println!(
        "relulab activation kernels: f32, {threads} thread(s), SIMD level {}, load {}",
        Level::current().name(),
        load.split_whitespace()
            .take(3)
            .collect::<Vec<_>>()
            .join(" ")
    );

    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
    let max_n = sizes.iter().max().unwrap() / 4;
    let x: Vec<f32> = (0..max_n)
        .map(|_| 2.0 * <StandardNormal as Distribution<f32>>::sample(&StandardNormal, &mut rng))
        .collect();
    let g: Vec<f32> = (0..max_n)
        .map(|_| <StandardNormal as Distribution<f32>>::sample(&StandardNormal, &mut rng))
        .collect();
    let mut y = vec![0f32; max_n];

    if std::env::var("RELULAB_BENCH_THRESHOLD").is_ok() {
        threshold_table(&x, &g, &mut y, threads, target, samples);
        return;
    }
    if std::env::var("RELULAB_BENCH_CPU").is_ok() {
        cpu_time_table(&x, &g, &mut y, filter.as_deref(), quick);
        return;
    }

    // The peer runs as a server: each row times ours, the peer, ours again, the peer again
    // (best of each), so both see the same load; the copy is timed in the same rows.
    let mut peer = Peer::start(threads, quick);
    let mut rows: Vec<Row> = Vec::new();
    for &bytes in &sizes {
        let n = bytes / 4;
        let (xs, gs) = (&x[..n], &g[..n]);
        for &name in names() {
            if filter.as_ref().is_some_and(|f| !name.contains(f.as_str())) {
                continue;
            }
            let act = Activation::by_name(name).unwrap();
            let mut row = Row {
                name,
                bytes,
                fwd: f64::INFINITY,
                bwd: f64::INFINITY,
                copy: f64::INFINITY,
                peer: None,
            };
            for _round in 0..2 {
                // One output buffer for all four closures, which run one at a time.
                let out = std::cell::RefCell::new(&mut y[..n]);
                let mut copy1 = || out.borrow_mut().copy_from_slice(black_box(xs));
                let mut copyp = || par_copy(black_box(xs), &mut out.borrow_mut());
                let mut fwd = || {
                    let mut o = out.borrow_mut();
                    kernels::forward_f32(Level::current(), Par::Auto, &act, black_box(xs), &mut o)
                };
                let mut bwd = || {
                    let mut o = out.borrow_mut();
                    let (x, g) = (black_box(xs), black_box(gs));
                    kernels::backward_f32(Level::current(), Par::Auto, &act, x, g, &mut o)
                };
                let t = best_times(
                    &mut [&mut copy1, &mut copyp, &mut fwd, &mut bwd],
                    target,
                    if bytes >= 1 << 24 {
                        samples * 3
                    } else {
                        samples
                    },
                );
                row.copy = row.copy.min(t[0]).min(t[1]);
                row.fwd = row.fwd.min(t[2]);
                row.bwd = row.bwd.min(t[3]);
                if let Some(p) = peer.as_mut() {
                    match p.rates(name, bytes) {
                        Some((f, b)) => {
                            let (pf, pb) = row.peer.unwrap_or((0.0, 0.0));
                            row.peer = Some((pf.max(f), pb.max(b)));
                        }
                        None => peer = None,
                    }
                }
            }
            rows.push(row);
        }
    }

    // SIMD levels side by side (GELU-erf, 256 KiB, one thread).
    println!("\nGELU-erf forward, 256 KiB, 1 thread, by SIMD level:");
    for level in Level::supported() {
        let n = (256 << 10) / 4;
        let t = best_time(
            || {
                kernels::forward_f32(
                    level,
                    Par::Seq,
                    &Activation::Gelu,
                    black_box(&x[..n]),
                    &mut y[..n],
                )
            },
            target,
            samples,
        );
        println!(
            "  {:<9} {:.3} G elements/s",
            level.name(),
            n as f64 / t / 1e9
        );
    }

    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    println!(
        "\nload at the end: {}",
        load.split_whitespace()
            .take(3)
            .collect::<Vec<_>>()
            .join(" ")
    );
    if let Some(p) = &peer {
        println!("PyTorch {}, torch.set_num_threads({threads})", p.version);
    }
    println!("\n| activation | size | fwd GB/s | fwd ×copy | fwd Gelem/s | fwd ×torch | bwd GB/s | bwd ×copy | bwd Gelem/s | bwd ×torch |");
    println!("|---|---|---|---|---|---|---|---|---|---|");
    for r in &rows {
        let (bytes, tf, tb, copy) = (r.bytes, r.fwd, r.bwd, r.copy);
        let n = (bytes / 4) as f64;
        let copy_bw = 2.0 * bytes as f64 / copy;
        let (fbw, bbw) = (2.0 * bytes as f64 / tf, 3.0 * bytes as f64 / tb);
        let (fe, be) = (n / tf, n / tb);
        let (pf, pb) = match r.peer {
            Some((pf, pb)) => (format!("{:.2}", fe / pf), format!("{:.2}", be / pb)),
            None => ("–".into(), "–".into()),
        };
        let size = if bytes >= 1 << 20 {
            format!("{} MiB", bytes >> 20)
        } else {
            format!("{} KiB", bytes >> 10)
        };
        let name = r.name;
        println!(
            "| {name} | {size} | {:.1} | {:.2} | {:.3} | {pf} | {:.1} | {:.2} | {:.3} | {pb} |",
            fbw / 1e9,
            fbw / copy_bw,
            fe / 1e9,
            bbw / 1e9,
            bbw / copy_bw,
            be / 1e9,
        );
    }
}

/// One thread, 256 KiB, thread CPU time for ours and the peer: the comparison that other
/// processes' load does not distort (`RELULAB_BENCH_CPU=1`).
fn cpu_time_table(x: &[f32], g: &[f32], y: &mut [f32], filter: Option<&str>, quick: bool) {
    let bytes = 256usize << 10;
    let n = bytes / 4;
    let (xs, gs) = (&x[..n], &g[..n]);
    let (reps, samples) = if quick { (20, 5) } else { (100, 9) };
    let copy = best_cpu_time(|| y[..n].copy_from_slice(black_box(xs)), reps * 10, samples);
    println!(
        "one thread, 256 KiB, thread CPU time; copy {:.2} GB/s",
        2.0 * bytes as f64 / copy / 1e9
    );
    let peer = peer(1, &[bytes], quick, true);
    println!("\n| activation | fwd Gelem/s | fwd ×torch | bwd Gelem/s | bwd ×torch |");
    println!("|---|---|---|---|---|");
    for &name in names() {
        if filter.is_some_and(|f| !name.contains(f)) {
            continue;
        }
        let act = Activation::by_name(name).unwrap();
        let tf = best_cpu_time(
            || kernels::forward_f32(Level::current(), Par::Seq, &act, black_box(xs), &mut y[..n]),
            reps,
            samples,
        );
        let tb = best_cpu_time(
            || {
                kernels::backward_f32(
                    Level::current(),
                    Par::Seq,
                    &act,
                    black_box(xs),
                    black_box(gs),
                    &mut y[..n],
                )
            },
            reps,
            samples,
        );
        let (fe, be) = (n as f64 / tf, n as f64 / tb);
        let (pf, pb) = match peer
            .as_ref()
            .and_then(|(_, m)| m.get(&(name.to_string(), bytes)))
        {
            Some(&(pf, pb)) => (format!("{:.2}", fe / pf), format!("{:.2}", be / pb)),
            None => ("–".into(), "–".into()),
        };
        println!(
            "| {name} | {:.3} | {pf} | {:.3} | {pb} |",
            fe / 1e9,
            be / 1e9
        );
    }
}

/// One thread against the pool, by size, for a cheap and a transcendental activation: where
/// splitting starts to pay (`RELULAB_BENCH_THRESHOLD=1`; sets `kernels::parallel_threshold`).
fn threshold_table(
    x: &[f32],
    g: &[f32],
    y: &mut [f32],
    threads: usize,
    target: Duration,
    samples: usize,
) {
    println!("\n| activation | elements | 1 thread µs | {threads} threads µs | speed-up |");
    println!("|---|---|---|---|---|");
    for name in ["relu", "gelu"] {
        let act = Activation::by_name(name).unwrap();
        for shift in 14..=21 {
            let n = 1usize << shift;
            let (xs, gs) = (&x[..n], &g[..n]);
            let run = |par: Par, y: &mut [f32]| {
                best_time(
                    || {
                        kernels::forward_f32(
                            Level::current(),
                            par,
                            &act,
                            black_box(xs),
                            &mut y[..n],
                        );
                        kernels::backward_f32(
                            Level::current(),
                            par,
                            &act,
                            black_box(xs),
                            black_box(gs),
                            &mut y[..n],
                        );
                    },
                    target,
                    samples,
                )
            };
            let t1 = run(Par::Seq, y);
            let tp = run(Par::Always, y);
            println!(
                "| {name} | {n} | {:.1} | {:.1} | {:.2} |",
                t1 * 1e6,
                tp * 1e6,
                t1 / tp
            );
        }
    }
}
