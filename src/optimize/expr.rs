//! Linear expressions over a model's inputs `x[i]` and outputs `y[i]` (issue 13): the
//! objective and constraints of `relulab optimize`.
//!
//! Grammar (whitespace ignored):
//!
//! ```text
//! constraint := expr (op expr)+         op: <=  >=  ==  <  >  =   (a chain: 0 <= x\[0\] <= 1)
//! expr       := term (('+' | '-') term)*
//! term       := factor (('*' | '/') factor)*
//! factor     := number | 'x\[' int '\]' | 'y\[' int '\]' | name | '(' expr ')' | ('+' | '-') factor
//! ```
//!
//! A product is allowed when one side is a constant, a quotient when the divisor is; anything
//! else (a product of two variables, a power, a function) is refused as non-linear with the
//! column where it starts. Names are the model's column names (from the checkpoint) when they
//! are identifiers.

use std::collections::BTreeMap;

/// A variable of an expression.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Var {
    /// Input `x[i]` (user units).
    X(usize),
    /// Output `y[i]` (user units).
    Y(usize),
}

impl std::fmt::Display for Var {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Var::X(i) => write!(f, "x[{i}]"),
            Var::Y(i) => write!(f, "y[{i}]"),
        }
    }
}

/// A linear expression `Σ coef·var + constant`.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct LinExpr {
    /// Coefficients (zero coefficients are kept: `y[3] - y[3]` still names y\[3\]).
    pub coefs: BTreeMap<Var, f64>,
    /// The constant term.
    pub constant: f64,
}

impl LinExpr {
    fn constant(c: f64) -> Self {
        LinExpr {
            coefs: BTreeMap::new(),
            constant: c,
        }
    }
    fn is_constant(&self) -> bool {
        self.coefs.is_empty()
    }
    fn scale(mut self, k: f64) -> Self {
        self.coefs.values_mut().for_each(|v| *v *= k);
        self.constant *= k;
        self
    }
    fn add(mut self, other: LinExpr, sign: f64) -> Self {
        for (v, c) in other.coefs {
            *self.coefs.entry(v).or_insert(0.0) += sign * c;
        }
        self.constant += sign * other.constant;
        self
    }
}

/// Comparison of a constraint.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cmp {
    /// `≤` (also `<`: the feasible set is closed, so `<` is read as `≤`).
    Le,
    /// `≥` (also `>`).
    Ge,
    /// `=`.
    Eq,
}

/// A parsed constraint `expr ≤ 0` (every comparison is moved to this form).
#[derive(Clone, Debug, PartialEq)]
pub struct LinConstraint {
    /// `lhs − rhs` of each comparison, as `expr ≤ 0` (an equality gives two).
    pub parts: Vec<LinExpr>,
}

/// A parse error: the 1-based column (in characters) and what is wrong.
#[derive(Clone, Debug, PartialEq)]
pub struct ExprError {
    /// Column of the offending token (1-based).
    pub column: usize,
    /// The message.
    pub message: String,
}

impl std::fmt::Display for ExprError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "column {}: {}", self.column, self.message)
    }
}

/// What names and indices an expression may use.
#[derive(Clone, Debug, Default)]
pub struct Names {
    /// Number of inputs.
    pub n_inputs: usize,
    /// Number of outputs.
    pub n_outputs: usize,
    /// Input column names (may be empty).
    pub inputs: Vec<String>,
    /// Output column names (may be empty).
    pub outputs: Vec<String>,
}

