//! The bound kernels contain the exact real value (issue 17, item 3), checked bit for bit.
//!
//! Every weight, bias and box endpoint is a dyadic rational k·2⁻³⁰ with |k| < 2³⁰, so each
//! product has up to 60 significant bits and round-to-nearest f64 arithmetic is inexact, while
//! the exact value of every quantity is an integer multiple of 2⁻⁹⁰ that fits an `i128`. The
//! networks are chosen so that the bound is *tight in real arithmetic*: a single affine layer,
//! and two-layer ReLU nets whose biases keep every hidden unit stably active (IBP proves it),
//! so CROWN's relaxation is exact and the only thing between its result and the exact optimum
//! is rounding. A bound kernel that forgot one directed rounding would therefore land on the
//! wrong side of the exact value for some of these nets; `naive_rounding_crosses_the_exact_value`
//! shows that plain round-to-nearest evaluation does, so the checks have teeth. Tried: making
//! `fp::dot_err` return 0 (no rounding error charged) fails both containment tests; dropping
//! the single `next_up`/`next_down` of `add_up`, `sub_down`, `mul_up` or `mul_down` does not
//! (the charged dot-product error dominates one ulp here): fp.rs's own tests catch those.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use relulab::verify::bounds::{crown, ibp};
use relulab::verify::engine::{bound_rows, optimized_hidden, Domain, Optim, Relaxation, Row};
use relulab::verify::{output_bounds, Method, PwlNet};
use relulab::{Activation, Layer, Mlp};

/// Exponent of the grid: every input value is k·2^-E.
const E: i32 = 30;

/// A random dyadic k·2⁻³⁰ with |k| < 2³⁰ (as the integer k).
fn dy(rng: &mut ChaCha8Rng) -> i128 {
    rng.random_range(-(1i64 << E) + 1..(1i64 << E)) as i128
}

fn f(k: i128, e: i32) -> f64 {
    // Exact: |k| < 2^53 for every value built here.
    (k as f64) * 2f64.powi(-e)
}

/// `x · 2^e` as an exact integer when it is one (power-of-two scaling is exact in f64).
fn scaled(x: f64, e: i32) -> i128 {
    let s = x * 2f64.powi(e);
    assert!(
        s.is_finite() && s.fract() == 0.0,
        "{x} is not on the 2^-{e} grid"
    );
    s as i128
}

/// One random case: weights in integer units of 2⁻³⁰.
struct Case {
    d: usize,
    h: usize,
    w1: Vec<i128>,
    /// Bias of layer 1 in units of 2⁻³⁰ (≥ 10 · 2³⁰: every hidden unit stably active).
    b1: Vec<i128>,
    w2: Vec<i128>,
    b2: Vec<i128>,
    lo: Vec<i128>,
    hi: Vec<i128>,
}

fn case(rng: &mut ChaCha8Rng, d: usize, h: usize) -> Case {
    let w1 = (0..h * d).map(|_| dy(rng)).collect();
    // |Σ w x| < d ≤ 8, so a bias in [10, 11) keeps z₁ > 0 on the whole box.
    let b1 = (0..h).map(|_| (10i128 << E) + dy(rng).abs()).collect();
    let w2 = (0..h).map(|_| dy(rng)).collect();
    let b2 = vec![dy(rng)];
    let mut lo = Vec::new();
    let mut hi = Vec::new();
    for _ in 0..d {
        let (a, b) = (dy(rng), dy(rng));
        lo.push(a.min(b));
        hi.push(a.max(b));
    }
    Case {
        d,
        h,
        w1,
        b1,
        w2,
        b2,
        lo,
        hi,
    }
}

fn layer(d: usize, n: usize, w: &[i128], b: &[i128], act: Activation) -> Layer<f64> {
    let mut l = Layer::<f64>::zeros(d, n, true, act);
    l.weight = w.iter().map(|&k| f(k, E)).collect();
    l.bias = Some(b.iter().map(|&k| f(k, E)).collect());
    l
}

impl Case {
    /// x ↦ W₂ relu(W₁ x + b₁) + b₂.
    fn two_layer(&self) -> PwlNet {
        let mlp = Mlp {
            layers: vec![
                layer(self.d, self.h, &self.w1, &self.b1, Activation::RELU),
                layer(self.h, 1, &self.w2, &self.b2, Activation::Identity),
            ],
        };
        PwlNet::from_mlp(&mlp).unwrap()
    }

    /// x ↦ W₁ x + b₁ (one affine layer, h outputs).
    fn affine(&self) -> PwlNet {
        let mlp = Mlp {
            layers: vec![layer(
                self.d,
                self.h,
                &self.w1,
                &self.b1,
                Activation::Identity,
            )],
        };
        PwlNet::from_mlp(&mlp).unwrap()
    }

    fn bx(&self) -> (Vec<f64>, Vec<f64>) {
        (
            self.lo.iter().map(|&k| f(k, E)).collect(),
            self.hi.iter().map(|&k| f(k, E)).collect(),
        )
    }

