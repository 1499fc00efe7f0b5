//! NPY/NPZ reading against files written by NumPy (tests/fixtures/npy/make_fixtures.py):
//! every array holds v[i] = (i - 5)·0.5 (floats), i - 5 (signed), i (unsigned), i odd (bool)
//! over its C-order index i, so the expected values are recomputed here in closed form.

use relulab::io::npy::{
    parse_npy_f64, read_npy_f64, read_npy_i64, read_npz_f64, write_npy, write_npz, NpyArray,
};
use std::path::PathBuf;

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/npy")
        .join(name)
}

fn expected(kind: char, n: usize) -> Vec<f64> {
    (0..n)
        .map(|i| match kind {
            'f' => (i as f64 - 5.0) * 0.5,
            'i' => i as f64 - 5.0,
            'u' => i as f64,
            _ => (i % 2) as f64,
        })
        .collect()
}

#[test]
fn every_dtype_and_both_orders() {
    let names = [
        "le_f2", "le_f4", "le_f8", "be_f8", "le_i1", "le_i2", "le_i4", "le_i8", "be_i4", "le_u1",
        "le_u2", "le_u4", "le_u8", "b1",
    ];
    for name in names {
        let kind = name.chars().rev().nth(1).unwrap();
        for suffix in ["_3x4.npy", "_3x4_fortran.npy"] {
            let file = format!("{name}{suffix}");
            let a = read_npy_f64(&fixture(&file)).unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(a.shape, vec![3, 4], "{file}");
            assert_eq!(a.data, expected(kind, 12), "{file}");
            if kind != 'f' {
                let b = read_npy_i64(&fixture(&file)).unwrap();
                let want: Vec<i64> = expected(kind, 12).iter().map(|&v| v as i64).collect();
                assert_eq!(b.data, want, "{file}");
            }
        }
    }
}

#[test]
fn three_d_fortran_scalar_empty_and_header_versions() {
    let a = read_npy_f64(&fixture("le_f4_2x3x4_fortran.npy")).unwrap();
    assert_eq!(a.shape, vec![2, 3, 4]);
    assert_eq!(a.data, expected('f', 24));
    let s = read_npy_f64(&fixture("le_f8_scalar.npy")).unwrap();
    assert_eq!((s.shape.len(), s.data), (0, vec![2.5]));
    let e = read_npy_f64(&fixture("le_f4_0x3.npy")).unwrap();
    assert_eq!((e.shape, e.data.len()), (vec![0, 3], 0));
    for v in ["le_f8_3x4_v2.npy", "le_f8_3x4_v3.npy"] {
        let a = read_npy_f64(&fixture(v)).unwrap();
        assert_eq!(
            (a.shape.clone(), a.data.clone()),
            (vec![3, 4], expected('f', 12))
        );
    }
}

#[test]
fn npz_stored_and_deflated() {
    for f in ["pair.npz", "pair_compressed.npz"] {
        let m = read_npz_f64(&fixture(f)).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(m.len(), 2, "{f}");
        assert_eq!(m[0].0, "x");
        assert_eq!(m[0].1.shape, vec![3, 4]);
        assert_eq!(m[0].1.data, expected('f', 12));
        assert_eq!(m[1].0, "y");
        assert_eq!(m[1].1.data, expected('i', 5));
    }
}

/// Every truncation and every single-byte corruption of the fixtures is an error or a value,
/// never a panic (a cheap, deterministic stand-in for the fuzzers in fuzz/).
#[test]
fn truncated_and_corrupted_files_never_panic() {
    for f in [
        "le_f4_2x3x4_fortran.npy",
        "be_i4_3x4.npy",
        "pair.npz",
        "pair_compressed.npz",
    ] {
        let bytes = std::fs::read(fixture(f)).unwrap();
        let parse = |b: &[u8]| {
            if f.ends_with(".npz") {
                relulab::io::npy::parse_npz_f64(b, f).map(|_| ())
            } else {
                parse_npy_f64(b, f).map(|_| ())
            }
        };
        for n in 0..bytes.len() {
            let e = parse(&bytes[..n]);
            assert!(e.is_err(), "{f} truncated to {n} bytes parsed");
            assert!(!e.unwrap_err().to_string().is_empty());
        }
        for i in 0..bytes.len() {
            for x in [0u8, 0xff, bytes[i] ^ 0x55] {
                let mut b = bytes.clone();
                b[i] = x;
                let _ = parse(&b);
            }
        }
    }
}

