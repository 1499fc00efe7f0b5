//! The main job (`relulab tour`): every section of the report, one function each, over the
//! shared page builder of [`crate::report`].
//!
//! A section is a [`TourSection`] in [`SECTIONS`]: an id (anchor, `--sections` name and the
//! key of its part of report.json), a heading, a short name for the navigation, and a build
//! function that fills the page section it is given, saves its plots through
//! [`Tour::save_figure`] and returns a
//! [`SectionOutput`]: the page section (lead sentence, key picture, blocks, headline numbers
//! for the summary with JSON pointers relative to its JSON part), its JSON, and its console
//! text. Adding a section is one function and one entry in [`SECTIONS`]; the summary, the
//! navigation, report.json, `--sections` and `--quick` follow from the entry.

mod activations;
mod claims;
mod control;
mod digits;
mod dying_sweep;
mod economics;
mod gradient_flow;
mod regions;
mod safety;
mod sparsity;
mod training;

pub use activations::{activation_table, gaussian_table};
pub use claims::claims_table;
pub use digits::{digits_run, DigitsRun};
pub use training::EpochHealth;

use super::{Report, RunInfo, Section};
use crate::claims::ClaimOutcome;
use crate::plot::Figure;
use crate::{Error, Result};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};

/// Options of the tour.
#[derive(Clone, Debug, Default)]
pub struct TourOptions {
    /// Seed of every random stream.
    pub seed: u64,
    /// Output folder (index.html, report.json, plots/).
    pub out: PathBuf,
    /// Ids of the sections to run, in any order (they run in [`SECTIONS`] order); empty: all.
    pub sections: Vec<String>,
    /// A smaller run (fewer epochs and runs; each section says what it shrinks).
    pub quick: bool,
}

/// What the tour produced.
#[derive(Clone, Debug)]
pub struct TourOutcome {
    /// The text printed to the console.
    pub text: String,
    /// Path of index.html.
    pub index: PathBuf,
    /// The claim outcomes (empty when no section needed them).
    pub claims: Vec<ClaimOutcome>,
}

/// What a section's build function returns.
#[derive(Clone, Debug)]
pub struct SectionOutput {
    /// The page section; headline and grid pointers are relative to `json`.
    pub section: Section,
    /// The section's part of report.json (under the key [`TourSection::json_key`]).
    pub json: Value,
    /// Console text.
    pub text: String,
}

/// One section of the tour: an entry of [`SECTIONS`].
#[derive(Clone, Copy, Debug)]
pub struct TourSection {
    /// Anchor, `--sections` name; with '-' read as '_', the key of its part of report.json.
    pub id: &'static str,
    /// Heading.
    pub heading: &'static str,
    /// Short name for the navigation.
    pub nav: &'static str,
    /// Computes the section into the empty page section it is given (id, heading and
    /// navigation name already set from this entry).
    pub build: fn(&mut Tour, Section) -> Result<SectionOutput>,
}

impl TourSection {
    /// The key of the section's part of report.json.
    pub fn json_key(&self) -> String {
        self.id.replace('-', "_")
    }
    /// An empty page section with this entry's id, heading and navigation name.
    pub fn page(&self) -> Section {
        let mut s = Section::new(self.id, self.heading);
        s.nav(self.nav);
        s
    }
}

/// Every section, in report order.
pub const SECTIONS: &[TourSection] = &[
    TourSection {
        id: "activations",
        heading: "The activation family",
        nav: "Activations",
        build: activations::section,
    },
    TourSection {
        id: "claims",
        heading: "The seed's claims",
        nav: "Claims",
        build: claims::section,
    },
    TourSection {
        id: "gradient-flow",
        heading: "Gradient flow: sigmoid, tanh, ReLU",
        nav: "Gradient flow",
        build: gradient_flow::section,
    },
    TourSection {
        id: "sparsity-dying",
        heading: "Sparsity and dying units",
        nav: "Sparsity, dying",
        build: sparsity::section,
    },
    TourSection {
        id: "digits",
        heading: "Digits: a training run with its diagnostics",
        nav: "Digits run",
        build: digits::section,
    },
    TourSection {
        id: "dying-sweep",
        heading: "Born dead and collapsed: He versus RAI",
        nav: "Dying sweep",
        build: dying_sweep::section,
    },
    TourSection {
        id: "training",
        heading: "A monitored training run",
        nav: "Monitored run",
        build: training::section,
    },
    TourSection {
        id: "regions",
        heading: "Linear regions of a ReLU net",
        nav: "Linear regions",
        build: regions::section,
    },
    TourSection {
        id: "control",
        heading: "Control: reachable sets of a ReLU feedback loop",
        nav: "Control",
        build: control::section,
    },
    TourSection {
        id: "economics",
        heading: "Economics and operations: certified optima, exact piecewise-linear contracts",
        nav: "Economics",
        build: economics::section,
    },
    TourSection {
        id: "ai-safety",
        heading: "AI safety: certified robustness and ReLU stability",
        nav: "AI safety",
        build: safety::section,
    },
];

/// The entries named in `names` (any order, no repeats), in [`SECTIONS`] order; all of them
/// for an empty list. An unknown name is an error that lists the known ones.
pub fn select_sections(names: &[String]) -> Result<Vec<&'static TourSection>> {
    for n in names {
        if !SECTIONS.iter().any(|s| s.id == n.trim()) {
            return Err(Error::Value(format!(
                "unknown tour section {:?}; the sections are: {}",
                n.trim(),
                section_ids().join(", ")
            )));
        }
    }
    Ok(SECTIONS
        .iter()
        .filter(|s| names.is_empty() || names.iter().any(|n| n.trim() == s.id))
        .collect())
}

