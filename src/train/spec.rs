//! [`TrainSpec`]: the complete, serialisable description of one training run (data, model,
//! optimizer, loop). The command line fills it from flags, `--config FILE.toml` from a file,
//! sweeps vary its fields, checkpoints store it so that a resume rebuilds the same data split.

use super::{BiasWarmup, TrainConfig};
use crate::activation::Activation;
use crate::data::{self, Dataset, Standardizer, Targets};
use crate::error::{Error, Result};
use crate::net::{BiasInit, Init, Loss, Mlp, OptimKind, OptimizerConfig, Schedule};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// One training run, fully specified. Every field has a default (the digits job).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TrainSpec {
    /// A built-in data set (see [`data::DATASET_NAMES`]); exclusive with `data`.
    pub dataset: Option<String>,
    /// Features file (.csv or .npy); targets in `targets` or the last column.
    pub data: Option<PathBuf>,
    /// Targets file (.csv or .npy).
    pub targets: Option<PathBuf>,
    /// Samples of a synthetic set.
    pub n_samples: Option<usize>,
    /// Noise of a synthetic set.
    pub noise: Option<f64>,
    /// Fraction of samples held out for testing (0: no test split).
    pub test_fraction: f64,
    /// Standardise features with the training split's mean and std.
    pub standardize: bool,
    /// Hidden widths.
    pub hidden: Vec<usize>,
    /// Hidden activation, e.g. "relu", "leaky_relu(negative_slope=0.1)", "relu:prime_at_zero=1".
    pub activation: String,
    /// Biases on every layer.
    pub bias: bool,
    /// Weight initialisation (see [`crate::net::init::INIT_NAMES`]).
    pub init: String,
    /// Bias initialisation: "zero", "const:C", "normal:STD".
    pub bias_init: String,
    /// Loss; default cross_entropy for labels, mse for real targets.
    pub loss: Option<Loss>,
    /// "adam", "adamw" or "sgd".
    pub optimizer: String,
    /// Learning rate.
    pub lr: f64,
    /// SGD momentum.
    pub momentum: f64,
    /// SGD Nesterov momentum.
    pub nesterov: bool,
    /// Weight decay (coupled for sgd/adam, decoupled for adamw).
    pub weight_decay: f64,
    /// Decay the weight matrices only (not biases or PReLU slopes).
    pub decay_weights_only: bool,
    /// Adam β1.
    pub beta1: f64,
    /// Adam β2.
    pub beta2: f64,
    /// Adam ε.
    pub eps: f64,
    /// Clip the global gradient norm.
    pub clip_norm: Option<f64>,
    /// Learning-rate schedule over epochs.
    pub schedule: Schedule,
    /// Linear warm-up steps.
    pub warmup_steps: u64,
    /// Bias warm-up (curriculum shift of hidden pre-activations).
    pub bias_warmup: Option<BiasWarmup>,
    /// Epochs.
    pub epochs: usize,
    /// Minibatch size.
    pub batch_size: usize,
    /// Seed of initialisation, split and shuffles.
    pub seed: u64,
    /// Threads for large matrix products.
    pub threads: usize,
}

impl Default for TrainSpec {
    fn default() -> Self {
        TrainSpec {
            dataset: None,
            data: None,
            targets: None,
            n_samples: None,
            noise: None,
            test_fraction: 0.2,
            standardize: true,
            hidden: vec![256, 256],
            activation: "relu".into(),
            bias: true,
            init: "he_normal".into(),
            bias_init: "zero".into(),
            loss: None,
            optimizer: "adam".into(),
            lr: 1e-3,
            momentum: 0.9,
            nesterov: false,
            weight_decay: 0.0,
            decay_weights_only: false,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            clip_norm: None,
            schedule: Schedule::Constant,
            warmup_steps: 0,
            bias_warmup: None,
            epochs: 30,
            batch_size: 32,
            seed: 0,
            threads: 1,
        }
    }
}

/// A spec turned into data, a fresh model and a loop configuration.
#[derive(Clone, Debug)]
pub struct Prepared {
    /// Training split (standardised if asked).
    pub train: Dataset,
    /// Test split, if any.
    pub test: Option<Dataset>,
    /// The standardisation fitted on the training split.
    pub standardizer: Option<Standardizer>,
    /// The initialised network.
    pub mlp: Mlp<f32>,
    /// Loop settings.
    pub config: TrainConfig,
}

/// Parse an activation with parameters: `NAME`, `NAME(k=v, ...)` or `NAME:k=v,...`. Keys:
/// prime_at_zero, negative_slope, alpha, eps, beta, threshold. Setting the slope of leaky_relu
/// (or ε of relu_eps) without prime_at_zero keeps the default convention f'(0) = left slope.
/// Errors are [`Error::Value`] naming the text.
pub fn parse_activation(s: &str) -> Result<Activation> {
    parse_activation_text(s).map_err(Error::Value)
}

