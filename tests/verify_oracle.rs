//! A differential test that cannot share a bug with the verifier: on random networks with two
//! inputs, the exact maximum of an output over a box comes from the exact linear-region
//! partition (`regions`: the maximum of an affine map over a convex polygon is at a vertex),
//! and `verify` (every strategy) and `bounds` (every method) are checked on properties set
//! just above and just below it.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use relulab::regions::{partition, GeoNet, PlaneOptions, Slice};
use relulab::verify::engine::{
    bound_rows, optimized_hidden, Domain, Optim, Relaxation, Row, Split, Tighten, Tightener,
};
use relulab::verify::relu_bab::refined_hidden_bounds;
use relulab::verify::{
    output_bounds, parse_vnnlib, verify, Branching, Method, PwlNet, ReluSplitOptions, Strategy,
    Verdict, VerifyOptions,
};
use relulab::{Activation, Layer, Mlp};
use std::time::Duration;

fn random_net(rng: &mut ChaCha8Rng, widths: &[usize], act: Activation) -> Mlp<f32> {
    let mut layers = Vec::new();
    for l in 0..widths.len() - 1 {
        let (i, o) = (widths[l], widths[l + 1]);
        let mut layer = Layer::<f32>::zeros(
            i,
            o,
            true,
            if l + 2 == widths.len() {
                Activation::Identity
            } else {
                act
            },
        );
        let s = (2.0 / i as f64).sqrt();
        layer.weight = (0..i * o)
            .map(|_| (rng.random_range(-1.5..1.5) * s) as f32)
            .collect();
        layer.bias = Some((0..o).map(|_| rng.random_range(-0.5..0.5) as f32).collect());
        layers.push(layer);
    }
    Mlp { layers }
}

/// (min, max) of output `o` over the box, exactly (up to the partition's vertex rounding).
fn exact_range(mlp: &Mlp<f32>, bbox: [f64; 4], o: usize) -> (f64, f64) {
    let geo = GeoNet::new(mlp).unwrap();
    let part = partition(&geo, &Slice::plane(bbox), PlaneOptions::default()).unwrap();
    let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
    for i in 0..part.len() {
        let m = part.output_map(i, o);
        for v in part.polygon(i) {
            let y = m[0] + m[1] * v[0] + m[2] * v[1];
            lo = lo.min(y);
            hi = hi.max(y);
        }
    }
    (lo, hi)
}

/// The unsafe set `Y_o ≥ level` on the box.
fn above(bbox: [f64; 4], n_out: usize, o: usize, level: f64) -> relulab::verify::Property {
    let mut s = String::from("(declare-const X_0 Real)(declare-const X_1 Real)");
    for j in 0..n_out {
        s.push_str(&format!("(declare-const Y_{j} Real)"));
    }
    s.push_str(&format!(
        "(assert (>= X_0 {:e}))(assert (<= X_0 {:e}))(assert (>= X_1 {:e}))(assert (<= X_1 {:e}))(assert (>= Y_{o} {:e}))",
        bbox[0], bbox[1], bbox[2], bbox[3], level
    ));
    parse_vnnlib(&s, "oracle").unwrap()
}

fn opts(strategy: Strategy, branching: Branching) -> VerifyOptions {
    VerifyOptions {
        timeout: Duration::from_secs(60),
        strategy,
        samples: 200,
        relu_split: ReluSplitOptions {
            branching,
            ..Default::default()
        },
        ..Default::default()
    }
}

