//! ONNX export: every activation of the family, checked three ways.
//! 1. onnxruntime runs the exported files (tests/fixtures/onnx/relulab_export_*.onnx, written
//!    by the ignored test `write_export_fixtures`; make_fixtures.py saved onnxruntime's outputs
//!    on fixed inputs next to them) and its outputs equal relulab's forward pass.
//! 2. Export is deterministic: today's bytes equal the committed files.
//! 3. Export → import gives the same function (and, for the piecewise-linear family, the same
//!    layers bit for bit).
//!
//! Regenerate after changing the exporter:
//!   cargo test --release --test onnx_export -- --ignored write_export_fixtures
//!   python3 tests/fixtures/onnx/make_fixtures.py

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use relulab::activation::ACTIVATION_NAMES;
use relulab::io::npy::read_npy_f64;
use relulab::io::onnx::{onnx_bytes, parse_onnx, save_onnx};
use relulab::{Activation, Mlp};
use std::path::PathBuf;

fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/onnx")
}

/// A [4, 6, 5, 3] network with `hidden` activations, seeded weights; PReLU gets per-unit
/// slopes in the first layer and one shared slope in the second.
fn net(hidden: Activation, seed: u64) -> Mlp<f32> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut m = Mlp::<f32>::zeros(&[4, 6, 5, 3], hidden, Activation::Identity, true);
    for (l, layer) in m.layers.iter_mut().enumerate() {
        for w in &mut layer.weight {
            *w = rng.random_range(-1.0..1.0);
        }
        for b in layer.bias.iter_mut().flatten() {
            *b = rng.random_range(-0.5..0.5);
        }
        if matches!(hidden, Activation::Prelu { .. }) && l == 0 {
            layer.prelu_alpha = (0..layer.out_dim)
                .map(|_| rng.random_range(0.05..0.5))
                .collect();
        }
    }
    m
}

fn nets() -> Vec<(String, Mlp<f32>)> {
    let mut v: Vec<(String, Mlp<f32>)> = ACTIVATION_NAMES
        .iter()
        .enumerate()
        .map(|(i, name)| {
            let mut act = Activation::by_name(name).unwrap();
            act = match act {
                Activation::LeakyRelu { .. } => Activation::leaky(0.1),
                Activation::ReluEps { .. } => Activation::relu_eps(0.05),
                Activation::Elu { .. } => Activation::Elu { alpha: 0.7 },
                Activation::Softplus { .. } => Activation::Softplus {
                    beta: 2.0,
                    threshold: 20.0,
                },
                a => a,
            };
            (name.to_string(), net(act, i as u64))
        })
        .collect();
    // Bias-free layers and a sigmoid output.
    let mut m = net(Activation::RELU, 99);
    m.layers.iter_mut().for_each(|l| l.bias = None);
    m.layers[2].activation = Activation::Sigmoid;
    v.push(("nobias_sigmoid_out".into(), m));
    v
}

#[test]
#[ignore = "writes the export fixtures; run when the exporter changes"]
fn write_export_fixtures() {
    for (name, m) in nets() {
        save_onnx(&fixtures().join(format!("relulab_export_{name}.onnx")), &m).unwrap();
    }
}

#[test]
fn exports_are_deterministic_and_match_the_committed_files() {
    for (name, m) in nets() {
        let path = fixtures().join(format!("relulab_export_{name}.onnx"));
        let committed = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        assert!(
            onnx_bytes(&m).unwrap() == committed,
            "{name}: export differs from {}; regenerate (see this file's header)",
            path.display()
        );
    }
}

#[test]
fn onnxruntime_outputs_of_exports_equal_relulab() {
    for (name, m) in nets() {
        let base = fixtures().join(format!("relulab_export_{name}"));
        let x = read_npy_f64(&base.with_extension("input.npy")).unwrap();
        let y = read_npy_f64(&base.with_extension("output.npy")).unwrap();
        let m64 = m.cast::<f64>();
        let (n, d_out) = (x.shape[0], m.output_dim());
        let mut worst = 0.0f64;
        for s in 0..n {
            let out = m64.forward_one(&x.data[s * 4..(s + 1) * 4]);
            let ys = &y.data[s * d_out..(s + 1) * d_out];
            // Normwise relative error of the output vector (as in tests/onnx_fixtures.rs).
            let scale = ys.iter().fold(f64::MIN_POSITIVE, |a, b| a.max(b.abs()));
            for (j, (&a, &b)) in out.iter().zip(ys).enumerate() {
                let rel = (a - b).abs() / scale;
                assert!(
                    rel <= 1e-5,
                    "{name}: sample {s} out {j}: {a} vs onnxruntime {b}"
                );
                worst = worst.max(rel);
            }
        }
        println!("{name}: max rel err vs onnxruntime {worst:.2e}");
    }
}

