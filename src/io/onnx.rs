//! ONNX import of feed-forward networks into [`Mlp`], and export. (issue 6)
//!
//! The protobuf messages are written by hand from `onnx.proto` ([`proto`]), decoded with prost.
//! Import ([`load_onnx`], [`parse_onnx`]) interprets the graph symbolically and folds every
//! affine operation into the dense layers (see the `import` module's notes); export
//! ([`save_onnx`], [`onnx_bytes`]) writes one Gemm per layer plus standard activation
//! operators.
//!
//! Supported operators: Gemm (alpha, beta, transA, transB), MatMul with the network tensor on
//! either side (X·W, W·x for 1-D x), Add/Sub/Mul/Div by constants, Neg, BatchNormalization
//! (inference), Relu, LeakyRelu, PRelu,
//! Gelu (opset 20) and the Erf subgraph of older exporters, x·Sigmoid(x) (SiLU), Sigmoid, Tanh,
//! Elu, Softplus, Flatten, Reshape, Squeeze, Unsqueeze, Identity, Dropout (inference), Constant,
//! Cast, and on constants Shape, Gather, Concat, Transpose; initializers may also be listed as
//! graph inputs; default-domain opsets 7–23. Anything else is an error naming the node, its
//! operator and the reason.

mod export;
mod import;
pub mod proto;

use crate::error::{Error, Result};
use crate::net::Mlp;
use prost::Message;
use std::path::Path;

pub use import::OPSETS;

/// Parse an ONNX model held in memory into an `Mlp`; `file` names it in error messages.
pub fn parse_onnx(bytes: &[u8], file: &str) -> Result<Mlp<f32>> {
    let model = proto::ModelProto::decode(bytes)
        .map_err(|e| Error::format(file, "protobuf", format!("not a valid ONNX model: {e}")))?;
    let mlp = import::import_model(&model, file)?;
    for (l, layer) in mlp.layers.iter().enumerate() {
        let finite = layer.weight.iter().all(|v| v.is_finite())
            && layer.bias.iter().flatten().all(|v| v.is_finite())
            && layer.prelu_alpha.iter().all(|v| v.is_finite());
        if !finite {
            return Err(Error::format(
                file,
                format!("layer {l}"),
                "weights are not finite in f32 (NaN, infinity, or folded constants overflow)",
            ));
        }
    }
    Ok(mlp)
}

/// Read a feed-forward ONNX model into an `Mlp`.
pub fn load_onnx(path: &Path) -> Result<Mlp<f32>> {
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    parse_onnx(&bytes, &path.display().to_string())
}

/// The ONNX encoding of `mlp`.
pub fn onnx_bytes(mlp: &Mlp<f32>) -> Result<Vec<u8>> {
    Ok(export::export_model(mlp)?.encode_to_vec())
}

/// Write an `Mlp` as an ONNX model, atomically.
pub fn save_onnx(path: &Path, mlp: &Mlp<f32>) -> Result<()> {
    let bytes = onnx_bytes(mlp).map_err(|e| e.in_file(path))?;
    super::npy::write_atomic(path, &bytes)
}
