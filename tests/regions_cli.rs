//! `relulab regions` end to end: JSON fields and their consistency, pictures, errors with exit
//! code 2, and a PyTorch state_dict whose output maps must reproduce PyTorch's outputs.

mod common;
use std::path::PathBuf;
use std::process::{Command, Output};

fn relulab(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_relulab"))
        .args(args)
        .output()
        .expect("run relulab")
}

fn json(out: &Output) -> serde_json::Value {
    assert!(
        out.status.success(),
        "relulab failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("stdout is JSON")
}

fn tmpdir(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("relulab-regions-cli-{tag}-{}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

#[test]
fn plane_json_counts_areas_and_polygons() {
    let out = relulab(&[
        "regions",
        "--init-he",
        "2,12,12,1",
        "--seed",
        "3",
        "--box",
        "-1.5,2,-1,1",
        "--json",
        "--polygons",
    ]);
    let v = json(&out);
    let cells = v["cells"].as_u64().unwrap() as usize;
    let active = v["activation_regions"].as_u64().unwrap() as usize;
    let linear = v["linear_regions"].as_u64().unwrap() as usize;
    assert!(cells > 30 && active == cells && linear <= active);
    assert_eq!(v["box"], serde_json::json!([-1.5, 2.0, -1.0, 1.0]));
    let area = v["area_sum"].as_f64().unwrap();
    assert!((area - 7.0).abs() < 1e-9 * 7.0, "area sum {area}");
    let polys = v["polygons"].as_array().unwrap();
    assert_eq!(polys.len(), cells);
    // Independent area: shoelace over the printed vertices.
    let mut total = 0.0;
    for p in polys {
        let vs = p["vertices"].as_array().unwrap();
        let pts: Vec<(f64, f64)> = vs
            .iter()
            .map(|q| (q[0].as_f64().unwrap(), q[1].as_f64().unwrap()))
            .collect();
        let n = pts.len();
        total += 0.5
            * (0..n)
                .map(|k| pts[k].0 * pts[(k + 1) % n].1 - pts[(k + 1) % n].0 * pts[k].1)
                .sum::<f64>();
        let pat = p["pattern"].as_array().unwrap();
        assert_eq!(pat.len(), 2);
        assert!(pat.iter().all(|s| s.as_str().unwrap().len() == 12));
        assert_eq!(p["maps"].as_array().unwrap().len(), 1);
    }
    assert!((total - 7.0).abs() < 1e-9 * 7.0);
}

#[test]
fn segment_sample_and_sweep_modes() {
    let v = json(&relulab(&[
        "regions",
        "--init-he",
        "4,10,10,2",
        "--segment",
        "-1,-1,-1,-1",
        "1,1,1,1",
        "--json",
    ]));
    let pieces = v["activation_pieces"].as_u64().unwrap() as usize;
    assert_eq!(v["t"].as_array().unwrap().len(), pieces + 1);
    assert_eq!(v["maps"].as_array().unwrap().len(), pieces);
    let v = json(&relulab(&[
        "regions",
        "--init-he",
        "4,10,10,2",
        "--sample",
        "500",
        "--json",
    ]));
    let g = v["growth"].as_array().unwrap();
    assert_eq!(g.last().unwrap()[0], 500);
    assert_eq!(g.last().unwrap()[1], v["distinct_patterns"]);
    let dir = tmpdir("sweep");
    let svg = dir.join("s.svg");
    let v = json(&relulab(&[
        "regions",
        "--sweep",
        "--widths",
        "4,8",
        "--depths",
        "1,2",
        "--json",
        "--svg",
        svg.to_str().unwrap(),
    ]));
    assert_eq!(v["points"].as_array().unwrap().len(), 4);
    assert!(std::fs::read_to_string(&svg).unwrap().starts_with("<svg"));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn two_logit_boundary() {
    let v = json(&relulab(&[
        "regions",
        "--init-he",
        "2,10,10,2",
        "--boundary",
        "0=1",
        "--json",
        "--polygons",
    ]));
    let plain = json(&relulab(&["regions", "--init-he", "2,10,10,2", "--json"]));
    assert_eq!(v["activation_regions"], plain["activation_regions"]);
    assert!(v["cells"].as_u64() > plain["cells"].as_u64());
    // The side bit (last pattern entry) says which logit wins at each cell's centroid.
    for p in v["polygons"].as_array().unwrap() {
        let vs = p["vertices"].as_array().unwrap();
        let k = vs.len() as f64;
        let c = vs.iter().fold([0.0, 0.0], |a, q| {
            [
                a[0] + q[0].as_f64().unwrap() / k,
                a[1] + q[1].as_f64().unwrap() / k,
            ]
        });
        let val = |o: usize| {
            let m = &p["maps"][o];
            m[0].as_f64().unwrap() + m[1].as_f64().unwrap() * c[0] + m[2].as_f64().unwrap() * c[1]
        };
        let d = val(0) - val(1);
        let side = p["pattern"]
            .as_array()
            .unwrap()
            .last()
            .unwrap()
            .as_str()
            .unwrap()
            == "1";
        assert!(d.abs() < 1e-9 || (d > 0.0) == side, "difference {d}");
    }
}

#[test]
fn pictures_are_written() {
    let dir = tmpdir("pics");
    let (svg, png) = (dir.join("m.svg"), dir.join("m.png"));
    let out = relulab(&[
        "regions",
        "--init-he",
        "2,8,8,1",
        "--boundary",
        "0",
        "--colour",
        "output:0",
        "--svg",
        svg.to_str().unwrap(),
        "--png",
        png.to_str().unwrap(),
        "--px",
        "120",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(std::fs::read_to_string(&svg).unwrap().contains("<polygon"));
    assert_eq!(&std::fs::read(&png).unwrap()[..4], b"\x89PNG");
    assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 2);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn bad_input_exits_2_with_a_message() {
    let dir = tmpdir("bad");
    let svg = dir.join("never.svg");
    for (args, needle) in [
        (
            vec!["regions", "--init-he", "2,8,1", "--box", "1,2,3"],
            "--box needs 4",
        ),
        (
            vec!["regions", "--init-he", "2,8,1", "--box", "1,0,0,1"],
            "u0 < u1",
        ),
        (
            vec!["regions", "--init-he", "2,8,1", "--box", "a,1,0,1"],
            "--box: value 1",
        ),
        (vec!["regions", "--init-he", "3,8,1"], "--dir-a"),
        (
            vec!["regions", "--init-he", "2,8,1", "--boundary", "2"],
            "boundary output 2",
        ),
        (
            vec!["regions", "--init-he", "2,8,1", "--colour", "hue"],
            "--colour",
        ),
        (vec!["regions"], "--model"),
        (vec!["regions", "--model", "x.txt"], "x.txt"),
        (
            vec!["regions", "--init-he", "2,8,1", "--segment", "0,0", "1"],
            "segment",
        ),
        (
            vec![
                "regions",
                "--init-he",
                "2,8,1",
                "--boundary",
                "5",
                "--svg",
                svg.to_str().unwrap(),
            ],
            "boundary output 5",
        ),
        (
            vec![
                "regions",
                "--init-he",
                "2,8,1",
                "--svg",
                "/nonexistent-dir/m.svg",
            ],
            "/nonexistent-dir/m.svg",
        ),
        (
            vec![
                "regions",
                "--init-he",
                "2,8,1",
                "--png",
                "/nonexistent-dir/m.png",
            ],
            "/nonexistent-dir/m.png",
        ),
    ] {
        let out = relulab(&args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains(needle), "{args:?}: {err}");
    }
    assert!(!svg.exists(), "no output file on error");
    std::fs::remove_dir_all(&dir).unwrap();
}

/// PyTorch outputs of the fixture state_dict at fixture points, from
/// tests/data/regions_state_dict.py (torch.manual_seed(5); Sequential(Linear(2, 8), ReLU,
/// Linear(8, 8), ReLU, Linear(8, 1)); `net(pts)`).
const TORCH_POINTS: [([f64; 2], f64); 6] = [
    ([-1.5, -1.0], -0.18505966663360596),
    (
        [-0.30000001192092896, 0.699999988079071],
        -0.2756531238555908,
    ),
    (
        [0.20000000298023224, -0.4000000059604645],
        -0.03361594304442406,
    ),
    ([1.100000023841858, 1.600000023841858], -0.31628769636154175),
    (
        [1.899999976158142, -1.7999999523162842],
        0.07930433750152588,
    ),
    (
        [0.05000000074505806, 0.05000000074505806],
        -0.03372390195727348,
    ),
];

#[test]
fn pytorch_state_dict_maps_reproduce_torch() {
    let model = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/data/regions_state_dict.safetensors"
    );
    let out = relulab(&[
        "regions",
        "--model",
        model,
        "--activation",
        "relu",
        "--json",
        "--polygons",
    ]);
    assert!(
        out.status.success(),
        "relulab failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v = json(&out);
    let polys = v["polygons"].as_array().unwrap();
    for (x, y) in TORCH_POINTS {
        let inside: Vec<&serde_json::Value> = polys
            .iter()
            .filter(|p| {
                let vs: Vec<[f64; 2]> = p["vertices"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|q| [q[0].as_f64().unwrap(), q[1].as_f64().unwrap()])
                    .collect();
                let n = vs.len();
                (0..n).all(|k| {
                    let (a, b) = (vs[k], vs[(k + 1) % n]);
                    (b[0] - a[0]) * (x[1] - a[1]) - (b[1] - a[1]) * (x[0] - a[0]) >= -1e-12
                })
            })
            .collect();
        assert!(!inside.is_empty(), "{x:?} in no polygon");
        for p in inside {
            let m = &p["maps"][0];
            let got = m[0].as_f64().unwrap()
                + m[1].as_f64().unwrap() * x[0]
                + m[2].as_f64().unwrap() * x[1];
            // PyTorch computes in f32: agreement to f32 rounding.
            assert!((got - y).abs() < 1e-5, "{x:?}: map {got}, torch {y}");
        }
    }
}

/// The same fixture read directly with the safetensors crate (independent of relulab's
/// loaders): the library's maps reproduce PyTorch's outputs.
#[test]
fn pytorch_fixture_maps_via_library() {
    use relulab::regions::{partition, point_in_convex, GeoNet, PlaneOptions, Slice};
    use relulab::{Activation, Mlp};
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/data/regions_state_dict.safetensors"
    );
    let bytes = std::fs::read(path).unwrap();
    let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    let get = |name: &str| -> Vec<f32> {
        st.tensor(name)
            .unwrap()
            .data()
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect()
    };
    let mut mlp = Mlp::<f32>::zeros(&[2, 8, 8, 1], Activation::RELU, Activation::Identity, true);
    for (l, k) in [0, 2, 4].into_iter().enumerate() {
        mlp.layers[l].weight = get(&format!("{k}.weight"));
        mlp.layers[l].bias = Some(get(&format!("{k}.bias")));
    }
    let net = GeoNet::new(&mlp.cast::<f64>()).unwrap();
    let p = partition(
        &net,
        &Slice::plane([-2.0, 2.0, -2.0, 2.0]),
        PlaneOptions::default(),
    )
    .unwrap();
    for (x, y) in TORCH_POINTS {
        let cells: Vec<usize> = (0..p.len())
            .filter(|&i| point_in_convex(p.polygon(i), x[0], x[1], 1e-12))
            .collect();
        assert!(!cells.is_empty());
        for i in cells {
            let [c0, cu, cv] = p.output_map(i, 0);
            let got = c0 + cu * x[0] + cv * x[1];
            assert!((got - y).abs() < 1e-5, "{x:?}: map {got}, torch {y}");
        }
    }
}

/// `train --regions-every`: counts in the metrics lines every N epochs, one SVG per snapshot
/// (epoch 0 included), and the last count equal to what `relulab regions` finds on the saved
/// model over the same box.
#[test]
fn regions_during_training_match_the_regions_command() {
    let d = tmpdir("during");
    let model = d.join("m.safetensors");
    let snaps = d.join("snaps");
    let out = relulab(&[
        "train",
        "--dataset",
        "moons",
        "--hidden",
        "12,12",
        "--epochs",
        "6",
        "--seed",
        "2",
        "--json",
        "--regions-every",
        "3",
        "--regions-box=-2,2,-2,2",
        "--regions-svg",
        snaps.to_str().unwrap(),
        "--model-out",
        model.to_str().unwrap(),
    ]);
    let lines = common::json_lines(&out);
    assert_eq!(lines.len(), 6);
    let mut last = None;
    for l in &lines {
        let e = l["epoch"].as_u64().unwrap();
        let r = &l["regions"];
        if e % 3 == 0 {
            let (a, lin) = (
                r["activation"].as_u64().unwrap(),
                r["linear"].as_u64().unwrap(),
            );
            assert!(a >= lin && lin >= 1, "epoch {e}: {r}");
            assert_eq!(r["box"], serde_json::json!([-2.0, 2.0, -2.0, 2.0]));
            last = Some((a, lin));
        } else {
            assert!(r.is_null(), "epoch {e} has regions: {r}");
        }
    }
    for e in [0, 3, 6] {
        let svg = std::fs::read_to_string(snaps.join(format!("regions_epoch{e:05}.svg"))).unwrap();
        assert!(
            svg.starts_with("<svg") || svg.starts_with("<?xml"),
            "epoch {e}"
        );
        assert!(
            svg.contains("<polygon") || svg.contains("<path"),
            "epoch {e}"
        );
    }
    let j = json(&relulab(&[
        "regions",
        "--model",
        model.to_str().unwrap(),
        "--box=-2,2,-2,2",
        "--json",
    ]));
    let want = (
        j["activation_regions"].as_u64().unwrap(),
        j["linear_regions"].as_u64().unwrap(),
    );
    assert_eq!(last, Some(want));
    // A four-feature data set (iris) is refused before training.
    let bad = relulab(&["train", "--dataset", "iris", "--regions-every", "1"]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("need a network with 2 inputs"));
}
