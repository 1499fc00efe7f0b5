//! Verification of ReLU-family networks (issue 7): VNN-LIB properties ([`vnnlib`]), sound
//! output bounds (IBP, CROWN, α-CROWN, forward symbolic; [`bounds`]), complete verification by
//! input-space branch and bound with a falsifier ([`bab`]), and benchmark campaigns in the
//! VNN-COMP layout ([`campaign`]).
//!
//! # Soundness
//! The verifier decides the property for the real-arithmetic network whose weights are the
//! model's (f32) values, with the property's numbers read as the nearest f64. Bounds are
//! computed in f64; every rounding is accounted for by directed rounding of relaxation lines
//! and a rigorous error term on every sum ([`fp`]), so `unsat` never rests on a rounded value.
//! Every `sat` carries a witness accepted by [`bab::Checker`]: inside the box after rounding to
//! f32, unsafe under a sound interval evaluation at the point, and unsafe under plain f64 and
//! f32 forward passes.

pub mod bab;
pub mod bounds;
pub mod campaign;
pub mod engine;
pub mod fp;
pub mod net;
pub mod relu_bab;
pub mod vnnlib;

pub use bab::{verify, Outcome, Strategy, Verdict, VerifyOptions, Witness};
pub use bounds::{output_bounds, LayerBounds, Method};
pub use net::PwlNet;
pub use relu_bab::{Branching, ReluSplitOptions};
pub use vnnlib::{load_vnnlib, parse_vnnlib, Property};

/// The longest time limit accepted anywhere (seconds, about 31.7 years): larger ones overflow
/// `Instant` arithmetic, and no search here needs them.
pub const MAX_SECONDS: f64 = 1e9;

/// `s` seconds as a time limit: `None` unless finite, at most [`MAX_SECONDS`] and above 0
/// (or equal to 0 with `zero_ok`).
pub fn time_limit(s: f64, zero_ok: bool) -> Option<std::time::Duration> {
    let low = if zero_ok { s >= 0.0 } else { s > 0.0 };
    (low && s <= MAX_SECONDS).then(|| std::time::Duration::from_secs_f64(s))
}

use crate::error::{Error, Result};
use crate::net::Mlp;
use std::path::Path;

/// Load a network for verification: any format [`crate::io::load_model`] reads (ONNX,
/// safetensors checkpoint), or a JSON file holding the serde form of `Mlp<f32>` (`.json`).
pub fn load_network(path: &Path) -> Result<Mlp<f32>> {
    load_network_with(path, None)
}

/// [`load_network`], with the hidden activation a PyTorch state_dict needs
/// ([`crate::io::load_model`]'s `hidden`; other formats carry their own).
pub fn load_network_with(path: &Path, hidden: Option<crate::Activation>) -> Result<Mlp<f32>> {
    if path.extension().and_then(|e| e.to_str()) != Some("json") {
        return crate::io::load_model(path, hidden);
    }
    let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
    let m: Mlp<f32> = serde_json::from_str(&text).map_err(|e| {
        Error::format(
            path.display(),
            format!("line {}, column {}", e.line(), e.column()),
            e.to_string(),
        )
    })?;
    m.validate()
        .map_err(|e| Error::Value(format!("{}: {e}", path.display())))?;
    Ok(m)
}
