//! Batched forward and backward passes with a trace ([`Trace`]) and gradients ([`Grads`]).
//!
//! Layout: every batch buffer is sample-major, row-major: sample s, unit j at `s * width + j`.
//! The trace keeps the input, every layer's pre-activations z_l and outputs a_l; the gradients
//! hold ∂L/∂W_l, ∂L/∂b_l, ∂L/∂α_l (PReLU) and ∂L/∂z_l for each layer. Diagnostics read these
//! and never recompute them.
//!
//! The fast path ([`Mlp::forward_ws`], [`Mlp::backward_ws`]) reuses a [`Workspace`] and the
//! trace/gradient buffers, so a training step allocates nothing after the first. Matrix products
//! go through [`super::kernels`]: register-friendly loops for small layers, `faer` for large
//! ones. Bias, the optional bias warm-up shift and the activation are applied in one pass over
//! each layer's output. The plain-loop oracle is in [`super::reference`].

use super::kernels::{self, Level};
use super::Mlp;
use crate::activation::{kernels as act_kernels, Activation};
use crate::real::Real;

/// Everything a forward pass computed for one batch.
#[derive(Clone, Debug, Default)]
pub struct Trace<T = f32> {
    /// Number of samples in the batch.
    pub batch: usize,
    /// The input, batch × d_in.
    pub input: Vec<T>,
    /// z_l per layer, batch × out_dim_l. With a bias warm-up shift γ this is z_l + γ for the
    /// hidden layers: the value the activation saw.
    pub pre: Vec<Vec<T>>,
    /// a_l = f_l(z_l) per layer, batch × out_dim_l. The last is the network output.
    pub post: Vec<Vec<T>>,
}

impl<T: Real> Trace<T> {
    /// The network output (last layer's a_L), batch × d_out.
    pub fn output(&self) -> &[T] {
        self.post.last().map_or(&[], |v| v.as_slice())
    }
}

/// Gradients of a scalar loss with respect to every parameter and every pre-activation.
#[derive(Clone, Debug, Default)]
pub struct Grads<T = f32> {
    /// ∂L/∂W_l, same layout as `Layer::weight`.
    pub weight: Vec<Vec<T>>,
    /// ∂L/∂b_l (empty for bias-free layers).
    pub bias: Vec<Vec<T>>,
    /// ∂L/∂α_l for PReLU layers (same length as `Layer::prelu_alpha`, else empty).
    pub prelu_alpha: Vec<Vec<T>>,
    /// ∂L/∂z_l per layer, batch × out_dim_l.
    pub pre: Vec<Vec<T>>,
    /// ∂L/∂x, batch × d_in. Empty after a [`Mlp::backward_ws`] call with `input_grad = false`
    /// (training does not need it).
    pub input: Vec<T>,
}

impl<T: Real> Grads<T> {
    /// Σ of squared parameter gradients (weights, biases, PReLU slopes), in f64.
    pub fn param_sq_norm(&self) -> f64 {
        let sq = |v: &Vec<T>| v.iter().map(|g| g.as_f64() * g.as_f64()).sum::<f64>();
        self.weight.iter().map(sq).sum::<f64>()
            + self.bias.iter().map(sq).sum::<f64>()
            + self.prelu_alpha.iter().map(sq).sum::<f64>()
    }

    /// Multiply every parameter gradient by `c`.
    pub fn scale_params(&mut self, c: T) {
        for v in self
            .weight
            .iter_mut()
            .chain(self.bias.iter_mut())
            .chain(self.prelu_alpha.iter_mut())
        {
            v.iter_mut().for_each(|g| *g *= c);
        }
    }
}

/// Scratch buffers reused across passes (transposed weights, gradient staging) and the number
/// of threads large matrix products may use. Create one per training run.
#[derive(Clone, Debug)]
pub struct Workspace<T = f32> {
    wt: Vec<Vec<T>>,
    /// Threads for the large matrix products (1: single-threaded). Results are identical for
    /// the same thread count.
    pub threads: usize,
    /// Products with batch·in·out below this use the small loops, the others `faer`
    /// (default [`kernels::SMALL_MAX`]; benches/train.rs varies it to compare the two).
    pub small_max: usize,
    level: Level,
}

