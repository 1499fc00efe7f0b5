//! `relulab train`, `eval` and `sweep` end to end: the digits target, exit codes, error
//! messages, intact files after failures, resume and shards.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn relulab(args: &[&str], dir: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_relulab"))
        .args(args)
        .current_dir(dir)
        .output()
        .expect("run relulab")
}

fn tmpdir(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("relulab_cli_{tag}_{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn digits_reaches_97_percent() {
    let dir = tmpdir("digits");
    let o = relulab(
        &[
            "train",
            "--dataset",
            "digits",
            "--hidden",
            "256,256",
            "--json",
        ],
        &dir,
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let last = stdout(&o).lines().last().unwrap().to_string();
    let v: serde_json::Value = serde_json::from_str(&last).unwrap();
    let acc = v["test_accuracy"].as_f64().unwrap();
    assert!(acc >= 0.97, "digits test accuracy {acc}");
    assert_eq!(v["epoch"], 30);
    // The human summary prints accuracy and training time.
    let o = relulab(&["train", "--dataset", "digits", "--epochs", "2"], &dir);
    let s = stdout(&o);
    assert!(
        s.contains("test accuracy") && s.contains("training time"),
        "{s}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn bad_inputs_exit_2_with_located_messages_and_no_output() {
    let dir = tmpdir("bad");
    std::fs::write(dir.join("ragged.csv"), "1,2,0\n1,2\n").unwrap();
    std::fs::write(dir.join("labels.csv"), "1,2,0\n1,2,7\n3,1,1\n").unwrap();
    let cases: &[(&[&str], &str)] = &[
        (&["train", "--data", "ragged.csv"], "ragged.csv: line 2"),
        (&["train", "--dataset", "nope"], "unknown dataset 'nope'"),
        (
            &["train", "--dataset", "moons", "--activation", "relux"],
            "unknown activation",
        ),
        (
            &[
                "train",
                "--dataset",
                "moons",
                "--activation",
                "relu(prime_at_zero=2)",
            ],
            "prime_at_zero must lie in [0, 1]",
        ),
        (
            &["train", "--dataset", "moons", "--optimizer", "lbfgs"],
            "unknown 'lbfgs'",
        ),
        (
            &["train", "--dataset", "moons", "--weight-decay=-1"],
            "weight_decay must be a finite value ≥ 0, got -1",
        ),
        (
            &["train", "--dataset", "moons", "--weight-decay", "nan"],
            "weight_decay must be a finite value ≥ 0, got NaN",
        ),
        (
            &["train", "--dataset", "moons", "--momentum", "1"],
            "momentum must be in [0, 1), got 1",
        ),
        (
            &["train", "--dataset", "moons", "--clip-norm", "0"],
            "clip_norm must be a finite value > 0, got 0",
        ),
        (
            &[
                "eval",
                "--model",
                "missing.safetensors",
                "--dataset",
                "moons",
            ],
            "missing.safetensors",
        ),
        (
            &["sweep", "--dataset", "moons", "--shard", "3/2"],
            "--shard 3/2",
        ),
        (
            &["sweep", "--dataset", "moons", "--grid", "nosuch=1,2"],
            "unknown field 'nosuch'",
        ),
        (
            &[
                "sweep",
                "--dataset",
                "moons",
                "--save-every",
                "2",
                "--monitor",
            ],
            "--save-every, --monitor belong(s) to `relulab train`",
        ),
    ];
    // --save-every with nowhere to save.
    let o = relulab(&["train", "--dataset", "moons", "--save-every", "1"], &dir);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("--save-every needs --model-out"),
        "{}",
        stderr(&o)
    );
    // Output paths that cannot be written are refused before training.
    let o = relulab(
        &[
            "train",
            "--dataset",
            "moons",
            "--model-out",
            "no-such-folder/m.safetensors",
        ],
        &dir,
    );
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("no-such-folder/m.safetensors: folder no-such-folder does not exist"),
        "{}",
        stderr(&o)
    );
    for (args, want) in cases {
        let mut a = args.to_vec();
        if a[0] == "train" {
            a.extend(["--model-out", "out.safetensors"]);
        }
        let o = relulab(&a, &dir);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {}", stderr(&o));
        assert!(stderr(&o).contains(want), "{args:?}: {}", stderr(&o));
        assert!(
            !dir.join("out.safetensors").exists(),
            "{args:?} wrote a model"
        );
    }
    // Labels beyond the model's outputs (model from a 2-class file, data with label 7).
    std::fs::write(dir.join("two.csv"), "1,2,0\n1,3,1\n2,2,0\n").unwrap();
    let o = relulab(
        &[
            "train",
            "--data",
            "two.csv",
            "--epochs",
            "1",
            "--test-fraction",
            "0",
            "--model-out",
            "two.safetensors",
        ],
        &dir,
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let o = relulab(
        &["eval", "--model", "two.safetensors", "--data", "labels.csv"],
        &dir,
    );
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("label 7 out of range"),
        "{}",
        stderr(&o)
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn divergence_stops_with_epoch_and_step_and_keeps_the_last_checkpoint() {
    let dir = tmpdir("nan");
    let o = relulab(
        &[
            "train",
            "--dataset",
            "sin",
            "--hidden",
            "8",
            "--epochs",
            "2",
            "--model-out",
            "m.safetensors",
        ],
        &dir,
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let good = std::fs::read(dir.join("m.safetensors")).unwrap();
    let o = relulab(
        &[
            "train",
            "--dataset",
            "sin",
            "--hidden",
            "8",
            "--optimizer",
            "sgd",
            "--lr",
            "1e30",
            "--epochs",
            "3",
            "--model-out",
            "m.safetensors",
        ],
        &dir,
    );
    assert_eq!(o.status.code(), Some(2));
    let e = stderr(&o);
    assert!(e.contains("diverged") && e.contains("epoch 1, step"), "{e}");
    assert_eq!(std::fs::read(dir.join("m.safetensors")).unwrap(), good);
    std::fs::remove_dir_all(&dir).unwrap();
}

fn weights(path: &Path) -> Vec<(String, Vec<u8>)> {
    let bytes = std::fs::read(path).unwrap();
    let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    let mut v: Vec<(String, Vec<u8>)> = st
        .tensors()
        .into_iter()
        .map(|(n, t)| (n, t.data().to_vec()))
        .collect();
    v.sort();
    v
}

#[test]
fn resume_through_the_cli_matches_an_uninterrupted_run() {
    let dir = tmpdir("resume");
    let common = [
        "train",
        "--dataset",
        "moons",
        "--hidden",
        "16,16",
        "--seed",
        "4",
        "--quiet",
    ];
    let mut full = common.to_vec();
    full.extend(["--epochs", "6", "--model-out", "full.safetensors"]);
    assert!(relulab(&full, &dir).status.success());
    let mut half = common.to_vec();
    half.extend(["--epochs", "3", "--model-out", "half.safetensors"]);
    assert!(relulab(&half, &dir).status.success());
    let o = relulab(
        &[
            "train",
            "--resume",
            "half.safetensors",
            "--epochs",
            "6",
            "--model-out",
            "resumed.safetensors",
            "--quiet",
        ],
        &dir,
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let a = weights(&dir.join("full.safetensors"));
    let b = weights(&dir.join("resumed.safetensors"));
    assert_eq!(
        a, b,
        "resumed weights and optimizer state differ from the uninterrupted run"
    );
    assert_ne!(a, weights(&dir.join("half.safetensors")));
    // A flag that would change the saved run is refused with --resume, not ignored.
    let o = relulab(
        &[
            "train",
            "--resume",
            "half.safetensors",
            "--hidden",
            "64,64",
            "--lr",
            "0.5",
            "--model-out",
            "other.safetensors",
        ],
        &dir,
    );
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("--hidden, --lr would change it"),
        "{}",
        stderr(&o)
    );
    assert!(!dir.join("other.safetensors").exists());
    // eval reads the checkpoint, applies its standardisation, uses its split.
    let o = relulab(
        &[
            "eval",
            "--model",
            "full.safetensors",
            "--dataset",
            "moons",
            "--split",
            "test",
            "--json",
        ],
        &dir,
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_str(stdout(&o).trim()).unwrap();
    assert_eq!(v["n"], 80);
    assert!(v["accuracy"].as_f64().unwrap() > 0.8, "{v}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn sweep_shards_merge_into_the_full_sweep() {
    let dir = tmpdir("sweep");
    let base = [
        "sweep",
        "--dataset",
        "xor",
        "--hidden",
        "8",
        "--epochs",
        "3",
        "--grid",
        "lr=0.01,0.001",
        "--grid",
        "activation=relu;leaky_relu",
        "--seeds",
        "0..3",
    ];
    let o = relulab(&base, &dir);
    assert!(o.status.success(), "{}", stderr(&o));
    let full: Vec<String> = stdout(&o).lines().map(String::from).collect();
    assert_eq!(full.len(), 12);
    let strip = |l: &str| {
        let mut v: serde_json::Value = serde_json::from_str(l).unwrap();
        v.as_object_mut().unwrap().remove("seconds");
        v
    };
    let mut merged = Vec::new();
    for i in 0..3 {
        let shard = format!("{i}/3");
        let mut a = base.to_vec();
        a.extend(["--shard", &shard, "--jobs", "2"]);
        let o = relulab(&a, &dir);
        assert!(o.status.success());
        merged.extend(stdout(&o).lines().map(strip));
    }
    merged.sort_by_key(|v| v["index"].as_u64().unwrap());
    let full: Vec<_> = full.iter().map(|l| strip(l)).collect();
    assert_eq!(merged, full);
    assert!(full.iter().all(|v| v["error"].is_null()));
    std::fs::remove_dir_all(&dir).unwrap();
}

/// The same run given as a TOML file and as flags gives the same bits (weights, optimizer
/// state, per-epoch JSON apart from timings); a run without one of the file's settings does
/// not, so the file's keys are really applied. A misspelt key is an error naming it.
#[test]
fn toml_config_and_flags() {
    let dir = tmpdir("toml");
    std::fs::write(
        dir.join("run.toml"),
        "dataset = \"circles\"\nhidden = [8, 8]\nepochs = 2\noptimizer = \"sgd\"\nlr = 0.05\n\
         nesterov = true\n[bias_warmup]\ngamma0 = 0.5\nsteps = 10\ndecay = \"cosine\"\n",
    )
    .unwrap();
    let o = relulab(
        &[
            "train",
            "--config",
            "run.toml",
            "--epochs",
            "3",
            "--json",
            "--model-out",
            "toml.safetensors",
        ],
        &dir,
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let strip = |out: &Output| -> Vec<serde_json::Value> {
        stdout(out)
            .lines()
            .map(|l| {
                let mut v: serde_json::Value = serde_json::from_str(l).unwrap();
                v.as_object_mut().unwrap().remove("seconds");
                v
            })
            .collect()
    };
    let from_toml = strip(&o);
    assert_eq!(from_toml.len(), 3, "--epochs overrides the file");
    let flags = [
        "train",
        "--dataset",
        "circles",
        "--hidden",
        "8,8",
        "--epochs",
        "3",
        "--optimizer",
        "sgd",
        "--lr",
        "0.05",
        "--nesterov",
        "--json",
    ];
    let mut a = flags.to_vec();
    a.extend([
        "--bias-warmup",
        "0.5:10:cosine",
        "--model-out",
        "flags.safetensors",
    ]);
    let o = relulab(&a, &dir);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(strip(&o), from_toml, "per-epoch results, file vs flags");
    let w = weights(&dir.join("toml.safetensors"));
    assert!(!w.is_empty());
    assert_eq!(
        w,
        weights(&dir.join("flags.safetensors")),
        "weights, file vs flags"
    );
    // Without the bias warm-up the run differs: the comparison above can fail.
    let mut a = flags.to_vec();
    a.extend(["--model-out", "plain.safetensors"]);
    assert!(relulab(&a, &dir).status.success());
    assert_ne!(
        w,
        weights(&dir.join("plain.safetensors")),
        "bias warm-up had no effect"
    );
    std::fs::write(dir.join("bad.toml"), "hiden = [8]\n").unwrap();
    let o = relulab(&["train", "--config", "bad.toml"], &dir);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("bad.toml") && stderr(&o).contains("hiden"),
        "{}",
        stderr(&o)
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn model_in_accepts_checkpoints_and_state_dicts_and_checks_widths() {
    let dir = tmpdir("modelin");
    let o = relulab(
        &[
            "train",
            "--dataset",
            "iris",
            "--hidden",
            "8",
            "--epochs",
            "3",
            "--quiet",
            "--state-dict-out",
            "sd.safetensors",
            "--model-out",
            "ck.safetensors",
        ],
        &dir,
    );
    assert!(o.status.success(), "{}", stderr(&o));
    // The weights are really loaded: with no epoch to train, the state_dict written back holds
    // the same tensors (read with the safetensors crate) from either input, and a fresh
    // network of the same shape does not.
    let saved = weights(&dir.join("sd.safetensors"));
    assert_eq!(saved.len(), 4, "0.weight, 0.bias, 2.weight, 2.bias");
    for m in ["sd.safetensors", "ck.safetensors"] {
        let o = relulab(
            &[
                "train",
                "--dataset",
                "iris",
                "--model-in",
                m,
                "--epochs",
                "0",
                "--quiet",
                "--state-dict-out",
                "back.safetensors",
            ],
            &dir,
        );
        assert!(o.status.success(), "{m}: {}", stderr(&o));
        assert_eq!(
            weights(&dir.join("back.safetensors")),
            saved,
            "{m}: weights not loaded"
        );
    }
    let o = relulab(
        &[
            "train",
            "--dataset",
            "iris",
            "--hidden",
            "8",
            "--epochs",
            "0",
            "--quiet",
            "--state-dict-out",
            "fresh.safetensors",
        ],
        &dir,
    );
    assert!(o.status.success(), "{}", stderr(&o));
    assert_ne!(weights(&dir.join("fresh.safetensors")), saved);
    for m in ["sd.safetensors", "ck.safetensors"] {
        let o = relulab(
            &[
                "train",
                "--dataset",
                "iris",
                "--model-in",
                m,
                "--epochs",
                "2",
                "--json",
            ],
            &dir,
        );
        assert!(o.status.success(), "{m}: {}", stderr(&o));
        assert_eq!(stdout(&o).lines().count(), 2);
    }
    // A 4-feature model on 13-feature data.
    let o = relulab(
        &["train", "--dataset", "wine", "--model-in", "sd.safetensors"],
        &dir,
    );
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("13 features per sample, but the model takes 4"),
        "{}",
        stderr(&o)
    );
    // A state_dict is not mistaken for a checkpoint by eval without --activation.
    let o = relulab(
        &["eval", "--model", "sd.safetensors", "--dataset", "iris"],
        &dir,
    );
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("--activation"), "{}", stderr(&o));
    let o = relulab(
        &[
            "eval",
            "--model",
            "sd.safetensors",
            "--activation",
            "relu",
            "--dataset",
            "iris",
        ],
        &dir,
    );
    assert!(o.status.success(), "{}", stderr(&o));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn killing_training_never_leaves_a_truncated_checkpoint() {
    let dir = tmpdir("kill");
    let mut seen = 0;
    for (k, delay_ms) in [50u64, 150, 300, 500, 800, 1200, 1700]
        .into_iter()
        .enumerate()
    {
        let out = format!("m{k}.safetensors");
        let mut child = Command::new(env!("CARGO_BIN_EXE_relulab"))
            .args([
                "train",
                "--dataset",
                "digits",
                "--hidden",
                "512,512",
                "--epochs",
                "50",
                "--save-every",
                "1",
                "--quiet",
                "--model-out",
                &out,
            ])
            .current_dir(&dir)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(std::time::Duration::from_millis(delay_ms));
        child.kill().unwrap();
        child.wait().unwrap();
        let path = dir.join(&out);
        if path.exists() {
            let ck = relulab::io::checkpoint::load_full(&path)
                .unwrap_or_else(|e| panic!("killed after {delay_ms} ms: {e}"));
            assert!(ck.train.unwrap().epoch >= 1);
            seen += 1;
        }
        if seen >= 3 {
            break;
        }
    }
    assert!(
        seen > 0,
        "no checkpoint was written before any kill: the test proved nothing"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}
