//! Optimizers (SGD with momentum/Nesterov, Adam, AdamW), learning-rate schedules and gradient
//! clipping, with PyTorch's semantics for the same hyper-parameters (torch.optim, single-tensor
//! implementations, as run on CPU):
//!
//! * SGD: g ← g + λp (coupled weight decay); with momentum μ: buf ← g on the first step, then
//!   buf ← μ·buf + (1−τ)·g (τ = dampening); g ← g + μ·buf (Nesterov) or g ← buf; p ← p − lr·g.
//! * Adam (Kingma & Ba 2015, Algorithm 1): g ← g + λp (coupled); m ← m + (1−β1)(g − m);
//!   v ← β2·v + (1−β2)g²; p ← p − (lr/(1−β1ᵗ)) · m / (√v/√(1−β2ᵗ) + ε).
//! * AdamW (Loshchilov & Hutter 2019, Algorithm 2): p ← p·(1 − lr·λ) (decoupled), then Adam
//!   without the coupled term.
//! * Clipping by global norm (`torch.nn.utils.clip_grad_norm_`): with ‖g‖ the 2-norm of all
//!   parameter gradients together, scale by min(1, c/(‖g‖ + 10⁻⁶)).
//!
//! State is kept per parameter tensor ([`ParamState`]) so that remedies can reset the moments
//! of chosen units (ReDo re-initialises a unit and zeroes its optimizer state).

use super::{Grads, Mlp};
use crate::real::Real;
use crate::simd::Level;
use serde::{Deserialize, Serialize};

/// Which update rule.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "name", rename_all = "snake_case")]
pub enum OptimKind {
    /// Stochastic gradient descent with optional (Nesterov) momentum.
    Sgd {
        /// μ (0: plain SGD).
        momentum: f64,
        /// τ, PyTorch's `dampening`.
        #[serde(default)]
        dampening: f64,
        /// Nesterov momentum.
        #[serde(default)]
        nesterov: bool,
    },
    /// Adam with coupled (L2) weight decay.
    Adam {
        /// β1.
        beta1: f64,
        /// β2.
        beta2: f64,
        /// ε.
        eps: f64,
    },
    /// AdamW: Adam with decoupled weight decay.
    AdamW {
        /// β1.
        beta1: f64,
        /// β2.
        beta2: f64,
        /// ε.
        eps: f64,
    },
}

impl OptimKind {
    /// Adam with PyTorch's defaults β = (0.9, 0.999), ε = 1e-8.
    pub const ADAM: OptimKind = OptimKind::Adam {
        beta1: 0.9,
        beta2: 0.999,
        eps: 1e-8,
    };
    /// AdamW with PyTorch's defaults.
    pub const ADAMW: OptimKind = OptimKind::AdamW {
        beta1: 0.9,
        beta2: 0.999,
        eps: 1e-8,
    };
    /// SGD with momentum μ (no dampening, no Nesterov).
    pub fn sgd(momentum: f64) -> Self {
        OptimKind::Sgd {
            momentum,
            dampening: 0.0,
            nesterov: false,
        }
    }
}

/// A learning-rate schedule over epochs (as PyTorch's schedulers stepped once per epoch),
/// optionally preceded by a linear warm-up over steps.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "name", rename_all = "snake_case")]
pub enum Schedule {
    /// lr.
    Constant,
    /// lr·γ^⌊epoch/step_size⌋ (`StepLR`).
    Step {
        /// Epochs per decay.
        step_size: usize,
        /// Decay factor γ.
        gamma: f64,
    },
    /// η_min + (lr − η_min)(1 + cos(π·epoch/T))/2 (`CosineAnnealingLR`, T = t_max epochs).
    Cosine {
        /// T, in epochs.
        t_max: usize,
        /// η_min.
        eta_min: f64,
    },
}

impl Schedule {
    /// The learning rate at `epoch` (0-based) for base rate `lr`.
    pub fn lr_at(&self, lr: f64, epoch: usize) -> f64 {
        match *self {
            Schedule::Constant => lr,
            Schedule::Step { step_size, gamma } => {
                lr * gamma.powi((epoch / step_size.max(1)) as i32)
            }
            Schedule::Cosine { t_max, eta_min } => {
                let t = (epoch.min(t_max.max(1))) as f64 / t_max.max(1) as f64;
                eta_min + (lr - eta_min) * (1.0 + (std::f64::consts::PI * t).cos()) / 2.0
            }
        }
    }
}

/// Everything that defines an optimizer.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct OptimizerConfig {
    /// The update rule.
    pub kind: OptimKind,
    /// Base learning rate.
    pub lr: f64,
    /// λ: coupled L2 (SGD, Adam) or decoupled (AdamW) weight decay.
    #[serde(default)]
    pub weight_decay: f64,
    /// Apply the weight decay to weight matrices only, not to biases or PReLU slopes (PyTorch:
    /// a parameter group with `weight_decay=0` for those). Default false: every parameter, as
    /// `torch.optim.*(net.parameters(), weight_decay=λ)`.
    #[serde(default)]
    pub decay_weights_only: bool,
    /// Clip the global gradient norm to this value.
    #[serde(default)]
    pub clip_norm: Option<f64>,
    /// Schedule over epochs.
    #[serde(default = "default_schedule")]
    pub schedule: Schedule,
    /// Linear warm-up: lr·min(1, (t+1)/W) over the first W steps (0: none).
    #[serde(default)]
    pub warmup_steps: u64,
}

