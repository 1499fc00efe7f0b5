use super::*;
use crate::activation::Activation;
use crate::net::{Grads, Mlp, Trace};

/// 2→3→1: unit 0 copies x₀, unit 1 is dead (w = 0, b = −1), unit 2 copies x₁.
fn hand_net() -> Mlp<f64> {
    let mut m = Mlp::<f64>::zeros(&[2, 3, 1], Activation::RELU, Activation::Identity, true);
    m.layers[0].weight = vec![1.0, 0.0, 0.0, 0.0, 0.0, 1.0];
    m.layers[0].bias = Some(vec![0.0, -1.0, 0.0]);
    m.layers[1].weight = vec![1.0, 1.0, 1.0];
    m
}

const X: [f64; 6] = [1.0, 1.0, 2.0, -1.0, -1.0, 3.0];

#[test]
fn hand_computed_statistics() {
    let m = hand_net();
    let mut t = Trace::default();
    m.forward_batch(&X, 3, &mut t);
    let h = &diagnose_trace(&m, &t, None, HealthConfig::default())[0];
    // a = [1,0,1], [2,0,0], [0,0,3]: 5 zeros of 9; per sample 1/3, 2/3, 2/3.
    assert_eq!(h.sparsity, 5.0 / 9.0);
    assert!((h.sample_sparsity_mean - 5.0 / 9.0).abs() < 1e-15);
    assert_eq!(h.sample_sparsity_min, 1.0 / 3.0);
    assert_eq!(h.sample_sparsity_max, 2.0 / 3.0);
    assert_eq!(h.sample_sparsity_hist.iter().sum::<u64>(), 3);
    assert_eq!(h.dead, vec![1]);
    // E|h| = 1, 0, 4/3; layer mean 7/9: s = 9/7, 0, 12/7 (Sokar et al. eq. 1).
    let want = [9.0 / 7.0, 0.0, 12.0 / 7.0];
    for (s, w) in h.redo_scores.iter().zip(want) {
        assert!((s - w).abs() < 1e-14, "{s} vs {w}");
    }
    assert_eq!(h.dormant, vec![1]);
    // z = 1,−1,1, 2,−1,−1, −1,−1,3: mean 2/9, E z² = 20/9.
    assert!((h.pre_mean - 2.0 / 9.0).abs() < 1e-15);
    assert!((h.pre_std - (20.0f64 / 9.0 - 4.0 / 81.0).sqrt()).abs() < 1e-14);
    assert_eq!(h.pre_frac_negative, 5.0 / 9.0);
    assert_eq!(h.pre_frac_zero, 0.0);
    assert!(h.grad_pre_norm.is_none());
    // τ = 1.3 also catches unit 0 (9/7 ≈ 1.286).
    let cfg = HealthConfig {
        tau: 1.3,
        hist_bins: 4,
    };
    let h = &diagnose_trace(&m, &t, None, cfg)[0];
    assert_eq!(h.dormant, vec![0, 1]);
    // Per-sample fractions 1/3, 2/3, 2/3 fall in bins 1, 2, 2 of 4.
    assert_eq!(h.sample_sparsity_hist, vec![0, 1, 2, 0]);
}

#[test]
fn batches_accumulate_like_one_pass() {
    let m = hand_net();
    let mut acc = HealthAccumulator::new(&m, HealthConfig::default());
    let mut t = Trace::default();
    m.forward_batch(&X[..2], 1, &mut t);
    acc.observe::<f64>(&t, None);
    m.forward_batch(&X[2..], 2, &mut t);
    acc.observe::<f64>(&t, None);
    let split = acc.finish();
    m.forward_batch(&X, 3, &mut t);
    let whole = diagnose_trace(&m, &t, None, HealthConfig::default());
    assert_eq!(split[0].dead, whole[0].dead);
    assert_eq!(split[0].sparsity, whole[0].sparsity);
    assert_eq!(split[0].sample_sparsity_hist, whole[0].sample_sparsity_hist);
    assert!((split[0].pre_std - whole[0].pre_std).abs() < 1e-14);
    assert_eq!(acc.samples(), 3);
}

#[test]
fn all_zero_layer_scores_zero() {
    assert_eq!(redo_scores(&[0.0, 0.0], 5), vec![0.0, 0.0]);
    assert_eq!(redo_scores(&[1.0, 3.0], 2), vec![0.5, 1.5]);
}

