//! Models and data in and out: relulab checkpoints and PyTorch state_dicts (safetensors),
//! ONNX, NPY/NPZ.

pub mod checkpoint;
pub mod npy;
pub mod onnx;

use crate::activation::Activation;
use crate::error::{Error, Result};
use crate::net::Mlp;
use std::path::Path;

/// Load a network from any supported model file, chosen by extension: `.onnx` (ONNX graph) or
/// `.safetensors` (a relulab checkpoint; or, when `state_dict_hidden` is given, a PyTorch
/// `nn.Sequential` state_dict whose hidden activation it names).
pub fn load_model(path: &Path, state_dict_hidden: Option<Activation>) -> Result<Mlp<f32>> {
    match path.extension().and_then(|e| e.to_str()) {
        Some("onnx") => onnx::load_onnx(path),
        Some("safetensors") => match state_dict_hidden {
            Some(act) => checkpoint::load_state_dict(path, act),
            None => checkpoint::load_checkpoint(path),
        },
        _ => Err(Error::Value(format!(
            "{}: unknown model format (expected .safetensors or .onnx)",
            path.display()
        ))),
    }
}
