//! The tour's report, end to end: the HTML validates (html5ever's parser through `scraper`,
//! plus ids and links), every number of the summary equals its value in report.json, and
//! headless Chromium (driven through the DevTools protocol, tests/browser/) renders it at 1400
//! and 800 px wide without console errors, overlapping or clipped elements, with every image
//! decoded and the summary in the first screen. Screenshots are kept under
//! `$CARGO_TARGET_TMPDIR/tour-report/` for a human to look at.
//!
//! Locally the browser test skips (with a note) when Chromium is missing; under CI (CI=true)
//! it fails with the reason.

mod browser;

use scraper::{ElementRef, Html, Selector};
use serde_json::Value;
use std::path::PathBuf;
use std::process::Command;
use std::sync::OnceLock;

fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("relulab-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn relulab(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_relulab"))
        .args(args)
        .output()
        .unwrap()
}

/// The full tour, run once for every test of this file: (folder, html, json).
fn tour() -> &'static (PathBuf, String, Value) {
    static TOUR: OnceLock<(PathBuf, String, Value)> = OnceLock::new();
    TOUR.get_or_init(|| {
        let out = tmp("report").join("tour");
        let run = relulab(&["tour", "--out", out.to_str().unwrap()]);
        assert!(
            run.status.success(),
            "tour failed: {}",
            String::from_utf8_lossy(&run.stderr)
        );
        let html = std::fs::read_to_string(out.join("index.html")).unwrap();
        let json = serde_json::from_str(&std::fs::read_to_string(out.join("report.json")).unwrap())
            .unwrap();
        (out, html, json)
    })
}

fn sel(s: &str) -> Selector {
    Selector::parse(s).unwrap()
}

const SECTION_IDS: [&str; 11] = [
    "activations",
    "claims",
    "gradient-flow",
    "sparsity-dying",
    "digits",
    "dying-sweep",
    "training",
    "regions",
    "control",
    "economics",
    "ai-safety",
];

#[test]
fn report_is_self_contained_with_every_section_and_plot() {
    let (out, html, json) = tour();
    assert_eq!(json["claims"]["outcomes"].as_array().unwrap().len(), 11);
    assert_eq!(json["run"]["sections"], serde_json::json!(SECTION_IDS));
    let doc = Html::parse_document(html);
    // Nothing is loaded from elsewhere: no external scripts, stylesheets, images or frames.
    for (s, attr) in [
        ("script[src]", "src"),
        ("link", "href"),
        ("iframe", "src"),
        ("object", "data"),
    ] {
        assert_eq!(doc.select(&sel(s)).count(), 0, "{s} {attr}");
    }
    let imgs: Vec<_> = doc.select(&sel("img")).collect();
    assert!(imgs.len() >= 10, "{} images", imgs.len());
    for img in &imgs {
        let src = img.attr("src").unwrap();
        assert!(src.starts_with("data:image/svg+xml;base64,"), "{src:.40}");
        assert!(!img.attr("alt").unwrap_or("").is_empty());
    }
    // Each section opens with its heading, its lead sentence and its key picture (a figure,
    // or the claims' grid).
    for id in SECTION_IDS {
        let s = doc
            .select(&sel(&format!("section#{id}")))
            .next()
            .unwrap_or_else(|| panic!("section {id} missing"));
        let kids: Vec<ElementRef> = s.child_elements().collect();
        assert_eq!(kids[0].value().name(), "h2", "{id}");
        assert_eq!(kids[1].value().attr("class"), Some("lead"), "{id}");
        let key = kids[2].value();
        assert!(
            key.name() == "figure" || key.attr("class") == Some("grid"),
            "{id} opens with <{}>",
            key.name()
        );
    }
    for p in [
        "activations",
        "gradient_flow",
        "dying",
        "dying_sweep",
        "health_over_epochs",
        "sparsity_histogram",
        "digits_health",
        "regions_during_training",
        "control_double_integrator",
        "certified_accuracy",
    ] {
        assert!(out.join(format!("plots/{p}.svg")).exists(), "{p}.svg");
        assert!(out.join(format!("plots/{p}.png")).exists(), "{p}.png");
    }
    // Every claim check is in a folded table with its verdict.
    let checks: usize = json["claims"]["outcomes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["checks"].as_array().unwrap().len())
        .sum();
    assert_eq!(
        doc.select(&sel("section#claims details td.result")).count(),
        checks
    );
}

#[test]
fn report_html_validates() {
    // The parser reports errors: a broken page is caught.
    let broken = Html::parse_document("<!DOCTYPE html><html><body><p>a</b></table></body>");
    assert!(
        !broken.errors.is_empty(),
        "the validator finds nothing wrong"
    );
    let (_, html, _) = tour();
    let doc = Html::parse_document(html);
    assert!(doc.errors.is_empty(), "HTML parse errors: {:?}", doc.errors);
    assert!(html.starts_with("<!DOCTYPE html>"));
    // Ids unique; every in-page link has a target.
    let mut ids: Vec<&str> = doc
        .select(&sel("[id]"))
        .map(|e| e.attr("id").unwrap())
        .collect();
    let n = ids.len();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), n, "duplicate ids");
    let links: Vec<&str> = doc
        .select(&sel("a[href]"))
        .map(|a| a.attr("href").unwrap())
        .collect();
    assert!(links.len() > 20);
    for href in links {
        let target = href.strip_prefix('#').unwrap_or_else(|| panic!("{href}"));
        assert!(ids.binary_search(&target).is_ok(), "no #{target}");
    }
    // No interactive element inside another (a card's links are siblings, not nested).
    assert_eq!(doc.select(&sel("a a, summary a")).count(), 0);
    assert_eq!(doc.select(&sel("html[lang] head meta[charset]")).count(), 1);
    assert_eq!(doc.select(&sel("head title")).count(), 1);
}

