//! VNN-LIB 1.0 properties (the subset used by VNN-COMP): `declare-const X_i/Y_j Real` and
//! `assert` over `<=`/`>=` between a variable and a number or two variables, nested `and`/`or`.
//!
//! The property describes the **unsafe** set: it is `sat` when some input in the input region
//! gives an output meeting the output constraints. The conjunction of all asserts is brought
//! to disjunctive normal form; each term is an input box and a conjunction of output half-spaces
//! `c·y ≤ b`. Terms with the same box are grouped into one [`Case`].
//!
//! Numbers are read as the nearest f64 (Rust's correctly rounded parser); the property relulab
//! decides is the one with those f64 bounds.

use crate::error::{Error, Result};
use std::path::Path;

/// A position in the source text (1-based).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Pos {
    line: usize,
    col: usize,
}

#[derive(Debug)]
enum Sexp {
    Atom(String, Pos),
    List(Vec<Sexp>, Pos),
}

impl Sexp {
    fn pos(&self) -> Pos {
        match self {
            Sexp::Atom(_, p) | Sexp::List(_, p) => *p,
        }
    }
}

/// One output half-space `c·y ≤ b` (unsafe side).
#[derive(Clone, Debug, PartialEq)]
pub struct OutputAtom {
    /// Coefficients over the outputs.
    pub c: Vec<f64>,
    /// Right-hand side.
    pub b: f64,
}

impl OutputAtom {
    /// `c·y − b` in f64 (≤ 0 on the unsafe side).
    pub fn margin(&self, y: &[f64]) -> f64 {
        self.c.iter().zip(y).map(|(c, y)| c * y).sum::<f64>() - self.b
    }
}

/// One input box with the output conditions that are unsafe on it, a disjunction of
/// conjunctions (`terms[t]` holds when every atom of it holds).
#[derive(Clone, Debug, PartialEq)]
pub struct Case {
    /// Lower input bounds.
    pub lo: Vec<f64>,
    /// Upper input bounds.
    pub hi: Vec<f64>,
    /// The unsafe output conditions: OR over terms of AND over atoms.
    pub terms: Vec<Vec<OutputAtom>>,
}

/// A parsed property: unsafe iff some case has an input in its box meeting one of its terms.
#[derive(Clone, Debug, PartialEq)]
pub struct Property {
    /// Number of declared inputs X_i.
    pub n_inputs: usize,
    /// Number of declared outputs Y_j.
    pub n_outputs: usize,
    /// The cases (boxes with their unsafe output conditions).
    pub cases: Vec<Case>,
}

impl Property {
    /// True when `(x, y)` lies in the unsafe set (f64 comparisons, non-strict as in VNN-LIB).
    pub fn is_unsafe(&self, x: &[f64], y: &[f64]) -> bool {
        self.cases.iter().any(|case| {
            x.iter()
                .zip(case.lo.iter().zip(&case.hi))
                .all(|(&v, (&l, &h))| l <= v && v <= h)
                && case
                    .terms
                    .iter()
                    .any(|t| t.iter().all(|a| a.margin(y) <= 0.0))
        })
    }
}

/// Most DNF terms a property may expand to.
const MAX_TERMS: usize = 100_000;
/// The most atoms the expanded DNF may hold over all its terms (a conjunction of k two-way
/// disjunctions has 2^k terms of ~k atoms each: a 2 KB file could otherwise ask for millions of
/// atom copies; the fuzzer found one that took 13 s).
const MAX_ATOMS: usize = 1_000_000;

/// Read and parse a VNN-LIB file.
pub fn load_vnnlib(path: &Path) -> Result<Property> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
    parse_vnnlib(&text, &path.display().to_string())
}

