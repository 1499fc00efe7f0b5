//! relulab against PyTorch: optimizer steps, state_dict loading and layout.
//!
//! Fixtures from tests/fixtures/make_optim_fixtures.py (PyTorch 2.x, CPU): the network
//! nn.Sequential(Linear(3,5), ReLU(), Linear(5,4), ReLU(), Linear(4,3)), data x [8,3] with
//! labels y, its output, and for each optimizer configuration the state_dict after three
//! full-batch steps of CrossEntropyLoss, e.g.
//!
//! ```python
//! opt = torch.optim.SGD(net.parameters(), lr=0.1, momentum=0.9, weight_decay=0.01)
//! for _ in range(3):
//!     opt.zero_grad(); F.cross_entropy(net(x), y).backward(); opt.step()
//! ```
//!
//! and, for `decay_weights_only`, two parameter groups:
//!
//! ```python
//! groups = [{"params": [p for n, p in net.named_parameters() if n.endswith("weight")]},
//!           {"params": [p for n, p in net.named_parameters() if n.endswith("bias")],
//!            "weight_decay": 0.0}]
//! opt = torch.optim.SGD(groups, lr=0.1, momentum=0.9, weight_decay=0.05)
//! ```

use relulab::io::checkpoint;
use relulab::net::{Grads, Trace, Workspace};
use relulab::net::{Loss, OptimKind, Optimizer, OptimizerConfig, Schedule, TargetSlice};
use relulab::{Activation, Layer, Mlp};
use safetensors::SafeTensors;
use std::path::PathBuf;

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures")).join(name)
}

fn tensor(st: &SafeTensors<'_>, name: &str) -> (Vec<usize>, Vec<f32>) {
    let t = st
        .tensor(name)
        .unwrap_or_else(|_| panic!("fixture tensor {name}"));
    let v = t
        .data()
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect();
    (t.shape().to_vec(), v)
}

fn net_from(st: &SafeTensors<'_>, prefix: &str) -> Mlp<f32> {
    let mut layers = Vec::new();
    for (l, idx) in [0, 2, 4].into_iter().enumerate() {
        let (shape, weight) = tensor(st, &format!("{prefix}.{idx}.weight"));
        let (_, bias) = tensor(st, &format!("{prefix}.{idx}.bias"));
        layers.push(Layer {
            in_dim: shape[1],
            out_dim: shape[0],
            weight,
            bias: Some(bias),
            activation: if l < 2 {
                Activation::RELU
            } else {
                Activation::Identity
            },
            prelu_alpha: Vec::new(),
        });
    }
    Mlp { layers }
}

fn max_abs_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

fn run_steps(config: OptimizerConfig, bytes: &[u8]) -> Mlp<f32> {
    let st = SafeTensors::deserialize(bytes).unwrap();
    let mut mlp = net_from(&st, "init");
    let (_, x) = tensor(&st, "x");
    let (_, y) = tensor(&st, "y");
    let labels: Vec<u32> = y.iter().map(|&v| v as u32).collect();
    let mut opt = Optimizer::new(config);
    let mut ws = Workspace::new(1);
    let (mut trace, mut grads) = (Trace::default(), Grads::default());
    let mut g = vec![0.0f32; 8 * 3];
    for _ in 0..3 {
        trace.input = x.clone();
        trace.batch = 8;
        mlp.forward_ws(&mut trace, &mut ws, 0.0);
        Loss::CrossEntropy
            .eval(
                trace.output(),
                8,
                3,
                TargetSlice::Classes(&labels),
                Some(&mut g),
            )
            .unwrap();
        mlp.backward_ws(&trace, &g, &mut grads, &mut ws, false);
        opt.step(&mut mlp, &grads, config.lr);
    }
    mlp
}

fn config(kind: OptimKind, lr: f64, weight_decay: f64) -> OptimizerConfig {
    OptimizerConfig {
        kind,
        lr,
        weight_decay,
        decay_weights_only: false,
        clip_norm: None,
        schedule: Schedule::Constant,
        warmup_steps: 0,
    }
}

