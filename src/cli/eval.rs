//! `relulab eval`: Evaluate a model on data.

use anyhow::Context;
use relulab::data::{self, Dataset};
use relulab::io::checkpoint;
use relulab::net::{Loss, Trace};
use relulab::optimize::surrogate::{self, Loaded};
use relulab::train;
use std::path::PathBuf;
use std::process::ExitCode;

/// Options of `relulab eval`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// The model: relulab checkpoint, or PyTorch state_dict (.safetensors, with --activation),
    /// or any format `relulab` reads (.onnx once supported).
    #[arg(long, value_name = "FILE")]
    model: PathBuf,
    /// Hidden activation of a PyTorch state_dict.
    #[arg(long)]
    activation: Option<String>,
    /// Built-in data set.
    #[arg(long)]
    dataset: Option<String>,
    /// Features file (.csv or .npy); targets in --targets or the last column. For a surrogate
    /// checkpoint (`relulab surrogate`): a CSV with a header holding the columns it was trained
    /// on (by name), evaluated in the data's units.
    #[arg(long, value_name = "FILE")]
    data: Option<PathBuf>,
    /// Targets file.
    #[arg(long, value_name = "FILE")]
    targets: Option<PathBuf>,
    /// Which part of a built-in data set: all, or the train/test split of the checkpoint's run.
    #[arg(long, default_value = "all")]
    split: String,
    /// Loss (default: the checkpoint's, else by target kind).
    #[arg(long)]
    loss: Option<String>,
    /// Do not apply the checkpoint's input standardisation.
    #[arg(long)]
    no_standardize: bool,
    /// Inputs to run through the model (.npy, n × d_in); writes --output.
    #[arg(long, value_name = "X.npy")]
    input: Option<PathBuf>,
    /// Where to write the outputs of --input (.npy, n × d_out), atomically; with a surrogate
    /// and --data, its predictions for the rows of --data (data units, float64).
    #[arg(long, value_name = "Y.npy")]
    output: Option<PathBuf>,
    /// Print the result as JSON.
    #[arg(long)]
    json: bool,
}

