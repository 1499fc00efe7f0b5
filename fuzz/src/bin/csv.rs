//! Fuzz target: CSV bytes → `data::csv::load` (issue 3's reader), as features + last-column
//! targets, real-valued and as class labels. Reads from a path, so each input goes through a
//! file in the temporary directory. Never a panic; every error has a message.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let path = relulab_fuzz::tmp_dir().join(format!("relulab_fuzz_{}.csv", std::process::id()));
    std::fs::write(&path, data).unwrap();
    for labels in [false, true] {
        if let Err(e) = relulab::data::csv::load(&path, None, labels) {
            assert!(!e.to_string().is_empty());
        }
    }
});
