//! Safety queries over the closed loop, decided by the verifier's branch and bound.
//!
//! `avoid S`: no x\[k\], k = 0..=N, lies in S. Each step k is one verification problem: the loop
//! unrolled k steps (x\[0\] itself for k = 0) is a network of x\[0\], the initial box is the input
//! box, and "x\[k\] ∈ S" is the unsafe output condition (a conjunction of half-spaces
//! `c·x ≤ d`). `reach-goal G`: x\[N\] ∈ G; the unsafe condition is its complement, one term
//! `c·x ≥ d` per face of G (closed: a state on G's boundary counts as outside, so `safe` is a
//! proof, and a witness exactly on the boundary is the only conservative case).
//! [`crate::verify::bab::verify_net`] decides each: `unsat` for every step is `safe`; a `sat`
//! witness x\[0\] is simulated in f64 ([`ClosedLoop::simulate`]) and reported as `unsafe` only
//! when that trajectory really enters S (misses G) and x\[0\] meets the initial half-spaces;
//! anything else is `unknown`.

use super::enclose::CANCELLED;
use super::{unroll, ClosedLoop};
use crate::activation::Activation;
use crate::error::{Error, Result};
use crate::net::{Layer, Mlp};
use crate::verify::bab::{verify_net, Verdict, VerifyOptions};
use crate::verify::vnnlib::{Case, OutputAtom, Property};
use crate::verify::PwlNet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A set of states: a box (infinite ends allowed) or an intersection of half-spaces.
#[derive(Clone, Debug, PartialEq)]
pub enum StateSet {
    /// lo ≤ x ≤ hi.
    Box {
        /// Lower ends (−∞ allowed).
        lo: Vec<f64>,
        /// Upper ends (+∞ allowed).
        hi: Vec<f64>,
    },
    /// c_k·x ≤ d_k for every k.
    Halfspaces(Vec<(Vec<f64>, f64)>),
}

impl StateSet {
    /// Parse `box = [[lo, hi], ...]` (TOML; `inf`, `-inf` allowed) or `H = [[...], ...]` with
    /// `h = [...]`; `;` separates lines. `name` names the option in errors; `n` is the state
    /// width.
    pub fn parse(text: &str, name: &str, n: usize) -> Result<Self> {
        let err = |m: String| Error::Value(format!("{name}: {m}"));
        let t: toml::Table = toml::from_str(&text.replace(';', "\n")).map_err(|e| {
            err(format!(
                "expected 'box = [[lo, hi], ...]' or 'H = [[...]]; h = [...]': {}",
                e.message()
            ))
        })?;
        let nums = |v: &toml::Value, f: &str| -> Result<Vec<f64>> {
            let a = v
                .as_array()
                .ok_or_else(|| err(format!("field '{f}': expected an array")))?;
            a.iter()
                .map(|x| match x {
                    toml::Value::Float(f) if !f.is_nan() => Ok(*f),
                    toml::Value::Integer(i) => Ok(*i as f64),
                    _ => Err(err(format!("field '{f}': {x} is not a number"))),
                })
                .collect()
        };
        let rows = |v: &toml::Value, f: &str| -> Result<Vec<Vec<f64>>> {
            v.as_array()
                .ok_or_else(|| err(format!("field '{f}': expected an array of rows")))?
                .iter()
                .enumerate()
                .map(|(i, r)| nums(r, &format!("{f}[{i}]")))
                .collect()
        };
        if let Some(k) = t.keys().find(|k| !["box", "H", "h"].contains(&k.as_str())) {
            return Err(err(format!(
                "unknown field '{k}' (expected box, or H and h)"
            )));
        }
        match (t.get("box"), t.get("H"), t.get("h")) {
            (Some(b), None, None) => {
                let r = rows(b, "box")?;
                if r.len() != n {
                    return Err(err(format!(
                        "field 'box': {} intervals for {n} states",
                        r.len()
                    )));
                }
                let (mut lo, mut hi) = (Vec::new(), Vec::new());
                for (i, iv) in r.iter().enumerate() {
                    if iv.len() != 2 || iv[0] > iv[1] || iv[0] == f64::INFINITY {
                        return Err(err(format!(
                            "field 'box[{i}]': expected [lo, hi] with lo ≤ hi, found {iv:?}"
                        )));
                    }
                    lo.push(iv[0]);
                    hi.push(iv[1]);
                }
                Ok(StateSet::Box { lo, hi })
            }
            (None, Some(hm), Some(hv)) => {
                let hm = rows(hm, "H")?;
                let hv = nums(hv, "h")?;
                if hm.len() != hv.len() || hm.is_empty() {
                    return Err(err(format!(
                        "field 'h': {} entries, H has {} rows (at least one needed)",
                        hv.len(),
                        hm.len()
                    )));
                }
                let mut out = Vec::new();
                for (k, (r, d)) in hm.into_iter().zip(hv).enumerate() {
                    if r.len() != n || r.iter().any(|v| !v.is_finite()) || !d.is_finite() {
                        return Err(err(format!(
                            "field 'H[{k}]': expected {n} finite numbers and a finite h"
                        )));
                    }
                    out.push((r, d));
                }
                Ok(StateSet::Halfspaces(out))
            }
            _ => Err(err(
                "give either 'box = [[lo, hi], ...]' or both 'H' and 'h'".to_string(),
            )),
        }
    }

