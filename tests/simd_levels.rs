//! Every SIMD level, every public kernel: the checked [`Level`] token is the only way to pick a
//! compiled version, and every level this CPU has gives the results ARCHITECTURE.md ("Same
//! bits") promises.
//!
//! * Every public kernel that takes a level is called with every level the API hands out
//!   ([`Level::new`] for each [`Isa`], [`Level::supported`], [`Level::capped`],
//!   [`Level::current`], [`Level::best`]) and checked against an f64 reference.
//! * The same bits at every level and thread count: the small dense products, the fused
//!   activation passes (piecewise-linear members; smooth members across the FMA levels),
//!   `Optimizer::step_at`, the diagnose blocks and the region engine's partitions at the FMA
//!   levels. The portable level of the region engine rounds its map products twice where the
//!   FMA levels round once: it is held to the documented tolerance instead
//!   (src/regions/tests.rs checks the product itself against its error bound).
//! * Levels this CPU lacks are reported (a failure under `CI=true` unless waived in
//!   `RELULAB_ALLOW_SKIP`), never silently passed.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use relulab::activation::kernels::{self as act, Par};
use relulab::activation::simd::{self, Map1, Map2, GELU_AVX512, GELU_PRIME_AVX512};
use relulab::diagnose::{HealthAccumulator, HealthConfig};
use relulab::net::kernels::{dense_backward_input, dense_backward_params, dense_forward};
use relulab::net::{BiasInit, Grads, Init, OptimKind, Optimizer, OptimizerConfig, Trace};
use relulab::net::{Schedule, Workspace};
use relulab::regions::{partition, GeoNet, Partition, PlaneOptions, Slice};
use relulab::simd::{Isa, Level};
use relulab::{Activation, Mlp, Real};

mod common;

/// Every level the API can hand out, deduplicated, lowest first; each must be supported.
fn all_obtainable_levels() -> Vec<Level> {
    let mut v: Vec<Level> = Isa::ALL.iter().filter_map(|&i| Level::new(i)).collect();
    v.extend(Level::supported());
    v.extend(Isa::ALL.iter().map(|&i| Level::capped(Some(i))));
    v.extend([
        Level::current(),
        Level::best(),
        Level::capped(None),
        Level::PORTABLE,
    ]);
    v.sort();
    v.dedup();
    for l in &v {
        assert!(l.isa().is_supported(), "{l} handed out on a CPU without it");
    }
    v
}

fn rand_vec<T: Real>(n: usize, seed: u64) -> Vec<T> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    (0..n)
        .map(|_| T::of_f64(rng.random_range(-2.0..2.0)))
        .collect()
}

fn same_bits<T: Real>(a: &[T], b: &[T]) -> bool {
    a.len() == b.len()
        && a.iter()
            .zip(b)
            .all(|(x, y)| x.as_f64().to_bits() == y.as_f64().to_bits())
}

#[test]
fn levels_are_exactly_the_supported_ones() {
    common::report_missing_levels("levels_are_exactly_the_supported_ones");
    for isa in Isa::ALL {
        assert_eq!(Level::new(isa).is_some(), isa.is_supported(), "{isa}");
    }
    assert_eq!(all_obtainable_levels(), Level::supported());
    match std::env::var("RELULAB_SIMD")
        .ok()
        .and_then(|v| Isa::parse(&v))
    {
        Some(cap) => assert_eq!(Level::current(), Level::capped(Some(cap))),
        None => assert_eq!(Level::current(), Level::best()),
    }
}

/// z = a·Wᵀ + b + shift in f64, the reference for the dense kernels.
fn dense_ref(batch: usize, i: usize, o: usize, a: &[f64], w: &[f64], b: &[f64]) -> Vec<f64> {
    let mut z = vec![0.0; batch * o];
    for s in 0..batch {
        for j in 0..o {
            z[s * o + j] = b[j] + (0..i).map(|k| a[s * i + k] * w[j * i + k]).sum::<f64>();
        }
    }
    z
}

fn assert_near(what: &str, got: &[f64], want: &[f64], scale: f64, tol: f64) {
    for (k, (g, w)) in got.iter().zip(want).enumerate() {
        assert!(
            (g - w).abs() <= tol * scale,
            "{what}[{k}]: {g} vs reference {w}"
        );
    }
}

