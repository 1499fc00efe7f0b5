//! Oracles: Zaslavsky's count, Telgarsky's 2^L, area sums, point location against the forward
//! pass, brute-force grids, degenerate constructions, determinism across thread counts.

use super::study::he_relu_net;
use super::*;
use crate::activation::Activation;
use crate::net::Mlp;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::collections::HashSet;

/// A 2-input network with one hidden layer of the given lines (w1, w2, b) and output weights.
fn one_layer(lines: &[(f64, f64, f64)], out_w: &[f64], act: Activation) -> Mlp<f64> {
    let n = lines.len();
    let mut m = Mlp::<f64>::zeros(&[2, n, 1], act, Activation::Identity, true);
    for (j, &(a, b, c)) in lines.iter().enumerate() {
        m.layers[0].weight[2 * j] = a;
        m.layers[0].weight[2 * j + 1] = b;
        m.layers[0].bias.as_mut().unwrap()[j] = c;
    }
    m.layers[1].weight.copy_from_slice(out_w);
    m
}

/// n random lines in general position and a half-width containing all their intersections.
fn general_lines(n: usize, rng: &mut ChaCha8Rng) -> (Vec<(f64, f64, f64)>, f64) {
    let lines: Vec<(f64, f64, f64)> = (0..n)
        .map(|_| {
            let t: f64 = rng.random_range(0.0..std::f64::consts::PI);
            (t.cos(), t.sin(), rng.random_range(-1.0..1.0))
        })
        .collect();
    let mut lim: f64 = 2.0;
    for i in 0..n {
        for j in 0..i {
            let (a, b, c) = lines[i];
            let (d, e, f) = lines[j];
            let det = a * e - b * d;
            let x = (-c * e + b * f) / det;
            let y = (-a * f + c * d) / det;
            lim = lim.max(x.abs().max(y.abs()) * 1.1);
        }
    }
    (lines, lim)
}

fn binom2(n: usize) -> usize {
    n * (n - 1) / 2
}

/// Area sum, and for `n_points` random points: the cells strictly containing the point number at
/// most one, the cells containing it with a margin number at least one, and the containing
/// cell's pattern and output map agree with the forward pass.
fn check_partition(net: &GeoNet, mlp: &Mlp<f64>, slice: &Slice, p: &Partition, n_points: usize) {
    let rel = (p.area_sum() - slice.area()).abs() / slice.area();
    assert!(rel < 1e-9, "area sum off by {rel:e} relative");
    for i in 0..p.len() {
        assert!(p.area(i) > 0.0, "cell {i} has area {}", p.area(i));
    }
    let [u0, u1, v0, v1] = slice.bbox;
    let diam = (u1 - u0).hypot(v1 - v0);
    let mut rng = ChaCha8Rng::seed_from_u64(99);
    let mut checked = 0;
    let (su, sv) = (u0.abs().max(u1.abs()), v0.abs().max(v1.abs()));
    let scale: Vec<f64> = (0..p.n_outputs)
        .map(|o| {
            (0..p.len())
                .map(|i| {
                    let [c0, cu, cv] = p.output_map(i, o);
                    c0.abs() + cu.abs() * su + cv.abs() * sv
                })
                .fold(0.0, f64::max)
        })
        .collect();
    for _ in 0..n_points {
        let (u, v) = (rng.random_range(u0..u1), rng.random_range(v0..v1));
        let strict = p.locate(u, v, -1e-9 * diam);
        let loose = p.locate(u, v, 1e-9 * diam);
        assert!(strict.len() <= 1, "({u}, {v}) strictly inside {strict:?}");
        assert!(!loose.is_empty(), "({u}, {v}) in no cell");
        let x = slice.point(u, v);
        let (pat, closest) = net.pattern_of(&x);
        let y = mlp.forward_one(&x);
        let Some(&c) = strict.first() else { continue };
        if closest > 1e-7 {
            assert_eq!(
                &p.pattern(c)[..net.pattern_words()],
                pat.as_slice(),
                "pattern at ({u}, {v})"
            );
            checked += 1;
        }
        for (o, &yo) in y.iter().enumerate() {
            let [c0, cu, cv] = p.output_map(c, o);
            let got = c0 + cu * u + cv * v;
            // Units switched on and off again leave ~1e-16·S residues in the incrementally
            // updated maps (S: the largest map size on the box): an absolute floor 1e-12·S.
            let size = c0.abs() + (cu * u).abs() + (cv * v).abs() + yo.abs();
            let size = size + 1e-3 * scale[o];
            assert!(
                (got - yo).abs() <= 1e-9 * size,
                "output {o} at ({u}, {v}): map {got}, forward {yo}"
            );
        }
    }
    assert!(
        checked * 2 >= n_points,
        "too few points away from boundaries"
    );
}

fn run(mlp: &Mlp<f64>, slice: &Slice) -> (GeoNet, Partition) {
    let net = GeoNet::new(mlp).unwrap();
    let p = partition(&net, slice, PlaneOptions::default()).unwrap();
    (net, p)
}

