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
pub mod fp;
pub mod net;
pub mod vnnlib;

pub use bab::{verify, Outcome, Verdict, VerifyOptions, Witness};
pub use bounds::{output_bounds, LayerBounds, Method};
pub use net::PwlNet;
pub use vnnlib::{load_vnnlib, parse_vnnlib, Property};

use crate::error::{Error, Result};
use crate::net::Mlp;
use std::path::Path;

/// Load a network for verification: any format [`crate::io::load_model`] reads, or a JSON file
/// holding the serde form of `Mlp<f32>` (`.json`). When the model cannot be read and the
/// environment variable `RELULAB_VERIFY_JSON_DIR` is set, `<dir>/<file stem>.json` is tried
/// (a development aid while a format's reader is missing).
pub fn load_network(path: &Path) -> Result<Mlp<f32>> {
    let read_json = |p: &Path| -> Result<Mlp<f32>> {
        let text = std::fs::read_to_string(p).map_err(|e| Error::io(p, e))?;
        let m: Mlp<f32> = serde_json::from_str(&text).map_err(|e| {
            Error::format(
                p.display(),
                format!("line {}, column {}", e.line(), e.column()),
                e.to_string(),
            )
        })?;
        m.validate()
            .map_err(|e| Error::Invalid(format!("{}: {e}", p.display())))?;
        Ok(m)
    };
    if path.extension().and_then(|e| e.to_str()) == Some("json") {
        return read_json(path);
    }
    match crate::io::load_model(path, None) {
        Ok(m) => Ok(m),
        Err(e) => match (
            std::env::var_os("RELULAB_VERIFY_JSON_DIR"),
            path.file_stem(),
        ) {
            (Some(dir), Some(stem)) => {
                let alt = Path::new(&dir).join(format!("{}.json", stem.to_string_lossy()));
                if alt.exists() {
                    read_json(&alt)
                } else {
                    Err(e)
                }
            }
            _ => Err(e),
        },
    }
}
