//! ONNX import against onnxruntime: every fixture under tests/fixtures/onnx (made by
//! tests/fixtures/onnx/make_fixtures.py with PyTorch's exporter and onnx.helper) and the
//! vnncomp 2021 networks (ACAS Xu and the test set, read in place from the shared folder; when
//! it or a network is absent the check is reported as not run, a failure under `CI=true`) are
//! imported and evaluated on the inputs saved next to them; the
//! outputs must equal onnxruntime's within 1e-5 relative.

use relulab::io::npy::{read_npy_f64, read_npz_f64, NpyArray};
use relulab::io::onnx::load_onnx;
use relulab::Mlp;
use std::path::{Path, PathBuf};

fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/onnx")
}

mod common;

/// Tolerance on the relative error of each output, measured against the magnitude of what was
/// summed to make it: rel_i = |ours_i − ort_i| / max(|ort_i|, μ_i), where μ is the running
/// magnitude μ_0 = |x|, μ_l = |f_l'(z_l)| ⊙ (|W_l|·μ_{l−1} + |b_l|) (first-order running error
/// analysis; the scale of Higham's componentwise bound for dot products, Accuracy and Stability
/// of Numerical Algorithms, 2nd ed., §3.1). Plain |ort_i| alone is meaningless for a
/// near-cancelling output: onnxruntime computes in f32, relulab's reference in f64, and both are
/// right to ~1e-7 of the terms' size, not of a small result.
const RTOL: f64 = 1e-5;

/// Largest relative error (see [`RTOL`]) over all samples and outputs, and (for the record) the
/// largest normwise relative error max_i |ours_i − ort_i| / max_i |ort_i| of a sample.
fn compare(mlp: &Mlp<f32>, x: &NpyArray<f64>, y: &NpyArray<f64>, what: &str) -> (f64, f64) {
    let n = x.shape[0];
    let d_in = x.len() / n;
    let d_out = y.len() / n;
    assert_eq!(mlp.input_dim(), d_in, "{what}: input width");
    assert_eq!(mlp.output_dim(), d_out, "{what}: output width");
    let m64 = mlp.cast::<f64>();
    let (mut worst, mut normwise) = (0.0f64, 0.0f64);
    for s in 0..n {
        let xs = &x.data[s * d_in..(s + 1) * d_in];
        let (zs, out) = m64.forward_trace_one(xs);
        let mut mu: Vec<f64> = xs.iter().map(|v| v.abs()).collect();
        for (layer, z) in m64.layers.iter().zip(&zs) {
            mu = (0..layer.out_dim)
                .map(|j| {
                    let sum: f64 = layer.row(j).iter().zip(&mu).map(|(w, m)| w.abs() * m).sum();
                    layer.unit_activation(j).df(z[j]).abs() * (sum + layer.bias_at(j).abs())
                })
                .collect();
        }
        let ys = &y.data[s * d_out..(s + 1) * d_out];
        let ymax = ys.iter().fold(f64::MIN_POSITIVE, |a, b| a.max(b.abs()));
        for (j, (&a, &b)) in out.iter().zip(ys).enumerate() {
            normwise = normwise.max((a - b).abs() / ymax);
            let rel = (a - b).abs() / b.abs().max(mu[j]).max(f64::MIN_POSITIVE);
            assert!(
                rel <= RTOL,
                "{what}: sample {s} output {j}: relulab {a} vs onnxruntime {b} (rel {rel:.2e})"
            );
            worst = worst.max(rel);
        }
    }
    (worst, normwise)
}

#[test]
fn fixtures_match_onnxruntime() {
    let dir = fixtures();
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .filter_map(|e| {
            let n = e.unwrap().file_name().into_string().unwrap();
            n.strip_suffix(".output.npy").map(str::to_string)
        })
        .collect();
    names.sort();
    assert!(names.len() >= 12, "fixtures missing: {names:?}");
    for name in &names {
        let mlp = load_onnx(&dir.join(format!("{name}.onnx"))).unwrap_or_else(|e| panic!("{e}"));
        let x = read_npy_f64(&dir.join(format!("{name}.input.npy"))).unwrap();
        let y = read_npy_f64(&dir.join(format!("{name}.output.npy"))).unwrap();
        let (worst, nw) = compare(&mlp, &x, &y, name);
        println!(
            "{name}: {} layers, max rel err {worst:.2e} (normwise {nw:.2e})",
            mlp.layers.len()
        );
    }
}

