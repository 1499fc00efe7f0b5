//! The self-contained HTML report: a summary first (what was run, every section's headline
//! numbers, pass/fail grids), a navigation that stays in view, then titled sections that each
//! open with their key picture and one sentence of what it shows; long tables and per-check
//! details folded in `<details>`. Written as one `index.html` (every figure inlined as an SVG
//! data URI, the stylesheet and a small script inline, no external resource, so it opens
//! offline in any browser and prints to PDF through its print stylesheet) with the
//! machine-readable JSON beside it.
//!
//! Every number in the summary is an element with a `data-json` attribute: the JSON pointer of
//! the value it shows in report.json, so a reader (and tests/report.rs) can check one against
//! the other.
//!
//! The page carries a small script that, once loaded, counts the images that decoded
//! (`complete && naturalWidth > 0`) and records it on `<body data-images-ok="k/n">`, marks the
//! index entry of the section in view, and unfolds every `<details>` while printing.

pub mod tour;

use crate::error::{Error, Result};
use crate::plot::{hex, write_atomic, Figure};
use serde::Serialize;
use std::path::{Path, PathBuf};

/// `v` with `sig` significant digits (at least 1): fixed notation for 1e-3 ≤ |v| < 1e6
/// ("0.3989", "97.22", "1234"), scientific otherwise ("1.234e-13"); "0" for zero, "NaN", "inf",
/// "-inf" for the non-finite. Rounding is the one of Rust's `{:e}` formatting (to nearest).
pub fn fmt_sig(v: f64, sig: usize) -> String {
    let sig = sig.max(1);
    if v == 0.0 {
        return "0".into();
    }
    if !v.is_finite() {
        return format!("{v}");
    }
    // The exponent after rounding to `sig` digits (9.9996 → 1.000e1).
    let sci = format!("{:.*e}", sig - 1, v);
    let exp: i32 = sci
        .rsplit_once('e')
        .and_then(|(_, e)| e.parse().ok())
        .unwrap_or(0);
    if (-3..6).contains(&exp) {
        format!("{:.*}", (sig as i32 - 1 - exp).max(0) as usize, v)
    } else {
        sci
    }
}

/// A fraction as a percentage with `decimals` decimals: 0.97222 → "97.22%".
pub fn fmt_pct(v: f64, decimals: usize) -> String {
    format!("{:.*}%", decimals, 100.0 * v)
}

/// Does a table cell hold one number (possibly with a trailing "%" or " s")? Such cells are
/// right-aligned in a monospace face.
fn is_number(cell: &str) -> bool {
    let t = cell.trim();
    let t = t
        .strip_suffix('%')
        .or_else(|| t.strip_suffix(" s"))
        .unwrap_or(t)
        .trim();
    !t.is_empty()
        && t.starts_with(|c: char| c.is_ascii_digit() || c == '-' || c == '+' || c == '.')
        && t.parse::<f64>().is_ok()
}

/// A table: header and rows of cells (already formatted text); a row may carry a CSS class
/// (`"pass"`, `"fail"`). Cells that hold one number are right-aligned in a monospace face
/// (and so is the heading of a column of numbers).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Table {
    /// `id` attribute of the table (for tests and links), may be empty.
    pub id: String,
    /// Caption shown above the table.
    pub caption: String,
    /// Column headings.
    pub header: Vec<String>,
    /// Rows of cells.
    pub rows: Vec<Vec<String>>,
    /// Optional CSS class per row (same length as `rows`, or empty).
    pub row_class: Vec<Option<String>>,
}

/// One headline number of a section, shown in the report's summary. `json` is the JSON
/// pointer (RFC 6901) of the value in report.json; `text` is how the summary shows it.
#[derive(Clone, Debug, PartialEq)]
pub struct Headline {
    /// What the number is (no digits: every digit in the summary belongs to a number).
    pub label: String,
    /// The number as shown ("0.3989", "97.22%", "11").
    pub text: String,
    /// JSON pointer of the value in report.json.
    pub json: String,
}

