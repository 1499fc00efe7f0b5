//! Certified robustness on digits (issue 14): the README's table.
//!
//! ```text
//! cargo bench --bench certify                 # everything (≈ 10 min on 2 loaded cores)
//! cargo bench --bench certify -- --quick      # fewer samples and epochs
//! cargo bench --bench certify -- --time-limit 2 --robust-epochs 200
//! cargo bench --bench certify -- --crown-only    # the CROWN timing alone
//! cargo bench --bench certify -- --crown-only --crown-reps 3   # 3 passes over the samples
//! cargo bench --bench certify -- --standard-only # the standard net's table alone
//! cargo bench --bench certify -- --export DIR    # write the standard net and test split, stop
//! ```
//!
//! `--export DIR` writes what bench/peers/certify_milp.py (the exact MILP ground truth) reads:
//! the standard net's layers as `W{l}.npy` (out × in, f32) and `b{l}.npy`, the whole test split
//! as `x_test.npy` (n × 64, f64, data units in [0, 1]) and `y_test.npy` (labels as f64), and
//! the checkpoint `std.safetensors`.
//!
//! 1. Standard training of 64-256-256-10 on digits (pixels in [0, 1] as the model input
//!    scale 16, no standardisation, Adam 1e-3, 30 epochs), `certify` on the whole test split at
//!    ε ∈ {0.01, 0.02, 0.05, 0.1} (IBP → CROWN → PGD → α-CROWN → BaB, per-sample limit).
//!    The same training with coupled L2 weight decay λ = 0.1 (`--standard-wd λ`), certified
//!    the same way.
//! 2. IBP certified training at ε = 0.1 (Gowal et al. 2018 schedule), seconds per epoch, and
//!    `certify` at ε = 0.1.
//! 3. CROWN on one sample (hidden bounds + 9 margin rows), single thread: median time.
//!
//! The auto_LiRPA peer is a separate script, bench/peers/certify_autolirpa.py (README).

use relulab::certify::train::{run_robust, RobustConfig, RobustMethod};
use relulab::certify::{certify_all, Certifier, CertifyOptions, InputMap, Summary};
use relulab::data::Targets;
use relulab::train::{TrainSpec, Trainer};
use std::time::{Duration, Instant};