    /// The set as half-spaces `c·x ≤ d` (infinite box ends dropped).
    pub fn halfspaces(&self) -> Vec<(Vec<f64>, f64)> {
        match self {
            StateSet::Halfspaces(h) => h.clone(),
            StateSet::Box { lo, hi } => {
                let n = lo.len();
                let mut out = Vec::new();
                for i in 0..n {
                    let mut e = vec![0.0; n];
                    if lo[i].is_finite() {
                        e[i] = -1.0;
                        out.push((e.clone(), -lo[i]));
                    }
                    if hi[i].is_finite() {
                        e[i] = 1.0;
                        out.push((e, hi[i]));
                    }
                }
                out
            }
        }
    }

    /// Whether x is in the (closed) set, f64.
    pub fn contains(&self, x: &[f64]) -> bool {
        self.halfspaces()
            .iter()
            .all(|(c, d)| c.iter().zip(x).map(|(a, b)| a * b).sum::<f64>() <= *d)
    }
}

/// A safety query.
#[derive(Clone, Debug, PartialEq)]
pub enum Query {
    /// x\[k\] ∉ S for k = 0..=N.
    Avoid(StateSet),
    /// x\[N\] ∈ G.
    ReachGoal(StateSet),
}

/// The answer of [`decide`].
#[derive(Clone, Debug, PartialEq)]
pub enum Answer {
    /// Proven for every initial state.
    Safe,
    /// A concrete initial state whose f64-simulated trajectory violates the query at `step`.
    Unsafe {
        /// x\[0\].
        x0: Vec<f64>,
        /// x\[0..=N\], simulated in f64.
        trajectory: Vec<Vec<f64>>,
        /// The step that violates the query.
        step: usize,
    },
    /// Neither (time limit, or a witness that did not survive the f64 re-simulation).
    Unknown(String),
}

impl Answer {
    /// "safe", "unsafe" or "unknown".
    pub fn as_str(&self) -> &'static str {
        match self {
            Answer::Safe => "safe",
            Answer::Unsafe { .. } => "unsafe",
            Answer::Unknown(_) => "unknown",
        }
    }
}

/// The identity network on n inputs (x\[0\] as a network's output, for step 0).
fn identity_net(n: usize) -> Result<(PwlNet, Mlp<f32>)> {
    let mut w = vec![0.0f64; n * n];
    for i in 0..n {
        w[i * n + i] = 1.0;
    }
    let mlp = Mlp {
        layers: vec![Layer {
            in_dim: n,
            out_dim: n,
            weight: w.iter().map(|&v| v as f32).collect(),
            bias: Some(vec![0.0; n]),
            activation: Activation::Identity,
            prelu_alpha: Vec::new(),
        }],
    };
    Ok((PwlNet::from_mlp(&mlp)?, mlp))
}

/// Decide `query` over `steps` steps from the plant's initial box within `timeout`.
pub fn decide(
    cl: &ClosedLoop,
    query: &Query,
    steps: usize,
    timeout: Duration,
    seed: u64,
) -> Result<(Answer, f64)> {
    decide_until(cl, query, steps, timeout, seed, None)
}

