//! Runtime CPU dispatch for the f32 slice kernels.
//!
//! One generic loop body per kernel shape (`y = f(x)`, `out = g(x, grad)`), monomorphized per
//! activation and compiled three times on x86-64: for the baseline target (SSE2; this is the
//! portable fallback, and on aarch64 the baseline is NEON), inside `#[target_feature(enable =
//! "avx2,fma")]` and inside `#[target_feature(enable = "avx512f")]`. LLVM vectorizes each at
//! the width its features allow. The level is detected once (`is_x86_feature_detected!`) and
//! cached; `RELULAB_SIMD=portable|avx2|avx512` caps it (for tests and benchmarks). The build
//! never uses `target-cpu=native`, so the binary runs on any x86-64.

pub mod math;

use std::sync::OnceLock;

/// An instruction-set level the f32 kernels are compiled for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    /// The build target's baseline (SSE2 on x86-64, NEON on aarch64, scalar elsewhere).
    Portable,
    /// x86-64 AVX2 + FMA (8 f32 lanes).
    Avx2,
    /// x86-64 AVX-512F (16 f32 lanes).
    Avx512,
}

impl Level {
    /// Every level, lowest first.
    pub const ALL: [Level; 3] = [Level::Portable, Level::Avx2, Level::Avx512];

    /// Lower-case name ("portable", "avx2", "avx512").
    pub fn name(self) -> &'static str {
        match self {
            Level::Portable => "portable",
            Level::Avx2 => "avx2",
            Level::Avx512 => "avx512",
        }
    }

    /// Whether this CPU can run the level.
    pub fn is_supported(self) -> bool {
        match self {
            Level::Portable => true,
            #[cfg(target_arch = "x86_64")]
            Level::Avx2 => is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma"),
            #[cfg(target_arch = "x86_64")]
            Level::Avx512 => {
                is_x86_feature_detected!("avx512f")
                    && is_x86_feature_detected!("avx2")
                    && is_x86_feature_detected!("fma")
            }
            #[cfg(not(target_arch = "x86_64"))]
            _ => false,
        }
    }

    /// The levels this CPU supports, lowest first.
    pub fn supported() -> Vec<Level> {
        Level::ALL
            .into_iter()
            .filter(|l| l.is_supported())
            .collect()
    }

    /// The level the kernels use: the best supported, capped by `RELULAB_SIMD` if set.
    /// Detected once per process.
    pub fn current() -> Level {
        static LEVEL: OnceLock<Level> = OnceLock::new();
        *LEVEL.get_or_init(|| {
            let best = *Level::supported().last().unwrap_or(&Level::Portable);
            let cap = match std::env::var("RELULAB_SIMD").ok().as_deref() {
                Some("portable") | Some("scalar") => Level::Portable,
                Some("avx2") => Level::Avx2,
                _ => Level::Avx512,
            };
            best.min(cap)
        })
    }
}

/// An element-wise map y = f(x) (a forward kernel).
pub trait Map1: Copy + Send + Sync {
    /// The element function; `F`: fused multiply-add available.
    fn apply<const F: bool>(&self, x: f32) -> f32;
}

/// An element-wise map out = g(x, grad) (a backward kernel).
pub trait Map2: Copy + Send + Sync {
    /// The element function; `F`: fused multiply-add available.
    fn apply<const F: bool>(&self, x: f32, grad: f32) -> f32;
}

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

/// Panics if `level` is not supported: running AVX code on a CPU without it is undefined
/// behaviour, so this is checked on every call (the check is a cached atomic load).
#[inline]
fn assert_supported(level: Level) {
    assert!(
        level.is_supported(),
        "SIMD level {} is not supported by this CPU",
        level.name()
    );
}

/// y[i] = m(x[i]) at `level` (lengths must match).
pub fn map1<M: Map1>(level: Level, m: M, x: &[f32], y: &mut [f32]) {
    assert_eq!(x.len(), y.len(), "kernel: length mismatch");
    match level {
        Level::Portable => body1::<false, M>(m, x, y),
        #[cfg(target_arch = "x86_64")]
        Level::Avx2 => {
            assert_supported(level);
            // SAFETY: the CPU supports AVX2 and FMA (checked above).
            unsafe { body1_avx2(m, x, y) }
        }
        #[cfg(target_arch = "x86_64")]
        Level::Avx512 => {
            assert_supported(level);
            // SAFETY: the CPU supports AVX-512F, AVX2 and FMA (checked above).
            unsafe { body1_avx512(m, x, y) }
        }
        #[cfg(not(target_arch = "x86_64"))]
        _ => body1::<false, M>(m, x, y),
    }
}

/// x[i] = m(x[i]) at `level`.
pub fn map1_inplace<M: Map1>(level: Level, m: M, x: &mut [f32]) {
    match level {
        Level::Portable => body1_inplace::<false, M>(m, x),
        #[cfg(target_arch = "x86_64")]
        Level::Avx2 => {
            assert_supported(level);
            // SAFETY: checked above.
            unsafe { body1i_avx2(m, x) }
        }
        #[cfg(target_arch = "x86_64")]
        Level::Avx512 => {
            assert_supported(level);
            // SAFETY: checked above.
            unsafe { body1i_avx512(m, x) }
        }
        #[cfg(not(target_arch = "x86_64"))]
        _ => body1_inplace::<false, M>(m, x),
    }
}

/// out[i] = m(x[i], g[i]) at `level` (lengths must match).
pub fn map2<M: Map2>(level: Level, m: M, x: &[f32], g: &[f32], out: &mut [f32]) {
    assert_eq!(x.len(), g.len(), "kernel: length mismatch");
    assert_eq!(x.len(), out.len(), "kernel: length mismatch");
    match level {
        Level::Portable => body2::<false, M>(m, x, g, out),
        #[cfg(target_arch = "x86_64")]
        Level::Avx2 => {
            assert_supported(level);
            // SAFETY: checked above.
            unsafe { body2_avx2(m, x, g, out) }
        }
        #[cfg(target_arch = "x86_64")]
        Level::Avx512 => {
            assert_supported(level);
            // SAFETY: checked above.
            unsafe { body2_avx512(m, x, g, out) }
        }
        #[cfg(not(target_arch = "x86_64"))]
        _ => body2::<false, M>(m, x, g, out),
    }
}

/// g[i] = m(x[i], g[i]) at `level` (lengths must match).
pub fn map2_inplace<M: Map2>(level: Level, m: M, x: &[f32], g: &mut [f32]) {
    assert_eq!(x.len(), g.len(), "kernel: length mismatch");
    match level {
        Level::Portable => body2_inplace::<false, M>(m, x, g),
        #[cfg(target_arch = "x86_64")]
        Level::Avx2 => {
            assert_supported(level);
            // SAFETY: checked above.
            unsafe { body2i_avx2(m, x, g) }
        }
        #[cfg(target_arch = "x86_64")]
        Level::Avx512 => {
            assert_supported(level);
            // SAFETY: checked above.
            unsafe { body2i_avx512(m, x, g) }
        }
        #[cfg(not(target_arch = "x86_64"))]
        _ => body2_inplace::<false, M>(m, x, g),
    }
}
