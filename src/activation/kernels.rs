//! Slice kernels: forward and backward of an [`Activation`] over contiguous buffers.
//!
//! * **f32** runs the branch-free element functions of [`super::simd::math`] in loops compiled
//!   for each SIMD level and picked at run time ([`Level::current`]). The piecewise-linear
//!   members compute in f64 internally and round once, so they return exactly the reference's
//!   bits; the smooth members are within the bounds stated and tested in
//!   `tests/activation_kernels.rs` (GELU-erf and its derivative: max(1e-6, 2 ulp) of the f64
//!   reference on [−10, 10]).
//! * **f64** evaluates the reference itself ([`Activation::f`], [`Activation::df`]): it is the
//!   definition, and f64 is used for analysis, not for throughput.
//!
//! Above a length threshold the slice is cut into fixed-size chunks processed by rayon
//! ([`Par::Auto`]). Element-wise results do not depend on the chunking; the one reduction
//! (PReLU's dα) sums fixed chunks in f64 and adds the partial sums in order, so the result is
//! the same bits for any thread count.
//!
//! Backward kernels compute grad_in = grad_out · f'(x) with x the pre-activation and f' with
//! the activation's own convention at 0 (see the [module docs](super)).

use super::simd::{self, Level, Map1, Map2};
use super::Activation;
use crate::real::Real;
use rayon::prelude::*;
use std::any::TypeId;

/// How a kernel may use threads.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Par {
    /// One thread, always.
    Seq,
    /// rayon's current pool when the slice is at least the activation's threshold
    /// ([`parallel_threshold`]).
    #[default]
    Auto,
    /// rayon's current pool whenever the slice spans more than one [`CHUNK`] (benchmarks use
    /// it to find the threshold).
    Always,
}

/// Elements per parallel task. Fixed (not derived from the thread count) so the PReLU
/// reduction gives the same bits with any number of threads.
pub const CHUNK: usize = 1 << 15;

/// Below this many elements (256K, 1 MiB of f32) a kernel runs on one thread. From
/// `RELULAB_BENCH_THRESHOLD=1 cargo bench --bench activations` on the idle 2-core build machine
/// (README, "Activations"): a second thread gave ReLU 0.33–0.92× below 256K elements (waking a
/// sleeping rayon worker costs ~15 µs there) and 1.26–1.64× from 256K to 1M; GELU-erf 0.73–1.08×
/// below and 1.31–1.75× from 256K. Under load (the other core busy) the gain shrinks; this is
/// the size where a free core clearly pays.
pub fn parallel_threshold(_act: &Activation) -> usize {
    1 << 18
}

fn as_f32<T: Real>(x: &[T]) -> Option<&[f32]> {
    if TypeId::of::<T>() == TypeId::of::<f32>() {
        // SAFETY: T is f32 (same TypeId), so the layout is identical.
        Some(unsafe { std::slice::from_raw_parts(x.as_ptr() as *const f32, x.len()) })
    } else {
        None
    }
}

fn as_f32_mut<T: Real>(x: &mut [T]) -> Option<&mut [f32]> {
    if TypeId::of::<T>() == TypeId::of::<f32>() {
        // SAFETY: T is f32 (same TypeId), so the layout is identical; the borrow is unique.
        Some(unsafe { std::slice::from_raw_parts_mut(x.as_mut_ptr() as *mut f32, x.len()) })
    } else {
        None
    }
}

/// y\[i\] = f(x\[i\]).
pub fn forward<T: Real>(act: &Activation, x: &[T], y: &mut [T]) {
    forward_at(Level::current(), act, x, y)
}

/// [`forward`] with the f32 kernels at `level` (the batched passes use their workspace's).
pub(crate) fn forward_at<T: Real>(level: Level, act: &Activation, x: &[T], y: &mut [T]) {
    assert_eq!(x.len(), y.len(), "forward: length mismatch");
    match (as_f32(x), as_f32_mut(y)) {
        (Some(x), Some(y)) => forward_f32(level, Par::Auto, act, x, y),
        _ => generic_forward(act, Par::Auto, x, y),
    }
}

