//! The training loop's hooks and the pieces around it: observers, epoch metrics, schedules,
//! clipping, bias warm-up, initialisation statistics.

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use relulab::net::{BiasInit, Grads, Init, OptimKind, Optimizer, OptimizerConfig, Schedule};
use relulab::train::{BiasWarmup, Decay, EpochMetrics, Observer, StepInfo, TrainSpec, Trainer};
use relulab::{Activation, Mlp};

#[derive(Default)]
struct Recorder {
    steps: Vec<(usize, u64, usize)>,
    shifts: Vec<f64>,
    reset_unit: bool,
}

impl Observer for Recorder {
    fn on_step(
        &mut self,
        info: &StepInfo<'_>,
        mlp: &mut Mlp<f32>,
        opt: &mut Optimizer<f32>,
    ) -> relulab::Result<()> {
        assert_eq!(info.trace.pre.len(), mlp.layers.len());
        assert_eq!(
            info.grads.pre[0].len(),
            info.trace.batch * mlp.layers[0].out_dim
        );
        assert!(info.loss.is_finite() && info.grad_norm.is_finite());
        self.steps.push((info.epoch, info.step, info.trace.batch));
        self.shifts.push(info.hidden_shift);
        if self.reset_unit {
            // ReDo-style: re-initialise unit 0 of layer 0, zero its outgoing weights and its
            // optimizer moments.
            let l0 = &mut mlp.layers[0];
            let i = l0.in_dim;
            l0.weight[..i].iter_mut().for_each(|w| *w = 0.25);
            let o1 = mlp.layers[1].in_dim;
            for j in 0..mlp.layers[1].out_dim {
                mlp.layers[1].weight[j * o1] = 0.0;
            }
            let st = &mut opt.state[0].weight;
            st.m[..i].iter_mut().for_each(|v| *v = 0.0);
            st.v[..i].iter_mut().for_each(|v| *v = 0.0);
        }
        Ok(())
    }

    fn on_epoch_end(
        &mut self,
        m: &mut EpochMetrics,
        _mlp: &mut Mlp<f32>,
        _opt: &mut Optimizer<f32>,
    ) -> relulab::Result<()> {
        m.extra.insert("steps_seen".into(), self.steps.len().into());
        Ok(())
    }
}

#[test]
fn observers_see_every_step_and_may_change_model_and_optimizer() {
    let spec = TrainSpec {
        dataset: Some("moons".into()),
        n_samples: Some(100),
        hidden: vec![6, 5],
        epochs: 3,
        batch_size: 32,
        bias_warmup: Some(BiasWarmup {
            gamma0: 1.0,
            steps: 6,
            decay: Decay::Linear,
        }),
        ..TrainSpec::default()
    };
    let p = spec.prepare().unwrap();
    assert_eq!(p.train.n, 80);
    let mut t = Trainer::new(p.mlp, p.config);
    let mut rec = Recorder {
        reset_unit: true,
        ..Default::default()
    };
    let metrics = t
        .run(&p.train, p.test.as_ref(), &mut [&mut rec], |_, _| Ok(()))
        .unwrap();
    // 80 samples in batches of 32: 32, 32, 16 per epoch.
    assert_eq!(rec.steps.len(), 9);
    assert_eq!(rec.steps[2], (0, 2, 16));
    assert_eq!(rec.steps[8], (2, 8, 16));
    // γ(t) = 1 − t/6 for t < 6, then 0.
    for (k, &g) in rec.shifts.iter().enumerate() {
        let want = if k < 6 { 1.0 - k as f64 / 6.0 } else { 0.0 };
        assert!((g - want).abs() < 1e-12, "step {k}: γ = {g}");
    }
    assert!(t.mlp.layers[0].weight[..2].iter().all(|&w| w == 0.25));
    assert_eq!(metrics[2].extra["steps_seen"], 9);
    let line = serde_json::to_string(&metrics[2]).unwrap();
    assert!(
        line.contains("\"steps_seen\":9") && line.contains("\"test_accuracy\""),
        "{line}"
    );
}

#[test]
fn schedules_and_warmup_follow_their_formulas() {
    let s = Schedule::Step {
        step_size: 3,
        gamma: 0.5,
    };
    assert_eq!(s.lr_at(0.1, 2), 0.1);
    assert_eq!(s.lr_at(0.1, 3), 0.05);
    assert_eq!(s.lr_at(0.1, 7), 0.025);
    let c = Schedule::Cosine {
        t_max: 10,
        eta_min: 0.0,
    };
    assert!((c.lr_at(1.0, 5) - 0.5).abs() < 1e-12);
    assert!(c.lr_at(1.0, 10).abs() < 1e-12);
    let mut cfg = OptimizerConfig::adam(0.2);
    cfg.warmup_steps = 4;
    assert!((cfg.lr_at(0, 0) - 0.05).abs() < 1e-12);
    assert!((cfg.lr_at(0, 3) - 0.2).abs() < 1e-12);
    assert!((cfg.lr_at(0, 100) - 0.2).abs() < 1e-12);
    let w = BiasWarmup {
        gamma0: 2.0,
        steps: 10,
        decay: Decay::Cosine,
    };
    assert!((w.gamma(0) - 2.0).abs() < 1e-12);
    assert!((w.gamma(5) - 1.0).abs() < 1e-12);
    assert_eq!(w.gamma(10), 0.0);
}

