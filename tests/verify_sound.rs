//! Soundness of the bounds and of the verifier on networks whose exact behaviour is known:
//! the hand-made oracle, adversarial rounding nets, and random small nets checked against
//! dense sampling.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use relulab::verify::bounds::{crown, ibp, lower_bound_until, lower_bounds, symbolic_hidden};
use relulab::verify::{
    output_bounds, parse_vnnlib, verify, Method, PwlNet, Verdict, VerifyOptions,
};
use relulab::{Activation, Layer, Mlp};
use std::time::Duration;

fn layer<T: relulab::Real>(
    in_dim: usize,
    out_dim: usize,
    w: &[f64],
    b: &[f64],
    act: Activation,
) -> Layer<T> {
    let mut l = Layer::<T>::zeros(in_dim, out_dim, true, act);
    l.weight = w.iter().map(|&v| T::of_f64(v)).collect();
    l.bias = Some(b.iter().map(|&v| T::of_f64(v)).collect());
    l
}

/// y = relu(x1 + x2) + relu(x1 − x2).
fn oracle() -> Mlp<f32> {
    Mlp {
        layers: vec![
            layer(2, 2, &[1.0, 1.0, 1.0, -1.0], &[0.0, 0.0], Activation::RELU),
            layer(2, 1, &[1.0, 1.0], &[0.0], Activation::Identity),
        ],
    }
}

fn opts() -> VerifyOptions {
    VerifyOptions {
        timeout: Duration::from_secs(20),
        ..Default::default()
    }
}

#[test]
fn oracle_bounds_match_the_closed_forms() {
    // On [−1,1]²: IBP gives [0, 4]; CROWN's upper lines (z+2)/2 sum to x1 + 2 ≤ 3 and its
    // lower slopes are 0 (u = −l), so [0, 3]; the true range is [0, 2].
    let net = PwlNet::from_mlp(&oracle()).unwrap();
    let (lo, hi) = (vec![-1.0, -1.0], vec![1.0, 1.0]);
    let close = |a: f64, b: f64| (a - b).abs() <= 1e-12;
    let (l, h) = output_bounds(&net, &lo, &hi, Method::Ibp);
    assert!(close(l[0], 0.0) && close(h[0], 4.0), "IBP {l:?} {h:?}");
    assert!(l[0] <= 0.0 && h[0] >= 4.0, "IBP rounds outward");
    let (l, h) = output_bounds(&net, &lo, &hi, Method::Crown);
    assert!(close(l[0], 0.0) && close(h[0], 3.0), "CROWN {l:?} {h:?}");
    assert!(l[0] <= 0.0 && h[0] >= 3.0);
    let (l, h) = output_bounds(&net, &lo, &hi, Method::AlphaCrown);
    assert!(
        l[0] <= 0.0 && l[0] >= -1e-12 && h[0] >= 2.0 && h[0] <= 3.0 + 1e-12,
        "alpha-CROWN {l:?} {h:?}"
    );
}

#[test]
fn alpha_crown_improves_on_crown_where_the_adaptive_slope_is_poor() {
    // y = relu(x) − 0.5·relu(x) on [−1, 2], two hidden units with the same pre-activation z = x.
    // CROWN: unit 1 (λ = 1) takes the adaptive lower slope 1 (u > −l), unit 2 (λ = −0.5) the
    // chord (2/3)(z + 1): bound z − (z + 1)/3, minimum −1 at z = −1. With slope α on unit 1 the
    // bound is (α − 1/3)z − 1/3, best at α = 1/3: −1/3 (α-CROWN's optimum). True minimum 0.
    let mlp: Mlp<f32> = Mlp {
        layers: vec![
            layer(1, 2, &[1.0, 1.0], &[0.0, 0.0], Activation::RELU),
            layer(2, 1, &[1.0, -0.5], &[0.0], Activation::Identity),
        ],
    };
    let net = PwlNet::from_mlp(&mlp).unwrap();
    let (lo, hi) = (vec![-1.0], vec![2.0]);
    let inter = symbolic_hidden(&net, &lo, &hi);
    let c = lower_bounds(&net, 1, &[vec![1.0]], &lo, &hi, &inter, 0)[0].lb;
    let a = lower_bounds(&net, 1, &[vec![1.0]], &lo, &hi, &inter, 60)[0].lb;
    assert!((c + 1.0).abs() < 1e-12, "CROWN {c}");
    assert!(
        a <= -1.0 / 3.0 + 1e-12,
        "no relaxation of this family beats −1/3: {a}"
    );
    assert!(
        a >= -1.0 / 3.0 - 0.02,
        "alpha-CROWN should reach about −1/3: {a}"
    );
}