/// The three dense kernels at every level, small and large paths, f32 and f64: against the
/// f64 reference (Higham's γ_k bound scale: k·u·Σ|terms| ≤ k·u·4·k here), and the small path
/// the same bits at every level.
fn dense_kernels_at_every_level<T: Real>(u: f64) {
    let levels = all_obtainable_levels();
    for &(batch, i, o) in &[
        (3, 5, 17),
        (7, 16, 15),
        (2, 33, 16),
        (5, 1, 1),
        (64, 40, 48),
    ] {
        let a: Vec<T> = rand_vec(batch * i, 1);
        let w: Vec<T> = rand_vec(o * i, 2);
        let b: Vec<T> = rand_vec(o, 3);
        let gz: Vec<T> = rand_vec(batch * o, 4);
        let f = |v: &[T]| v.iter().map(|x| x.as_f64()).collect::<Vec<f64>>();
        let (a64, w64, b64, gz64) = (f(&a), f(&w), f(&b), f(&gz));
        let z_ref = dense_ref(batch, i, o, &a64, &w64, &b64);
        // ∂W = gzᵀ·a, ∂b = Σ gz, ∂a = gz·W.
        let mut gw_ref = vec![0.0; o * i];
        let mut gb_ref = vec![0.0; o];
        let mut gi_ref = vec![0.0; batch * i];
        for s in 0..batch {
            for j in 0..o {
                gb_ref[j] += gz64[s * o + j];
                for k in 0..i {
                    gw_ref[j * i + k] += gz64[s * o + j] * a64[s * i + k];
                    gi_ref[s * i + k] += gz64[s * o + j] * w64[j * i + k];
                }
            }
        }
        let tol = 4.0 * (i.max(o).max(batch) as f64 + 2.0) * u * 4.0;
        let mut first: Option<[Vec<T>; 4]> = None;
        for &level in &levels {
            for small_max in [usize::MAX, 0] {
                let mut z = vec![T::zero(); batch * o];
                let mut wt = Vec::new();
                dense_forward(
                    level,
                    batch,
                    i,
                    o,
                    &a,
                    &w,
                    Some(&b),
                    T::zero(),
                    &mut z,
                    &mut wt,
                    1,
                    small_max,
                );
                let mut gw = vec![T::zero(); o * i];
                let mut gb = vec![T::zero(); o];
                dense_backward_params(level, batch, i, o, &a, &gz, &mut gw, &mut gb, 1, small_max);
                let mut gi = vec![T::zero(); batch * i];
                dense_backward_input(level, batch, i, o, &gz, &w, &mut gi, 1, small_max);
                let what = format!(
                    "{} {batch}x{i}x{o} at {level}, small_max {small_max}",
                    T::DTYPE
                );
                assert_near(&format!("{what}: z"), &f(&z), &z_ref, 1.0, tol);
                assert_near(&format!("{what}: gw"), &f(&gw), &gw_ref, 1.0, tol);
                assert_near(&format!("{what}: gb"), &f(&gb), &gb_ref, 1.0, tol);
                assert_near(&format!("{what}: gi"), &f(&gi), &gi_ref, 1.0, tol);
                if small_max == usize::MAX {
                    match &first {
                        None => first = Some([z, gw, gb, gi]),
                        Some([z0, gw0, gb0, gi0]) => assert!(
                            same_bits(z0, &z)
                                && same_bits(gw0, &gw)
                                && same_bits(gb0, &gb)
                                && same_bits(gi0, &gi),
                            "{what}: small products differ from {}",
                            levels[0]
                        ),
                    }
                }
            }
        }
    }
}

#[test]
fn dense_kernels_f32_every_level() {
    dense_kernels_at_every_level::<f32>(f32::EPSILON as f64 / 2.0);
}

#[test]
fn dense_kernels_f64_every_level() {
    dense_kernels_at_every_level::<f64>(f64::EPSILON / 2.0);
}

