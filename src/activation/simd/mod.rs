//! Runtime CPU dispatch for the f32 slice kernels.
//!
//! One generic loop body per kernel shape (`y = f(x)`, `out = g(x, grad)`), monomorphized per
//! activation and compiled three times on x86-64: for the baseline target (SSE2; this is the
//! portable fallback, and on aarch64 the baseline is NEON), inside `#[target_feature(enable =
//! "avx2,fma")]` and inside `#[target_feature(enable = "avx512f")]`. LLVM vectorizes each at
//! the width its features allow. The level is the crate's checked token ([`crate::simd::Level`]:
//! detected once, `RELULAB_SIMD=portable|avx2|avx512` caps the default), so the kernels need no
//! check of their own. The build never uses `target-cpu=native`, so the binary runs on any
//! x86-64.

#[cfg(target_arch = "x86_64")]
mod gelu512;
#[cfg(target_arch = "x86_64")]
mod gelu_table;
pub mod math;

use crate::simd::PORTABLE_FMA;
pub use crate::simd::{Isa, Level};

/// An element-wise map y = f(x) (a forward kernel).
pub trait Map1: Copy + Send + Sync {
    /// The element function; `F`: fused multiply-add available.
    fn apply<const F: bool>(&self, x: f32) -> f32;
    /// Hand-written AVX-512F slice kernels that replace the compiled loop of [`Map1::apply`]
    /// at [`Isa::Avx512`] (GELU-erf has them: [`GELU_AVX512`]).
    const AVX512: Option<Slice1> = None;
}

/// An element-wise map out = g(x, grad) (a backward kernel).
pub trait Map2: Copy + Send + Sync {
    /// The element function; `F`: fused multiply-add available.
    fn apply<const F: bool>(&self, x: f32, grad: f32) -> f32;
    /// Hand-written AVX-512F slice kernels (as [`Map1::AVX512`]; [`GELU_PRIME_AVX512`]).
    const AVX512: Option<Slice2> = None;
}

/// Slice kernels of a forward map for one level: out of place (plain or with non-temporal
/// stores) and in place. Only this module can make one, so their features match the level.
#[derive(Clone, Copy)]
pub struct Slice1 {
    #[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
    run: unsafe fn(&[f32], &mut [f32], bool),
    #[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
    inplace: unsafe fn(&mut [f32]),
}

/// Slice kernels of a backward map for one level (as [`Slice1`]).
#[derive(Clone, Copy)]
pub struct Slice2 {
    #[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
    run: unsafe fn(&[f32], &[f32], &mut [f32], bool),
    #[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
    inplace: unsafe fn(&[f32], &mut [f32]),
}

/// GELU-erf forward at the AVX-512 level: a table-driven piecewise polynomial (`gelu512.rs`).
#[cfg(target_arch = "x86_64")]
pub const GELU_AVX512: Option<Slice1> = Some(Slice1 {
    run: gelu512::forward,
    inplace: gelu512::forward_inplace,
});
/// GELU-erf forward at the AVX-512 level (none off x86-64).
#[cfg(not(target_arch = "x86_64"))]
pub const GELU_AVX512: Option<Slice1> = None;

/// GELU-erf backward at the AVX-512 level (`gelu512.rs`).
#[cfg(target_arch = "x86_64")]
pub const GELU_PRIME_AVX512: Option<Slice2> = Some(Slice2 {
    run: gelu512::backward,
    inplace: gelu512::backward_inplace,
});
/// GELU-erf backward at the AVX-512 level (none off x86-64).
#[cfg(not(target_arch = "x86_64"))]
pub const GELU_PRIME_AVX512: Option<Slice2> = None;

#[inline(always)]
fn body1<const F: bool, M: Map1>(m: M, x: &[f32], y: &mut [f32]) {
    for (yi, &xi) in y.iter_mut().zip(x) {
        *yi = m.apply::<F>(xi);
    }
}

#[inline(always)]
fn body1_inplace<const F: bool, M: Map1>(m: M, x: &mut [f32]) {
    for xi in x.iter_mut() {
        *xi = m.apply::<F>(*xi);
    }
}

#[inline(always)]
fn body2<const F: bool, M: Map2>(m: M, x: &[f32], g: &[f32], out: &mut [f32]) {
    for ((oi, &xi), &gi) in out.iter_mut().zip(x).zip(g) {
        *oi = m.apply::<F>(xi, gi);
    }
}