    /// Exact min and max of z₁[j] over the box, in units of 2⁻⁶⁰.
    fn z1_range(&self, j: usize) -> (i128, i128) {
        let (mut mn, mut mx) = (self.b1[j] << E, self.b1[j] << E);
        for i in 0..self.d {
            let w = self.w1[j * self.d + i];
            let (a, b) = (w * self.lo[i], w * self.hi[i]);
            mn += a.min(b);
            mx += a.max(b);
        }
        (mn, mx)
    }

    /// Exact min and max of the two-layer output over the box, in units of 2⁻⁹⁰ (the net is
    /// affine on the box because every hidden unit is active).
    fn y_range(&self) -> (i128, i128) {
        let mut cst = self.b2[0] << (2 * E);
        let mut coef = vec![0i128; self.d];
        for j in 0..self.h {
            cst += self.w2[j] * (self.b1[j] << E);
            for (i, c) in coef.iter_mut().enumerate() {
                *c += self.w2[j] * self.w1[j * self.d + i];
            }
        }
        let (mut mn, mut mx) = (cst, cst);
        for (i, &k) in coef.iter().enumerate() {
            let (a, b) = (k * self.lo[i], k * self.hi[i]);
            mn += a.min(b);
            mx += a.max(b);
        }
        (mn, mx)
    }

    /// The output's minimum evaluated in plain round-to-nearest f64, the way a bound kernel
    /// without directed rounding would: the composed coefficients, then the best corner.
    fn naive_min(&self) -> f64 {
        let mut cst = f(self.b2[0], E);
        let mut coef = vec![0f64; self.d];
        for j in 0..self.h {
            let w2 = f(self.w2[j], E);
            cst += w2 * f(self.b1[j], E);
            for (i, c) in coef.iter_mut().enumerate() {
                *c += w2 * f(self.w1[j * self.d + i], E);
            }
        }
        let (lo, hi) = self.bx();
        (0..self.d)
            .map(|i| (coef[i] * lo[i]).min(coef[i] * hi[i]))
            .fold(cst, |s, v| s + v)
    }
}

/// `lb ≤ exact/2^e` decided exactly.
fn below(lb: f64, exact: i128, e: i32) -> bool {
    if lb == f64::NEG_INFINITY {
        return true;
    }
    scaled(lb, e) <= exact
}

/// `ub ≥ exact/2^e` decided exactly.
fn above(ub: f64, exact: i128, e: i32) -> bool {
    if ub == f64::INFINITY {
        return true;
    }
    scaled(ub, e) >= exact
}

const CASES: usize = 300;

#[test]
fn affine_layer_bounds_contain_the_exact_range() {
    let mut rng = ChaCha8Rng::seed_from_u64(17);
    let (mut tight, mut total) = (0, 0);
    for n in 0..CASES {
        let c = case(&mut rng, 1 + n % 8, 1 + n % 5);
        let net = c.affine();
        let (lo, hi) = c.bx();
        for method in [Method::Ibp, Method::Crown] {
            let (l, h) = output_bounds(&net, &lo, &hi, method);
            for j in 0..c.h {
                let (mn, mx) = c.z1_range(j);
                assert!(
                    below(l[j], mn, 2 * E),
                    "case {n} {method:?} unit {j}: lower {} above the exact {}",
                    l[j],
                    mn as f64 * 2f64.powi(-2 * E)
                );
                assert!(
                    above(h[j], mx, 2 * E),
                    "case {n} {method:?} unit {j}: upper {} below the exact {}",
                    h[j],
                    mx as f64 * 2f64.powi(-2 * E)
                );
                // Loose only by rounding: within a few ulps of the exact value.
                let ex = mn as f64 * 2f64.powi(-2 * E);
                total += 1;
                if (l[j] - ex).abs() <= 64.0 * f64::EPSILON * (1.0 + ex.abs()) * c.d as f64 {
                    tight += 1;
                }
            }
        }
    }
    assert!(
        tight * 10 >= total * 9,
        "bounds should be tight up to rounding: {tight} of {total}"
    );
}