#[test]
fn zaslavsky_one_layer_general_position() {
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    for n in [1usize, 2, 5, 12, 30] {
        // Box containing every pairwise intersection.
        let (lines, lim) = general_lines(n, &mut rng);
        let out: Vec<f64> = (0..n).map(|_| rng.random_range(0.5..1.5)).collect();
        let mlp = one_layer(&lines, &out, Activation::RELU);
        let slice = Slice::plane([-lim, lim, -lim, lim]);
        let (net, p) = run(&mlp, &slice);
        let want = 1 + n + binom2(n);
        assert_eq!(p.len(), want, "cells, n = {n}");
        assert_eq!(p.activation_regions(), want, "n = {n}");
        // Generic output weights: neighbouring cells differ in one unit with non-zero weight.
        assert_eq!(p.linear_regions(), want, "linear regions, n = {n}");
        check_partition(&net, &mlp, &slice, &p, 300);
    }
}

#[test]
fn mute_units_split_activation_but_not_linear_regions() {
    // Units with zero outgoing weight cut activation regions but not the affine map.
    let mut rng = ChaCha8Rng::seed_from_u64(2);
    let live = 6;
    let mute = 4;
    let (lines, lim) = general_lines(live + mute, &mut rng);
    let mut out: Vec<f64> = (0..live + mute)
        .map(|_| rng.random_range(0.5..1.5))
        .collect();
    for o in &mut out[live..] {
        *o = 0.0;
    }
    let mlp = one_layer(&lines, &out, Activation::RELU);
    let only_live = one_layer(&lines[..live], &out[..live], Activation::RELU);
    let slice = Slice::plane([-lim, lim, -lim, lim]);
    let (_, p) = run(&mlp, &slice);
    let (_, q) = run(&only_live, &slice);
    assert_eq!(p.activation_regions(), 1 + 10 + binom2(10));
    assert_eq!(q.activation_regions(), 1 + 6 + binom2(6));
    assert_eq!(p.linear_regions(), q.linear_regions());
}

#[test]
fn mute_units_deep_t_junctions() {
    // A second hidden layer with extra mute units: their bent lines end on layer-1 lines from
    // both sides at slightly different points (T-junctions); linear regions must not change.
    let base = he_relu_net(&[2, 8, 6, 1], 3);
    let mut wide = he_relu_net(&[2, 8, 10, 1], 4);
    wide.layers[0] = base.layers[0].clone();
    for j in 0..6 {
        for i in 0..8 {
            wide.layers[1].weight[j * 8 + i] = base.layers[1].weight[j * 8 + i];
        }
        wide.layers[1].bias.as_mut().unwrap()[j] = base.layers[1].bias.as_ref().unwrap()[j];
        wide.layers[2].weight[j] = base.layers[2].weight[j];
    }
    for j in 6..10 {
        wide.layers[2].weight[j] = 0.0;
    }
    wide.layers[2].bias = base.layers[2].bias.clone();
    let slice = Slice::plane([-3.0, 3.0, -3.0, 3.0]);
    let (nb, pb) = run(&base, &slice);
    let (nw, pw) = run(&wide, &slice);
    check_partition(&nb, &base, &slice, &pb, 300);
    check_partition(&nw, &wide, &slice, &pw, 300);
    assert!(pw.activation_regions() > pb.activation_regions());
    assert_eq!(pw.linear_regions(), pb.linear_regions());
}

#[test]
fn random_deep_nets_area_and_location() {
    for (seed, widths, d) in [
        (5u64, vec![2, 16, 16, 16, 1], 2usize),
        (6, vec![5, 12, 12, 3], 5),
        (7, vec![2, 8, 8, 8, 8, 8, 2], 2),
    ] {
        let mlp = he_relu_net(&widths, seed);
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let slice = if d == 2 {
            Slice::plane([-2.0, 2.0, -1.5, 2.5])
        } else {
            let r = |rng: &mut ChaCha8Rng| (0..d).map(|_| rng.random_range(-1.0..1.0)).collect();
            Slice {
                origin: r(&mut rng),
                dir_a: r(&mut rng),
                dir_b: r(&mut rng),
                bbox: [-2.0, 2.0, -2.0, 2.0],
            }
        };
        let (net, p) = run(&mlp, &slice);
        assert!(p.len() > 20, "{widths:?}: only {} cells", p.len());
        assert_eq!(p.activation_regions(), p.len(), "one cell per pattern");
        assert!(p.linear_regions() <= p.len());
        check_partition(&net, &mlp, &slice, &p, 1000);
    }
}

#[test]
fn brute_force_grid_finds_no_unknown_pattern() {
    for seed in [11u64, 12, 13] {
        let mlp = he_relu_net(&[2, 10, 10, 10, 1], seed);
        let slice = Slice::plane([-1.5, 1.5, -1.5, 1.5]);
        let (net, p) = run(&mlp, &slice);
        let known: HashSet<&[u64]> = (0..p.len()).map(|i| p.pattern(i)).collect();
        let k = 300;
        let mut found = HashSet::new();
        for a in 0..k {
            for b in 0..k {
                let u = -1.5 + 3.0 * (a as f64 + 0.5) / k as f64;
                let v = -1.5 + 3.0 * (b as f64 + 0.5) / k as f64;
                let (pat, closest) = net.pattern_of(&[u, v]);
                if closest < 1e-9 {
                    continue;
                }
                assert!(
                    known.contains(pat.as_slice()),
                    "unknown pattern at ({u}, {v})"
                );
                found.insert(pat);
            }
        }
        // The grid sees most regions (the rest are smaller than a grid cell).
        assert!(
            found.len() * 10 >= p.len() * 7,
            "{} of {}",
            found.len(),
            p.len()
        );
    }
}