impl Headline {
    /// `v` with `sig` significant digits.
    pub fn number(label: impl Into<String>, v: f64, sig: usize, json: impl Into<String>) -> Self {
        Headline {
            label: label.into(),
            text: fmt_sig(v, sig),
            json: json.into(),
        }
    }
    /// A fraction shown as a percentage with `decimals` decimals.
    pub fn percent(
        label: impl Into<String>,
        v: f64,
        decimals: usize,
        json: impl Into<String>,
    ) -> Self {
        Headline {
            label: label.into(),
            text: fmt_pct(v, decimals),
            json: json.into(),
        }
    }
    /// A count.
    pub fn count(label: impl Into<String>, n: usize, json: impl Into<String>) -> Self {
        Headline {
            label: label.into(),
            text: n.to_string(),
            json: json.into(),
        }
    }
}

/// One cell of a pass/fail grid (a claim, later a property or a certificate), linking to where
/// it is detailed.
#[derive(Clone, Debug, PartialEq)]
pub struct GridCell {
    /// Short label (the claim number).
    pub label: String,
    /// Tooltip (the claim's title).
    pub title: String,
    /// Passed?
    pub pass: bool,
    /// Link target, an `#id` of the page.
    pub href: String,
    /// JSON pointer of the labelled value (its `pass` sibling is the verdict).
    pub json: String,
}

/// One block of a section, in order.
#[derive(Clone, Debug, PartialEq)]
pub enum Block {
    /// A paragraph of plain text (escaped).
    Text(String),
    /// Preformatted text (escaped).
    Pre(String),
    /// A table.
    Table(Table),
    /// A figure (rendered SVG) with a caption.
    Figure {
        /// The SVG document.
        svg: String,
        /// Caption (also the image's alt text).
        caption: String,
    },
    /// A pass/fail grid.
    Grid(Vec<GridCell>),
    /// Blocks folded under a one-line summary (`<details>`).
    Details {
        /// `id` attribute (anchor), may be empty.
        id: String,
        /// The line shown while folded.
        summary: String,
        /// CSS class of the summary line (`"pass"`, `"fail"`), may be empty.
        class: String,
        /// The folded content.
        blocks: Vec<Block>,
    },
}

/// A titled section of the report: a lead sentence and key picture first, then its blocks.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct Section {
    /// Heading.
    pub heading: String,
    /// Short name for the navigation.
    pub nav: String,
    /// `id` attribute (anchor).
    pub id: String,
    /// One sentence: what the key picture shows.
    pub lead: String,
    /// The key picture (or grid) shown first.
    pub key: Option<Block>,
    /// Content.
    pub blocks: Vec<Block>,
    /// Headline numbers for the summary.
    pub headlines: Vec<Headline>,
    /// Pass/fail cells for the summary.
    pub grid: Vec<GridCell>,
}

impl Section {
    /// An empty section (the navigation shows the heading).
    pub fn new(id: impl Into<String>, heading: impl Into<String>) -> Self {
        let heading = heading.into();
        Section {
            nav: heading.clone(),
            heading,
            id: id.into(),
            ..Default::default()
        }
    }
    /// Set the short name shown in the navigation.
    pub fn nav(&mut self, t: impl Into<String>) -> &mut Self {
        self.nav = t.into();
        self
    }
    /// Set the lead sentence.
    pub fn lead(&mut self, t: impl Into<String>) -> &mut Self {
        self.lead = t.into();
        self
    }
    /// Render `fig` to SVG and make it the key picture.
    pub fn key_figure(&mut self, fig: &Figure, caption: impl Into<String>) -> Result<&mut Self> {
        self.key = Some(Block::Figure {
            svg: fig.to_svg()?,
            caption: caption.into(),
        });
        Ok(self)
    }
    /// Make an already rendered SVG document the key picture.
    pub fn key_svg(&mut self, svg: String, caption: impl Into<String>) -> &mut Self {
        self.key = Some(Block::Figure {
            svg,
            caption: caption.into(),
        });
        self
    }
    /// Add a headline number for the summary.
    pub fn headline(&mut self, h: Headline) -> &mut Self {
        self.headlines.push(h);
        self
    }
    /// Append a paragraph.
    pub fn text(&mut self, t: impl Into<String>) -> &mut Self {
        self.blocks.push(Block::Text(t.into()));
        self
    }
    /// Append preformatted text.
    pub fn pre(&mut self, t: impl Into<String>) -> &mut Self {
        self.blocks.push(Block::Pre(t.into()));
        self
    }
    /// Append a table.
    pub fn table(&mut self, t: Table) -> &mut Self {
        self.blocks.push(Block::Table(t));
        self
    }
    /// Append blocks folded under `summary`.
    pub fn details(&mut self, summary: impl Into<String>, blocks: Vec<Block>) -> &mut Self {
        self.blocks.push(Block::Details {
            id: String::new(),
            summary: summary.into(),
            class: String::new(),
            blocks,
        });
        self
    }
    /// Append an already rendered SVG document as a figure.
    pub fn svg(&mut self, svg: String, caption: impl Into<String>) -> &mut Self {
        self.blocks.push(Block::Figure {
            svg,
            caption: caption.into(),
        });
        self
    }
    /// Render `fig` to SVG and append it.
    pub fn figure(&mut self, fig: &Figure, caption: impl Into<String>) -> Result<&mut Self> {
        let svg = fig.to_svg()?;
        self.blocks.push(Block::Figure {
            svg,
            caption: caption.into(),
        });
        Ok(self)
    }
}

