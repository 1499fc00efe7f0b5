//! `relulab train`: Train an MLP.

use anyhow::Context;
use relulab::io::checkpoint::{self, Checkpoint, TrainState};
use relulab::net::{Loss, Schedule};
use relulab::train::{parse_activation, BiasWarmup, Decay, EpochMetrics, TrainSpec, Trainer};
use relulab::Activation;
use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

/// Options of `relulab train` (boxed: the command enum stays small).
#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(flatten)]
    opts: Box<Opts>,
}

/// The flags of `relulab train`. Flags override values from `--config`.
#[derive(clap::Args, Debug, Default)]
pub struct Opts {
    /// TOML file with any fields of the run (flags override it); see README "Training".
    #[arg(long, value_name = "FILE.toml")]
    pub config: Option<PathBuf>,
    /// Built-in data set: digits, iris, wine, breast_cancer, moons, circles, spirals, xor,
    /// checkerboard, abs, sin.
    #[arg(long)]
    pub dataset: Option<String>,
    /// Features file (.csv or .npy); targets in --targets or the last column.
    #[arg(long, value_name = "FILE")]
    pub data: Option<PathBuf>,
    /// Targets/labels file (.csv or .npy).
    #[arg(long, value_name = "FILE")]
    pub targets: Option<PathBuf>,
    /// Samples of a synthetic data set.
    #[arg(long)]
    pub n_samples: Option<usize>,
    /// Noise of a synthetic data set.
    #[arg(long)]
    pub noise: Option<f64>,
    /// Fraction held out for testing (0: none). Default 0.2.
    #[arg(long)]
    pub test_fraction: Option<f64>,
    /// Do not standardise the features.
    #[arg(long)]
    pub no_standardize: bool,
    /// Hidden widths, e.g. 256,256.
    #[arg(long, value_delimiter = ',')]
    pub hidden: Option<Vec<usize>>,
    /// Hidden activation with parameters: relu, "relu(prime_at_zero=1)",
    /// "leaky_relu(negative_slope=0.1)", prelu, relu_eps, gelu, ... Also names the activation
    /// of a PyTorch state_dict given to --model-in.
    #[arg(long)]
    pub activation: Option<String>,
    /// f'(0) of the hidden activation (relu, leaky_relu, relu_eps): the subgradient used at
    /// exactly 0; same as the activation's prime_at_zero parameter.
    #[arg(long, value_name = "S")]
    pub prime_at_zero: Option<f64>,
    /// Layers without bias.
    #[arg(long)]
    pub no_bias: bool,
    /// Weight init: he_normal, he_uniform, xavier_normal, xavier_uniform, lecun_normal,
    /// orthogonal, torch, rai. Default he_normal; with --robust, torch (PyTorch's default,
    /// U(±1/√fan_in) weights and biases: short IBP schedules collapse from He normal, see
    /// README "Certified robustness").
    #[arg(long)]
    pub init: Option<String>,
    /// Bias init: zero, const:C, normal:STD.
    #[arg(long, allow_hyphen_values = true)]
    pub bias_init: Option<String>,
    /// Loss: cross_entropy, mse, bce_with_logits, hinge.
    #[arg(long)]
    pub loss: Option<String>,
    /// Optimizer: adam, adamw, sgd.
    #[arg(long)]
    pub optimizer: Option<String>,
    /// Learning rate.
    #[arg(long)]
    pub lr: Option<f64>,
    /// SGD momentum.
    #[arg(long)]
    pub momentum: Option<f64>,
    /// SGD Nesterov momentum.
    #[arg(long)]
    pub nesterov: bool,
    /// Weight decay (coupled for sgd/adam, decoupled for adamw).
    #[arg(long)]
    pub weight_decay: Option<f64>,
    /// Apply --weight-decay to the weight matrices only, not to biases or PReLU slopes.
    #[arg(long)]
    pub decay_weights_only: bool,
    /// Clip the global gradient norm.
    #[arg(long)]
    pub clip_norm: Option<f64>,
    /// LR schedule: constant, step:SIZE:GAMMA, cosine[:ETA_MIN] (over the epochs).
    #[arg(long)]
    pub schedule: Option<String>,
    /// Linear LR warm-up steps.
    #[arg(long)]
    pub warmup_steps: Option<u64>,
    /// Bias warm-up G0:STEPS[:linear|cosine]: add γ(t) to hidden pre-activations.
    #[arg(long)]
    pub bias_warmup: Option<String>,
    /// Epochs.
    #[arg(long)]
    pub epochs: Option<usize>,
    /// Minibatch size.
    #[arg(long)]
    pub batch_size: Option<usize>,
    /// Seed (init, split, shuffles).
    #[arg(long)]
    pub seed: Option<u64>,
    /// Threads for large matrix products.
    #[arg(long)]
    pub threads: Option<usize>,
    /// Start from this model: a relulab checkpoint or a PyTorch state_dict (.safetensors;
    /// give --activation for a state_dict).
    #[arg(long, value_name = "FILE")]
    pub model_in: Option<PathBuf>,
    /// Resume a run from a training checkpoint (weights, optimizer, epoch, spec; and the
    /// certified-training flags it was trained with, unless --robust or --rs-weight is given
    /// again, which then replaces all of them).
    #[arg(long, value_name = "FILE")]
    pub resume: Option<PathBuf>,
    /// Write the trained model (relulab checkpoint with training state), atomically.
    #[arg(long, value_name = "FILE")]
    pub model_out: Option<PathBuf>,
    /// Also write a PyTorch nn.Sequential state_dict (safetensors).
    #[arg(long, value_name = "FILE")]
    pub state_dict_out: Option<PathBuf>,
    /// Write --model-out every N epochs too (0: only at the end).
    #[arg(long, default_value_t = 0)]
    pub save_every: usize,
    /// Print per-epoch metrics as JSON lines on stdout.
    #[arg(long)]
    pub json: bool,
    /// No progress bar, no summary.
    #[arg(long)]
    pub quiet: bool,
    /// Activation health every epoch (sparsity, dead and dormant units, pre-activation
    /// statistics, gradient norms per layer) in the metrics JSON lines.
    #[arg(long)]
    pub monitor: bool,
    /// τ of the dormant test (ReDo score ≤ τ) for --monitor and --redo-every.
    #[arg(long, default_value_t = 0.1)]
    pub dormant_tau: f64,
    /// ReDo: every P steps re-initialise the τ-dormant units, zero their outgoing weights and
    /// reset their optimizer moments (Sokar et al. 2023).
    #[arg(long, value_name = "P")]
    pub redo_every: Option<u64>,
    /// Swap the hidden activation of the starting model (--model-in or fresh) for this one,
    /// keeping the weights (e.g. leaky_relu, prelu, relu_eps).
    #[arg(long, value_name = "ACT")]
    pub swap_activation: Option<String>,
    /// Count the linear regions of the network on its 2-D input plane before training and every
    /// N epochs ("regions" in the metrics JSON lines, and the counts in the summary); needs 2
    /// inputs and piecewise-linear hidden units.
    #[arg(long, value_name = "N")]
    pub regions_every: Option<usize>,
    /// The box counted on, in the network's input coordinates (standardised features unless
    /// --no-standardize): X0,X1,Y0,Y1 (default: the training data's box plus 10% each side).
    #[arg(
        long,
        value_name = "X0,X1,Y0,Y1",
        allow_hyphen_values = true,
        value_delimiter = ','
    )]
    pub regions_box: Option<Vec<f64>>,
    /// Also draw each snapshot's mosaic (with the decision boundary of a one- or two-output
    /// network) into this directory as regions_epochNNNNN.svg.
    #[arg(long, value_name = "DIR")]
    pub regions_svg: Option<PathBuf>,
    /// Certified training (issue 14): `ibp` (Gowal et al. 2018) or `crown-ibp` (Zhang et al.
    /// 2020; β ramps from 1 to 0 with ε). With --monitor, each epoch
    /// reports the certified test accuracy (IBP and CROWN, the sound engine) at the epoch's ε
    /// instead of the activation-health fields.
    #[arg(long, value_name = "METHOD")]
    pub robust: Option<String>,
    /// ε of certified training, in data units (built-in digits: pixels / 16, clamped to
    /// [0, 1]).
    #[arg(long, allow_hyphen_values = true)]
    pub eps: Option<f64>,
    /// Clean epochs before the ε ramp.
    #[arg(long, default_value_t = 5)]
    pub robust_warmup: usize,
    /// Epochs over which ε ramps from 0 and κ from 1 (default: half the epochs).
    #[arg(long)]
    pub robust_ramp: Option<usize>,
    /// Weight κ of the clean loss at the end of the ramp (Gowal et al.: 0.5).
    #[arg(long, default_value_t = 0.5)]
    pub kappa_end: f64,
    /// ReLU-stability regulariser (Xiao et al. 2019): add W · mean over the batch of
    /// Σ_hidden units −tanh(1 + l·u), [l, u] the unit's IBP pre-activation bounds over the
    /// --rs-eps ball. With or without --robust (without: the clean loss plus this term; with
    /// --monitor, the certified test accuracy at --rs-eps each epoch).
    #[arg(long, value_name = "W", allow_hyphen_values = true)]
    pub rs_weight: Option<f64>,
    /// ε of the regulariser's ball in data units (default: --eps, ramped with it; needed
    /// without --robust, and then used from the first step).
    #[arg(long, value_name = "E", allow_hyphen_values = true)]
    pub rs_eps: Option<f64>,
}

