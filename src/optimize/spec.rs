//! A problem as the user writes it (command line or TOML file) → [`Problem`].
//!
//! TOML keys: `maximize` or `minimize` (an expression), `constraints` (a list of strings),
//! `input_bounds` (a list of `[lo, hi]`, one per input), `gap_abs`, `gap_rel`, `time_limit`
//! (seconds). Constraints on a single input are folded into the box.

use super::expr::{parse_constraint, parse_expr, LinExpr, Names, Var};
use super::surrogate::Loaded;
use super::{Constraint, Linear, Problem, Sense};
use crate::error::{Error, Result};
use serde::Deserialize;
use std::path::Path;

/// The user's problem, before it meets the model.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProblemSpec {
    /// Expression to maximise.
    pub maximize: Option<String>,
    /// Expression to minimise.
    pub minimize: Option<String>,
    /// Constraints.
    #[serde(default)]
    pub constraints: Vec<String>,
    /// Input box, one `[lo, hi]` per input (default: the training data's box).
    pub input_bounds: Option<Vec<[f64; 2]>>,
    /// Absolute gap.
    pub gap_abs: Option<f64>,
    /// Relative gap.
    pub gap_rel: Option<f64>,
    /// Time limit (seconds).
    pub time_limit: Option<f64>,
}

impl ProblemSpec {
    /// The solver's options: the defaults with this problem's gaps and time limit (checked:
    /// gaps ≥ 0, a positive finite time limit).
    pub fn options(&self) -> Result<super::Options> {
        let mut o = super::Options::default();
        if let Some(g) = self.gap_abs {
            if g.is_nan() || g < 0.0 {
                return Err(Error::Value("gap_abs (--gap-abs) must be ≥ 0".into()));
            }
            o.gap_abs = g;
        }
        if let Some(g) = self.gap_rel {
            if g.is_nan() || g < 0.0 {
                return Err(Error::Value("gap_rel (--gap-rel) must be ≥ 0".into()));
            }
            o.gap_rel = g;
        }
        if let Some(t) = self.time_limit {
            let Some(tl) = crate::verify::time_limit(t, false) else {
                return Err(Error::Value(format!(
                    "time_limit (--time-limit) must be a positive number of seconds, at most {:e}",
                    crate::verify::MAX_SECONDS
                )));
            };
            o.time_limit = Some(tl);
        }
        Ok(o)
    }

    /// Read a TOML problem file (errors name the file, line and column).
    pub fn load(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        toml::from_str(&text).map_err(|e| {
            let loc = e.span().map_or("toml".to_string(), |s| {
                let line = text[..s.start].matches('\n').count() + 1;
                let col = s.start - text[..s.start].rfind('\n').map_or(0, |p| p + 1) + 1;
                format!("line {line}, column {col}")
            });
            Error::format(path.display(), loc, e.message().to_string())
        })
    }

    /// Command-line values override the file's.
    pub fn merge(mut self, over: ProblemSpec) -> Self {
        if over.maximize.is_some() || over.minimize.is_some() {
            self.maximize = over.maximize;
            self.minimize = over.minimize;
        }
        self.constraints.extend(over.constraints);
        if over.input_bounds.is_some() {
            self.input_bounds = over.input_bounds;
        }
        self.gap_abs = over.gap_abs.or(self.gap_abs);
        self.gap_rel = over.gap_rel.or(self.gap_rel);
        self.time_limit = over.time_limit.or(self.time_limit);
        self
    }
}

/// Parse `LO:HI,LO:HI,...` (one pair per input).
pub fn parse_bounds(s: &str) -> Result<Vec<[f64; 2]>> {
    s.split(',')
        .enumerate()
        .map(|(j, p)| {
            let (a, b) = p.split_once(':').ok_or_else(|| {
                Error::Value(format!(
                    "--input-bounds: item {} ('{p}') is not LO:HI",
                    j + 1
                ))
            })?;
            let f = |t: &str| -> Result<f64> {
                t.trim()
                    .parse::<f64>()
                    .ok()
                    .filter(|v| v.is_finite())
                    .ok_or_else(|| {
                        Error::Value(format!(
                            "--input-bounds: x[{j}]: '{t}' is not a finite number"
                        ))
                    })
            };
            Ok([f(a)?, f(b)?])
        })
        .collect()
}