#[test]
fn verify_and_bounds_agree_with_the_exact_maximum() {
    let mut rng = ChaCha8Rng::seed_from_u64(11);
    let acts = [Activation::RELU, Activation::leaky(0.1), Activation::RELU];
    let mut checked = 0;
    for trial in 0..36 {
        let widths: Vec<usize> = match trial % 3 {
            0 => vec![2, 8, 8, 2],
            1 => vec![2, 12, 1],
            _ => vec![2, 6, 6, 6, 1],
        };
        let mlp = random_net(&mut rng, &widths, acts[trial % acts.len()]);
        let net = PwlNet::from_mlp(&mlp).unwrap();
        let (x0, x1) = (rng.random_range(-1.0..0.5), rng.random_range(-1.0..0.5));
        let bbox = [
            x0,
            x0 + rng.random_range(0.2..1.5),
            x1,
            x1 + rng.random_range(0.2..1.5),
        ];
        let (xlo, xhi) = (vec![bbox[0], bbox[2]], vec![bbox[1], bbox[3]]);
        let n_out = *widths.last().unwrap();
        let o = trial % n_out;
        let (min, max) = exact_range(&mlp, bbox, o);
        // Sound bounds contain the exact range (the partition's vertices are rounded: 1e-9).
        let tol = 1e-9 * (1.0 + max.abs().max(min.abs()));
        for m in [Method::Ibp, Method::Crown, Method::AlphaCrown] {
            let (l, h) = output_bounds(&net, &xlo, &xhi, m);
            assert!(
                l[o] <= min + tol && h[o] >= max - tol,
                "trial {trial} {m:?}: [{}, {}] does not contain [{min}, {max}]",
                l[o],
                h[o]
            );
        }
        let delta = 1e-4 * (1.0 + max.abs());
        // The ReLU-split search with each branching rule (and so with and without the
        // tightened hidden bounds' influence on the split).
        for (strategy, br) in [
            (Strategy::InputSplit, Branching::Earliest),
            (Strategy::ReluSplit, Branching::Earliest),
            (Strategy::ReluSplit, Branching::Babsr),
            (Strategy::ReluSplit, Branching::Smart),
        ] {
            let up = verify(
                &mlp,
                &above(bbox, n_out, o, max + delta),
                &opts(strategy, br),
            )
            .unwrap();
            assert_eq!(
                up.verdict,
                Verdict::Unsat,
                "trial {trial} {strategy:?} {br:?}: nothing reaches max + δ = {}",
                max + delta
            );
            let down = verify(
                &mlp,
                &above(bbox, n_out, o, max - delta),
                &opts(strategy, br),
            )
            .unwrap();
            assert_ne!(
                down.verdict,
                Verdict::Unsat,
                "trial {trial} {strategy:?} {br:?}: max − δ is reached, so unsat is wrong"
            );
            if let Some(w) = &down.witness {
                assert!(w.y[o] >= max - delta && w.y[o] <= max + tol);
            }
            if strategy == Strategy::InputSplit {
                assert_eq!(down.verdict, Verdict::Sat, "trial {trial}");
            }
        }
        checked += 1;
    }
    assert_eq!(checked, 36);
}

