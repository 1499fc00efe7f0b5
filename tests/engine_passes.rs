//! The fast batched passes against the reference loops, and gradients against central finite
//! differences in f64 (relative 1e-6).

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use relulab::activation::ACTIVATION_NAMES;
use relulab::net::{BiasInit, Grads, Init, Loss, TargetSlice, Trace, Workspace};
use relulab::{Activation, Mlp, Real};

fn net<T: Real>(widths: &[usize], act: Activation, bias: bool, seed: u64) -> Mlp<T> {
    let mut m = Mlp::<T>::zeros(widths, act, Activation::Identity, bias);
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    m.init(Init::HeNormal, BiasInit::Normal { std: 0.3 }, &mut rng);
    if matches!(act, Activation::Prelu { .. }) && m.layers.len() > 1 {
        // One slope per unit on the first layer, shared on the others.
        let n = m.layers[0].out_dim;
        m.layers[0].prelu_alpha = (0..n).map(|j| T::of_f64(0.1 + 0.02 * j as f64)).collect();
    }
    m.validate().expect("valid test network");
    m
}

fn inputs<T: Real>(n: usize, seed: u64) -> Vec<T> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    (0..n)
        .map(|_| T::of_f64(rng.random_range(-2.0..2.0)))
        .collect()
}

fn close(a: f64, b: f64, rel: f64, abs: f64) -> bool {
    (a - b).abs() <= abs + rel * a.abs().max(b.abs())
}

fn assert_close_vec<T: Real>(what: &str, a: &[T], b: &[T], rel: f64, abs: f64) {
    assert_eq!(a.len(), b.len(), "{what}: length");
    for (k, (x, y)) in a.iter().zip(b).enumerate() {
        assert!(
            close(x.as_f64(), y.as_f64(), rel, abs),
            "{what}[{k}]: fast {x} vs reference {y}"
        );
    }
}

fn compare_with_reference<T: Real>(widths: &[usize], batch: usize, rel: f64, abs: f64) {
    for name in ACTIVATION_NAMES {
        let act = Activation::by_name(name).unwrap();
        for bias in [true, false] {
            let mlp: Mlp<T> = net(widths, act, bias, 3);
            let x: Vec<T> = inputs(batch * widths[0], 4);
            let (mut tf, mut tr) = (Trace::default(), Trace::default());
            mlp.forward_batch(&x, batch, &mut tf);
            mlp.forward_batch_reference(&x, batch, &mut tr);
            for l in 0..mlp.layers.len() {
                assert_close_vec(&format!("{name} z{l}"), &tf.pre[l], &tr.pre[l], rel, abs);
                assert_close_vec(&format!("{name} a{l}"), &tf.post[l], &tr.post[l], rel, abs);
            }
            let go: Vec<T> = inputs(batch * mlp.output_dim(), 5);
            let (mut gf, mut gr) = (Grads::default(), Grads::default());
            mlp.backward_batch(&tf, &go, &mut gf);
            mlp.backward_batch_reference(&tr, &go, &mut gr);
            for l in 0..mlp.layers.len() {
                assert_close_vec(
                    &format!("{name} dW{l}"),
                    &gf.weight[l],
                    &gr.weight[l],
                    rel,
                    abs,
                );
                assert_close_vec(&format!("{name} db{l}"), &gf.bias[l], &gr.bias[l], rel, abs);
                assert_close_vec(&format!("{name} dz{l}"), &gf.pre[l], &gr.pre[l], rel, abs);
                assert_close_vec(
                    &format!("{name} dα{l}"),
                    &gf.prelu_alpha[l],
                    &gr.prelu_alpha[l],
                    rel,
                    abs,
                );
            }
            assert_close_vec(&format!("{name} dx"), &gf.input, &gr.input, rel, abs);
        }
    }
}

#[test]
fn small_path_matches_reference_f64() {
    compare_with_reference::<f64>(&[2, 16, 15, 17, 1], 7, 1e-12, 1e-12);
    compare_with_reference::<f64>(&[5, 3, 1, 4, 3], 1, 1e-12, 1e-12);
    compare_with_reference::<f64>(&[4, 3], 9, 1e-12, 1e-12);
}

#[test]
fn small_path_matches_reference_f32() {
    compare_with_reference::<f32>(&[2, 16, 16, 16, 1], 32, 1e-4, 1e-5);
}

#[test]
fn gemm_path_matches_reference() {
    // 33·40·129 and 33·129·65 exceed kernels::SMALL_MAX: these layers go through gemm.
    const { assert!(33 * 40 * 129 >= relulab::net::kernels::SMALL_MAX) };
    compare_with_reference::<f64>(&[40, 129, 65, 3], 33, 1e-11, 1e-11);
    compare_with_reference::<f32>(&[40, 129, 65, 3], 33, 1e-4, 1e-4);
}

