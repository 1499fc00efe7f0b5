//! Training: the minibatch loop, observers, per-epoch metrics, the run specification shared
//! by the command line, TOML configs, sweeps and checkpoints.
//!
//! One step: gather a seeded-shuffled minibatch → [`Mlp::forward_ws`] (with the bias warm-up
//! shift γ(t) on hidden pre-activations) → loss and ∂L/∂output → [`Mlp::backward_ws`] →
//! optional clipping → optimizer update → observers ([`Observer::on_step`]) with the step's
//! trace and gradients. Nothing is allocated per step once the buffers have grown.
//!
//! Determinism: the epoch-e permutation comes from ChaCha8(seed) on stream 1000 + e, so a run
//! resumed at an epoch boundary from a checkpoint (weights, optimizer state, step, epoch)
//! continues bit-identically, for the same thread count.

pub mod spec;
pub mod sweep;

pub use spec::{parse_activation, Prepared, TrainSpec};

use crate::data::{Dataset, Targets};
use crate::error::{Error, Result};
use crate::net::{Grads, Loss, Mlp, Optimizer, OptimizerConfig, Trace, Workspace};
use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use std::time::Instant;

/// How the bias warm-up shift decays.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Decay {
    /// γ0·(1 − t/S).
    Linear,
    /// γ0·(1 + cos(π t/S))/2.
    Cosine,
}

/// Curriculum bias warm-up: γ(t) is added to every hidden layer's pre-activation in the
/// training forward pass, decaying from γ0 to 0 over `steps` optimizer steps. The gradient
/// keeps its form (∂(z + γ)/∂b = 1); a positive γ keeps ReLU units active early in training.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct BiasWarmup {
    /// γ0.
    pub gamma0: f64,
    /// S, in optimizer steps.
    pub steps: u64,
    /// Shape of the decay.
    pub decay: Decay,
}

impl BiasWarmup {
    /// γ(step), 0 from step S on.
    pub fn gamma(&self, step: u64) -> f64 {
        if step >= self.steps || self.steps == 0 {
            return 0.0;
        }
        let t = step as f64 / self.steps as f64;
        match self.decay {
            Decay::Linear => self.gamma0 * (1.0 - t),
            Decay::Cosine => self.gamma0 * 0.5 * (1.0 + (std::f64::consts::PI * t).cos()),
        }
    }
}

/// Everything the loop needs besides the model and the data.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TrainConfig {
    /// Epochs to run (in total, counting epochs done before a resume).
    pub epochs: usize,
    /// Minibatch size (the last batch of an epoch may be smaller).
    pub batch_size: usize,
    /// The loss.
    pub loss: Loss,
    /// The optimizer.
    pub optimizer: OptimizerConfig,
    /// Seed of the shuffles (initialisation and splits take it separately).
    pub seed: u64,
    /// Threads for large matrix products.
    pub threads: usize,
    /// Optional bias warm-up.
    pub bias_warmup: Option<BiasWarmup>,
}

/// Metrics of one epoch, printed as one JSON line. Observers may add fields to `extra`; they
/// appear flattened in the same line.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct EpochMetrics {
    /// Epoch number, 1-based.
    pub epoch: usize,
    /// Optimizer steps taken so far.
    pub step: u64,
    /// Mean training loss over the epoch's minibatches (weighted by batch size).
    pub train_loss: f64,
    /// Training accuracy over the epoch's minibatches (classification only).
    pub train_accuracy: Option<f64>,
    /// Test loss with the weights at the end of the epoch (with a test split).
    pub test_loss: Option<f64>,
    /// Test accuracy (classification with a test split).
    pub test_accuracy: Option<f64>,
    /// Learning rate of the epoch's last step.
    pub lr: f64,
    /// Bias warm-up shift γ at the epoch's last step (0 without warm-up).
    pub bias_shift: f64,
    /// Wall-clock seconds of the epoch (training steps only).
    pub seconds: f64,
    /// Fields added by observers.
    #[serde(flatten)]
    pub extra: serde_json::Map<String, serde_json::Value>,
}

/// What an observer sees after each optimizer step.
pub struct StepInfo<'a> {
    /// Epoch, 0-based.
    pub epoch: usize,
    /// Step within the whole run, 0-based (the step just taken).
    pub step: u64,
    /// Mean loss of the batch (before the update).
    pub loss: f64,
    /// Learning rate used.
    pub lr: f64,
    /// Bias warm-up shift γ used in the forward pass.
    pub hidden_shift: f64,
    /// Gradient norm before clipping.
    pub grad_norm: f64,
    /// The batch's forward trace (pre-update weights).
    pub trace: &'a Trace<f32>,
    /// The batch's gradients (pre-update weights; after clipping). `grads.input` is empty.
    pub grads: &'a Grads<f32>,
}