#[inline(always)]
fn body2_inplace<const F: bool, M: Map2>(m: M, x: &[f32], g: &mut [f32]) {
    for (gi, &xi) in g.iter_mut().zip(x) {
        *gi = m.apply::<F>(xi, *gi);
    }
}

/// Instantiate a loop body under a target feature set.
macro_rules! with_features {
    ($name:ident, $body:ident, $feat:literal, <$M:ident: $Tr:ident>, ($($arg:ident: $ty:ty),*)) => {
        #[cfg(target_arch = "x86_64")]
        #[target_feature(enable = $feat)]
        unsafe fn $name<$M: $Tr>($($arg: $ty),*) {
            $body::<true, $M>($($arg),*)
        }
    };
}

with_features!(body1_avx2, body1, "avx2,fma", <M: Map1>, (m: M, x: &[f32], y: &mut [f32]));
with_features!(body1_avx512, body1, "avx512f,avx2,fma", <M: Map1>, (m: M, x: &[f32], y: &mut [f32]));
with_features!(body1i_avx2, body1_inplace, "avx2,fma", <M: Map1>, (m: M, x: &mut [f32]));
with_features!(body1i_avx512, body1_inplace, "avx512f,avx2,fma", <M: Map1>, (m: M, x: &mut [f32]));
with_features!(body2_avx2, body2, "avx2,fma", <M: Map2>, (m: M, x: &[f32], g: &[f32], out: &mut [f32]));
with_features!(body2_avx512, body2, "avx512f,avx2,fma", <M: Map2>, (m: M, x: &[f32], g: &[f32], out: &mut [f32]));
with_features!(body2i_avx2, body2_inplace, "avx2,fma", <M: Map2>, (m: M, x: &[f32], g: &mut [f32]));
with_features!(body2i_avx512, body2_inplace, "avx512f,avx2,fma", <M: Map2>, (m: M, x: &[f32], g: &mut [f32]));

/// Out-of-place outputs at least this long (elements) are written with non-temporal stores on
/// the AVX levels: a store that bypasses the cache skips the read-for-ownership of each output
/// line, so a memory-bound kernel moves 2 (forward) or 3 (backward) bytes per output byte
/// instead of 3 or 4, as `memcpy` does for large copies. Below it the output stays in cache for
/// whoever reads it next. From `cargo bench --bench activations` (64 MiB rows).
pub const STREAM_MIN_LEN: usize = 1 << 21;

/// Elements computed into a staging buffer (four 64-byte lines) before being streamed out. Not
/// a page: with a 4 KiB buffer, loads of `x` whose address matched a pending store to the buffer
/// modulo 4096 stalled (4K aliasing), and ReLU forward at 64 MiB reached 0.81–0.88 of the copy's
/// bandwidth; with 64 elements it reaches the copy, forward and backward (`cargo bench --bench
/// activations`, README "Activations"; 16 elements slowed the backward).
#[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
const STAGE: usize = 64;

/// Compute `y` through a staging buffer and stream full, 64-byte-aligned blocks out with
/// `store` (the level's non-temporal store): `block(i, buf)` computes y\[i..i+STAGE\] into
/// `buf` (a fixed-length array, so the loop inside is fully unrolled and vectorized), and
/// `part(range, out)` computes the unaligned head and the tail in place.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
fn staged(
    y: &mut [f32],
    mut part: impl FnMut(std::ops::Range<usize>, &mut [f32]),
    mut block: impl FnMut(usize, &mut [f32; STAGE]),
    store: unsafe fn(*mut f32, &[f32; STAGE]),
) {
    let n = y.len();
    let head = to_line(y.as_ptr(), n);
    part(0..head, &mut y[..head]);
    let mut buf = [0f32; STAGE];
    let mut i = head;
    while i + STAGE <= n {
        block(i, &mut buf);
        // SAFETY: y[i..i+STAGE] is in bounds and 64-byte aligned (head aligned it and STAGE·4
        // is a multiple of 64); the caller's target features match `store`.
        unsafe { store(y.as_mut_ptr().add(i), &buf) };
        i += STAGE;
    }
    part(i..n, &mut y[i..n]);
    // SAFETY: sfence has no preconditions; it orders the streamed stores before later ones.
    unsafe { std::arch::x86_64::_mm_sfence() };
}

