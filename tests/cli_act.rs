//! The `act`, `stats` and `plot activations` subcommands end to end: output shapes, exit codes
//! and one-line errors.

use std::process::Command;

fn relulab(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_relulab"))
        .args(args)
        .output()
        .expect("run relulab");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn act_json_shape_and_negative_points() {
    let (code, out, err) = relulab(&["act", "relu", "--at=-3,-0.5,0,2", "--json"]);
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["activation"], "relu");
    let pts = v["points"].as_array().unwrap();
    assert_eq!(pts.len(), 4);
    let want = [
        (-3.0, 0.0, 0.0),
        (-0.5, 0.0, 0.0),
        (0.0, 0.0, 0.0),
        (2.0, 2.0, 1.0),
    ];
    for (p, (x, f, df)) in pts.iter().zip(want) {
        assert_eq!(p["x"].as_f64().unwrap(), x);
        assert_eq!(p["f"].as_f64().unwrap(), f);
        assert_eq!(p["df"].as_f64().unwrap(), df);
    }
    // The space-separated form works too, and parameters apply.
    let (code, out, _) = relulab(&[
        "act",
        "leaky_relu",
        "--alpha",
        "0.2",
        "--at",
        "-1,0",
        "--json",
    ]);
    assert_eq!(code, 0);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["points"][0]["f"].as_f64().unwrap(), -0.2);
    assert_eq!(v["points"][1]["df"].as_f64().unwrap(), 0.2, "Leaky'(0) = α");
    let (_, out, _) = relulab(&["act", "relu", "--prime-at-zero", "1", "--at", "0", "--json"]);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["points"][0]["df"].as_f64().unwrap(), 1.0);
}

#[test]
fn act_f32_uses_the_kernels_within_the_bound() {
    let (code, out, _) = relulab(&["act", "gelu", "--dtype", "f32", "--at=-3,0.5", "--json"]);
    assert_eq!(code, 0);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let f = v["points"][0]["f"].as_f64().unwrap();
    let want = relulab::Activation::Gelu.f(-3.0);
    assert!((f - want).abs() < 1e-6, "{f} vs {want}");
}

#[test]
fn bad_input_exits_2_with_one_line() {
    for args in [
        &["act", "rleu", "--at", "1"][..],
        &["act", "relu", "--at=1,x"],
        &["act", "relu", "--alpha", "0.1", "--at", "1"],
        &["act", "relu", "--prime-at-zero", "2", "--at", "0"],
        &["act", "gelu", "--dtype", "f16", "--at", "1"],
        &["stats", "relu", "--sigma", "-1"],
        &["stats", "relu", "--samples", "lots"],
        &["stats", "relu", "--samples", "1"],
        &["plot", "activations", "--out", "/tmp/relulab-test-plot.jpg"],
        &["plot", "activations", "--out", "/nonexistent-dir/x.svg"],
    ] {
        let (code, out, err) = relulab(args);
        assert_eq!(code, 2, "{args:?}: {out}{err}");
        assert_eq!(err.trim_end().lines().count(), 1, "{args:?}: {err}");
        assert!(err.starts_with("error: "), "{args:?}: {err}");
        assert!(!err.contains("panicked"));
    }
    // Missing required arguments: clap's usage error, exit 2.
    let (code, _, err) = relulab(&["act", "relu"]);
    assert_eq!(code, 2);
    assert!(err.contains("--at"));
}

#[test]
fn stats_json_and_the_sqrt2_claim() {
    let get = |name: &str| {
        let (code, out, err) =
            relulab(&["stats", name, "--samples", "20000", "--seed", "5", "--json"]);
        assert_eq!(code, 0, "{err}");
        serde_json::from_str::<serde_json::Value>(&out).unwrap()
    };
    let r = get("relu");
    let g = get("gelu");
    for key in ["mean", "mean_sq", "mean_prime", "p_prime_nonzero"] {
        assert!(r["exact"][key]["value"].is_number(), "{key}");
        assert!(r["monte_carlo"][key]["std_err"].is_number(), "{key}");
    }
    assert_eq!(r["exact"]["mean"]["method"]["kind"], "closed_form");
    assert_eq!(r["monte_carlo"]["samples"], 20000);
    let ratio = r["exact"]["mean"]["value"].as_f64().unwrap()
        / g["exact"]["mean"]["value"].as_f64().unwrap();
    assert!((ratio - std::f64::consts::SQRT_2).abs() < 1e-15);
    // Same seed, same output.
    assert_eq!(get("relu"), r);
    let (code, out, _) = relulab(&[
        "stats",
        "sigmoid",
        "--mu",
        "-1",
        "--sigma",
        "0.5",
        "--samples",
        "0",
    ]);
    assert_eq!(code, 0);
    assert!(out.contains("Gauss-Hermite"), "{out}");
}

#[test]
fn plot_activations_svg_and_png() {
    let dir = std::env::temp_dir().join(format!("relulab-cli-plot-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    for ext in ["svg", "png"] {
        let path = dir.join(format!("acts.{ext}"));
        let (code, _, err) = relulab(&["plot", "activations", "--out", path.to_str().unwrap()]);
        assert_eq!(code, 0, "{err}");
        let bytes = std::fs::read(&path).unwrap();
        if ext == "svg" {
            let s = String::from_utf8(bytes).unwrap();
            for name in ["relu", "gelu_tanh", "softplus", "Derivatives"] {
                assert!(s.contains(name), "{name}");
            }
        } else {
            assert_eq!(&bytes[1..4], b"PNG");
        }
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn help_on_every_subcommand() {
    for args in [
        &["act", "--help"][..],
        &["stats", "--help"],
        &["plot", "--help"],
        &["plot", "activations", "--help"],
    ] {
        let (code, out, _) = relulab(args);
        assert_eq!(code, 0, "{args:?}");
        assert!(out.contains("Usage"), "{args:?}");
    }
}
