//! relulab checkpoints and PyTorch `nn.Sequential` state_dicts in safetensors. (issue 3)
//!
//! Placeholder signatures; the implementation lands with issue 3.

use crate::activation::Activation;
use crate::error::{Error, Result};
use crate::net::Mlp;
use std::path::Path;

/// Load the network from a relulab checkpoint (safetensors with relulab metadata).
pub fn load_checkpoint(path: &Path) -> Result<Mlp<f32>> {
    Err(Error::Unsupported(format!(
        "{}: checkpoint loading is not built yet",
        path.display()
    )))
}

/// Save a network as a relulab checkpoint, atomically.
pub fn save_checkpoint(path: &Path, mlp: &Mlp<f32>) -> Result<()> {
    let _ = mlp;
    Err(Error::Unsupported(format!(
        "{}: checkpoint saving is not built yet",
        path.display()
    )))
}

/// Load a PyTorch `nn.Sequential` state_dict (`{i}.weight`, `{i}.bias`) saved with
/// safetensors; `hidden` is the activation between the Linear layers (the file does not say).
pub fn load_state_dict(path: &Path, hidden: Activation) -> Result<Mlp<f32>> {
    let _ = hidden;
    Err(Error::Unsupported(format!(
        "{}: state_dict loading is not built yet",
        path.display()
    )))
}