/// A hook called by the loop. Both methods may change the model and the optimizer state (a
/// remedy such as ReDo re-initialises units and resets their moments through
/// [`Optimizer::state`]).
///
/// ```
/// use relulab::train::{EpochMetrics, Observer, StepInfo, TrainSpec, Trainer};
/// use relulab::{Mlp, net::Optimizer};
///
/// /// Counts, per epoch, hidden units of layer 0 that were inactive on a whole batch.
/// struct DeadCount(usize);
/// impl Observer for DeadCount {
///     fn on_step(&mut self, s: &StepInfo<'_>, _: &mut Mlp, _: &mut Optimizer) -> relulab::Result<()> {
///         let w = s.trace.pre[0].len() / s.trace.batch;
///         self.0 += (0..w)
///             .filter(|&j| s.trace.pre[0].chunks(w).all(|row| row[j] <= 0.0))
///             .count();
///         Ok(())
///     }
///     fn on_epoch_end(&mut self, m: &mut EpochMetrics, _: &mut Mlp, _: &mut Optimizer) -> relulab::Result<()> {
///         m.extra.insert("dead_unit_batches".into(), self.0.into());
///         self.0 = 0;
///         Ok(())
///     }
/// }
///
/// let spec = TrainSpec { dataset: Some("moons".into()), hidden: vec![8], epochs: 1, ..Default::default() };
/// let p = spec.prepare()?;
/// let mut t = Trainer::new(p.mlp, p.config);
/// let m = t.run(&p.train, p.test.as_ref(), &mut [&mut DeadCount(0)], |_, _| Ok(()))?;
/// assert!(m[0].extra.contains_key("dead_unit_batches"));
/// # Ok::<(), relulab::Error>(())
/// ```
pub trait Observer {
    /// After every optimizer step.
    fn on_step(
        &mut self,
        info: &StepInfo<'_>,
        mlp: &mut Mlp<f32>,
        optimizer: &mut Optimizer<f32>,
    ) -> Result<()> {
        let _ = (info, mlp, optimizer);
        Ok(())
    }
    /// At the end of every epoch, after the metrics are computed; may add `extra` fields.
    fn on_epoch_end(
        &mut self,
        metrics: &mut EpochMetrics,
        mlp: &mut Mlp<f32>,
        optimizer: &mut Optimizer<f32>,
    ) -> Result<()> {
        let _ = (metrics, mlp, optimizer);
        Ok(())
    }
}

/// A model, its optimizer, the loop's position and its reusable buffers.
pub struct Trainer {
    /// The network being trained.
    pub mlp: Mlp<f32>,
    /// Optimizer and its state.
    pub optimizer: Optimizer<f32>,
    /// Loop settings.
    pub config: TrainConfig,
    /// Epochs completed.
    pub epoch: usize,
    trace: Trace<f32>,
    grads: Grads<f32>,
    ws: Workspace<f32>,
    grad_out: Vec<f32>,
    order: Vec<usize>,
    labels: Vec<u32>,
    values: Vec<f32>,
}

impl Trainer {
    /// A trainer at epoch 0 with a fresh optimizer.
    pub fn new(mlp: Mlp<f32>, config: TrainConfig) -> Self {
        let optimizer = Optimizer::new(config.optimizer);
        let threads = config.threads;
        Trainer {
            mlp,
            optimizer,
            config,
            epoch: 0,
            trace: Trace::default(),
            grads: Grads::default(),
            ws: Workspace::new(threads),
            grad_out: Vec::new(),
            order: Vec::new(),
            labels: Vec::new(),
            values: Vec::new(),
        }
    }

    /// Check that `data` fits the model (feature count, label range) and the loss.
    pub fn check_data(&self, data: &Dataset) -> Result<()> {
        check_fit(&self.mlp, data, self.config.loss)
    }

