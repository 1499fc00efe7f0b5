//! Models and data in and out: relulab checkpoints and PyTorch state_dicts (safetensors),
//! ONNX, NPY/NPZ.

use crate::error::{Error, Result};
use crate::net::Mlp;
use std::path::Path;

/// Load a network from any supported model file, chosen by extension:
/// `.onnx` (ONNX graph), `.safetensors` (relulab checkpoint, or a PyTorch `nn.Sequential`
/// state_dict when `activation_hint` names the hidden activation).
pub fn load_model(path: &Path, activation_hint: Option<crate::Activation>) -> Result<Mlp<f32>> {
    let _ = activation_hint;
    match path.extension().and_then(|e| e.to_str()) {
        Some("onnx") => Err(Error::Unsupported(format!(
            "{}: ONNX import is not built yet",
            path.display()
        ))),
        Some("safetensors") => Err(Error::Unsupported(format!(
            "{}: checkpoint loading is not built yet",
            path.display()
        ))),
        _ => Err(Error::Invalid(format!(
            "{}: unknown model format (expected .safetensors or .onnx)",
            path.display()
        ))),
    }
}
