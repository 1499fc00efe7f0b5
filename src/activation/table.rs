//! Helpers shared by the command line and the tour: build an activation from a name and
//! optional parameters (with one clear error per mistake), and tabulate f and f' at points.

use super::{Activation, ACTIVATION_NAMES};
use crate::error::{Error, Result};
use serde::Serialize;

/// Optional parameters given by name, as on the command line (`--alpha`, `--eps`,
/// `--prime-at-zero`).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Params {
    /// Leaky ReLU's negative_slope, PReLU's α, ELU's α.
    pub alpha: Option<f64>,
    /// ReLU+εx's ε.
    pub eps: Option<f64>,
    /// The derivative at exactly 0 (ReLU, Leaky ReLU, ReLU+εx).
    pub prime_at_zero: Option<f64>,
}

/// The activation `name` with `params` applied: a parameter the activation does not have is an
/// error naming it, as is an unknown name or an invalid value (ReLU'(0) outside [0, 1], …).
/// Leaky ReLU'(0) follows α unless given; ReLU+εx'(0) follows ε unless given.
pub fn build(name: &str, params: Params) -> Result<Activation> {
    let base = Activation::by_name(name).ok_or_else(|| {
        Error::Value(format!(
            "unknown activation '{name}'; expected one of {}",
            ACTIVATION_NAMES.join(", ")
        ))
    })?;
    let refuse = |what: &str| {
        Error::Value(format!(
            "{} has no parameter {what} (see `relulab act --help`)",
            base.name()
        ))
    };
    let act = match base {
        Activation::Relu { prime_at_zero } => {
            if params.alpha.is_some() {
                return Err(refuse("--alpha"));
            }
            if params.eps.is_some() {
                return Err(refuse("--eps"));
            }
            Activation::Relu {
                prime_at_zero: params.prime_at_zero.unwrap_or(prime_at_zero),
            }
        }
        Activation::LeakyRelu { negative_slope, .. } => {
            if params.eps.is_some() {
                return Err(refuse("--eps"));
            }
            let a = params.alpha.unwrap_or(negative_slope);
            Activation::LeakyRelu {
                negative_slope: a,
                prime_at_zero: params.prime_at_zero.unwrap_or(a),
            }
        }
        Activation::Prelu { alpha } => {
            if params.eps.is_some() {
                return Err(refuse("--eps"));
            }
            if params.prime_at_zero.is_some() {
                return Err(Error::Value(
                    "prelu: PReLU'(0) is α by definition; --prime-at-zero does not apply".into(),
                ));
            }
            Activation::Prelu {
                alpha: params.alpha.unwrap_or(alpha),
            }
        }
        Activation::ReluEps { eps, .. } => {
            if params.alpha.is_some() {
                return Err(refuse("--alpha"));
            }
            let e = params.eps.unwrap_or(eps);
            Activation::ReluEps {
                eps: e,
                prime_at_zero: params.prime_at_zero.unwrap_or(e),
            }
        }
        Activation::Elu { alpha } => {
            if params.eps.is_some() {
                return Err(refuse("--eps"));
            }
            if params.prime_at_zero.is_some() {
                return Err(refuse("--prime-at-zero"));
            }
            Activation::Elu {
                alpha: params.alpha.unwrap_or(alpha),
            }
        }
        other => {
            if params.alpha.is_some() {
                return Err(refuse("--alpha"));
            }
            if params.eps.is_some() {
                return Err(refuse("--eps"));
            }
            if params.prime_at_zero.is_some() {
                return Err(refuse("--prime-at-zero (it is differentiable at 0)"));
            }
            other
        }
    };
    act.validate()?;
    Ok(act)
}

/// One activation's value and derivative at each point.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Row {
    /// Canonical name.
    pub name: &'static str,
    /// (f(x), f'(x)) for each x, in the order of the points.
    pub values: Vec<(f64, f64)>,
}

/// f and f' (f64 reference) of each activation at each point: the activation table of the tour.
pub fn table(acts: &[Activation], xs: &[f64]) -> Vec<Row> {
    acts.iter()
        .map(|a| Row {
            name: a.name(),
            values: xs.iter().map(|&x| (a.f(x), a.df(x))).collect(),
        })
        .collect()
}

/// The family as the issue lists it, each with its default parameters (no identity).
pub fn family() -> Vec<Activation> {
    ACTIVATION_NAMES
        .iter()
        .filter(|&&n| n != "identity")
        .map(|n| Activation::by_name(n).expect("listed names parse"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parameters_apply_and_conventions_follow() {
        let p = Params {
            alpha: Some(0.2),
            ..Default::default()
        };
        assert_eq!(build("leaky_relu", p).unwrap(), Activation::leaky(0.2));
        assert_eq!(build("prelu", p).unwrap(), Activation::Prelu { alpha: 0.2 });
        let p = Params {
            eps: Some(0.1),
            ..Default::default()
        };
        assert_eq!(build("relu_eps", p).unwrap(), Activation::relu_eps(0.1));
        let p = Params {
            prime_at_zero: Some(1.0),
            ..Default::default()
        };
        assert_eq!(
            build("relu", p).unwrap(),
            Activation::Relu { prime_at_zero: 1.0 }
        );
    }

    #[test]
    fn mistakes_are_named() {
        let e = build(
            "relu",
            Params {
                alpha: Some(0.1),
                ..Default::default()
            },
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("relu") && e.contains("--alpha"), "{e}");
        let e = build(
            "relu",
            Params {
                prime_at_zero: Some(1.5),
                ..Default::default()
            },
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("[0, 1]"), "{e}");
        let e = build("rleu", Params::default()).unwrap_err().to_string();
        assert!(e.contains("rleu") && e.contains("leaky_relu"), "{e}");
        assert!(build(
            "gelu",
            Params {
                prime_at_zero: Some(0.0),
                ..Default::default()
            }
        )
        .is_err());
        assert!(build(
            "leaky_relu",
            Params {
                alpha: Some(f64::NAN),
                ..Default::default()
            }
        )
        .is_err());
    }

    #[test]
    fn table_rows_follow_the_reference() {
        let rows = table(&family(), &[-1.0, 0.0, 2.0]);
        assert_eq!(rows.len(), 11);
        let relu = rows.iter().find(|r| r.name == "relu").unwrap();
        assert_eq!(relu.values, vec![(0.0, 0.0), (0.0, 0.0), (2.0, 1.0)]);
    }
}