/// What was run: shown at the top of the summary and written as report.json's `run`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct RunInfo {
    /// relulab's version.
    pub version: String,
    /// Seed of every random stream.
    pub seed: u64,
    /// "full" or "quick".
    pub mode: String,
    /// CPU model, threads, OS and architecture.
    pub machine: String,
    /// Start time, "YYYY-MM-DD HH:MM UTC".
    pub started_utc: String,
    /// Wall time of the whole run in seconds.
    pub seconds: f64,
    /// The sections run, in order (their ids).
    pub sections: Vec<String>,
    /// Wall time of each section in seconds, in the order of `sections`.
    pub section_seconds: Vec<f64>,
}

/// The machine in one line: CPU model (from /proc/cpuinfo where there is one), threads
/// available, OS and architecture.
pub fn machine_description() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|t| {
            t.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, v)| v.split_whitespace().collect::<Vec<_>>().join(" "))
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    format!(
        "{cpu}, {threads} thread{}, {}/{}",
        if threads == 1 { "" } else { "s" },
        std::env::consts::OS,
        std::env::consts::ARCH
    )
}

/// A time as "YYYY-MM-DD HH:MM UTC" (proleptic Gregorian calendar; days to civil date after
/// Howard Hinnant's `civil_from_days`).
pub fn utc_string(t: std::time::SystemTime) -> String {
    let secs = t
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs()) as i64;
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02} UTC",
        rem / 3600,
        (rem % 3600) / 60
    )
}

/// A report: a title, what was run, and sections.
#[derive(Clone, Debug, PartialEq)]
pub struct Report {
    /// Page title.
    pub title: String,
    /// What was run (the summary's first line).
    pub run: RunInfo,
    /// The sections, in order.
    pub sections: Vec<Section>,
}

/// HTML-escape text.
pub fn escape(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&#39;"),
            c => o.push(c),
        }
    }
    o
}

/// Standard base64 (RFC 4648, with padding).
pub fn base64(bytes: &[u8]) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut o = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for ch in bytes.chunks(3) {
        let b = [ch[0], *ch.get(1).unwrap_or(&0), *ch.get(2).unwrap_or(&0)];
        let n = ((b[0] as u32) << 16) | ((b[1] as u32) << 8) | b[2] as u32;
        o.push(A[(n >> 18) as usize & 63] as char);
        o.push(A[(n >> 12) as usize & 63] as char);
        o.push(if ch.len() > 1 {
            A[(n >> 6) as usize & 63] as char
        } else {
            '='
        });
        o.push(if ch.len() > 2 {
            A[n as usize & 63] as char
        } else {
            '='
        });
    }
    o
}