/// The certified-training flags, kept in a checkpoint's `robust` metadata entry so that
/// `--resume` goes on with them when they are not given again.
#[derive(serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct RobustFlags {
    robust: Option<String>,
    eps: Option<f64>,
    robust_warmup: usize,
    robust_ramp: Option<usize>,
    kappa_end: f64,
    rs_weight: Option<f64>,
    rs_eps: Option<f64>,
}

/// The checkpoint metadata key of [`RobustFlags`].
const ROBUST_KEY: &str = "robust";

impl RobustFlags {
    fn of(a: &Opts) -> Option<Self> {
        (a.robust.is_some() || a.rs_weight.is_some()).then(|| RobustFlags {
            robust: a.robust.clone(),
            eps: a.eps,
            robust_warmup: a.robust_warmup,
            robust_ramp: a.robust_ramp,
            kappa_end: a.kappa_end,
            rs_weight: a.rs_weight,
            rs_eps: a.rs_eps,
        })
    }

    fn apply(self, a: &mut Opts) {
        a.robust = self.robust;
        a.eps = self.eps;
        a.robust_warmup = self.robust_warmup;
        a.robust_ramp = self.robust_ramp;
        a.kappa_end = self.kappa_end;
        a.rs_weight = self.rs_weight;
        a.rs_eps = self.rs_eps;
    }
}