fn arg<T: std::str::FromStr>(name: &str, default: T) -> T {
    let a: Vec<String> = std::env::args().collect();
    a.iter()
        .position(|s| s == name)
        .and_then(|i| a.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// CPU time of the calling thread (seconds): less sensitive to other processes on a loaded
/// machine than wall time.
fn thread_cpu() -> f64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes one timespec through a valid pointer.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    ts.tv_sec as f64 + 1e-9 * ts.tv_nsec as f64
}

/// The standard net and the test split for the MILP peer (see the module docs).
fn export(
    dir: &std::path::Path,
    mlp: &relulab::net::Mlp<f32>,
    test: &relulab::data::Dataset,
    x: &[f64],
    labels: &[usize],
) -> relulab::Result<()> {
    use relulab::io::npy::write_npy;
    std::fs::create_dir_all(dir).map_err(|e| relulab::Error::io(dir, e))?;
    for (l, layer) in mlp.layers.iter().enumerate() {
        write_npy(
            &dir.join(format!("W{l}.npy")),
            &[layer.out_dim, layer.in_dim],
            &layer.weight,
        )?;
        let b = layer
            .bias
            .clone()
            .unwrap_or_else(|| vec![0.0; layer.out_dim]);
        write_npy(&dir.join(format!("b{l}.npy")), &[layer.out_dim], &b)?;
    }
    let n = labels.len();
    write_npy(&dir.join("x_test.npy"), &[n, test.d], x)?;
    let y: Vec<f64> = labels.iter().map(|&l| l as f64).collect();
    write_npy(&dir.join("y_test.npy"), &[n], &y)?;
    relulab::io::checkpoint::save_checkpoint(&dir.join("std.safetensors"), mlp)?;
    println!(
        "exported the standard net and {n} test samples to {}",
        dir.display()
    );
    Ok(())
}

fn print_table(title: &str, sums: &[Summary]) {
    println!("{title}");
    print!("{}", Summary::table(sums));
}

/// `certify_all` over the samples at every ε, printed as one table with its wall time.
fn certify_table(
    name: &str,
    c: &Certifier,
    x: &[f64],
    labels: &[usize],
    eps: &[f64],
    limit: f64,
) -> relulab::Result<()> {
    let t0 = Instant::now();
    let res = certify_all(c, x, labels, eps, &|| {})?;
    print_table(
        &format!(
            "{name}, {} test samples, limit {limit} s/sample (wall {:.1} s)",
            labels.len(),
            t0.elapsed().as_secs_f64()
        ),
        &Summary::per_eps(eps, &res),
    );
    Ok(())
}

fn main() -> relulab::Result<()> {
    let quick = std::env::args().any(|a| a == "--quick");
    let limit: f64 = arg("--time-limit", 1.0);
    let robust_epochs: usize = arg("--robust-epochs", if quick { 40 } else { 300 });
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    println!(
        "certify bench, load average {}",
        load.split_whitespace()
            .take(3)
            .collect::<Vec<_>>()
            .join(" ")
    );
    let spec = TrainSpec {
        dataset: Some("digits".into()),
        hidden: vec![256, 256],
        epochs: 30,
        standardize: false,
        ..Default::default()
    };
    let p = spec.prepare()?;
    let test = p.test.clone().expect("test split");
    let n = if quick { 60 } else { test.n };
    let x: Vec<f64> = test.x[..n * 64].iter().map(|&v| v as f64 / 16.0).collect();
    let Targets::Classes { labels, .. } = &test.targets else {
        unreachable!()
    };
    let labels: Vec<usize> = labels[..n].iter().map(|&l| l as usize).collect();
    let map = InputMap::new(64, 16.0, None)?;
    let opts = CertifyOptions {
        clamp: Some((0.0, 1.0)),
        time_limit: Duration::from_secs_f64(limit),
        ..Default::default()
    };
    let t0 = Instant::now();
    let mut standard = Trainer::new(p.mlp.clone(), p.config.clone());
    standard.run(&p.train, Some(&test), &mut [], |_, _| Ok(()))?;
    println!("standard training: {:.2} s", t0.elapsed().as_secs_f64());
    let dir: String = arg("--export", String::new());
    if !dir.is_empty() {
        return export(
            std::path::Path::new(&dir),
            &standard.mlp,
            &test,
            &x,
            &labels,
        );
    }
    let eps = [0.01, 0.02, 0.05, 0.1];
    let c = Certifier::new(&standard.mlp, map.clone(), opts.clone())?;
    let crown_only = std::env::args().any(|a| a == "--crown-only");
    // Passes over the 100 samples in the CROWN timing (more: steadier medians, profiling).
    let reps: usize = arg("--crown-reps", 1);
    if !crown_only {
        certify_table("standard 64-256-256-10", &c, &x, &labels, &eps, limit)?;
    }

    if !crown_only {
        // The same standard training with coupled L2 weight decay (Adam's `weight_decay`, as
        // PyTorch's `torch.optim.Adam(weight_decay=λ)`, biases included): the loss is still
        // plain cross-entropy, but the smaller weights leave far fewer units unstable over
        // the balls, so every ε is decided (README, "Standard training with weight decay").
        let wd: f64 = arg("--standard-wd", 0.1);
        let spec_wd = TrainSpec {
            weight_decay: wd,
            ..spec.clone()
        };
        let pw = spec_wd.prepare()?;
        let t0 = Instant::now();
        let mut tw = Trainer::new(pw.mlp.clone(), pw.config.clone());
        tw.run(&pw.train, Some(&test), &mut [], |_, _| Ok(()))?;
        println!(
            "standard training with weight decay {wd}: {:.2} s",
            t0.elapsed().as_secs_f64()
        );
        let cw = Certifier::new(&tw.mlp, map.clone(), opts.clone())?;
        certify_table(
            &format!("standard 64-256-256-10 + L2 weight decay {wd}"),
            &cw,
            &x,
            &labels,
            &eps,
            limit,
        )?;
    }
    if std::env::args().any(|a| a == "--standard-only") {
        return Ok(());
    }
    // CROWN on one sample, single thread.
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .expect("pool");
    let mut times = Vec::new();
    let mut cpu = Vec::new();
    pool.install(|| {
        for i in (0..n.min(100)).cycle().take(n.min(100) * reps) {
            let x0 = &x[i * 64..(i + 1) * 64];
            let (lo, hi) = c.data_box(x0, 0.01);
            let (ml, mh) = map.image_box(&lo, &hi);
            let t = Instant::now();
            let c0 = thread_cpu();
            // As `certify` does: hidden bounds as far as they settle each unit's sign, then
            // CROWN on the 9 margin rows.
            let inter = c.hidden_bounds(&ml, &mh);
            let others: Vec<usize> = (0..10).filter(|&j| j != labels[i]).collect();
            let r = c.crown_margins(&ml, &mh, &inter, labels[i], &others, 0);
            std::hint::black_box(r);
            times.push(t.elapsed().as_secs_f64());
            cpu.push(thread_cpu() - c0);
        }
    });
    times.sort_by(f64::total_cmp);
    cpu.sort_by(f64::total_cmp);
    println!(
        "CROWN, one sample (hidden bounds + 9 margin rows), eps 0.01, 1 thread: wall median {:.3} ms (max {:.3}), thread CPU median {:.3} ms (max {:.3}) over {}",
        1e3 * times[times.len() / 2],
        1e3 * times[times.len() - 1],
        1e3 * cpu[cpu.len() / 2],
        1e3 * cpu[cpu.len() - 1],
        times.len()
    );
    if crown_only {
        return Ok(());
    }

    // IBP certified training at eps = 0.1.
    // The README's run: `relulab train --dataset digits --hidden 256,256 --no-standardize
    // --robust ibp --eps 0.11 --kappa-end 0 --robust-warmup 3 --robust-ramp 100 --epochs 300
    // --optimizer adamw --weight-decay 0.2 --schedule cosine --init he_normal` (ε_train =
    // 1.1·ε as in Gowal et al. §4; κ ends at 0 as in Zhang et al. 2020). He normal is
    // `TrainSpec`'s default; `train --robust` without `--init` starts from `torch` instead.
    let cfg = RobustConfig {
        method: Some(RobustMethod::Ibp),
        eps: 0.11,
        map: map.clone(),
        clamp: Some((0.0, 1.0)),
        warmup_epochs: 3,
        ramp_epochs: robust_epochs / 3,
        kappa_end: 0.0,
        monitor: false,
        rs: None,
    };
    let rspec = TrainSpec {
        optimizer: "adamw".into(),
        weight_decay: 0.2,
        epochs: robust_epochs,
        schedule: relulab::net::Schedule::Cosine {
            t_max: robust_epochs,
            eta_min: 0.0,
        },
        ..spec.clone()
    };
    let rp = rspec.prepare()?;
    let mut robust = Trainer::new(rp.mlp, rp.config);
    let t0 = Instant::now();
    let m = run_robust(
        &mut robust,
        &p.train,
        Some(&test),
        None,
        &cfg,
        |_, _| Ok(()),
    )?;
    let per_epoch = m.iter().map(|e| e.seconds).sum::<f64>() / m.len().max(1) as f64;
    println!(
        "IBP training, eps 0.11 (certified at 0.1), {robust_epochs} epochs: {:.1} s, {:.3} s per epoch",
        t0.elapsed().as_secs_f64(),
        per_epoch
    );
    let c = Certifier::new(&robust.mlp, map, opts)?;
    let t0 = Instant::now();
    let res = certify_all(&c, &x, &labels, &eps, &|| {})?;
    let sums = Summary::per_eps(&eps, &res);
    print_table(
        &format!(
            "IBP-trained (eps 0.1) 64-256-256-10, {n} test samples (wall {:.1} s)",
            t0.elapsed().as_secs_f64()
        ),
        &sums,
    );
    Ok(())
}
