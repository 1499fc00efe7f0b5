//! `relulab regions`: Exact linear regions of a network.
//!
//! Modes: the 2-D partition of a slice (default), the pieces along a segment (`--segment`), the
//! sampling estimate (`--sample N`), and the sweep over width and depth at initialisation
//! (`--sweep`). The network comes from `--model` (relulab checkpoint, PyTorch state_dict with
//! `--activation`, ONNX) or `--init-he WIDTHS` (a He-initialised ReLU net, seeded).

use anyhow::{bail, Context};
use relulab::activation::Activation;
use relulab::io::load_model;
use relulab::regions::render::{write_atomic, write_png, write_svg, Colouring, RenderOptions};
use relulab::regions::study::{he_relu_net, init_sweep};
use relulab::regions::{
    partition, sample_patterns, segment, Boundary, GeoNet, PlaneOptions, SampleOptions, Slice,
};
use relulab::Mlp;
use serde_json::json;
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

/// Options of `relulab regions` (boxed: keeps the subcommand enum small).
#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(flatten)]
    inner: Box<Opts>,
}

/// The options themselves.
#[derive(clap::Args, Debug)]
struct Opts {
    /// Model file: .safetensors (relulab checkpoint, or PyTorch state_dict with --activation) or
    /// .onnx.
    #[arg(long, value_name = "M")]
    model: Option<PathBuf>,
    /// Hidden activation of a PyTorch state_dict (relu, leaky_relu, prelu, relu_eps).
    #[arg(long, value_name = "NAME")]
    activation: Option<String>,
    /// Instead of a model: a He-initialised ReLU net with these widths, e.g. 2,64,64,1.
    #[arg(long, value_name = "WIDTHS", conflicts_with = "model")]
    init_he: Option<String>,
    /// Seed of --init-he and of --sample.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Slice box U0,U1,V0,V1.
    #[arg(
        long = "box",
        value_name = "U0,U1,V0,V1",
        allow_hyphen_values = true,
        default_value = "-2,2,-2,2"
    )]
    bbox: String,
    /// Slice origin x0 (default: the zero vector).
    #[arg(long, value_name = "X", allow_hyphen_values = true)]
    origin: Option<String>,
    /// Slice direction a (default: the first unit vector).
    #[arg(long, value_name = "X", allow_hyphen_values = true)]
    dir_a: Option<String>,
    /// Slice direction b (default: the second unit vector).
    #[arg(long, value_name = "X", allow_hyphen_values = true)]
    dir_b: Option<String>,
    /// 1-D mode: the pieces along the segment from X0 to X1 (comma-separated inputs).
    #[arg(long, num_args = 2, value_names = ["X0", "X1"], allow_hyphen_values = true)]
    segment: Option<Vec<String>>,
    /// Sampling mode: distinct activation patterns among N uniform inputs in --range.
    #[arg(long, value_name = "N")]
    sample: Option<usize>,
    /// Sampling box LO,HI (every coordinate).
    #[arg(
        long,
        value_name = "LO,HI",
        allow_hyphen_values = true,
        default_value = "-1,1"
    )]
    range: String,
    /// Study mode: regions vs width and depth at initialisation (He-initialised 2-[w]×L-1 nets
    /// on --box).
    #[arg(long)]
    sweep: bool,
    /// Widths of the sweep.
    #[arg(long, default_value = "8,16,32,64")]
    widths: String,
    /// Depths of the sweep.
    #[arg(long, default_value = "1,2,3,4,6,8")]
    depths: String,
    /// Also cut by a decision boundary and draw it: "O" (zero set of output O, a one-logit
    /// classifier) or "A=B" (where outputs A and B are equal, a two-logit classifier).
    #[arg(long, value_name = "O|A=B")]
    boundary: Option<String>,
    /// Write the mosaic (or the sweep chart, or the sampling growth curve) as SVG.
    #[arg(long, value_name = "F")]
    svg: Option<PathBuf>,
    /// Write the mosaic as PNG.
    #[arg(long, value_name = "F")]
    png: Option<PathBuf>,
    /// Picture width in pixels.
    #[arg(long, default_value_t = 800)]
    px: u32,
    /// Colour cells by "pattern" or by "output:O" (value of output O).
    #[arg(long, default_value = "pattern")]
    colour: String,
    /// Stop with an error beyond this many cells (keeps memory bounded).
    #[arg(long, default_value_t = 20_000_000)]
    max_cells: usize,
    /// Print JSON instead of text.
    #[arg(long)]
    json: bool,
    /// With --json: every polygon with its pattern and output maps.
    #[arg(long)]
    polygons: bool,
}

fn numbers(field: &str, s: &str) -> anyhow::Result<Vec<f64>> {
    s.split(',')
        .enumerate()
        .map(|(k, t)| {
            let v: f64 = t
                .trim()
                .parse()
                .with_context(|| format!("--{field}: value {} ({t:?}) is not a number", k + 1))?;
            if !v.is_finite() {
                bail!("--{field}: value {} is not finite", k + 1);
            }
            Ok(v)
        })
        .collect()
}