#[test]
fn three_optimizer_steps_match_pytorch() {
    let bytes = std::fs::read(fixture("torch_optim.safetensors")).unwrap();
    let st = SafeTensors::deserialize(&bytes).unwrap();
    let sgd = |momentum, nesterov| OptimKind::Sgd {
        momentum,
        dampening: 0.0,
        nesterov,
    };
    let cases = [
        ("sgd", config(sgd(0.0, false), 0.1, 0.0)),
        ("sgd_momentum_wd", config(sgd(0.9, false), 0.1, 0.01)),
        ("sgd_nesterov", config(sgd(0.9, true), 0.1, 0.0)),
        ("adam", config(OptimKind::ADAM, 0.01, 0.0)),
        ("adam_wd", config(OptimKind::ADAM, 0.01, 0.1)),
        ("adamw", config(OptimKind::ADAMW, 0.01, 0.1)),
        (
            "sgd_momentum_wd_weights",
            OptimizerConfig {
                decay_weights_only: true,
                ..config(sgd(0.9, false), 0.1, 0.05)
            },
        ),
        (
            "adamw_weights",
            OptimizerConfig {
                decay_weights_only: true,
                ..config(OptimKind::ADAMW, 0.01, 0.1)
            },
        ),
    ];
    for (name, cfg) in cases {
        let got = run_steps(cfg, &bytes);
        let want = net_from(&st, name);
        let init = net_from(&st, "init");
        for l in 0..3 {
            let d = max_abs_diff(&got.layers[l].weight, &want.layers[l].weight);
            assert!(d < 1e-5, "{name}: layer {l} weight differs by {d}");
            let db = max_abs_diff(
                got.layers[l].bias.as_ref().unwrap(),
                want.layers[l].bias.as_ref().unwrap(),
            );
            assert!(db < 1e-5, "{name}: layer {l} bias differs by {db}");
            // The fixture must actually move the weights, or the comparison proves nothing.
            let moved = max_abs_diff(&init.layers[l].weight, &want.layers[l].weight);
            assert!(moved > 1e-3, "{name}: layer {l} did not move in PyTorch");
        }
    }
    // The flag matters: decaying the biases too ends measurably elsewhere.
    let all = run_steps(config(sgd(0.9, false), 0.1, 0.05), &bytes);
    let only = net_from(&st, "sgd_momentum_wd_weights");
    let d = max_abs_diff(
        all.layers[0].bias.as_ref().unwrap(),
        only.layers[0].bias.as_ref().unwrap(),
    );
    assert!(d > 1e-3, "bias decay made no difference ({d})");
}

#[test]
fn state_dict_loads_and_forward_matches_pytorch() {
    let mlp =
        checkpoint::load_state_dict(&fixture("torch_seq.safetensors"), Activation::RELU).unwrap();
    assert_eq!(mlp.widths(), vec![3, 5, 4, 3]);
    assert_eq!(mlp.layers[2].activation, Activation::Identity);
    let bytes = std::fs::read(fixture("torch_optim.safetensors")).unwrap();
    let st = SafeTensors::deserialize(&bytes).unwrap();
    let (_, x) = tensor(&st, "x");
    let (_, out) = tensor(&st, "out");
    let mut trace = Trace::default();
    mlp.forward_batch(&x, 8, &mut trace);
    let d = max_abs_diff(trace.output(), &out);
    assert!(d < 1e-6, "forward differs from PyTorch by {d}");
}