/// ½·mean MSE and mean cross-entropy of a small net: the ‖∂L/∂W‖ reported must match a
/// central finite difference of the loss, batch by batch accumulated.
#[test]
fn gradient_norms_match_finite_differences() {
    let mut m = Mlp::<f64>::zeros(&[3, 4, 2], Activation::Tanh, Activation::Identity, true);
    let mut k = 0.37f64;
    for layer in &mut m.layers {
        for w in layer
            .weight
            .iter_mut()
            .chain(layer.bias.iter_mut().flatten())
        {
            k = (k * 3.7 + 0.11).fract();
            *w = k - 0.5;
        }
    }
    let n = 5;
    let x: Vec<f64> = (0..n * 3)
        .map(|i| ((i * 7 % 11) as f64 - 5.0) / 4.0)
        .collect();
    let targets: Vec<f64> = (0..n * 2).map(|i| ((i * 5 % 7) as f64) / 3.0).collect();
    let labels: Vec<usize> = (0..n).map(|i| i % 2).collect();
    let mse = |m: &Mlp<f64>| {
        let mut t = Trace::default();
        m.forward_batch(&x, n, &mut t);
        0.5 * t
            .output()
            .iter()
            .zip(&targets)
            .map(|(o, y)| (o - y).powi(2))
            .sum::<f64>()
            / n as f64
    };
    let ce = |m: &Mlp<f64>| {
        let mut t = Trace::default();
        m.forward_batch(&x, n, &mut t);
        let o = t.output();
        (0..n)
            .map(|s| {
                let r = &o[s * 2..s * 2 + 2];
                let lse = (r[0].exp() + r[1].exp()).ln();
                lse - r[labels[s]]
            })
            .sum::<f64>()
            / n as f64
    };
    for (obj, loss) in [
        (Objective::Mse(&targets), &mse as &dyn Fn(&Mlp<f64>) -> f64),
        (Objective::CrossEntropy(&labels), &ce),
    ] {
        let h = diagnose_dataset(&m, &x, n, &obj, 2, HealthConfig::default()).unwrap();
        for (l, hl) in h.iter().enumerate() {
            let mut sq = 0.0;
            for i in 0..m.layers[l].weight.len() {
                let (mut a, mut b) = (m.clone(), m.clone());
                a.layers[l].weight[i] += 1e-6;
                b.layers[l].weight[i] -= 1e-6;
                let g = (loss(&a) - loss(&b)) / 2e-6;
                sq += g * g;
            }
            let got = hl.grad_weight_norm.unwrap();
            assert!(
                (got - sq.sqrt()).abs() < 1e-7 * (1.0 + got),
                "layer {l}: {got} vs {}",
                sq.sqrt()
            );
        }
    }
}

#[test]
fn bad_input_is_an_error() {
    let m = hand_net();
    assert!(
        diagnose_dataset(&m, &X[..5], 3, &Objective::None, 2, HealthConfig::default()).is_err()
    );
    let bad = [0usize, 1, 1];
    let e = diagnose_dataset(
        &m,
        &X,
        3,
        &Objective::CrossEntropy(&bad),
        2,
        HealthConfig::default(),
    )
    .unwrap_err();
    assert!(e.to_string().contains("sample 1"), "{e}");
}

#[test]
fn homogeneity_rejects_bias_and_smooth_units() {
    let m = hand_net();
    assert!(homogeneity_error(&m, &X, 3, 2.0).is_err());
    let mut nb = m.clone();
    for l in &mut nb.layers {
        l.bias = None;
    }
    assert!(homogeneity_error(&nb, &X, 3, 2.0).unwrap() < 1e-15);
    assert!(homogeneity_error(&nb, &X, 3, -1.0).is_err());
    nb.layers[0].activation = Activation::Sigmoid;
    assert!(homogeneity_error(&nb, &X, 3, 2.0).is_err());
}

#[test]
fn grads_are_read_when_given() {
    let m = hand_net();
    let mut t = Trace::default();
    m.forward_batch(&X, 3, &mut t);
    let mut g = Grads::default();
    m.backward_batch(&t, &[1.0, 1.0, 1.0], &mut g);
    let h = diagnose_trace(&m, &t, Some(&g), HealthConfig::default());
    // ∂L/∂z₀ = 1 where z > 0: units 0 and 2 active on 2 samples each → ‖·‖ = 2.
    assert_eq!(h[0].grad_pre_norm, Some(2.0));
    assert!(format_table(&h).contains("relu"));
}

