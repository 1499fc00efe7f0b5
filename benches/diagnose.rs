//! Diagnostics overhead: a 784-1024-1024-1024-10 ReLU net over 10,000 samples (batches of
//! 1,000), one forward pass versus the same forward pass plus the streaming health statistics
//! (sparsity, dead and dormant units, pre-activation statistics). Target: ≤ forward + 20%.
//!
//! `cargo bench --bench diagnose`

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use relulab::diagnose::{HealthAccumulator, HealthConfig};
use relulab::net::{BiasInit, Init, Trace, Workspace};
use relulab::{Activation, Mlp};
use std::time::Instant;

fn main() {
    println!(
        "load average before: {}",
        std::fs::read_to_string("/proc/loadavg")
            .unwrap_or_default()
            .trim()
    );
    let mut rng = ChaCha8Rng::seed_from_u64(0);
    let mut mlp = Mlp::<f32>::zeros(
        &[784, 1024, 1024, 1024, 10],
        Activation::RELU,
        Activation::Identity,
        true,
    );
    mlp.init(Init::HeNormal, BiasInit::Zero, &mut rng);
    let (n, batch) = (10_000usize, 1_000usize);
    let x: Vec<f32> = (0..n * 784).map(|_| rng.random::<f32>()).collect();
    let threads = rayon::current_num_threads();
    let mut ws = Workspace::new(threads);
    let mut trace = Trace::default();
    let forward = |trace: &mut Trace<f32>, ws: &mut Workspace<f32>, b: usize| {
        trace.batch = batch;
        trace.input.clear();
        trace
            .input
            .extend_from_slice(&x[b * batch * 784..(b + 1) * batch * 784]);
        mlp.forward_ws(trace, ws, 0.0);
    };
    let reps = 5;
    let (mut t_fwd, mut t_diag, mut t_stats) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..reps {
        let t = Instant::now();
        for b in 0..n / batch {
            forward(&mut trace, &mut ws, b);
        }
        t_fwd.push(t.elapsed().as_secs_f64());
        let t = Instant::now();
        let mut acc = HealthAccumulator::new(&mlp, HealthConfig::default());
        let mut stats = 0.0;
        for b in 0..n / batch {
            forward(&mut trace, &mut ws, b);
            let s = Instant::now();
            acc.observe::<f32>(&trace, None);
            stats += s.elapsed().as_secs_f64();
        }
        let h = acc.finish();
        t_diag.push(t.elapsed().as_secs_f64());
        t_stats.push(stats);
        assert_eq!(h[0].samples, n as u64);
    }
    let med = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let (f, d, s) = (med(&mut t_fwd), med(&mut t_diag), med(&mut t_stats));
    println!("threads {threads}; medians of {reps}:");
    println!("forward only            {f:.4} s");
    println!(
        "forward + diagnostics   {d:.4} s  ({:.3}× forward; target ≤ 1.2×)",
        d / f
    );
    println!(
        "statistics alone        {s:.4} s  ({:.1}% of forward)",
        100.0 * s / f
    );
    println!(
        "load average after: {}",
        std::fs::read_to_string("/proc/loadavg")
            .unwrap_or_default()
            .trim()
    );
}