/// x\[i\] = f(x\[i\]).
pub fn forward_inplace<T: Real>(act: &Activation, x: &mut [T]) {
    if let Some(x) = as_f32_mut(x) {
        forward_inplace_f32(Level::current(), Par::Auto, act, x)
    } else {
        let par = use_threads(act, Par::Auto, x.len());
        let f = |c: &mut [T]| {
            for xi in c.iter_mut() {
                *xi = T::of_f64(act.f(xi.as_f64()));
            }
        };
        if par {
            x.par_chunks_mut(CHUNK).for_each(f);
        } else {
            f(x)
        }
    }
}

/// grad_in\[i\] = grad_out\[i\] · f'(x\[i\]), x being the pre-activation.
pub fn backward<T: Real>(act: &Activation, x: &[T], grad_out: &[T], grad_in: &mut [T]) {
    assert_eq!(x.len(), grad_out.len(), "backward: length mismatch");
    assert_eq!(x.len(), grad_in.len(), "backward: length mismatch");
    match (as_f32(x), as_f32(grad_out), as_f32_mut(grad_in)) {
        (Some(x), Some(g), Some(o)) => backward_f32(Level::current(), Par::Auto, act, x, g, o),
        _ => generic_backward(act, Par::Auto, x, grad_out, grad_in),
    }
}

/// grad\[i\] *= f'(x\[i\]).
pub fn backward_inplace<T: Real>(act: &Activation, x: &[T], grad: &mut [T]) {
    backward_inplace_at(Level::current(), act, x, grad)
}

/// [`backward_inplace`] with the f32 kernels at `level`.
pub(crate) fn backward_inplace_at<T: Real>(
    level: Level,
    act: &Activation,
    x: &[T],
    grad: &mut [T],
) {
    assert_eq!(x.len(), grad.len(), "backward: length mismatch");
    match (as_f32(x), as_f32_mut(grad)) {
        (Some(x), Some(g)) => backward_inplace_f32(level, Par::Auto, act, x, g),
        _ => {
            let par = use_threads(act, Par::Auto, x.len());
            let f = |(xc, gc): (&[T], &mut [T])| {
                for (g, &xi) in gc.iter_mut().zip(xc) {
                    *g *= T::of_f64(act.df(xi.as_f64()));
                }
            };
            if par {
                x.par_chunks(CHUNK)
                    .zip(grad.par_chunks_mut(CHUNK))
                    .for_each(f);
            } else {
                f((x, grad))
            }
        }
    }
}

/// PReLU backward with one slope α for the whole slice: grad_in = grad_out·f'(x) and
/// returns dα = Σ grad_out\[i\]·min(0, x\[i\]) (NaN in x propagates into dα). The sum runs in f64
/// over fixed chunks added in order: same bits for any thread count.
pub fn prelu_backward<T: Real>(alpha: T, x: &[T], grad_out: &[T], grad_in: &mut [T]) -> T {
    let act = Activation::Prelu {
        alpha: alpha.as_f64(),
    };
    backward(&act, x, grad_out, grad_in);
    let partial = |(xc, gc): (&[T], &[T])| -> f64 {
        let mut s = 0.0f64;
        for (&xi, &go) in xc.iter().zip(gc) {
            let xi = xi.as_f64();
            let m = if xi >= 0.0 { 0.0 } else { xi };
            s += go.as_f64() * m;
        }
        s
    };
    let sums: Vec<f64> = if use_threads(&act, Par::Auto, x.len()) {
        x.par_chunks(CHUNK)
            .zip(grad_out.par_chunks(CHUNK))
            .map(partial)
            .collect()
    } else {
        x.chunks(CHUNK)
            .zip(grad_out.chunks(CHUNK))
            .map(partial)
            .collect()
    };
    T::of_f64(sums.iter().sum())
}

