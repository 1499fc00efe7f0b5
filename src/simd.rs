//! The crate's one SIMD dispatch: instruction-set levels detected once, capped by
//! `RELULAB_SIMD`, and handed out as an opaque token.
//!
//! Every kernel compiled for more than the build target's baseline (the activation slice
//! kernels, the small dense products, the fused activation passes, the optimizer update, the
//! diagnose blocks, the region engine's map products) takes a [`Level`]. A `Level` can only be
//! obtained for a CPU that runs it ([`Level::new`] checks, [`Level::current`] and
//! [`Level::supported`] only return checked levels), so no safe call can run code compiled for
//! features the CPU lacks: the token is the proof that the `unsafe` calls into
//! `#[target_feature]` code below rely on.
//!
//! [`Level::current`] is the level used by default: the best the CPU supports, capped by the
//! environment variable `RELULAB_SIMD` (`portable` (or `scalar`), `avx2`, `avx512`; read once
//! per process). Tests and benchmarks pick levels explicitly from [`Level::supported`].

use std::sync::OnceLock;

/// An instruction-set level the kernels are compiled for (a name only: a [`Level`] is the
/// checked token the kernels take).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[non_exhaustive]
pub enum Isa {
    /// The build target's baseline (SSE2 on x86-64, NEON with FMA on aarch64, scalar
    /// elsewhere).
    Portable,
    /// x86-64 AVX2 + FMA (256-bit vectors).
    Avx2,
    /// x86-64 AVX-512F, with AVX2 and FMA (512-bit vectors).
    Avx512,
}

impl Isa {
    /// Every level, lowest first.
    pub const ALL: [Isa; 3] = [Isa::Portable, Isa::Avx2, Isa::Avx512];

    /// Lower-case name ("portable", "avx2", "avx512"), as `RELULAB_SIMD` spells it.
    pub fn name(self) -> &'static str {
        match self {
            Isa::Portable => "portable",
            Isa::Avx2 => "avx2",
            Isa::Avx512 => "avx512",
        }
    }

    /// The level named `s` ("portable" or "scalar", "avx2", "avx512"), if any.
    pub fn parse(s: &str) -> Option<Isa> {
        match s.trim().to_ascii_lowercase().as_str() {
            "portable" | "scalar" => Some(Isa::Portable),
            "avx2" => Some(Isa::Avx2),
            "avx512" => Some(Isa::Avx512),
            _ => None,
        }
    }

    /// Whether this CPU runs code compiled for the level: every feature the level's code is
    /// compiled with is detected (AVX-512 code also enables AVX2 and FMA).
    pub fn is_supported(self) -> bool {
        match self {
            Isa::Portable => true,
            #[cfg(target_arch = "x86_64")]
            Isa::Avx2 => {
                std::arch::is_x86_feature_detected!("avx2")
                    && std::arch::is_x86_feature_detected!("fma")
            }
            #[cfg(target_arch = "x86_64")]
            Isa::Avx512 => {
                std::arch::is_x86_feature_detected!("avx512f")
                    && std::arch::is_x86_feature_detected!("avx2")
                    && std::arch::is_x86_feature_detected!("fma")
            }
            #[cfg(not(target_arch = "x86_64"))]
            _ => false,
        }
    }

    /// Whether the level's code uses fused multiply-add (so products and sums may round
    /// differently from the portable level's; see ARCHITECTURE.md, "Same bits").
    pub fn has_fma(self) -> bool {
        match self {
            Isa::Portable => PORTABLE_FMA,
            Isa::Avx2 | Isa::Avx512 => true,
        }
    }
}

impl std::fmt::Display for Isa {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Whether the portable level uses fused multiply-add: on aarch64 FMA is part of the baseline
/// (NEON), so `f32::mul_add` is one instruction; on x86-64 the baseline (SSE2) has none and a
/// software `fmaf` would be far slower.
pub(crate) const PORTABLE_FMA: bool = cfg!(target_arch = "aarch64");

/// A level this CPU supports: the only way to choose which compiled version of a kernel runs.
///
/// The field is private and every constructor checks the CPU, so holding a `Level` proves that
/// its code can run here; kernels taking one need no check of their own and cannot be made to
/// execute unsupported instructions from safe code. Outside the crate a level cannot be built
/// by hand:
///
/// ```compile_fail
/// let l = relulab::simd::Level(relulab::simd::Isa::Avx512);
/// ```
///
/// only asked for:
///
/// ```
/// use relulab::simd::{Isa, Level};
/// match Level::new(Isa::Avx512) {
///     Some(l) => assert_eq!(l.isa(), Isa::Avx512), // this CPU has AVX-512F, AVX2 and FMA
///     None => assert!(!Isa::Avx512.is_supported()),
/// }
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Level(Isa);

impl Level {
    /// The baseline level, supported everywhere.
    pub const PORTABLE: Level = Level(Isa::Portable);

    /// The level for `isa` if this CPU supports it.
    pub fn new(isa: Isa) -> Option<Level> {
        Level::supported().into_iter().find(|l| l.0 == isa)
    }

