//! The self-contained HTML report: sections of text, tables and figures, written as one
//! `index.html` (every figure inlined as an SVG data URI, no external resource, so it opens
//! offline in any browser) with the machine-readable JSON beside it.
//!
//! The page carries a small script that, once loaded, counts the images that decoded
//! (`complete && naturalWidth > 0`) and records it on `<body data-images-ok="k/n">`; the
//! report test reads it back from headless Chromium's `--dump-dom`.

pub mod tour;

use crate::error::{Error, Result};
use crate::plot::{write_atomic, Figure};
use std::path::{Path, PathBuf};

/// A table: header and rows of cells (already formatted text); a row may carry a CSS class
/// (`"pass"`, `"fail"`).
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
}

/// A titled section of the report.
#[derive(Clone, Debug, PartialEq)]
pub struct Section {
    /// Heading.
    pub heading: String,
    /// `id` attribute (anchor).
    pub id: String,
    /// Content.
    pub blocks: Vec<Block>,
}

impl Section {
    /// An empty section.
    pub fn new(id: impl Into<String>, heading: impl Into<String>) -> Self {
        Section {
            heading: heading.into(),
            id: id.into(),
            blocks: Vec::new(),
        }
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

/// A report: a title, a summary line and sections.
#[derive(Clone, Debug, PartialEq)]
pub struct Report {
    /// Page title.
    pub title: String,
    /// One line under the title.
    pub summary: String,
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

const STYLE: &str = "body{font-family:sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;\
color:#222}table{border-collapse:collapse;margin:1em 0;font-size:90%}\
td,th{border:1px solid #bbb;padding:3px 7px;text-align:left;vertical-align:top}\
th{background:#eee}tr.pass td.result{color:#161;font-weight:bold}\
tr.fail td{background:#fdd}tr.fail td.result{color:#a00;font-weight:bold}\
figure{margin:1em 0}figure img{max-width:100%;border:1px solid #ddd}\
pre{background:#f6f6f6;padding:.6em;overflow-x:auto;font-size:85%}\
caption{font-weight:bold;text-align:left;padding:.3em 0}";

const SCRIPT: &str = "function relulabCheckImages(){var im=document.images,ok=0;\
for(var i=0;i<im.length;i++){if(im[i].complete&&im[i].naturalWidth>0)ok++;}\
document.body.setAttribute('data-images-ok',ok+'/'+im.length);}\
window.addEventListener('load',relulabCheckImages);";

impl Report {
    /// The complete HTML page.
    pub fn to_html(&self) -> String {
        let mut h = String::new();
        h.push_str("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">");
        h.push_str(&format!("<title>{}</title>", escape(&self.title)));
        h.push_str(&format!(
            "<style>{STYLE}</style><script>{SCRIPT}</script></head>\n<body data-images-ok=\"pending\">\n"
        ));
        h.push_str(&format!(
            "<h1>{}</h1>\n<p>{}</p>\n<ul>",
            escape(&self.title),
            escape(&self.summary)
        ));
        for s in &self.sections {
            h.push_str(&format!(
                "<li><a href=\"#{}\">{}</a></li>",
                escape(&s.id),
                escape(&s.heading)
            ));
        }
        h.push_str("</ul>\n");
        for s in &self.sections {
            h.push_str(&format!(
                "<section id=\"{}\"><h2>{}</h2>\n",
                escape(&s.id),
                escape(&s.heading)
            ));
            for b in &s.blocks {
                match b {
                    Block::Text(t) => h.push_str(&format!("<p>{}</p>\n", escape(t))),
                    Block::Pre(t) => h.push_str(&format!("<pre>{}</pre>\n", escape(t))),
                    Block::Table(t) => h.push_str(&table_html(t)),
                    Block::Figure { svg, caption } => h.push_str(&format!(
                        "<figure><img alt=\"{}\" src=\"data:image/svg+xml;base64,{}\">\
                         <figcaption>{}</figcaption></figure>\n",
                        escape(caption),
                        base64(svg.as_bytes()),
                        escape(caption)
                    )),
                }
            }
            h.push_str("</section>\n");
        }
        h.push_str("</body></html>\n");
        h
    }

    /// Write `dir/index.html` and `dir/report.json` (each atomically), creating `dir`.
    /// Returns the path of index.html.
    pub fn write(&self, dir: &Path, json: &serde_json::Value) -> Result<PathBuf> {
        std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        let json_text = serde_json::to_string_pretty(json)
            .map_err(|e| Error::Invalid(format!("report.json: {e}")))?;
        write_atomic(&dir.join("report.json"), json_text.as_bytes())?;
        let index = dir.join("index.html");
        write_atomic(&index, self.to_html().as_bytes())?;
        Ok(index)
    }
}

fn table_html(t: &Table) -> String {
    let mut h = String::new();
    if t.id.is_empty() {
        h.push_str("<table>");
    } else {
        h.push_str(&format!("<table id=\"{}\">", escape(&t.id)));
    }
    if !t.caption.is_empty() {
        h.push_str(&format!("<caption>{}</caption>", escape(&t.caption)));
    }
    h.push_str("<thead><tr>");
    for c in &t.header {
        h.push_str(&format!("<th>{}</th>", escape(c)));
    }
    h.push_str("</tr></thead><tbody>\n");
    let last = t.header.len().saturating_sub(1);
    for (i, row) in t.rows.iter().enumerate() {
        match t.row_class.get(i).and_then(|c| c.as_deref()) {
            Some(c) => h.push_str(&format!("<tr class=\"{}\">", escape(c))),
            None => h.push_str("<tr>"),
        }
        for (k, c) in row.iter().enumerate() {
            if k == last && t.row_class.get(i).is_some_and(|c| c.is_some()) {
                h.push_str(&format!("<td class=\"result\">{}</td>", escape(c)));
            } else {
                h.push_str(&format!("<td>{}</td>", escape(c)));
            }
        }
        h.push_str("</tr>\n");
    }
    h.push_str("</tbody></table>\n");
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

    #[test]
    fn html_escapes_and_keeps_structure() {
        let mut s = Section::new("a", "A <b>");
        s.text("x < y & z").table(Table {
            id: "t".into(),
            caption: "c".into(),
            header: vec!["h1".into(), "result".into()],
            rows: vec![vec!["<1>".into(), "PASS".into()]],
            row_class: vec![Some("pass".into())],
        });
        let r = Report {
            title: "T".into(),
            summary: "S".into(),
            sections: vec![s],
        };
        let h = r.to_html();
        assert!(h.contains("A &lt;b&gt;"));
        assert!(h.contains("x &lt; y &amp; z"));
        assert!(h.contains("<table id=\"t\">"));
        assert!(h.contains("<tr class=\"pass\"><td>&lt;1&gt;</td><td class=\"result\">PASS</td>"));
        assert!(!h.contains("http://") && !h.contains("https://"));
    }
}
