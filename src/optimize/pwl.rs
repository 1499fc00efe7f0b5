//! Piecewise-linear economics as exact ReLU networks (issue 13).
//!
//! A continuous piecewise-linear function of one variable with breakpoints b_1 < … < b_K and
//! slopes s_0 (left of b_1), …, s_K (right of b_K) is
//!
//! ```text
//! f(x) = f(0) + s_0·x + Σ_k (s_k − s_{k−1})·ReLU(x − b_k) − Σ_{k: b_k < 0} (s_k − s_{k−1})·(−b_k)
//! ```
//!
//! (each ReLU adds its slope change from its breakpoint on; the last sum makes the value at 0
//! come out as f(0)). With s_0·x = s_0·ReLU(x) − s_0·ReLU(−x), it is a one-hidden-layer ReLU
//! network with K + 2 hidden units: the network's kinks are exactly the breakpoints (the unit
//! x − b_k changes sign at b_k). A call option's payoff is ReLU(S − K); a put's ReLU(K − S)
//! = (K − S) + ReLU(S − K); a progressive tax with rates r_k above thresholds T_k is the slope
//! sequence 0, r_1, r_2, …; a collar (floor F, cap C) is F + ReLU(x − F) − ReLU(x − C).
//! Weights are stored in f32: [`Pwl::to_mlp`] refuses breakpoints that f32 cannot hold
//! exactly, so the network's kinks sit exactly at the breakpoints; slopes and the constant are
//! rounded to the nearest f32 (relative error ≤ 2⁻²⁴: a 10 % tax rate is 0.100000001…).

use crate::activation::Activation;
use crate::error::{Error, Result};
use crate::net::{Layer, Mlp};
use crate::regions::{segment, GeoNet};
use serde::Serialize;

/// A continuous piecewise-linear function of one variable.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Pwl {
    /// Breakpoints, strictly increasing.
    pub breakpoints: Vec<f64>,
    /// Slopes: `slopes[0]` left of the first breakpoint, `slopes[k]` right of breakpoint k.
    pub slopes: Vec<f64>,
    /// f(0).
    pub value_at_zero: f64,
}

/// One leg of an option portfolio.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub enum Leg {
    /// `qty` calls struck at K: qty·max(S − K, 0).
    Call {
        /// Strike.
        strike: f64,
        /// Quantity (negative: written).
        qty: f64,
    },
    /// `qty` puts struck at K: qty·max(K − S, 0).
    Put {
        /// Strike.
        strike: f64,
        /// Quantity.
        qty: f64,
    },
}

impl Pwl {
    /// Check breakpoints and slopes.
    pub fn new(breakpoints: Vec<f64>, slopes: Vec<f64>, value_at_zero: f64) -> Result<Self> {
        if slopes.len() != breakpoints.len() + 1 {
            return Err(Error::Shape(format!(
                "pwl: {} breakpoints need {} slopes, got {}",
                breakpoints.len(),
                breakpoints.len() + 1,
                slopes.len()
            )));
        }
        if breakpoints.windows(2).any(|w| w[0] >= w[1]) {
            return Err(Error::Value(
                "pwl: breakpoints must be strictly increasing".into(),
            ));
        }
        if breakpoints
            .iter()
            .chain(&slopes)
            .chain(std::iter::once(&value_at_zero))
            .any(|v| !v.is_finite())
        {
            return Err(Error::Value("pwl: non-finite number".into()));
        }
        Ok(Pwl {
            breakpoints,
            slopes,
            value_at_zero,
        })
    }

    /// A portfolio of calls and puts on one underlying S (payoff at expiry).
    pub fn portfolio(legs: &[Leg]) -> Result<Self> {
        let mut strikes: Vec<f64> = legs
            .iter()
            .map(|l| match *l {
                Leg::Call { strike, .. } | Leg::Put { strike, .. } => strike,
            })
            .collect();
        strikes.sort_by(f64::total_cmp);
        strikes.dedup();
        // Slope left of everything: −Σ put quantities; each strike adds the quantity of its
        // calls and puts (a put's slope goes from −q to 0, a call's from 0 to q).
        let mut s = -legs
            .iter()
            .map(|l| match *l {
                Leg::Put { qty, .. } => qty,
                _ => 0.0,
            })
            .sum::<f64>();
        let mut slopes = vec![s];
        for &k in &strikes {
            for l in legs {
                match *l {
                    Leg::Call { strike, qty } | Leg::Put { strike, qty } if strike == k => s += qty,
                    _ => {}
                }
            }
            slopes.push(s);
        }
        let v0 = legs
            .iter()
            .map(|l| match *l {
                Leg::Call { strike, qty } => qty * (-strike).max(0.0),
                Leg::Put { strike, qty } => qty * strike.max(0.0),
            })
            .sum();
        Pwl::new(strikes, slopes, v0)
    }

