//! The floating-point element types relulab computes in: f32 (training) and f64 (analysis).

use std::fmt::{Debug, Display};
use std::iter::Sum;
use std::ops::{AddAssign, DivAssign, MulAssign, SubAssign};

mod sealed {
    /// Implemented for f32 and f64 only: the kernels reinterpret `&[T]` as `&[f32]` or
    /// `&[f64]` after comparing `TypeId`s, which is sound only because no other type can be
    /// `Real`.
    pub trait Sealed {}
    impl Sealed for f32 {}
    impl Sealed for f64 {}
}

/// f32 or f64. Conversions to and from f64 are the only casts numeric code needs.
///
/// The trait is sealed: no type outside relulab can implement it (the fast paths assume
/// f32 or f64).
pub trait Real:
    sealed::Sealed
    + num_traits::Float
    + Default
    + Debug
    + Display
    + Send
    + Sync
    + 'static
    + Sum
    + AddAssign
    + SubAssign
    + MulAssign
    + DivAssign
{
    /// Name as in safetensors/NumPy dtype strings ("f32", "f64").
    const DTYPE: &'static str;
    /// Round an f64 to this type (to nearest).
    fn of_f64(x: f64) -> Self;
    /// Widen to f64 (exact for both types).
    fn as_f64(self) -> f64;
}

impl Real for f32 {
    const DTYPE: &'static str = "f32";
    #[inline(always)]
    fn of_f64(x: f64) -> Self {
        x as f32
    }
    #[inline(always)]
    fn as_f64(self) -> f64 {
        self as f64
    }
}

impl Real for f64 {
    const DTYPE: &'static str = "f64";
    #[inline(always)]
    fn of_f64(x: f64) -> Self {
        x
    }
    #[inline(always)]
    fn as_f64(self) -> f64 {
        self
    }
}