fn counts(field: &str, s: &str) -> anyhow::Result<Vec<usize>> {
    s.split(',')
        .map(|t| {
            t.trim()
                .parse::<usize>()
                .ok()
                .filter(|&v| v > 0)
                .with_context(|| format!("--{field}: {t:?} is not a positive integer"))
        })
        .collect()
}

fn load(args: &Opts) -> anyhow::Result<(Mlp<f64>, String)> {
    if let Some(w) = &args.init_he {
        let widths = counts("init-he", w)?;
        if widths.len() < 2 {
            bail!("--init-he needs at least input and output widths, e.g. 2,16,1");
        }
        return Ok((
            he_relu_net(&widths, args.seed),
            format!("he:{w}:seed{}", args.seed),
        ));
    }
    let Some(path) = &args.model else {
        bail!("give --model M (or --init-he WIDTHS)");
    };
    let act = match &args.activation {
        Some(name) => Some(
            Activation::by_name(name)
                .with_context(|| format!("--activation: unknown activation {name:?}"))?,
        ),
        None => None,
    };
    let mlp = load_model(path, act)?;
    Ok((mlp.cast::<f64>(), path.display().to_string()))
}

fn emit_json(v: &serde_json::Value) -> anyhow::Result<()> {
    let stdout = std::io::stdout();
    let mut w = std::io::BufWriter::new(stdout.lock());
    serde_json::to_writer(&mut w, v)?;
    writeln!(w)?;
    w.flush()?;
    Ok(())
}

/// Run `relulab regions`.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let args = *args.inner;
    if args.sweep {
        return run_sweep(&args);
    }
    let (mlp, name) = load(&args)?;
    let net = GeoNet::new(&mlp)?;
    let d = net.input_dim();
    if let Some(n) = args.sample {
        let r = numbers("range", &args.range)?;
        if r.len() != 2 {
            bail!("--range needs LO,HI");
        }
        let t = Instant::now();
        let g = sample_patterns(
            &net,
            &SampleOptions {
                n,
                seed: args.seed,
                lo: r[0],
                hi: r[1],
            },
        )?;
        let secs = t.elapsed().as_secs_f64();
        if args.json {
            emit_json(
                &json!({"model": name, "samples": n, "range": r, "seed": args.seed,
                "distinct_patterns": g.distinct, "growth": g.curve, "seconds": secs}),
            )?;
        } else {
            println!("{name}: {} distinct activation patterns among {n} samples of [{}, {}]^{d} (a lower bound on the regions)", g.distinct, r[0], r[1]);
            for (k, c) in &g.curve {
                println!("  {k:>10} samples: {c}");
            }
        }
        return Ok(ExitCode::SUCCESS);
    }
    if let Some(seg) = &args.segment {
        let x0 = numbers("segment X0", &seg[0])?;
        let x1 = numbers("segment X1", &seg[1])?;
        let t = Instant::now();
        let s = segment(&net, &x0, &x1)?;
        let secs = t.elapsed().as_secs_f64();
        if args.json {
            let maps: Vec<_> = s
                .maps
                .iter()
                .map(|m| m.iter().map(|&(a, b)| [a, b]).collect::<Vec<_>>())
                .collect();
            emit_json(&json!({"model": name, "x0": x0, "x1": x1,
                "activation_pieces": s.activation_pieces(), "linear_pieces": s.linear_pieces(),
                "t": s.t, "maps": maps, "seconds": secs}))?;
        } else {
            println!(
                "{name}: {} activation pieces, {} linear pieces along the segment ({} breakpoints)",
                s.activation_pieces(),
                s.linear_pieces(),
                s.breakpoints().len()
            );
        }
        return Ok(ExitCode::SUCCESS);
    }
    let b = numbers("box", &args.bbox)?;
    if b.len() != 4 {
        bail!("--box needs 4 numbers U0,U1,V0,V1, got {}", b.len());
    }
    let unit = |k: usize| {
        (0..d)
            .map(|i| f64::from(u8::from(i == k)))
            .collect::<Vec<f64>>()
    };
    let vec_arg =
        |field: &str, v: &Option<String>, default: Vec<f64>| -> anyhow::Result<Vec<f64>> {
            match v {
                Some(s) => numbers(field, s),
                None => Ok(default),
            }
        };
    if d != 2 && (args.dir_a.is_none() || args.dir_b.is_none()) {
        bail!("the network has {d} inputs: give the slice with --dir-a and --dir-b (and --origin)");
    }
    let slice = Slice {
        origin: vec_arg("origin", &args.origin, vec![0.0; d])?,
        dir_a: vec_arg("dir-a", &args.dir_a, unit(0))?,
        dir_b: vec_arg("dir-b", &args.dir_b, unit(1))?,
        bbox: [b[0], b[1], b[2], b[3]],
    };
    let colouring = match args.colour.as_str() {
        "pattern" => Colouring::Pattern,
        other => match other.strip_prefix("output:").and_then(|o| o.parse().ok()) {
            Some(o) => Colouring::Output(o),
            None => bail!("--colour: expected \"pattern\" or \"output:O\", got {other:?}"),
        },
    };
    let boundary = match args.boundary.as_deref() {
        None => Boundary::None,
        Some(b) => {
            let idx = |t: &str| {
                t.trim()
                    .parse::<usize>()
                    .with_context(|| format!("--boundary: {t:?} is not an output index"))
            };
            match b.split_once('=') {
                Some((a, c)) => Boundary::Equal(idx(a)?, idx(c)?),
                None => Boundary::Zero(idx(b)?),
            }
        }
    };
    let opts = PlaneOptions {
        boundary,
        max_cells: Some(args.max_cells),
        ..Default::default()
    };
    let t = Instant::now();
    let p = partition(&net, &slice, opts)?;
    let secs = t.elapsed().as_secs_f64();
    let linear = p.linear_regions();
    let render = RenderOptions {
        width: args.px,
        colouring,
        boundary,
        outlines: p.len() < 200_000,
    };
    if let Some(f) = &args.svg {
        write_svg(&p, &render, f)?;
    }
    if let Some(f) = &args.png {
        write_png(&p, &render, f)?;
    }
    let active = p.activation_regions();
    if args.json {
        let report = PlaneReport {
            model: &name,
            activation_regions: active,
            linear_regions: linear,
            cells: p.len(),
            r#box: &b,
            origin: &slice.origin,
            dir_a: &slice.dir_a,
            dir_b: &slice.dir_b,
            area_sum: p.area_sum(),
            box_area: slice.area(),
            output_is_logit: p.output_is_logit,
            seconds: secs,
            // Streamed: the polygons are serialised one by one, never held as one JSON value.
            polygons: args.polygons.then_some(Polygons {
                p: &p,
                net: &net,
                side: opts.boundary != Boundary::None,
            }),
        };
        let stdout = std::io::stdout();
        let mut w = std::io::BufWriter::new(stdout.lock());
        serde_json::to_writer(&mut w, &report)?;
        writeln!(w)?;
        w.flush()?;
    } else {
        println!(
            "{name}: {active} activation regions, {linear} linear regions on [{}, {}] × [{}, {}] \
             (area sum {:.12e} of {:.12e}; {:.3} s, {:.0} regions/s)",
            b[0],
            b[1],
            b[2],
            b[3],
            p.area_sum(),
            slice.area(),
            secs,
            p.len() as f64 / secs
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// The JSON of the plane mode.
#[derive(serde::Serialize)]
struct PlaneReport<'a> {
    model: &'a str,
    activation_regions: usize,
    linear_regions: usize,
    cells: usize,
    r#box: &'a [f64],
    origin: &'a [f64],
    dir_a: &'a [f64],
    dir_b: &'a [f64],
    area_sum: f64,
    box_area: f64,
    output_is_logit: bool,
    seconds: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    polygons: Option<Polygons<'a>>,
}

/// Every polygon with its pattern and maps, serialised lazily.
struct Polygons<'a> {
    p: &'a relulab::regions::Partition,
    net: &'a GeoNet,
    side: bool,
}

