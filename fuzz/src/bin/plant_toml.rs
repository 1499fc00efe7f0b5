//! Fuzz target: TOML text → `reach::Plant` (the `relulab reach --system` file, issue 12); a
//! first line `#! SET` (a TOML comment, so the plant parser skips it) is also parsed as an
//! `--avoid`/`--reach-goal` set over the plant's states. Every error must be a message, never a
//! panic.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match relulab::reach::Plant::parse(text, "<fuzz>") {
        Ok(p) => {
            let first = text.lines().next().unwrap_or("");
            let Some(line) = first.strip_prefix("#!") else {
                return;
            };
            if let Err(e) = relulab::reach::safety::StateSet::parse(line, "--avoid", p.n) {
                assert!(!e.to_string().is_empty());
            }
        }
        Err(e) => assert!(!e.to_string().is_empty()),
    }
});