/// The large products split rows across threads without splitting a sum: the same bits for
/// 1, 2 and 3 threads.
#[test]
fn large_dense_products_same_bits_for_any_thread_count() {
    let (batch, i, o) = (96, 160, 192); // 2.9M multiply-adds: threaded when allowed
    let a: Vec<f32> = rand_vec(batch * i, 5);
    let w: Vec<f32> = rand_vec(o * i, 6);
    let gz: Vec<f32> = rand_vec(batch * o, 7);
    let run = |threads: usize| {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap();
        pool.install(|| {
            let level = Level::current();
            let mut z = vec![0f32; batch * o];
            dense_forward(
                level,
                batch,
                i,
                o,
                &a,
                &w,
                None,
                0.5,
                &mut z,
                &mut Vec::new(),
                threads,
                0,
            );
            let mut gw = vec![0f32; o * i];
            dense_backward_params(level, batch, i, o, &a, &gz, &mut gw, &mut [], threads, 0);
            let mut gi = vec![0f32; batch * i];
            dense_backward_input(level, batch, i, o, &gz, &w, &mut gi, threads, 0);
            (z, gw, gi)
        })
    };
    let one = run(1);
    for t in [2, 3] {
        let r = run(t);
        assert!(
            same_bits(&one.0, &r.0) && same_bits(&one.1, &r.1) && same_bits(&one.2, &r.2),
            "{t} threads differ from 1"
        );
    }
}

/// A user-defined map (the traits are public): y = 2x + 1, g·(x − 1). Exact in f32 for the
/// inputs used, so every level must return the same bits.
#[derive(Clone, Copy)]
struct Affine;
impl Map1 for Affine {
    fn apply<const F: bool>(&self, x: f32) -> f32 {
        2.0 * x + 1.0
    }
}
impl Map2 for Affine {
    fn apply<const F: bool>(&self, x: f32, g: f32) -> f32 {
        g * (x - 1.0)
    }
}

/// A user-defined map that borrows relulab's hand-written AVX-512 GELU kernels (possible from
/// safe code: the constants are public); they run only at a level proving AVX-512F.
#[derive(Clone, Copy)]
struct BorrowedGelu;
impl Map1 for BorrowedGelu {
    fn apply<const F: bool>(&self, x: f32) -> f32 {
        Activation::Gelu.f(x as f64) as f32
    }
    const AVX512: Option<simd::Slice1> = GELU_AVX512;
}
impl Map2 for BorrowedGelu {
    fn apply<const F: bool>(&self, x: f32, g: f32) -> f32 {
        (g as f64 * Activation::Gelu.df(x as f64)) as f32
    }
    const AVX512: Option<simd::Slice2> = GELU_PRIME_AVX512;
}

#[test]
fn slice_kernels_every_level() {
    let n = 1000 + 37;
    let x: Vec<f32> = (0..n).map(|k| (k as f32 - 500.0) / 64.0).collect();
    let g: Vec<f32> = (0..n).map(|k| 0.5 + (k % 7) as f32 / 8.0).collect();
    for level in all_obtainable_levels() {
        let want1: Vec<f32> = x.iter().map(|&v| 2.0 * v + 1.0).collect();
        let want2: Vec<f32> = x.iter().zip(&g).map(|(&v, &w)| w * (v - 1.0)).collect();
        let mut y = vec![0f32; n];
        simd::map1(level, Affine, &x, &mut y);
        assert!(same_bits(&y, &want1), "map1 at {level}");
        let mut y = vec![0f32; n];
        simd::map1_streamed(level, Affine, &x, &mut y);
        assert!(same_bits(&y, &want1), "map1_streamed at {level}");
        let mut y = x.clone();
        simd::map1_inplace(level, Affine, &mut y);
        assert!(same_bits(&y, &want1), "map1_inplace at {level}");
        let mut o = vec![0f32; n];
        simd::map2(level, Affine, &x, &g, &mut o);
        assert!(same_bits(&o, &want2), "map2 at {level}");
        let mut o = vec![0f32; n];
        simd::map2_streamed(level, Affine, &x, &g, &mut o);
        assert!(same_bits(&o, &want2), "map2_streamed at {level}");
        let mut o = g.clone();
        simd::map2_inplace(level, Affine, &x, &mut o);
        assert!(same_bits(&o, &want2), "map2_inplace at {level}");
        // GELU through the borrowed kernels: within the documented max(1e-6, 2 ulp).
        let near = |got: &[f32], f: &dyn Fn(usize) -> f64, what: &str| {
            for (k, &v) in got.iter().enumerate() {
                let r = f(k);
                let tol = 1e-6f64.max(2.0 * f32::EPSILON as f64 * r.abs());
                assert!(
                    (v as f64 - r).abs() <= tol,
                    "{what} at {level}: x = {}",
                    x[k]
                );
            }
        };
        let gelu = |k: usize| Activation::Gelu.f(x[k] as f64);
        let dgelu = |k: usize| g[k] as f64 * Activation::Gelu.df(x[k] as f64);
        let mut y = vec![0f32; n];
        simd::map1(level, BorrowedGelu, &x, &mut y);
        near(&y, &gelu, "borrowed GELU map1");
        simd::map1_streamed(level, BorrowedGelu, &x, &mut y);
        near(&y, &gelu, "borrowed GELU map1_streamed");
        let mut y = x.clone();
        simd::map1_inplace(level, BorrowedGelu, &mut y);
        near(&y, &gelu, "borrowed GELU map1_inplace");
        let mut o = vec![0f32; n];
        simd::map2(level, BorrowedGelu, &x, &g, &mut o);
        near(&o, &dgelu, "borrowed GELU map2");
        simd::map2_streamed(level, BorrowedGelu, &x, &g, &mut o);
        near(&o, &dgelu, "borrowed GELU map2_streamed");
        let mut o = g.clone();
        simd::map2_inplace(level, BorrowedGelu, &x, &mut o);
        near(&o, &dgelu, "borrowed GELU map2_inplace");
        // The activation slice kernels, every member.
        for name in relulab::activation::ACTIVATION_NAMES {
            let a = Activation::by_name(name).unwrap();
            let mut y = vec![0f32; n];
            act::forward_f32(level, Par::Seq, &a, &x, &mut y);
            let mut y2 = x.clone();
            act::forward_inplace_f32(level, Par::Seq, &a, &mut y2);
            let mut d = vec![0f32; n];
            act::backward_f32(level, Par::Seq, &a, &x, &g, &mut d);
            let mut d2 = g.clone();
            act::backward_inplace_f32(level, Par::Seq, &a, &x, &mut d2);
            assert!(
                same_bits(&y, &y2) && same_bits(&d, &d2),
                "{name} at {level}"
            );
            for k in 0..n {
                let (r, rd) = (a.f(x[k] as f64), g[k] as f64 * a.df(x[k] as f64));
                assert!(
                    (y[k] as f64 - r).abs() <= 1e-5 * (1.0 + r.abs()),
                    "{name} at {level}"
                );
                assert!(
                    (d[k] as f64 - rd).abs() <= 1e-5 * (1.0 + rd.abs()),
                    "{name}' at {level}"
                );
            }
        }
    }
}