/// Run `relulab eval`.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let (mlp, is_ck, state) = super::load_with_state(
        &args.model,
        args.activation.as_deref(),
        relulab::io::load_model,
    )?;
    let standardizer = if args.no_standardize {
        None
    } else {
        state.as_ref().and_then(|s| s.standardizer.clone())
    };
    // A surrogate checkpoint (issue 13) carries input and target standardisations: inputs and
    // outputs are in the data's units.
    let surrogate = if is_ck && !args.no_standardize {
        checkpoint::metadata_entry(&args.model, surrogate::META_KEY)?
            .map(|_| surrogate::load(&args.model))
            .transpose()?
    } else {
        None
    };
    if let (Some(sur), Some(data), None, None) =
        (&surrogate, &args.data, &args.input, &args.dataset)
    {
        return eval_surrogate(&args, sur, data);
    }
    if args.output.is_some() && args.input.is_none() {
        anyhow::bail!("--output needs --input X.npy (the inputs whose outputs it writes)");
    }
    if let Some(input) = &args.input {
        let out = args
            .output
            .as_ref()
            .context("--input needs --output Y.npy")?;
        let a = relulab::io::npy::read_npy_f64(input)?;
        let (n, d) = match a.shape.as_slice() {
            [n, d] => (*n, *d),
            s => anyhow::bail!("{}: expected a 2-D array, got shape {s:?}", input.display()),
        };
        anyhow::ensure!(
            d == mlp.input_dim(),
            "{}: {d} features per row, but the model takes {}",
            input.display(),
            mlp.input_dim()
        );
        if let Some(k) = a.data.iter().position(|v| !v.is_finite()) {
            anyhow::bail!(
                "{}: row {}, column {}: not finite",
                input.display(),
                k / d,
                k % d
            );
        }
        let mut ds = Dataset {
            name: input.display().to_string(),
            n,
            d,
            x: a.data.iter().map(|&v| v as f32).collect(),
            targets: data::Targets::Values {
                values: Vec::new(),
                dim: 0,
            },
        };
        let surrogate = surrogate.map(|l| l.scaling);
        if let Some(sc) = &surrogate {
            ds.x = a
                .data
                .chunks(d)
                .flat_map(|r| sc.to_net(r))
                .map(|v| v as f32)
                .collect();
        } else if let Some(st) = &standardizer {
            st.apply(&mut ds);
        }
        let mut trace = Trace::default();
        mlp.forward_batch(&ds.x, n, &mut trace);
        let m = mlp.output_dim();
        let y: Vec<f32> = match &surrogate {
            Some(sc) => trace
                .output()
                .chunks(m)
                .flat_map(|r| sc.to_user_y(&r.iter().map(|&v| v as f64).collect::<Vec<_>>()))
                .map(|v| v as f32)
                .collect(),
            None => trace.output().to_vec(),
        };
        relulab::io::npy::write_npy(out, &[n, m], &y)?;
        return Ok(ExitCode::SUCCESS);
    }
    let spec = state.as_ref().map(|s| s.spec.clone()).unwrap_or_default();
    let loss: Option<Loss> = match &args.loss {
        Some(l) => Some(l.parse().map_err(anyhow::Error::msg)?),
        None => state.as_ref().and_then(|s| s.spec.loss),
    };
    let labels = loss.is_none_or(|l| l.wants_labels());
    let full = match (&args.dataset, &args.data) {
        (Some(name), None) => data::by_name(name, spec.seed, spec.n_samples, spec.noise)?,
        (None, Some(p)) => data::csv::load(p, args.targets.as_deref(), labels)?,
        _ => anyhow::bail!("give exactly one of --dataset NAME or --data FILE"),
    };
    let mut ds = match args.split.as_str() {
        "all" => full,
        "train" | "test" => {
            anyhow::ensure!(
                state.is_some() && spec.test_fraction > 0.0,
                "--split {} needs a training checkpoint with a test split",
                args.split
            );
            let (tr, te) = full.split(spec.test_fraction, spec.seed)?;
            if args.split == "train" {
                tr
            } else {
                te
            }
        }
        s => anyhow::bail!("--split {s}: expected all, train or test"),
    };
    if let Some(st) = &standardizer {
        anyhow::ensure!(
            st.mean.len() == ds.d,
            "{}: {} features, the model's standardisation has {}",
            ds.name,
            ds.d,
            st.mean.len()
        );
        st.apply(&mut ds);
    }
    let loss = loss.unwrap_or_else(|| spec.loss_for(&ds.targets));
    let (l, acc) = train::evaluate(&mlp, &ds, loss)?;
    if args.json {
        println!(
            "{}",
            serde_json::json!({"loss": l, "accuracy": acc, "n": ds.n, "loss_name": loss.name()})
        );
    } else {
        print!("{} samples: {loss} {l:.6}", ds.n);
        if let Some(a) = acc {
            print!(", accuracy {:.2}%", 100.0 * a);
        }
        println!();
    }
    Ok(ExitCode::SUCCESS)
}

/// Column `name` of a table header (a surrogate records names with spaces as `_`).
fn column_of(names: &[String], name: &str) -> Option<usize> {
    names
        .iter()
        .position(|n| n == name || n.replace(' ', "_") == name)
}

