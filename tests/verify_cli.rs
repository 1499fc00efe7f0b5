//! The `relulab verify` / `relulab bounds` command line on a hand-made network (a JSON Mlp).

use std::path::PathBuf;
use std::process::Command;

fn tmpdir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("relulab_verify_cli_{name}_{}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

const ORACLE: &str = r#"{"layers":[{"in_dim":2,"out_dim":2,"weight":[1,1,1,-1],"bias":[0,0],"activation":{"name":"relu","prime_at_zero":0.0},"prelu_alpha":[]},{"in_dim":2,"out_dim":1,"weight":[1,1],"bias":[0],"activation":{"name":"identity"},"prelu_alpha":[]}]}"#;

fn prop(y: &str) -> String {
    format!("; oracle\n(declare-const X_0 Real)\n(declare-const X_1 Real)\n(declare-const Y_0 Real)\n(assert (>= X_0 -1))(assert (<= X_0 1))\n(assert (>= X_1 -1))(assert (<= X_1 1))\n(assert {y})\n")
}

fn relulab(args: &[&str]) -> (i32, String, String) {
    let o = Command::new(env!("CARGO_BIN_EXE_relulab"))
        .args(args)
        .output()
        .unwrap();
    (
        o.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&o.stdout).into(),
        String::from_utf8_lossy(&o.stderr).into(),
    )
}

