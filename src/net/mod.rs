//! The network: [`Mlp`], its layers, and batched forward/backward passes.

pub mod mlp;
pub mod pass;

pub use mlp::{Layer, Mlp};
pub use pass::{Grads, Trace};
