//! The floating-point element types relulab computes in: f32 (training) and f64 (analysis).

use std::fmt::{Debug, Display};
use std::iter::Sum;
use std::ops::{AddAssign, DivAssign, MulAssign, SubAssign};

/// f32 or f64. Conversions to and from f64 are the only casts numeric code needs.
pub trait Real:
    num_traits::Float
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