/// PReLU forward with one α per unit over a batch matrix `x` (rows × units, row-major,
/// units = `alpha.len()`): y\[r, j\] = PReLU(x\[r, j\]; α_j).
pub fn prelu_forward_rows<T: Real>(alpha: &[T], x: &[T], y: &mut [T]) {
    let units = alpha.len();
    assert!(
        units > 0 && x.len().is_multiple_of(units),
        "prelu_forward_rows: shape"
    );
    assert_eq!(x.len(), y.len(), "prelu_forward_rows: length mismatch");
    for (xr, yr) in x.chunks(units).zip(y.chunks_mut(units)) {
        for ((yi, &xi), &a) in yr.iter_mut().zip(xr).zip(alpha) {
            *yi = T::of_f64(super::reference::leaky_relu(xi.as_f64(), a.as_f64()));
        }
    }
}

/// PReLU backward with one α per unit over a batch matrix (rows × units, row-major):
/// grad_in\[r, j\] = grad_out\[r, j\]·PReLU'(x\[r, j\]; α_j) (PReLU'(0) = α_j), and
/// dalpha\[j\] += Σ_r grad_out\[r, j\]·min(0, x\[r, j\]) (accumulated in f64 per call).
pub fn prelu_backward_rows<T: Real>(
    alpha: &[T],
    x: &[T],
    grad_out: &[T],
    grad_in: &mut [T],
    dalpha: &mut [T],
) {
    let units = alpha.len();
    assert!(
        units > 0 && x.len().is_multiple_of(units),
        "prelu_backward_rows: shape"
    );
    assert_eq!(
        x.len(),
        grad_out.len(),
        "prelu_backward_rows: length mismatch"
    );
    assert_eq!(
        x.len(),
        grad_in.len(),
        "prelu_backward_rows: length mismatch"
    );
    assert_eq!(dalpha.len(), units, "prelu_backward_rows: dalpha length");
    let mut acc = vec![0.0f64; units];
    for ((xr, gr), ir) in x
        .chunks(units)
        .zip(grad_out.chunks(units))
        .zip(grad_in.chunks_mut(units))
    {
        for j in 0..units {
            let xi = xr[j].as_f64();
            let a = alpha[j].as_f64();
            ir[j] = gr[j] * T::of_f64(super::reference::leaky_relu_prime(xi, a, a));
            acc[j] += gr[j].as_f64() * super::reference::prelu_dalpha(xi);
        }
    }
    for (d, s) in dalpha.iter_mut().zip(acc) {
        *d += T::of_f64(s);
    }
}

fn use_threads(act: &Activation, par: Par, len: usize) -> bool {
    let big = match par {
        Par::Seq => return false,
        Par::Auto => len >= parallel_threshold(act),
        Par::Always => len > CHUNK,
    };
    big && rayon::current_num_threads() > 1
}

fn generic_forward<T: Real>(act: &Activation, par: Par, x: &[T], y: &mut [T]) {
    let f = |(xc, yc): (&[T], &mut [T])| {
        for (yi, &xi) in yc.iter_mut().zip(xc) {
            *yi = T::of_f64(act.f(xi.as_f64()));
        }
    };
    if use_threads(act, par, x.len()) {
        x.par_chunks(CHUNK).zip(y.par_chunks_mut(CHUNK)).for_each(f);
    } else {
        f((x, y))
    }
}

fn generic_backward<T: Real>(act: &Activation, par: Par, x: &[T], go: &[T], gi: &mut [T]) {
    let f = |((xc, gc), oc): ((&[T], &[T]), &mut [T])| {
        for ((o, &g), &xi) in oc.iter_mut().zip(gc).zip(xc) {
            *o = g * T::of_f64(act.df(xi.as_f64()));
        }
    };
    if use_threads(act, par, x.len()) {
        x.par_chunks(CHUNK)
            .zip(go.par_chunks(CHUNK))
            .zip(gi.par_chunks_mut(CHUNK))
            .for_each(f);
    } else {
        f(((x, go), gi))
    }
}