#[test]
fn degenerate_concurrent_parallel_coincident_zero_dead() {
    let s3 = 3f64.sqrt() / 2.0;
    type Case = (&'static str, Vec<(f64, f64, f64)>, usize);
    let cases: Vec<Case> = vec![
        // n lines through one point: 2n sectors.
        (
            "concurrent",
            vec![
                (1.0, 0.0, 0.0),
                (0.0, 1.0, 0.0),
                (0.5, s3, 0.0),
                (s3, -0.5, 0.0),
            ],
            8,
        ),
        // Parallel lines: n + 1 strips.
        (
            "parallel",
            vec![
                (1.0, 1.0, -0.5),
                (1.0, 1.0, 0.0),
                (2.0, 2.0, 1.0),
                (-1.0, -1.0, 0.7),
            ],
            5,
        ),
        // Coincident: the same line four times (scaled, negated): 2 regions.
        (
            "coincident",
            vec![
                (1.0, 2.0, 0.3),
                (2.0, 4.0, 0.6),
                (-1.0, -2.0, -0.3),
                (1.0, 2.0, 0.3),
            ],
            2,
        ),
        // Zero weights: constant units never cut (b > 0 on, b ≤ 0 off, b = 0 exactly zero).
        (
            "zero weights",
            vec![
                (0.0, 0.0, 1.0),
                (0.0, 0.0, -1.0),
                (0.0, 0.0, 0.0),
                (1.0, 0.0, 0.1),
            ],
            2,
        ),
        // Dead units: lines outside the box.
        (
            "dead",
            vec![(1.0, 0.0, -10.0), (0.0, 1.0, 10.0), (1.0, 1.0, 0.0)],
            2,
        ),
        // Lines along the box edges and through its corners.
        (
            "box edges and corners",
            vec![
                (1.0, 0.0, 1.0),
                (0.0, 1.0, -1.0),
                (1.0, 1.0, 0.0),
                (1.0, -1.0, 0.0),
            ],
            4,
        ),
        // A grid: lines u = k and v = k, k = 0..4, on [0, 4]²: 16 squares, 4-way vertices.
        (
            "grid",
            (0..5)
                .flat_map(|k| [(1.0, 0.0, -(k as f64)), (0.0, 1.0, -(k as f64))])
                .collect(),
            16,
        ),
        // Three lines through one point plus a line through that point of a parallel pair.
        (
            "triple point and parallel",
            vec![
                (1.0, 0.0, -0.25),
                (0.0, 1.0, -0.25),
                (1.0, 1.0, -0.5),
                (1.0, 1.0, 0.3),
            ],
            9,
        ),
    ];
    for (name, lines, want) in cases {
        let bbox = if name == "grid" {
            [0.0, 4.0, 0.0, 4.0]
        } else {
            [-1.0, 1.0, -1.0, 1.0]
        };
        let out = vec![1.0; lines.len()];
        for act in [Activation::RELU, Activation::leaky(0.1)] {
            let mlp = one_layer(&lines, &out, act);
            let slice = Slice::plane(bbox);
            let (net, p) = run(&mlp, &slice);
            assert_eq!(p.activation_regions(), want, "{name}: regions");
            assert_eq!(p.len(), want, "{name}: cells");
            check_partition(&net, &mlp, &slice, &p, 400);
        }
    }
}

#[test]
fn homogeneous_deep_net_cones() {
    // No biases: every bent line is a union of rays from the origin; cells are cones.
    let mut mlp = he_relu_net(&[2, 12, 12, 12, 1], 21);
    for l in &mut mlp.layers {
        l.bias = None;
    }
    let slice = Slice::plane([-1.0, 1.0, -1.0, 1.0]);
    let (net, p) = run(&mlp, &slice);
    check_partition(&net, &mlp, &slice, &p, 500);
    // Every cell touches the origin.
    for i in 0..p.len() {
        assert!(point_in_convex(p.polygon(i), 0.0, 0.0, 1e-9), "cell {i}");
    }
}

#[test]
fn prelu_relu_eps_and_identity_layers() {
    let mut mlp = he_relu_net(&[2, 8, 8, 8, 1], 31);
    mlp.layers[0].activation = Activation::Prelu { alpha: 0.25 };
    mlp.layers[0].prelu_alpha = (0..8).map(|j| 0.1 * j as f64 - 0.3).collect();
    mlp.layers[0].prelu_alpha[4] = 1.0;
    mlp.layers[1].activation = Activation::relu_eps(0.05);
    mlp.layers[2].activation = Activation::Identity;
    let slice = Slice::plane([-2.0, 2.0, -2.0, 2.0]);
    let (net, p) = run(&mlp, &slice);
    // PReLU unit with α = 1 (j = 4) is linear: it never cuts.
    assert_eq!(net.layers[0].cuts.len(), 7);
    assert!(net.layers[2].cuts.is_empty());
    check_partition(&net, &mlp, &slice, &p, 500);
}

#[test]
fn non_pwl_hidden_is_refused_and_output_logit_allowed() {
    let mut mlp = he_relu_net(&[2, 4, 1], 1);
    mlp.layers[1].activation = Activation::Sigmoid;
    let net = GeoNet::new(&mlp).unwrap();
    assert!(net.output_is_logit());
    mlp.layers[0].activation = Activation::Tanh;
    let err = GeoNet::new(&mlp).unwrap_err().to_string();
    assert!(err.contains("layer 0") && err.contains("tanh"), "{err}");
}

#[test]
fn bad_slices_are_errors() {
    let net = GeoNet::new(&he_relu_net(&[3, 4, 1], 1)).unwrap();
    let e = partition(
        &net,
        &Slice::plane([-1.0, 1.0, -1.0, 1.0]),
        Default::default(),
    );
    assert!(e.unwrap_err().to_string().contains("origin has 2 values"));
    let mut s = Slice::plane([1.0, -1.0, -1.0, 1.0]);
    s.origin = vec![0.0; 3];
    s.dir_a = vec![1.0, 0.0, 0.0];
    s.dir_b = vec![0.0, 1.0, 0.0];
    assert!(partition(&net, &s, Default::default()).is_err());
    s.bbox = [-1.0, 1.0, -1.0, f64::NAN];
    assert!(partition(&net, &s, Default::default()).is_err());
    s.bbox = [-1e300, 1e300, -1e300, 1e300];
    assert!(partition(&net, &s, Default::default()).is_err());
}

#[test]
fn deterministic_across_thread_counts() {
    let mlp = he_relu_net(&[2, 16, 16, 16, 1], 41);
    let net = GeoNet::new(&mlp).unwrap();
    let slice = Slice::plane([-2.0, 2.0, -2.0, 2.0]);
    let go = |threads: usize| {
        rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap()
            .install(|| partition(&net, &slice, PlaneOptions::default()).unwrap())
    };
    let (a, b) = (go(1), go(3));
    assert_eq!(a.starts, b.starts);
    assert_eq!(a.patterns, b.patterns);
    let bits = |p: &Partition| {
        p.verts
            .iter()
            .map(|v| v[0].to_bits() ^ v[1].to_bits().rotate_left(7))
            .collect::<Vec<_>>()
    };
    assert_eq!(bits(&a), bits(&b));
    assert_eq!(
        a.maps.iter().map(|x| x.to_bits()).collect::<Vec<_>>(),
        b.maps.iter().map(|x| x.to_bits()).collect::<Vec<_>>()
    );
}

#[test]
fn decision_boundary_cut() {
    let mlp = he_relu_net(&[2, 12, 12, 1], 51);
    let net = GeoNet::new(&mlp).unwrap();
    let slice = Slice::plane([-2.0, 2.0, -2.0, 2.0]);
    let plain = partition(&net, &slice, PlaneOptions::default()).unwrap();
    let opts = PlaneOptions {
        boundary: Boundary::Zero(0),
        ..Default::default()
    };
    let cut = partition(&net, &slice, opts).unwrap();
    assert!(cut.len() > plain.len(), "the boundary crosses some cells");
    assert_eq!(cut.activation_regions(), plain.activation_regions());
    let rel = (cut.area_sum() - slice.area()).abs() / slice.area();
    assert!(rel < 1e-9);
    // The side bit agrees with the sign of the output at each cell's centroid.
    for i in 0..cut.len() {
        let poly = cut.polygon(i);
        let k = poly.len() as f64;
        let (u, v) = poly
            .iter()
            .fold((0.0, 0.0), |a, p| (a.0 + p[0] / k, a.1 + p[1] / k));
        let [c0, cu, cv] = cut.output_map(i, 0);
        let y = c0 + cu * u + cv * v;
        let side = cut.pattern(i)[cut.pattern_words - 1] == 1;
        assert!(y.abs() < 1e-9 || (y > 0.0) == side, "cell {i}: y = {y}");
    }
    // Cutting by the boundary does not change the linear regions (same map on both sides).
    assert_eq!(cut.linear_regions(), plain.linear_regions());
}

/// Telgarsky's tent map t(x) = 2·relu(x) − 4·relu(x − ½) on [0, 1], composed L times, is a
/// sawtooth with 2^L pieces (Telgarsky, "Benefits of depth in neural networks", COLT 2016).
fn tent_net(depth: usize) -> Mlp<f64> {
    let mut widths = vec![1];
    widths.extend(std::iter::repeat_n(2, depth));
    widths.push(1);
    let mut m = Mlp::<f64>::zeros(&widths, Activation::RELU, Activation::Identity, true);
    for l in 0..depth {
        let w_in = if l == 0 {
            vec![1.0, 1.0]
        } else {
            vec![2.0, -4.0, 2.0, -4.0]
        };
        m.layers[l].weight.copy_from_slice(&w_in);
        m.layers[l]
            .bias
            .as_mut()
            .unwrap()
            .copy_from_slice(&[0.0, -0.5]);
    }
    m.layers[depth].weight.copy_from_slice(&[2.0, -4.0]);
    m
}

#[test]
fn telgarsky_sawtooth_has_two_to_the_depth_pieces() {
    for depth in 1..=10 {
        let mlp = tent_net(depth);
        let net = GeoNet::new(&mlp).unwrap();
        let s = segment(&net, &[0.0], &[1.0]).unwrap();
        assert_eq!(s.linear_pieces(), 1 << depth, "depth {depth}");
        assert_eq!(s.activation_pieces(), 1 << depth, "depth {depth}");
        // Breakpoints at k/2^L, slopes ±2^L.
        for (k, &t) in s.t.iter().enumerate() {
            assert!((t - k as f64 / (1 << depth) as f64).abs() < 1e-12);
        }
        for m in &s.maps {
            assert_eq!(m[0].1.abs(), (1u64 << depth) as f64);
        }
    }
}

#[test]
fn segment_agrees_with_forward_pass_and_plane() {
    let mlp = he_relu_net(&[2, 16, 16, 16, 2], 61);
    let net = GeoNet::new(&mlp).unwrap();
    let (x0, x1) = ([-1.7, -0.4], [1.9, 1.3]);
    let s = segment(&net, &x0, &x1).unwrap();
    assert!(s.activation_pieces() > 10);
    for k in 0..s.activation_pieces() {
        let t = 0.5 * (s.t[k] + s.t[k + 1]);
        let x = s.point(t);
        let (pat, _) = net.pattern_of(&x);
        assert_eq!(s.patterns[k], pat, "piece {k}");
        let y = mlp.forward_one(&x);
        for (o, &(a, b)) in s.maps[k].iter().enumerate() {
            assert!((a + b * t - y[o]).abs() < 1e-9 * (1.0 + y[o].abs()));
        }
    }
    // The breakpoints are where the pattern changes: just left and right differ.
    for &t in s.breakpoints() {
        let l = net.pattern_of(&s.point(t - 1e-9)).0;
        let r = net.pattern_of(&s.point(t + 1e-9)).0;
        assert_ne!(l, r, "t = {t}");
    }
    // Along a segment the count equals the cells of the plane partition the segment crosses
    // (a segment meets each convex cell in one interval).
    let p = partition(
        &net,
        &Slice::plane([-2.0, 2.0, -2.0, 2.0]),
        Default::default(),
    )
    .unwrap();
    let crossed: HashSet<&[u64]> = (0..p.len())
        .filter(|&i| {
            (0..2000).any(|k| {
                let t = (k as f64 + 0.5) / 2000.0;
                let x = s.point(t);
                point_in_convex(p.polygon(i), x[0], x[1], -1e-12)
            })
        })
        .map(|i| p.pattern(i))
        .collect();
    assert!(crossed.len() <= s.activation_pieces());
    assert!(crossed.len() * 10 >= s.activation_pieces() * 9);
}

#[test]
fn sampling_is_a_lower_bound_that_grows() {
    let mlp = he_relu_net(&[2, 10, 10, 1], 71);
    let net = GeoNet::new(&mlp).unwrap();
    let p = partition(
        &net,
        &Slice::plane([-1.0, 1.0, -1.0, 1.0]),
        Default::default(),
    )
    .unwrap();
    let g = sample_patterns(
        &net,
        &SampleOptions {
            n: 20_000,
            seed: 1,
            lo: -1.0,
            hi: 1.0,
        },
    )
    .unwrap();
    assert!(g.distinct <= p.activation_regions());
    assert!(g.distinct * 10 >= p.activation_regions() * 8);
    assert!(g
        .curve
        .windows(2)
        .all(|w| w[0].0 < w[1].0 && w[0].1 <= w[1].1));
    assert_eq!(*g.curve.last().unwrap(), (20_000, g.distinct));
    let svg = g.to_svg();
    assert_eq!(svg.matches("<circle").count(), g.curve.len());
    let again = sample_patterns(
        &net,
        &SampleOptions {
            n: 20_000,
            seed: 1,
            lo: -1.0,
            hi: 1.0,
        },
    )
    .unwrap();
    assert_eq!(g, again);
}

#[test]
fn mosaic_coloured_by_active_units_with_a_legend() {
    use super::render::{mosaic_svg, Colouring, RenderOptions};
    let mlp = he_relu_net(&[2, 6, 6, 1], 5);
    let (net, p) = run(&mlp, &Slice::plane([-2.0, 2.0, -2.0, 2.0]));
    let opts = RenderOptions {
        width: 200,
        colouring: Colouring::ActiveUnits,
        legend: true,
        boundary: Boundary::None,
        ..Default::default()
    };
    let svg = mosaic_svg(&p, &opts).unwrap();
    // The legend strip widens the picture and names what the colour means.
    let w = 200 + crate::plot::ColourBar::WIDTH;
    assert!(
        svg.contains(&format!("width=\"{w}\" height=\"200\"")),
        "size"
    );
    assert!(svg.contains("active units"));
    // Each cell's colour is its active-unit count on the shared map, the count taken from the
    // forward pass at the cell's centroid (pattern_of, the oracle), scaled over the mosaic's
    // range of counts.
    let counts: Vec<u32> = (0..p.len())
        .map(|i| {
            let poly = p.polygon(i);
            let k = poly.len() as f64;
            let c = poly
                .iter()
                .fold([0.0, 0.0], |a, q| [a[0] + q[0] / k, a[1] + q[1] / k]);
            net.pattern_of(&c).0.iter().map(|w| w.count_ones()).sum()
        })
        .collect();
    let (lo, hi) = (*counts.iter().min().unwrap(), *counts.iter().max().unwrap());
    assert!(hi > lo, "a mosaic with one count tells nothing");
    for &k in &counts {
        let c = crate::plot::sequential(f64::from(k - lo) / f64::from(hi - lo));
        let fill = format!("fill=\"#{:02X}{:02X}{:02X}\"", c.0, c.1, c.2);
        assert!(
            svg.contains(&fill),
            "no cell drawn in {fill} for {k} active units"
        );
    }
    // Without a legend (or for pattern colours) the picture keeps its width.
    let plain = RenderOptions {
        legend: false,
        ..opts.clone()
    };
    assert!(mosaic_svg(&p, &plain).unwrap().contains("width=\"200\""));
}

#[test]
fn pictures_svg_png_and_boundary() {
    use super::render::{mosaic_svg, write_png, write_svg, zero_segment, Colouring, RenderOptions};
    let mlp = he_relu_net(&[2, 8, 8, 1], 81);
    let (_, p) = run(&mlp, &Slice::plane([-2.0, 2.0, -1.0, 1.0]));
    let opts = RenderOptions {
        width: 200,
        boundary: Boundary::Zero(0),
        ..Default::default()
    };
    let svg = mosaic_svg(&p, &opts).unwrap();
    assert!(svg.contains("width=\"200\" height=\"100\""), "aspect ratio");
    assert_eq!(svg.matches("<polygon").count(), p.len());
    let crossing = (0..p.len())
        .filter(|&i| zero_segment(p.polygon(i), p.output_map(i, 0)).is_some())
        .count();
    // Outlines (one polyline per cell) plus one boundary segment per crossed cell.
    assert_eq!(svg.matches("<polyline").count(), p.len() + crossing);
    let dir = std::env::temp_dir().join(format!("relulab-regions-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let png = dir.join("m.png");
    let by_value = RenderOptions {
        colouring: Colouring::Output(0),
        ..opts.clone()
    };
    write_png(&p, &by_value, &png).unwrap();
    let bytes = std::fs::read(&png).unwrap();
    assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n");
    write_svg(&p, &opts, &dir.join("m.svg")).unwrap();
    let left: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(left.len(), 2, "no temp files left: {left:?}");
    let bad = RenderOptions {
        boundary: Boundary::Equal(0, 3),
        ..opts
    };
    assert!(mosaic_svg(&p, &bad)
        .unwrap_err()
        .to_string()
        .contains("boundary output 3"));
    std::fs::remove_dir_all(&dir).unwrap();
    // Zero set of u − 0.5 on the unit square: the segment u = 0.5.
    let sq = [[0.0, 0.0], [1.0, 0.0], [1.0, 1.0], [0.0, 1.0]];
    let (a, b) = zero_segment(&sq, [-0.5, 1.0, 0.0]).unwrap();
    assert_eq!((a, b), ([0.5, 0.0], [0.5, 1.0]));
    assert!(zero_segment(&sq, [2.0, 1.0, 0.0]).is_none());
}

#[test]
fn study_sweep_snapshots_and_tour() {
    use super::study::{init_sweep, snapshot_counts, tour_regions};
    let bbox = [-2.0, 2.0, -2.0, 2.0];
    let sweep = init_sweep(&[4, 8], &[1, 2], bbox, 5).unwrap();
    assert_eq!(sweep.points.len(), 4);
    for pt in &sweep.points {
        // Zaslavsky's bound for one layer of n lines, and at least one region.
        if pt.depth == 1 {
            assert!(pt.activation_regions <= 1 + pt.width + binom2(pt.width));
        }
        assert!(pt.activation_regions >= 1 && pt.linear_regions <= pt.activation_regions);
        assert!(pt.diagonal_pieces >= 1 && pt.diagonal_pieces <= pt.activation_regions);
    }
    let svg = sweep.to_svg().unwrap();
    let widths: Vec<usize> = {
        let mut w: Vec<usize> = sweep.points.iter().map(|p| p.width).collect();
        w.dedup();
        w
    };
    for w in widths {
        // One legend entry per width in each of the two panels.
        let label = format!("w = {w}");
        let n = svg.lines().filter(|l| l.trim() == label).count();
        assert_eq!(n, 2, "width {w}");
    }
    assert!(svg.contains("Activation regions vs depth"));
    // Snapshots: the same numbers as a direct count.
    let nets = vec![
        (0usize, he_relu_net(&[2, 8, 8, 1], 5)),
        (10, he_relu_net(&[2, 8, 8, 1], 6)),
    ];
    let counts = snapshot_counts(&nets, bbox).unwrap();
    for ((epoch, mlp), (e, pt)) in nets.iter().zip(&counts) {
        assert_eq!(epoch, e);
        let (_, p) = run(mlp, &Slice::plane(bbox));
        assert_eq!(pt.activation_regions, p.activation_regions());
        assert_eq!(pt.units, 16);
    }
    let pics = super::study::snapshot_pictures(&nets, bbox, &Default::default()).unwrap();
    assert_eq!(pics.len(), 2);
    for ((_, (_, pt)), (e, svg)) in nets.iter().zip(&counts).zip(&pics) {
        assert!(*e == 0 || *e == 10);
        assert_eq!(svg.matches("<polygon").count(), pt.activation_regions);
    }
    let t = tour_regions(1).unwrap();
    assert!((t.area_sum - t.box_area).abs() < 1e-9 * t.box_area);
    assert!(t.activation_regions > 50);
    assert!(t.mosaic_svg.starts_with("<svg") && t.sweep_svg.contains("polyline"));
}

#[test]
fn integer_weight_nets_full_of_coincidences() {
    // Weights in {−1, 0, 1}, biases in {−½, 0, ½}: many units through the same vertices,
    // parallel and coincident lines at every layer, zero rows, dead units.
    for seed in 0..6u64 {
        let mut rng = ChaCha8Rng::seed_from_u64(100 + seed);
        let mut mlp = he_relu_net(&[2, 10, 10, 10, 1], seed);
        for l in &mut mlp.layers {
            for w in &mut l.weight {
                *w = rng.random_range(-1i32..=1) as f64;
            }
            for b in l.bias.as_mut().unwrap() {
                *b = 0.5 * rng.random_range(-1i32..=1) as f64;
            }
        }
        if seed % 2 == 1 {
            for l in &mut mlp.layers[..3] {
                l.activation = Activation::leaky(0.25);
            }
        }
        let slice = Slice::plane([-1.5, 1.5, -1.5, 1.5]);
        let (net, p) = run(&mlp, &slice);
        check_partition(&net, &mlp, &slice, &p, 1500);
        // Activation regions are convex (fixed pattern: linear constraints), so one cell each.
        assert_eq!(p.activation_regions(), p.len(), "seed {seed}");
        assert!(p.linear_regions() <= p.activation_regions());
    }
}

/// Point location at scale: every random point lies in the cell whose pattern is its
/// forward-pass pattern (found by hashing), and that cell's maps give the forward output. With
/// the area sum equal to the box area, this leaves no room for gaps or overlaps.
fn locate_by_pattern(widths: &[usize], seed: u64, bbox: [f64; 4], n_points: usize) {
    let mlp = he_relu_net(widths, seed);
    let slice = Slice::plane(bbox);
    let (net, p) = run(&mlp, &slice);
    let rel = (p.area_sum() - slice.area()).abs() / slice.area();
    assert!(rel < 1e-9, "area sum off by {rel:e}");
    let index: std::collections::HashMap<&[u64], usize> =
        (0..p.len()).map(|i| (p.pattern(i), i)).collect();
    assert_eq!(index.len(), p.len(), "one cell per pattern");
    let diam = (bbox[1] - bbox[0]).hypot(bbox[3] - bbox[2]);
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut skipped = 0;
    for _ in 0..n_points {
        let (u, v) = (
            rng.random_range(bbox[0]..bbox[1]),
            rng.random_range(bbox[2]..bbox[3]),
        );
        let (pat, closest) = net.pattern_of(&[u, v]);
        if closest < 1e-9 {
            skipped += 1;
            continue;
        }
        let &c = index
            .get(pat.as_slice())
            .unwrap_or_else(|| panic!("({u}, {v}): pattern not enumerated"));
        assert!(
            point_in_convex(p.polygon(c), u, v, 1e-9 * diam),
            "({u}, {v}) outside the cell of its pattern"
        );
        let y = mlp.forward_one(&[u, v])[0];
        let [c0, cu, cv] = p.output_map(c, 0);
        assert!((c0 + cu * u + cv * v - y).abs() < 1e-9 * (1.0 + y.abs()));
    }
    assert!(skipped * 100 < n_points);
}

#[test]
fn point_location_at_scale() {
    locate_by_pattern(
        &[2, 32, 32, 32, 32, 32, 32, 1],
        91,
        [-2.0, 2.0, -2.0, 2.0],
        20_000,
    );
}

/// The anchor net (≈100,000 cells), 200,000 points. Run with
/// `cargo test --release --lib regions::tests::point_location_anchor -- --ignored`.
#[test]
#[ignore]
fn point_location_anchor() {
    let w = [2, 64, 64, 64, 64, 64, 64, 64, 64, 1];
    locate_by_pattern(&w, 0, [-2.0, 2.0, -2.0, 2.0], 200_000);
}

#[test]
fn cell_limit_stops_cleanly() {
    let net = GeoNet::new(&he_relu_net(&[2, 16, 16, 16, 1], 1)).unwrap();
    let slice = Slice::plane([-2.0, 2.0, -2.0, 2.0]);
    let all = partition(&net, &slice, PlaneOptions::default())
        .unwrap()
        .len();
    for max in [all, all + 1000] {
        let opts = PlaneOptions {
            max_cells: Some(max),
            ..Default::default()
        };
        assert_eq!(partition(&net, &slice, opts).unwrap().len(), all);
    }
    for max in [all - 1, 10] {
        let opts = PlaneOptions {
            max_cells: Some(max),
            ..Default::default()
        };
        let e = partition(&net, &slice, opts).unwrap_err().to_string();
        assert!(e.contains(&format!("more than {max} cells")), "{e}");
    }
}

#[test]
fn duplicated_units_change_nothing() {
    // Every hidden unit doubled (same row twice, outgoing weights halved): the same function and
    // the same partition, with every line coincident with its twin at every layer.
    let base = he_relu_net(&[2, 8, 8, 8, 1], 17);
    let mut dup = Mlp::<f64>::zeros(
        &[2, 16, 16, 16, 1],
        Activation::RELU,
        Activation::Identity,
        true,
    );
    for (l, (bl, dl)) in base.layers.iter().zip(&mut dup.layers).enumerate() {
        let rows = if l + 1 == base.layers.len() { 1 } else { 2 };
        let cols = if l == 0 { 1 } else { 2 };
        for j in 0..bl.out_dim * rows {
            let src = j / rows;
            for i in 0..dl.in_dim {
                dl.weight[j * dl.in_dim + i] = bl.weight[src * bl.in_dim + i / cols] / cols as f64;
            }
            dl.bias.as_mut().unwrap()[j] = bl.bias.as_ref().unwrap()[src];
        }
    }
    let slice = Slice::plane([-2.0, 2.0, -2.0, 2.0]);
    let x = [0.3, -0.7];
    assert!((base.forward_one(&x)[0] - dup.forward_one(&x)[0]).abs() < 1e-12);
    let (_, pb) = run(&base, &slice);
    let (nd, pd) = run(&dup, &slice);
    assert_eq!(pd.len(), pb.len());
    assert_eq!(pd.activation_regions(), pb.activation_regions());
    assert_eq!(pd.linear_regions(), pb.linear_regions());
    check_partition(&nd, &dup, &slice, &pd, 1000);
}

#[test]
fn far_box_same_partition() {
    // The same net translated to (1000, −500): first-layer biases absorb the shift. Values at the
    // vertices now cancel large terms; the partition must not change.
    let base = he_relu_net(&[2, 12, 12, 12, 1], 23);
    let mut far = base.clone();
    let (tx, ty) = (1000.0, -500.0);
    let l0 = &mut far.layers[0];
    for j in 0..l0.out_dim {
        let (w0, w1) = (l0.weight[2 * j], l0.weight[2 * j + 1]);
        l0.bias.as_mut().unwrap()[j] -= w0 * tx + w1 * ty;
    }
    let (_, pb) = run(&base, &Slice::plane([-2.0, 2.0, -2.0, 2.0]));
    let slice = Slice::plane([tx - 2.0, tx + 2.0, ty - 2.0, ty + 2.0]);
    let (nf, pf) = run(&far, &slice);
    assert_eq!(pf.activation_regions(), pb.activation_regions());
    assert_eq!(pf.linear_regions(), pb.linear_regions());
    check_partition(&nf, &far, &slice, &pf, 1000);
}

/// The map product at every level: the FMA levels (AVX2, AVX-512) agree bit for bit; the
/// portable level (each multiply-add rounded twice on x86-64) differs from them by at most the
/// documented bound, 2·γ_{2n}·Σ|terms| per output with n the number of summed columns
/// (Higham (3.5) for each side against the exact sum; ARCHITECTURE.md, "Same bits"). Over
/// these cases it does differ somewhere, so the tolerance is needed.
#[test]
fn map_product_levels_within_documented_tolerance() {
    use crate::simd::Level;
    let mut rng = ChaCha8Rng::seed_from_u64(17);
    let mut differs = 0usize;
    for case in 0..40 {
        let (n, m) = (1 + case % 13, 1 + (case * 7) % 29);
        let wt: Vec<f64> = (0..n * m).map(|_| rng.random_range(-1.0..1.0)).collect();
        let slopes: Vec<f64> = (0..n)
            .map(|j| {
                if j % 5 == 3 {
                    0.0
                } else {
                    rng.random_range(0.0..1.5)
                }
            })
            .collect();
        let maps: Vec<f64> = (0..3 * n).map(|_| rng.random_range(-3.0..3.0)).collect();
        let init: Vec<f64> = (0..3 * m).map(|_| rng.random_range(-1.0..1.0)).collect();
        let run = |level: Level| {
            let mut out = init.clone();
            plane::full_product(level, &wt, &slopes, &maps, &mut out);
            out
        };
        // Σ|terms| per output (the initial value counts as one term).
        let mut mag: Vec<f64> = init.iter().map(|v| v.abs()).collect();
        for j in 0..n {
            for c in 0..3 {
                for i in 0..m {
                    mag[c * m + i] += (wt[j * m + i] * slopes[j] * maps[c * n + j]).abs();
                }
            }
        }
        let u = f64::EPSILON / 2.0;
        let k = 2.0 * (n as f64 + 1.0) * u;
        let gamma = k / (1.0 - k);
        let portable = run(Level::PORTABLE);
        let mut fma_first: Option<Vec<f64>> = None;
        for level in Level::supported() {
            let out = run(level);
            if level.has_fma() {
                match &fma_first {
                    None => fma_first = Some(out.clone()),
                    Some(f) => assert!(
                        f.iter().zip(&out).all(|(a, b)| a.to_bits() == b.to_bits()),
                        "case {case}: {level} differs from the first FMA level"
                    ),
                }
            }
            for (i, (a, b)) in out.iter().zip(&portable).enumerate() {
                assert!(
                    (a - b).abs() <= 2.0 * gamma * mag[i],
                    "case {case} output {i} at {level}: {a} vs portable {b}"
                );
                differs += usize::from(a != b);
            }
        }
    }
    if Level::supported().iter().any(|l| l.has_fma()) && !Level::PORTABLE.has_fma() {
        assert!(
            differs > 0,
            "FMA and portable never differed: the tolerance is untested"
        );
    }
}