#[test]
fn split_domains_bound_the_exact_range_on_their_region() {
    // The engine's β-CROWN bound of a domain (box ∧ splits) is below the exact minimum of the
    // output over the points of the box that satisfy the splits (found on the partition: a
    // cell's pattern fixes every unit's sign).
    let mut rng = ChaCha8Rng::seed_from_u64(5);
    let (mut tightened, mut stepped) = (0, 0);
    for trial in 0..10 {
        let mlp = random_net(&mut rng, &[2, 6, 6, 1], Activation::RELU);
        let net = PwlNet::from_mlp(&mlp).unwrap();
        let bbox = [-1.0, 1.0, -1.0, 1.0];
        let (xlo, xhi) = (vec![-1.0, -1.0], vec![1.0, 1.0]);
        let inter = optimized_hidden(&net, &xlo, &xhi, None, &Optim::default());
        let rel = Relaxation::new(&net, 2, &xlo, &xhi, &inter);
        // Split the first two unstable units each way.
        let unstable: Vec<(usize, usize)> = (0..2)
            .flat_map(|h| (0..6).map(move |j| (h, j)))
            .filter(|&(h, j)| rel.unstable(h, j))
            .take(2)
            .collect();
        let mut doms: Vec<Vec<Split>> = Vec::new();
        for mask in 0..(1usize << unstable.len()) {
            doms.push(
                unstable
                    .iter()
                    .enumerate()
                    .map(|(k, &(h, j))| Split {
                        layer: h as u32,
                        unit: j as u32,
                        active: mask >> k & 1 == 1,
                    })
                    .collect(),
            );
        }
        let c = [1.0];
        let rows: Vec<Row> = (0..doms.len())
            .map(|d| Row {
                dom: d,
                c: &c,
                target: f64::INFINITY,
                alpha: None,
                beta: None,
                floor: f64::NEG_INFINITY,
            })
            .collect();
        let dv: Vec<Domain> = doms.iter().map(|s| Domain::splits(s)).collect();
        let res = bound_rows(&rel, &dv, &rows, &Optim::default());
        // The same domains with their hidden-layer bounds tightened under their splits: by one
        // CROWN pass, and by 5 α/β steps per row (β-CROWN on the hidden layers).
        let jobs: Vec<Tighten> = doms
            .iter()
            .map(|s| Tighten {
                base: &rel.root,
                splits: s,
                from: s.iter().map(|s| s.layer as usize).min().unwrap_or(0),
                bbox: None,
            })
            .collect();
        let tight = Tightener::new(&net, &xlo, &xhi, &inter, None, 0).tighten(&jobs);
        let tight_b = Tightener::new(&net, &xlo, &xhi, &inter, None, 5).tighten(&jobs);
        let bound_on = |t: &[Option<_>]| {
            let dt: Vec<Domain> = doms
                .iter()
                .zip(t)
                .map(|(s, ln)| Domain {
                    splits: s,
                    bbox: None,
                    lines: ln.as_ref(),
                })
                .collect();
            bound_rows(&rel, &dt, &rows, &Optim::default())
        };
        let (res_t, res_b) = (bound_on(&tight), bound_on(&tight_b));
        // Exact minimum per domain over a dense grid of points that satisfy its splits, and over
        // the partition's vertices (the minimum of each cell is at a vertex).
        let geo = GeoNet::new(&mlp).unwrap();
        let part = partition(&geo, &Slice::plane(bbox), PlaneOptions::default()).unwrap();
        for (d, splits) in doms.iter().enumerate() {
            let mut exact = f64::INFINITY;
            for i in 0..part.len() {
                let poly = part.polygon(i);
                let (cu, cv) = poly
                    .iter()
                    .fold((0.0, 0.0), |a, v| (a.0 + v[0], a.1 + v[1]));
                let centre = [cu / poly.len() as f64, cv / poly.len() as f64];
                let zs = net.forward_trace(&centre);
                let inside = splits.iter().all(|s| s.holds(&zs));
                if inside {
                    let m = part.output_map(i, 0);
                    for v in poly {
                        exact = exact.min(m[0] + m[1] * v[0] + m[2] * v[1]);
                        // The tightened hidden bounds contain the cell's vertices (the closure
                        // of points that meet the splits).
                        let zv = net.forward_trace(v);
                        for (steps, tt) in [(0, &tight), (5, &tight_b)] {
                            let ln = tt[d].as_ref().unwrap_or_else(|| {
                                panic!(
                                    "trial {trial} domain {d} ({steps} steps): dropped, but cell \
                                     {i} meets it"
                                )
                            });
                            for (h, z) in zv.iter().take(2).enumerate() {
                                for (j, &z) in z.iter().enumerate() {
                                    let tol = 1e-9 * (1.0 + z.abs());
                                    let (lo, hi) = (ln.inter.lo[h][j], ln.inter.hi[h][j]);
                                    assert!(
                                        lo <= z + tol && z - tol <= hi,
                                        "trial {trial} domain {d} ({steps} steps): z[{h}][{j}] \
                                         = {z} outside [{lo}, {hi}]"
                                    );
                                    let root = inter.hi[h][j] - inter.lo[h][j];
                                    if steps == 0 {
                                        tightened += usize::from(hi - lo < root);
                                    } else {
                                        let crown = tight[d]
                                            .as_ref()
                                            .map(|c| c.inter.hi[h][j] - c.inter.lo[h][j]);
                                        stepped +=
                                            usize::from(crown.is_some_and(|c| hi - lo < c - 1e-9));
                                    }
                                }
                            }
                        }
                    }
                }
            }
            if exact.is_finite() {
                for (name, r) in [
                    ("root lines", &res[d]),
                    ("tightened", &res_t[d]),
                    ("tightened with α/β steps", &res_b[d]),
                ] {
                    assert!(
                        r.lb <= exact + 1e-9 * (1.0 + exact.abs()),
                        "trial {trial} domain {d} ({name}): bound {} above the exact minimum {exact}",
                        r.lb
                    );
                }
            }
        }
    }
    // The check above is not vacuous: some vertex's bound was tightened under the splits, and
    // the α/β steps tightened some beyond one CROWN pass.
    assert!(tightened > 0, "no hidden bound tightened under any split");
    assert!(
        stepped > 0,
        "the α/β steps never tightened a hidden bound beyond CROWN"
    );
}