// ---- f32 element maps -------------------------------------------------------------------------

use simd::math as m;

macro_rules! map1_struct {
    ($name:ident { $($field:ident: $ty:ty),* } |$s:ident, $x:ident| $body:expr) => {
        #[derive(Clone, Copy)]
        struct $name { $($field: $ty),* }
        impl Map1 for $name {
            #[inline(always)]
            #[allow(unused_variables)]
            fn apply<const F: bool>(&self, $x: f32) -> f32 {
                let $s = self;
                $body
            }
        }
    };
}

macro_rules! deriv_struct {
    ($name:ident { $($field:ident: $ty:ty),* } |$s:ident, $x:ident| $body:expr) => {
        #[derive(Clone, Copy)]
        struct $name { $($field: $ty),* }
        impl Map2 for $name {
            #[inline(always)]
            #[allow(unused_variables)]
            fn apply<const F: bool>(&self, $x: f32, grad: f32) -> f32 {
                let $s = self;
                grad * $body
            }
        }
    };
}

map1_struct!(FIdentity {} | s, x | x);
map1_struct!(FRelu {} | s, x | m::relu(x));
// Slope products in f64, rounded once: the reference's exact bits.
map1_struct!(
    FLeaky { alpha: f64 } | s,
    x | {
        let xd = x as f64;
        (if xd > 0.0 { xd } else { s.alpha * xd }) as f32
    }
);
map1_struct!(
    FReluEps { eps: f64 } | s,
    x | {
        let xd = x as f64;
        ((if xd <= 0.0 { 0.0 } else { xd }) + s.eps * xd) as f32
    }
);
/// GELU-erf forward: [`m::gelu`], and at the AVX-512 level the table-driven slice kernels.
#[derive(Clone, Copy)]
struct FGelu {}
impl Map1 for FGelu {
    #[inline(always)]
    fn apply<const F: bool>(&self, x: f32) -> f32 {
        m::gelu::<F>(x)
    }
    const AVX512: Option<simd::Slice1> = simd::GELU_AVX512;
}
map1_struct!(FGeluTanh {} | s, x | m::gelu_tanh::<F>(x));
map1_struct!(FSigmoid {} | s, x | m::sigmoid::<F>(x));
map1_struct!(FTanh {} | s, x | m::tanh::<F>(x));
map1_struct!(FElu { alpha: f32 } | s, x | m::elu::<F>(x, s.alpha));
map1_struct!(FSilu {} | s, x | m::silu::<F>(x));
map1_struct!(
    FSoftplus {
        beta: f32,
        inv_beta: f32,
        threshold: f32
    } | s,
    x | m::softplus::<F>(x, s.beta, s.inv_beta, s.threshold)
);

// Piecewise-linear derivatives take their three values from the reference itself.
/// GELU-erf backward: [`m::gelu_prime`], and at the AVX-512 level the table-driven kernels.
#[derive(Clone, Copy)]
struct DGelu {}
impl Map2 for DGelu {
    #[inline(always)]
    fn apply<const F: bool>(&self, x: f32, grad: f32) -> f32 {
        grad * m::gelu_prime::<F>(x)
    }
    const AVX512: Option<simd::Slice2> = simd::GELU_PRIME_AVX512;
}
deriv_struct!(DGeluTanh {} | s, x | m::gelu_tanh_prime::<F>(x));
deriv_struct!(DSigmoid {} | s, x | m::sigmoid_prime::<F>(x));
deriv_struct!(DTanh {} | s, x | m::tanh_prime::<F>(x));
deriv_struct!(DElu { alpha: f32 } | s, x | m::elu_prime::<F>(x, s.alpha));
deriv_struct!(DSilu {} | s, x | m::silu_prime::<F>(x));
deriv_struct!(
    DSoftplus {
        beta: f32,
        threshold: f32
    } | s,
    x | m::softplus_prime::<F>(x, s.beta, s.threshold)
);

