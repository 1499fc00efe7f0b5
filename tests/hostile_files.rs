//! Hostile files: malformed input is an error with a message, never a panic, never an
//! allocation sized by a header's claim.
//!
//! * Every file under tests/fixtures/hostile/{npy,npz,onnx}/ (crashes and slow units found by
//!   the fuzzers in fuzz/, kept as regressions, see README "Hostile files"; and hand-made
//!   invalid files, which must be rejected) must be rejected or read without panicking; each
//!   folder must hold at least one file.
//! * Hand-made files that claim huge tensors are rejected before allocating.
//! * Every truncation and many single-byte corruptions of the ONNX fixtures are handled (a
//!   deterministic stand-in for the fuzzer that runs in `cargo test`).

use prost::Message;
use relulab::io::npy::{parse_npy_f64, parse_npz_f64};
use relulab::io::onnx::parse_onnx;
use relulab::io::onnx::proto::{
    Dimension, GraphProto, ModelProto, NodeProto, OperatorSetIdProto, TensorProto,
    TensorShapeProto, TypeProto, TypeProtoTensor, ValueInfoProto,
};
use std::path::PathBuf;

fn dir(sub: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(sub)
}

/// Runs `f(bytes, path, made_by_hand)` on every file of tests/fixtures/`sub` and returns how
/// many there were. The folder is part of the repository: a missing or empty folder fails the
/// test instead of passing with nothing checked. Files the fuzzers found are named `crash-…`,
/// `slow-unit-…`, `timeout-…` or `oom-…`; the others were made by hand to be invalid.
fn each_file(sub: &str, f: impl Fn(&[u8], &str, bool)) -> usize {
    let mut n = 0;
    let rd = std::fs::read_dir(dir(sub)).unwrap_or_else(|e| panic!("{}: {e}", dir(sub).display()));
    for e in rd {
        let p = e.unwrap().path();
        if p.is_file() {
            let file = p.file_name().unwrap().to_string_lossy().into_owned();
            let fuzzed = ["crash-", "slow-unit-", "timeout-", "oom-"]
                .iter()
                .any(|pre| file.starts_with(pre));
            f(
                &std::fs::read(&p).unwrap(),
                &p.display().to_string(),
                !fuzzed,
            );
            n += 1;
        }
    }
    assert!(n > 0, "no hostile files under {}", dir(sub).display());
    n
}

/// The outcome of parsing one hostile file: an error must name the file; a hand-made file (all
/// of them invalid) must be an error.
fn check<T>(r: relulab::Result<T>, name: &str, made_by_hand: bool) {
    match r {
        Err(e) => assert!(e.to_string().contains(name), "{name}: {e}"),
        Ok(_) => assert!(!made_by_hand, "{name}: an invalid file was accepted"),
    }
}

#[test]
fn fuzzer_regressions_do_not_panic() {
    let n = each_file("hostile/npy", |b, name, hand| {
        check(parse_npy_f64(b, name), name, hand)
    }) + each_file("hostile/npz", |b, name, hand| {
        check(parse_npz_f64(b, name), name, hand)
    }) + each_file("hostile/onnx", |b, name, hand| {
        check(parse_onnx(b, name), name, hand)
    });
    println!("{n} regression files");
}

fn vi(name: &str, dims: &[i64]) -> ValueInfoProto {
    ValueInfoProto {
        name: name.into(),
        r#type: Some(TypeProto {
            tensor_type: Some(TypeProtoTensor {
                elem_type: 1,
                shape: Some(TensorShapeProto {
                    dim: dims
                        .iter()
                        .map(|&d| Dimension {
                            dim_value: Some(d),
                            ..Default::default()
                        })
                        .collect(),
                }),
            }),
            ..Default::default()
        }),
        ..Default::default()
    }
}

fn model(input: &[i64], nodes: Vec<NodeProto>, inits: Vec<TensorProto>) -> Vec<u8> {
    ModelProto {
        ir_version: 7,
        opset_import: vec![OperatorSetIdProto {
            domain: String::new(),
            version: 13,
        }],
        graph: Some(GraphProto {
            node: nodes,
            initializer: inits,
            input: vec![vi("x", input)],
            output: vec![vi("y", &[1, 2])],
            ..Default::default()
        }),
        ..Default::default()
    }
    .encode_to_vec()
}

fn node(op: &str, ins: &[&str], out: &str) -> NodeProto {
    NodeProto {
        op_type: op.into(),
        name: format!("{op}_0"),
        input: ins.iter().map(|s| s.to_string()).collect(),
        output: vec![out.into()],
        ..Default::default()
    }
}

