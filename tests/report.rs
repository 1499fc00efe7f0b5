//! The tour's HTML report renders in a real browser: headless Chromium takes a screenshot
//! (must not be blank) and dumps the DOM after load (the claims table must be there and the
//! page's own script must report every image decoded). Locally the test skips when Chromium
//! is missing; under CI (CI=true) it fails.

use std::path::{Path, PathBuf};
use std::process::Command;

fn chromium() -> Option<PathBuf> {
    if let Ok(p) = std::env::var("RELULAB_CHROMIUM") {
        return Some(PathBuf::from(p));
    }
    [
        "/usr/bin/chromium",
        "/usr/bin/chromium-browser",
        "/usr/bin/google-chrome",
    ]
    .iter()
    .map(PathBuf::from)
    .find(|p| p.exists())
}

fn browser(bin: &Path, profile: &Path, extra: &[&str], url: &str) -> std::process::Output {
    let mut cmd = Command::new(bin);
    cmd.args([
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
    ])
    .arg(format!("--user-data-dir={}", profile.display()))
    .args(extra)
    .arg(url);
    cmd.output().expect("chromium starts")
}

fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("relulab-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

#[test]
fn tour_report_renders_in_headless_chromium() {
    let Some(bin) = chromium() else {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "Chromium is required under CI (.ci/run installs it with apt-get)"
        );
        eprintln!("note: Chromium not found; skipping the browser check");
        return;
    };
    let dir = tmp("report");
    let out = dir.join("tour");
    let run = Command::new(env!("CARGO_BIN_EXE_relulab"))
        .args(["tour", "--out"])
        .arg(&out)
        .output()
        .unwrap();
    assert!(
        run.status.success(),
        "tour failed: {}",
        String::from_utf8_lossy(&run.stderr)
    );
    let html = std::fs::read_to_string(out.join("index.html")).unwrap();
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("report.json")).unwrap()).unwrap();
    assert_eq!(json["claims"].as_array().unwrap().len(), 11);
    assert!(
        !html.contains("src=\"http"),
        "the report must not load anything remote"
    );
    for p in [
        "gradient_flow",
        "dying",
        "health_over_epochs",
        "sparsity_histogram",
        "digits_health",
    ] {
        assert!(out.join(format!("plots/{p}.svg")).exists());
        assert!(out.join(format!("plots/{p}.png")).exists());
    }
    let images = html.matches("<img ").count();
    assert!(
        images >= 4,
        "expected the plots inlined, found {images} images"
    );
    let url = format!("file://{}", out.join("index.html").display());

    // The DOM after load: the page's script records how many images decoded.
    let dom = browser(
        &bin,
        &dir.join("profile1"),
        &["--virtual-time-budget=10000", "--dump-dom"],
        &url,
    );
    let dom = String::from_utf8_lossy(&dom.stdout);
    assert!(dom.contains("id=\"claims-table\""), "claims table missing");
    assert!(
        dom.contains("id=\"dying-sweep\""),
        "dying sweep table missing"
    );
    let checks: usize = json["claims"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["checks"].as_array().unwrap().len())
        .sum();
    assert_eq!(
        dom.matches("<td class=\"result\">PASS</td>").count(),
        checks
    );
    assert!(
        dom.contains(&format!("data-images-ok=\"{images}/{images}\"")),
        "not every image loaded: {:?}",
        dom.split("data-images-ok=")
            .nth(1)
            .map(|s| &s[..12.min(s.len())])
    );

    // A screenshot that is not blank: many non-white pixels and several colours.
    let shot = dir.join("shot.png");
    let r = browser(
        &bin,
        &dir.join("profile2"),
        &[
            &format!("--screenshot={}", shot.display()),
            "--window-size=1200,2400",
            "--virtual-time-budget=10000",
        ],
        &url,
    );
    assert!(
        shot.exists(),
        "no screenshot: {}",
        String::from_utf8_lossy(&r.stderr)
    );
    let decoder = png::Decoder::new(std::io::BufReader::new(std::fs::File::open(&shot).unwrap()));
    let mut reader = decoder.read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size()];
    let info = reader.next_frame(&mut buf).unwrap();
    let ch = info.color_type.samples();
    let px = &buf[..info.buffer_size()];
    let n = px.len() / ch;
    let non_white = px
        .chunks(ch)
        .filter(|p| p[..3].iter().any(|&v| v < 240))
        .count();
    let mut colours: Vec<[u8; 3]> = px.chunks(ch).map(|p| [p[0], p[1], p[2]]).collect();
    colours.sort_unstable();
    colours.dedup();
    assert!(
        non_white as f64 > 0.02 * n as f64,
        "screenshot nearly blank: {non_white} of {n} pixels drawn"
    );
    assert!(
        colours.len() > 16,
        "screenshot has {} colours",
        colours.len()
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn tour_refuses_an_unusable_output_folder() {
    let dir = tmp("report-bad");
    let file = dir.join("not-a-folder");
    std::fs::write(&file, b"x").unwrap();
    let run = Command::new(env!("CARGO_BIN_EXE_relulab"))
        .args(["tour", "--out"])
        .arg(&file)
        .output()
        .unwrap();
    assert_eq!(run.status.code(), Some(2));
    let err = String::from_utf8_lossy(&run.stderr);
    assert!(err.contains("not-a-folder"), "{err}");
    assert!(!err.contains("panicked"));
    let _ = std::fs::remove_dir_all(&dir);
}