/// (value, unit of its last digit) of a number as shown: "97.22%" → (0.9722, 1e-4),
/// "0.3989" → (0.3989, 1e-4), "1.23e-5" → (1.23e-5, 1e-7), "11" → (11, 1).
fn shown(text: &str) -> Option<(f64, f64)> {
    let t = text.trim();
    let (t, scale) = match t.strip_suffix('%') {
        Some(p) => (p, 0.01),
        None => (t, 1.0),
    };
    let (mantissa, exp) = match t.split_once(['e', 'E']) {
        Some((m, e)) => (m, e.parse::<i32>().ok()?),
        None => (t, 0),
    };
    let decimals = mantissa.split_once('.').map_or(0, |(_, d)| d.len()) as i32;
    let v: f64 = t.parse().ok()?;
    Some((v * scale, 10f64.powi(exp - decimals) * scale))
}

#[test]
fn summary_numbers_equal_report_json() {
    // The reader of shown numbers itself, on hand-made cases.
    assert_eq!(shown("11"), Some((11.0, 1.0)));
    let (v, u) = shown("97.22%").unwrap();
    assert!((v - 0.9722).abs() < 1e-12 && (u - 1e-4).abs() < 1e-18);
    let (v, u) = shown("1.235e-13").unwrap();
    assert!((v - 1.235e-13).abs() < 1e-25 && (u - 1e-16).abs() < 1e-28);

    let (_, html, json) = tour();
    let doc = Html::parse_document(html);
    let summary = doc.select(&sel("#summary")).next().expect("a summary");
    // Every digit of the summary's text belongs to an element that names its JSON value.
    fn walk(e: ElementRef, inside: bool, bad: &mut Vec<String>) {
        let inside = inside || e.value().attr("data-json").is_some();
        for child in e.children() {
            if let Some(el) = ElementRef::wrap(child) {
                walk(el, inside, bad);
            } else if let Some(t) = child.value().as_text() {
                if !inside && t.chars().any(|c| c.is_ascii_digit()) {
                    bad.push(t.to_string());
                }
            }
        }
    }
    let mut orphans = Vec::new();
    walk(summary, false, &mut orphans);
    assert!(orphans.is_empty(), "numbers without a source: {orphans:?}");
    let tagged: Vec<ElementRef> = summary.select(&sel("[data-json]")).collect();
    assert!(tagged.len() >= 20, "{} tagged values", tagged.len());
    let mut numbers = 0;
    for e in tagged {
        let pointer = e.attr("data-json").unwrap();
        let text: String = e.text().collect();
        let value = json
            .pointer(pointer)
            .unwrap_or_else(|| panic!("{pointer} not in report.json"));
        match value {
            Value::String(s) => assert_eq!(&text, s, "{pointer}"),
            Value::Number(n) => {
                let n = n.as_f64().unwrap();
                let (v, unit) = shown(&text).unwrap_or_else(|| panic!("{pointer}: {text:?}"));
                // Correctly rounded to the digits shown.
                assert!(
                    (v - n).abs() <= 0.5 * unit * (1.0 + 1e-9) + 1e-15 * n.abs(),
                    "{pointer}: shown {text}, report.json {n}"
                );
                numbers += 1;
            }
            other => panic!("{pointer}: {other}"),
        }
        // A grid cell's colour is its claim's verdict.
        if let Some(class) = e.attr("class").filter(|c| *c == "pass" || *c == "fail") {
            let parent = pointer.rsplit_once('/').unwrap().0;
            let pass = json.pointer(&format!("{parent}/pass")).unwrap();
            assert_eq!(pass.as_bool(), Some(class == "pass"), "{pointer}");
        }
    }
    assert!(numbers >= 15, "{numbers} numbers checked");
}