#[test]
fn huge_claims_are_rejected_before_allocating() {
    // A weight claiming 10^6 × 10^6 floats with 8 bytes of data.
    let w = TensorProto {
        name: "W".into(),
        dims: vec![1_000_000, 1_000_000],
        data_type: 1,
        raw_data: vec![0; 8],
        ..Default::default()
    };
    let b = model(
        &[1, 1_000_000],
        vec![node("MatMul", &["x", "W"], "y")],
        vec![w],
    );
    let e = parse_onnx(&b, "huge.onnx").unwrap_err().to_string();
    assert!(
        e.contains("initializer 'W'") && e.contains("holds 2"),
        "{e}"
    );
    // Dimensions whose product overflows.
    let w = TensorProto {
        name: "W".into(),
        dims: vec![1 << 40, 1 << 40],
        data_type: 1,
        ..Default::default()
    };
    let b = model(&[1, 4], vec![node("MatMul", &["x", "W"], "y")], vec![w]);
    let e = parse_onnx(&b, "overflow.onnx").unwrap_err().to_string();
    assert!(e.contains("too many elements"), "{e}");
    // An input claiming 10^12 features.
    let b = model(
        &[1, 1_000_000_000_000],
        vec![node("Relu", &["x"], "y")],
        vec![],
    );
    let e = parse_onnx(&b, "wide.onnx").unwrap_err().to_string();
    assert!(
        e.contains("input 'x'") && e.contains("unusable input shape"),
        "{e}"
    );
    // A rank-1 × rank-1 broadcast of constants that would make a 10^6 × 10^6 product, from
    // two small tensors: [10^6, 1] + [1, 10^6] needs 10^12 values.
    let col = TensorProto {
        name: "c".into(),
        dims: vec![1_000_000, 1],
        data_type: 1,
        float_data: vec![0.0; 1_000_000],
        ..Default::default()
    };
    let row = TensorProto {
        name: "r".into(),
        dims: vec![1, 1_000_000],
        data_type: 1,
        float_data: vec![0.0; 1_000_000],
        ..Default::default()
    };
    let b = model(
        &[1, 2],
        vec![node("Add", &["c", "r"], "k"), node("Add", &["x", "k"], "y")],
        vec![col, row],
    );
    let e = parse_onnx(&b, "bcast.onnx").unwrap_err().to_string();
    assert!(e.contains("Add_0") && e.contains("over the limit"), "{e}");
    // NPY: 10^12 elements claimed, 8 bytes present.
    let mut npy = b"\x93NUMPY\x01\x00".to_vec();
    let h = "{'descr': '<f8', 'fortran_order': False, 'shape': (1000000, 1000000), }";
    npy.extend_from_slice(&(h.len() as u16).to_le_bytes());
    npy.extend_from_slice(h.as_bytes());
    npy.extend_from_slice(&[0; 8]);
    let e = parse_npy_f64(&npy, "big.npy").unwrap_err().to_string();
    assert!(e.contains("1000000000000 elements"), "{e}");
}

#[test]
fn malformed_models_have_messages() {
    let cases: Vec<(Vec<u8>, &str)> = vec![
        (
            b"not a protobuf at all \xff\xff\xff".to_vec(),
            "not a valid ONNX model",
        ),
        (Vec::new(), "opset 1 is outside"),
        (
            model(&[1, 2], vec![node("Relu", &["nope"], "y")], vec![]),
            "input 'nope' is not produced",
        ),
        (
            model(&[1, 2], vec![node("Relu", &["x"], "z")], vec![]),
            "input 'y' is not produced",
        ),
        (
            model(&[1, 2], vec![node("Mul", &["x", "x"], "y")], vec![]),
            "not affine",
        ),
        (
            model(&[1, 2], vec![node("LSTM", &["x"], "y")], vec![]),
            "operator 'LSTM'",
        ),
        // Fuzzing find (onnx_graph target): W·x with x squeezed to a scalar underflowed a
        // rank index.
        (
            model(
                &[1],
                vec![
                    node("Squeeze", &["x"], "s"),
                    node("MatMul", &["W", "s"], "y"),
                ],
                vec![TensorProto {
                    name: "W".into(),
                    dims: vec![1, 1],
                    data_type: 1,
                    float_data: vec![2.0],
                    ..Default::default()
                }],
            ),
            "MatMul of a scalar",
        ),
    ];
    for (bytes, want) in cases {
        let e = parse_onnx(&bytes, "bad.onnx").unwrap_err().to_string();
        assert!(
            e.contains(want) && e.contains("bad.onnx"),
            "want '{want}': {e}"
        );
    }
}

#[test]
fn truncated_and_corrupted_onnx_fixtures_never_panic() {
    for f in [
        "torch_gelu_erf_op13.onnx",
        "helper_gemm_trans_alpha_beta_op13.onnx",
    ] {
        let bytes = std::fs::read(dir("onnx").join(f)).unwrap();
        for n in (0..bytes.len()).step_by(7) {
            let _ = parse_onnx(&bytes[..n], f);
        }
        for i in 0..bytes.len() {
            for x in [0u8, 0xff, bytes[i] ^ 0x10] {
                let mut b = bytes.clone();
                b[i] = x;
                if let Err(e) = parse_onnx(&b, f) {
                    assert!(!e.to_string().is_empty());
                }
            }
        }
    }
}