#[test]
fn threaded_gemm_gives_the_same_bits_every_run_and_as_one_thread() {
    // A mid-size net, and the benchmark's large layer shapes (784 → 1024 → 1024, batch 256),
    // where the matmul library's threading splits the largest products.
    threaded_same_bits(&[200, 300, 300, 10], 64);
    threaded_same_bits(&[784, 1024, 1024, 10], 256);
    // Row counts that do not split evenly (77 samples; 517 units).
    threaded_same_bits(&[300, 517, 300, 10], 77);
}

fn threaded_same_bits(widths: &[usize], batch: usize) {
    let mlp: Mlp<f32> = net(widths, Activation::RELU, true, 9);
    let (d_in, d_out) = (widths[0], *widths.last().unwrap());
    let x: Vec<f32> = inputs(batch * d_in, 1);
    let go: Vec<f32> = inputs(batch * d_out, 2);
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(2)
        .build()
        .unwrap();
    let run = |threads: usize| {
        let mut ws = Workspace::new(threads);
        let mut t = Trace {
            batch,
            input: x.clone(),
            ..Default::default()
        };
        let mut g = Grads::default();
        mlp.forward_ws(&mut t, &mut ws, 0.0);
        mlp.backward_ws(&t, &go, &mut g, &mut ws, true);
        (t.output().to_vec(), g.weight.clone())
    };
    let a = pool.install(|| run(2));
    let b = pool.install(|| run(2));
    assert_eq!(a, b, "two threaded runs differ");
    let one = run(1);
    assert_eq!(a, one, "threaded and single-threaded products differ");
}

/// Mean loss of `mlp` on (x, targets), f64.
fn loss_of(mlp: &Mlp<f64>, x: &[f64], batch: usize, loss: Loss, t: TargetSlice<'_>) -> f64 {
    let mut tr = Trace::default();
    mlp.forward_batch_reference(x, batch, &mut tr);
    loss.eval(tr.output(), batch, mlp.output_dim(), t, None)
        .unwrap()
        .loss
        / batch as f64
}

fn fd_check(mut mlp: Mlp<f64>, batch: usize, loss: Loss, t: TargetSlice<'_>) {
    let x: Vec<f64> = inputs(batch * mlp.input_dim(), 11);
    let d_out = mlp.output_dim();
    let mut trace = Trace::default();
    let mut ws = Workspace::new(1);
    trace.input = x.clone();
    trace.batch = batch;
    mlp.forward_ws(&mut trace, &mut ws, 0.0);
    let mut g = vec![0.0; batch * d_out];
    loss.eval(trace.output(), batch, d_out, t, Some(&mut g))
        .unwrap();
    let mut grads = Grads::default();
    mlp.backward_ws(&trace, &g, &mut grads, &mut ws, true);
    let h = 1e-6;
    let mut checked = 0;
    for l in 0..mlp.layers.len() {
        let n_w = mlp.layers[l].weight.len();
        let n_b = mlp.layers[l].bias.as_ref().map_or(0, Vec::len);
        let n_a = mlp.layers[l].prelu_alpha.len();
        for k in 0..n_w + n_b + n_a {
            let param = |m: &mut Mlp<f64>| -> *mut f64 {
                let layer = &mut m.layers[l];
                if k < n_w {
                    &mut layer.weight[k]
                } else if k < n_w + n_b {
                    &mut layer.bias.as_mut().unwrap()[k - n_w]
                } else {
                    &mut layer.prelu_alpha[k - n_w - n_b]
                }
            };
            let p = param(&mut mlp);
            // SAFETY: p points into mlp, which is not moved or resized while p is used.
            let v = unsafe { *p };
            unsafe { *p = v + h };
            let up = loss_of(&mlp, &x, batch, loss, t);
            unsafe { *p = v - h };
            let down = loss_of(&mlp, &x, batch, loss, t);
            unsafe { *p = v };
            let num = (up - down) / (2.0 * h);
            let ana = if k < n_w {
                grads.weight[l][k]
            } else if k < n_w + n_b {
                grads.bias[l][k - n_w]
            } else {
                grads.prelu_alpha[l][k - n_w - n_b]
            };
            assert!(
                close(num, ana, 1e-6, 1e-9),
                "{loss}: layer {l} parameter {k}: analytic {ana}, finite difference {num}"
            );
            checked += 1;
        }
    }
    // ∂L/∂x as well.
    for k in 0..x.len() {
        let mut xp = x.clone();
        xp[k] += h;
        let up = loss_of(&mlp, &xp, batch, loss, t);
        xp[k] -= 2.0 * h;
        let down = loss_of(&mlp, &xp, batch, loss, t);
        let num = (up - down) / (2.0 * h);
        assert!(
            close(num, grads.input[k], 1e-6, 1e-9),
            "{loss}: input {k}: analytic {}, finite difference {num}",
            grads.input[k]
        );
    }
    assert!(checked > 20);
}

