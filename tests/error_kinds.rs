//! Errors are matchable by kind (issue 17, item 5): each kind is produced where its failure
//! happens, and the message still names what and where.

use relulab::io::load_model;
use relulab::train::parse_activation;
use relulab::{Activation, Error, Layer, Mlp};
use std::path::Path;

#[test]
fn a_missing_file_is_io_and_names_the_file() {
    let p = Path::new("no/such/dir/model.safetensors");
    match load_model(p, None) {
        Err(e @ Error::Io { .. }) => assert!(e.to_string().contains("model.safetensors"), "{e}"),
        other => panic!("expected Io, got {other:?}"),
    }
}

#[test]
fn a_malformed_file_is_format_and_locates_the_fault() {
    let dir = std::env::temp_dir().join(format!("relulab-kinds-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let p = dir.join("broken.onnx");
    std::fs::write(&p, b"\x0a\xff\xff\xff\xff\x0f").unwrap();
    let r = load_model(&p, None);
    std::fs::remove_dir_all(&dir).ok();
    match r {
        Err(e @ Error::Format { .. }) => assert!(e.to_string().contains("broken.onnx"), "{e}"),
        other => panic!("expected Format, got {other:?}"),
    }
}

#[test]
fn widths_that_do_not_chain_are_shape_and_name_the_layer() {
    let mlp: Mlp<f32> = Mlp {
        layers: vec![
            Layer::zeros(3, 4, true, Activation::RELU),
            Layer::zeros(5, 1, true, Activation::Identity),
        ],
    };
    match mlp.validate() {
        Err(Error::Shape(m)) => assert!(m.contains("layer 1") && m.contains("4"), "{m}"),
        other => panic!("expected Shape, got {other:?}"),
    }
}

#[test]
fn out_of_domain_parameters_are_value_errors() {
    match parse_activation("relu(prime_at_zero=2)") {
        Err(Error::Value(m)) => assert!(m.contains("prime_at_zero") && m.contains('2'), "{m}"),
        other => panic!("expected Value, got {other:?}"),
    }
    match parse_activation("relu(") {
        Err(Error::Value(m)) => assert!(m.contains("missing ')'"), "{m}"),
        other => panic!("expected Value, got {other:?}"),
    }
    let mut mlp: Mlp<f32> = Mlp {
        layers: vec![Layer::zeros(
            2,
            1,
            true,
            Activation::Softplus {
                beta: -1.0,
                threshold: 20.0,
            },
        )],
    };
    match mlp.validate() {
        Err(Error::Value(m)) => assert!(m.contains("layer 0") && m.contains("beta"), "{m}"),
        other => panic!("expected Value, got {other:?}"),
    }
    mlp.layers[0].activation = Activation::GeluTanh;
    match relulab::verify::PwlNet::from_mlp(&mlp) {
        Err(e @ Error::Unsupported(_)) => assert!(e.to_string().contains("layer 0"), "{e}"),
        other => panic!("expected Unsupported, got {other:?}"),
    }
}

#[test]
fn in_file_prefixes_the_file_once() {
    let e = Error::Shape("3 values, expected 4".into()).in_file(Path::new("x.npy"));
    assert_eq!(e.to_string(), "x.npy: 3 values, expected 4");
    let io = Error::io("a.bin", std::io::Error::other("boom")).in_file(Path::new("b.bin"));
    assert_eq!(io.to_string(), "a.bin: boom", "Io already names its file");
}