    /// Run one epoch over `train`; returns (Σ per-sample loss, correct predictions, learning
    /// rate and bias shift of the last step).
    pub fn train_epoch(
        &mut self,
        train: &Dataset,
        observers: &mut [&mut dyn Observer],
    ) -> Result<(f64, usize, f64, f64)> {
        let n = train.n;
        let bs = self.config.batch_size.max(1);
        let d_out = self.mlp.output_dim();
        let epoch = self.epoch;
        self.order.clear();
        self.order.extend(0..n);
        let mut rng = ChaCha8Rng::seed_from_u64(self.config.seed);
        rng.set_stream(1000 + epoch as u64);
        self.order.shuffle(&mut rng);
        let (mut loss_sum, mut correct) = (0.0, 0usize);
        let (mut lr, mut shift) = (self.config.optimizer.lr, 0.0);
        let mut start = 0;
        while start < n {
            let end = (start + bs).min(n);
            let batch = end - start;
            let idx = &self.order[start..end];
            train.gather_x(idx, &mut self.trace.input);
            self.trace.batch = batch;
            let targets = train.gather_targets(idx, &mut self.labels, &mut self.values);
            let step = self.optimizer.step;
            shift = self.config.bias_warmup.map_or(0.0, |w| w.gamma(step));
            self.mlp
                .forward_ws(&mut self.trace, &mut self.ws, shift as f32);
            self.grad_out.resize(batch * d_out, 0.0);
            let ls = self
                .config
                .loss
                .eval(
                    self.trace.output(),
                    batch,
                    d_out,
                    targets,
                    Some(&mut self.grad_out),
                )
                .map_err(|e| e.prefixed(&train.name))?;
            let mean = ls.loss / batch as f64;
            if !mean.is_finite() {
                return Err(Error::Value(format!(
                    "training diverged: loss is {mean} at epoch {}, step {} (batch {} of the \
                     epoch); the last checkpoint written, if any, is intact. Try a smaller \
                     learning rate or --clip-norm.",
                    epoch + 1,
                    step,
                    start / bs
                )));
            }
            loss_sum += ls.loss;
            correct += ls.correct;
            self.mlp.backward_ws(
                &self.trace,
                &self.grad_out,
                &mut self.grads,
                &mut self.ws,
                false,
            );
            let grad_norm = if self.config.optimizer.clip_norm.is_some() || !observers.is_empty() {
                self.optimizer.clip(&mut self.grads)
            } else {
                f64::NAN
            };
            lr = self.config.optimizer.lr_at(epoch, step);
            self.optimizer.step(&mut self.mlp, &self.grads, lr);
            if !observers.is_empty() {
                let info = StepInfo {
                    epoch,
                    step,
                    loss: mean,
                    lr,
                    hidden_shift: shift,
                    grad_norm,
                    trace: &self.trace,
                    grads: &self.grads,
                };
                for o in observers.iter_mut() {
                    o.on_step(&info, &mut self.mlp, &mut self.optimizer)?;
                }
            }
            start = end;
        }
        self.epoch += 1;
        Ok((loss_sum, correct, lr, shift))
    }

    /// Train from the current epoch to `config.epochs`, evaluating on `test` after each epoch
    /// and calling `on_epoch` with the metrics (to print or checkpoint). Returns the metrics.
    pub fn run(
        &mut self,
        train: &Dataset,
        test: Option<&Dataset>,
        observers: &mut [&mut dyn Observer],
        mut on_epoch: impl FnMut(&EpochMetrics, &Trainer) -> Result<()>,
    ) -> Result<Vec<EpochMetrics>> {
        self.check_data(train)?;
        if let Some(t) = test {
            self.check_data(t)?;
        }
        let classes = matches!(train.targets, Targets::Classes { .. });
        let mut all = Vec::new();
        while self.epoch < self.config.epochs {
            let t0 = Instant::now();
            let (loss_sum, correct, lr, shift) = self.train_epoch(train, observers)?;
            let seconds = t0.elapsed().as_secs_f64();
            let mut m = EpochMetrics {
                epoch: self.epoch,
                step: self.optimizer.step,
                train_loss: loss_sum / train.n as f64,
                train_accuracy: classes.then(|| correct as f64 / train.n as f64),
                lr,
                bias_shift: shift,
                seconds,
                ..Default::default()
            };
            if let Some(t) = test {
                let (l, a) = self.evaluate(t, shift as f32)?;
                m.test_loss = Some(l);
                m.test_accuracy = a;
            }
            for o in observers.iter_mut() {
                o.on_epoch_end(&mut m, &mut self.mlp, &mut self.optimizer)?;
            }
            on_epoch(&m, self)?;
            all.push(m);
        }
        Ok(all)
    }

    /// Mean loss and accuracy of the current model on `data` (batches of 256).
    pub fn evaluate(&mut self, data: &Dataset, hidden_shift: f32) -> Result<(f64, Option<f64>)> {
        evaluate_with(
            &self.mlp,
            data,
            self.config.loss,
            hidden_shift,
            &mut self.ws,
            &mut self.trace,
        )
    }
}