#[derive(Clone, Debug, PartialEq)]
enum Tok {
    Num(f64),
    Ident(String),
    Op(&'static str),
}

fn err<T>(column: usize, message: impl Into<String>) -> Result<T, ExprError> {
    Err(ExprError {
        column,
        message: message.into(),
    })
}

fn lex(s: &str) -> Result<Vec<(Tok, usize)>, ExprError> {
    let ch: Vec<char> = s.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < ch.len() {
        let c = ch[i];
        let col = i + 1;
        if c.is_whitespace() {
            i += 1;
        } else if c.is_ascii_digit()
            || (c == '.' && ch.get(i + 1).is_some_and(|d| d.is_ascii_digit()))
        {
            let start = i;
            while i < ch.len() && (ch[i].is_ascii_digit() || ch[i] == '.') {
                i += 1;
            }
            if i < ch.len() && (ch[i] == 'e' || ch[i] == 'E') {
                let mut j = i + 1;
                if j < ch.len() && (ch[j] == '+' || ch[j] == '-') {
                    j += 1;
                }
                if j < ch.len() && ch[j].is_ascii_digit() {
                    i = j;
                    while i < ch.len() && ch[i].is_ascii_digit() {
                        i += 1;
                    }
                }
            }
            let text: String = ch[start..i].iter().collect();
            match text.parse::<f64>() {
                Ok(v) if v.is_finite() => out.push((Tok::Num(v), col)),
                _ => return err(col, format!("'{text}' is not a finite number")),
            }
        } else if c.is_alphabetic() || c == '_' {
            let start = i;
            while i < ch.len() && (ch[i].is_alphanumeric() || ch[i] == '_') {
                i += 1;
            }
            out.push((Tok::Ident(ch[start..i].iter().collect()), col));
        } else {
            let two: String = ch[i..(i + 2).min(ch.len())].iter().collect();
            let op: &'static str = match two.as_str() {
                "<=" => "<=",
                ">=" => ">=",
                "==" => "==",
                "**" => "**",
                _ => match c {
                    '+' => "+",
                    '-' => "-",
                    '*' => "*",
                    '/' => "/",
                    '(' => "(",
                    ')' => ")",
                    '[' => "[",
                    ']' => "]",
                    '<' => "<",
                    '>' => ">",
                    '=' => "=",
                    '^' => "^",
                    _ => return err(col, format!("unexpected character '{c}'")),
                },
            };
            i += op.len();
            out.push((Tok::Op(op), col));
        }
    }
    Ok(out)
}

struct Parser<'a> {
    toks: Vec<(Tok, usize)>,
    pos: usize,
    end: usize,
    names: &'a Names,
}

