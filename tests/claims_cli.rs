//! The command-line faces of issue 4: `relulab claims`, `relulab diagnose`, and the remedies and
//! monitor wired into `relulab train`; plus bias warm-up through the training engine.

mod common;
use relulab::activation::Activation;
use relulab::net::{BiasInit, Init, Loss, Mlp, OptimizerConfig};
use relulab::train::{BiasWarmup, Decay, TrainConfig, Trainer};
use std::process::{Command, Output};

fn relulab(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_relulab"))
        .args(args)
        .output()
        .expect("binary runs")
}

fn tmp(name: &str) -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("relulab-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

#[test]
fn claims_json_and_exit_codes() {
    let out = relulab(&["claims", "--json", "--only", "4,7"]);
    assert_eq!(out.status.code(), Some(0));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let ids: Vec<u64> = v
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_u64().unwrap())
        .collect();
    assert_eq!(ids, vec![4, 7]);
    assert!(v.as_array().unwrap().iter().all(|c| c["pass"] == true));
    let bad = relulab(&["claims", "--only", "12"]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("claim 12"));
}

#[test]
fn train_monitor_writes_health_per_epoch_and_redo_recycles() {
    let out = relulab(&[
        "train",
        "--dataset",
        "moons",
        "--hidden",
        "32,32",
        "--epochs",
        "3",
        "--monitor",
        "--redo-every",
        "5",
        "--dormant-tau",
        "0.9",
        "--json",
    ]);
    let lines = common::json_lines(&out);
    assert_eq!(lines.len(), 3);
    let mut recycled = 0;
    for l in &lines {
        let health = l["health"].as_array().expect("health per epoch");
        assert_eq!(health.len(), 3);
        for h in health {
            let sp = h["sparsity"].as_f64().unwrap();
            assert!((0.0..=1.0).contains(&sp));
            assert!(h["grad_pre_norm"].as_f64().unwrap() > 0.0);
            assert_eq!(
                h["dead"].as_u64().unwrap() as usize,
                h["dead_units"].as_array().unwrap().len()
            );
        }
        let df = l["dead_fraction"].as_f64().unwrap();
        assert!((0.0..=1.0).contains(&df));
        recycled += l["redo_recycled"].as_u64().unwrap();
    }
    // τ = 0.9 marks every unit below 90% of its layer's mean activity: some always are.
    assert!(recycled > 0);
}