    /// A progressive tax: `brackets[k] = (threshold, rate)`: income above the threshold is
    /// taxed at the rate (thresholds increasing, the first usually 0); no tax below the first.
    pub fn tax(brackets: &[(f64, f64)]) -> Result<Self> {
        let mut slopes = vec![0.0];
        slopes.extend(brackets.iter().map(|b| b.1));
        let bps = brackets.iter().map(|b| b.0).collect();
        // f(0) = 0 when the first threshold is ≥ 0.
        let v0 = brackets
            .iter()
            .enumerate()
            .filter(|(_, b)| b.0 < 0.0)
            .map(|(k, b)| {
                let end = brackets.get(k + 1).map_or(0.0, |n| n.0.min(0.0));
                -(end - b.0) * b.1
            })
            .sum::<f64>()
            + 0.0;
        Pwl::new(bps, slopes, v0)
    }

    /// A collar: min(max(x, floor), cap).
    pub fn collar(floor: f64, cap: f64) -> Result<Self> {
        if floor >= cap {
            return Err(Error::Value(format!(
                "collar: floor {floor} must lie below cap {cap}"
            )));
        }
        let v0 = 0f64.clamp(floor, cap);
        Pwl::new(vec![floor, cap], vec![0.0, 1.0, 0.0], v0)
    }

    /// f(x), evaluated piece by piece (the reference).
    pub fn value(&self, x: f64) -> f64 {
        // Integrate the slope from 0 to x.
        let mut v = self.value_at_zero;
        let slope_at = |t: f64| {
            let k = self.breakpoints.iter().filter(|&&b| b <= t).count();
            self.slopes[k]
        };
        let (a, b, sign) = if x >= 0.0 {
            (0.0, x, 1.0)
        } else {
            (x, 0.0, -1.0)
        };
        let mut pts = vec![a];
        pts.extend(self.breakpoints.iter().copied().filter(|&p| p > a && p < b));
        pts.push(b);
        for w in pts.windows(2) {
            v += sign * slope_at(0.5 * (w[0] + w[1])) * (w[1] - w[0]);
        }
        v
    }

    /// The one-hidden-layer ReLU network (f32 weights): breakpoints exact (refused when f32
    /// cannot hold them), slopes and constant rounded to nearest.
    pub fn to_mlp(&self) -> Result<Mlp<f32>> {
        let exact = |v: f64, what: &str| -> Result<f32> {
            let f = v as f32;
            if f as f64 != v {
                return Err(Error::Value(format!(
                    "pwl: {what} {v} is not exactly representable in f32 (the network would not be exact)"
                )));
            }
            Ok(f)
        };
        let k = self.breakpoints.len();
        let h = k + 2;
        let mut w1 = vec![1.0f32, -1.0];
        let mut b1 = vec![0.0f32, 0.0];
        for &b in &self.breakpoints {
            w1.push(1.0);
            b1.push(-exact(b, "breakpoint")?);
        }
        let s0 = self.slopes[0] as f32;
        let mut w2 = vec![s0, -s0];
        let mut c = self.value_at_zero;
        for i in 0..k {
            let ds = self.slopes[i + 1] - self.slopes[i];
            w2.push(ds as f32);
            if self.breakpoints[i] < 0.0 {
                c -= ds * (-self.breakpoints[i]);
            }
        }
        let b2 = vec![c as f32];
        Ok(Mlp {
            layers: vec![
                Layer {
                    in_dim: 1,
                    out_dim: h,
                    weight: w1,
                    bias: Some(b1),
                    activation: Activation::Relu { prime_at_zero: 0.0 },
                    prelu_alpha: Vec::new(),
                },
                Layer {
                    in_dim: h,
                    out_dim: 1,
                    weight: w2,
                    bias: Some(b2),
                    activation: Activation::Identity,
                    prelu_alpha: Vec::new(),
                },
            ],
        })
    }
}

/// A kink of a one-input network found by the regions engine: position and slope change.
#[derive(Clone, Copy, Debug, Serialize)]
pub struct Kink {
    /// Where the slope changes.
    pub x: f64,
    /// Slope right minus slope left.
    pub jump: f64,
}