/// The ids of [`SECTIONS`], in order.
pub fn section_ids() -> Vec<&'static str> {
    SECTIONS.iter().map(|s| s.id).collect()
}

/// What the sections share while the tour runs: the options, the output folder, and results
/// more than one section reads (the claims, computed once on first use).
#[derive(Debug)]
pub struct Tour<'a> {
    /// The options.
    pub opts: &'a TourOptions,
    claims: Option<Vec<ClaimOutcome>>,
}

impl Tour<'_> {
    /// The seed of every random stream.
    pub fn seed(&self) -> u64 {
        self.opts.seed
    }

    /// `full` normally, `quick` under `--quick`.
    pub fn pick<T>(&self, full: T, quick: T) -> T {
        if self.opts.quick {
            quick
        } else {
            full
        }
    }

    /// The outcomes of every claim (run on first use).
    pub fn claims(&mut self) -> Result<&[ClaimOutcome]> {
        if self.claims.is_none() {
            self.claims = Some(crate::claims::run_claims(&[], self.opts.seed)?);
        }
        Ok(self.claims.as_deref().unwrap_or_default())
    }

    /// The output folder.
    pub fn out(&self) -> &Path {
        &self.opts.out
    }

    /// Save a figure as `plots/NAME.svg` and `plots/NAME.png`.
    pub fn save_figure(&self, fig: &Figure, name: &str) -> Result<()> {
        let plots = self.plots_dir()?;
        fig.save(plots.join(format!("{name}.svg")))?;
        fig.save(plots.join(format!("{name}.png")))
    }

    /// Save an already rendered SVG document as `plots/NAME.svg`.
    pub fn save_svg(&self, svg: &str, name: &str) -> Result<()> {
        let plots = self.plots_dir()?;
        crate::plot::write_atomic(&plots.join(format!("{name}.svg")), svg.as_bytes())
    }

    fn plots_dir(&self) -> Result<PathBuf> {
        let plots = self.opts.out.join("plots");
        std::fs::create_dir_all(&plots).map_err(|e| Error::io(&plots, e))?;
        Ok(plots)
    }
}

/// Run the tour: compute the selected sections, write the report, return the console text.
pub fn run_tour(opts: &TourOptions) -> Result<TourOutcome> {
    let start = std::time::Instant::now();
    let started = std::time::SystemTime::now();
    let selected = select_sections(&opts.sections)?;
    // Fail before the long computations when the folder cannot be made.
    std::fs::create_dir_all(&opts.out).map_err(|e| Error::io(&opts.out, e))?;
    let mut tour = Tour { opts, claims: None };
    let mut text = String::new();
    let mut sections = Vec::new();
    let mut json = serde_json::Map::new();
    let mut section_seconds = Vec::new();
    for entry in &selected {
        let t0 = std::time::Instant::now();
        let mut o = (entry.build)(&mut tour, entry.page())?;
        section_seconds.push(t0.elapsed().as_secs_f64());
        // Each section's pointers are relative to its own object in report.json.
        let key = entry.json_key();
        let prefix = crate::report::pointer(&[&key]);
        for h in &mut o.section.headlines {
            h.json = format!("{prefix}{}", h.json);
        }
        for c in &mut o.section.grid {
            c.json = format!("{prefix}{}", c.json);
        }
        if !text.is_empty() {
            text.push('\n');
        }
        text.push_str(&o.text);
        json.insert(key, o.json);
        sections.push(o.section);
    }
    let run = RunInfo {
        version: env!("CARGO_PKG_VERSION").into(),
        seed: opts.seed,
        mode: if opts.quick { "quick" } else { "full" }.into(),
        machine: super::machine_description(),
        started_utc: super::utc_string(started),
        seconds: start.elapsed().as_secs_f64(),
        sections: selected.iter().map(|s| s.id.to_string()).collect(),
        section_seconds,
    };
    json.insert("run".into(), json!(run));
    // Kept at the top level for readers of earlier reports.
    json.insert("relulab_version".into(), json!(run.version));
    json.insert("seed".into(), json!(run.seed));
    json.insert("seconds".into(), json!(run.seconds));
    let report = Report {
        title: "relulab tour".into(),
        run,
        sections,
    };
    let index = report.write(&opts.out, &Value::Object(json))?;
    let claims = tour.claims.unwrap_or_default();
    if !claims.is_empty() {
        let passed = claims.iter().filter(|c| c.pass).count();
        text.push_str(&format!("\n{passed}/{} claims pass", claims.len()));
    }
    text.push_str(&format!("\nreport: {}\n", index.display()));
    Ok(TourOutcome {
        text,
        index,
        claims,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sections_are_selected_in_report_order_and_unknown_names_refused() {
        let ids = |v: Vec<&TourSection>| v.iter().map(|s| s.id).collect::<Vec<_>>();
        assert_eq!(ids(select_sections(&[]).unwrap()), section_ids());
        let pick = ["regions".to_string(), "activations".to_string()];
        assert_eq!(
            ids(select_sections(&pick).unwrap()),
            ["activations", "regions"]
        );
        let err = select_sections(&["region".into()]).unwrap_err().to_string();
        assert!(
            err.contains("\"region\"") && err.contains("gradient-flow"),
            "{err}"
        );
        // Ids are unique and usable as anchors and JSON keys.
        let mut seen = section_ids();
        seen.sort_unstable();
        seen.dedup();
        assert_eq!(seen.len(), SECTIONS.len());
        for s in SECTIONS {
            assert!(s.id.chars().all(|c| c.is_ascii_lowercase() || c == '-'));
            assert_ne!(s.json_key(), "run");
        }
    }
}