impl<'a> Parser<'a> {
    /// A parser over the tokens of `s`.
    fn new(s: &str, names: &'a Names) -> Result<Self, ExprError> {
        Ok(Parser {
            end: s.chars().count() + 1,
            toks: lex(s)?,
            pos: 0,
            names,
        })
    }

    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.pos).map(|t| &t.0)
    }
    fn col(&self) -> usize {
        self.toks.get(self.pos).map_or(self.end, |t| t.1)
    }
    fn is_op(&self, op: &str) -> bool {
        matches!(self.peek(), Some(Tok::Op(o)) if *o == op)
    }
    fn expect(&mut self, op: &str) -> Result<(), ExprError> {
        if self.is_op(op) {
            self.pos += 1;
            Ok(())
        } else {
            err(self.col(), format!("expected '{op}'"))
        }
    }

    fn expr(&mut self) -> Result<LinExpr, ExprError> {
        let mut acc = self.term()?;
        loop {
            let sign = if self.is_op("+") {
                1.0
            } else if self.is_op("-") {
                -1.0
            } else {
                return Ok(acc);
            };
            self.pos += 1;
            let t = self.term()?;
            acc = acc.add(t, sign);
        }
    }

    fn term(&mut self) -> Result<LinExpr, ExprError> {
        let mut acc = self.factor()?;
        loop {
            let col = self.col();
            if self.is_op("*") {
                self.pos += 1;
                let f = self.factor()?;
                acc = if f.is_constant() {
                    acc.scale(f.constant)
                } else if acc.is_constant() {
                    f.scale(acc.constant)
                } else {
                    return err(
                        col,
                        "non-linear term: a product of two variables (the objective and constraints must be linear in x and y)",
                    );
                };
            } else if self.is_op("/") {
                self.pos += 1;
                let f = self.factor()?;
                if !f.is_constant() {
                    return err(col, "non-linear term: division by a variable");
                }
                if f.constant == 0.0 {
                    return err(col, "division by zero");
                }
                acc = acc.scale(1.0 / f.constant);
            } else if self.is_op("^") || self.is_op("**") {
                return err(
                    col,
                    "non-linear term: a power (the expression must be linear)",
                );
            } else {
                return Ok(acc);
            }
        }
    }

    fn index(&mut self) -> Result<(usize, usize), ExprError> {
        self.expect("[")?;
        let col = self.col();
        let v = match self.peek() {
            Some(Tok::Num(v)) => *v,
            _ => return err(col, "expected an index"),
        };
        if v < 0.0 || v.fract() != 0.0 || v > 1e9 {
            return err(col, format!("index {v} is not a non-negative integer"));
        }
        self.pos += 1;
        self.expect("]")?;
        Ok((v as usize, col))
    }

    fn factor(&mut self) -> Result<LinExpr, ExprError> {
        let col = self.col();
        let tok = match self.peek() {
            Some(t) => t.clone(),
            None => return err(col, "unexpected end of expression"),
        };
        self.pos += 1;
        match tok {
            Tok::Num(v) => Ok(LinExpr::constant(v)),
            Tok::Op("(") => {
                let e = self.expr()?;
                self.expect(")")?;
                Ok(e)
            }
            Tok::Op("-") => Ok(self.factor()?.scale(-1.0)),
            Tok::Op("+") => self.factor(),
            Tok::Op(o) => err(col, format!("unexpected '{o}'")),
            Tok::Ident(name) => {
                if self.is_op("(") {
                    return err(
                        col,
                        format!(
                            "non-linear term: function '{name}' (the expression must be linear)"
                        ),
                    );
                }
                let var = if (name == "x" || name == "y") && self.is_op("[") {
                    let (i, icol) = self.index()?;
                    if name == "x" {
                        if i >= self.names.n_inputs {
                            return err(
                                icol,
                                format!(
                                    "unknown input x[{i}]: the model has {} input(s) (x[0]..x[{}])",
                                    self.names.n_inputs,
                                    self.names.n_inputs.saturating_sub(1)
                                ),
                            );
                        }
                        Var::X(i)
                    } else {
                        if i >= self.names.n_outputs {
                            return err(
                                icol,
                                format!(
                                    "unknown output y[{i}]: the model has {} output(s) (y[0]..y[{}])",
                                    self.names.n_outputs,
                                    self.names.n_outputs.saturating_sub(1)
                                ),
                            );
                        }
                        Var::Y(i)
                    }
                } else if let Some(i) = self.names.outputs.iter().position(|n| *n == name) {
                    Var::Y(i)
                } else if let Some(i) = self.names.inputs.iter().position(|n| *n == name) {
                    Var::X(i)
                } else {
                    return err(
                        col,
                        format!(
                            "unknown name '{name}': use x[i], y[i] or a column name of the model"
                        ),
                    );
                };
                let mut e = LinExpr::default();
                e.coefs.insert(var, 1.0);
                Ok(e)
            }
        }
    }
}

/// Parse a linear expression.
pub fn parse_expr(s: &str, names: &Names) -> Result<LinExpr, ExprError> {
    let mut p = Parser::new(s, names)?;
    let e = p.expr()?;
    if p.pos < p.toks.len() {
        let col = p.col();
        return if matches!(
            p.peek(),
            Some(Tok::Op("<" | ">" | "<=" | ">=" | "=" | "=="))
        ) {
            err(
                col,
                "a comparison in an objective (give constraints with --constraint)",
            )
        } else if matches!(p.peek(), Some(Tok::Ident(_) | Tok::Num(_) | Tok::Op("("))) {
            err(
                col,
                "non-linear or malformed term: two operands without an operator between them",
            )
        } else {
            err(col, "unexpected token")
        };
    }
    Ok(e)
}

