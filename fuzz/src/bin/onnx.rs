//! Fuzz target: ONNX protobuf bytes → `parse_onnx`: never a panic, and every error has a
//! message; a model that imports must validate.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    match relulab::io::onnx::parse_onnx(data, "fuzz.onnx") {
        Ok(m) => assert!(m.validate().is_ok()),
        Err(e) => assert!(!e.to_string().is_empty()),
    }
});