/// The three derivative values of a piecewise-linear member (x > 0, x < 0, x = ±0).
#[derive(Clone, Copy)]
struct DKink {
    pos: f32,
    neg: f32,
    zero: f32,
}

impl DKink {
    fn of(act: &Activation) -> Self {
        DKink {
            pos: act.df(1.0) as f32,
            neg: act.df(-1.0) as f32,
            zero: act.df(0.0) as f32,
        }
    }
}

/// Expand `$body` with `$m` bound to the forward map of `$act`.
macro_rules! with_forward_map {
    ($act:expr, $m:ident => $body:expr) => {
        match *$act {
            Activation::Identity => {
                let $m = FIdentity {};
                $body
            }
            Activation::Relu { .. } => {
                let $m = FRelu {};
                $body
            }
            Activation::LeakyRelu { negative_slope, .. } => {
                let $m = FLeaky {
                    alpha: negative_slope,
                };
                $body
            }
            Activation::Prelu { alpha } => {
                let $m = FLeaky { alpha };
                $body
            }
            Activation::ReluEps { eps, .. } => {
                let $m = FReluEps { eps };
                $body
            }
            Activation::Gelu => {
                let $m = FGelu {};
                $body
            }
            Activation::GeluTanh => {
                let $m = FGeluTanh {};
                $body
            }
            Activation::Sigmoid => {
                let $m = FSigmoid {};
                $body
            }
            Activation::Tanh => {
                let $m = FTanh {};
                $body
            }
            Activation::Elu { alpha } => {
                let $m = FElu {
                    alpha: alpha as f32,
                };
                $body
            }
            Activation::Silu => {
                let $m = FSilu {};
                $body
            }
            Activation::Softplus { beta, threshold } => {
                let $m = FSoftplus {
                    beta: beta as f32,
                    inv_beta: (1.0 / beta) as f32,
                    threshold: threshold as f32,
                };
                $body
            }
        }
    };
}

/// Expand `$body` with `$m` bound to the backward map (grad · f') of `$act`.
macro_rules! with_backward_map {
    ($act:expr, $m:ident => $body:expr) => {
        match *$act {
            Activation::Identity
            | Activation::Relu { .. }
            | Activation::LeakyRelu { .. }
            | Activation::Prelu { .. }
            | Activation::ReluEps { .. } => {
                let $m = DKinkFull(DKink::of($act));
                $body
            }
            Activation::Gelu => {
                let $m = DGelu {};
                $body
            }
            Activation::GeluTanh => {
                let $m = DGeluTanh {};
                $body
            }
            Activation::Sigmoid => {
                let $m = DSigmoid {};
                $body
            }
            Activation::Tanh => {
                let $m = DTanh {};
                $body
            }
            Activation::Elu { alpha } => {
                let $m = DElu {
                    alpha: alpha as f32,
                };
                $body
            }
            Activation::Silu => {
                let $m = DSilu {};
                $body
            }
            Activation::Softplus { beta, threshold } => {
                let $m = DSoftplus {
                    beta: beta as f32,
                    threshold: threshold as f32,
                };
                $body
            }
        }
    };
}

/// Piecewise-linear derivative with the positive slope too (ReLU+εx has 1+ε there).
#[derive(Clone, Copy)]
struct DKinkFull(DKink);

impl Map2 for DKinkFull {
    #[inline(always)]
    fn apply<const F: bool>(&self, x: f32, grad: f32) -> f32 {
        let k = self.0;
        // A bitwise blend, not `if x > 0 { k.pos } else { k.neg }`: LLVM turns a select between
        // two fields of `self` into a gather from their addresses, 4× slower.
        let gt = 0u32.wrapping_sub((x > 0.0) as u32);
        let eq = 0u32.wrapping_sub((x == 0.0) as u32);
        let bits =
            (k.pos.to_bits() & gt) | (k.zero.to_bits() & eq) | (k.neg.to_bits() & !(gt | eq));
        grad * m::nan_pass(x, f32::from_bits(bits))
    }
}