#[test]
fn diagnose_reads_a_trained_model() {
    let dir = tmp("diagnose");
    let model = dir.join("m.safetensors");
    let m = model.to_str().unwrap();
    let out = relulab(&[
        "train",
        "--dataset",
        "iris",
        "--hidden",
        "16",
        "--epochs",
        "2",
        "--quiet",
        "--model-out",
        m,
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let plots = dir.join("plots");
    let out = relulab(&[
        "diagnose",
        "--model",
        m,
        "--dataset",
        "iris",
        "--json",
        "--plots",
        plots.to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["samples"], 150);
    assert_eq!(v["loss"], "cross_entropy");
    assert!(
        v["homogeneity_error_a2"].is_null(),
        "a net with biases is not homogeneous"
    );
    let layers = v["layers"].as_array().unwrap();
    assert_eq!(layers.len(), 2);
    assert_eq!(layers[0]["redo_scores"].as_array().unwrap().len(), 16);
    // ReDo scores average to 1 over a layer with any activity (s_j / mean_k s_k).
    let s: f64 = layers[0]["redo_scores"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap())
        .sum();
    assert!((s / 16.0 - 1.0).abs() < 1e-12);
    assert!(plots.join("sparsity.svg").exists() && plots.join("gradient_norms.png").exists());
    let table = relulab(&["diagnose", "--model", m, "--dataset", "iris"]);
    assert!(String::from_utf8_lossy(&table.stdout).contains("dormant"));
    // Wrong data for the model: exit 2 with the widths named.
    let bad = relulab(&["diagnose", "--model", m, "--dataset", "digits"]);
    assert_eq!(bad.status.code(), Some(2));
    let err = String::from_utf8_lossy(&bad.stderr);
    assert!(
        err.contains("64 features") && err.contains("takes 4"),
        "{err}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// Claim 9 through the engine: a first layer killed by bias −2 stays bit-for-bit unchanged
/// without warm-up, and moves and comes alive with the engine's bias warm-up.
#[test]
fn engine_bias_warmup_revives_a_dead_layer() {
    let data = relulab::data::by_name("abs", 0, Some(256), Some(0.0)).unwrap();
    let mut mlp = Mlp::<f32>::zeros(&[1, 16, 1], Activation::RELU, Activation::Identity, true);
    let mut rng = <rand_chacha::ChaCha8Rng as rand::SeedableRng>::seed_from_u64(0);
    mlp.init(Init::HeNormal, BiasInit::Zero, &mut rng);
    for w in &mut mlp.layers[0].weight {
        *w *= 0.01;
    }
    mlp.layers[0].bias = Some(vec![-2.0; 16]);
    let max_x = data.x.iter().fold(0.0f32, |m, v| m.max(v.abs()));
    assert!(
        max_x * 0.05 < 2.0,
        "inputs small enough for the layer to be dead"
    );
    let config = |warm: Option<BiasWarmup>| TrainConfig {
        epochs: 150,
        batch_size: 32,
        loss: Loss::Mse,
        optimizer: OptimizerConfig::adam(0.01),
        seed: 0,
        threads: 1,
        bias_warmup: warm,
    };
    let dead_units = |m: &Mlp<f32>| {
        let mut t = relulab::Trace::default();
        m.forward_batch(&data.x, data.n, &mut t);
        let h = relulab::diagnose::diagnose_trace(m, &t, None, Default::default());
        h[0].dead.len()
    };
    assert_eq!(dead_units(&mlp), 16);
    let mut plain = Trainer::new(mlp.clone(), config(None));
    plain.run(&data, None, &mut [], |_, _| Ok(())).unwrap();
    assert_eq!(plain.mlp.layers[0].weight, mlp.layers[0].weight);
    assert_eq!(plain.mlp.layers[0].bias, mlp.layers[0].bias);
    assert_eq!(dead_units(&plain.mlp), 16);
    let warm = BiasWarmup {
        gamma0: 3.0,
        steps: 800, // 100 of the 150 epochs (8 steps each)
        decay: Decay::Linear,
    };
    let mut warmed = Trainer::new(mlp.clone(), config(Some(warm)));
    warmed.run(&data, None, &mut [], |_, _| Ok(())).unwrap();
    assert_ne!(warmed.mlp.layers[0].bias, mlp.layers[0].bias);
    assert!(dead_units(&warmed.mlp) < 16, "warm-up revived no unit");
    let (lp, _) = relulab::train::evaluate(&plain.mlp, &data, Loss::Mse).unwrap();
    let (lw, _) = relulab::train::evaluate(&warmed.mlp, &data, Loss::Mse).unwrap();
    assert!(lw < 0.5 * lp, "warm-up loss {lw} vs dead {lp}");
}

/// The monitor reads the engine's own traces: a unit killed by a bias of −100 is listed dead
/// in every epoch, the others are not, and the training loop never moves it.
#[test]
fn monitor_lists_the_dead_unit_every_epoch() {
    use relulab::diagnose::{HealthConfig, HealthMonitor};
    let data = relulab::data::by_name("moons", 0, Some(200), None).unwrap();
    let mut mlp = Mlp::<f32>::zeros(&[2, 8, 2], Activation::RELU, Activation::Identity, true);
    let mut rng = <rand_chacha::ChaCha8Rng as rand::SeedableRng>::seed_from_u64(1);
    mlp.init(Init::HeNormal, BiasInit::Zero, &mut rng);
    mlp.layers[0].bias.as_mut().unwrap()[3] = -100.0;
    let config = TrainConfig {
        epochs: 4,
        batch_size: 50,
        loss: Loss::CrossEntropy,
        optimizer: OptimizerConfig::adam(0.01),
        seed: 0,
        threads: 1,
        bias_warmup: None,
    };
    let mut monitor = HealthMonitor::new(HealthConfig::default());
    let mut trainer = Trainer::new(mlp.clone(), config);
    let metrics = trainer
        .run(&data, None, &mut [&mut monitor], |_, _| Ok(()))
        .unwrap();
    assert_eq!(monitor.history.len(), 4);
    for (e, layers) in monitor.history.iter().enumerate() {
        assert!(
            layers[0].dead.contains(&3),
            "epoch {e}: {:?}",
            layers[0].dead
        );
        assert_eq!(layers[0].samples, 200);
        assert_eq!(
            metrics[e].extra["health"][0]["dead_units"],
            serde_json::json!(layers[0].dead)
        );
    }
    assert_eq!(trainer.mlp.layers[0].row(3), mlp.layers[0].row(3));
}
