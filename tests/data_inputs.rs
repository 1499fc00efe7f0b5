//! Data: the embedded sets, synthetic sets, splits, standardisation, and located errors on bad
//! user files.

use relulab::data::{self, csv, Standardizer, Targets};
use relulab::net::Loss;
use relulab::train::{check_fit, TrainSpec};
use std::path::PathBuf;

fn tmpdir(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("relulab_data_{tag}_{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

#[test]
fn embedded_sets_have_their_published_sizes() {
    // Sizes from the scikit-learn descriptions (data/scikit-learn/*.rst).
    for (name, n, d, k) in [
        ("digits", 1797, 64, 10),
        ("iris", 150, 4, 3),
        ("wine", 178, 13, 3),
        ("breast_cancer", 569, 30, 2),
    ] {
        let ds = data::by_name(name, 0, None, None).unwrap();
        assert_eq!((ds.n, ds.d), (n, d), "{name}");
        match &ds.targets {
            Targets::Classes { n_classes, labels } => {
                assert_eq!(*n_classes, k, "{name}");
                for c in 0..k as u32 {
                    assert!(labels.contains(&c), "{name}: class {c} missing");
                }
            }
            _ => panic!("{name}: expected labels"),
        }
        ds.validate().unwrap();
    }
    // First digits row as in the file: 0,0,5,13,9,1,0,0,... label 0.
    let digits = data::builtin::digits().unwrap();
    assert_eq!(&digits.x[..6], &[0.0, 0.0, 5.0, 13.0, 9.0, 1.0]);
    assert!(digits.x.iter().all(|&v| (0.0..=16.0).contains(&v)));
    // Iris row 1: 5.1,3.5,1.4,0.2 setosa.
    let iris = data::builtin::iris().unwrap();
    assert_eq!(&iris.x[..4], &[5.1, 3.5, 1.4, 0.2]);
}

#[test]
fn synthetic_sets_are_seeded_and_split_is_a_partition() {
    for name in [
        "moons",
        "circles",
        "spirals",
        "xor",
        "checkerboard",
        "abs",
        "sin",
    ] {
        let a = data::by_name(name, 3, Some(101), None).unwrap();
        let b = data::by_name(name, 3, Some(101), None).unwrap();
        assert_eq!(a, b, "{name}: same seed, same data");
        assert_eq!(a.n, 101);
        a.validate().unwrap();
    }
    let noisy = |seed| data::by_name("moons", seed, Some(50), Some(0.2)).unwrap();
    assert_ne!(noisy(1).x, noisy(2).x);
    let ds = data::by_name("iris", 0, None, None).unwrap();
    let (tr, te) = ds.split(0.2, 9).unwrap();
    assert_eq!((tr.n, te.n), (120, 30));
    // Every sample lands in exactly one side: compare multisets of rows.
    let mut all: Vec<Vec<u32>> =
        tr.x.chunks(4)
            .chain(te.x.chunks(4))
            .map(|r| r.iter().map(|v| v.to_bits()).collect())
            .collect();
    let mut orig: Vec<Vec<u32>> =
        ds.x.chunks(4)
            .map(|r| r.iter().map(|v| v.to_bits()).collect())
            .collect();
    all.sort();
    orig.sort();
    assert_eq!(all, orig);
    assert_eq!(ds.split(0.2, 9).unwrap().1, te, "split is seeded");
    // Standardisation: zero mean, unit variance on the data it was fitted on.
    let mut t = tr.clone();
    let st = Standardizer::fit(&t);
    st.apply(&mut t);
    let again = Standardizer::fit(&t);
    for (m, s) in again.mean.iter().zip(&again.std) {
        assert!(
            m.abs() < 1e-6 && (s - 1.0).abs() < 1e-5,
            "mean {m}, std {s}"
        );
    }
}

fn load_err(text: &str, name: &str, labels: bool) -> String {
    let dir = tmpdir(name);
    let p = dir.join(format!("{name}.csv"));
    std::fs::write(&p, text).unwrap();
    let e = csv::load(&p, None, labels)
        .expect_err("should fail")
        .to_string();
    assert!(
        e.contains(&format!("{name}.csv")),
        "message names the file: {e}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
    e
}

#[test]
fn bad_csv_files_get_located_errors() {
    let e = load_err("a,b,label\n1,2,0\n3,4\n", "ragged", true);
    assert!(e.contains("line 3") && e.contains("ragged"), "{e}");
    let e = load_err("1,2,0\n1,x,1\n", "text", true);
    assert!(e.contains("line 2, column 2") && e.contains("'x'"), "{e}");
    let e = load_err("1,2,0\n1,nan,1\n", "nan", true);
    assert!(
        e.contains("line 2, column 2") && e.contains("not finite"),
        "{e}"
    );
    let e = load_err("1,inf,0\n", "inf", true);
    assert!(e.contains("line 1, column 2"), "{e}");
    let e = load_err("a,b,c\n", "empty", true);
    assert!(e.contains("no data rows"), "{e}");
    let e = load_err("1,2,0\n1,2,-1\n", "neg", true);
    assert!(
        e.contains("line 2") && e.contains("not a non-negative integer"),
        "{e}"
    );
    let e = load_err("1,2,0\n1,2,1.5\n", "frac", true);
    assert!(e.contains("line 2"), "{e}");
    let e = load_err("1,2,0\n1,2,1e39\n", "huge", false);
    assert!(e.contains("not finite"), "{e}");
    // One header line only: a second text line is an error, not a second header.
    let e = load_err("a,b,c\nd,e,f\n1,2,0\n", "two_headers", true);
    assert!(e.contains("line 2, column 1") && e.contains("'d'"), "{e}");
    // Semicolons: the message says what the separator is.
    let e = load_err("1;2;0\n3;4;1\n", "semicolons", true);
    assert!(
        e.contains("line 2") && e.contains("separated by commas"),
        "{e}"
    );
}

#[test]
fn targets_file_and_model_fit_checks() {
    let dir = tmpdir("fit");
    let x = dir.join("x.csv");
    let y = dir.join("y.csv");
    std::fs::write(&x, "1,2\n3,4\n5,6\n").unwrap();
    std::fs::write(&y, "0\n1\n5\n").unwrap();
    let ds = csv::load(&x, Some(&y), true).unwrap();
    assert_eq!((ds.n, ds.d), (3, 2));
    let spec = TrainSpec {
        hidden: vec![4],
        ..TrainSpec::default()
    };
    let targets = Targets::Classes {
        labels: vec![0, 1],
        n_classes: 2,
    };
    let mlp = spec.build_model(2, &targets, Loss::CrossEntropy).unwrap();
    let e = check_fit(&mlp, &ds, Loss::CrossEntropy)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("sample 2") && e.contains("label 5 out of range"),
        "{e}"
    );
    let wide = spec.build_model(3, &targets, Loss::CrossEntropy).unwrap();
    let e = check_fit(&wide, &ds, Loss::CrossEntropy)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("2 features per sample, but the model takes 3"),
        "{e}"
    );
    std::fs::write(&y, "0\n1\n").unwrap();
    let e = csv::load(&x, Some(&y), true).unwrap_err().to_string();
    assert!(
        e.contains("y.csv has 2 rows but") && e.contains("x.csv has 3"),
        "{e}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}
