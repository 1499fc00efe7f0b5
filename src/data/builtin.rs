//! The real data sets shipped with scikit-learn 1.9.1, embedded in the binary (files and
//! licence notes under data/scikit-learn/; see README "Data attribution").
//!
//! * digits: 1,797 8×8 images of hand-written digits, 64 features in 0..=16, 10 classes
//!   (UCI "Optical Recognition of Handwritten Digits", Alpaydin & Kaynak).
//! * iris: 150 × 4, 3 classes (Fisher 1936). wine: 178 × 13, 3 classes (UCI Wine).
//! * breast_cancer: 569 × 30, 2 classes (UCI Breast Cancer Wisconsin (Diagnostic)).

use super::{Dataset, Targets};
use crate::error::{Error, Result};
use std::io::Read;

const DIGITS_GZ: &[u8] = include_bytes!("../../data/scikit-learn/digits.csv.gz");
const IRIS: &str = include_str!("../../data/scikit-learn/iris.csv");
const WINE: &str = include_str!("../../data/scikit-learn/wine_data.csv");
const BREAST_CANCER: &str = include_str!("../../data/scikit-learn/breast_cancer.csv");

/// Rows of numbers, the last column an integer label.
fn parse_rows(name: &str, text: &str, skip_header: bool, d: usize) -> Result<Dataset> {
    let mut x = Vec::new();
    let mut labels = Vec::new();
    for (ln, line) in text.lines().enumerate().skip(usize::from(skip_header)) {
        if line.trim().is_empty() {
            continue;
        }
        let cells: Vec<&str> = line.split(',').collect();
        if cells.len() != d + 1 {
            return Err(Error::format(
                name,
                format!("line {}", ln + 1),
                format!("{} cells, expected {}", cells.len(), d + 1),
            ));
        }
        for (c, cell) in cells[..d].iter().enumerate() {
            let v: f32 = cell.trim().parse().map_err(|_| {
                Error::format(
                    name,
                    format!("line {}, column {}", ln + 1, c + 1),
                    "not a number",
                )
            })?;
            x.push(v);
        }
        let l: f64 = cells[d].trim().parse().map_err(|_| {
            Error::format(
                name,
                format!("line {}, column {}", ln + 1, d + 1),
                "bad label",
            )
        })?;
        labels.push(l as u32);
    }
    let n = labels.len();
    let n_classes = labels.iter().copied().max().map_or(0, |m| m as usize + 1);
    Ok(Dataset {
        name: name.to_string(),
        n,
        d,
        x,
        targets: Targets::Classes { labels, n_classes },
    })
}

/// scikit-learn's digits (1,797 × 64, 10 classes).
pub fn digits() -> Result<Dataset> {
    let mut text = String::new();
    flate2::read::GzDecoder::new(DIGITS_GZ)
        .read_to_string(&mut text)
        .map_err(|e| Error::format("digits.csv.gz", "gzip", e.to_string()))?;
    parse_rows("digits", &text, false, 64)
}

/// iris (150 × 4, 3 classes).
pub fn iris() -> Result<Dataset> {
    parse_rows("iris", IRIS, true, 4)
}

/// wine (178 × 13, 3 classes).
pub fn wine() -> Result<Dataset> {
    parse_rows("wine", WINE, true, 13)
}

/// breast cancer (569 × 30, 2 classes: 0 malignant, 1 benign).
pub fn breast_cancer() -> Result<Dataset> {
    parse_rows("breast_cancer", BREAST_CANCER, true, 30)
}