    /// The instruction set this level runs.
    pub fn isa(self) -> Isa {
        self.0
    }

    /// Lower-case name ("portable", "avx2", "avx512").
    pub fn name(self) -> &'static str {
        self.0.name()
    }

    /// Whether this level's code uses fused multiply-add ([`Isa::has_fma`]).
    pub fn has_fma(self) -> bool {
        self.0.has_fma()
    }

    /// The levels this CPU supports, lowest first (detected once per process; not capped by
    /// `RELULAB_SIMD`).
    pub fn supported() -> Vec<Level> {
        static SUPPORTED: OnceLock<Vec<Level>> = OnceLock::new();
        SUPPORTED
            .get_or_init(|| {
                Isa::ALL
                    .into_iter()
                    .filter(|i| i.is_supported())
                    .map(Level)
                    .collect()
            })
            .clone()
    }

    /// The levels relulab is compiled for that this CPU lacks (for tests to report).
    pub fn unsupported() -> Vec<Isa> {
        let have = Level::supported();
        Isa::ALL
            .into_iter()
            .filter(|i| !have.iter().any(|l| l.0 == *i))
            .collect()
    }

    /// The best level this CPU supports.
    pub fn best() -> Level {
        *Level::supported().last().unwrap_or(&Level::PORTABLE)
    }

    /// The level the kernels use by default: [`Level::best`], capped by `RELULAB_SIMD` when
    /// set. Read once per process; an unknown value is reported on stderr once and ignored.
    pub fn current() -> Level {
        static CURRENT: OnceLock<Level> = OnceLock::new();
        *CURRENT.get_or_init(|| {
            let cap = match std::env::var("RELULAB_SIMD") {
                Ok(v) if v.trim().is_empty() => None,
                Ok(v) => match Isa::parse(&v) {
                    Some(i) => Some(i),
                    None => {
                        eprintln!(
                            "relulab: warning: RELULAB_SIMD={v:?} is not one of portable, avx2, \
                             avx512; ignored"
                        );
                        None
                    }
                },
                Err(_) => None,
            };
            Level::capped(cap)
        })
    }

    /// The best supported level not above `cap` (the best supported when `None`).
    pub fn capped(cap: Option<Isa>) -> Level {
        Level::supported()
            .into_iter()
            .rfind(|l| cap.is_none_or(|c| l.0 <= c))
            .unwrap_or(Level::PORTABLE)
    }

    /// Run `f` compiled with this level's target features.
    ///
    /// `f` should be an `#[inline(always)]` closure whose body calls `#[inline(always)]` code:
    /// then the whole loop is compiled inside the `#[target_feature]` function below and
    /// vectorised for the level (without inlining it would still be correct, only built for
    /// the baseline).
    #[inline(always)]
    pub(crate) fn run<R>(self, f: impl FnOnce() -> R) -> R {
        match self.0 {
            #[cfg(target_arch = "x86_64")]
            // SAFETY: a `Level` holding `Isa::Avx512` is only made after `Isa::is_supported`
            // detected AVX-512F, AVX2 and FMA, the features `with_avx512` enables.
            Isa::Avx512 => unsafe { with_avx512(f) },
            #[cfg(target_arch = "x86_64")]
            // SAFETY: as above, AVX2 and FMA were detected.
            Isa::Avx2 => unsafe { with_avx2(f) },
            _ => f(),
        }
    }
}

impl std::fmt::Display for Level {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// `f()` compiled with AVX-512F, AVX2 and FMA. Safety: the CPU supports them.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx2,fma")]
unsafe fn with_avx512<R>(f: impl FnOnce() -> R) -> R {
    f()
}

/// `f()` compiled with AVX2 and FMA. Safety: the CPU supports them.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn with_avx2<R>(f: impl FnOnce() -> R) -> R {
    f()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_are_checked_and_ordered() {
        let s = Level::supported();
        assert_eq!(s[0], Level::PORTABLE);
        assert!(s.windows(2).all(|w| w[0] < w[1]));
        for isa in Isa::ALL {
            assert_eq!(Level::new(isa).is_some(), isa.is_supported(), "{isa}");
            assert_eq!(Level::unsupported().contains(&isa), !isa.is_supported());
        }
        assert_eq!(Level::capped(Some(Isa::Portable)), Level::PORTABLE);
        assert_eq!(Level::capped(None), Level::best());
        assert!(Level::capped(Some(Isa::Avx2)).isa() <= Isa::Avx2);
        assert_eq!(Isa::parse(" AVX2 "), Some(Isa::Avx2));
        assert_eq!(Isa::parse("scalar"), Some(Isa::Portable));
        assert_eq!(Isa::parse("sse9"), None);
    }

    #[test]
    fn run_returns_the_closures_value_at_every_level() {
        let v: Vec<f32> = (0..100).map(|i| i as f32).collect();
        for l in Level::supported() {
            let s = l.run(
                #[inline(always)]
                || v.iter().sum::<f32>(),
            );
            assert_eq!(s, 4950.0, "{l}");
        }
    }
}