/// `relulab eval --data FILE` on a surrogate checkpoint: its input and output columns of the
/// CSV (by the names it records), the inputs standardised and the predictions un-standardised
/// with its scalings, so predictions and errors are in the data's units.
fn eval_surrogate(args: &Args, sur: &Loaded, data: &std::path::Path) -> anyhow::Result<ExitCode> {
    if args.targets.is_some() {
        anyhow::bail!(
            "--targets: a surrogate's targets are its output columns ({}) of --data",
            sur.output_names.join(", ")
        );
    }
    if args.split != "all" {
        anyhow::bail!(
            "--split {}: a surrogate checkpoint records no train/test split; use --split all",
            args.split
        );
    }
    if let Some(l) = &args.loss {
        let l: Loss = l.parse().map_err(anyhow::Error::msg)?;
        anyhow::ensure!(
            l == Loss::Mse,
            "--loss {}: a surrogate (a regression model) is evaluated with mse",
            l.name()
        );
    }
    let mlp = &sur.mlp;
    let (d, m) = (mlp.input_dim(), mlp.output_dim());
    let t = surrogate::read_table(data)?;
    let named = sur.input_names.len() == d && sur.output_names.len() == m;
    let (ic, oc): (Vec<usize>, Vec<usize>) = if named {
        let find = |name: &str, what: &str, k: usize| {
            column_of(&t.names, name).with_context(|| {
                format!(
                    "{}: no column '{name}' (the surrogate's {what} {k}); the header has: {}",
                    data.display(),
                    t.names.join(", ")
                )
            })
        };
        (
            sur.input_names
                .iter()
                .enumerate()
                .map(|(k, n)| find(n, "input", k))
                .collect::<anyhow::Result<_>>()?,
            sur.output_names
                .iter()
                .enumerate()
                .map(|(k, n)| find(n, "output", k))
                .collect::<anyhow::Result<_>>()?,
        )
    } else {
        // No names recorded: the first d columns are the inputs, the next m the targets.
        anyhow::ensure!(
            t.names.len() == d + m,
            "{}: {} columns; the surrogate records no column names, so the file must hold its {d} inputs then its {m} outputs",
            data.display(),
            t.names.len()
        );
        ((0..d).collect(), (d..d + m).collect())
    };
    let n = t.rows.len();
    let x: Vec<f32> = t
        .rows
        .iter()
        .flat_map(|r| {
            sur.scaling
                .to_net(&ic.iter().map(|&i| r[i]).collect::<Vec<_>>())
        })
        .map(|v| v as f32)
        .collect();
    let mut trace = Trace::default();
    mlp.forward_batch(&x, n, &mut trace);
    let pred: Vec<f64> = trace
        .output()
        .chunks(m)
        .flat_map(|r| {
            sur.scaling
                .to_user_y(&r.iter().map(|&v| v as f64).collect::<Vec<_>>())
        })
        .collect();
    // Errors per output, in the data's units.
    let (mut se, mut ae, mut mx) = (vec![0.0f64; m], vec![0.0f64; m], vec![0.0f64; m]);
    for (r, row) in t.rows.iter().enumerate() {
        for k in 0..m {
            let e = pred[r * m + k] - row[oc[k]];
            se[k] += e * e;
            ae[k] += e.abs();
            mx[k] = mx[k].max(e.abs());
        }
    }
    let name = |k: usize| {
        sur.output_names
            .get(k)
            .cloned()
            .unwrap_or_else(|| format!("y[{k}]"))
    };
    let mse = se.iter().sum::<f64>() / (n * m) as f64;
    if let Some(out) = &args.output {
        relulab::io::npy::write_npy(out, &[n, m], &pred)?;
    }
    if args.json {
        let outputs: Vec<serde_json::Value> = (0..m)
            .map(|k| {
                serde_json::json!({
                    "name": name(k),
                    "mse": se[k] / n as f64,
                    "rmse": (se[k] / n as f64).sqrt(),
                    "mae": ae[k] / n as f64,
                    "max_abs_error": mx[k],
                })
            })
            .collect();
        println!(
            "{}",
            serde_json::json!({"loss": mse, "accuracy": null, "n": n, "loss_name": "mse",
                "units": "data", "outputs": outputs})
        );
    } else {
        println!(
            "{n} samples: mse {mse:.6e} in the data's units (the surrogate's target standardisation undone)"
        );
        for k in 0..m {
            println!(
                "  {}: rmse {:.6e}, mae {:.6e}, max |error| {:.6e}",
                name(k),
                (se[k] / n as f64).sqrt(),
                ae[k] / n as f64,
                mx[k]
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}