/// The kinks of output 0 of a one-input network on [a, b]: the regions engine's breakpoints
/// where the output's slope changes by more than `min_jump` (activation-pattern changes
/// that leave the output's slope unchanged are not kinks of the function).
pub fn kinks(mlp: &Mlp<f32>, a: f64, b: f64, min_jump: f64) -> Result<Vec<Kink>> {
    if mlp.input_dim() != 1 {
        return Err(Error::Shape(format!(
            "kinks: the model has {} inputs; one is needed",
            mlp.input_dim()
        )));
    }
    let geo = GeoNet::new(mlp)?;
    let seg = segment(&geo, &[a], &[b])?;
    let w = b - a;
    let mut out = Vec::new();
    for k in 1..seg.maps.len() {
        let jump = (seg.maps[k][0].1 - seg.maps[k - 1][0].1) / w;
        if jump.abs() > min_jump {
            out.push(Kink {
                x: a + seg.t[k] * w,
                jump,
            });
        }
    }
    Ok(out)
}

/// How a trained network's kinks compare with the true breakpoints.
#[derive(Clone, Debug, Serialize)]
pub struct KinkMatch {
    /// True breakpoint.
    pub truth: f64,
    /// True slope change.
    pub true_jump: f64,
    /// Nearest learned kink with a slope change of the same sign (None: none).
    pub learned: Option<f64>,
    /// Its slope change.
    pub learned_jump: Option<f64>,
    /// |learned − truth|.
    pub distance: Option<f64>,
}

/// For each true breakpoint, the nearest learned kink of the same direction, and the learned
/// kinks left unmatched (spurious ones).
pub fn match_kinks(truth: &Pwl, learned: &[Kink]) -> (Vec<KinkMatch>, usize) {
    let mut used = vec![false; learned.len()];
    let mut out = Vec::new();
    for (i, &b) in truth.breakpoints.iter().enumerate() {
        let tj = truth.slopes[i + 1] - truth.slopes[i];
        let best = learned
            .iter()
            .enumerate()
            .filter(|(_, k)| k.jump.signum() == tj.signum())
            .min_by(|x, y| (x.1.x - b).abs().total_cmp(&(y.1.x - b).abs()));
        if let Some((j, k)) = best {
            used[j] = true;
            out.push(KinkMatch {
                truth: b,
                true_jump: tj,
                learned: Some(k.x),
                learned_jump: Some(k.jump),
                distance: Some((k.x - b).abs()),
            });
        } else {
            out.push(KinkMatch {
                truth: b,
                true_jump: tj,
                learned: None,
                learned_jump: None,
                distance: None,
            });
        }
    }
    (out, used.iter().filter(|u| !**u).count())
}

/// A window showing every breakpoint: from the first minus half the span (at least 1) to the
/// last plus as much.
pub fn window(f: &Pwl) -> (f64, f64) {
    match (f.breakpoints.first(), f.breakpoints.last()) {
        (Some(&a), Some(&b)) => {
            let m = (0.5 * (b - a)).max(0.25 * a.abs().max(b.abs())).max(1.0);
            (a - m, b + m)
        }
        _ => (-1.0, 1.0),
    }
}

/// What [`learn_kinks`] found.
#[derive(Clone, Debug, Serialize)]
pub struct Learned {
    /// Samples drawn.
    pub samples: usize,
    /// Hidden width of the trained network.
    pub hidden: usize,
    /// RMSE against the true function on a 1001-point grid of the window.
    pub rmse: f64,
    /// Kinks of the trained network with |slope change| > `min_jump` (user units).
    pub kinks: Vec<Kink>,
    /// The threshold: a tenth of the smallest true |slope change|.
    pub min_jump: f64,
    /// Each true breakpoint and its nearest learned kink.
    pub matches: Vec<KinkMatch>,
    /// Learned kinks matched to no breakpoint.
    pub spurious: usize,
}