/// Files written here load in NumPy. Checked once with
/// `np.load('w.npy')` / `np.load('w.npz')` on the output of this test (kept in $RELULAB_KEEP);
/// the same bytes are checked here against the reader.
#[test]
fn written_files_read_back() {
    let dir = std::env::temp_dir().join(format!("relulab_npy_it_{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let a = NpyArray {
        shape: vec![2, 3],
        data: vec![0.5f32, -1.0, 2.0, 3.25, 1e-8, -0.0],
    };
    write_npy(&dir.join("w.npy"), &a.shape, &a.data).unwrap();
    write_npz(&dir.join("w.npz"), &[("a", &a)], true).unwrap();
    let b = read_npy_f64(&dir.join("w.npy")).unwrap();
    assert_eq!(b.shape, a.shape);
    assert_eq!(b.data, a.data.iter().map(|&x| x as f64).collect::<Vec<_>>());
    let z = read_npz_f64(&dir.join("w.npz")).unwrap();
    assert_eq!(z[0].1, b);
    if let Ok(keep) = std::env::var("RELULAB_KEEP") {
        for f in ["w.npy", "w.npz"] {
            std::fs::copy(dir.join(f), PathBuf::from(&keep).join(f)).unwrap();
        }
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

/// relulab's NPY writer against the bytes NumPy 2.4.6's `np.save` wrote (independent of
/// relulab's reader), generated by tests/fixtures/npy/make_fixtures.py:
///
/// ```python
/// a = np.array([0.5, -1.0, 2.0, 3.25, 1e-8, -0.0], dtype="<f4").reshape(2, 3)
/// np.save("np_save_f4_2x3.npy", a)
/// np.save("np_save_f8_2x3.npy", a.astype("<f8"))
/// np.save("np_save_f8_5.npy", np.array([1.5, -2.0, 0.1, 1e300, -1e-300], dtype="<f8"))
/// np.save("np_save_f4_0x3.npy", np.zeros((0, 3), dtype="<f4"))
/// np.save("np_save_f8_scalar.npy", np.array(2.5, dtype="<f8"))
/// ```
#[test]
fn writer_matches_np_save_bytes() {
    let dir = std::env::temp_dir().join(format!("relulab_npsave_{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let v32 = [0.5f32, -1.0, 2.0, 3.25, 1e-8, -0.0];
    let v64: Vec<f64> = v32.iter().map(|&x| x as f64).collect();
    let check = |name: &str, bytes_of: &dyn Fn(&std::path::Path)| {
        let out = dir.join(name);
        bytes_of(&out);
        let ours = std::fs::read(&out).unwrap();
        let numpy = std::fs::read(fixture(name)).unwrap();
        assert!(
            ours == numpy,
            "{name}: relulab wrote\n{}\nnp.save wrote\n{}",
            String::from_utf8_lossy(&ours[..ours.len().min(128)]),
            String::from_utf8_lossy(&numpy[..numpy.len().min(128)])
        );
    };
    check("np_save_f4_2x3.npy", &|p| {
        write_npy(p, &[2, 3], &v32).unwrap()
    });
    check("np_save_f8_2x3.npy", &|p| {
        write_npy(p, &[2, 3], &v64).unwrap()
    });
    check("np_save_f8_5.npy", &|p| {
        write_npy(p, &[5], &[1.5f64, -2.0, 0.1, 1e300, -1e-300]).unwrap()
    });
    check("np_save_f4_0x3.npy", &|p| {
        write_npy::<f32>(p, &[0, 3], &[]).unwrap()
    });
    check("np_save_f8_scalar.npy", &|p| {
        write_npy(p, &[], &[2.5f64]).unwrap()
    });
    std::fs::remove_dir_all(&dir).unwrap();
}