fn parse_schedule(s: &str) -> anyhow::Result<Schedule> {
    let parts: Vec<&str> = s.split(':').collect();
    let num = |t: &str| -> anyhow::Result<f64> {
        t.parse::<f64>()
            .ok()
            .filter(|v| v.is_finite())
            .with_context(|| format!("--schedule {s}: '{t}' is not a number"))
    };
    Ok(match parts.as_slice() {
        ["constant"] => Schedule::Constant,
        ["step", size, gamma] => Schedule::Step {
            step_size: num(size)? as usize,
            gamma: num(gamma)?,
        },
        ["cosine"] => Schedule::Cosine {
            t_max: 0,
            eta_min: 0.0,
        },
        ["cosine", eta] => Schedule::Cosine {
            t_max: 0,
            eta_min: num(eta)?,
        },
        _ => {
            anyhow::bail!("--schedule {s}: expected constant, step:SIZE:GAMMA or cosine[:ETA_MIN]")
        }
    })
}

fn parse_bias_warmup(s: &str) -> anyhow::Result<BiasWarmup> {
    let parts: Vec<&str> = s.split(':').collect();
    let bad = || format!("--bias-warmup {s}: expected G0:STEPS[:linear|cosine]");
    let (g, n, d) = match parts.as_slice() {
        [g, n] => (g, n, "linear"),
        [g, n, d] => (g, n, *d),
        _ => anyhow::bail!(bad()),
    };
    Ok(BiasWarmup {
        gamma0: g
            .parse()
            .ok()
            .filter(|v: &f64| v.is_finite())
            .with_context(bad)?,
        steps: n.parse().ok().with_context(bad)?,
        decay: match d {
            "linear" => Decay::Linear,
            "cosine" => Decay::Cosine,
            _ => anyhow::bail!(bad()),
        },
    })
}

impl Opts {
    /// Whether the weight initialisation is chosen by --init or by the --config file's `init`.
    pub fn init_given(&self) -> anyhow::Result<bool> {
        if self.init.is_some() {
            return Ok(true);
        }
        let Some(p) = &self.config else {
            return Ok(false);
        };
        let text =
            std::fs::read_to_string(p).with_context(|| format!("cannot read {}", p.display()))?;
        let table: toml::Table =
            toml::from_str(&text).map_err(|e| anyhow::anyhow!("{}: {e}", p.display()))?;
        Ok(table.contains_key("init"))
    }