#[test]
fn gradients_match_finite_differences() {
    let labels = [0u32, 2, 1, 2, 0, 1];
    for name in [
        "relu",
        "leaky_relu",
        "prelu",
        "relu_eps",
        "gelu",
        "tanh",
        "elu",
        "silu",
    ] {
        let act = Activation::by_name(name).unwrap();
        fd_check(
            net(&[3, 6, 5, 3], act, true, 21),
            6,
            Loss::CrossEntropy,
            TargetSlice::Classes(&labels),
        );
    }
    let values: Vec<f32> = (0..12).map(|k| (k as f32 * 0.37).sin()).collect();
    fd_check(
        net(&[3, 6, 5, 2], Activation::RELU, true, 22),
        6,
        Loss::Mse,
        TargetSlice::Values(&values),
    );
    let probs: Vec<f32> = (0..12).map(|k| 0.5 + 0.4 * (k as f32).cos()).collect();
    fd_check(
        net(&[3, 6, 2], Activation::Tanh, false, 23),
        6,
        Loss::BceWithLogits,
        TargetSlice::Values(&probs),
    );
    let bin = [0u32, 1, 1, 0, 1, 0];
    fd_check(
        net(&[3, 7, 1], Activation::Sigmoid, true, 24),
        6,
        Loss::BceWithLogits,
        TargetSlice::Classes(&bin),
    );
    fd_check(
        net(&[3, 7, 1], Activation::Silu, true, 25),
        6,
        Loss::Hinge,
        TargetSlice::Classes(&bin),
    );
    fd_check(
        net(&[3, 7, 3], Activation::Gelu, true, 26),
        6,
        Loss::Hinge,
        TargetSlice::Classes(&labels),
    );
}

#[test]
fn bias_warmup_shift_equals_raised_hidden_biases() {
    let mlp: Mlp<f64> = net(&[2, 8, 8, 1], Activation::RELU, true, 30);
    let gamma = 0.75;
    let mut raised = mlp.clone();
    let nl = raised.layers.len();
    for layer in &mut raised.layers[..nl - 1] {
        layer
            .bias
            .as_mut()
            .unwrap()
            .iter_mut()
            .for_each(|b| *b += gamma);
    }
    let x: Vec<f64> = inputs(10 * 2, 31);
    let mut ws = Workspace::new(1);
    let mut t = Trace {
        batch: 10,
        input: x.clone(),
        ..Default::default()
    };
    mlp.forward_ws(&mut t, &mut ws, gamma);
    let mut tr = Trace::default();
    raised.forward_batch_reference(&x, 10, &mut tr);
    assert_close_vec("output", t.output(), tr.output(), 1e-12, 1e-12);
    let go: Vec<f64> = inputs(10, 32);
    let (mut g, mut gr) = (Grads::default(), Grads::default());
    mlp.backward_ws(&t, &go, &mut g, &mut ws, true);
    raised.backward_batch_reference(&tr, &go, &mut gr);
    for l in 0..nl {
        assert_close_vec("dW", &g.weight[l], &gr.weight[l], 1e-12, 1e-12);
        assert_close_vec("db", &g.bias[l], &gr.bias[l], 1e-12, 1e-12);
    }
    // And the shift changes the output (the check is not vacuous).
    let mut t0 = Trace::default();
    mlp.forward_batch(&x, 10, &mut t0);
    assert!(t0
        .output()
        .iter()
        .zip(t.output())
        .any(|(a, b)| (a - b).abs() > 1e-3));
}

#[test]
fn relu_prime_at_zero_convention_is_applied() {
    // All-zero weights and biases: every hidden pre-activation is exactly 0.
    for (s, expect_moves) in [(0.0, false), (1.0, true)] {
        let act = Activation::Relu { prime_at_zero: s };
        let mlp: Mlp<f64> = Mlp::zeros(&[2, 3, 1], act, Activation::Identity, true);
        let mut mlp = mlp;
        mlp.layers[1].weight.iter_mut().for_each(|w| *w = 1.0);
        let mut t = Trace::default();
        mlp.forward_batch(&[1.0, 2.0], 1, &mut t);
        let mut g = Grads::default();
        mlp.backward_batch(&t, &[1.0], &mut g);
        let moves = g.weight[0].iter().any(|&v| v != 0.0);
        assert_eq!(moves, expect_moves, "ReLU'(0) = {s}");
    }
}