fn parse_activation_text(s: &str) -> std::result::Result<Activation, String> {
    let s = s.trim();
    let (name, params) = if let Some((n, rest)) = s.split_once('(') {
        let rest = rest
            .strip_suffix(')')
            .ok_or_else(|| format!("activation '{s}': missing ')'"))?;
        (n.trim(), rest)
    } else if let Some((n, rest)) = s.split_once(':') {
        (n.trim(), rest)
    } else {
        (s, "")
    };
    let mut act: Activation = name.parse()?;
    let mut p0_set = None;
    for kv in params.split(',').map(str::trim).filter(|t| !t.is_empty()) {
        let (k, v) = kv
            .split_once('=')
            .ok_or_else(|| format!("activation '{s}': parameter '{kv}' is not key=value"))?;
        let v: f64 = v
            .trim()
            .parse()
            .map_err(|_| format!("activation '{s}': '{}' is not a number", v.trim()))?;
        let k = k.trim();
        let bad = || format!("activation '{s}': {name} has no parameter '{k}'");
        act = match (act, k) {
            (Activation::Relu { .. }, "prime_at_zero") => Activation::Relu { prime_at_zero: v },
            (Activation::LeakyRelu { .. }, "negative_slope" | "alpha") => Activation::LeakyRelu {
                negative_slope: v,
                prime_at_zero: p0_set.unwrap_or(v),
            },
            (Activation::LeakyRelu { negative_slope, .. }, "prime_at_zero") => {
                p0_set = Some(v);
                Activation::LeakyRelu {
                    negative_slope,
                    prime_at_zero: v,
                }
            }
            (Activation::Prelu { .. }, "alpha" | "init") => Activation::Prelu { alpha: v },
            (Activation::ReluEps { .. }, "eps") => Activation::ReluEps {
                eps: v,
                prime_at_zero: p0_set.unwrap_or(v),
            },
            (Activation::ReluEps { eps, .. }, "prime_at_zero") => {
                p0_set = Some(v);
                Activation::ReluEps {
                    eps,
                    prime_at_zero: v,
                }
            }
            (Activation::Elu { .. }, "alpha") => Activation::Elu { alpha: v },
            (Activation::Softplus { threshold, .. }, "beta") => {
                Activation::Softplus { beta: v, threshold }
            }
            (Activation::Softplus { beta, .. }, "threshold") => {
                Activation::Softplus { beta, threshold: v }
            }
            _ => return Err(bad()),
        };
    }
    act.validate().map_err(|e| e.to_string())?;
    Ok(act)
}

impl TrainSpec {
    /// The optimizer configuration.
    pub fn optimizer_config(&self) -> Result<OptimizerConfig> {
        let kind = match self.optimizer.as_str() {
            "sgd" => OptimKind::Sgd {
                momentum: self.momentum,
                dampening: 0.0,
                nesterov: self.nesterov,
            },
            "adam" => OptimKind::Adam {
                beta1: self.beta1,
                beta2: self.beta2,
                eps: self.eps,
            },
            "adamw" => OptimKind::AdamW {
                beta1: self.beta1,
                beta2: self.beta2,
                eps: self.eps,
            },
            o => {
                return Err(Error::Value(format!(
                    "optimizer: unknown '{o}'; expected sgd, adam or adamw"
                )))
            }
        };
        if !(self.lr > 0.0 && self.lr.is_finite()) {
            return Err(Error::Value(format!(
                "lr must be a finite value > 0, got {}",
                self.lr
            )));
        }
        // Each optimizer field in its range (a NaN fails every comparison).
        let unit = |v: f64| (0.0..1.0).contains(&v);
        let ranges = [
            (
                "weight_decay",
                self.weight_decay,
                self.weight_decay >= 0.0 && self.weight_decay.is_finite(),
                "a finite value ≥ 0",
            ),
            ("momentum", self.momentum, unit(self.momentum), "in [0, 1)"),
            ("beta1", self.beta1, unit(self.beta1), "in [0, 1)"),
            ("beta2", self.beta2, unit(self.beta2), "in [0, 1)"),
            (
                "eps (Adam's)",
                self.eps,
                self.eps > 0.0 && self.eps.is_finite(),
                "a finite value > 0",
            ),
        ];
        for (name, v, ok, want) in ranges {
            if !ok {
                return Err(Error::Value(format!("{name} must be {want}, got {v}")));
            }
        }
        if let Some(c) = self.clip_norm.filter(|c| !(*c > 0.0 && c.is_finite())) {
            return Err(Error::Value(format!(
                "clip_norm must be a finite value > 0, got {c}"
            )));
        }
        if self.nesterov && (self.optimizer != "sgd" || self.momentum <= 0.0) {
            return Err(Error::Value(
                "nesterov needs optimizer sgd with momentum > 0".into(),
            ));
        }
        Ok(OptimizerConfig {
            kind,
            lr: self.lr,
            weight_decay: self.weight_decay,
            decay_weights_only: self.decay_weights_only,
            clip_norm: self.clip_norm,
            schedule: self.schedule,
            warmup_steps: self.warmup_steps,
        })
    }