#[test]
fn oracle_properties_are_decided_correctly() {
    let mlp = oracle();
    let prop = |y: &str| {
        parse_vnnlib(
            &format!("(declare-const X_0 Real)(declare-const X_1 Real)(declare-const Y_0 Real)\n(assert (>= X_0 -1))(assert (<= X_0 1))(assert (>= X_1 -1))(assert (<= X_1 1))\n(assert {y})"),
            "oracle",
        )
        .unwrap()
    };
    let run = |y: &str| verify(&mlp, &prop(y), &opts()).unwrap();
    assert_eq!(run("(>= Y_0 2.000001)").verdict, Verdict::Unsat);
    assert_eq!(run("(<= Y_0 -0.000001)").verdict, Verdict::Unsat);
    let o = run("(>= Y_0 1.9999)");
    assert_eq!(o.verdict, Verdict::Sat);
    let w = o.witness.unwrap();
    assert!(w.y[0] >= 1.9999 && w.y_f32[0] >= 1.9999, "{w:?}");
    assert!(w
        .x
        .iter()
        .all(|v| (-1.0..=1.0).contains(v) && (*v as f32) as f64 == *v));
    // The maximum 2 is reached on the edge x1 = 1; a counterexample must be certified with
    // margin, so this knife-edge property may end undecided, but never unsat.
    let short = VerifyOptions {
        timeout: Duration::from_secs(1),
        ..Default::default()
    };
    let o = verify(&mlp, &prop("(>= Y_0 2)"), &short).unwrap();
    assert_ne!(o.verdict, Verdict::Unsat);
    let o = run("(or (<= Y_0 -1) (and (>= Y_0 1.5) (<= Y_0 1.6)))");
    assert_eq!(o.verdict, Verdict::Sat);
    let y = o.witness.unwrap().y[0];
    assert!((1.5..=1.6).contains(&y));
}

/// A network whose real output at x = 1 is −v (v ≈ 4e-17) while an f64 forward pass gives
/// exactly 0: 1·relu(x) − v·relu(x) − 1·relu(x), summed in that order (1 − v rounds to 1).
fn cancellation_net() -> Mlp<f32> {
    let v = 4e-17f32 as f64;
    Mlp {
        layers: vec![
            layer(1, 3, &[1.0, 1.0, 1.0], &[0.0, 0.0, 0.0], Activation::RELU),
            layer(3, 1, &[1.0, -v, -1.0], &[0.0], Activation::Identity),
        ],
    }
}

#[test]
fn rounding_cannot_fake_a_proof_or_a_counterexample() {
    let mlp = cancellation_net();
    let net = PwlNet::from_mlp(&mlp).unwrap();
    let v = 4e-17f32 as f64;
    assert_eq!(
        net.forward(&[1.0])[0],
        0.0,
        "the f64 forward pass rounds the real value −v to 0"
    );
    for m in [Method::Ibp, Method::Crown, Method::AlphaCrown] {
        let (l, h) = output_bounds(&net, &[1.0], &[1.0], m);
        assert!(
            l[0] <= -v && h[0] >= -v,
            "{m:?}: [{}, {}] must contain −v",
            l[0],
            h[0]
        );
    }
    let prop = |y: &str| {
        parse_vnnlib(&format!("(declare-const X_0 Real)(declare-const Y_0 Real)(assert (>= X_0 1))(assert (<= X_0 1))(assert {y})"), "p").unwrap()
    };
    // Real output −v ≤ −1e-30: the unsafe set is reached; a float-only check would say unsat.
    let o = verify(&mlp, &prop("(<= Y_0 -1e-30)"), &opts()).unwrap();
    assert_ne!(o.verdict, Verdict::Unsat, "a wrong unsat");
    // Real output −v < 0: the unsafe set Y ≥ 0 is empty; a float-only check would say sat.
    let o = verify(&mlp, &prop("(>= Y_0 0)"), &opts()).unwrap();
    assert_ne!(o.verdict, Verdict::Sat, "a wrong sat");
}

