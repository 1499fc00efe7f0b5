//! Fuzz target: NPZ (ZIP) bytes → `parse_npz_f64`: never a panic, and every error has a
//! message.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Err(e) = relulab::io::npy::parse_npz_f64(data, "fuzz.npz") {
        assert!(!e.to_string().is_empty());
    }
});