proptest::proptest! {
    #![proptest_config(proptest::test_runner::Config::with_cases(64))]
    /// Streaming over any split of the data gives the statistics of one pass (counts exactly,
    /// sums to rounding).
    #[test]
    fn any_batch_split_gives_the_same_health(
        w in proptest::collection::vec(-1.0f64..1.0, 2 * 5 + 5 + 5 * 3 + 3),
        x in proptest::collection::vec(-2.0f64..2.0, 2 * 9),
        cut in 1usize..9,
    ) {
        let mut m = Mlp::<f64>::zeros(&[2, 5, 3], Activation::RELU, Activation::Identity, true);
        m.layers[0].weight = w[..10].to_vec();
        m.layers[0].bias = Some(w[10..15].to_vec());
        m.layers[1].weight = w[15..30].to_vec();
        m.layers[1].bias = Some(w[30..].to_vec());
        let mut t = Trace::default();
        m.forward_batch(&x, 9, &mut t);
        let whole = diagnose_trace(&m, &t, None, HealthConfig::default());
        let mut acc = HealthAccumulator::new(&m, HealthConfig::default());
        m.forward_batch(&x[..2 * cut], cut, &mut t);
        acc.observe::<f64>(&t, None);
        m.forward_batch(&x[2 * cut..], 9 - cut, &mut t);
        acc.observe::<f64>(&t, None);
        let split = acc.finish();
        for (a, b) in split.iter().zip(&whole) {
            proptest::prop_assert_eq!(&a.dead, &b.dead);
            proptest::prop_assert_eq!(a.sparsity, b.sparsity);
            proptest::prop_assert_eq!(&a.sample_sparsity_hist, &b.sample_sparsity_hist);
            proptest::prop_assert_eq!(a.pre_frac_negative, b.pre_frac_negative);
            proptest::prop_assert!((a.pre_mean - b.pre_mean).abs() < 1e-12);
            for (p, q) in a.redo_scores.iter().zip(&b.redo_scores) {
                proptest::prop_assert!((p - q).abs() < 1e-12);
            }
        }
    }
}

/// A layer large enough to be split over threads gives the same bits on one and on two
/// threads, and its counts and sums match a direct pass over the trace.
#[test]
fn blocked_parallel_pass_is_thread_independent_and_exact() {
    use rand::{Rng, SeedableRng};
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(3);
    let mut m = Mlp::<f32>::zeros(&[8, 300, 2], Activation::RELU, Activation::Identity, true);
    m.init(
        crate::net::Init::HeNormal,
        crate::net::BiasInit::Constant { value: -0.3 },
        &mut rng,
    );
    let batch = 701; // 11 blocks of 64 rows, the last partial; 210,300 elements in layer 0
    let x: Vec<f32> = (0..batch * 8)
        .map(|_| rng.random::<f32>() * 2.0 - 1.0)
        .collect();
    let mut t = Trace::default();
    m.forward_batch(&x, batch, &mut t);
    let run = |threads: usize| {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap();
        pool.install(|| diagnose_trace(&m, &t, None, HealthConfig::default()))
    };
    let (one, two) = (run(1), run(2));
    assert_eq!(format!("{one:?}"), format!("{two:?}"));
    let (z, a, h) = (&t.pre[0], &t.post[0], 300);
    let dead: Vec<usize> = (0..h)
        .filter(|&j| (0..batch).all(|s| z[s * h + j] <= 0.0))
        .collect();
    assert_eq!(one[0].dead, dead);
    let zeros = a.iter().filter(|&&v| v == 0.0).count();
    assert_eq!(one[0].sparsity, zeros as f64 / (batch * h) as f64);
    let mean = z.iter().map(|&v| v as f64).sum::<f64>() / (batch * h) as f64;
    assert!((one[0].pre_mean - mean).abs() < 1e-12 * mean.abs().max(1.0));
    assert_eq!(
        one[0].sample_sparsity_hist.iter().sum::<u64>(),
        batch as u64
    );
}