#[test]
fn large_weights_and_tight_thresholds_stay_sound() {
    // y = 1e6·relu(x) − 1e6·relu(x − 1e-7) on [0, 1]: equals 1e6·x for x ≤ 1e-7, then 0.1;
    // exact maximum 0.1 (weights are f32, so use their exact values).
    let a = 1e6f32 as f64;
    let s = 1e-7f32 as f64;
    let mlp: Mlp<f32> = Mlp {
        layers: vec![
            layer(1, 2, &[1.0, 1.0], &[0.0, -s], Activation::RELU),
            layer(2, 1, &[a, -a], &[0.0], Activation::Identity),
        ],
    };
    let net = PwlNet::from_mlp(&mlp).unwrap();
    let top = a * s; // exact max in reals (a·s computed in f64 may round; bound both ways)
    for m in [Method::Ibp, Method::Crown, Method::AlphaCrown] {
        let (l, h) = output_bounds(&net, &[0.0], &[1.0], m);
        assert!(
            l[0] <= 0.0 && h[0] >= top * (1.0 - 1e-15),
            "{m:?} {l:?} {h:?}"
        );
    }
}

fn random_net(rng: &mut ChaCha8Rng, act: Activation) -> Mlp<f32> {
    let d = rng.random_range(1..=3);
    let widths = [d, rng.random_range(2..=8), rng.random_range(2..=8), 2];
    let mut layers = Vec::new();
    for l in 0..3 {
        let (i, o) = (widths[l], widths[l + 1]);
        let w: Vec<f64> = (0..i * o).map(|_| rng.random_range(-1.5..1.5)).collect();
        let b: Vec<f64> = (0..o).map(|_| rng.random_range(-0.5..0.5)).collect();
        layers.push(layer(
            i,
            o,
            &w,
            &b,
            if l == 2 { Activation::Identity } else { act },
        ));
    }
    Mlp { layers }
}

#[test]
fn random_nets_bounds_contain_every_sample() {
    let mut rng = ChaCha8Rng::seed_from_u64(7);
    let acts = [
        Activation::RELU,
        Activation::leaky(0.1),
        Activation::relu_eps(0.05),
        Activation::Prelu { alpha: 0.3 },
        Activation::leaky(1.5),
    ];
    for trial in 0..40 {
        let mlp = random_net(&mut rng, acts[trial % acts.len()]);
        let net = PwlNet::from_mlp(&mlp).unwrap();
        let d = net.input_dim();
        let lo: Vec<f64> = (0..d).map(|_| rng.random_range(-1.0..0.0)).collect();
        let hi: Vec<f64> = lo.iter().map(|l| l + rng.random_range(0.01..1.5)).collect();
        let bounds = [
            ibp(&net, &lo, &hi),
            crown(&net, &lo, &hi, 0),
            crown(&net, &lo, &hi, 15),
        ];
        let sym = symbolic_hidden(&net, &lo, &hi);
        for _ in 0..500 {
            let x: Vec<f64> = (0..d).map(|i| rng.random_range(lo[i]..=hi[i])).collect();
            let zs = net.forward_trace(&x);
            for b in &bounds {
                for (l, z) in zs.iter().enumerate() {
                    for (j, &v) in z.iter().enumerate() {
                        let tol = 1e-9 * (1.0 + v.abs()); // the sample itself is a rounded f64 pass
                        assert!(
                            b.lo[l][j] <= v + tol && v - tol <= b.hi[l][j],
                            "trial {trial} layer {l} unit {j}: {v} not in [{}, {}]",
                            b.lo[l][j],
                            b.hi[l][j]
                        );
                    }
                }
            }
            for (l, z) in zs.iter().take(sym.lo.len()).enumerate() {
                for (j, &v) in z.iter().enumerate() {
                    let tol = 1e-9 * (1.0 + v.abs());
                    assert!(
                        sym.lo[l][j] <= v + tol && v - tol <= sym.hi[l][j],
                        "symbolic, trial {trial}"
                    );
                }
            }
        }
    }
}