/// The stylesheet: colours from the plot module's constants, so page and figures share one
/// style. A side index on wide screens, a top bar (wrapping, sticky) below 1000 px, and a
/// print style without the index, with folded details printed open (`::details-content`, in a
/// rule of its own so that a browser without it drops only that rule; the script also opens
/// them on `beforeprint`) and page breaks kept out of figures and tables.
fn style() -> String {
    use crate::plot::{FAIL_COLOUR, GRID, INK, PALETTE, PASS_COLOUR};
    let vars = format!(
        ":root{{--ink:{};--pass:{};--fail:{};--accent:{};--grid:{};--line:#d5d8dd;\
         --muted:#5a5f66;--soft:#f4f6f8;--mono:\"DejaVu Sans Mono\",ui-monospace,Menlo,Consolas,monospace}}",
        hex(INK),
        hex(PASS_COLOUR),
        hex(FAIL_COLOUR),
        hex(PALETTE[0]),
        hex(GRID)
    );
    vars + STYLE
}

const STYLE: &str = "*{box-sizing:border-box}\
body{margin:0;font:15px/1.5 \"DejaVu Sans\",system-ui,sans-serif;color:var(--ink);\
display:grid;grid-template-columns:200px minmax(0,1fr)}\
a{color:var(--accent)}\
#toc{position:sticky;top:0;align-self:start;height:100vh;overflow-y:auto;padding:1em .7em;\
background:var(--soft);border-right:1px solid var(--line);font-size:14px}\
#toc .brand{display:block;font-weight:bold;color:var(--ink);text-decoration:none;margin:0 .4em .6em}\
#toc ol{list-style:none;margin:0;padding:0}\
#toc li a{display:block;padding:.2em .4em;border-radius:4px;color:var(--ink);text-decoration:none}\
#toc li a:hover{background:#e3e9f1}#toc li a.here{background:#dce5f0;font-weight:bold}\
main{min-width:0;max-width:1010px;padding:0 1.6em 3em}\
h1{font-size:1.55em;margin:.5em 0 .1em}h2{font-size:1.3em;margin:.3em 0 .2em}\
h3{font-size:1em;margin:0 0 .3em}\
header,section{scroll-margin-top:.6em}\
section{border-top:2px solid var(--line);margin-top:2.2em;padding-top:.4em}\
.run{color:var(--muted);margin:0 0 .8em}\
.lead{font-size:1.05em;margin:.1em 0 .5em}\
.cards{display:grid;grid-template-columns:repeat(auto-fill,minmax(235px,1fr));gap:.6em}\
.card{border:1px solid var(--line);border-radius:6px;padding:.45em .7em;background:var(--soft)}\
.card h3 a{color:var(--ink);text-decoration:none}.card h3 a:hover{text-decoration:underline}\
.card dl{margin:0;display:grid;grid-template-columns:minmax(0,1fr) auto;gap:.05em .6em;font-size:.88em}\
.card dt{color:var(--muted)}.card dd{margin:0;text-align:right;font-family:var(--mono);white-space:nowrap}\
.grid{display:flex;flex-wrap:wrap;gap:4px;margin:.35em 0}\
.grid a{display:inline-block;min-width:2.2em;padding:.05em .3em;border-radius:4px;text-align:center;\
color:#fff;font:bold .85em/1.6 var(--mono);text-decoration:none}\
.grid a.pass{background:var(--pass)}.grid a.fail{background:var(--fail)}\
figure{margin:.6em 0}figure img{display:block;max-width:100%;height:auto}\
figcaption{color:var(--muted);font-size:.88em;margin-top:.2em}\
.tablewrap{overflow-x:auto;max-width:100%}\
table{border-collapse:collapse;margin:.5em 0;font-size:.87em}\
caption{font-weight:bold;text-align:left;padding:.2em 0}\
th,td{border-bottom:1px solid var(--line);padding:.2em .55em;text-align:left;vertical-align:top}\
th{background:#eceff3}.num{text-align:right;font-family:var(--mono);white-space:nowrap;\
font-variant-numeric:tabular-nums}\
tr.pass td.result{color:var(--pass);font-weight:bold}\
tr.fail td{background:#fbe3e5}tr.fail td.result{color:var(--fail);font-weight:bold}\
details{border:1px solid var(--line);border-radius:6px;padding:.25em .7em;margin:.5em 0}\
details>summary{cursor:pointer;font-weight:600}\
summary.pass::after{content:\" PASS\";color:var(--pass)}\
summary.fail::after{content:\" FAIL\";color:var(--fail)}\
pre{background:var(--soft);padding:.6em;overflow-x:auto;font:.8em/1.35 var(--mono)}\
@media (max-width:1000px){body{display:block}\
#toc{height:auto;z-index:2;padding:.35em .6em;border-right:0;border-bottom:1px solid var(--line)}\
#toc .brand{display:none}#toc ol{display:flex;flex-wrap:wrap;gap:0 .2em}\
#toc li a{padding:.05em .4em;white-space:nowrap}\
header,section{scroll-margin-top:4.5em}main{padding:0 1em 2em}}\
@media print{@page{margin:14mm}body{display:block;font-size:10pt}#toc{display:none}\
main{max-width:none;padding:0}section{margin-top:1.2em}\
figure,table,.card,.grid{break-inside:avoid}h2,h3{break-after:avoid}\
a{color:inherit;text-decoration:none}details{border:0;padding:0}details>summary{list-style:none}\
.tablewrap{overflow:visible}*{-webkit-print-color-adjust:exact;print-color-adjust:exact}}\
@media print{details::details-content{content-visibility:visible;display:block}}";

