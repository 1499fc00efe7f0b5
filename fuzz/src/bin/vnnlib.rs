//! Fuzz target: VNN-LIB text → `verify::parse_vnnlib` (issue 7's parser): never a panic, and
//! every error has a message naming the file.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Err(e) = relulab::verify::parse_vnnlib(text, "fuzz.vnnlib") {
        assert!(e.to_string().contains("fuzz.vnnlib"));
    }
});