fn default_schedule() -> Schedule {
    Schedule::Constant
}

impl OptimizerConfig {
    /// Adam at learning rate `lr` with PyTorch's defaults otherwise.
    pub fn adam(lr: f64) -> Self {
        OptimizerConfig {
            kind: OptimKind::ADAM,
            lr,
            weight_decay: 0.0,
            decay_weights_only: false,
            clip_norm: None,
            schedule: Schedule::Constant,
            warmup_steps: 0,
        }
    }

    /// The learning rate for optimizer step `step` (0-based) in `epoch`.
    pub fn lr_at(&self, epoch: usize, step: u64) -> f64 {
        let base = self.schedule.lr_at(self.lr, epoch);
        if self.warmup_steps > 0 && step < self.warmup_steps {
            base * (step + 1) as f64 / self.warmup_steps as f64
        } else {
            base
        }
    }
}

/// Optimizer state of one parameter tensor: `m` is SGD's momentum buffer or Adam's first
/// moment, `v` Adam's second moment. Same layout as the parameter; empty until first used.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ParamState<T = f32> {
    /// Momentum buffer / first moment.
    pub m: Vec<T>,
    /// Second moment (Adam, AdamW).
    pub v: Vec<T>,
}

/// Optimizer state of one layer.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct LayerState<T = f32> {
    /// State of W (out × in, same layout).
    pub weight: ParamState<T>,
    /// State of b.
    pub bias: ParamState<T>,
    /// State of the PReLU slopes.
    pub prelu_alpha: ParamState<T>,
}

/// An optimizer: configuration, per-tensor state and the step count t.
#[derive(Clone, Debug)]
pub struct Optimizer<T = f32> {
    /// Hyper-parameters.
    pub config: OptimizerConfig,
    /// Per-layer state, same order as `Mlp::layers`.
    pub state: Vec<LayerState<T>>,
    /// Steps taken (t; Adam's bias corrections use t after increment).
    pub step: u64,
}

impl<T: Real> Optimizer<T> {
    /// A fresh optimizer (no state yet).
    pub fn new(config: OptimizerConfig) -> Self {
        Optimizer {
            config,
            state: Vec::new(),
            step: 0,
        }
    }

    /// Clip `grads` to the configured global norm (if any); returns the norm before clipping.
    pub fn clip(&self, grads: &mut Grads<T>) -> f64 {
        let norm = grads.param_sq_norm().sqrt();
        if let Some(c) = self.config.clip_norm {
            let coef = c / (norm + 1e-6);
            if coef < 1.0 {
                grads.scale_params(T::of_f64(coef));
            }
        }
        norm
    }

    /// One update of every parameter of `mlp` at learning rate `lr` (clip first if wanted).
    pub fn step(&mut self, mlp: &mut Mlp<T>, grads: &Grads<T>, lr: f64) {
        self.step_at(Level::current(), mlp, grads, lr)
    }

    /// [`Optimizer::step`] with the update loops run at `level` (the same bits at every
    /// level: each element's update is the same sequence of IEEE operations).
    pub fn step_at(&mut self, level: Level, mlp: &mut Mlp<T>, grads: &Grads<T>, lr: f64) {
        self.state
            .resize_with(mlp.layers.len(), LayerState::default);
        self.step += 1;
        let c = Coefs::new(
            level,
            self.config.kind,
            lr,
            self.config.weight_decay,
            self.step,
        );
        // Biases and PReLU slopes: the same update without decay when asked.
        let c_rest = if self.config.decay_weights_only {
            Coefs::new(level, self.config.kind, lr, 0.0, self.step)
        } else {
            Coefs::new(
                level,
                self.config.kind,
                lr,
                self.config.weight_decay,
                self.step,
            )
        };
        for (l, layer) in mlp.layers.iter_mut().enumerate() {
            let st = &mut self.state[l];
            update(&c, &mut layer.weight, &grads.weight[l], &mut st.weight);
            if let Some(b) = &mut layer.bias {
                update(&c_rest, b, &grads.bias[l], &mut st.bias);
            }
            if !layer.prelu_alpha.is_empty() {
                update(
                    &c_rest,
                    &mut layer.prelu_alpha,
                    &grads.prelu_alpha[l],
                    &mut st.prelu_alpha,
                );
            }
        }
    }
}

/// The scalars of one update, computed once per step (in f64, rounded once, as PyTorch's
/// Python-float scalars).
struct Coefs<T> {
    kind: OptimKind,
    lr: T,
    wd: T,
    has_wd: bool,
    mu: T,
    damp: T,
    step_size: T,
    bc2_sqrt: T,
    b1c: T,
    b2: T,
    b2c: T,
    eps: T,
    decay: T,
    level: Level,
}

