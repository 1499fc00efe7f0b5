//! # relulab
//!
//! ReLU-family neural networks, made measurable: the activation family with exact gradients and
//! an explicit ReLU'(0) convention, one network type ([`Mlp`]) used by training, diagnostics,
//! linear-region geometry, model import/export and verification.
//!
//! See ARCHITECTURE.md for the module map.

#![warn(missing_docs)]
#![deny(unsafe_op_in_unsafe_fn)]
#![deny(clippy::undocumented_unsafe_blocks)]

pub mod activation;
pub mod certify;
pub mod claims;
pub mod data;
pub mod diagnose;
pub mod error;
pub mod io;
pub mod net;
pub mod optimize;
pub mod plot;
pub mod reach;
pub mod real;
pub mod regions;
pub mod remedy;
pub mod report;
pub mod simd;
pub mod train;
pub mod verify;

pub use activation::Activation;
pub use error::{Error, Result};
pub use net::{Grads, Layer, Mlp, Trace};
pub use real::Real;