/// Elements of f32 from `p` to the next 64-byte boundary (0 to 15), at most `n`: from the
/// address itself (an f32 pointer is 4-byte aligned), not `align_offset`, which may give up.
#[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
#[inline(always)]
pub(crate) fn to_line(p: *const f32, n: usize) -> usize {
    (((64 - (p as usize & 63)) & 63) / 4).min(n)
}

/// The STAGE elements of `v` from `i` as a fixed-length array.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
fn stage_of(v: &[f32], i: usize) -> &[f32; STAGE] {
    v[i..i + STAGE].try_into().expect("stage in bounds")
}

/// Non-temporal 256-bit stores of one stage. Safety: `dst` is 64-byte aligned and valid for
/// STAGE writes; AVX is available.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn stream_avx2(dst: *mut f32, src: &[f32; STAGE]) {
    use std::arch::x86_64::*;
    for k in (0..STAGE).step_by(8) {
        // SAFETY: k + 8 <= STAGE, so both addresses are in bounds (the caller's contract for
        // `dst`); `dst + k` is 32-byte aligned since `dst` is 64-byte aligned and k·4 is a
        // multiple of 32.
        unsafe { _mm256_stream_ps(dst.add(k), _mm256_loadu_ps(src.as_ptr().add(k))) };
    }
}

/// Non-temporal 512-bit stores of one stage. Safety: `dst` is 64-byte aligned and valid for
/// STAGE writes; AVX-512F is available.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx2,fma")]
unsafe fn stream_avx512(dst: *mut f32, src: &[f32; STAGE]) {
    use std::arch::x86_64::*;
    for k in (0..STAGE).step_by(16) {
        // SAFETY: k + 16 <= STAGE, so both addresses are in bounds (the caller's contract for
        // `dst`); `dst + k` is 64-byte aligned since `dst` is and k·4 is a multiple of 64.
        unsafe { _mm512_stream_ps(dst.add(k), _mm512_loadu_ps(src.as_ptr().add(k))) };
    }
}

macro_rules! streamed_levels {
    ($n1:ident, $n2:ident, $feat:literal, $store:ident) => {
        #[cfg(target_arch = "x86_64")]
        #[target_feature(enable = $feat)]
        unsafe fn $n1<M: Map1>(m: M, x: &[f32], y: &mut [f32]) {
            staged(
                y,
                |r, out| body1::<true, M>(m, &x[r], out),
                |i, buf| {
                    let xb = stage_of(x, i);
                    for k in 0..STAGE {
                        buf[k] = m.apply::<true>(xb[k]);
                    }
                },
                $store,
            )
        }
        #[cfg(target_arch = "x86_64")]
        #[target_feature(enable = $feat)]
        unsafe fn $n2<M: Map2>(m: M, x: &[f32], g: &[f32], out: &mut [f32]) {
            staged(
                out,
                |r, o| body2::<true, M>(m, &x[r.clone()], &g[r], o),
                |i, buf| {
                    let (xb, gb) = (stage_of(x, i), stage_of(g, i));
                    for k in 0..STAGE {
                        buf[k] = m.apply::<true>(xb[k], gb[k]);
                    }
                },
                $store,
            )
        }
    };
}

streamed_levels!(body1s_avx2, body2s_avx2, "avx2,fma", stream_avx2);
streamed_levels!(
    body1s_avx512,
    body2s_avx512,
    "avx512f,avx2,fma",
    stream_avx512
);

/// [`map1`] with non-temporal stores on the AVX levels (same results; see [`STREAM_MIN_LEN`]).
pub fn map1_streamed<M: Map1>(level: Level, m: M, x: &[f32], y: &mut [f32]) {
    assert_eq!(x.len(), y.len(), "kernel: length mismatch");
    match level.isa() {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: the token proves AVX2 and FMA were detected.
        Isa::Avx2 => unsafe { body1s_avx2(m, x, y) },
        #[cfg(target_arch = "x86_64")]
        // SAFETY: the token proves AVX-512F, AVX2 and FMA were detected (the hand-written slice
        // kernels need AVX-512F only).
        Isa::Avx512 => unsafe {
            match M::AVX512 {
                Some(k) => (k.run)(x, y, true),
                None => body1s_avx512(m, x, y),
            }
        },
        _ => map1(level, m, x, y),
    }
}