    /// The run specification: defaults, then --config, then flags.
    pub fn spec(&self) -> anyhow::Result<TrainSpec> {
        let base = match &self.config {
            Some(p) => {
                let text = std::fs::read_to_string(p)
                    .with_context(|| format!("cannot read {}", p.display()))?;
                toml::from_str::<TrainSpec>(&text)
                    .map_err(|e| anyhow::anyhow!("{}: {e}", p.display()))?
            }
            None => TrainSpec::default(),
        };
        self.apply(base)
    }

    /// `base` with every flag given on the command line applied (`--config` ignored).
    pub fn apply(&self, base: TrainSpec) -> anyhow::Result<TrainSpec> {
        let mut s = base;
        macro_rules! set {
            ($f:ident) => {
                if let Some(v) = &self.$f {
                    s.$f = v.clone().into();
                }
            };
        }
        if self.dataset.is_some() {
            s.data = None;
        }
        if self.data.is_some() {
            s.dataset = None;
        }
        if let Some(v) = &self.dataset {
            s.dataset = Some(v.clone());
        }
        if let Some(v) = &self.data {
            s.data = Some(v.clone());
        }
        if let Some(v) = &self.targets {
            s.targets = Some(v.clone());
        }
        if let Some(v) = self.n_samples {
            s.n_samples = Some(v);
        }
        if let Some(v) = self.noise {
            s.noise = Some(v);
        }
        set!(test_fraction);
        if self.no_standardize {
            s.standardize = false;
        }
        set!(hidden);
        set!(activation);
        if self.no_bias {
            s.bias = false;
        }
        set!(init);
        set!(bias_init);
        if let Some(l) = &self.loss {
            s.loss = Some(l.parse::<Loss>().map_err(anyhow::Error::msg)?);
        }
        set!(optimizer);
        set!(lr);
        set!(momentum);
        if self.nesterov {
            s.nesterov = true;
        }
        set!(weight_decay);
        if self.decay_weights_only {
            s.decay_weights_only = true;
        }
        if let Some(v) = self.clip_norm {
            s.clip_norm = Some(v);
        }
        if let Some(v) = &self.schedule {
            s.schedule = parse_schedule(v)?;
        }
        set!(warmup_steps);
        if let Some(v) = &self.bias_warmup {
            s.bias_warmup = Some(parse_bias_warmup(v)?);
        }
        set!(epochs);
        set!(batch_size);
        set!(seed);
        set!(threads);
        if let Schedule::Cosine { t_max: 0, eta_min } = s.schedule {
            s.schedule = Schedule::Cosine {
                t_max: s.epochs,
                eta_min,
            };
        }
        if let Some(p) = self.prime_at_zero {
            let act = parse_activation(&s.activation).map_err(anyhow::Error::msg)?;
            anyhow::ensure!(
                matches!(
                    act,
                    Activation::Relu { .. }
                        | Activation::LeakyRelu { .. }
                        | Activation::ReluEps { .. }
                ),
                "--prime-at-zero applies to relu, leaky_relu and relu_eps, not {}",
                act.name()
            );
            // Re-express with the parameter so the spec (and checkpoints) carry it.
            let base = s
                .activation
                .split(['(', ':'])
                .next()
                .unwrap_or("")
                .trim()
                .to_string();
            let params = s
                .activation
                .split_once('(')
                .and_then(|(_, r)| r.strip_suffix(')'))
                .or_else(|| s.activation.split_once(':').map(|(_, r)| r))
                .unwrap_or("");
            let mut kv: Vec<String> = params
                .split(',')
                .map(str::trim)
                .filter(|t| !t.is_empty() && !t.starts_with("prime_at_zero"))
                .map(String::from)
                .collect();
            kv.push(format!("prime_at_zero={p}"));
            s.activation = format!("{base}({})", kv.join(", "));
        }
        // Validate the activation early for a clear message.
        parse_activation(&s.activation).map_err(anyhow::Error::msg)?;
        Ok(s)
    }
}