/// Parse VNN-LIB text; `file` names it in error messages.
pub fn parse_vnnlib(text: &str, file: &str) -> Result<Property> {
    let err =
        |p: Pos, m: String| Error::format(file, format!("line {}, column {}", p.line, p.col), m);
    let sexps = read_sexps(text, file)?;
    let mut n_in = 0usize;
    let mut n_out = 0usize;
    let mut declared_x = Vec::<bool>::new();
    let mut declared_y = Vec::<bool>::new();
    let mut asserts = Vec::new();
    for s in &sexps {
        let Sexp::List(items, p) = s else {
            return Err(err(s.pos(), "expected a command in parentheses".into()));
        };
        match items.first() {
            Some(Sexp::Atom(h, _)) if h == "declare-const" => {
                if items.len() != 3 {
                    return Err(err(*p, "declare-const takes a name and a sort".into()));
                }
                let (name, np) =
                    atom(&items[1]).ok_or_else(|| err(items[1].pos(), "expected a name".into()))?;
                match atom(&items[2]) {
                    Some(("Real", _)) => {}
                    _ => {
                        return Err(err(
                            items[2].pos(),
                            "only the sort Real is supported".into(),
                        ))
                    }
                }
                let (is_x, idx) = var_index(name)
                    .ok_or_else(|| err(np, format!("variable '{name}': expected X_i or Y_j")))?;
                // Every index below the largest must be declared too, so an index past the number
                // of commands cannot be completed: refuse it before sizing anything by it.
                if idx >= sexps.len() {
                    return Err(err(
                        np,
                        format!(
                            "variable '{name}': index {idx} but the file has only {} commands, so {} to {} cannot all be declared",
                            sexps.len(),
                            if is_x { "X_0" } else { "Y_0" },
                            name
                        ),
                    ));
                }
                let (seen, n) = if is_x {
                    (&mut declared_x, &mut n_in)
                } else {
                    (&mut declared_y, &mut n_out)
                };
                if seen.len() <= idx {
                    seen.resize(idx + 1, false);
                }
                if seen[idx] {
                    return Err(err(np, format!("variable '{name}' declared twice")));
                }
                seen[idx] = true;
                *n = (*n).max(idx + 1);
            }
            Some(Sexp::Atom(h, _)) if h == "assert" => {
                if items.len() != 2 {
                    return Err(err(*p, "assert takes one formula".into()));
                }
                asserts.push(&items[1]);
            }
            Some(other) => {
                return Err(err(other.pos(), "expected declare-const or assert".into()));
            }
            None => return Err(err(*p, "empty command".into())),
        }
    }
    for (name, seen) in [("X", &declared_x), ("Y", &declared_y)] {
        if let Some(i) = seen.iter().position(|s| !s) {
            return Err(Error::format(
                file,
                "declarations",
                format!("{name}_{i} is not declared"),
            ));
        }
    }
    if n_in == 0 || n_out == 0 {
        return Err(Error::format(
            file,
            "declarations",
            "no X_i or no Y_j declared",
        ));
    }
    // Conjunction of all asserts, in DNF.
    let mut dnf: Vec<Vec<LinAtom>> = vec![Vec::new()];
    let ctx = Ctx {
        file,
        n_out,
        declared_x: &declared_x,
        declared_y: &declared_y,
    };
    for a in asserts {
        let f = ctx.formula(a)?;
        dnf = and_dnf(&dnf, &f).map_err(|m| err(a.pos(), m))?;
    }
    // Split every term into its input box and output atoms; group by box.
    let mut cases: Vec<Case> = Vec::new();
    'terms: for term in dnf {
        let mut lo = vec![f64::NEG_INFINITY; n_in];
        let mut hi = vec![f64::INFINITY; n_in];
        let mut outs = Vec::new();
        for a in term {
            match a {
                LinAtom::Const(true) => {}
                LinAtom::Const(false) => continue 'terms,
                LinAtom::InputUpper(i, v) => hi[i] = hi[i].min(v),
                LinAtom::InputLower(i, v) => lo[i] = lo[i].max(v),
                LinAtom::Output(o) => outs.push(o),
            }
        }
        if let Some(i) = (0..n_in).find(|&i| !lo[i].is_finite() || !hi[i].is_finite()) {
            return Err(Error::format(
                file,
                "input constraints",
                format!("X_{i} is not bounded on both sides in some disjunct"),
            ));
        }
        if (0..n_in).any(|i| lo[i] > hi[i]) {
            continue; // empty box: this term of the unsafe set is empty
        }
        match cases.iter_mut().find(|c| c.lo == lo && c.hi == hi) {
            Some(c) => c.terms.push(outs),
            None => cases.push(Case {
                lo,
                hi,
                terms: vec![outs],
            }),
        }
    }
    Ok(Property {
        n_inputs: n_in,
        n_outputs: n_out,
        cases,
    })
}

fn atom(s: &Sexp) -> Option<(&str, Pos)> {
    match s {
        Sexp::Atom(a, p) => Some((a.as_str(), *p)),
        Sexp::List(..) => None,
    }
}

/// `X_3` → (true, 3), `Y_0` → (false, 0).
fn var_index(name: &str) -> Option<(bool, usize)> {
    let (is_x, rest) = if let Some(r) = name.strip_prefix("X_") {
        (true, r)
    } else {
        (false, name.strip_prefix("Y_")?)
    };
    if rest.is_empty() || !rest.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some((is_x, rest.parse().ok()?))
}

