//! [`Mlp`] → ONNX: one Gemm per layer (`transB = 1`, W in PyTorch's out × in layout) and the
//! activation as standard operators.
//!
//! | relulab | ONNX |
//! |---|---|
//! | identity | (none) |
//! | relu | Relu |
//! | leaky_relu(α) | LeakyRelu(alpha = α) |
//! | prelu | PRelu with a slope initializer of shape [1] or [out] |
//! | relu_eps(ε) | LeakyRelu(alpha = ε/(1+ε)) then Mul by 1+ε (equal: (1+ε)·leaky(x) = relu(x)+εx) |
//! | gelu, gelu_tanh | Gelu (opset 20), approximate = none / tanh |
//! | sigmoid, tanh, elu(α) | Sigmoid, Tanh, Elu(alpha) |
//! | silu | x · Sigmoid(x) |
//! | softplus(β) | Softplus(β·x)/β (ONNX Softplus has no threshold: the linear branch above βx > 20 differs by < 3e-9) |
//!
//! Not representable and dropped: the derivative-at-zero conventions (ONNX graphs carry no
//! gradients). The opset is 13, or 20 when a GELU layer needs the Gelu operator.

use super::proto::{attribute_type as at, data_type as dt, *};
use crate::activation::Activation;
use crate::error::{Error, Result};
use crate::net::Mlp;

fn tensor(name: &str, dims: &[usize], data: &[f32]) -> TensorProto {
    TensorProto {
        name: name.to_string(),
        dims: dims.iter().map(|&d| d as i64).collect(),
        data_type: dt::FLOAT,
        raw_data: data.iter().flat_map(|v| v.to_le_bytes()).collect(),
        ..Default::default()
    }
}

fn attr_f(name: &str, f: f32) -> AttributeProto {
    AttributeProto {
        name: name.into(),
        r#type: at::FLOAT,
        f,
        ..Default::default()
    }
}

fn node(
    op: &str,
    name: String,
    inputs: &[&str],
    output: &str,
    attrs: Vec<AttributeProto>,
) -> NodeProto {
    NodeProto {
        input: inputs.iter().map(|s| s.to_string()).collect(),
        output: vec![output.to_string()],
        name,
        op_type: op.to_string(),
        attribute: attrs,
        ..Default::default()
    }
}