fn run1<M: Map1>(level: Level, par: bool, map: M, x: &[f32], y: &mut [f32]) {
    let stream = x.len() >= simd::STREAM_MIN_LEN;
    let f = |xc: &[f32], yc: &mut [f32]| {
        if stream {
            simd::map1_streamed(level, map, xc, yc)
        } else {
            simd::map1(level, map, xc, yc)
        }
    };
    if par {
        x.par_chunks(CHUNK)
            .zip(y.par_chunks_mut(CHUNK))
            .for_each(|(xc, yc)| f(xc, yc));
    } else {
        f(x, y)
    }
}

fn run1_inplace<M: Map1>(level: Level, par: bool, map: M, x: &mut [f32]) {
    if par {
        x.par_chunks_mut(CHUNK)
            .for_each(|xc| simd::map1_inplace(level, map, xc));
    } else {
        simd::map1_inplace(level, map, x)
    }
}

fn run2<M: Map2>(level: Level, par: bool, map: M, x: &[f32], g: &[f32], o: &mut [f32]) {
    let stream = x.len() >= simd::STREAM_MIN_LEN;
    let f = |xc: &[f32], gc: &[f32], oc: &mut [f32]| {
        if stream {
            simd::map2_streamed(level, map, xc, gc, oc)
        } else {
            simd::map2(level, map, xc, gc, oc)
        }
    };
    if par {
        x.par_chunks(CHUNK)
            .zip(g.par_chunks(CHUNK))
            .zip(o.par_chunks_mut(CHUNK))
            .for_each(|((xc, gc), oc)| f(xc, gc, oc));
    } else {
        f(x, g, o)
    }
}

fn run2_inplace<M: Map2>(level: Level, par: bool, map: M, x: &[f32], g: &mut [f32]) {
    if par {
        x.par_chunks(CHUNK)
            .zip(g.par_chunks_mut(CHUNK))
            .for_each(|(xc, gc)| simd::map2_inplace(level, map, xc, gc));
    } else {
        simd::map2_inplace(level, map, x, g)
    }
}

/// f32 forward at an explicit SIMD level and parallelism (tests and benchmarks; [`forward`]
/// picks [`Level::current`] and [`Par::Auto`]). A [`Level`] exists only for levels this CPU
/// supports, so any level may be passed.
pub fn forward_f32(level: Level, par: Par, act: &Activation, x: &[f32], y: &mut [f32]) {
    assert_eq!(x.len(), y.len(), "forward: length mismatch");
    let p = use_threads(act, par, x.len());
    with_forward_map!(act, map => run1(level, p, map, x, y))
}

/// f32 in-place forward at an explicit level (see [`forward_f32`]).
pub fn forward_inplace_f32(level: Level, par: Par, act: &Activation, x: &mut [f32]) {
    let p = use_threads(act, par, x.len());
    with_forward_map!(act, map => run1_inplace(level, p, map, x))
}

/// f32 backward at an explicit level (see [`forward_f32`]).
pub fn backward_f32(
    level: Level,
    par: Par,
    act: &Activation,
    x: &[f32],
    grad_out: &[f32],
    grad_in: &mut [f32],
) {
    assert_eq!(x.len(), grad_out.len(), "backward: length mismatch");
    assert_eq!(x.len(), grad_in.len(), "backward: length mismatch");
    let p = use_threads(act, par, x.len());
    with_backward_map!(act, map => run2(level, p, map, x, grad_out, grad_in))
}

/// f32 in-place backward (grad *= f'(x)) at an explicit level (see [`forward_f32`]).
pub fn backward_inplace_f32(level: Level, par: Par, act: &Activation, x: &[f32], grad: &mut [f32]) {
    assert_eq!(x.len(), grad.len(), "backward: length mismatch");
    let p = use_threads(act, par, x.len());
    with_backward_map!(act, map => run2_inplace(level, p, map, x, grad))
}
