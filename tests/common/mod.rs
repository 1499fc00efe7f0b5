//! Helpers shared by the integration tests (`mod common;` in each test crate that uses them;
//! each crate uses a subset, hence the `dead_code` allowance).

#![allow(dead_code)]

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

/// Whether the tests run in CI (`CI` set to anything but "", "0" or "false").
pub fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| !matches!(v.trim(), "" | "0" | "false"))
}

/// A check named `check` could not run, for `reason`. Under CI this is a failure carrying the
/// reason (a check that cannot run must not pass), unless the check's name is listed in the
/// comma-separated `RELULAB_ALLOW_SKIP` (an explicit, visible waiver in the CI configuration).
/// Outside CI it prints a `SKIP` line (shown with `--nocapture`, and in the test's output when
/// it fails for another reason) and returns.
pub fn cannot_run(check: &str, reason: &str) {
    let waived =
        std::env::var("RELULAB_ALLOW_SKIP").is_ok_and(|v| v.split(',').any(|w| w.trim() == check));
    if in_ci() && !waived {
        panic!(
            "{check}: could not run under CI: {reason} \
             (list it in RELULAB_ALLOW_SKIP to waive it explicitly)"
        );
    }
    eprintln!("SKIP {check}: {reason}");
    println!("SKIP {check}: {reason}");
}

/// The shared folder (where `verify::campaign::shared_benchmarks_root` finds it), or `None`
/// after [`cannot_run`] for `check` (a failure under CI).
pub fn shared_or_skip(check: &str) -> Option<std::path::PathBuf> {
    let root = relulab::verify::campaign::shared_benchmarks_root();
    if root.is_none() {
        cannot_run(
            check,
            "the shared benchmarks folder (shared/benchmarks/vnncomp2021) is absent",
        );
    }
    root
}

/// Each SIMD level relulab is compiled for that this CPU lacks is reported through
/// [`cannot_run`] under the name `{check}@{level}` (so CI fails unless the level is waived,
/// e.g. `RELULAB_ALLOW_SKIP=fma_levels@avx512` on a runner without AVX-512).
pub fn report_missing_levels(check: &str) {
    for isa in relulab::simd::Level::unsupported() {
        cannot_run(
            &format!("{check}@{isa}"),
            &format!("this CPU does not support {isa}"),
        );
    }
}