#[test]
fn export_import_round_trip() {
    let mut rng = ChaCha8Rng::seed_from_u64(7);
    for (name, m) in nets() {
        let back = parse_onnx(&onnx_bytes(&m).unwrap(), &name).unwrap_or_else(|e| panic!("{e}"));
        let (a, b) = (m.cast::<f64>(), back.cast::<f64>());
        for _ in 0..20 {
            let x: Vec<f64> = (0..4).map(|_| rng.random_range(-3.0..3.0)).collect();
            for (p, q) in a.forward_one(&x).iter().zip(b.forward_one(&x)) {
                assert!(
                    (p - q).abs() <= 1e-5 * p.abs().max(1e-2),
                    "{name}: {p} vs {q}"
                );
            }
        }
        let act = m.layers[0].activation;
        let exact = matches!(
            act,
            Activation::Relu { .. }
                | Activation::Prelu { .. }
                | Activation::Gelu
                | Activation::Tanh
        );
        if exact {
            assert_eq!(back.widths(), m.widths(), "{name}");
            for (l0, l1) in m.layers.iter().zip(&back.layers) {
                assert_eq!(l0.weight, l1.weight, "{name}");
                assert_eq!(l0.bias, l1.bias, "{name}");
                assert_eq!(l0.prelu_alpha, l1.prelu_alpha, "{name}");
                assert_eq!(l0.activation.name(), l1.activation.name(), "{name}");
            }
        }
    }
}

#[test]
fn invalid_network_is_refused() {
    let mut m = net(Activation::RELU, 1);
    m.layers[1].in_dim = 7;
    let e = onnx_bytes(&m).unwrap_err().to_string();
    assert!(e.contains("layer 1"), "{e}");
}

/// What ONNX operators cannot say travels in the `relulab.activations` metadata: ReLU'(0), the
/// leaky derivative at 0 and softplus's threshold (β = 1) come back from export → import.
/// ReLU+εx is exported as the equal function (1+ε)·LeakyReLU(x; ε/(1+ε)) and softplus with
/// β ≠ 1 as Softplus(βx)/β; they come back as those layers, whose metadata then no longer
/// agrees with the graph and is not applied. A graph edited after export (here: metadata
/// relabelled) likewise keeps what its operators say.
#[test]
fn conventions_survive_the_round_trip_through_metadata() {
    let cases = [
        Activation::Relu { prime_at_zero: 0.5 },
        Activation::LeakyRelu {
            negative_slope: 0.1,
            prime_at_zero: 1.0,
        },
        Activation::Softplus {
            beta: 1.0,
            threshold: 10.0,
        },
    ];
    for act in cases {
        let m = net(act, 5);
        let back = parse_onnx(&onnx_bytes(&m).unwrap(), "conv").unwrap();
        for (l0, l1) in m.layers.iter().zip(&back.layers) {
            assert_eq!(l0.activation, l1.activation, "{act}");
        }
    }
    let eps = net(
        Activation::ReluEps {
            eps: 0.05,
            prime_at_zero: 0.3,
        },
        5,
    );
    let back = parse_onnx(&onnx_bytes(&eps).unwrap(), "eps").unwrap();
    assert!(matches!(
        back.layers[0].activation,
        Activation::LeakyRelu { .. }
    ));
    // Metadata that disagrees with the graph is ignored: relabel a leaky net's metadata as
    // ReLU with ReLU'(0) = 1, padded with spaces (still JSON) to patch the bytes in place.
    let leaky = net(Activation::leaky(0.1), 6);
    let bytes = onnx_bytes(&leaky).unwrap();
    let acts: Vec<Activation> = leaky.layers.iter().map(|l| l.activation).collect();
    let meta = serde_json::to_string(&acts).unwrap();
    let at = bytes
        .windows(meta.len())
        .position(|w| w == meta.as_bytes())
        .expect("metadata written");
    let mut lie = serde_json::to_string(&[
        Activation::Relu { prime_at_zero: 1.0 },
        Activation::Relu { prime_at_zero: 1.0 },
        Activation::Identity,
    ])
    .unwrap()
    .into_bytes();
    assert!(lie.len() <= meta.len());
    lie.resize(meta.len(), b' ');
    let mut patched = bytes;
    patched[at..at + meta.len()].copy_from_slice(&lie);
    let back = parse_onnx(&patched, "lie").unwrap();
    // The graph's leaky ReLU with its f32 slope attribute, and PyTorch's default LeakyReLU'(0)
    // (the slope), not the metadata's claim.
    let s = 0.1f32 as f64;
    assert_eq!(back.layers[0].activation, Activation::leaky(s));
}
