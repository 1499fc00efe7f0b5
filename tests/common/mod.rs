//! Helpers shared by the command-line tests (`mod common;` in each test crate that uses them).

use std::process::Output;

/// The JSON lines of a successful run's stdout (panics with its stderr if it failed).
pub fn json_lines(out: &Output) -> Vec<serde_json::Value> {
    assert!(
        out.status.success(),
        "relulab failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect()
}