/// Layout checks run in the page: the page does not scroll sideways; no visible element leaves
/// the viewport horizontally (unless inside a horizontal scroller: a wide table or <pre> that
/// scrolls is not clipped); no element clips its own content; no two visible siblings overlap;
/// opening each section from the index leaves its heading visible below or beside the index.
/// Returns {problems: [...], summary: {top, bottom}, vh, vw, scrolling: [...]}.
const LAYOUT_JS: &str = r##"(() => {
  const vw = document.documentElement.clientWidth, vh = window.innerHeight;
  const out = {vw, vh, problems: [], scrolling: []};
  const bad = m => { if (out.problems.length < 40) out.problems.push(m); };
  const name = e => e.tagName.toLowerCase() + (e.id ? '#' + e.id : '') +
    (e.getAttribute('class') ? '.' + e.getAttribute('class').split(' ').join('.') : '');
  const visible = e => { const r = e.getBoundingClientRect(); const cs = getComputedStyle(e);
    return r.width > 0 && r.height > 0 && cs.visibility !== 'hidden' && cs.display !== 'none'; };
  const scroller = e => { for (let p = e.parentElement; p; p = p.parentElement) {
    const o = getComputedStyle(p).overflowX; if (o === 'auto' || o === 'scroll') return p; }
    return null; };
  const overlap = (a, b) => Math.min(a.right, b.right) - Math.max(a.left, b.left) > 1 &&
    Math.min(a.bottom, b.bottom) - Math.max(a.top, b.top) > 1;
  window.scrollTo(0, 0);
  if (document.documentElement.scrollWidth > vw + 1)
    bad('page scrolls sideways: ' + document.documentElement.scrollWidth + ' > ' + vw);
  const all = [...document.querySelectorAll('body *')].filter(visible);
  for (const e of all) {
    const r = e.getBoundingClientRect();
    if (!scroller(e) && (r.left < -0.5 || r.right > vw + 0.5))
      bad('outside the viewport: ' + name(e) + ' [' + Math.round(r.left) + ', ' + Math.round(r.right) + ']');
    const cs = getComputedStyle(e);
    if ((cs.overflowX === 'hidden' || cs.overflowX === 'clip') && e.scrollWidth > e.clientWidth + 1)
      bad('clips its content: ' + name(e));
    if ((cs.overflowX === 'auto' || cs.overflowX === 'scroll') && e.scrollWidth > e.clientWidth + 1)
      out.scrolling.push(name(e));
  }
  for (const p of [document.body, ...all]) {
    // Inline boxes flow as text does (a wrapped span's rectangle spans both lines): only
    // boxes laid out as blocks, cells, grid or flex items are compared.
    const kids = [...p.children].filter(visible).filter(k => {
      const cs = getComputedStyle(k); return cs.position !== 'absolute' && cs.display !== 'inline'; });
    for (let i = 0; i < kids.length; i++) for (let j = i + 1; j < kids.length; j++)
      if (overlap(kids[i].getBoundingClientRect(), kids[j].getBoundingClientRect()))
        bad('overlap: ' + name(kids[i]) + ' / ' + name(kids[j]));
  }
  const s = document.getElementById('summary');
  out.summary = s ? {top: s.getBoundingClientRect().top, bottom: s.getBoundingClientRect().bottom} : null;
  const nav = document.getElementById('toc');
  if (nav) for (const a of nav.querySelectorAll('a[href^="#"]')) {
    const t = document.getElementById(a.getAttribute('href').slice(1));
    if (!t) { bad('index link without target: ' + a.getAttribute('href')); continue; }
    t.scrollIntoView({behavior: 'instant', block: 'start'});
    const h = t.querySelector('h1, h2');
    if (!h) continue;
    const hr = h.getBoundingClientRect();
    if (overlap(hr, nav.getBoundingClientRect()) || hr.top < -0.5 || hr.bottom > vh)
      bad('opened from the index, the heading of ' + name(t) + ' is hidden');
  }
  window.scrollTo(0, 0);
  return out;
})()"##;