#[test]
fn random_properties_never_get_a_wrong_answer() {
    let mut rng = ChaCha8Rng::seed_from_u64(11);
    let acts = [
        Activation::RELU,
        Activation::leaky(0.2),
        Activation::relu_eps(0.1),
    ];
    let (mut sats, mut unsats) = (0, 0);
    for trial in 0..30 {
        let mlp = random_net(&mut rng, acts[trial % acts.len()]);
        let net = PwlNet::from_mlp(&mlp).unwrap();
        let d = net.input_dim();
        let lo: Vec<f64> = (0..d)
            .map(|_| rng.random_range(-1.0f64..0.0))
            .map(|v| (v as f32) as f64)
            .collect();
        let hi: Vec<f64> = lo
            .iter()
            .map(|l| ((l + rng.random_range(0.1..1.0)) as f32) as f64)
            .collect();
        // Dense samples: the observed minimum of y0 − y1.
        let mut best = f64::INFINITY;
        for _ in 0..4000 {
            let x: Vec<f64> = (0..d).map(|i| rng.random_range(lo[i]..=hi[i])).collect();
            let y = net.forward(&x);
            best = best.min(y[0] - y[1]);
        }
        // Threshold near the observed minimum: above it → must not be unsat; well below → either.
        let thr = best + rng.random_range(-0.05..0.05);
        let mut text = String::new();
        for i in 0..d {
            text.push_str(&format!(
                "(declare-const X_{i} Real)(assert (>= X_{i} {:e}))(assert (<= X_{i} {:e}))\n",
                lo[i], hi[i]
            ));
        }
        // The unsafe set y0 − y1 ≤ thr, written as Y_0 ≤ Y_1 on a copy whose second output
        // bias is shifted by thr (one variable per side of a VNN-LIB comparison).
        let mut m2 = mlp.clone();
        let bias = m2.layers.last_mut().unwrap().bias.as_mut().unwrap();
        bias[1] = (bias[1] as f64 + thr) as f32;
        let prop = parse_vnnlib(
            &format!("{text}(declare-const Y_0 Real)(declare-const Y_1 Real)(assert (<= Y_0 Y_1))"),
            "random",
        )
        .unwrap();
        let o = verify(
            &m2,
            &prop,
            &VerifyOptions {
                timeout: Duration::from_secs(10),
                ..Default::default()
            },
        )
        .unwrap();
        let net2 = PwlNet::from_mlp(&m2).unwrap();
        // Any sampled point in the unsafe set (with a margin above f64 noise) forbids unsat.
        let mut unsafe_seen = false;
        for _ in 0..4000 {
            let x: Vec<f64> = (0..d).map(|i| rng.random_range(lo[i]..=hi[i])).collect();
            let y = net2.forward(&x);
            if y[0] - y[1] < -1e-9 {
                unsafe_seen = true;
            }
        }
        match o.verdict {
            Verdict::Unsat => {
                unsats += 1;
                assert!(!unsafe_seen, "trial {trial}: wrong unsat");
            }
            Verdict::Sat => {
                sats += 1;
                let w = o.witness.unwrap();
                let y = net2.forward(&w.x);
                assert!(y[0] <= y[1], "trial {trial}: witness fails in f64");
                assert!(
                    w.y_f32[0] <= w.y_f32[1],
                    "trial {trial}: witness fails in f32"
                );
                assert!((0..d).all(|i| lo[i] <= w.x[i] && w.x[i] <= hi[i]));
            }
            v => panic!("trial {trial}: small net not decided: {v:?}"),
        }
    }
    assert!(
        sats >= 5 && unsats >= 5,
        "both answers exercised: {sats} sat, {unsats} unsat"
    );
}