/// An atomic constraint after normalisation.
#[derive(Clone, Debug)]
enum LinAtom {
    Const(bool),
    InputUpper(usize, f64),
    InputLower(usize, f64),
    Output(OutputAtom),
}

enum Term {
    X(usize),
    Y(usize),
    Num(f64),
}

struct Ctx<'a> {
    file: &'a str,
    n_out: usize,
    declared_x: &'a [bool],
    declared_y: &'a [bool],
}

impl Ctx<'_> {
    fn err(&self, p: Pos, m: impl Into<String>) -> Error {
        Error::format(self.file, format!("line {}, column {}", p.line, p.col), m)
    }

    fn term(&self, s: &Sexp) -> Result<Term> {
        let (a, p) = atom(s).ok_or_else(|| self.err(s.pos(), "expected a variable or a number"))?;
        if let Some((is_x, i)) = var_index(a) {
            let ok = if is_x {
                self.declared_x.get(i).copied().unwrap_or(false)
            } else {
                self.declared_y.get(i).copied().unwrap_or(false)
            };
            if !ok {
                return Err(self.err(p, format!("variable '{a}' is not declared")));
            }
            return Ok(if is_x { Term::X(i) } else { Term::Y(i) });
        }
        match a.parse::<f64>() {
            Ok(v) if v.is_finite() && a.bytes().any(|b| b.is_ascii_digit()) => Ok(Term::Num(v)),
            _ => Err(self.err(
                p,
                format!("'{a}' is neither a declared variable nor a finite number"),
            )),
        }
    }

    /// DNF of one formula.
    fn formula(&self, s: &Sexp) -> Result<Vec<Vec<LinAtom>>> {
        let Sexp::List(items, p) = s else {
            return Err(self.err(s.pos(), "expected a formula in parentheses"));
        };
        let (head, hp) = items
            .first()
            .and_then(atom)
            .ok_or_else(|| self.err(*p, "expected and, or, <= or >="))?;
        match head {
            "and" => {
                let mut acc = vec![Vec::new()];
                for f in &items[1..] {
                    acc = and_dnf(&acc, &self.formula(f)?).map_err(|m| self.err(f.pos(), m))?;
                }
                Ok(acc)
            }
            "or" => {
                if items.len() < 2 {
                    return Err(self.err(*p, "empty or"));
                }
                let mut acc = Vec::new();
                for f in &items[1..] {
                    acc.extend(self.formula(f)?);
                    if acc.len() > MAX_TERMS {
                        return Err(self.err(f.pos(), format!("more than {MAX_TERMS} disjuncts")));
                    }
                }
                Ok(acc)
            }
            "<=" | ">=" => {
                if items.len() != 3 {
                    return Err(self.err(*p, format!("{head} takes two arguments")));
                }
                let (a, b) = (self.term(&items[1])?, self.term(&items[2])?);
                // Normalise to lhs <= rhs.
                let (l, r) = if head == "<=" { (a, b) } else { (b, a) };
                Ok(vec![vec![self.lin_atom(l, r, *p)?]])
            }
            other => Err(self.err(
                hp,
                format!("unsupported operator '{other}' (expected and, or, <=, >=)"),
            )),
        }
    }

    /// The atom `l <= r`.
    fn lin_atom(&self, l: Term, r: Term, p: Pos) -> Result<LinAtom> {
        let out = |pairs: &[(usize, f64)], b: f64| {
            let mut c = vec![0.0; self.n_out];
            for &(j, v) in pairs {
                c[j] += v;
            }
            LinAtom::Output(OutputAtom { c, b })
        };
        Ok(match (l, r) {
            (Term::Num(a), Term::Num(b)) => LinAtom::Const(a <= b),
            (Term::X(i), Term::Num(v)) => LinAtom::InputUpper(i, v),
            (Term::Num(v), Term::X(i)) => LinAtom::InputLower(i, v),
            (Term::Y(j), Term::Num(v)) => out(&[(j, 1.0)], v),
            (Term::Num(v), Term::Y(j)) => out(&[(j, -1.0)], -v),
            (Term::Y(a), Term::Y(b)) => out(&[(a, 1.0), (b, -1.0)], 0.0),
            (Term::X(_), Term::X(_)) => {
                return Err(self.err(p, "constraints between two inputs are not supported"))
            }
            _ => return Err(self.err(p, "constraints mixing inputs and outputs are not supported")),
        })
    }
}