const SCRIPT: &str = "function relulabCheckImages(){var im=document.images,ok=0;\
for(var i=0;i<im.length;i++){if(im[i].complete&&im[i].naturalWidth>0)ok++;}\
document.body.setAttribute('data-images-ok',ok+'/'+im.length);}\
window.addEventListener('load',relulabCheckImages);\
var relulabClosed=[];\
window.addEventListener('beforeprint',function(){var d=document.querySelectorAll('details');\
relulabClosed=[];for(var i=0;i<d.length;i++){if(!d[i].open){d[i].open=true;relulabClosed.push(d[i]);}}});\
window.addEventListener('afterprint',function(){for(var i=0;i<relulabClosed.length;i++)\
{relulabClosed[i].open=false;}relulabClosed=[];});\
var relulabTick=false;function relulabHere(){relulabTick=false;\
var l=document.querySelectorAll('#toc li a'),cur=null;\
for(var i=0;i<l.length;i++){var t=document.getElementById(l[i].getAttribute('href').slice(1));\
if(t&&t.getBoundingClientRect().top<120)cur=l[i];}\
for(var i=0;i<l.length;i++){l[i].className=l[i]===cur?'here':'';}}\
window.addEventListener('scroll',function(){if(!relulabTick){relulabTick=true;\
window.requestAnimationFrame(relulabHere);}});window.addEventListener('load',relulabHere);";

/// The JSON Pointer (RFC 6901) of the value reached by the keys `parts` from report.json's
/// root: each key prefixed with `/`, with `~` written `~0` and `/` written `~1` (§3).
pub fn pointer(parts: &[&str]) -> String {
    parts
        .iter()
        .map(|p| format!("/{}", p.replace('~', "~0").replace('/', "~1")))
        .collect()
}

fn data(text: &str, json: &str) -> String {
    format!(
        "<span data-json=\"{}\">{}</span>",
        escape(json),
        escape(text)
    )
}

fn grid_html(cells: &[GridCell]) -> String {
    let mut h = String::from("<div class=\"grid\">");
    for c in cells {
        h.push_str(&format!(
            "<a class=\"{}\" href=\"{}\" title=\"{} — {}\" data-json=\"{}\">{}</a>",
            if c.pass { "pass" } else { "fail" },
            escape(&c.href),
            escape(&c.title),
            if c.pass { "PASS" } else { "FAIL" },
            escape(&c.json),
            escape(&c.label)
        ));
    }
    h.push_str("</div>\n");
    h
}

fn block_html(b: &Block, h: &mut String) {
    match b {
        Block::Text(t) => h.push_str(&format!("<p>{}</p>\n", escape(t))),
        Block::Pre(t) => h.push_str(&format!("<pre>{}</pre>\n", escape(t))),
        Block::Table(t) => h.push_str(&table_html(t)),
        Block::Figure { svg, caption } => {
            let (w, ht) = svg_size(svg);
            let size = match (w, ht) {
                (Some(w), Some(ht)) => format!(" width=\"{w}\" height=\"{ht}\""),
                _ => String::new(),
            };
            h.push_str(&format!(
                "<figure><img alt=\"{}\"{size} src=\"data:image/svg+xml;base64,{}\">\
                 <figcaption>{}</figcaption></figure>\n",
                escape(caption),
                base64(svg.as_bytes()),
                escape(caption)
            ))
        }
        Block::Grid(cells) => h.push_str(&grid_html(cells)),
        Block::Details {
            id,
            summary,
            class,
            blocks,
        } => {
            h.push_str("<details");
            if !id.is_empty() {
                h.push_str(&format!(" id=\"{}\"", escape(id)));
            }
            h.push_str("><summary");
            if !class.is_empty() {
                h.push_str(&format!(" class=\"{}\"", escape(class)));
            }
            h.push_str(&format!(">{}</summary>\n", escape(summary)));
            for b in blocks {
                block_html(b, h);
            }
            h.push_str("</details>\n");
        }
    }
}