/// [`decide`] with a cancel flag (the Python binding's Ctrl-C): once it is set, the verifier
/// stops at its next round and the query returns [`crate::Error::Cancelled`].
pub fn decide_until(
    cl: &ClosedLoop,
    query: &Query,
    steps: usize,
    timeout: Duration,
    seed: u64,
    cancel: Option<Arc<AtomicBool>>,
) -> Result<(Answer, f64)> {
    let cancelled = || cancel.as_ref().is_some_and(|c| c.load(Ordering::Relaxed));
    let start = Instant::now();
    let p = &cl.plant;
    let n = p.n;
    let atoms = |hs: &[(Vec<f64>, f64)]| -> Vec<OutputAtom> {
        hs.iter()
            .map(|(c, d)| OutputAtom {
                c: c.clone(),
                b: *d,
            })
            .collect()
    };
    // (step, unsafe terms) to check.
    let jobs: Vec<(usize, Vec<Vec<OutputAtom>>)> = match query {
        Query::Avoid(s) => {
            let term = atoms(&s.halfspaces());
            (0..=steps).map(|k| (k, vec![term.clone()])).collect()
        }
        Query::ReachGoal(g) => {
            let terms = g
                .halfspaces()
                .iter()
                .map(|(c, d)| {
                    vec![OutputAtom {
                        c: c.iter().map(|v| -v).collect(),
                        b: -d,
                    }]
                })
                .collect();
            vec![(steps, terms)]
        }
    };
    for (k, terms) in jobs {
        if cancelled() {
            return Err(crate::Error::Cancelled(CANCELLED.into()));
        }
        if terms.is_empty() {
            // Goal = whole space: nothing is unsafe.
            continue;
        }
        let (net, mlp32) = if k == 0 {
            identity_net(n)?
        } else {
            let un = unroll(cl, k)?;
            let m32 = un.mlp_f32();
            (un.net, m32)
        };
        let prop = Property {
            n_inputs: n,
            n_outputs: n,
            cases: vec![Case {
                lo: p.init_lo.clone(),
                hi: p.init_hi.clone(),
                terms,
            }],
        };
        let left = timeout.saturating_sub(start.elapsed());
        if left.is_zero() {
            return Ok((
                Answer::Unknown(format!("time limit before step {k}")),
                start.elapsed().as_secs_f64(),
            ));
        }
        let opts = VerifyOptions {
            timeout: left,
            seed,
            cancel: cancel.clone(),
            ..Default::default()
        };
        let out = verify_net(&net, &mlp32, &prop, &opts)?;
        if cancelled() {
            return Err(crate::Error::Cancelled(CANCELLED.into()));
        }
        match out.verdict {
            Verdict::Unsat => {}
            Verdict::Sat => {
                let w = out.witness.expect("sat has a witness");
                let tr = cl.simulate(&w.x, steps);
                let violates = match query {
                    Query::Avoid(s) => s.contains(&tr[k]),
                    Query::ReachGoal(g) => !g.contains(&tr[k]),
                };
                let secs = start.elapsed().as_secs_f64();
                if !p.in_halfspaces(&w.x) {
                    return Ok((
                        Answer::Unknown(format!(
                            "step {k}: the verifier's witness lies outside the initial half-spaces"
                        )),
                        secs,
                    ));
                }
                if !violates {
                    return Ok((
                        Answer::Unknown(format!(
                            "step {k}: the verifier's witness does not violate the query when simulated in f64"
                        )),
                        secs,
                    ));
                }
                return Ok((
                    Answer::Unsafe {
                        x0: w.x,
                        trajectory: tr,
                        step: k,
                    },
                    secs,
                ));
            }
            Verdict::Timeout => {
                return Ok((
                    Answer::Unknown(format!("time limit at step {k}")),
                    start.elapsed().as_secs_f64(),
                ))
            }
            Verdict::Unknown => {
                return Ok((
                    Answer::Unknown(format!("step {k}: the branch and bound could not decide")),
                    start.elapsed().as_secs_f64(),
                ))
            }
        }
    }
    Ok((Answer::Safe, start.elapsed().as_secs_f64()))
}