#[test]
fn alpha_until_target_is_sound_and_never_worse_than_crown() {
    // `lower_bound_until` (the branch and bound's bound of a conjunction's combined row) must
    // stay below every sampled value of row·y whether it stops early or runs all α steps, and
    // must never be looser than CROWN alone.
    let mut rng = ChaCha8Rng::seed_from_u64(11);
    let acts = [
        Activation::RELU,
        Activation::leaky(0.1),
        Activation::relu_eps(0.05),
    ];
    let mut improved = 0;
    for trial in 0..30 {
        let mlp = random_net(&mut rng, acts[trial % acts.len()]);
        let net = PwlNet::from_mlp(&mlp).unwrap();
        let d = net.input_dim();
        let lo: Vec<f64> = (0..d).map(|_| rng.random_range(-1.0..0.0)).collect();
        let hi: Vec<f64> = lo.iter().map(|l| l + rng.random_range(0.01..1.5)).collect();
        let inter = crown(&net, &lo, &hi, 0);
        let out = net.layers.len() - 1;
        let n = net.output_dim();
        let row: Vec<f64> = (0..n).map(|_| rng.random_range(-1.0..1.0)).collect();
        let plain = lower_bounds(&net, out, std::slice::from_ref(&row), &lo, &hi, &inter, 0)
            .remove(0)
            .lb;
        let full = lower_bound_until(&net, out, &row, &lo, &hi, &inter, 20, f64::INFINITY).lb;
        let early = lower_bound_until(&net, out, &row, &lo, &hi, &inter, 20, plain).lb;
        assert!(
            full >= plain && early >= plain,
            "trial {trial}: α below CROWN"
        );
        if full > plain + 1e-9 * (1.0 + plain.abs()) {
            improved += 1;
        }
        let mut min = f64::INFINITY;
        for _ in 0..2000 {
            let x: Vec<f64> = (0..d).map(|i| rng.random_range(lo[i]..=hi[i])).collect();
            let y = net.forward(&x);
            let v: f64 = row.iter().zip(&y).map(|(c, y)| c * y).sum();
            min = min.min(v);
        }
        let tol = 1e-9 * (1.0 + min.abs());
        assert!(
            full <= min + tol && early <= min + tol,
            "trial {trial}: bound {full} / {early} above sampled minimum {min}"
        );
    }
    assert!(
        improved > 0,
        "α-CROWN never improved on CROWN: the test exercises nothing"
    );
}

/// A net of the given widths, weights uniform in ±1.5·√(2/fan-in), biases in ±0.3, `act` on
/// every hidden layer and an affine output.
fn scaled_net(rng: &mut ChaCha8Rng, widths: &[usize], act: Activation) -> PwlNet {
    let mut layers = Vec::new();
    for l in 0..widths.len() - 1 {
        let (i, o) = (widths[l], widths[l + 1]);
        let s = (2.0 / i as f64).sqrt();
        let w: Vec<f64> = (0..i * o)
            .map(|_| s * rng.random_range(-1.5..1.5))
            .collect();
        let b: Vec<f64> = (0..o).map(|_| rng.random_range(-0.3..0.3)).collect();
        let a = if l + 2 == widths.len() {
            Activation::Identity
        } else {
            act
        };
        layers.push(layer::<f32>(i, o, &w, &b, a));
    }
    PwlNet::from_mlp(&Mlp { layers }).unwrap()
}