fn net(widths: &[usize], act: Activation, seed: u64) -> Mlp<f32> {
    let mut m = Mlp::<f32>::zeros(widths, act, Activation::Identity, true);
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    m.init(Init::HeNormal, BiasInit::Normal { std: 0.3 }, &mut rng);
    if let Activation::Prelu { .. } = act {
        let n = m.layers[0].out_dim;
        m.layers[0].prelu_alpha = (0..n).map(|j| 0.1 + 0.02 * j as f32).collect();
    }
    m
}

/// Forward and backward of one batch with the workspace at `level` and `threads`.
fn pass(m: &Mlp<f32>, x: &[f32], batch: usize, level: Level, threads: usize) -> Vec<Vec<f32>> {
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .unwrap();
    pool.install(|| {
        let mut ws = Workspace::new(threads).with_level(level);
        assert_eq!(ws.level(), level);
        let mut tr = Trace {
            batch,
            input: x.to_vec(),
            ..Default::default()
        };
        m.forward_ws(&mut tr, &mut ws, 0.0);
        let gout: Vec<f32> = rand_vec(batch * m.output_dim(), 9);
        let mut g = Grads::default();
        m.backward_ws(&tr, &gout, &mut g, &mut ws, true);
        let mut out = tr.pre.clone();
        out.extend(tr.post.clone());
        out.extend(g.weight.clone());
        out.extend(g.bias.clone());
        out.extend(g.prelu_alpha.clone());
        out.push(g.input.clone());
        out
    })
}