fn linear(e: &LinExpr, d: usize, m: usize) -> Linear {
    let mut l = Linear {
        cy: vec![0.0; m],
        cx: vec![0.0; d],
        c0: e.constant,
    };
    for (v, c) in &e.coefs {
        match *v {
            Var::X(i) => l.cx[i] += c,
            Var::Y(i) => l.cy[i] += c,
        }
    }
    l
}

/// Build the problem: parse the objective and constraints against the model's widths and
/// names, fold single-input constraints into the box, check the box.
pub fn build(model: Loaded, spec: &ProblemSpec) -> Result<Problem> {
    let (d, m) = (model.mlp.input_dim(), model.mlp.output_dim());
    let names = Names {
        n_inputs: d,
        n_outputs: m,
        inputs: model.input_names.clone(),
        outputs: model.output_names.clone(),
    };
    let (sense, text) = match (&spec.maximize, &spec.minimize) {
        (Some(t), None) => (Sense::Maximize, t),
        (None, Some(t)) => (Sense::Minimize, t),
        (Some(_), Some(_)) => {
            return Err(Error::Value(
                "give either an expression to maximise or one to minimise, not both".into(),
            ))
        }
        (None, None) => {
            return Err(Error::Value(
                "no objective: give --maximize EXPR or --minimize EXPR".into(),
            ))
        }
    };
    let obj =
        parse_expr(text, &names).map_err(|e| Error::Value(format!("objective '{text}', {e}")))?;
    let objective = linear(&obj, d, m);
    let (mut lo, mut hi) =
        match (&spec.input_bounds, &model.input_box) {
            (Some(b), _) => {
                if b.len() != d {
                    return Err(Error::Shape(format!(
                        "input bounds: {} interval(s) given, the model has {d} input(s)",
                        b.len()
                    )));
                }
                (
                    b.iter().map(|p| p[0]).collect(),
                    b.iter().map(|p| p[1]).collect(),
                )
            }
            (None, Some((l, h))) => (l.clone(), h.clone()),
            (None, None) => return Err(Error::Value(
                "no input bounds: the model records no training box; give --input-bounds LO:HI,…"
                    .into(),
            )),
        };
    for j in 0..d {
        if lo[j] > hi[j] {
            return Err(Error::Value(format!(
                "contradictory bounds: x[{j}] ≥ {} and x[{j}] ≤ {}",
                lo[j], hi[j]
            )));
        }
    }
    let mut constraints = Vec::new();
    for (k, text) in spec.constraints.iter().enumerate() {
        let c = parse_constraint(text, &names)
            .map_err(|e| Error::Value(format!("constraint {} '{text}', {e}", k + 1)))?;
        for part in c.parts {
            let nz: Vec<(&Var, &f64)> = part.coefs.iter().filter(|(_, c)| **c != 0.0).collect();
            match nz.as_slice() {
                [] => {
                    if part.constant > 0.0 {
                        return Err(Error::Value(format!(
                            "constraint {} '{text}' can never hold",
                            k + 1
                        )));
                    }
                }
                [(Var::X(j), &a)] => {
                    // a·x_j + c ≤ 0.
                    let v = -part.constant / a;
                    if a > 0.0 {
                        hi[*j] = hi[*j].min(v);
                    } else {
                        lo[*j] = lo[*j].max(v);
                    }
                    if lo[*j] > hi[*j] {
                        return Err(Error::Value(format!(
                            "contradictory bounds: constraint {} '{text}' leaves x[{j}] ∈ [{}, {}]",
                            k + 1,
                            lo[*j],
                            hi[*j]
                        )));
                    }
                }
                _ => constraints.push(Constraint {
                    lin: linear(&part, d, m),
                    text: text.clone(),
                }),
            }
        }
    }
    Problem::new(
        model.mlp,
        model.scaling,
        sense,
        objective,
        constraints,
        lo,
        hi,
    )
}
