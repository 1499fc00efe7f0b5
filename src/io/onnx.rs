//! ONNX import of feed-forward networks into [`Mlp`], and export. (issue 6)
//!
//! Placeholder signatures; the implementation lands with issue 6.

use crate::error::{Error, Result};
use crate::net::Mlp;
use std::path::Path;

/// Read a feed-forward ONNX model into an `Mlp`.
pub fn load_onnx(path: &Path) -> Result<Mlp<f32>> {
    Err(Error::Unsupported(format!(
        "{}: ONNX import is not built yet",
        path.display()
    )))
}

/// Write an `Mlp` as an ONNX model, atomically.
pub fn save_onnx(path: &Path, mlp: &Mlp<f32>) -> Result<()> {
    let _ = mlp;
    Err(Error::Unsupported(format!(
        "{}: ONNX export is not built yet",
        path.display()
    )))
}