/// The fused activation passes (and the products around them) give the same bits at every
/// level and thread count for the piecewise-linear members; the smooth members agree bit for
/// bit across the FMA levels (except GELU-erf, whose AVX-512 kernels are their own) and within
/// the kernels' tolerance at the portable level.
#[test]
fn passes_same_bits_across_levels_and_threads() {
    common::report_missing_levels("passes_same_bits_across_levels_and_threads");
    let levels = Level::supported();
    for name in relulab::activation::ACTIVATION_NAMES {
        let act = Activation::by_name(name).unwrap();
        // Small (register-blocked loops) and large (faer, threaded) products.
        for (widths, batch) in [
            (&[5usize, 17, 16, 3][..], 33usize),
            (&[64, 256, 256, 10][..], 160),
        ] {
            let m = net(widths, act, 11);
            let x: Vec<f32> = rand_vec(batch * widths[0], 12);
            let base = pass(&m, &x, batch, Level::PORTABLE, 1);
            let fma_base = levels
                .iter()
                .find(|l| l.has_fma())
                .map(|&l| pass(&m, &x, batch, l, 1));
            if let Some(fb) = &fma_base {
                if !act.is_piecewise_linear() {
                    close_buffers(&format!("{name} {widths:?}, FMA vs portable"), fb, &base);
                }
            }
            for &level in &levels {
                for threads in [1, 3] {
                    let r = pass(&m, &x, batch, level, threads);
                    let what = format!("{name} {widths:?} at {level}, {threads} threads");
                    let gelu512 = act == Activation::Gelu && level.isa() == Isa::Avx512;
                    if gelu512 && !act.is_piecewise_linear() {
                        close_buffers(&what, &r, &base);
                        continue;
                    }
                    // Exact members match the portable level; smooth ones the level of the
                    // same arithmetic (FMA or not).
                    let reference = if act.is_piecewise_linear()
                        || level.has_fma() == Level::PORTABLE.has_fma()
                    {
                        &base
                    } else {
                        fma_base.as_ref().unwrap()
                    };
                    for (k, (a, b)) in r.iter().zip(reference).enumerate() {
                        assert!(same_bits(a, b), "{what}: buffer {k} differs");
                    }
                }
            }
        }
    }
}

/// Buffers equal within 1e-4 of each buffer's largest magnitude (the smooth kernels' FMA and
/// non-FMA builds round differently; each is within max(1e-6, 2 ulp) of the f64 reference per
/// element, tests/activation_kernels.rs).
fn close_buffers(what: &str, got: &[Vec<f32>], want: &[Vec<f32>]) {
    assert_eq!(got.len(), want.len());
    for (k, (a, b)) in got.iter().zip(want).enumerate() {
        let scale = b.iter().fold(1f32, |s, v| s.max(v.abs())) as f64;
        assert_near(
            &format!("{what}: buffer {k}"),
            &a.iter().map(|&v| v as f64).collect::<Vec<_>>(),
            &b.iter().map(|&v| v as f64).collect::<Vec<_>>(),
            scale,
            1e-4,
        );
    }
}

/// `Optimizer::step_at` gives the same bits at every level (SGD plain, momentum, Nesterov
/// with decay; Adam; AdamW), over three steps.
#[test]
fn optimizer_update_same_bits_at_every_level() {
    let kinds = [
        (OptimKind::sgd(0.0), 0.0),
        (OptimKind::sgd(0.9), 0.0),
        (
            OptimKind::Sgd {
                momentum: 0.9,
                dampening: 0.1,
                nesterov: true,
            },
            1e-2,
        ),
        (OptimKind::ADAM, 1e-2),
        (
            OptimKind::AdamW {
                beta1: 0.9,
                beta2: 0.999,
                eps: 1e-8,
            },
            1e-2,
        ),
    ];
    for (kind, wd) in kinds {
        let run = |level: Level| {
            let mut m = net(&[7, 37, 19, 3], Activation::Prelu { alpha: 0.25 }, 3);
            let mut opt = Optimizer::<f32>::new(OptimizerConfig {
                kind,
                lr: 0.01,
                weight_decay: wd,
                decay_weights_only: false,
                clip_norm: None,
                schedule: Schedule::Constant,
                warmup_steps: 0,
            });
            for step in 0..3u64 {
                let mut g = Grads::default();
                let mut tr = Trace {
                    batch: 4,
                    input: rand_vec(4 * 7, 20 + step),
                    ..Default::default()
                };
                let mut ws = Workspace::new(1);
                m.forward_ws(&mut tr, &mut ws, 0.0);
                m.backward_ws(&tr, &rand_vec(4 * 3, 30 + step), &mut g, &mut ws, false);
                opt.step_at(level, &mut m, &g, 0.01);
            }
            let mut v: Vec<Vec<f32>> = Vec::new();
            for (l, st) in m.layers.iter().zip(&opt.state) {
                v.push(l.weight.clone());
                v.push(l.bias.clone().unwrap_or_default());
                v.push(l.prelu_alpha.clone());
                for p in [&st.weight, &st.bias, &st.prelu_alpha] {
                    v.push(p.m.clone());
                    v.push(p.v.clone());
                }
            }
            v
        };
        let base = run(Level::PORTABLE);
        for level in Level::supported() {
            let r = run(level);
            for (k, (a, b)) in r.iter().zip(&base).enumerate() {
                assert!(same_bits(a, b), "{kind:?} at {level}: tensor {k} differs");
            }
        }
    }
}