impl<T: Real> Coefs<T> {
    fn new(level: Level, kind: OptimKind, lr: f64, wd: f64, t: u64) -> Self {
        let (mut mu, mut damp, mut step_size, mut bc2_sqrt) = (0.0, 0.0, 0.0, 1.0);
        let (mut b1c, mut b2, mut b2c, mut eps) = (0.0, 0.0, 0.0, 0.0);
        match kind {
            OptimKind::Sgd {
                momentum,
                dampening,
                ..
            } => {
                mu = momentum;
                damp = 1.0 - dampening;
            }
            OptimKind::Adam {
                beta1,
                beta2,
                eps: e,
            }
            | OptimKind::AdamW {
                beta1,
                beta2,
                eps: e,
            } => {
                let bc1 = 1.0 - beta1.powi(t as i32);
                let bc2 = 1.0 - beta2.powi(t as i32);
                step_size = lr / bc1;
                bc2_sqrt = bc2.sqrt();
                b1c = 1.0 - beta1;
                b2 = beta2;
                b2c = 1.0 - beta2;
                eps = e;
            }
        }
        Coefs {
            kind,
            lr: T::of_f64(lr),
            wd: T::of_f64(wd),
            has_wd: wd != 0.0,
            mu: T::of_f64(mu),
            damp: T::of_f64(damp),
            step_size: T::of_f64(step_size),
            bc2_sqrt: T::of_f64(bc2_sqrt),
            b1c: T::of_f64(b1c),
            b2: T::of_f64(b2),
            b2c: T::of_f64(b2c),
            eps: T::of_f64(eps),
            decay: T::of_f64(1.0 - lr * wd),
            level,
        }
    }
}

/// One parameter tensor's update, compiled for each [`Level`] and run at the optimizer's
/// (default [`Level::current`]) (the loop is memory-bound; wider loads keep more of it in flight).
/// The paths give the same bits: each element's arithmetic is the same sequence of IEEE
/// operations (Rust never contracts a·b + c into an FMA on its own).
fn update<T: Real>(c: &Coefs<T>, p: &mut [T], g: &[T], st: &mut ParamState<T>) {
    assert_eq!(p.len(), g.len(), "optimizer: gradient shape");
    c.level.run(
        #[inline(always)]
        || update_body(c, p, g, st),
    )
}

#[inline(always)]
fn update_body<T: Real>(c: &Coefs<T>, p: &mut [T], g: &[T], st: &mut ParamState<T>) {
    let (lr_t, wd_t) = (c.lr, c.wd);
    match c.kind {
        OptimKind::Sgd {
            momentum, nesterov, ..
        } => {
            if momentum == 0.0 {
                for (pi, &gi) in p.iter_mut().zip(g) {
                    let gi = if c.has_wd { gi + wd_t * *pi } else { gi };
                    *pi -= lr_t * gi;
                }
                return;
            }
            let (mu, damp) = (c.mu, c.damp);
            let first = st.m.is_empty();
            if first {
                st.m.resize(p.len(), T::zero());
            }
            if !c.has_wd && !first && !nesterov {
                // The common case (PyTorch's SGD(momentum=μ)), without per-element branches.
                for ((pi, &gi), bi) in p.iter_mut().zip(g).zip(st.m.iter_mut()) {
                    *bi = mu * *bi + damp * gi;
                    *pi -= lr_t * *bi;
                }
                return;
            }
            for ((pi, &gi), bi) in p.iter_mut().zip(g).zip(st.m.iter_mut()) {
                let gi = if c.has_wd { gi + wd_t * *pi } else { gi };
                *bi = if first { gi } else { mu * *bi + damp * gi };
                let d = if nesterov { gi + mu * *bi } else { *bi };
                *pi -= lr_t * d;
            }
        }
        OptimKind::Adam { .. } | OptimKind::AdamW { .. } => {
            let decoupled = matches!(c.kind, OptimKind::AdamW { .. });
            st.m.resize(p.len(), T::zero());
            st.v.resize(p.len(), T::zero());
            let (step_size, bc2_sqrt, b1c, b2, b2c, eps, decay) =
                (c.step_size, c.bc2_sqrt, c.b1c, c.b2, c.b2c, c.eps, c.decay);
            for (((pi, &gi), mi), vi) in p
                .iter_mut()
                .zip(g)
                .zip(st.m.iter_mut())
                .zip(st.v.iter_mut())
            {
                let gi = if decoupled {
                    if c.has_wd {
                        *pi *= decay;
                    }
                    gi
                } else if c.has_wd {
                    gi + wd_t * *pi
                } else {
                    gi
                };
                *mi += (gi - *mi) * b1c;
                *vi = b2 * *vi + b2c * gi * gi;
                let denom = vi.sqrt() / bc2_sqrt + eps;
                *pi -= step_size * (*mi / denom);
            }
        }
    }
}
