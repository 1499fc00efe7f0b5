//! User data from CSV or NPY files: features, and labels or targets either as the last column
//! of the feature file or in a file of their own. Every error names the file, line and column.

use super::{Dataset, Targets};
use crate::error::{Error, Result};
use std::path::Path;

/// A table of numbers read from a file: rows × cols, and for CSV the line of each row.
struct Table {
    rows: usize,
    cols: usize,
    data: Vec<f64>,
    lines: Vec<usize>,
}

/// Read a CSV file of numbers with the `csv` crate: comma-separated, fields trimmed, quotes
/// allowed, `#` comment lines and blank lines skipped, an optional header line (a first row
/// with no number in it). Ragged rows, cells that are not numbers and non-finite values are
/// errors at their line and column.
fn read_csv(path: &Path) -> Result<Table> {
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    let file = path.display().to_string();
    let mut reader = ::csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .trim(::csv::Trim::All)
        .comment(Some(b'#'))
        .from_reader(bytes.as_slice());
    let mut data = Vec::new();
    let mut lines = Vec::new();
    let mut cols = None;
    let mut header_seen = false;
    let mut record = ::csv::ByteRecord::new();
    loop {
        match reader.read_byte_record(&mut record) {
            Ok(true) => {}
            Ok(false) => break,
            Err(e) => {
                let at = e
                    .position()
                    .map_or_else(|| "contents".to_string(), |p| format!("line {}", p.line()));
                return Err(Error::format(&file, at, e.to_string()));
            }
        }
        let ln = record.position().map_or(0, |p| p.line() as usize);
        // Blank (whitespace-only) lines and comments after leading blanks.
        let first = record.get(0).unwrap_or_default();
        if (record.len() == 1 && first.is_empty()) || first.starts_with(b"#") {
            continue;
        }
        let cell = |c: usize| std::str::from_utf8(&record[c]);
        // A first line with no number in it is a header (one line only: a second such line
        // is an error at its cells, not a second header).
        if cols.is_none()
            && !header_seen
            && (0..record.len()).all(|c| cell(c).map_or(true, |t| t.parse::<f64>().is_err()))
        {
            header_seen = true;
            continue;
        }
        match cols {
            None => cols = Some(record.len()),
            Some(c) if c != record.len() => {
                return Err(Error::format(
                    &file,
                    format!("line {ln}"),
                    format!("{} cells, expected {c} (ragged rows)", record.len()),
                ))
            }
            _ => {}
        }
        for c in 0..record.len() {
            let loc = || format!("line {ln}, column {}", c + 1);
            let text = cell(c).map_err(|_| Error::format(&file, loc(), "not UTF-8 text"))?;
            let v: f64 = text.parse().map_err(|_| {
                let hint = if text.contains(';') || text.contains('\t') {
                    " (fields are separated by commas)"
                } else {
                    ""
                };
                Error::format(&file, loc(), format!("'{text}' is not a number{hint}"))
            })?;
            if !v.is_finite() {
                return Err(Error::format(
                    &file,
                    loc(),
                    format!("value {text} is not finite"),
                ));
            }
            data.push(v);
        }
        lines.push(ln);
    }
    let cols = cols.unwrap_or(0);
    if lines.is_empty() {
        return Err(Error::format(&file, "contents", "no data rows"));
    }
    Ok(Table {
        rows: lines.len(),
        cols,
        data,
        lines,
    })
}

fn read_npy(path: &Path) -> Result<Table> {
    let file = path.display().to_string();
    let a = crate::io::npy::read_npy_f64(path)?;
    let (rows, cols) = match a.shape.as_slice() {
        [n] => (*n, 1),
        [n, d] => (*n, *d),
        s => {
            return Err(Error::format(
                &file,
                "shape",
                format!("expected a 1-D or 2-D array, got shape {s:?}"),
            ))
        }
    };
    if rows == 0 {
        return Err(Error::format(&file, "shape", "no rows"));
    }
    if let Some(k) = a.data.iter().position(|v| !v.is_finite()) {
        return Err(Error::format(
            &file,
            format!("row {}, column {}", k / cols.max(1), k % cols.max(1)),
            format!("value {} is not finite", a.data[k]),
        ));
    }
    Ok(Table {
        rows,
        cols,
        data: a.data,
        lines: (0..rows).collect(),
    })
}

fn read_table(path: &Path) -> Result<Table> {
    match path.extension().and_then(|e| e.to_str()) {
        Some("npy") => read_npy(path),
        Some("csv") | Some("txt") | None => read_csv(path),
        Some(other) => Err(Error::Value(format!(
            "{}: unknown data format '.{other}' (expected .csv or .npy)",
            path.display()
        ))),
    }
}

fn row_name(path: &Path, t: &Table, r: usize) -> String {
    match path.extension().and_then(|e| e.to_str()) {
        Some("npy") => format!("row {r}"),
        _ => format!("line {}", t.lines[r]),
    }
}

/// Load features from `data` and targets from `targets` (or, without it, from the last column
/// of `data`). With `labels`, targets must be non-negative integers (class labels).
pub fn load(data: &Path, targets: Option<&Path>, labels: bool) -> Result<Dataset> {
    let feat = read_table(data)?;
    let (x, d, tvals, tdim, tpath, ttable): (Vec<f64>, usize, Vec<f64>, usize, &Path, Table);
    match targets {
        Some(tp) => {
            let t = read_table(tp)?;
            if t.rows != feat.rows {
                return Err(Error::Shape(format!(
                    "{} has {} rows but {} has {}",
                    tp.display(),
                    t.rows,
                    data.display(),
                    feat.rows
                )));
            }
            d = feat.cols;
            x = feat.data;
            tvals = t.data.clone();
            tdim = t.cols;
            tpath = tp;
            ttable = t;
        }
        None => {
            if feat.cols < 2 {
                return Err(Error::format(
                    data.display(),
                    "columns",
                    "need at least one feature column and a target column",
                ));
            }
            d = feat.cols - 1;
            let mut xv = Vec::with_capacity(feat.rows * d);
            let mut tv = Vec::with_capacity(feat.rows);
            for row in feat.data.chunks_exact(feat.cols) {
                xv.extend_from_slice(&row[..d]);
                tv.push(row[d]);
            }
            x = xv;
            tvals = tv;
            tdim = 1;
            tpath = data;
            ttable = feat;
        }
    }
    let n = tvals.len() / tdim.max(1);
    let name = data.file_name().map_or_else(
        || data.display().to_string(),
        |f| f.to_string_lossy().into(),
    );
    let targets = if labels {
        if tdim != 1 {
            return Err(Error::format(
                tpath.display(),
                "columns",
                format!("class labels need one column, found {tdim}"),
            ));
        }
        let mut out = Vec::with_capacity(n);
        for (r, &v) in tvals.iter().enumerate() {
            if v < 0.0 || v.fract() != 0.0 || v > u32::MAX as f64 {
                return Err(Error::format(
                    tpath.display(),
                    row_name(tpath, &ttable, r),
                    format!("label {v} is not a non-negative integer"),
                ));
            }
            out.push(v as u32);
        }
        let n_classes = out.iter().copied().max().map_or(0, |m| m as usize + 1);
        Targets::Classes {
            labels: out,
            n_classes,
        }
    } else {
        Targets::Values {
            values: tvals.iter().map(|&v| v as f32).collect(),
            dim: tdim,
        }
    };
    let ds = Dataset {
        name,
        n,
        d,
        x: x.iter().map(|&v| v as f32).collect(),
        targets,
    };
    ds.validate()?;
    Ok(ds)
}