/// [`map2`] with non-temporal stores on the AVX levels (same results).
pub fn map2_streamed<M: Map2>(level: Level, m: M, x: &[f32], g: &[f32], out: &mut [f32]) {
    assert_eq!(x.len(), g.len(), "kernel: length mismatch");
    assert_eq!(x.len(), out.len(), "kernel: length mismatch");
    match level.isa() {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: the token proves AVX2 and FMA were detected.
        Isa::Avx2 => unsafe { body2s_avx2(m, x, g, out) },
        #[cfg(target_arch = "x86_64")]
        // SAFETY: the token proves AVX-512F, AVX2 and FMA were detected.
        Isa::Avx512 => unsafe {
            match M::AVX512 {
                Some(k) => (k.run)(x, g, out, true),
                None => body2s_avx512(m, x, g, out),
            }
        },
        _ => map2(level, m, x, g, out),
    }
}

/// y\[i\] = m(x\[i\]) at `level` (lengths must match).
pub fn map1<M: Map1>(level: Level, m: M, x: &[f32], y: &mut [f32]) {
    assert_eq!(x.len(), y.len(), "kernel: length mismatch");
    match level.isa() {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: the token proves AVX2 and FMA were detected.
        Isa::Avx2 => unsafe { body1_avx2(m, x, y) },
        #[cfg(target_arch = "x86_64")]
        // SAFETY: the token proves AVX-512F, AVX2 and FMA were detected.
        Isa::Avx512 => unsafe {
            match M::AVX512 {
                Some(k) => (k.run)(x, y, false),
                None => body1_avx512(m, x, y),
            }
        },
        _ => body1::<PORTABLE_FMA, M>(m, x, y),
    }
}

/// x\[i\] = m(x\[i\]) at `level`.
pub fn map1_inplace<M: Map1>(level: Level, m: M, x: &mut [f32]) {
    match level.isa() {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: the token proves AVX2 and FMA were detected.
        Isa::Avx2 => unsafe { body1i_avx2(m, x) },
        #[cfg(target_arch = "x86_64")]
        // SAFETY: the token proves AVX-512F, AVX2 and FMA were detected.
        Isa::Avx512 => unsafe {
            match M::AVX512 {
                Some(k) => (k.inplace)(x),
                None => body1i_avx512(m, x),
            }
        },
        _ => body1_inplace::<PORTABLE_FMA, M>(m, x),
    }
}

/// out\[i\] = m(x\[i\], g\[i\]) at `level` (lengths must match).
pub fn map2<M: Map2>(level: Level, m: M, x: &[f32], g: &[f32], out: &mut [f32]) {
    assert_eq!(x.len(), g.len(), "kernel: length mismatch");
    assert_eq!(x.len(), out.len(), "kernel: length mismatch");
    match level.isa() {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: the token proves AVX2 and FMA were detected.
        Isa::Avx2 => unsafe { body2_avx2(m, x, g, out) },
        #[cfg(target_arch = "x86_64")]
        // SAFETY: the token proves AVX-512F, AVX2 and FMA were detected.
        Isa::Avx512 => unsafe {
            match M::AVX512 {
                Some(k) => (k.run)(x, g, out, false),
                None => body2_avx512(m, x, g, out),
            }
        },
        _ => body2::<PORTABLE_FMA, M>(m, x, g, out),
    }
}

/// g\[i\] = m(x\[i\], g\[i\]) at `level` (lengths must match).
pub fn map2_inplace<M: Map2>(level: Level, m: M, x: &[f32], g: &mut [f32]) {
    assert_eq!(x.len(), g.len(), "kernel: length mismatch");
    match level.isa() {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: the token proves AVX2 and FMA were detected.
        Isa::Avx2 => unsafe { body2i_avx2(m, x, g) },
        #[cfg(target_arch = "x86_64")]
        // SAFETY: the token proves AVX-512F, AVX2 and FMA were detected.
        Isa::Avx512 => unsafe {
            match M::AVX512 {
                Some(k) => (k.inplace)(x, g),
                None => body2i_avx512(m, x, g),
            }
        },
        _ => body2_inplace::<PORTABLE_FMA, M>(m, x, g),
    }
}