#[test]
fn clipping_scales_to_the_global_norm() {
    let mut g = Grads::<f32> {
        weight: vec![vec![3.0, 0.0], vec![0.0]],
        bias: vec![vec![4.0], vec![]],
        prelu_alpha: vec![vec![], vec![]],
        ..Default::default()
    };
    let mut cfg = OptimizerConfig::adam(0.1);
    cfg.clip_norm = Some(1.0);
    let opt = Optimizer::<f32>::new(cfg);
    let before = opt.clip(&mut g);
    assert!((before - 5.0).abs() < 1e-9);
    let after = g.param_sq_norm().sqrt();
    assert!((after - 1.0).abs() < 1e-5, "norm after clipping {after}");
    // Well below the threshold nothing changes (PyTorch's coefficient c/(‖g‖ + 1e-6) is
    // clamped to 1).
    cfg.clip_norm = Some(10.0);
    let opt = Optimizer::<f32>::new(cfg);
    let before = g.clone();
    opt.clip(&mut g);
    assert_eq!(g.weight, before.weight);
    assert_eq!(g.bias, before.bias);
    let _ = OptimKind::sgd(0.9);
}

fn layer_stats(init: Init, fan_in: usize, fan_out: usize) -> (f64, f64, Vec<f64>) {
    let mut m = Mlp::<f64>::zeros(
        &[fan_in, fan_out],
        Activation::RELU,
        Activation::Identity,
        true,
    );
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    m.init(init, BiasInit::Constant { value: -2.0 }, &mut rng);
    let w = &m.layers[0].weight;
    let n = w.len() as f64;
    let mean = w.iter().sum::<f64>() / n;
    let var = w.iter().map(|x| (x - mean) * (x - mean)).sum::<f64>() / n;
    (mean, var, m.layers[0].bias.clone().unwrap())
}

#[test]
fn initialisations_have_their_variances() {
    let (fi, fo) = (400, 300);
    let cases = [
        (Init::HeNormal, 2.0 / fi as f64),
        (Init::HeUniform, 2.0 / fi as f64),
        (Init::XavierNormal, 2.0 / (fi + fo) as f64),
        (Init::XavierUniform, 2.0 / (fi + fo) as f64),
        (Init::LecunNormal, 1.0 / fi as f64),
        (Init::Torch, 1.0 / (3.0 * fi as f64)),
    ];
    for (init, want) in cases {
        let (mean, var, bias) = layer_stats(init, fi, fo);
        assert!(
            mean.abs() < 0.01 * want.sqrt() * 10.0,
            "{init}: mean {mean}"
        );
        assert!(
            (var / want - 1.0).abs() < 0.03,
            "{init}: variance {var}, want {want}"
        );
        if init != Init::Torch {
            assert!(bias.iter().all(|&b| b == -2.0), "{init}: constant bias");
        }
    }
    // Orthogonal: rows orthonormal times the gain (out ≤ in), columns when out > in.
    for (o, i) in [(30, 50), (50, 30)] {
        let mut m = Mlp::<f64>::zeros(&[i, o], Activation::RELU, Activation::Identity, false);
        m.init(
            Init::Orthogonal { gain: 2.0 },
            BiasInit::Zero,
            &mut ChaCha8Rng::seed_from_u64(2),
        );
        let w = &m.layers[0].weight;
        let small = o.min(i);
        for a in 0..small {
            for b in 0..small {
                let dot: f64 = if o <= i {
                    (0..i).map(|k| w[a * i + k] * w[b * i + k]).sum()
                } else {
                    (0..o).map(|k| w[k * i + a] * w[k * i + b]).sum()
                };
                let want = if a == b { 4.0 } else { 0.0 };
                assert!(
                    (dot - want).abs() < 1e-9,
                    "orthogonal {o}×{i}: ({a},{b}) = {dot}"
                );
            }
        }
    }
    // RAI with a vanishing σ²: exactly one parameter per unit (weights and bias) is visible,
    // and it lies in (0, 1], the support of Beta(2, 1).
    let mut m = Mlp::<f64>::zeros(&[5, 200], Activation::RELU, Activation::Identity, true);
    m.init(
        Init::Rai { sigma2: 1e-20 },
        BiasInit::Zero,
        &mut ChaCha8Rng::seed_from_u64(3),
    );
    let l = &m.layers[0];
    let mut picked_bias = 0;
    for j in 0..200 {
        let mut row: Vec<f64> = l.row(j).to_vec();
        row.push(l.bias.as_ref().unwrap()[j]);
        let big: Vec<f64> = row.iter().copied().filter(|v| v.abs() > 1e-6).collect();
        assert_eq!(big.len(), 1, "unit {j}: {row:?}");
        assert!(big[0] > 0.0 && big[0] <= 1.0);
        picked_bias += usize::from(row[5].abs() > 1e-6);
    }
    // The bias is one of 6 candidates: about 200/6 ≈ 33 units.
    assert!(
        (15..55).contains(&picked_bias),
        "bias picked {picked_bias} times"
    );
}

#[test]
fn quick_digits_reaches_97_percent() {
    let r = relulab::train::quick_digits(0).unwrap();
    assert!(
        r.test_accuracy >= 0.97,
        "digits test accuracy {}",
        r.test_accuracy
    );
    assert_eq!(r.metrics.len(), 30);
    assert!(r.train_seconds > 0.0 && r.test_loss.is_finite());
}