/// (OR_i A_i) AND (OR_j B_j) = OR_ij (A_i AND B_j).
fn and_dnf(
    a: &[Vec<LinAtom>],
    b: &[Vec<LinAtom>],
) -> std::result::Result<Vec<Vec<LinAtom>>, String> {
    if a.len().saturating_mul(b.len()) > MAX_TERMS {
        return Err(format!(
            "the property expands to more than {MAX_TERMS} disjuncts"
        ));
    }
    let atoms = |t: &[Vec<LinAtom>]| t.iter().map(Vec::len).sum::<usize>();
    let total = a
        .len()
        .saturating_mul(atoms(b))
        .saturating_add(b.len().saturating_mul(atoms(a)));
    if total > MAX_ATOMS {
        return Err(format!(
            "the property expands to more than {MAX_ATOMS} atoms (in disjunctive normal form)"
        ));
    }
    let mut out = Vec::with_capacity(a.len() * b.len());
    for x in a {
        for y in b {
            let mut t = x.clone();
            t.extend(y.iter().cloned());
            out.push(t);
        }
    }
    Ok(out)
}

/// Tokenise and read the top-level s-expressions, with positions.
fn read_sexps(text: &str, file: &str) -> Result<Vec<Sexp>> {
    let err =
        |p: Pos, m: &str| Error::format(file, format!("line {}, column {}", p.line, p.col), m);
    let mut stack: Vec<(Vec<Sexp>, Pos)> = Vec::new();
    let mut top = Vec::new();
    let mut chars = text.chars().peekable();
    let (mut line, mut col) = (1usize, 1usize);
    let mut pending: Option<(String, Pos)> = None;
    fn flush(
        pending: &mut Option<(String, Pos)>,
        stack: &mut [(Vec<Sexp>, Pos)],
        top: &mut Vec<Sexp>,
    ) {
        if let Some((s, p)) = pending.take() {
            match stack.last_mut() {
                Some((v, _)) => v.push(Sexp::Atom(s, p)),
                None => top.push(Sexp::Atom(s, p)),
            }
        }
    }
    while let Some(c) = chars.next() {
        let here = Pos { line, col };
        if c == '\n' {
            line += 1;
            col = 1;
        } else {
            col += 1;
        }
        match c {
            ';' => {
                flush(&mut pending, &mut stack, &mut top);
                while let Some(&d) = chars.peek() {
                    if d == '\n' {
                        break;
                    }
                    chars.next();
                    col += 1;
                }
            }
            '(' => {
                flush(&mut pending, &mut stack, &mut top);
                stack.push((Vec::new(), here));
            }
            ')' => {
                flush(&mut pending, &mut stack, &mut top);
                let (v, p) = stack.pop().ok_or_else(|| err(here, "unmatched ')'"))?;
                match stack.last_mut() {
                    Some((parent, _)) => parent.push(Sexp::List(v, p)),
                    None => top.push(Sexp::List(v, p)),
                }
            }
            c if c.is_whitespace() => flush(&mut pending, &mut stack, &mut top),
            c => match &mut pending {
                Some((s, _)) => s.push(c),
                None => pending = Some((c.to_string(), here)),
            },
        }
    }
    flush(&mut pending, &mut stack, &mut top);
    if let Some((_, p)) = stack.last() {
        return Err(err(*p, "'(' is never closed"));
    }
    Ok(top)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_boxes_and_pairwise_outputs() {
        let t = "; c\n(declare-const X_0 Real)(declare-const X_1 Real)\n(declare-const Y_0 Real)\n(declare-const Y_1 Real)\n(assert (<= X_0 1))(assert (>= X_0 -1.5))\n(assert (and (<= X_1 2)\n (>= X_1 0)))\n(assert (or (and (<= Y_0 Y_1)) (and (>= Y_0 3))))";
        let p = parse_vnnlib(t, "t").unwrap();
        assert_eq!((p.n_inputs, p.n_outputs), (2, 2));
        assert_eq!(p.cases.len(), 1);
        let c = &p.cases[0];
        assert_eq!(
            (c.lo.clone(), c.hi.clone()),
            (vec![-1.5, 0.0], vec![1.0, 2.0])
        );
        assert_eq!(c.terms.len(), 2);
        assert_eq!(
            c.terms[0],
            vec![OutputAtom {
                c: vec![1.0, -1.0],
                b: 0.0
            }]
        );
        assert_eq!(
            c.terms[1],
            vec![OutputAtom {
                c: vec![-1.0, 0.0],
                b: -3.0
            }]
        );
        assert!(p.is_unsafe(&[0.0, 1.0], &[1.0, 2.0]));
        assert!(p.is_unsafe(&[0.0, 1.0], &[3.0, 2.0]));
        assert!(!p.is_unsafe(&[0.0, 1.0], &[2.5, 2.0]));
        assert!(!p.is_unsafe(&[1.1, 1.0], &[1.0, 2.0]));
    }

    #[test]
    fn disjunctive_boxes_form_separate_cases() {
        let t = "(declare-const X_0 Real)(declare-const Y_0 Real)\n(assert (or (and (<= X_0 1) (>= X_0 0)) (and (<= X_0 -1) (>= X_0 -2))))\n(assert (or (<= Y_0 0) (>= Y_0 5)))";
        let p = parse_vnnlib(t, "t").unwrap();
        assert_eq!(p.cases.len(), 2);
        assert_eq!(p.cases[1].lo, vec![-2.0]);
        assert_eq!(p.cases[0].terms.len(), 2);
    }

    #[test]
    fn errors_point_at_line_and_column() {
        let t = "(declare-const X_0 Real)\n(declare-const Y_0 Real)\n(assert (<= X_0 1))\n(assert (>= X_0 0))\n(assert (<= Y_0 Z_3))";
        let e = parse_vnnlib(t, "p.vnnlib").unwrap_err().to_string();
        assert!(e.contains("p.vnnlib: line 5, column 17"), "{e}");
        let e = parse_vnnlib("(declare-const X_0 Real)\n(assert (< X_0 1)", "q")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("line 2, column 1") && e.contains("never closed"),
            "{e}"
        );
        let e = parse_vnnlib(
            "(declare-const X_0 Real)(declare-const Y_0 Real)(assert (<= X_0 1))",
            "r",
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("not bounded"), "{e}");
        let e = parse_vnnlib(
            "(declare-const X_0 Real)(declare-const Y_0 Real)\n  (assert (< X_0 1))",
            "s",
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("line 2, column 12") && e.contains("'<'"), "{e}");
    }

    proptest::proptest! {
        #[test]
        fn arbitrary_text_never_panics(t in "[()XY_0-9 <=>.;a-z\\-\n]{0,200}") {
            let _ = parse_vnnlib(&t, "fuzz");
        }

        #[test]
        fn mangled_properties_never_panic(cut in 0usize..400, ins in "[()]{0,3}") {
            let base = "(declare-const X_0 Real)(declare-const Y_0 Real)(declare-const Y_1 Real)\n(assert (or (and (<= X_0 1) (>= X_0 0) (<= Y_0 Y_1)) (and (<= X_0 2) (>= X_0 1.5) (>= Y_0 3))))";
            let cut = cut.min(base.len());
            let t = format!("{}{}{}", &base[..cut], ins, &base[cut..]);
            let _ = parse_vnnlib(&t, "fuzz");
        }
    }

    #[test]
    fn exponential_expansion_is_refused_quickly() {
        // 16 conjoined two-way disjunctions: 2^16 = 65,536 terms (under the term cap) of about
        // 40 atoms each, 2.6 M atoms: the atom cap refuses it before the copies are made.
        let mut t = String::from("(declare-const X_0 Real)\n(declare-const Y_0 Real)\n(declare-const Y_1 Real)\n(assert (>= X_0 -1))\n(assert (<= X_0 1))\n");
        for _ in 0..16 {
            t.push_str("(assert (or (and (>= Y_0 1.5) (<= Y_1 Y_0) (<= Y_1 2)) (and (<= Y_0 -0.25) (>= Y_1 0))))\n");
        }
        let t0 = std::time::Instant::now();
        let e = parse_vnnlib(&t, "big.vnnlib").unwrap_err().to_string();
        assert!(e.contains("big.vnnlib") && e.contains("atoms"), "{e}");
        assert!(t0.elapsed().as_secs_f64() < 2.0, "took {:?}", t0.elapsed());
        // The same with 8 asserts (256 terms) is fine.
        let small: String = t.lines().take(13).map(|l| format!("{l}\n")).collect();
        assert_eq!(parse_vnnlib(&small, "s").unwrap().cases.len(), 1);
    }

    #[test]
    fn empty_boxes_are_dropped() {
        // A huge declared index is refused before anything is sized by it (fuzzer find: this
        // used to abort on a 2·10^15-byte allocation).
        let e = parse_vnnlib(
            "(declare-const X_0 Real)\n(declare-const Y_2222222222222220 Real)",
            "big.vnnlib",
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("big.vnnlib") && e.contains("line 2"), "{e}");
        let t = "(declare-const X_0 Real)(declare-const Y_0 Real)(assert (<= X_0 0))(assert (>= X_0 1))(assert (<= Y_0 0))";
        assert!(parse_vnnlib(t, "t").unwrap().cases.is_empty());
    }
}