impl<T: Real> Workspace<T> {
    /// An empty workspace whose large products use `threads` threads (rayon's current pool).
    pub fn new(threads: usize) -> Self {
        Workspace {
            wt: Vec::new(),
            threads: threads.max(1),
            small_max: kernels::SMALL_MAX,
            level: Level::current(),
        }
    }

    /// The same workspace running its kernels at `level` (default [`Level::current`]): tests
    /// compare levels with it.
    pub fn with_level(mut self, level: Level) -> Self {
        self.level = level;
        self
    }

    /// The SIMD level the passes run at.
    pub fn level(&self) -> Level {
        self.level
    }
}

impl<T: Real> Default for Workspace<T> {
    fn default() -> Self {
        Workspace::new(1)
    }
}

impl<T: Real> Mlp<T> {
    /// Forward a batch (`x` is batch × d_in) keeping the trace. Reuses `trace`'s buffers.
    pub fn forward_batch(&self, x: &[T], batch: usize, trace: &mut Trace<T>) {
        assert_eq!(
            x.len(),
            batch * self.input_dim(),
            "forward_batch: input is not batch × d_in"
        );
        trace.batch = batch;
        trace.input.clear();
        trace.input.extend_from_slice(x);
        let mut ws = Workspace::new(rayon::current_num_threads());
        self.forward_ws(trace, &mut ws, T::zero());
    }

    /// Backward through a traced batch given ∂L/∂(output) (batch × d_out). Fills `grads`
    /// (parameter gradients summed over the batch; the caller scales for a mean loss),
    /// including ∂L/∂x.
    pub fn backward_batch(&self, trace: &Trace<T>, grad_output: &[T], grads: &mut Grads<T>) {
        let mut ws = Workspace::new(rayon::current_num_threads());
        self.backward_ws(trace, grad_output, grads, &mut ws, true);
    }

    /// Forward of the batch already in `trace.input` (`trace.batch` samples), reusing every
    /// buffer. `hidden_shift` γ is added to every hidden layer's pre-activation (curriculum
    /// bias warm-up; 0 for a plain pass); the output layer is never shifted.
    pub fn forward_ws(&self, trace: &mut Trace<T>, ws: &mut Workspace<T>, hidden_shift: T) {
        let Trace {
            batch,
            input,
            pre,
            post,
        } = trace;
        self.forward_layers(input, *batch, pre, post, ws, hidden_shift);
    }

    /// Forward of the batch `x` (batch × d_in) read where it lies, without copying it into the
    /// trace: `trace.input` is left empty (so the trace cannot feed [`Mlp::backward_ws`]). For
    /// callers that own the input elsewhere (the Python binding reads NumPy's buffer).
    pub fn forward_from(
        &self,
        x: &[T],
        batch: usize,
        trace: &mut Trace<T>,
        ws: &mut Workspace<T>,
        hidden_shift: T,
    ) {
        trace.batch = batch;
        trace.input.clear();
        self.forward_layers(x, batch, &mut trace.pre, &mut trace.post, ws, hidden_shift);
    }

    fn forward_layers(
        &self,
        input: &[T],
        batch: usize,
        pre: &mut Vec<Vec<T>>,
        post: &mut Vec<Vec<T>>,
        ws: &mut Workspace<T>,
        hidden_shift: T,
    ) {
        assert_eq!(
            input.len(),
            batch * self.input_dim(),
            "forward: input is not batch × d_in"
        );
        let nl = self.layers.len();
        pre.resize_with(nl, Vec::new);
        post.resize_with(nl, Vec::new);
        ws.wt.resize_with(nl, Vec::new);
        let level = ws.level;
        for (l, layer) in self.layers.iter().enumerate() {
            let (before, after) = post.split_at_mut(l);
            let a_prev: &[T] = if l == 0 { input } else { &before[l - 1] };
            let (o, i) = (layer.out_dim, layer.in_dim);
            let z = &mut pre[l];
            z.resize(batch * o, T::zero());
            let shift = if l + 1 < nl { hidden_shift } else { T::zero() };
            kernels::dense_forward(
                level,
                batch,
                i,
                o,
                a_prev,
                &layer.weight,
                layer.bias.as_deref(),
                shift,
                z,
                &mut ws.wt[l],
                ws.threads,
                ws.small_max,
            );
            let a = &mut after[0];
            a.resize(batch * o, T::zero());
            activation_forward(level, layer.activation, &layer.prelu_alpha, o, z, a);
        }
    }