/// The `width` and `height` attributes of an SVG document's root element (plotters writes
/// them as plain integers), so the page reserves each image's box before it decodes.
fn svg_size(svg: &str) -> (Option<u32>, Option<u32>) {
    let root = svg.split('>').next().unwrap_or("");
    let attr = |name: &str| {
        root.split(&format!(" {name}=\""))
            .nth(1)
            .and_then(|r| r.split('"').next())
            .and_then(|v| v.parse().ok())
    };
    (attr("width"), attr("height"))
}

impl Report {
    /// The complete HTML page.
    pub fn to_html(&self) -> String {
        let mut h = String::new();
        h.push_str("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">");
        h.push_str("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">");
        h.push_str(&format!("<title>{}</title>", escape(&self.title)));
        h.push_str(&format!(
            "<style>{}</style><script>{SCRIPT}</script></head>\n<body data-images-ok=\"pending\">\n",
            style()
        ));
        // The index.
        h.push_str(&format!(
            "<nav id=\"toc\" aria-label=\"Sections\"><a class=\"brand\" href=\"#summary\">{}</a><ol>\
             <li><a href=\"#summary\">Summary</a></li>",
            escape(&self.title)
        ));
        for s in &self.sections {
            h.push_str(&format!(
                "<li><a href=\"#{}\">{}</a></li>",
                escape(&s.id),
                escape(&s.nav)
            ));
        }
        h.push_str("</ol></nav>\n<main>\n");
        // The summary.
        let r = &self.run;
        // Each figure is tagged with its JSON Pointer (RFC 6901) into report.json's `run`.
        let run = |text: &str, key: &str| data(text, &pointer(&["run", key]));
        h.push_str(&format!(
            "<header id=\"summary\"><h1>{}</h1>\n<p class=\"run\">relulab {} · seed {} · {} run · {} · {} · {} s</p>\n<div class=\"cards\">\n",
            escape(&self.title),
            run(&r.version, "version"),
            run(&r.seed.to_string(), "seed"),
            run(&r.mode, "mode"),
            run(&r.machine, "machine"),
            run(&r.started_utc, "started_utc"),
            run(&fmt_sig(r.seconds, 2), "seconds"),
        ));
        for s in &self.sections {
            h.push_str(&format!(
                "<div class=\"card\"><h3><a href=\"#{}\" title=\"{}\">{}</a></h3>",
                escape(&s.id),
                escape(&s.heading),
                escape(&s.nav)
            ));
            if !s.headlines.is_empty() {
                h.push_str("<dl>");
                for hl in &s.headlines {
                    h.push_str(&format!(
                        "<dt>{}</dt><dd data-json=\"{}\">{}</dd>",
                        escape(&hl.label),
                        escape(&hl.json),
                        escape(&hl.text)
                    ));
                }
                h.push_str("</dl>");
            }
            if !s.grid.is_empty() {
                h.push_str(&grid_html(&s.grid));
            }
            h.push_str("</div>\n");
        }
        h.push_str("</div></header>\n");
        for s in &self.sections {
            h.push_str(&format!(
                "<section id=\"{}\"><h2>{}</h2>\n",
                escape(&s.id),
                escape(&s.heading)
            ));
            if !s.lead.is_empty() {
                h.push_str(&format!("<p class=\"lead\">{}</p>\n", escape(&s.lead)));
            }
            if let Some(k) = &s.key {
                block_html(k, &mut h);
            }
            for b in &s.blocks {
                block_html(b, &mut h);
            }
            h.push_str("</section>\n");
        }
        h.push_str("</main>\n</body></html>\n");
        h
    }

    /// Write `dir/index.html` and `dir/report.json` (each atomically), creating `dir`.
    /// Returns the path of index.html.
    pub fn write(&self, dir: &Path, json: &serde_json::Value) -> Result<PathBuf> {
        std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        let json_text = serde_json::to_string_pretty(json)
            .map_err(|e| Error::Output(format!("report.json: {e}")))?;
        write_atomic(&dir.join("report.json"), json_text.as_bytes())?;
        let index = dir.join("index.html");
        write_atomic(&index, self.to_html().as_bytes())?;
        Ok(index)
    }
}

fn table_html(t: &Table) -> String {
    let mut h = String::from("<div class=\"tablewrap\">");
    if t.id.is_empty() {
        h.push_str("<table>");
    } else {
        h.push_str(&format!("<table id=\"{}\">", escape(&t.id)));
    }
    if !t.caption.is_empty() {
        h.push_str(&format!("<caption>{}</caption>", escape(&t.caption)));
    }
    // A column is numeric when every non-empty cell in it is a number.
    let numeric: Vec<bool> = (0..t.header.len())
        .map(|k| {
            let mut cells = t
                .rows
                .iter()
                .filter_map(|r| r.get(k))
                .filter(|c| !c.is_empty());
            let first = cells.clone().next().is_some();
            first && cells.all(|c| is_number(c))
        })
        .collect();
    h.push_str("<thead><tr>");
    for (k, c) in t.header.iter().enumerate() {
        if numeric[k] {
            h.push_str(&format!("<th class=\"num\">{}</th>", escape(c)));
        } else {
            h.push_str(&format!("<th>{}</th>", escape(c)));
        }
    }
    h.push_str("</tr></thead><tbody>\n");
    let last = t.header.len().saturating_sub(1);
    for (i, row) in t.rows.iter().enumerate() {
        let classed = t.row_class.get(i).is_some_and(|c| c.is_some());
        match t.row_class.get(i).and_then(|c| c.as_deref()) {
            Some(c) => h.push_str(&format!("<tr class=\"{}\">", escape(c))),
            None => h.push_str("<tr>"),
        }
        for (k, c) in row.iter().enumerate() {
            if k == last && classed {
                h.push_str(&format!("<td class=\"result\">{}</td>", escape(c)));
            } else if is_number(c) {
                h.push_str(&format!("<td class=\"num\">{}</td>", escape(c)));
            } else {
                h.push_str(&format!("<td>{}</td>", escape(c)));
            }
        }
        h.push_str("</tr>\n");
    }
    h.push_str("</tbody></table></div>\n");
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_matches_rfc4648_vectors() {
        // RFC 4648 section 10 test vectors.
        for (i, o) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ] {
            assert_eq!(base64(i.as_bytes()), o);
        }
    }

    fn run() -> RunInfo {
        RunInfo {
            version: "0.1.0".into(),
            seed: 3,
            mode: "quick".into(),
            machine: "cpu".into(),
            started_utc: "2026-01-01 00:00 UTC".into(),
            seconds: 1.26,
            sections: vec!["a".into()],
            section_seconds: vec![1.0],
        }
    }

    #[test]
    fn html_escapes_and_keeps_structure() {
        let mut s = Section::new("a", "A <b>");
        s.text("x < y & z").table(Table {
            id: "t".into(),
            caption: "c".into(),
            header: vec!["h1".into(), "n".into(), "result".into()],
            rows: vec![vec!["<1>".into(), "97.5%".into(), "PASS".into()]],
            row_class: vec![Some("pass".into())],
        });
        s.headline(Headline::percent(
            "accuracy",
            0.97504,
            2,
            pointer(&["a", "acc"]),
        ));
        s.grid.push(GridCell {
            label: "1".into(),
            title: "one".into(),
            pass: false,
            href: "#claim-1".into(),
            json: pointer(&["claims", "0", "id"]),
        });
        s.details("more", vec![Block::Pre("folded".into())]);
        let r = Report {
            title: "T".into(),
            run: run(),
            sections: vec![s],
        };
        let h = r.to_html();
        assert!(h.contains("A &lt;b&gt;"));
        assert!(h.contains("x &lt; y &amp; z"));
        assert!(h.contains("<table id=\"t\">"));
        assert!(h.contains(
            "<tr class=\"pass\"><td>&lt;1&gt;</td><td class=\"num\">97.5%</td>\
             <td class=\"result\">PASS</td>"
        ));
        assert!(h.contains("<th class=\"num\">n</th>"));
        // (The pointers themselves are checked against serde_json's resolver below.)
        let acc = pointer(&["a", "acc"]);
        assert!(h.contains(&format!("<dd data-json=\"{acc}\">97.50%</dd>")));
        assert!(h.contains("class=\"fail\" href=\"#claim-1\""));
        assert!(h.contains("<details><summary>more</summary>\n<pre>folded</pre>"));
        let secs = pointer(&["run", "seconds"]);
        assert!(h.contains(&format!("<span data-json=\"{secs}\">1.3</span> s")));
        assert!(h.contains("<li><a href=\"#a\">A &lt;b&gt;</a></li>"));
        assert!(!h.contains("http://") && !h.contains("https://"));
    }

    #[test]
    fn pointers_escape_as_rfc6901_says() {
        // RFC 6901 §5's document keys "a/b" and "m~n" are reached by "/a~1b" and "/m~0n".
        assert_eq!(pointer(&["a/b"]), "/a~1b");
        assert_eq!(pointer(&["m~n"]), "/m~0n");
        assert_eq!(pointer(&[]), "");
        // An independent resolver (serde_json's RFC 6901 implementation) reaches each key.
        let doc = serde_json::json!({"a/b": 1, "m~n": 2, "foo": [3], "~1": 4});
        for (parts, want) in [
            (&["a/b"][..], 1),
            (&["m~n"], 2),
            (&["foo", "0"], 3),
            (&["~1"], 4),
        ] {
            assert_eq!(doc.pointer(&pointer(parts)), Some(&serde_json::json!(want)));
        }
        // "~1" in a key must not come back as "/": "~" is escaped first.
        assert_eq!(pointer(&["~1"]), "/~01");
    }

    #[test]
    fn significant_digits() {
        // Expected strings written out by hand.
        assert_eq!(fmt_sig(0.398942280401, 4), "0.3989");
        assert_eq!(fmt_sig(97.2222, 4), "97.22");
        assert_eq!(fmt_sig(9.99996, 4), "10.00");
        assert_eq!(fmt_sig(1234.5, 2), "1234");
        assert_eq!(fmt_sig(0.00123456, 3), "0.00123");
        assert_eq!(fmt_sig(1.23456e-13, 4), "1.235e-13");
        assert_eq!(fmt_sig(-2.5e7, 3), "-2.50e7");
        assert_eq!(fmt_sig(0.0, 4), "0");
        assert_eq!(fmt_sig(f64::NAN, 4), "NaN");
        assert_eq!(fmt_pct(0.97222, 2), "97.22%");
        assert!(is_number("1.5e-3") && is_number("-2") && is_number("12.5%"));
        assert!(is_number("0.25 s") && !is_number("PASS") && !is_number("inf"));
        assert!(!is_number("2-16-16-1") && !is_number(""));
    }

    #[test]
    fn utc_dates_match_known_instants() {
        use std::time::{Duration, UNIX_EPOCH};
        // 0 is 1970-01-01; 951_782_400 is 2000-02-29 00:00 (a leap day of a century leap
        // year); 1_700_000_000 is 2023-11-14 22:13:20 (date(1) -d @1700000000 -u).
        let at = |s| utc_string(UNIX_EPOCH + Duration::from_secs(s));
        assert_eq!(at(0), "1970-01-01 00:00 UTC");
        assert_eq!(at(951_782_400), "2000-02-29 00:00 UTC");
        assert_eq!(at(1_700_000_000), "2023-11-14 22:13 UTC");
        assert_eq!(at(4_107_542_400), "2100-03-01 00:00 UTC");
    }

    #[test]
    fn svg_size_reads_the_root_element() {
        assert_eq!(
            svg_size("<svg width=\"480\" height=\"340\" viewBox=\"0 0 480 340\" xmlns=\"x\">"),
            (Some(480), Some(340))
        );
        assert_eq!(svg_size("<svg>"), (None, None));
    }
}