#[test]
fn written_state_dict_has_pytorch_layout() {
    // Same keys, shapes and values as the file PyTorch wrote: it loads back into the same
    // nn.Sequential (load_state_dict is strict about exactly these).
    let src = fixture("torch_seq.safetensors");
    let mlp = checkpoint::load_state_dict(&src, Activation::RELU).unwrap();
    let dir = std::env::temp_dir().join(format!("relulab_sd_{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let out = dir.join("model.safetensors");
    checkpoint::save_state_dict(&out, &mlp).unwrap();
    let a = std::fs::read(&src).unwrap();
    let b = std::fs::read(&out).unwrap();
    let (sa, sb) = (
        SafeTensors::deserialize(&a).unwrap(),
        SafeTensors::deserialize(&b).unwrap(),
    );
    let mut na = sa.names();
    let mut nb = sb.names();
    na.sort_unstable();
    nb.sort_unstable();
    assert_eq!(na, nb);
    for n in na {
        let (ta, tb) = (sa.tensor(n).unwrap(), sb.tensor(n).unwrap());
        assert_eq!(ta.shape(), tb.shape(), "{n}");
        assert_eq!(ta.dtype(), tb.dtype(), "{n}");
        assert_eq!(ta.data(), tb.data(), "{n}");
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

fn tensor_f64(st: &SafeTensors<'_>, name: &str) -> Vec<f64> {
    let t = st
        .tensor(name)
        .unwrap_or_else(|_| panic!("fixture tensor {name}"));
    t.data()
        .chunks_exact(8)
        .map(|c| f64::from_le_bytes(c.try_into().unwrap()))
        .collect()
}

/// Losses and their output gradients against PyTorch's definitions (fixture:
/// tests/fixtures/make_loss_fixtures.py, e.g. `F.multi_margin_loss(out3, labels3)` and
/// `torch.clamp(1 - (2*t - 1)*out1, min=0).mean()` for the binary hinge).
#[test]
fn losses_match_pytorch() {
    let bytes = std::fs::read(fixture("torch_losses.safetensors")).unwrap();
    let st = SafeTensors::deserialize(&bytes).unwrap();
    let out3 = tensor_f64(&st, "out3");
    let out1 = tensor_f64(&st, "out1");
    let l3: Vec<u32> = tensor_f64(&st, "labels3")
        .iter()
        .map(|&v| v as u32)
        .collect();
    let l1: Vec<u32> = tensor_f64(&st, "labels1")
        .iter()
        .map(|&v| v as u32)
        .collect();
    let t3: Vec<f32> = tensor_f64(&st, "target3")
        .iter()
        .map(|&v| v as f32)
        .collect();
    // Targets are f32 in relulab: compare against PyTorch with targets rounded to f32.
    let t3_exact: Vec<f64> = tensor_f64(&st, "target3");
    assert!(t3
        .iter()
        .zip(&t3_exact)
        .all(|(a, b)| (*a as f64 - b).abs() < 1e-7));
    let cases: [(&str, Loss, &[f64], usize, TargetSlice<'_>); 6] = [
        ("mse", Loss::Mse, &out3, 3, TargetSlice::Values(&t3)),
        (
            "ce",
            Loss::CrossEntropy,
            &out3,
            3,
            TargetSlice::Classes(&l3),
        ),
        (
            "bce_values",
            Loss::BceWithLogits,
            &out3,
            3,
            TargetSlice::Values(&t3),
        ),
        (
            "bce_labels",
            Loss::BceWithLogits,
            &out1,
            1,
            TargetSlice::Classes(&l1),
        ),
        (
            "multi_margin",
            Loss::Hinge,
            &out3,
            3,
            TargetSlice::Classes(&l3),
        ),
        ("hinge", Loss::Hinge, &out1, 1, TargetSlice::Classes(&l1)),
    ];
    for (name, loss, out, d, t) in cases {
        let want_loss = tensor_f64(&st, &format!("{name}.loss"))[0];
        let want_grad = tensor_f64(&st, &format!("{name}.grad"));
        let mut g = vec![0.0f64; out.len()];
        let got = loss.eval(out, 6, d, t, Some(&mut g)).unwrap().loss / 6.0;
        assert!(
            (got - want_loss).abs() < 1e-6 * want_loss.abs().max(1.0),
            "{name}: loss {got} vs {want_loss}"
        );
        for (k, (a, b)) in g.iter().zip(&want_grad).enumerate() {
            assert!((a - b).abs() < 1e-7, "{name}: grad[{k}] {a} vs {b}");
        }
    }
}