impl serde::Serialize for Polygons<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeSeq;
        let p = self.p;
        let mut seq = s.serialize_seq(Some(p.len()))?;
        for i in 0..p.len() {
            let maps: Vec<[f64; 3]> = (0..p.n_outputs).map(|o| p.output_map(i, o)).collect();
            let mut pattern = self.net.pattern_strings(p.pattern(i));
            if self.side {
                pattern.push((p.pattern(i)[p.pattern_words - 1] & 1).to_string());
            }
            seq.serialize_element(
                &json!({"vertices": p.polygon(i), "pattern": pattern, "maps": maps}),
            )?;
        }
        seq.end()
    }
}

fn run_sweep(args: &Opts) -> anyhow::Result<ExitCode> {
    let b = numbers("box", &args.bbox)?;
    if b.len() != 4 {
        bail!("--box needs 4 numbers U0,U1,V0,V1, got {}", b.len());
    }
    let widths = counts("widths", &args.widths)?;
    let depths = counts("depths", &args.depths)?;
    let sweep = init_sweep(&widths, &depths, [b[0], b[1], b[2], b[3]], args.seed)?;
    if let Some(f) = &args.svg {
        write_atomic(f, sweep.to_svg()?.as_bytes())?;
    }
    if args.json {
        emit_json(&serde_json::to_value(&sweep)?)?;
    } else {
        println!("width depth units activation_regions linear_regions diagonal_pieces");
        for p in &sweep.points {
            println!(
                "{:>5} {:>5} {:>5} {:>18} {:>14} {:>15}",
                p.width,
                p.depth,
                p.units,
                p.activation_regions,
                p.linear_regions,
                p.diagonal_pieces
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}