#[test]
fn report_renders_in_headless_chromium_at_two_widths() {
    let Some(bin) = browser::chromium() else {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "Chromium is required under CI (.ci/run installs it with apt-get): none at \
             /usr/bin/chromium, /usr/bin/chromium-browser, /usr/bin/google-chrome or \
             $RELULAB_CHROMIUM"
        );
        eprintln!("note: Chromium not found; skipping the browser check");
        return;
    };
    let (out, html, _) = tour();
    let shots = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("tour-report");
    std::fs::create_dir_all(&shots).unwrap();
    let profile = tmp("chromium-profile");
    let mut b = browser::Browser::launch(&bin, &profile).unwrap();

    // The checks can fail: a console error and an element wider than the page are seen.
    b.load(
        "data:text/html,<!DOCTYPE html><title>t</title><body>\
         <div id=summary style='width:3000px'>x</div><script>console.error('boom')</script>",
        800,
        600,
    )
    .unwrap();
    assert!(
        !b.console_errors().is_empty(),
        "console errors are not seen"
    );
    let probe = b.eval(LAYOUT_JS).unwrap();
    assert!(
        probe["problems"].as_array().unwrap().len() >= 2,
        "layout problems are not seen: {probe}"
    );
    b.events.clear();

    let url = format!("file://{}", out.join("index.html").display());
    let images = html.matches("<img ").count();
    for (width, height) in [(1400u32, 900u32), (800, 900)] {
        b.load(&url, width, height).unwrap();
        let ok = b
            .eval(
                "new Promise(r => { const f = () => { const v = document.body.dataset.imagesOk; \
                 if (v && v !== 'pending') r(v); else setTimeout(f, 50); }; f(); })",
            )
            .unwrap();
        assert_eq!(
            ok,
            format!("{images}/{images}"),
            "{width} px: images decoded"
        );
        let layout = b.eval(LAYOUT_JS).unwrap();
        let problems = layout["problems"].as_array().unwrap();
        assert!(problems.is_empty(), "{width} px: {problems:#?}");
        let (top, bottom) = (
            layout["summary"]["top"].as_f64().unwrap(),
            layout["summary"]["bottom"].as_f64().unwrap(),
        );
        assert!(
            top >= 0.0 && bottom <= height as f64,
            "{width} px: the summary spans {top}..{bottom}, the first screen 0..{height}"
        );
        // The index marks the section in view.
        let here = b
            .eval(
                "new Promise(r => { document.getElementById('digits').scrollIntoView(); \
                 setTimeout(() => { const a = document.querySelector('#toc a.here'); \
                 window.scrollTo(0, 0); r(a ? a.getAttribute('href') : null); }, 300); })",
            )
            .unwrap();
        assert_eq!(here, "#digits", "{width} px: index entry in view");
        let errors = b.console_errors();
        assert!(errors.is_empty(), "{width} px: {errors:#?}");
        for (full, name) in [(false, "screen"), (true, "page")] {
            let png = b.screenshot(full).unwrap();
            let path = shots.join(format!("{name}-{width}.png"));
            std::fs::write(&path, &png).unwrap();
            eprintln!("screenshot: {}", path.display());
        }
        // The first screen is a drawn page, not blank: many non-white pixels, many colours.
        let png = std::fs::read(shots.join(format!("screen-{width}.png"))).unwrap();
        let mut reader = png::Decoder::new(std::io::Cursor::new(png))
            .read_info()
            .unwrap();
        let mut buf = vec![0; reader.output_buffer_size()];
        let info = reader.next_frame(&mut buf).unwrap();
        assert_eq!((info.width, info.height), (width, height));
        let ch = info.color_type.samples();
        let px = &buf[..info.buffer_size()];
        let n = px.len() / ch;
        let inked = px
            .chunks(ch)
            .filter(|p| p[..3].iter().any(|&v| v < 200))
            .count();
        let mut colours: Vec<[u8; 3]> = px.chunks(ch).map(|p| [p[0], p[1], p[2]]).collect();
        colours.sort_unstable();
        colours.dedup();
        assert!(inked > n / 50, "{width} px: nearly blank ({inked} of {n})");
        assert!(colours.len() > 16, "{width} px: {} colours", colours.len());
    }
    // Printed: the print stylesheet hides the index, lets the text use the page's width, and
    // the page still lays out without overlaps at A4 width (210 mm ≈ 794 CSS px); the PDF is
    // kept beside the screenshots.
    b.load(&url, 794, 1123).unwrap();
    b.call(
        "Emulation.setEmulatedMedia",
        serde_json::json!({"media": "print"}),
    )
    .unwrap();
    let toc = b
        .eval("getComputedStyle(document.getElementById('toc')).display")
        .unwrap();
    assert_eq!(toc, "none", "the index is printed");
    let folded = b
        .eval("document.getElementById('claim-1-checks').getBoundingClientRect().height")
        .unwrap();
    assert!(
        folded.as_f64().unwrap() > 0.0,
        "folded checks are not printed"
    );
    let layout = b.eval(LAYOUT_JS).unwrap();
    let problems: Vec<&Value> = layout["problems"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| {
            !p.as_str()
                .unwrap_or("")
                .starts_with("opened from the index")
        })
        .collect();
    assert!(problems.is_empty(), "print: {problems:#?}");
    let png = b.screenshot(true).unwrap();
    let path = shots.join("print-794.png");
    std::fs::write(&path, &png).unwrap();
    eprintln!("screenshot (print media): {}", path.display());
    let pdf = b
        .call(
            "Page.printToPDF",
            serde_json::json!({"paperWidth": 8.27, "paperHeight": 11.69, "printBackground": true}),
        )
        .unwrap();
    let pdf = browser::decode_base64(pdf["data"].as_str().unwrap()).unwrap();
    assert!(pdf.starts_with(b"%PDF"));
    let path = shots.join("report.pdf");
    std::fs::write(&path, &pdf).unwrap();
    eprintln!("printed: {} ({} bytes)", path.display(), pdf.len());
    let errors = b.console_errors();
    assert!(errors.is_empty(), "print: {errors:#?}");
    drop(b);
    let _ = std::fs::remove_dir_all(&profile);
}