/// Check that `data` fits `mlp` and `loss`: feature count, label range, target width.
pub fn check_fit(mlp: &Mlp<f32>, data: &Dataset, loss: Loss) -> Result<()> {
    data.validate()?;
    if data.d != mlp.input_dim() {
        return Err(Error::Shape(format!(
            "{}: {} features per sample, but the model takes {}",
            data.name,
            data.d,
            mlp.input_dim()
        )));
    }
    let d_out = mlp.output_dim();
    match (&data.targets, loss) {
        (Targets::Classes { .. }, Loss::Mse) => {
            return Err(Error::Value(format!(
                "{}: mse needs real-valued targets; use cross_entropy for class labels",
                data.name
            )));
        }
        (Targets::Classes { labels, .. }, _) => {
            let classes = if d_out == 1 { 2 } else { d_out };
            if let Some((s, l)) = labels
                .iter()
                .enumerate()
                .find(|(_, &l)| l as usize >= classes)
            {
                return Err(Error::Value(format!(
                    "{}: sample {s}: label {l} out of range for a model with {d_out} output(s)",
                    data.name
                )));
            }
            if loss == Loss::CrossEntropy && d_out < 2 {
                return Err(Error::Value(
                    "cross_entropy needs at least 2 outputs; use bce_with_logits or hinge".into(),
                ));
            }
        }
        (Targets::Values { dim, .. }, l) => {
            if *dim != d_out {
                return Err(Error::Shape(format!(
                    "{}: {dim} targets per sample, but the model has {d_out} outputs",
                    data.name
                )));
            }
            if matches!(l, Loss::CrossEntropy | Loss::Hinge) {
                return Err(Error::Value(format!(
                    "{}: {l} needs integer class labels",
                    data.name
                )));
            }
        }
    }
    Ok(())
}

/// Mean loss and accuracy (classification) of `mlp` on `data`, in batches of 256.
pub fn evaluate(mlp: &Mlp<f32>, data: &Dataset, loss: Loss) -> Result<(f64, Option<f64>)> {
    let mut ws = Workspace::new(rayon::current_num_threads());
    let mut trace = Trace::default();
    evaluate_with(mlp, data, loss, 0.0, &mut ws, &mut trace)
}

fn evaluate_with(
    mlp: &Mlp<f32>,
    data: &Dataset,
    loss: Loss,
    hidden_shift: f32,
    ws: &mut Workspace<f32>,
    trace: &mut Trace<f32>,
) -> Result<(f64, Option<f64>)> {
    check_fit(mlp, data, loss)?;
    let d_out = mlp.output_dim();
    let (mut total, mut correct) = (0.0, 0usize);
    let (mut labels, mut values) = (Vec::new(), Vec::new());
    let idx: Vec<usize> = (0..data.n).collect();
    for chunk in idx.chunks(256) {
        data.gather_x(chunk, &mut trace.input);
        trace.batch = chunk.len();
        mlp.forward_ws(trace, ws, hidden_shift);
        let t = data.gather_targets(chunk, &mut labels, &mut values);
        let ls = loss
            .eval(trace.output(), chunk.len(), d_out, t, None)
            .map_err(|e| e.prefixed(&data.name))?;
        total += ls.loss;
        correct += ls.correct;
    }
    let classes = matches!(data.targets, Targets::Classes { .. });
    Ok((
        total / data.n as f64,
        classes.then(|| correct as f64 / data.n as f64),
    ))
}

/// Outcome of [`quick_digits`].
#[derive(Clone, Debug, Serialize)]
pub struct Report {
    /// Test accuracy at the end.
    pub test_accuracy: f64,
    /// Test loss at the end.
    pub test_loss: f64,
    /// Training wall-clock seconds (all epochs, evaluation excluded).
    pub train_seconds: f64,
    /// Per-epoch metrics.
    pub metrics: Vec<EpochMetrics>,
}

/// The README's main job: a 64-256-256-10 ReLU MLP trained on scikit-learn's digits (80/20
/// split, standardised, Adam lr 1e-3, batch 32, 30 epochs); returns its test accuracy and
/// training time.
pub fn quick_digits(seed: u64) -> Result<Report> {
    let spec = TrainSpec {
        dataset: Some("digits".into()),
        seed,
        ..TrainSpec::default()
    };
    let mut p = spec.prepare()?;
    let mut trainer = Trainer::new(p.mlp.clone(), p.config.clone());
    let metrics = trainer.run(&p.train, p.test.as_ref(), &mut [], |_, _| Ok(()))?;
    let test = p.test.take().expect("digits has a test split");
    let (test_loss, acc) = trainer.evaluate(&test, 0.0)?;
    Ok(Report {
        test_accuracy: acc.unwrap_or(f64::NAN),
        test_loss,
        train_seconds: metrics.iter().map(|m| m.seconds).sum(),
        metrics,
    })
}
