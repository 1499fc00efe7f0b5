//! Floating-point rounding control for sound bounds.
//!
//! All bound computations run in f64 with round-to-nearest. Soundness does not rely on the
//! computed numbers being exact: every place where a rounded result enters an inequality, a
//! rigorous bound on the rounding error is added (outward) to the constant term.
//!
//! The error bound for a sum of `n` products computed in any order is Higham, *Accuracy and
//! Stability of Numerical Algorithms* (2nd ed.), eq. (3.5): |fl(Σ p_k) − Σ p_k| ≤ γ_n Σ |p_k|
//! with γ_n = n·u/(1 − n·u), u = 2⁻⁵³. [`dot_err`] returns a bound that dominates γ_n Σ|p_k|
//! by a factor of about four, so that the magnitude Σ|p_k| may itself be computed in floating
//! point (in any grouping, its own relative error is at most γ_{2n}), plus an absolute term for
//! underflow (each product may lose at most 2⁻¹⁰⁷⁵ in the subnormal range).

/// The next f64 towards +∞ (identity on +∞ and NaN).
#[inline]
pub fn next_up(x: f64) -> f64 {
    if x.is_nan() || x == f64::INFINITY {
        return x;
    }
    if x == 0.0 {
        return f64::from_bits(1);
    }
    let b = x.to_bits();
    f64::from_bits(if x > 0.0 { b + 1 } else { b - 1 })
}

/// The next f64 towards −∞ (identity on −∞ and NaN).
#[inline]
pub fn next_down(x: f64) -> f64 {
    -next_up(-x)
}

/// A bound on the rounding error of a sum of `n` terms whose magnitudes sum to `mag`
/// (computed in f64). See the module documentation.
#[inline]
pub fn dot_err(n: usize, mag: f64) -> f64 {
    let k = (2 * n + 8) as f64;
    next_up(next_up(mag * (k * f64::EPSILON)) + k * f64::MIN_POSITIVE)
}

/// `a + b` rounded up. A sum with a zero operand is exact and is returned as is (rounding it
/// "up" would only turn 0 into a subnormal, whose arithmetic is a hundred times slower).
#[inline]
pub fn add_up(a: f64, b: f64) -> f64 {
    if a == 0.0 || b == 0.0 {
        return a + b;
    }
    next_up(a + b)
}

/// `a − b` rounded down (exact, and returned as is, when an operand is zero).
#[inline]
pub fn sub_down(a: f64, b: f64) -> f64 {
    if a == 0.0 || b == 0.0 {
        return a - b;
    }
    next_down(a - b)
}

/// `a·b` rounded up (exact, and returned as is, when a factor is zero).
#[inline]
pub fn mul_up(a: f64, b: f64) -> f64 {
    if a == 0.0 || b == 0.0 {
        return a * b;
    }
    next_up(a * b)
}

/// `a·b` rounded down (exact, and returned as is, when a factor is zero).
#[inline]
pub fn mul_down(a: f64, b: f64) -> f64 {
    if a == 0.0 || b == 0.0 {
        return a * b;
    }
    next_down(a * b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn next_up_and_down_step_one_ulp() {
        assert_eq!(next_up(1.0), 1.0 + f64::EPSILON);
        assert_eq!(next_down(1.0), 1.0 - f64::EPSILON / 2.0);
        assert_eq!(next_up(0.0), f64::from_bits(1));
        assert_eq!(next_down(0.0), -f64::from_bits(1));
        assert_eq!(next_up(-f64::from_bits(1)), -0.0);
        assert_eq!(next_up(f64::MAX), f64::INFINITY);
        assert_eq!(next_down(f64::INFINITY), f64::MAX);
        assert!(next_up(f64::NAN).is_nan());
    }

    #[test]
    fn dot_err_dominates_observed_error() {
        // 0.1 summed 1000 times, compared with the exact sum in integers: x = m·2^e.
        let x = 0.1f64;
        let s: f64 = (0..1000).map(|_| x).sum();
        let m = (x.to_bits() & ((1u64 << 52) - 1)) | (1u64 << 52);
        let e = ((x.to_bits() >> 52) as i32) - 1075;
        let s_int = (s * 2f64.powi(-e)) as u128; // exact: s is a multiple of 2^e
        let exact_int = m as u128 * 1000;
        let err = s_int.abs_diff(exact_int) as f64 * 2f64.powi(e);
        assert!(err > 0.0);
        assert!(err <= dot_err(1000, s));
    }
}