    /// Backward through a traced batch: `grad_output` is ∂L/∂(output), batch × d_out. Fills
    /// every parameter gradient (summed over the batch), ∂L/∂z_l, and ∂L/∂x when `input_grad`.
    pub fn backward_ws(
        &self,
        trace: &Trace<T>,
        grad_output: &[T],
        grads: &mut Grads<T>,
        ws: &mut Workspace<T>,
        input_grad: bool,
    ) {
        let nl = self.layers.len();
        let batch = trace.batch;
        assert_eq!(
            grad_output.len(),
            batch * self.output_dim(),
            "backward: gradient is not batch × d_out"
        );
        grads.weight.resize_with(nl, Vec::new);
        grads.bias.resize_with(nl, Vec::new);
        grads.prelu_alpha.resize_with(nl, Vec::new);
        grads.pre.resize_with(nl, Vec::new);
        let level = ws.level;
        {
            let last = &self.layers[nl - 1];
            let gz = &mut grads.pre[nl - 1];
            gz.clear();
            gz.extend_from_slice(grad_output);
            let ga = &mut grads.prelu_alpha[nl - 1];
            activation_backward(
                level,
                last.activation,
                &last.prelu_alpha,
                last.out_dim,
                &trace.pre[nl - 1],
                gz,
                ga,
            );
        }
        for l in (0..nl).rev() {
            let layer = &self.layers[l];
            let (o, i) = (layer.out_dim, layer.in_dim);
            let a_prev: &[T] = if l == 0 {
                &trace.input
            } else {
                &trace.post[l - 1]
            };
            let (below, here) = grads.pre.split_at_mut(l);
            let gz = &here[0];
            let gw = &mut grads.weight[l];
            gw.resize(o * i, T::zero());
            let gb = &mut grads.bias[l];
            gb.resize(if layer.bias.is_some() { o } else { 0 }, T::zero());
            kernels::dense_backward_params(
                level,
                batch,
                i,
                o,
                a_prev,
                gz,
                gw,
                gb,
                ws.threads,
                ws.small_max,
            );
            let down: Option<&mut Vec<T>> = if l > 0 {
                Some(&mut below[l - 1])
            } else if input_grad {
                Some(&mut grads.input)
            } else {
                None
            };
            if let Some(down) = down {
                down.resize(batch * i, T::zero());
                kernels::dense_backward_input(
                    level,
                    batch,
                    i,
                    o,
                    gz,
                    &layer.weight,
                    down,
                    ws.threads,
                    ws.small_max,
                );
                if l > 0 {
                    let below_layer = &self.layers[l - 1];
                    activation_backward(
                        level,
                        below_layer.activation,
                        &below_layer.prelu_alpha,
                        below_layer.out_dim,
                        &trace.pre[l - 1],
                        down,
                        &mut grads.prelu_alpha[l - 1],
                    );
                }
            }
        }
        if !input_grad {
            grads.input.clear();
        }
    }
}

/// [`activation_forward_body`] compiled for each [`Level`], run at `level` (the
/// piecewise-linear loops vectorise as compare-and-blend; same bits at every level).
fn activation_forward<T: Real>(
    level: Level,
    act: Activation,
    alpha: &[T],
    width: usize,
    z: &[T],
    a: &mut [T],
) {
    level.run(
        #[inline(always)]
        || activation_forward_body(level, act, alpha, width, z, a),
    )
}

