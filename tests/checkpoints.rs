//! Checkpoints: round trips, bit-identical resume, and clear errors on damaged files.

use relulab::io::checkpoint::{self, Checkpoint, TrainState};
use relulab::train::{TrainSpec, Trainer};
use relulab::Activation;
use std::collections::HashMap;
use std::path::{Path, PathBuf};

fn tmpdir(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("relulab_ck_{tag}_{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn spec() -> TrainSpec {
    TrainSpec {
        dataset: Some("moons".into()),
        hidden: vec![12, 12],
        activation: "prelu".into(),
        epochs: 4,
        batch_size: 16,
        seed: 5,
        ..TrainSpec::default()
    }
}

#[test]
fn resume_is_bit_identical() {
    let s = spec();
    let p = s.prepare().unwrap();
    // Uninterrupted run.
    let mut a = Trainer::new(p.mlp.clone(), p.config.clone());
    a.run(&p.train, p.test.as_ref(), &mut [], |_, _| Ok(()))
        .unwrap();
    // Two epochs, checkpoint, reload, two more.
    let dir = tmpdir("resume");
    let path = dir.join("half.safetensors");
    let mut cfg = p.config.clone();
    cfg.epochs = 2;
    let mut b = Trainer::new(p.mlp.clone(), cfg);
    b.run(&p.train, p.test.as_ref(), &mut [], |_, _| Ok(()))
        .unwrap();
    checkpoint::save_full(
        &path,
        &Checkpoint {
            mlp: b.mlp.clone(),
            train: Some(TrainState {
                spec: s.clone(),
                epoch: b.epoch,
                optimizer: b.optimizer.clone(),
                standardizer: p.standardizer.clone(),
            }),
        },
    )
    .unwrap();
    let ck = checkpoint::load_full(&path).unwrap();
    let st = ck.train.unwrap();
    assert_eq!(st.spec, s);
    assert_eq!(st.epoch, 2);
    assert_eq!(st.standardizer, p.standardizer);
    // The resumed run rebuilds its data from the stored spec, as `relulab train --resume`.
    let (train, test, _) = st.spec.load_data().unwrap();
    let mut c = Trainer::new(ck.mlp, p.config.clone());
    c.optimizer = st.optimizer;
    c.epoch = st.epoch;
    c.run(&train, test.as_ref(), &mut [], |_, _| Ok(()))
        .unwrap();
    assert_eq!(c.optimizer.step, a.optimizer.step);
    for (la, lc) in a.mlp.layers.iter().zip(&c.mlp.layers) {
        let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        assert_eq!(bits(&la.weight), bits(&lc.weight));
        assert_eq!(
            bits(la.bias.as_ref().unwrap()),
            bits(lc.bias.as_ref().unwrap())
        );
        assert_eq!(bits(&la.prelu_alpha), bits(&lc.prelu_alpha));
    }
    // Training did move the weights (the comparison is not between two untouched copies).
    assert_ne!(a.mlp.layers[0].weight, p.mlp.layers[0].weight);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn checkpoint_round_trip_keeps_everything_and_leaves_no_temp_files() {
    let p = spec().prepare().unwrap();
    let mut mlp = p.mlp.clone();
    mlp.layers[0].activation = Activation::Relu { prime_at_zero: 1.0 };
    mlp.layers[0].prelu_alpha.clear();
    mlp.layers[1].bias = None;
    let dir = tmpdir("round");
    let path = dir.join("m.safetensors");
    checkpoint::save_checkpoint(&path, &mlp).unwrap();
    let back = checkpoint::load_checkpoint(&path).unwrap();
    assert_eq!(back, mlp);
    let names: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names.len(), 1, "temporary files left: {names:?}");
    // And through io::load_model (dispatch by extension).
    assert_eq!(relulab::io::load_model(&path, None).unwrap(), mlp);
    std::fs::remove_dir_all(&dir).unwrap();
}

fn err_of<T: std::fmt::Debug>(r: relulab::Result<T>) -> String {
    r.expect_err("should fail").to_string()
}

#[test]
fn truncated_or_corrupt_checkpoints_are_rejected_with_the_file_name() {
    let p = spec().prepare().unwrap();
    let dir = tmpdir("bad");
    let path = dir.join("m.safetensors");
    checkpoint::save_checkpoint(&path, &p.mlp).unwrap();
    let bytes = std::fs::read(&path).unwrap();
    for cut in [0, 5, 20, bytes.len() / 2, bytes.len() - 1] {
        let bad = dir.join(format!("cut{cut}.safetensors"));
        std::fs::write(&bad, &bytes[..cut]).unwrap();
        let e = err_of(checkpoint::load_checkpoint(&bad));
        assert!(e.contains(&format!("cut{cut}.safetensors")), "{e}");
        assert!(e.contains("truncated or corrupt"), "{e}");
    }
    let garbage = dir.join("garbage.safetensors");
    std::fs::write(&garbage, b"\xff\xff\xff\xff\xff\xff\xff\x7fnot json").unwrap();
    assert!(err_of(checkpoint::load_checkpoint(&garbage)).contains("garbage.safetensors"));
    let missing = dir.join("missing.safetensors");
    assert!(err_of(checkpoint::load_checkpoint(&missing)).contains("missing.safetensors"));
    std::fs::remove_dir_all(&dir).unwrap();
}

fn write_st(path: &Path, tensors: &[(&str, Vec<usize>)]) {
    // F32 tensors filled with 0.5.
    let data: Vec<(String, Vec<usize>, Vec<u8>)> = tensors
        .iter()
        .map(|(n, s)| {
            let len: usize = s.iter().product();
            (
                n.to_string(),
                s.clone(),
                [0.5f32.to_le_bytes()].repeat(len).concat(),
            )
        })
        .collect();
    let views: Vec<(String, safetensors::tensor::TensorView<'_>)> = data
        .iter()
        .map(|(n, s, b)| {
            (
                n.clone(),
                safetensors::tensor::TensorView::new(safetensors::Dtype::F32, s.clone(), b)
                    .unwrap(),
            )
        })
        .collect();
    let bytes = safetensors::serialize(views, None::<HashMap<String, String>>).unwrap();
    std::fs::write(path, bytes).unwrap();
}

#[test]
fn state_dict_errors_name_the_key() {
    let dir = tmpdir("sd");
    let relu = Activation::RELU;
    let ok = dir.join("ok.safetensors");
    write_st(
        &ok,
        &[
            ("0.weight", vec![4, 3]),
            ("0.bias", vec![4]),
            ("2.weight", vec![2, 4]),
            ("2.bias", vec![2]),
        ],
    );
    let m = checkpoint::load_state_dict(&ok, relu).unwrap();
    assert_eq!(m.widths(), vec![3, 4, 2]);
    assert!(m.layers[0].weight.iter().all(|&w| w == 0.5));

    let unknown = dir.join("unknown.safetensors");
    write_st(
        &unknown,
        &[("0.weight", vec![4, 3]), ("0.running_mean", vec![4])],
    );
    let e = err_of(checkpoint::load_state_dict(&unknown, relu));
    assert!(
        e.contains("unknown.safetensors") && e.contains("0.running_mean"),
        "{e}"
    );

    let stray = dir.join("stray.safetensors");
    write_st(&stray, &[("0.weight", vec![4, 3]), ("extra", vec![1])]);
    assert!(err_of(checkpoint::load_state_dict(&stray, relu)).contains("'extra'"));

    let chain = dir.join("chain.safetensors");
    write_st(
        &chain,
        &[("0.weight", vec![4, 3]), ("2.weight", vec![2, 5])],
    );
    let e = err_of(checkpoint::load_state_dict(&chain, relu));
    assert!(
        e.contains("2.weight") && e.contains("does not match"),
        "{e}"
    );

    let bias = dir.join("bias.safetensors");
    write_st(&bias, &[("0.weight", vec![4, 3]), ("0.bias", vec![3])]);
    assert!(err_of(checkpoint::load_state_dict(&bias, relu)).contains("0.bias"));

    let shape3 = dir.join("shape3.safetensors");
    write_st(&shape3, &[("0.weight", vec![4, 3, 1])]);
    assert!(err_of(checkpoint::load_state_dict(&shape3, relu)).contains("unexpected shape"));

    // A state_dict is not a relulab checkpoint.
    let e = err_of(checkpoint::load_checkpoint(&ok));
    assert!(e.contains("not a relulab checkpoint"), "{e}");
    // Unknown tensors in a relulab checkpoint are refused too.
    let p = spec().prepare().unwrap();
    let ck = dir.join("ck.safetensors");
    checkpoint::save_checkpoint(&ck, &p.mlp).unwrap();
    let bytes = std::fs::read(&ck).unwrap();
    let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    let (_, meta) = safetensors::SafeTensors::read_metadata(&bytes).unwrap();
    let mut views: Vec<(String, safetensors::tensor::TensorView<'_>)> = st.tensors();
    let extra = 1.0f32.to_le_bytes();
    views.push((
        "layers.9.weight".into(),
        safetensors::tensor::TensorView::new(safetensors::Dtype::F32, vec![1], &extra).unwrap(),
    ));
    let out = safetensors::serialize(views, meta.metadata().clone()).unwrap();
    let ck2 = dir.join("ck2.safetensors");
    std::fs::write(&ck2, out).unwrap();
    let e = err_of(checkpoint::load_checkpoint(&ck2));
    assert!(e.contains("layers.9.weight"), "{e}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn f64_state_dicts_load() {
    let dir = tmpdir("f64");
    let w: Vec<u8> = (0..6)
        .flat_map(|k| (k as f64 * 0.25).to_le_bytes())
        .collect();
    let b: Vec<u8> = [1.5f64, -2.0]
        .iter()
        .flat_map(|v| v.to_le_bytes())
        .collect();
    let views = vec![
        (
            "0.weight".to_string(),
            safetensors::tensor::TensorView::new(safetensors::Dtype::F64, vec![2, 3], &w).unwrap(),
        ),
        (
            "0.bias".to_string(),
            safetensors::tensor::TensorView::new(safetensors::Dtype::F64, vec![2], &b).unwrap(),
        ),
    ];
    let path = dir.join("f64.safetensors");
    std::fs::write(&path, safetensors::serialize(views, None).unwrap()).unwrap();
    let m = checkpoint::load_state_dict(&path, Activation::RELU).unwrap();
    assert_eq!(m.layers[0].weight, vec![0.0, 0.25, 0.5, 0.75, 1.0, 1.25]);
    assert_eq!(m.layers[0].bias, Some(vec![1.5, -2.0]));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn prelu_state_dict_round_trip() {
    let s = TrainSpec {
        activation: "prelu".into(),
        ..spec()
    };
    let p = s.prepare().unwrap();
    let mut mlp = p.mlp.clone();
    mlp.layers[0].prelu_alpha = (0..12).map(|j| 0.1 + j as f32 * 0.01).collect();
    let dir = tmpdir("prelu");
    let path = dir.join("sd.safetensors");
    checkpoint::save_state_dict(&path, &mlp).unwrap();
    let back = checkpoint::load_state_dict(&path, Activation::Prelu { alpha: 0.25 }).unwrap();
    assert_eq!(back.layers[0].prelu_alpha, mlp.layers[0].prelu_alpha);
    assert_eq!(back.layers[1].prelu_alpha, mlp.layers[1].prelu_alpha);
    assert_eq!(back.layers[0].weight, mlp.layers[0].weight);
    std::fs::remove_dir_all(&dir).unwrap();
}

/// A temporary left by a writer that died between create and rename (here: PID 4,999,999,
/// above Linux's largest pid_max of 2²², so never alive) is removed by the next atomic write
/// of that file; other files' temporaries and the written file itself are untouched.
#[test]
fn stale_temporaries_of_killed_writers_are_removed() {
    let dir = tmpdir("stale");
    let stale = dir.join(".m.safetensors.tmp4999999");
    let other = dir.join(".other.safetensors.tmp4999999");
    std::fs::write(&stale, b"half a checkpoint").unwrap();
    std::fs::write(&other, b"not ours").unwrap();
    relulab::io::checkpoint::write_atomic(&dir.join("m.safetensors"), b"whole").unwrap();
    assert_eq!(std::fs::read(dir.join("m.safetensors")).unwrap(), b"whole");
    if std::path::Path::new("/proc/self").exists() {
        assert!(!stale.exists(), "stale temporary kept");
    }
    assert!(other.exists(), "another file's temporary removed");
}

/// A checkpoint whose standardisation divides by 0, flips a sign or has the wrong width is
/// refused on load, naming the file and the feature (eval computed a wrong accuracy from a
/// negative spread at exit 0 before).
#[test]
fn corrupt_standardisation_is_rejected_on_load() {
    let s = spec();
    let p = s.prepare().unwrap();
    let sd = p
        .standardizer
        .clone()
        .expect("moons is standardised by default");
    let dir = tmpdir("std");
    let save = |path: &Path, st: relulab::data::Standardizer| {
        let train = TrainState {
            spec: s.clone(),
            epoch: 0,
            optimizer: relulab::net::Optimizer::new(p.config.optimizer),
            standardizer: Some(st),
        };
        let ck = Checkpoint {
            mlp: p.mlp.clone(),
            train: Some(train),
        };
        checkpoint::save_full(path, &ck).unwrap();
    };
    let cases: [(Vec<f64>, Vec<f64>, &str); 4] = [
        (sd.mean.clone(), vec![0.0, sd.std[1]], "feature 0"),
        (sd.mean.clone(), vec![sd.std[0], -1.0], "feature 1"),
        // (JSON has no NaN: it is written as null, which the metadata parser refuses.)
        (
            vec![f64::NAN, sd.mean[1]],
            sd.std.clone(),
            "metadata 'train'",
        ),
        (
            vec![0.0],
            vec![1.0],
            "1 means and 1 spreads for a model of 2 inputs",
        ),
    ];
    for (k, (mean, std, want)) in cases.into_iter().enumerate() {
        let path = dir.join(format!("bad{k}.safetensors"));
        let mut st = sd.clone();
        (st.mean, st.std) = (mean, std);
        save(&path, st);
        let e = err_of(checkpoint::load_full(&path));
        assert!(
            e.contains(&format!("bad{k}.safetensors")) && e.contains(want),
            "case {k}: {e}"
        );
    }
    // The fitted standardisation itself loads.
    let good = dir.join("good.safetensors");
    save(&good, sd);
    assert!(checkpoint::load_full(&good).is_ok());
    std::fs::remove_dir_all(&dir).ok();
}