#[test]
fn two_layer_bounds_contain_the_exact_range() {
    let mut rng = ChaCha8Rng::seed_from_u64(18);
    for n in 0..CASES {
        let c = case(&mut rng, 1 + n % 8, 1 + n % 6);
        let net = c.two_layer();
        let (lo, hi) = c.bx();
        let (mn, mx) = c.y_range();
        // Hidden layer: IBP and the optimised intermediate bounds.
        let ib = ibp(&net, &lo, &hi);
        let oh = optimized_hidden(&net, &lo, &hi, None, &Optim::default());
        for j in 0..c.h {
            let (zl, zh) = c.z1_range(j);
            for (name, b) in [("ibp", &ib), ("optimized_hidden", &oh)] {
                assert!(
                    below(b.lo[0][j], zl, 2 * E),
                    "case {n} {name} z1[{j}] lower"
                );
                assert!(
                    above(b.hi[0][j], zh, 2 * E),
                    "case {n} {name} z1[{j}] upper"
                );
            }
            assert!(
                ib.lo[0][j] > 0.0,
                "case {n}: unit {j} must be stably active"
            );
        }
        for method in [Method::Ibp, Method::Crown, Method::AlphaCrown] {
            let (l, h) = output_bounds(&net, &lo, &hi, method);
            assert!(
                below(l[0], mn, 3 * E),
                "case {n} {method:?}: lower {} too high",
                l[0]
            );
            assert!(
                above(h[0], mx, 3 * E),
                "case {n} {method:?}: upper {} too low",
                h[0]
            );
        }
        let cr = crown(&net, &lo, &hi, 0);
        assert!(below(cr.lo[1][0], mn, 3 * E) && above(cr.hi[1][0], mx, 3 * E));
        // The engine directly: rows ±y, with a split on an (already stable) unit's sign and a
        // sub-box, whose exact range is computed on the sub-box.
        let rel = Relaxation::new(&net, 1, &lo, &hi, &oh);
        let sub_lo: Vec<f64> = lo.clone();
        let sub_hi: Vec<f64> = lo.iter().zip(&hi).map(|(a, b)| a + (b - a) / 2.0).collect();
        let doms = [
            Domain::splits(&[]),
            Domain {
                splits: &[],
                bbox: Some((&sub_lo, &sub_hi)),
                lines: None,
            },
        ];
        let (plus, minus) = ([1.0], [-1.0]);
        let rows: Vec<Row> = [
            (0, &plus[..]),
            (0, &minus[..]),
            (1, &plus[..]),
            (1, &minus[..]),
        ]
        .into_iter()
        .map(|(dom, c)| Row {
            dom,
            c,
            target: f64::INFINITY,
            alpha: None,
            beta: None,
            floor: f64::NEG_INFINITY,
        })
        .collect();
        let res = bound_rows(&rel, &doms, &rows, &Optim::default());
        assert!(below(res[0].lb, mn, 3 * E), "case {n}: engine lower");
        assert!(above(-res[1].lb, mx, 3 * E), "case {n}: engine upper");
        // The sub-box's exact range: its endpoints are on the 2^-31 grid (midpoints).
        let half = Case {
            lo: c.lo.iter().map(|&k| 2 * k).collect(),
            hi: sub_hi.iter().map(|&v| scaled(v, E + 1)).collect(),
            w1: c.w1.iter().map(|&k| 2 * k).collect(),
            b1: c.b1.iter().map(|&k| 2 * k).collect(),
            w2: c.w2.clone(),
            b2: c.b2.clone(),
            ..c
        };
        // Units: w1, x on 2^-31·2^-31 ... the whole scale: y in units of 2^-(31+31+30) for the
        // w2·w1·x terms; rebuild exactly instead of reusing y_range's fixed exponents.
        let (smn, smx) = sub_range(&half);
        assert!(
            below(res[2].lb, smn, 92),
            "case {n}: engine lower on the sub-box"
        );
        assert!(
            above(-res[3].lb, smx, 92),
            "case {n}: engine upper on the sub-box"
        );
    }
}

/// The exact output range on a box given with weights and box both in units of 2⁻³¹ (w2, b2
/// in units of 2⁻³⁰): y in units of 2⁻⁹².
fn sub_range(c: &Case) -> (i128, i128) {
    // z1 in units of 2^-62: Σ w1·x + b1·2^31.
    let mut cst = c.b2[0] << 62;
    let mut coef = vec![0i128; c.d];
    for j in 0..c.h {
        cst += c.w2[j] * (c.b1[j] << 31);
        for (i, k) in coef.iter_mut().enumerate() {
            *k += c.w2[j] * c.w1[j * c.d + i];
        }
    }
    let (mut mn, mut mx) = (cst, cst);
    for (i, &k) in coef.iter().enumerate() {
        let (a, b) = (k * c.lo[i], k * c.hi[i]);
        mn += a.min(b);
        mx += a.max(b);
    }
    (mn, mx)
}

#[test]
fn naive_rounding_crosses_the_exact_value() {
    // Without directed rounding, the same computation lands above the exact minimum in a good
    // share of these cases: the containment checks above would catch a missing next_down.
    let mut rng = ChaCha8Rng::seed_from_u64(18);
    let mut crossed = 0;
    for n in 0..CASES {
        let c = case(&mut rng, 1 + n % 8, 1 + n % 6);
        let (mn, _) = c.y_range();
        if !below(c.naive_min(), mn, 3 * E) {
            crossed += 1;
        }
    }
    assert!(
        crossed >= CASES / 10,
        "round-to-nearest crossed the exact minimum in only {crossed} of {CASES} cases"
    );
}
