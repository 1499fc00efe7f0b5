//! The network: [`Mlp`], its layers, batched forward/backward passes, initialisation, losses
//! and optimizers.

pub mod init;
pub mod kernels;
pub mod loss;
pub mod mlp;
pub mod optim;
pub mod pass;
pub mod reference;

pub use init::{BiasInit, Init};
pub use loss::{Loss, TargetSlice};
pub use mlp::{Layer, Mlp};
pub use optim::{OptimKind, Optimizer, OptimizerConfig, ParamState, Schedule};
pub use pass::{Grads, Trace, Workspace};