/// Parse a constraint: expressions joined by comparisons (`a <= b`, `lo <= e <= hi`).
pub fn parse_constraint(s: &str, names: &Names) -> Result<LinConstraint, ExprError> {
    let mut p = Parser::new(s, names)?;
    let mut exprs = vec![p.expr()?];
    let mut ops = Vec::new();
    while let Some(Tok::Op(o)) = p.peek() {
        let cmp = match *o {
            "<=" | "<" => Cmp::Le,
            ">=" | ">" => Cmp::Ge,
            "==" | "=" => Cmp::Eq,
            _ => break,
        };
        p.pos += 1;
        ops.push(cmp);
        exprs.push(p.expr()?);
    }
    if p.pos < p.toks.len() {
        return err(p.col(), "unexpected token (non-linear or malformed term?)");
    }
    if ops.is_empty() {
        return err(p.end, "a constraint needs a comparison (<=, >= or ==)");
    }
    let mut parts = Vec::new();
    for (k, op) in ops.iter().enumerate() {
        let d = exprs[k].clone().add(exprs[k + 1].clone(), -1.0);
        match op {
            Cmp::Le => parts.push(d),
            Cmp::Ge => parts.push(d.scale(-1.0)),
            Cmp::Eq => {
                parts.push(d.clone());
                parts.push(d.scale(-1.0));
            }
        }
    }
    Ok(LinConstraint { parts })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names() -> Names {
        Names {
            n_inputs: 2,
            n_outputs: 12,
            inputs: vec!["bypass".into(), "ratio".into()],
            outputs: (0..12).map(|i| format!("o{i}")).collect(),
        }
    }

    #[test]
    fn linear_forms_are_collected() {
        let e = parse_expr("2*y[3] - (y[8] - x[1]) / 4 + 3 + o1 - 0.5e1", &names()).unwrap();
        assert_eq!(e.coefs[&Var::Y(3)], 2.0);
        assert_eq!(e.coefs[&Var::Y(8)], -0.25);
        assert_eq!(e.coefs[&Var::X(1)], 0.25);
        assert_eq!(e.coefs[&Var::Y(1)], 1.0);
        assert_eq!(e.constant, -2.0);
    }

    #[test]
    fn errors_are_located() {
        let n = names();
        let e = parse_expr("y[3] - y[12]", &n).unwrap_err();
        assert_eq!(e.column, 10);
        assert!(e.message.contains("unknown output y[12]"), "{e}");
        let e = parse_expr("y[3] * y[2]", &n).unwrap_err();
        assert_eq!(e.column, 6);
        assert!(e.message.contains("non-linear"));
        assert!(parse_expr("y[1]^2", &n)
            .unwrap_err()
            .message
            .contains("non-linear"));
        assert!(parse_expr("exp(y[1])", &n)
            .unwrap_err()
            .message
            .contains("non-linear"));
        assert!(parse_expr("1 / x[0]", &n)
            .unwrap_err()
            .message
            .contains("non-linear"));
        assert!(parse_expr("foo", &n)
            .unwrap_err()
            .message
            .contains("unknown name"));
        assert!(parse_constraint("y[1] + 2", &n).is_err());
    }

    #[test]
    fn constraints_become_le_zero() {
        let c = parse_constraint("0.1 <= x[0] <= 0.8", &names()).unwrap();
        assert_eq!(c.parts.len(), 2);
        assert_eq!(c.parts[0].coefs[&Var::X(0)], -1.0);
        assert_eq!(c.parts[0].constant, 0.1);
        assert_eq!(c.parts[1].coefs[&Var::X(0)], 1.0);
        assert_eq!(c.parts[1].constant, -0.8);
        let c = parse_constraint("y[11] == 0.34", &names()).unwrap();
        assert_eq!(c.parts.len(), 2);
    }
}