/// a = f(z) over a batch of `width`-unit rows. Piecewise-linear members are fused here (one
/// branch-free pass); the others go through the activation slice kernels.
#[inline(always)]
fn activation_forward_body<T: Real>(
    level: Level,
    act: Activation,
    alpha: &[T],
    width: usize,
    z: &[T],
    a: &mut [T],
) {
    let zero = T::zero();
    match act {
        Activation::Identity => a.copy_from_slice(z),
        Activation::Relu { .. } => {
            for (ai, &zi) in a.iter_mut().zip(z) {
                // max(0, z) with NaN propagated and relu(−0) = +0, as the reference.
                *ai = if zi > zero || zi.is_nan() { zi } else { zero };
            }
        }
        Activation::LeakyRelu { negative_slope, .. } => {
            let s = T::of_f64(negative_slope);
            for (ai, &zi) in a.iter_mut().zip(z) {
                *ai = if zi > zero { zi } else { s * zi };
            }
        }
        Activation::ReluEps { eps, .. } => {
            let e = T::of_f64(eps);
            for (ai, &zi) in a.iter_mut().zip(z) {
                let r = if zi > zero || zi.is_nan() { zi } else { zero };
                *ai = r + e * zi;
            }
        }
        Activation::Prelu { .. } => {
            for (arow, zrow) in a.chunks_exact_mut(width).zip(z.chunks_exact(width)) {
                for (j, (ai, &zi)) in arow.iter_mut().zip(zrow).enumerate() {
                    let s = if alpha.len() == 1 { alpha[0] } else { alpha[j] };
                    *ai = if zi > zero { zi } else { s * zi };
                }
            }
        }
        other => act_kernels::forward_at(level, &other, z, a),
    }
}

/// [`activation_backward_body`] compiled for each [`Level`], run at `level`.
fn activation_backward<T: Real>(
    level: Level,
    act: Activation,
    alpha: &[T],
    width: usize,
    z: &[T],
    g: &mut [T],
    galpha: &mut Vec<T>,
) {
    level.run(
        #[inline(always)]
        || activation_backward_body(level, act, alpha, width, z, g, galpha),
    )
}

/// g ← g·f'(z) in place (g holds ∂L/∂a on entry, ∂L/∂z on exit); for PReLU also
/// dα = Σ ∂L/∂a · min(0, z) into `galpha` (resized; empty for other activations).
#[inline(always)]
fn activation_backward_body<T: Real>(
    level: Level,
    act: Activation,
    alpha: &[T],
    width: usize,
    z: &[T],
    g: &mut [T],
    galpha: &mut Vec<T>,
) {
    let zero = T::zero();
    galpha.clear();
    match act {
        Activation::Identity => {
            for (gi, &zi) in g.iter_mut().zip(z) {
                if zi.is_nan() {
                    *gi = zi;
                }
            }
        }
        Activation::Relu { prime_at_zero } => {
            let p0 = T::of_f64(prime_at_zero);
            for (gi, &zi) in g.iter_mut().zip(z) {
                let d = if zi > zero {
                    T::one()
                } else if zi < zero {
                    zero
                } else if zi == zero {
                    p0
                } else {
                    zi
                };
                *gi *= d;
            }
        }
        Activation::LeakyRelu {
            negative_slope,
            prime_at_zero,
        } => {
            let (s, p0) = (T::of_f64(negative_slope), T::of_f64(prime_at_zero));
            for (gi, &zi) in g.iter_mut().zip(z) {
                let d = if zi > zero {
                    T::one()
                } else if zi < zero {
                    s
                } else if zi == zero {
                    p0
                } else {
                    zi
                };
                *gi *= d;
            }
        }
        Activation::ReluEps { eps, prime_at_zero } => {
            let (e, p0) = (T::of_f64(eps), T::of_f64(prime_at_zero));
            let one_e = T::one() + e;
            for (gi, &zi) in g.iter_mut().zip(z) {
                let d = if zi > zero {
                    one_e
                } else if zi < zero {
                    e
                } else if zi == zero {
                    p0
                } else {
                    zi
                };
                *gi *= d;
            }
        }
        Activation::Prelu { .. } => {
            galpha.resize(alpha.len(), zero);
            for (grow, zrow) in g.chunks_exact_mut(width).zip(z.chunks_exact(width)) {
                for (j, (gi, &zi)) in grow.iter_mut().zip(zrow).enumerate() {
                    let k = if alpha.len() == 1 { 0 } else { j };
                    if zi < zero || zi.is_nan() {
                        galpha[k] += *gi * zi;
                    }
                    let d = if zi > zero {
                        T::one()
                    } else if zi.is_nan() {
                        zi
                    } else {
                        alpha[k]
                    };
                    *gi *= d;
                }
            }
        }
        other => {
            // The slice kernel has no in-place-with-distinct-output form for our layout
            // beyond this one; it reads z and scales g.
            act_kernels::backward_inplace_at(level, &other, z, g);
        }
    }
}