/// Run `relulab train`.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let mut args = *args.opts;
    if args.resume.is_some() {
        // The run's fields come from the checkpoint; a flag that would change them is refused
        // rather than silently ignored.
        let given: Vec<&str> = [
            ("--config", args.config.is_some()),
            ("--dataset", args.dataset.is_some()),
            ("--data", args.data.is_some()),
            ("--targets", args.targets.is_some()),
            ("--n-samples", args.n_samples.is_some()),
            ("--noise", args.noise.is_some()),
            ("--test-fraction", args.test_fraction.is_some()),
            ("--no-standardize", args.no_standardize),
            ("--hidden", args.hidden.is_some()),
            ("--activation", args.activation.is_some()),
            ("--prime-at-zero", args.prime_at_zero.is_some()),
            ("--no-bias", args.no_bias),
            ("--init", args.init.is_some()),
            ("--bias-init", args.bias_init.is_some()),
            ("--loss", args.loss.is_some()),
            ("--optimizer", args.optimizer.is_some()),
            ("--lr", args.lr.is_some()),
            ("--momentum", args.momentum.is_some()),
            ("--nesterov", args.nesterov),
            ("--weight-decay", args.weight_decay.is_some()),
            ("--decay-weights-only", args.decay_weights_only),
            ("--clip-norm", args.clip_norm.is_some()),
            ("--schedule", args.schedule.is_some()),
            ("--warmup-steps", args.warmup_steps.is_some()),
            ("--bias-warmup", args.bias_warmup.is_some()),
            ("--batch-size", args.batch_size.is_some()),
            ("--seed", args.seed.is_some()),
            ("--model-in", args.model_in.is_some()),
        ]
        .into_iter()
        .filter_map(|(name, on)| on.then_some(name))
        .collect();
        if !given.is_empty() {
            anyhow::bail!(
                "--resume continues the checkpoint's run as saved; {} would change it (only \
                 --epochs, the certified-training flags and the output flags go with --resume)",
                given.join(", ")
            );
        }
    }
    if args.save_every > 0 && args.model_out.is_none() {
        anyhow::bail!("--save-every needs --model-out FILE (the checkpoint it rewrites)");
    }
    // Before any work: a run that trains for minutes must not end unable to save.
    for p in [&args.model_out, &args.state_dict_out]
        .into_iter()
        .flatten()
    {
        checkpoint::check_output_path(p)?;
    }
    if let Some(r) = args.resume.clone() {
        // Certified training goes on as it was saved unless its flags are given again.
        if RobustFlags::of(&args).is_none() {
            if let Some(js) = checkpoint::metadata_entry(&r, ROBUST_KEY)? {
                let f: RobustFlags = serde_json::from_str(&js).with_context(|| {
                    format!(
                        "{}: metadata entry `{ROBUST_KEY}` is not valid",
                        r.display()
                    )
                })?;
                f.apply(&mut args);
            }
        }
    }
    let robust_meta = RobustFlags::of(&args)
        .map(|f| serde_json::to_string(&f).expect("serialisable"))
        .into_iter()
        .map(|js| (ROBUST_KEY, js))
        .collect::<Vec<_>>();
    let (spec, mut trainer, train, test, standardizer) = if let Some(r) = &args.resume {
        let ck = checkpoint::load_full(r)?;
        let st = ck.train.with_context(|| {
            format!(
                "{}: has no training state (not written by `relulab train`)",
                r.display()
            )
        })?;
        let mut spec = st.spec.clone();
        if let Some(e) = args.epochs {
            spec.epochs = e;
        }
        if let Some(t) = args.threads {
            spec.threads = t;
        }
        let (train, test, standardizer) = spec.load_data()?;
        let loss = spec.loss_for(&train.targets);
        let config = spec.train_config(loss)?;
        let mut trainer = Trainer::new(ck.mlp, config);
        trainer.optimizer = st.optimizer;
        trainer.epoch = st.epoch;
        (spec, trainer, train, test, standardizer)
    } else {
        let mut spec = args.spec()?;
        if args.robust.is_some() && args.model_in.is_none() && !args.init_given()? {
            spec.init = "torch".into();
        }
        let (train, test, standardizer) = spec.load_data()?;
        let loss = spec.loss_for(&train.targets);
        let config = spec.train_config(loss)?;
        let mlp = match &args.model_in {
            Some(p) => {
                let act = parse_activation(&spec.activation).map_err(anyhow::Error::msg)?;
                checkpoint::load_any(p, Some(act))?
            }
            None => spec.build_model(train.d, &train.targets, loss)?,
        };
        let trainer = Trainer::new(mlp, config);
        (spec, trainer, train, test, standardizer)
    };
    if spec.threads > 1 {
        // Large products split across this many threads; ignore "already initialised".
        let _ = rayon::ThreadPoolBuilder::new()
            .num_threads(spec.threads)
            .build_global();
    }
    if let Some(a) = &args.swap_activation {
        let act = parse_activation(a).map_err(anyhow::Error::msg)?;
        relulab::remedy::swap_hidden_activation(&mut trainer.mlp, act);
    }
    if let Some(0) = args.redo_every {
        anyhow::bail!("--redo-every must be ≥ 1");
    }
    let mut monitor = relulab::diagnose::HealthMonitor::new(relulab::diagnose::HealthConfig {
        tau: args.dormant_tau,
        ..Default::default()
    });
    let mut redo = args
        .redo_every
        .map(|p| relulab::remedy::Redo::new(p, args.dormant_tau, spec.seed));
    anyhow::ensure!(
        args.regions_every.is_some() || (args.regions_box.is_none() && args.regions_svg.is_none()),
        "--regions-box and --regions-svg go with --regions-every N"
    );
    let mut regions = match args.regions_every {
        Some(every) => {
            let bbox = match &args.regions_box {
                Some(b) => {
                    anyhow::ensure!(
                        b.len() == 4
                            && b.iter().all(|v| v.is_finite())
                            && b[0] < b[1]
                            && b[2] < b[3],
                        "--regions-box: expected X0,X1,Y0,Y1 with X0 < X1 and Y0 < Y1"
                    );
                    [b[0], b[1], b[2], b[3]]
                }
                None => relulab::regions::monitor::data_box(&train.x, train.d, 0.1),
            };
            let m = relulab::regions::monitor::RegionsMonitor::new(
                &trainer.mlp,
                trainer.epoch,
                every,
                bbox,
                args.regions_svg.clone(),
            )
            .context("--regions-every")?;
            Some(m)
        }
        None => None,
    };
    let mut observers: Vec<&mut dyn relulab::train::Observer> = Vec::new();
    if let Some(r) = redo.as_mut() {
        observers.push(r);
    }
    if let Some(r) = regions.as_mut() {
        observers.push(r);
    }
    if args.monitor {
        observers.push(&mut monitor);
    }
    trainer.check_data(&train)?;
    let rs = match (args.rs_weight, args.rs_eps) {
        (None, None) => None,
        (None, Some(_)) => anyhow::bail!("--rs-eps goes with --rs-weight W"),
        (Some(w), e) => {
            anyhow::ensure!(
                w >= 0.0 && w.is_finite(),
                "--rs-weight: {w} is not a finite weight ≥ 0"
            );
            if let Some(e) = e {
                anyhow::ensure!(
                    e >= 0.0 && e.is_finite(),
                    "--rs-eps: {e} is not a finite radius ≥ 0"
                );
            }
            Some(relulab::certify::train::RsConfig { weight: w, eps: e })
        }
    };
    let setting = match (&args.robust, args.eps, rs) {
        (None, None, None) => None,
        (None, Some(_), _) => anyhow::bail!("--eps goes with --robust ibp|crown-ibp"),
        (Some(_), None, _) => anyhow::bail!("--robust needs --eps E"),
        (None, None, Some(r)) => {
            let e = r
                .eps
                .context("--rs-weight without --robust needs --rs-eps E")?;
            Some((None, e))
        }
        (Some(m), Some(eps), _) => {
            let method: relulab::certify::train::RobustMethod = m
                .parse()
                .map_err(|_| anyhow::anyhow!("--robust {m}: expected ibp or crown-ibp"))?;
            anyhow::ensure!(
                eps >= 0.0 && eps.is_finite(),
                "--eps: {eps} is not a finite radius ≥ 0"
            );
            Some((Some(method), eps))
        }
    };
    let robust = match setting {
        None => None,
        Some((method, eps)) => {
            anyhow::ensure!(
                (0.0..=1.0).contains(&args.kappa_end),
                "--kappa-end: {} is not in [0, 1]",
                args.kappa_end
            );
            let what = if method.is_some() {
                "--robust"
            } else {
                "--rs-weight"
            };
            anyhow::ensure!(
                args.redo_every.is_none() && args.regions_every.is_none(),
                "{what} does not combine with --redo-every or --regions-every"
            );
            let digits = spec.dataset.as_deref() == Some("digits");
            let scale = if digits { 16.0 } else { 1.0 };
            let map = relulab::certify::InputMap::new(train.d, scale, standardizer.as_ref())?;
            let test_raw = if args.monitor && test.is_some() {
                let raw = TrainSpec {
                    standardize: false,
                    ..spec.clone()
                };
                raw.load_data()?.1
            } else {
                None
            };
            let cfg = relulab::certify::train::RobustConfig {
                method,
                eps,
                map,
                clamp: digits.then_some((0.0, 1.0)),
                warmup_epochs: args.robust_warmup,
                ramp_epochs: args.robust_ramp.unwrap_or(spec.epochs / 2).max(1),
                kappa_end: args.kappa_end,
                monitor: args.monitor,
                rs,
            };
            Some((cfg, test_raw))
        }
    };
    let show_bar = !args.quiet && !args.json && std::io::stderr().is_terminal();
    let bar = show_bar.then(|| {
        let b = indicatif::ProgressBar::new(spec.epochs as u64);
        b.set_style(
            indicatif::ProgressStyle::with_template("{bar:30} epoch {pos}/{len} {msg}")
                .expect("valid template"),
        );
        b.set_position(trainer.epoch as u64);
        b
    });
    let save = |trainer: &Trainer| -> relulab::Result<()> {
        if let Some(p) = &args.model_out {
            checkpoint::save_with_metadata(
                p,
                &Checkpoint {
                    mlp: trainer.mlp.clone(),
                    train: Some(TrainState {
                        spec: spec.clone(),
                        epoch: trainer.epoch,
                        optimizer: trainer.optimizer.clone(),
                        standardizer: standardizer.clone(),
                    }),
                },
                &robust_meta,
            )?;
        }
        Ok(())
    };
    let t0 = Instant::now();
    let on_epoch = |m: &EpochMetrics, t: &Trainer| {
        if args.json {
            println!("{}", serde_json::to_string(m).expect("serialisable"));
        }
        if let Some(b) = &bar {
            b.set_position(m.epoch as u64);
            b.set_message(format!(
                "loss {:.4}{}",
                m.train_loss,
                m.test_accuracy
                    .map_or(String::new(), |a| format!(" test acc {:.2}%", 100.0 * a))
            ));
        }
        if args.save_every > 0 && m.epoch.is_multiple_of(args.save_every) {
            save(t)?;
        }
        Ok(())
    };
    let metrics = match &robust {
        Some((cfg, test_raw)) => relulab::certify::train::run_robust(
            &mut trainer,
            &train,
            test.as_ref(),
            test_raw.as_ref(),
            cfg,
            on_epoch,
        )?,
        None => trainer.run(&train, test.as_ref(), &mut observers, on_epoch)?,
    };
    let wall = t0.elapsed().as_secs_f64();
    if let Some(b) = &bar {
        b.finish_and_clear();
    }
    save(&trainer)?;
    if let Some(p) = &args.state_dict_out {
        checkpoint::save_state_dict(p, &trainer.mlp)?;
    }
    if !args.quiet && !args.json {
        let train_s: f64 = metrics.iter().map(|m| m.seconds).sum();
        println!(
            "model {} ({} parameters), {} on {} ({} train / {} test samples)",
            trainer
                .mlp
                .widths()
                .iter()
                .map(|w| w.to_string())
                .collect::<Vec<_>>()
                .join("-"),
            trainer.mlp.num_params(),
            spec.activation,
            train.name.trim_end_matches(" (train)"),
            train.n,
            test.as_ref().map_or(0, |t| t.n)
        );
        if let Some(m) = metrics.last() {
            print!("epochs {}: train loss {:.4}", m.epoch, m.train_loss);
            if let Some(l) = m.test_loss {
                print!(", test loss {l:.4}");
            }
            if let Some(a) = m.test_accuracy {
                print!(", test accuracy {:.2}%", 100.0 * a);
            }
            println!();
        }
        println!("training time {train_s:.2} s ({wall:.2} s with evaluation)");
        if let Some(r) = &regions {
            let b = r.bbox();
            let steps: Vec<String> = r
                .history
                .iter()
                .map(|c| format!("{} / {} (epoch {})", c.linear, c.activation, c.epoch))
                .collect();
            println!(
                "linear / activation regions on [{:.3}, {:.3}] × [{:.3}, {:.3}]: {}",
                b[0],
                b[1],
                b[2],
                b[3],
                steps.join(" → ")
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}
