//! Fuzz target: TOML text → `TrainSpec` (the `relulab train --config` file, issue 3's), then
//! the checks that need no data: activation and optimizer settings. Never a panic.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(spec) = toml::from_str::<relulab::train::TrainSpec>(text) {
        let _ = relulab::train::parse_activation(&spec.activation);
        if let Err(e) = spec.optimizer_config() {
            assert!(!e.to_string().is_empty());
        }
    }
});