/// `Optim::settle_first` (intermediate bounds only as far as they settle each unit's sign):
/// on random 4-hidden-layer nets wide enough for the engine's sparse unit-row products
/// (k ≥ 40 units, chunks of 48 rows) and the varied activations, the bounds contain 500
/// sampled points' pre-activations at every layer, and on the first two hidden layers (where
/// the layers below are bounded alike) every unit is classified exactly as by the full
/// intermediate bounds (stably active / inactive / unstable), with the bound that settles it
/// (or both, if unstable) equal to the full one up to rounding.
#[test]
fn settle_first_is_sound_and_settles_the_same_units() {
    use relulab::verify::engine::{optimized_hidden, Optim};
    let mut rng = ChaCha8Rng::seed_from_u64(23);
    let acts = [
        Activation::RELU,
        Activation::leaky(0.1),
        Activation::leaky(1.5),
    ];
    let (mut settled, mut unstable) = (0usize, 0usize);
    for trial in 0..6 {
        let d = rng.random_range(3..=6);
        let widths = [d, 48, rng.random_range(40..=64), 40, 44, 3];
        let net = scaled_net(&mut rng, &widths, acts[trial % acts.len()]);
        let lo: Vec<f64> = (0..d).map(|_| rng.random_range(-1.0..0.0)).collect();
        let hi: Vec<f64> = lo.iter().map(|l| l + rng.random_range(0.05..0.6)).collect();
        let crown0 = Optim {
            iters: 0,
            ..Optim::default()
        };
        let full = optimized_hidden(&net, &lo, &hi, None, &crown0);
        let fast = optimized_hidden(
            &net,
            &lo,
            &hi,
            None,
            &Optim {
                settle_first: true,
                ..crown0
            },
        );
        for _ in 0..500 {
            let x: Vec<f64> = (0..d).map(|i| rng.random_range(lo[i]..=hi[i])).collect();
            let zs = net.forward_trace(&x);
            for (l, z) in zs.iter().take(fast.lo.len()).enumerate() {
                for (j, &v) in z.iter().enumerate() {
                    let tol = 1e-9 * (1.0 + v.abs());
                    assert!(
                        fast.lo[l][j] <= v + tol && v - tol <= fast.hi[l][j],
                        "trial {trial} layer {l} unit {j}: {v} outside [{}, {}]",
                        fast.lo[l][j],
                        fast.hi[l][j]
                    );
                }
            }
        }
        let class = |lo: f64, hi: f64| (lo >= 0.0, hi <= 0.0);
        let close = |a: f64, b: f64| (a - b).abs() <= 1e-9 * (1.0 + a.abs());
        for l in 0..2 {
            for j in 0..widths[l + 1] {
                let (fl, fh) = (full.lo[l][j], full.hi[l][j]);
                let (sl, sh) = (fast.lo[l][j], fast.hi[l][j]);
                assert_eq!(
                    class(fl, fh),
                    class(sl, sh),
                    "trial {trial} layer {l} unit {j}"
                );
                match class(fl, fh) {
                    (true, _) => assert!(close(fl, sl), "trial {trial} {l} {j}: {fl} {sl}"),
                    (_, true) => assert!(close(fh, sh), "trial {trial} {l} {j}: {fh} {sh}"),
                    _ => assert!(close(fl, sl) && close(fh, sh), "trial {trial} {l} {j}"),
                }
                if l == 1 {
                    if fl < 0.0 && fh > 0.0 {
                        unstable += 1;
                    } else {
                        settled += 1;
                    }
                }
            }
        }
    }
    // Both kinds of unit occur in the second hidden layer, many times.
    assert!(settled >= 50 && unstable >= 20, "{settled} {unstable}");
}

