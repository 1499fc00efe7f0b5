//! Fuzz target: NPY bytes → `parse_npy_f64` and `parse_npy_i64`: never a panic, and every
//! error has a message.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    for r in [
        relulab::io::npy::parse_npy_f64(data, "fuzz.npy").map(|a| a.len()),
        relulab::io::npy::parse_npy_i64(data, "fuzz.npy").map(|a| a.len()),
    ] {
        if let Err(e) = r {
            assert!(!e.to_string().is_empty());
        }
    }
});