#[test]
fn vnncomp_networks_match_onnxruntime() {
    let Some(shared) = common::shared_or_skip("vnncomp_networks_match_onnxruntime") else {
        return; // reported by shared_or_skip (a failure under CI)
    };
    let refs = read_npz_f64(&fixtures().join("vnncomp_outputs.npz")).unwrap();
    let mut seen = 0;
    for (key, x) in &refs {
        let Some(net) = key.strip_suffix(".input") else {
            continue;
        };
        let y = &refs
            .iter()
            .find(|(k, _)| *k == format!("{net}.output"))
            .expect("output saved with input")
            .1;
        let path = ["acasxu", "test"]
            .iter()
            .map(|d| shared.join("benchmarks/vnncomp2021").join(d).join(net))
            .find(|p| p.is_file());
        let Some(path) = path else {
            common::cannot_run(
                &format!("vnncomp_networks_match_onnxruntime/{net}"),
                "the network is not in the shared folder",
            );
            continue;
        };
        let mlp = load_onnx(&path).unwrap_or_else(|e| panic!("{e}"));
        let (worst, nw) = compare(&mlp, x, y, net);
        println!(
            "{net}: widths {:?}, max rel err {worst:.2e} (normwise {nw:.2e})",
            mlp.widths()
        );
        seen += 1;
    }
    assert!(seen > 0, "no vnncomp network checked");
}

#[test]
fn acas_xu_structure_is_folded() {
    let Some(shared) = common::shared_or_skip("acas_xu_structure_is_folded") else {
        return; // reported by shared_or_skip (a failure under CI)
    };
    let p = shared.join("benchmarks/vnncomp2021/acasxu/ACASXU_run2a_1_1_batch_2000.onnx");
    // A missing file is a load error, and a load error is a failure.
    let mlp = load_onnx(&p).unwrap_or_else(|e| panic!("{e}"));
    // 5 inputs, six hidden ReLU layers of 50, 5 outputs; the input Sub folds into layer 0.
    assert_eq!(mlp.widths(), vec![5, 50, 50, 50, 50, 50, 50, 5]);
    for l in &mlp.layers[..6] {
        assert_eq!(l.activation, relulab::Activation::RELU);
    }
    assert_eq!(mlp.layers[6].activation, relulab::Activation::Identity);
}

fn err_of(name: &str) -> String {
    load_onnx(&fixtures().join(name)).unwrap_err().to_string()
}

#[test]
fn unsupported_models_name_the_node() {
    let e = err_of("unsupported_residual.onnx");
    assert!(e.contains("skip_add") && e.contains("residual"), "{e}");
    let e = err_of("unsupported_op.onnx");
    assert!(e.contains("'probs'") && e.contains("Softmax"), "{e}");
    let e = load_onnx(Path::new("/nonexistent/m.onnx"))
        .unwrap_err()
        .to_string();
    assert!(e.contains("/nonexistent/m.onnx"), "{e}");
}

#[test]
fn activations_and_folding_of_fixtures() {
    use relulab::Activation as A;
    let acts = |name: &str| -> Vec<A> {
        load_onnx(&fixtures().join(name))
            .unwrap()
            .layers
            .iter()
            .map(|l| l.activation)
            .collect()
    };
    assert_eq!(
        acts("torch_gelu_erf_op13.onnx"),
        vec![A::Gelu, A::Gelu, A::Identity]
    );
    assert_eq!(
        acts("torch_prelu_shared_gelu_tanh_op20.onnx")[1..],
        [A::GeluTanh, A::Identity]
    );
    assert_eq!(acts("torch_silu_elu_softplus_op13.onnx")[..1], [A::Silu]);
    // Normalisation (Sub, Div) and Flatten fold into the first layer: 3 layers, not more.
    assert_eq!(acts("torch_norm_flatten_sigmoid_tanh_op13.onnx").len(), 3);
    let m = load_onnx(&fixtures().join("torch_prelu_gelu_op20.onnx")).unwrap();
    assert_eq!(m.layers[0].prelu_alpha.len(), 6);
    let m = load_onnx(&fixtures().join("torch_matmul_add_op9.onnx")).unwrap();
    assert!(m.layers[0].bias.is_none() && m.layers[1].bias.is_some());
}
