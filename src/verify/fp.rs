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
    // The outer step up is needed (a subnormal `mag` makes the sum round below the exact
    // formula; `dot_err_rounds_its_formula_up`). The inner one is implied by it: if fl(P) < P
    // for P = mag·kε, then P − fl(P) < ulp(P)/2 ≤ ulp(S)/2 for S = fl(P) + t ≥ fl(P), and
    // next_up(fl(S)) ≥ S + ulp(S)/2 covers it. It is kept as a margin that costs nothing.
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

/// Each `next_up`/`next_down` call above was removed in turn (then restored) with these tests
/// run against the result: every removal fails at least one test (next_down: 4, add_up,
/// sub_down, mul_up, mul_down: 2 each, the outer step of `dot_err`: 1) except the inner step of
/// `dot_err`, which is provably redundant (see there).
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

    /// Knuth's TwoSum: s = fl(a + b) and the exact error e, a + b = s + e (no overflow).
    fn two_sum(a: f64, b: f64) -> (f64, f64) {
        let s = a + b;
        let bb = s - a;
        (s, (a - (s - bb)) + (b - bb))
    }

    /// The FMA residual: p = fl(a·b) and e = a·b − p exactly (no underflow of e).
    fn two_prod(a: f64, b: f64) -> (f64, f64) {
        let p = a * b;
        (p, a.mul_add(b, -p))
    }

    /// r − s, asserted exact (r and s are neighbours or close, so Sterbenz applies).
    fn exact_diff(r: f64, s: f64) -> f64 {
        let (d, e) = two_sum(r, -s);
        assert_eq!(e, 0.0, "{r:e} − {s:e} is not exact");
        d
    }

    /// Pairs (a, b) over magnitudes and signs whose sum or product is not exact in f64.
    fn pairs() -> Vec<(f64, f64)> {
        let bases = [
            1.0,
            0.1,
            3.0,
            1e300,
            1e-300,
            7.5e-310,
            123456.789,
            2f64.powi(52),
        ];
        let tweaks = [
            f64::EPSILON * 0.75,
            f64::EPSILON * 0.25,
            1e-17,
            0.3,
            1.0 / 3.0,
            1e-5,
            7e-310,
        ];
        let mut v = Vec::new();
        for &a in &bases {
            for &t in &tweaks {
                for (sa, sb) in [(1.0, 1.0), (1.0, -1.0), (-1.0, 1.0), (-1.0, -1.0)] {
                    v.push((sa * a, sb * a * t));
                    v.push((sa * a, sb * t));
                    v.push((sa * (a + a * t), sb * (1.0 + t)));
                }
            }
        }
        v
    }

    /// Round-to-nearest lands below the exact sum for some pairs and above it for others: on
    /// the first kind `add_up` must step up, on the second `sub_down` (a − (−b)) must step
    /// down. Exactness is checked with TwoSum, bit for bit.
    #[test]
    fn add_up_and_sub_down_enclose_the_exact_sum() {
        let (mut below, mut above) = (0, 0);
        for (a, b) in pairs() {
            let (s, e) = two_sum(a, b);
            if !s.is_finite() {
                continue;
            }
            // add_up(a, b) ≥ a + b = s + e  ⇔  add_up − s ≥ e.
            let up = add_up(a, b);
            assert!(
                exact_diff(up, s) >= e,
                "add_up({a:e}, {b:e}) = {up:e} < exact"
            );
            // sub_down(a, −b) ≤ a + b  ⇔  sub_down − s ≤ e.
            let down = sub_down(a, -b);
            assert!(
                exact_diff(down, s) <= e,
                "sub_down({a:e}, {:e}) = {down:e} > exact",
                -b
            );
            // One ulp at most beyond the rounded sum: directed, not sloppy.
            assert!(up <= next_up(s) && down >= next_down(s));
            below += usize::from(e > 0.0);
            above += usize::from(e < 0.0);
        }
        // The cases that matter occur (round-to-nearest on the wrong side), many times each.
        assert!(below >= 20 && above >= 20, "below {below}, above {above}");
    }

    /// As above for products, with the FMA residual: mul_up ≥ a·b ≥ mul_down exactly.
    #[test]
    fn mul_up_and_mul_down_enclose_the_exact_product() {
        let (mut below, mut above) = (0, 0);
        for (a, b) in pairs() {
            let (p, e) = two_prod(a, b);
            // The residual is exact only while a·b is far from the subnormal range.
            if !p.is_finite() || p == 0.0 || p.abs() < 1e-290 {
                continue;
            }
            let up = mul_up(a, b);
            assert!(
                exact_diff(up, p) >= e,
                "mul_up({a:e}, {b:e}) = {up:e} < exact"
            );
            let down = mul_down(a, b);
            assert!(
                exact_diff(down, p) <= e,
                "mul_down({a:e}, {b:e}) = {down:e} > exact"
            );
            assert!(up <= next_up(p) && down >= next_down(p));
            below += usize::from(e > 0.0);
            above += usize::from(e < 0.0);
        }
        assert!(below >= 20 && above >= 20, "below {below}, above {above}");
    }

    /// Hand-picked pairs, one per direction, with the exact value worked out by hand:
    /// 1 + 0.75·2⁻⁵³ rounds to 1 (below), (1 + 2⁻⁵²)² = 1 + 2⁻⁵¹ + 2⁻¹⁰⁴ rounds to 1 + 2⁻⁵¹
    /// (below), and their negatives round above.
    #[test]
    fn hand_picked_pairs() {
        let t = 0.75 * f64::EPSILON / 2.0;
        assert_eq!(1.0 + t, 1.0);
        assert_eq!(add_up(1.0, t), 1.0 + f64::EPSILON);
        assert_eq!(sub_down(-1.0, t), -1.0 - f64::EPSILON);
        let a = 1.0 + f64::EPSILON;
        assert_eq!(a * a, 1.0 + 2.0 * f64::EPSILON);
        assert_eq!(mul_up(a, a), 1.0 + 3.0 * f64::EPSILON);
        assert_eq!(mul_down(-a, a), -1.0 - 3.0 * f64::EPSILON);
        // Always one step from the rounded result, even where that result is below exact.
        assert_eq!(mul_down(a, a), 1.0 + f64::EPSILON);
        assert_eq!(next_down(1.0 + 2.0 * f64::EPSILON), 1.0 + f64::EPSILON);
    }

    /// `dot_err(n, mag)` is at least the exact k·ε·mag + k·2⁻¹⁰²² (k = 2n + 8) it rounds up.
    /// With a subnormal `mag` every quantity is an integer number of u = 2⁻¹⁰⁷⁴ (times 2⁻⁵²
    /// for the product), so the comparison is exact in u128. The sums here round to nearest
    /// (ties to even) below the exact value, so the final step up is needed.
    #[test]
    fn dot_err_rounds_its_formula_up() {
        let units = |x: f64| -> u128 {
            // x·2¹⁰⁷⁴ in two exact steps (2¹⁰⁷⁴ itself overflows f64).
            let y = x * 2f64.powi(537) * 2f64.powi(537);
            assert_eq!(y.fract(), 0.0);
            y as u128
        };
        let mut checked = 0;
        for n in [0usize, 1, 5, 100, 1000] {
            let k = (2 * n + 8) as u128;
            for r in [0.4, 1.6, 2.7, 3.4, 5.3, 6.49, 1e3, 1e6, 3e9] {
                let mag = r * f64::from_bits(1) / (k as f64 * f64::EPSILON);
                if mag >= f64::MIN_POSITIVE {
                    continue;
                }
                let m = mag.to_bits() as u128; // mag = m·u
                                               // Exact value in units of u·2⁻⁵²: m·k (the product) + k·2¹⁰⁴ (k·2⁻¹⁰²²).
                let exact = m * k + (k << 104);
                let got = units(dot_err(n, mag)) << 52;
                assert!(
                    got >= exact,
                    "dot_err({n}, {mag:e}) below its exact formula"
                );
                checked += 1;
            }
        }
        assert!(checked >= 30, "{checked}");
    }
}