    /// Load (or draw) the data, split and standardise it.
    pub fn load_data(&self) -> Result<(Dataset, Option<Dataset>, Option<Standardizer>)> {
        let labels = self.loss.is_none_or(|l| l.wants_labels());
        let full = match (&self.dataset, &self.data) {
            (Some(_), Some(_)) => {
                return Err(Error::Value(
                    "give either a built-in dataset or a data file, not both".into(),
                ))
            }
            (Some(name), None) => data::by_name(name, self.seed, self.n_samples, self.noise)?,
            (None, Some(path)) => data::csv::load(path, self.targets.as_deref(), labels)?,
            (None, None) => {
                return Err(Error::Value(
                    "no data: give --dataset NAME or --data FILE".into(),
                ))
            }
        };
        self.split_data(full)
    }

    /// Validate a data set already in memory, split it and standardise it as
    /// [`TrainSpec::load_data`] does with the data it loads (the Python binding's arrays).
    pub fn split_data(
        &self,
        full: Dataset,
    ) -> Result<(Dataset, Option<Dataset>, Option<Standardizer>)> {
        full.validate()?;
        let (mut train, mut test) = if self.test_fraction > 0.0 {
            let (a, b) = full.split(self.test_fraction, self.seed)?;
            // Too few samples for a test split: train on everything rather than fail later.
            (a, (b.n > 0).then_some(b))
        } else {
            (full, None)
        };
        let st = if self.standardize {
            let st = Standardizer::fit(&train);
            st.apply(&mut train);
            if let Some(t) = &mut test {
                st.apply(t);
            }
            Some(st)
        } else {
            None
        };
        Ok((train, test, st))
    }

    /// The loss for `targets` (explicit, or the default for the target kind).
    pub fn loss_for(&self, targets: &Targets) -> Loss {
        self.loss.unwrap_or(match targets {
            Targets::Classes { .. } => Loss::CrossEntropy,
            Targets::Values { .. } => Loss::Mse,
        })
    }

    /// A freshly initialised network for data with `d` features and `targets`
    /// (init from ChaCha8(seed), stream 0).
    pub fn build_model(&self, d: usize, targets: &Targets, loss: Loss) -> Result<Mlp<f32>> {
        let act = parse_activation(&self.activation)?;
        let init: Init = self.init.parse().map_err(Error::Value)?;
        let bias_init: BiasInit = self.bias_init.parse().map_err(Error::Value)?;
        if self.hidden.contains(&0) {
            return Err(Error::Value("hidden widths must be ≥ 1".into()));
        }
        let d_out = targets.output_dim(matches!(loss, Loss::BceWithLogits | Loss::Hinge));
        let mut widths = vec![d];
        widths.extend(&self.hidden);
        widths.push(d_out);
        let mut mlp = Mlp::zeros(&widths, act, Activation::Identity, self.bias);
        let mut rng = ChaCha8Rng::seed_from_u64(self.seed);
        mlp.init(init, bias_init, &mut rng);
        Ok(mlp)
    }

    /// The loop configuration.
    pub fn train_config(&self, loss: Loss) -> Result<TrainConfig> {
        if self.batch_size == 0 {
            return Err(Error::Value("batch size must be ≥ 1".into()));
        }
        Ok(TrainConfig {
            epochs: self.epochs,
            batch_size: self.batch_size,
            loss,
            optimizer: self.optimizer_config()?,
            seed: self.seed,
            threads: self.threads.max(1),
            bias_warmup: self.bias_warmup,
        })
    }

    /// Data, model and configuration, ready for [`super::Trainer`].
    pub fn prepare(&self) -> Result<Prepared> {
        let (train, test, standardizer) = self.load_data()?;
        let loss = self.loss_for(&train.targets);
        let mlp = self.build_model(train.d, &train.targets, loss)?;
        let config = self.train_config(loss)?;
        Ok(Prepared {
            train,
            test,
            standardizer,
            mlp,
            config,
        })
    }
}