/// The diagnose blocks: the same report at every level and thread count.
#[test]
fn diagnose_same_bits_across_levels_and_threads() {
    let m = net(&[6, 300, 200, 4], Activation::RELU, 5);
    let batch = 700; // 700·300 elements: the parallel path
    let x: Vec<f32> = rand_vec(batch * 6, 8);
    let mut tr = Trace {
        batch,
        input: x,
        ..Default::default()
    };
    m.forward_ws(&mut tr, &mut Workspace::new(1), 0.0);
    let run = |level: Level, threads: usize| {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap();
        pool.install(|| {
            let mut acc = HealthAccumulator::new(&m, HealthConfig::default());
            acc.observe_at(level, &tr, None);
            acc.observe_at(level, &tr, None);
            acc.finish()
        })
    };
    let base = run(Level::PORTABLE, 1);
    assert!(base[0].samples == 2 * batch as u64 && base[0].sparsity > 0.0);
    for level in Level::supported() {
        for threads in [1, 2, 3] {
            let r = run(level, threads);
            // Compared through their JSON (every f64 printed exactly, round-trip).
            assert_eq!(
                serde_json::to_string(&r).unwrap(),
                serde_json::to_string(&base).unwrap(),
                "at {level}, {threads} threads"
            );
        }
    }
}

fn partition_at(net: &GeoNet, level: Level, threads: usize) -> Partition {
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .unwrap();
    pool.install(|| {
        let opts = PlaneOptions {
            simd: Some(level),
            ..Default::default()
        };
        partition(net, &Slice::plane([-2.0, 2.0, -2.0, 2.0]), opts).unwrap()
    })
}

fn cells(p: &Partition) -> Vec<(Vec<u64>, Vec<u64>, Vec<u64>)> {
    (0..p.len())
        .map(|i| {
            (
                p.pattern(i).to_vec(),
                p.polygon(i)
                    .iter()
                    .flat_map(|v| [v[0].to_bits(), v[1].to_bits()])
                    .collect(),
                p.output_maps(i).iter().map(|v| v.to_bits()).collect(),
            )
        })
        .collect()
}

/// The region engine: the same cells, bit for bit, for every thread count at one level and
/// across the FMA levels; the portable level (products rounded twice) finds the same
/// activation regions with output maps within the documented relative 1e-12.
#[test]
fn regions_same_bits_across_fma_levels_and_threads() {
    common::report_missing_levels("regions_same_bits_across_fma_levels_and_threads");
    let m = net(&[2, 24, 24, 24, 2], Activation::RELU, 21).cast::<f64>();
    let g = GeoNet::new(&m).unwrap();
    let base = partition_at(&g, Level::PORTABLE, 1);
    assert!(base.len() > 100, "{} cells", base.len());
    let mut fma_base: Option<Vec<_>> = None;
    for level in Level::supported() {
        let one = cells(&partition_at(&g, level, 1));
        for threads in [2, 3] {
            assert!(
                one == cells(&partition_at(&g, level, threads)),
                "{level}: {threads} threads differ from 1"
            );
        }
        if level.has_fma() {
            match &fma_base {
                None => fma_base = Some(one),
                Some(b) => assert!(b == &one, "{level} differs from the first FMA level"),
            }
        }
    }
    if let Some(fb) = fma_base {
        if !Level::PORTABLE.has_fma() {
            assert_eq!(fb.len(), base.len(), "cell count, portable vs FMA");
            for (i, c) in fb.iter().enumerate() {
                assert_eq!(c.0, base.pattern(i), "cell {i}: pattern, portable vs FMA");
                for (k, &bits) in c.2.iter().enumerate() {
                    let (a, b) = (f64::from_bits(bits), base.output_maps(i)[k]);
                    assert!(
                        (a - b).abs() <= 1e-12 * (1.0 + b.abs()),
                        "cell {i} map {k}: FMA {a} vs portable {b}"
                    );
                }
            }
        }
    }
}
