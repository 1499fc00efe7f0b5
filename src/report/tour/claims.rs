//! The seed's claims: a pass/fail grid, then one folded table of checks per claim.

use super::{SectionOutput, Tour};
use crate::claims::ClaimOutcome;
use crate::report::{fmt_sig, pointer, Block, GridCell, Headline, Section, Table};
use crate::Result;
use serde_json::json;

/// Significant digits of a measured value: enough to compare with tolerances like ± 1e-10
/// next to values of order 1.
const MEASURED_DIGITS: usize = 7;

/// A measured value: counts (integral values) as integers, others to [`MEASURED_DIGITS`].
fn measured(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{}", v as i64)
    } else {
        fmt_sig(v, MEASURED_DIGITS)
    }
}

fn check_row(c: &crate::claims::Check) -> Vec<String> {
    vec![
        c.name.clone(),
        measured(c.measured),
        c.expected.clone(),
        if c.pass { "PASS" } else { "FAIL" }.into(),
    ]
}

/// The claims as one report table (one row per check), id `claims-table`.
pub fn claims_table(outcomes: &[ClaimOutcome]) -> Table {
    let mut t = Table {
        id: "claims-table".into(),
        caption: "The seed's claims: measured against the closed form".into(),
        header: ["#", "claim", "check", "measured", "expected", "result"]
            .map(String::from)
            .to_vec(),
        ..Default::default()
    };
    for o in outcomes {
        for (k, c) in o.checks.iter().enumerate() {
            let mut row = vec![
                if k == 0 {
                    o.id.to_string()
                } else {
                    String::new()
                },
                if k == 0 {
                    format!("{} — seed: {}", o.title, o.seed_says)
                } else {
                    String::new()
                },
            ];
            row.extend(check_row(c));
            t.rows.push(row);
            t.row_class
                .push(Some(if c.pass { "pass" } else { "fail" }.into()));
        }
    }
    t
}

/// The checks of one claim as a table, id `claim-N-checks`.
fn checks_table(o: &ClaimOutcome) -> Table {
    Table {
        id: format!("claim-{}-checks", o.id),
        caption: String::new(),
        header: ["check", "measured", "expected", "result"]
            .map(String::from)
            .to_vec(),
        rows: o.checks.iter().map(check_row).collect(),
        row_class: o
            .checks
            .iter()
            .map(|c| Some(if c.pass { "pass" } else { "fail" }.into()))
            .collect(),
    }
}

/// The section.
pub(super) fn section(tour: &mut Tour, mut s: Section) -> Result<SectionOutput> {
    let outcomes = tour.claims()?.to_vec();
    let passed = outcomes.iter().filter(|o| o.pass).count();
    let grid: Vec<GridCell> = outcomes
        .iter()
        .enumerate()
        .map(|(i, o)| GridCell {
            label: o.id.to_string(),
            title: o.title.clone(),
            pass: o.pass,
            href: format!("#claim-{}", o.id),
            json: pointer(&["outcomes", &i.to_string(), "id"]),
        })
        .collect();
    s.lead(format!(
        "{passed} of {} claims of the seed pass: one cell per claim, green when every check \
         agrees with its closed form within the stated tolerance (open a claim below for its \
         checks).",
        outcomes.len()
    ));
    s.key = Some(Block::Grid(grid.clone()));
    s.grid = grid;
    s.headline(Headline::count(
        "claims passing",
        passed,
        pointer(&["passed"]),
    ))
    .headline(Headline::count(
        "claims run",
        outcomes.len(),
        pointer(&["total"]),
    ));
    for o in &outcomes {
        s.blocks.push(Block::Details {
            id: format!("claim-{}", o.id),
            summary: format!("{}. {}", o.id, o.title),
            class: if o.pass { "pass" } else { "fail" }.into(),
            blocks: vec![
                Block::Text(format!("The seed says: {}", o.seed_says)),
                Block::Table(checks_table(o)),
            ],
        });
    }
    s.text(
        "Each expected value is a closed form or a bound derived in the claim's comment \
         (src/claims/), never a number recorded from an earlier run; tolerances are stated in \
         the 'expected' column.",
    );
    Ok(SectionOutput {
        section: s,
        json: json!({"passed": passed, "total": outcomes.len(), "outcomes": outcomes}),
        text: format!(
            "The seed's claims\n{}",
            crate::claims::format_outcomes(&outcomes)
        ),
    })
}
