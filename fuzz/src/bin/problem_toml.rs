//! Fuzz target: TOML text → `optimize::spec::ProblemSpec` (the `relulab optimize --problem`
//! file, issue 13), then every expression and constraint through the linear-expression parser
//! against a model with 3 named inputs and 12 outputs (the reformer's H2 and N2 among them).
//! Every error must be a located message, never a panic.
#![no_main]
use relulab::optimize::expr::{parse_constraint, parse_expr, Names};

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(spec) = toml::from_str::<relulab::optimize::spec::ProblemSpec>(text) else {
        return;
    };
    let names = Names {
        n_inputs: 3,
        n_outputs: 12,
        inputs: vec!["bypass".into(), "ratio".into(), "z".into()],
        outputs: (0..12)
            .map(|k| match k {
                9 => "H2".to_string(),
                11 => "N2".to_string(),
                _ => format!("c{k}"),
            })
            .collect(),
    };
    for e in spec.maximize.iter().chain(&spec.minimize) {
        if let Err(err) = parse_expr(e, &names) {
            assert!(!err.to_string().is_empty());
        }
    }
    for c in &spec.constraints {
        if let Err(err) = parse_constraint(c, &names) {
            assert!(!err.to_string().is_empty());
        }
    }
});