#[test]
fn verify_prints_the_answer_and_witness() {
    let d = tmpdir("single");
    let m = d.join("oracle.json");
    std::fs::write(&m, ORACLE).unwrap();
    let (p1, p2) = (d.join("unsat.vnnlib"), d.join("sat.vnnlib"));
    std::fs::write(&p1, prop("(>= Y_0 2.5)")).unwrap();
    std::fs::write(&p2, prop("(>= Y_0 1.5)")).unwrap();
    let (code, out, _) = relulab(&[
        "verify",
        "--model",
        m.to_str().unwrap(),
        "--property",
        p1.to_str().unwrap(),
    ]);
    assert_eq!(code, 0);
    assert_eq!(out.lines().next(), Some("unsat"));
    let (code, out, _) = relulab(&[
        "verify",
        "--model",
        m.to_str().unwrap(),
        "--property",
        p2.to_str().unwrap(),
    ]);
    assert_eq!(code, 0);
    let mut lines = out.lines();
    assert_eq!(lines.next(), Some("sat"));
    let w = lines.next().unwrap();
    assert!(
        w.starts_with("((X_0 ")
            && w.contains(")(X_1 ")
            && w.contains(")(Y_0 ")
            && w.ends_with("))"),
        "{w}"
    );
    let (code, out, _) = relulab(&[
        "verify",
        "--json",
        "--model",
        m.to_str().unwrap(),
        "--property",
        p2.to_str().unwrap(),
    ]);
    assert_eq!(code, 0);
    let j: serde_json::Value = serde_json::from_str(out.lines().nth(1).unwrap()).unwrap();
    assert_eq!(j["result"], "sat");
    assert!(j["witness"]["y"][0].as_f64().unwrap() >= 1.5);
    // Campaign: CSV with header and expected column, two shards.
    let csv = d.join("instances.csv");
    std::fs::write(&csv, "onnx,vnnlib,timeout,expected\noracle.json,unsat.vnnlib,10,unsat\noracle.json,sat.vnnlib,10,sat\n").unwrap();
    let res = d.join("res.csv");
    let (code, out, err) = relulab(&[
        "verify",
        "--instances",
        csv.to_str().unwrap(),
        "--results",
        res.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.starts_with("solved 2/2 (sat 1, unsat 1), timeouts 0, other 0, wrong 0"),
        "{out}"
    );
    let r = std::fs::read_to_string(&res).unwrap();
    assert_eq!(r.lines().count(), 3);
    assert!(r.lines().nth(1).unwrap().contains(",unsat,unsat,"));
    let (code, out, _) = relulab(&[
        "verify",
        "--instances",
        csv.to_str().unwrap(),
        "--results",
        res.to_str().unwrap(),
        "--shard",
        "2/2",
    ]);
    assert_eq!(code, 0);
    assert!(out.starts_with("solved 1/1 (sat 1, unsat 0)"), "{out}");
    // A wrong expectation makes the campaign exit 1.
    std::fs::write(&csv, "oracle.json,unsat.vnnlib,10,sat\n").unwrap();
    let (code, _, err) = relulab(&[
        "verify",
        "--instances",
        csv.to_str().unwrap(),
        "--results",
        res.to_str().unwrap(),
    ]);
    assert_eq!(code, 1, "{err}");
    std::fs::remove_dir_all(&d).ok();
}

#[test]
fn bad_input_exits_2_with_a_located_message() {
    let d = tmpdir("bad");
    let m = d.join("oracle.json");
    std::fs::write(&m, ORACLE).unwrap();
    let p = d.join("bad.vnnlib");
    std::fs::write(&p, "(declare-const X_0 Real)\n(declare-const X_1 Real)\n(declare-const Y_0 Real)\n(assert (<= X_0 one))\n").unwrap();
    let (code, _, err) = relulab(&[
        "verify",
        "--model",
        m.to_str().unwrap(),
        "--property",
        p.to_str().unwrap(),
    ]);
    assert_eq!(code, 2);
    assert!(err.contains("bad.vnnlib: line 4, column 17"), "{err}");
    let csv = d.join("i.csv");
    std::fs::write(&csv, "oracle.json,bad.vnnlib,abc\n").unwrap();
    let (code, _, err) = relulab(&["verify", "--instances", csv.to_str().unwrap()]);
    assert_eq!(code, 2);
    assert!(err.contains("i.csv: line 1"), "{err}");
    let (code, _, err) = relulab(&["bounds", "--model", m.to_str().unwrap(), "--box", "-1:1"]);
    assert_eq!(code, 2);
    assert!(err.contains("2 inputs"), "{err}");
    let (code, _, err) = relulab(&[
        "verify",
        "--instances",
        csv.to_str().unwrap(),
        "--shard",
        "3/2",
    ]);
    assert_eq!(code, 2);
    assert!(err.contains("--shard"), "{err}");
    // Time limits past what `Instant` arithmetic holds (they panicked before): the flag and a
    // campaign row.
    let (code, _, err) = relulab(&[
        "verify",
        "--model",
        m.to_str().unwrap(),
        "--property",
        p.to_str().unwrap(),
        "--timeout",
        "1e20",
    ]);
    assert_eq!(code, 2);
    assert!(err.contains("--timeout") && err.contains("1e9"), "{err}");
    std::fs::write(&csv, "oracle.json,bad.vnnlib,1e300\n").unwrap();
    let (code, _, err) = relulab(&["verify", "--instances", csv.to_str().unwrap()]);
    assert_eq!(code, 2);
    assert!(
        err.contains("i.csv: line 1") && err.contains("1e300"),
        "{err}"
    );
    std::fs::remove_dir_all(&d).ok();
}

#[test]
fn bounds_prints_each_method() {
    let d = tmpdir("bounds");
    let m = d.join("oracle.json");
    std::fs::write(&m, ORACLE).unwrap();
    let (code, out, _) = relulab(&[
        "bounds",
        "--model",
        m.to_str().unwrap(),
        "--box",
        "-1:1,-1:1",
        "--json",
    ]);
    assert_eq!(code, 0);
    let j: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    let up = |k: &str| j[k]["upper"][0].as_f64().unwrap();
    assert!(
        (up("IBP") - 4.0).abs() < 1e-9 && (up("CROWN") - 3.0).abs() < 1e-9,
        "{out}"
    );
    assert!(up("alpha-CROWN") <= 3.0 + 1e-9);
    std::fs::remove_dir_all(&d).ok();
}

/// A PyTorch state_dict needs its activation (`--activation`); without it the error says so,
/// and with it the answer is the same network's.
#[test]
fn verify_reads_a_state_dict_with_its_activation() {
    let d = tmpdir("state_dict");
    let mlp: relulab::Mlp<f32> = serde_json::from_str(ORACLE).unwrap();
    let sd = d.join("oracle_sd.safetensors");
    relulab::io::checkpoint::save_state_dict(&sd, &mlp).unwrap();
    let (p1, p2) = (d.join("unsat.vnnlib"), d.join("sat.vnnlib"));
    std::fs::write(&p1, prop("(>= Y_0 2.5)")).unwrap();
    std::fs::write(&p2, prop("(>= Y_0 1.5)")).unwrap();
    let run = |p: &PathBuf, act: Option<&str>| {
        let mut a = vec![
            "verify",
            "--model",
            sd.to_str().unwrap(),
            "--property",
            p.to_str().unwrap(),
        ];
        if let Some(act) = act {
            a.extend(["--activation", act]);
        }
        relulab(&a)
    };
    let (code, _, err) = run(&p1, None);
    assert_eq!(code, 2);
    assert!(err.contains("--activation"), "{err}");
    for (p, want) in [(&p1, "unsat"), (&p2, "sat")] {
        let (code, out, err) = run(p, Some("relu"));
        assert_eq!(code, 0, "{err}");
        assert_eq!(out.lines().next(), Some(want), "{out}");
    }
    std::fs::remove_dir_all(&d).ok();
}
