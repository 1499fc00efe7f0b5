//! `relulab bounds`: output bounds of a network on an input box by IBP, CROWN and α-CROWN.

use anyhow::{bail, Context};
use relulab::verify::{load_network, load_vnnlib, output_bounds, Method, PwlNet};
use std::path::PathBuf;
use std::process::ExitCode;

/// Options of `relulab bounds`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// The network (.onnx, .safetensors checkpoint, or .json Mlp).
    #[arg(long)]
    model: PathBuf,
    /// The input box, one `lo:hi` per input separated by commas, e.g. `-1:1,-1:1`.
    #[arg(long, required_unless_present = "property", allow_hyphen_values = true)]
    r#box: Option<String>,
    /// Take the input box from a VNN-LIB property (its first box).
    #[arg(long, conflicts_with = "box")]
    property: Option<PathBuf>,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

fn parse_box(s: &str) -> anyhow::Result<(Vec<f64>, Vec<f64>)> {
    let mut lo = Vec::new();
    let mut hi = Vec::new();
    for (i, part) in s.split(',').enumerate() {
        let (a, b) = part
            .split_once(':')
            .with_context(|| format!("--box entry {i} '{part}': expected lo:hi"))?;
        let (a, b): (f64, f64) = (
            a.trim()
                .parse()
                .with_context(|| format!("--box entry {i}: '{a}' is not a number"))?,
            b.trim()
                .parse()
                .with_context(|| format!("--box entry {i}: '{b}' is not a number"))?,
        );
        if !(a.is_finite() && b.is_finite() && a <= b) {
            bail!("--box entry {i}: need finite lo <= hi, got {a}:{b}");
        }
        lo.push(a);
        hi.push(b);
    }
    Ok((lo, hi))
}

/// Run `relulab bounds`.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let mlp = load_network(&args.model)?;
    let net = PwlNet::from_mlp(&mlp)?;
    let (lo, hi) = match (&args.r#box, &args.property) {
        (Some(b), _) => parse_box(b)?,
        (None, Some(p)) => {
            let prop = load_vnnlib(p)?;
            let c = prop
                .cases
                .first()
                .with_context(|| format!("{}: the input region is empty", p.display()))?;
            (c.lo.clone(), c.hi.clone())
        }
        (None, None) => bail!("give --box or --property"),
    };
    if lo.len() != net.input_dim() {
        bail!(
            "the box has {} entries, the network has {} inputs",
            lo.len(),
            net.input_dim()
        );
    }
    let methods = [Method::Ibp, Method::Crown, Method::AlphaCrown];
    type Row = (Method, (Vec<f64>, Vec<f64>));
    let res: Vec<Row> = methods
        .iter()
        .map(|&m| (m, output_bounds(&net, &lo, &hi, m)))
        .collect();
    if args.json {
        let j: serde_json::Map<String, serde_json::Value> = res
            .iter()
            .map(|(m, (l, h))| {
                (
                    m.name().to_string(),
                    serde_json::json!({"lower": l, "upper": h}),
                )
            })
            .collect();
        println!("{}", serde_json::Value::Object(j));
    } else {
        println!(
            "{:>8} {:>28} {:>28} {:>28}",
            "output", "IBP", "CROWN", "alpha-CROWN"
        );
        for j in 0..net.output_dim() {
            let cell = |k: usize| format!("[{:.6}, {:.6}]", res[k].1 .0[j], res[k].1 .1[j]);
            println!(
                "{:>8} {:>28} {:>28} {:>28}",
                format!("Y_{j}"),
                cell(0),
                cell(1),
                cell(2)
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}
