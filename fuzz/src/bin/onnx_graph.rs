//! Structure-aware fuzz target for the ONNX importer: the fuzzer's bytes choose a small graph of
//! supported (and a few unsupported) operators with random shapes, attributes and constants,
//! so the interpreter's shape and folding logic is exercised far more than by mutating
//! protobuf bytes. Never a panic; a model that imports must validate and evaluate to finite or
//! non-finite numbers without panicking.
#![no_main]
use prost::Message;
use relulab::io::onnx::proto::*;

struct Bytes<'a>(&'a [u8]);

impl Bytes<'_> {
    fn u8(&mut self) -> u8 {
        match self.0.split_first() {
            Some((b, rest)) => {
                self.0 = rest;
                *b
            }
            None => 0,
        }
    }
    fn pick<'s>(&mut self, xs: &[&'s str]) -> &'s str {
        xs[self.u8() as usize % xs.len()]
    }
    fn small(&mut self) -> i64 {
        (self.u8() % 6) as i64
    }
    fn f(&mut self) -> f32 {
        (self.u8() as i8) as f32 / 16.0
    }
}

const OPS: &[&str] = &[
    "Gemm",
    "MatMul",
    "Add",
    "Sub",
    "Mul",
    "Div",
    "Neg",
    "Relu",
    "LeakyRelu",
    "PRelu",
    "Gelu",
    "Sigmoid",
    "Tanh",
    "Elu",
    "Softplus",
    "Flatten",
    "Reshape",
    "Squeeze",
    "Unsqueeze",
    "Identity",
    "Transpose",
    "Shape",
    "Gather",
    "Concat",
    "Cast",
    "Erf",
    "BatchNormalization",
    "Dropout",
    "Softmax",
];

fn tensor(b: &mut Bytes, name: String) -> TensorProto {
    let rank = b.u8() % 4;
    let dims: Vec<i64> = (0..rank).map(|_| b.small()).collect();
    let n: i64 = dims.iter().product();
    let int = b.u8().is_multiple_of(4);
    let mut t = TensorProto {
        name,
        dims,
        data_type: if int { 7 } else { 1 },
        ..Default::default()
    };
    // Usually the right number of values, sometimes not.
    let count = if b.u8().is_multiple_of(8) {
        b.small()
    } else {
        n
    };
    for _ in 0..count {
        if int {
            t.int64_data.push((b.u8() as i8) as i64);
        } else {
            t.float_data.push(b.f());
        }
    }
    t
}

fn attr_i(name: &str, i: i64) -> AttributeProto {
    AttributeProto {
        name: name.into(),
        r#type: 2,
        i,
        ..Default::default()
    }
}

fn attr_f(name: &str, f: f32) -> AttributeProto {
    AttributeProto {
        name: name.into(),
        r#type: 1,
        f,
        ..Default::default()
    }
}

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let mut b = Bytes(data);
    let in_rank = 1 + b.u8() % 3;
    let in_dims: Vec<i64> = (0..in_rank).map(|_| 1 + b.small()).collect();
    let mut names = vec!["x".to_string()];
    let mut inits = Vec::new();
    for k in 0..(b.u8() % 5) {
        let name = format!("c{k}");
        inits.push(tensor(&mut b, name.clone()));
        names.push(name);
    }
    let mut nodes = Vec::new();
    let n_nodes = 1 + b.u8() % 8;
    for k in 0..n_nodes {
        let op = b.pick(OPS);
        let n_in = match op {
            "Gemm" => 2 + (b.u8() % 2) as usize,
            "MatMul" | "Add" | "Sub" | "Mul" | "Div" | "PRelu" | "Reshape" | "Gather"
            | "Concat" => 2,
            "Squeeze" | "Unsqueeze" => 1 + (b.u8() % 2) as usize,
            "BatchNormalization" => 5,
            _ => 1,
        };
        let refs: Vec<&str> = names.iter().map(String::as_str).collect();
        let inputs: Vec<String> = (0..n_in).map(|_| b.pick(&refs).to_string()).collect();
        let mut attribute = Vec::new();
        match op {
            "Gemm" => {
                attribute.push(attr_i("transA", (b.u8() % 2) as i64));
                attribute.push(attr_i("transB", (b.u8() % 2) as i64));
                attribute.push(attr_f("alpha", b.f()));
                attribute.push(attr_f("beta", b.f()));
            }
            "Flatten" | "Gather" => attribute.push(attr_i("axis", b.small() - 3)),
            "LeakyRelu" | "Elu" => attribute.push(attr_f("alpha", b.f())),
            "Transpose" => attribute.push(AttributeProto {
                name: "perm".into(),
                r#type: 7,
                ints: (0..b.u8() % 4).map(|_| b.small() - 2).collect(),
                ..Default::default()
            }),
            "Squeeze" | "Unsqueeze" => attribute.push(AttributeProto {
                name: "axes".into(),
                r#type: 7,
                ints: (0..b.u8() % 3).map(|_| b.small() - 3).collect(),
                ..Default::default()
            }),
            "Cast" => attribute.push(attr_i("to", (b.u8() % 14) as i64)),
            _ => {}
        }
        let out = if k + 1 == n_nodes {
            "y".to_string()
        } else {
            format!("t{k}")
        };
        nodes.push(NodeProto {
            input: inputs,
            output: vec![out.clone()],
            name: format!("n{k}"),
            op_type: op.into(),
            attribute,
            ..Default::default()
        });
        names.push(out);
    }
    let vi = |name: &str, dims: &[i64]| ValueInfoProto {
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
    };
    let model = ModelProto {
        ir_version: 7,
        opset_import: vec![OperatorSetIdProto {
            domain: String::new(),
            version: 7 + (b.u8() % 17) as i64,
        }],
        graph: Some(GraphProto {
            node: nodes,
            initializer: inits,
            input: vec![vi("x", &in_dims)],
            output: vec![vi("y", &[])],
            ..Default::default()
        }),
        ..Default::default()
    };
    let bytes = model.encode_to_vec();
    // To keep a crash as a regression file: RELULAB_FUZZ_DUMP=out.onnx BINARY crash-file
    if let Ok(p) = std::env::var("RELULAB_FUZZ_DUMP") {
        std::fs::write(p, &bytes).unwrap();
    }
    match relulab::io::onnx::parse_onnx(&bytes, "fuzz.onnx") {
        Ok(m) => {
            assert!(m.validate().is_ok());
            let x = vec![0.5f32; m.input_dim()];
            let _ = m.forward_one(&x);
        }
        Err(e) => assert!(!e.to_string().is_empty()),
    }
});