/// `Optim::fast` (the α/β search in f32, then one sound f64 pass): on random 3-hidden-layer
/// nets wide enough for the dense (faer) products, with and without split constraints (so
/// with β), every bound is below every sampled point of its domain (the points whose
/// pre-activations meet the splits), the intermediate bounds contain the samples, and the
/// search gains over CROWN at least 80% of what the all-f64 search gains, summed over rows.
#[test]
fn fast_search_is_sound_and_nearly_as_tight() {
    use relulab::verify::engine::{
        bound_rows, optimized_hidden, Domain, Optim, Relaxation, Row, Split,
    };
    let mut rng = ChaCha8Rng::seed_from_u64(31);
    let (mut gain_fast, mut gain_f64) = (0.0, 0.0);
    for trial in 0..4 {
        let d = 8;
        let widths = [d, 64, 72, 64, 10];
        let net = scaled_net(&mut rng, &widths, Activation::RELU);
        let lo: Vec<f64> = (0..d).map(|_| rng.random_range(-1.0..0.0)).collect();
        let hi: Vec<f64> = lo.iter().map(|l| l + rng.random_range(0.3..0.8)).collect();
        let search = Optim {
            iters: 20,
            ..Optim::default()
        };
        let fast = Optim {
            fast: true,
            ..search
        };
        let inter = optimized_hidden(&net, &lo, &hi, None, &fast);
        let out = widths.len() - 2;
        let rel = Relaxation::new(&net, out, &lo, &hi, &inter);
        // Sampled points, and two one-split domains: a unit of hidden layer 1 that is
        // unstable on the box and of either sign on at least a tenth of the samples, split
        // active, and such a unit of hidden layer 2, split inactive.
        let xs: Vec<Vec<f64>> = (0..3000)
            .map(|_| (0..d).map(|i| rng.random_range(lo[i]..=hi[i])).collect())
            .collect();
        let traces: Vec<Vec<Vec<f64>>> = xs.iter().map(|x| net.forward_trace(x)).collect();
        let mut doms: Vec<Vec<Split>> = vec![Vec::new()];
        for (h, active) in [(1usize, true), (2, false)] {
            let j = (0..widths[h + 1])
                .find(|&j| {
                    let pos = traces.iter().filter(|z| z[h][j] > 0.0).count();
                    rel.unstable(h, j) && (300..=2700).contains(&pos)
                })
                .expect("a unit of both signs");
            doms.push(vec![Split {
                layer: h as u32,
                unit: j as u32,
                active,
            }]);
        }
        let domains: Vec<Domain> = doms.iter().map(|s| Domain::splits(s)).collect();
        let cs: Vec<Vec<f64>> = (0..widths[out + 1])
            .map(|k| {
                (0..widths[out + 1])
                    .map(|i| f64::from(i == k) - 0.1)
                    .collect()
            })
            .collect();
        let rows: Vec<Row> = (0..domains.len())
            .flat_map(|dom| {
                cs.iter().map(move |c| Row {
                    dom,
                    c,
                    target: f64::INFINITY,
                    alpha: None,
                    beta: None,
                    floor: f64::NEG_INFINITY,
                })
            })
            .collect();
        let crown = bound_rows(&rel, &domains, &rows, &Optim { iters: 0, ..search });
        let full = bound_rows(&rel, &domains, &rows, &search);
        let quick = bound_rows(&rel, &domains, &rows, &fast);
        let mut min_seen = vec![f64::INFINITY; rows.len()];
        for zs in &traces {
            for (l, z) in zs.iter().take(inter.lo.len()).enumerate() {
                for (j, &v) in z.iter().enumerate() {
                    let tol = 1e-9 * (1.0 + v.abs());
                    assert!(inter.lo[l][j] <= v + tol && v - tol <= inter.hi[l][j]);
                }
            }
            for (q, rw) in rows.iter().enumerate() {
                let inside = doms[rw.dom].iter().all(|s| s.holds(zs));
                if inside {
                    let y: f64 = rw.c.iter().zip(&zs[out]).map(|(c, y)| c * y).sum();
                    min_seen[q] = min_seen[q].min(y);
                }
            }
        }
        // Every domain (so every row) has sampled points: the check below is never vacuous.
        assert!(min_seen.iter().all(|v| v.is_finite()), "trial {trial}");
        for q in 0..rows.len() {
            let tol = 1e-9 * (1.0 + min_seen[q].abs());
            assert!(
                quick[q].lb <= min_seen[q] + tol,
                "trial {trial} row {q}: bound {} above a sampled value {}",
                quick[q].lb,
                min_seen[q]
            );
            assert!(quick[q].lb >= crown[q].lb - 1e-9 * (1.0 + crown[q].lb.abs()));
            gain_fast += quick[q].lb - crown[q].lb;
            gain_f64 += full[q].lb - crown[q].lb;
        }
    }
    assert!(
        gain_f64 > 0.0 && gain_fast >= 0.8 * gain_f64,
        "gains over CROWN: f32 search {gain_fast}, f64 search {gain_f64}"
    );
}