/// Train a 1 → 16 ReLU → 1 surrogate on `n` noisy samples of `f` over [`window`] (noise:
/// Gaussian with standard deviation `noise` × the function's range there) and compare its
/// kinks, found exactly by the regions engine, with the true breakpoints.
pub fn learn_kinks(f: &Pwl, n: usize, noise: f64, seed: u64) -> Result<Learned> {
    use rand::SeedableRng;
    use rand_distr::{Distribution, Normal, Uniform};
    if n < 2 || !(noise >= 0.0 && noise.is_finite()) {
        return Err(Error::Value(
            "learn: need at least 2 samples and a finite noise ≥ 0".into(),
        ));
    }
    let (lo, hi) = window(f);
    let grid: Vec<f64> = (0..=1000)
        .map(|i| lo + (hi - lo) * i as f64 / 1000.0)
        .collect();
    let vals: Vec<f64> = grid.iter().map(|&x| f.value(x)).collect();
    let range = vals.iter().cloned().fold(f64::NEG_INFINITY, f64::max)
        - vals.iter().cloned().fold(f64::INFINITY, f64::min);
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let ux = Uniform::new(lo, hi).map_err(|e| Error::Value(e.to_string()))?;
    let nz =
        Normal::new(0.0, noise * range.max(1e-300)).map_err(|e| Error::Value(e.to_string()))?;
    let x: Vec<Vec<f64>> = (0..n).map(|_| vec![ux.sample(&mut rng)]).collect();
    let y: Vec<Vec<f64>> = x
        .iter()
        .map(|r| vec![f.value(r[0]) + nz.sample(&mut rng)])
        .collect();
    let spec = super::surrogate::FitSpec {
        hidden: vec![16],
        epochs: 200,
        lr: 3e-3,
        batch_size: 32,
        seed,
        ..Default::default()
    };
    let (mlp, meta, _) = super::surrogate::fit(&x, &y, vec!["x".into()], vec!["f".into()], &spec)?;
    let sc = &meta.scaling;
    let (mx, sx, my, sy) = (sc.x_mean[0], sc.x_std[0], sc.y_mean[0], sc.y_std[0]);
    let mut se = 0.0;
    for (&g, &v) in grid.iter().zip(&vals) {
        let p = my + sy * mlp.forward_one(&[((g - mx) / sx) as f32])[0] as f64;
        se += (p - v) * (p - v);
    }
    let rmse = (se / grid.len() as f64).sqrt();
    let min_true = f
        .slopes
        .windows(2)
        .map(|w| (w[1] - w[0]).abs())
        .fold(f64::INFINITY, f64::min);
    let min_jump = 0.1 * min_true;
    let ks: Vec<Kink> = kinks(&mlp, (lo - mx) / sx, (hi - mx) / sx, 0.0)?
        .into_iter()
        .map(|k| Kink {
            x: mx + sx * k.x,
            jump: k.jump * sy / sx,
        })
        .filter(|k| k.jump.abs() > min_jump)
        .collect();
    let (matches, spurious) = match_kinks(f, &ks);
    Ok(Learned {
        samples: n,
        hidden: 16,
        rmse,
        kinks: ks,
        min_jump,
        matches,
        spurious,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Call 100 + 2 puts 90 − call 120.
    fn portfolio() -> Pwl {
        Pwl::portfolio(&[
            Leg::Call {
                strike: 100.0,
                qty: 1.0,
            },
            Leg::Put {
                strike: 90.0,
                qty: 2.0,
            },
            Leg::Call {
                strike: 120.0,
                qty: -1.0,
            },
        ])
        .unwrap()
    }

    #[test]
    fn networks_equal_their_functions_and_kink_at_the_breakpoints() {
        let cases = [
            portfolio(),
            Pwl::tax(&[(0.0, 0.1), (10_000.0, 0.2), (40_000.0, 0.4)]).unwrap(),
            Pwl::collar(-2.0, 3.5).unwrap(),
        ];
        for f in &cases {
            let mlp = f.to_mlp().unwrap();
            let lo = f.breakpoints[0] - 50.0;
            let hi = f.breakpoints.last().unwrap() + 50.0;
            for i in 0..=200 {
                let x = lo + (hi - lo) * i as f64 / 200.0;
                let y = mlp.forward_one(&[x as f32])[0] as f64;
                // f32 forward pass: relative rounding only.
                assert!(
                    (y - f.value(x)).abs() <= 1e-5 * (1.0 + f.value(x).abs()),
                    "{f:?} at {x}"
                );
            }
            let k = kinks(&mlp, lo, hi, 1e-9).unwrap();
            assert_eq!(k.len(), f.breakpoints.len(), "{f:?}: {k:?}");
            for (kk, b) in k.iter().zip(&f.breakpoints) {
                assert!((kk.x - b).abs() <= 1e-12 * (1.0 + b.abs()), "{kk:?} vs {b}");
            }
        }
    }

    #[test]
    fn closed_forms() {
        // Call 100 + 2 puts 90 − call 120 at S = 80, 95, 110, 130.
        let f = portfolio();
        for (s, v) in [(80.0, 20.0), (95.0, 0.0), (110.0, 10.0), (130.0, 20.0)] {
            assert_eq!(f.value(s), v);
        }
        let t = Pwl::tax(&[(0.0, 0.1), (10_000.0, 0.2)]).unwrap();
        assert_eq!(t.value(15_000.0), 1_000.0 + 1_000.0);
        assert!(Pwl::new(vec![1.0, 0.5], vec![0.0; 3], 0.0).is_err());
        assert!(Pwl::new(vec![0.1], vec![0.0, 1.0], 0.0)
            .unwrap()
            .to_mlp()
            .is_err());
    }
}
