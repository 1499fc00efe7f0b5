//! The helper that keeps checks from passing vacuously (tests/common::cannot_run): under
//! `CI=true` a check that cannot run fails with its reason unless waived by name in
//! `RELULAB_ALLOW_SKIP`; elsewhere it returns after a `SKIP` line. The only test in this
//! binary, so changing the environment races with nothing.

mod common;

#[test]
fn cannot_run_fails_under_ci_and_skips_otherwise() {
    std::env::set_var("CI", "true");
    std::env::remove_var("RELULAB_ALLOW_SKIP");
    assert!(common::in_ci());
    let r = std::panic::catch_unwind(|| common::cannot_run("some_check", "no such device"));
    let msg = *r
        .expect_err("under CI a check that cannot run must fail")
        .downcast::<String>()
        .unwrap();
    assert!(
        msg.contains("some_check") && msg.contains("no such device"),
        "{msg}"
    );
    // Waived by name: returns.
    std::env::set_var("RELULAB_ALLOW_SKIP", "other, some_check");
    common::cannot_run("some_check", "no such device");
    // A waiver for another check does not apply.
    std::env::set_var("RELULAB_ALLOW_SKIP", "other");
    assert!(std::panic::catch_unwind(|| common::cannot_run("some_check", "x")).is_err());
    // Outside CI: returns.
    for ci in ["", "0", "false"] {
        std::env::set_var("CI", ci);
        assert!(!common::in_ci());
        common::cannot_run("some_check", "no such device");
    }
    std::env::remove_var("CI");
    common::cannot_run("some_check", "no such device");
}