fn value_info(name: &str, width: usize) -> ValueInfoProto {
    ValueInfoProto {
        name: name.into(),
        r#type: Some(TypeProto {
            tensor_type: Some(TypeProtoTensor {
                elem_type: dt::FLOAT,
                shape: Some(TensorShapeProto {
                    dim: vec![
                        Dimension {
                            dim_param: Some("batch".into()),
                            ..Default::default()
                        },
                        Dimension {
                            dim_value: Some(width as i64),
                            ..Default::default()
                        },
                    ],
                }),
            }),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// Build the ONNX model of `mlp`.
pub(crate) fn export_model(mlp: &Mlp<f32>) -> Result<ModelProto> {
    mlp.validate()
        .map_err(|m| Error::Value(format!("cannot export an invalid network: {m}")))?;
    let needs_gelu = mlp
        .layers
        .iter()
        .any(|l| matches!(l.activation, Activation::Gelu | Activation::GeluTanh));
    let opset = if needs_gelu { 20 } else { 13 };
    let mut nodes = Vec::new();
    let mut inits = Vec::new();
    let mut x = "input".to_string();
    let nl = mlp.layers.len();
    for (l, layer) in mlp.layers.iter().enumerate() {
        let last = l + 1 == nl;
        let out_name = if last {
            "output".to_string()
        } else {
            format!("a{l}")
        };
        let z = if layer.activation == Activation::Identity && last {
            out_name.clone()
        } else {
            format!("z{l}")
        };
        let w = format!("layers.{l}.weight");
        inits.push(tensor(&w, &[layer.out_dim, layer.in_dim], &layer.weight));
        let mut ins = vec![x.as_str(), w.as_str()];
        let b = format!("layers.{l}.bias");
        if let Some(bias) = &layer.bias {
            inits.push(tensor(&b, &[layer.out_dim], bias));
            ins.push(&b);
        }
        let trans_b = AttributeProto {
            name: "transB".into(),
            r#type: at::INT,
            i: 1,
            ..Default::default()
        };
        nodes.push(node(
            "Gemm",
            format!("layer{l}.gemm"),
            &ins,
            &z,
            vec![trans_b],
        ));
        let name = format!("layer{l}.{}", layer.activation.name());
        let scalar = |inits: &mut Vec<TensorProto>, suffix: &str, v: f64| {
            let n = format!("layers.{l}.{suffix}");
            inits.push(tensor(&n, &[], &[v as f32]));
            n
        };
        match layer.activation {
            Activation::Identity => {
                if z != out_name {
                    nodes.push(node("Identity", name, &[&z], &out_name, vec![]));
                }
            }
            Activation::Relu { .. } => nodes.push(node("Relu", name, &[&z], &out_name, vec![])),
            Activation::LeakyRelu { negative_slope, .. } => nodes.push(node(
                "LeakyRelu",
                name,
                &[&z],
                &out_name,
                vec![attr_f("alpha", negative_slope as f32)],
            )),
            Activation::Prelu { .. } => {
                let s = format!("layers.{l}.prelu_alpha");
                inits.push(tensor(&s, &[layer.prelu_alpha.len()], &layer.prelu_alpha));
                nodes.push(node("PRelu", name, &[&z, &s], &out_name, vec![]));
            }
            Activation::ReluEps { eps, .. } => {
                let t = format!("t{l}");
                let alpha = eps / (1.0 + eps);
                nodes.push(node(
                    "LeakyRelu",
                    name.clone(),
                    &[&z],
                    &t,
                    vec![attr_f("alpha", alpha as f32)],
                ));
                let k = scalar(&mut inits, "relu_eps_scale", 1.0 + eps);
                nodes.push(node(
                    "Mul",
                    format!("{name}.scale"),
                    &[&t, &k],
                    &out_name,
                    vec![],
                ));
            }
            Activation::Gelu | Activation::GeluTanh => {
                let approx = if layer.activation == Activation::Gelu {
                    "none"
                } else {
                    "tanh"
                };
                let a = AttributeProto {
                    name: "approximate".into(),
                    r#type: at::STRING,
                    s: approx.as_bytes().to_vec(),
                    ..Default::default()
                };
                nodes.push(node("Gelu", name, &[&z], &out_name, vec![a]));
            }
            Activation::Sigmoid => nodes.push(node("Sigmoid", name, &[&z], &out_name, vec![])),
            Activation::Tanh => nodes.push(node("Tanh", name, &[&z], &out_name, vec![])),
            Activation::Elu { alpha } => nodes.push(node(
                "Elu",
                name,
                &[&z],
                &out_name,
                vec![attr_f("alpha", alpha as f32)],
            )),
            Activation::Silu => {
                let s = format!("s{l}");
                nodes.push(node(
                    "Sigmoid",
                    format!("{name}.sigmoid"),
                    &[&z],
                    &s,
                    vec![],
                ));
                nodes.push(node("Mul", name, &[&z, &s], &out_name, vec![]));
            }
            Activation::Softplus { beta, .. } => {
                if beta == 1.0 {
                    nodes.push(node("Softplus", name, &[&z], &out_name, vec![]));
                } else {
                    let (u, v) = (format!("u{l}"), format!("v{l}"));
                    let kb = scalar(&mut inits, "softplus_beta", beta);
                    let ki = scalar(&mut inits, "softplus_inv_beta", 1.0 / beta);
                    nodes.push(node("Mul", format!("{name}.beta"), &[&z, &kb], &u, vec![]));
                    nodes.push(node("Softplus", name.clone(), &[&u], &v, vec![]));
                    nodes.push(node(
                        "Mul",
                        format!("{name}.inv_beta"),
                        &[&v, &ki],
                        &out_name,
                        vec![],
                    ));
                }
            }
        }
        x = out_name;
    }
    let graph = GraphProto {
        node: nodes,
        name: "relulab_mlp".into(),
        initializer: inits,
        input: vec![value_info("input", mlp.input_dim())],
        output: vec![value_info("output", mlp.output_dim())],
        ..Default::default()
    };
    Ok(ModelProto {
        ir_version: if opset >= 20 { 9 } else { 7 },
        opset_import: vec![OperatorSetIdProto {
            domain: String::new(),
            version: opset,
        }],
        producer_name: "relulab".into(),
        producer_version: env!("CARGO_PKG_VERSION").into(),
        graph: Some(graph),
        // What the operators cannot carry (ReLU'(0), softplus's threshold): read back by
        // relulab's importer when it agrees with the graph, ignored by other tools.
        metadata_props: vec![StringStringEntryProto {
            key: super::import::ACTIVATIONS_KEY.into(),
            value: serde_json::to_string(
                &mlp.layers.iter().map(|l| l.activation).collect::<Vec<_>>(),
            )
            .expect("activations serialise"),
        }],
        ..Default::default()
    })
}