#[test]
fn refined_hidden_bounds_contain_the_exact_ranges() {
    // The root's hidden bounds refined by per-unit ReLU-split searches (the search's start when
    // `root_refine` is set) contain every hidden unit's exact range over the box (its minimum
    // and maximum over a cell are at the cell's vertices, where every unit is linear), and are
    // never looser than α-CROWN's.
    let mut rng = ChaCha8Rng::seed_from_u64(23);
    let (mut tightened, mut stabilised) = (0usize, 0usize);
    for trial in 0..8 {
        let mlp = random_net(&mut rng, &[2, 10, 10, 10, 1], Activation::RELU);
        let net = PwlNet::from_mlp(&mlp).unwrap();
        let bbox = [-1.0, 1.0, -1.0, 1.0];
        let (xlo, xhi) = (vec![-1.0, -1.0], vec![1.0, 1.0]);
        let opts = ReluSplitOptions {
            root_refine: 64,
            ..Default::default()
        };
        // α-CROWN as the refinement starts from it.
        let start = Optim {
            iters: opts.root_hidden_iters,
            fast: true,
            ..Optim::default()
        };
        let plain = optimized_hidden(&net, &xlo, &xhi, None, &start);
        let (refined, domains) = refined_hidden_bounds(&net, &xlo, &xhi, &opts);
        let geo = GeoNet::new(&mlp).unwrap();
        let part = partition(&geo, &Slice::plane(bbox), PlaneOptions::default()).unwrap();
        for h in 0..3 {
            for j in 0..10 {
                let (mut zlo, mut zhi) = (f64::INFINITY, f64::NEG_INFINITY);
                for i in 0..part.len() {
                    for v in part.polygon(i) {
                        let z = net.forward_trace(v)[h][j];
                        zlo = zlo.min(z);
                        zhi = zhi.max(z);
                    }
                }
                let (l, u) = (refined.lo[h][j], refined.hi[h][j]);
                let tol = 1e-9 * (1.0 + zlo.abs().max(zhi.abs()));
                assert!(
                    l <= zlo + tol && zhi - tol <= u,
                    "trial {trial}: z[{h}][{j}] ranges over [{zlo}, {zhi}], refined bounds [{l}, {u}]"
                );
                let (pl, pu) = (plain.lo[h][j], plain.hi[h][j]);
                assert!(
                    l >= pl && u <= pu,
                    "trial {trial}: z[{h}][{j}] refined looser"
                );
                tightened += usize::from(l > pl + 1e-9 || u < pu - 1e-9);
                stabilised += usize::from(pl < 0.0 && pu > 0.0 && (l >= 0.0 || u <= 0.0));
            }
        }
        assert!(domains > 0 || refined.unstable_counts().iter().all(|&n| n == 0));
    }
    // Not vacuous: the searches tightened bounds and settled units α-CROWN left unstable.
    assert!(
        tightened > 0 && stabilised > 0,
        "{tightened} tightened, {stabilised} stabilised"
    );
}