#[test]
fn sections_and_quick_run_only_what_was_asked() {
    let dir = tmp("report-sections");
    let out = dir.join("t");
    let run = relulab(&[
        "tour",
        "--quick",
        "--sections",
        "regions,activations",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let json: Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("report.json")).unwrap()).unwrap();
    assert_eq!(
        json["run"]["sections"],
        serde_json::json!(["activations", "regions"])
    );
    assert_eq!(json["run"]["mode"], "quick");
    assert!(json.get("claims").is_none() && json.get("digits").is_none());
    // The quick regions run trains for 10 epochs: snapshots at 0, 2, …, 10.
    assert_eq!(
        json["regions"]["during_training"].as_array().unwrap().len(),
        6
    );
    let html = std::fs::read_to_string(out.join("index.html")).unwrap();
    let doc = Html::parse_document(&html);
    let ids: Vec<&str> = doc
        .select(&sel("section"))
        .map(|s| s.attr("id").unwrap())
        .collect();
    assert_eq!(ids, ["activations", "regions"]);
    assert_eq!(doc.select(&sel("#toc li")).count(), 3); // summary + the two
    let _ = std::fs::remove_dir_all(&dir);
}

fn one_error_line(out: &std::process::Output, needle: &str) {
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains(needle), "{err}");
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
    assert!(!err.contains("panicked"));
}

#[test]
fn tour_help_names_every_section() {
    let help = relulab(&["tour", "--help"]);
    assert!(help.status.success());
    let help = String::from_utf8_lossy(&help.stdout);
    for id in SECTION_IDS {
        assert!(help.contains(id), "tour --help does not name {id}");
    }
    assert!(help.contains("--quick") && help.contains("--sections"));
}

#[test]
fn unknown_section_is_one_error_line_and_exit_2() {
    let dir = tmp("report-unknown");
    let out = dir.join("never");
    let run = relulab(&[
        "tour",
        "--sections",
        "claims,regoins",
        "--out",
        out.to_str().unwrap(),
    ]);
    one_error_line(&run, "\"regoins\"");
    assert!(String::from_utf8_lossy(&run.stderr).contains("gradient-flow"));
    assert!(!out.exists(), "nothing is written for a bad command line");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn tour_refuses_an_unusable_output_folder() {
    let dir = tmp("report-bad");
    let file = dir.join("not-a-folder");
    std::fs::write(&file, b"x").unwrap();
    let run = relulab(&[
        "tour",
        "--quick",
        "--sections",
        "activations",
        "--out",
        file.to_str().unwrap(),
    ]);
    one_error_line(&run, "not-a-folder");
    let _ = std::fs::remove_dir_all(&dir);
}
