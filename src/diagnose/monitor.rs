//! Live diagnostics during training: an [`Observer`] of the training loop that accumulates
//! layer health from every step's own trace and gradients (nothing is recomputed) and writes
//! a per-epoch summary into the epoch's metrics (the JSON lines of `relulab train --monitor`).
//!
//! Over an epoch, "dead" means never active on any training sample seen during that epoch's
//! steps (the weights move between steps, so this is the training-time version of the
//! data-set definition), and ReDo scores average |h| over those samples.

use super::{HealthAccumulator, HealthConfig, LayerHealth};
use crate::error::Result;
use crate::net::{Mlp, Optimizer};
use crate::train::{EpochMetrics, Observer, StepInfo};
use serde_json::json;

/// Accumulates [`LayerHealth`] over each epoch's training steps.
#[derive(Clone, Debug)]
pub struct HealthMonitor {
    config: HealthConfig,
    acc: Option<HealthAccumulator>,
    /// Per-epoch health, in order.
    pub history: Vec<Vec<LayerHealth>>,
}

impl HealthMonitor {
    /// A monitor with the given dormancy threshold and histogram bins.
    pub fn new(config: HealthConfig) -> Self {
        HealthMonitor {
            config,
            acc: None,
            history: Vec::new(),
        }
    }
}

/// The compact per-layer summary written into the metrics line (no per-unit arrays except the
/// dead units' indices).
pub fn summary(h: &LayerHealth) -> serde_json::Value {
    json!({
        "layer": h.layer,
        "units": h.units,
        "sparsity": h.sparsity,
        "sample_sparsity_mean": h.sample_sparsity_mean,
        "sample_sparsity_min": h.sample_sparsity_min,
        "sample_sparsity_max": h.sample_sparsity_max,
        "sample_sparsity_hist": h.sample_sparsity_hist,
        "dead": h.dead.len(),
        "dead_units": h.dead,
        "dead_fraction": h.dead_fraction,
        "dormant": h.dormant.len(),
        "dormant_fraction": h.dormant_fraction,
        "tau": h.tau,
        "pre_mean": h.pre_mean,
        "pre_std": h.pre_std,
        "pre_frac_negative": h.pre_frac_negative,
        "pre_frac_zero": h.pre_frac_zero,
        "grad_pre_norm": h.grad_pre_norm,
        "grad_weight_norm_per_step": h.grad_weight_norm_per_batch,
    })
}

impl Observer for HealthMonitor {
    fn on_step(
        &mut self,
        info: &StepInfo<'_>,
        mlp: &mut Mlp<f32>,
        _optimizer: &mut Optimizer<f32>,
    ) -> Result<()> {
        let config = self.config;
        self.acc
            .get_or_insert_with(|| HealthAccumulator::new(mlp, config))
            .observe(info.trace, Some(info.grads));
        Ok(())
    }

    fn on_epoch_end(
        &mut self,
        metrics: &mut EpochMetrics,
        _mlp: &mut Mlp<f32>,
        _optimizer: &mut Optimizer<f32>,
    ) -> Result<()> {
        if let Some(acc) = self.acc.take() {
            let health = acc.finish();
            let hidden: Vec<&LayerHealth> = health.iter().filter(|h| !h.is_output).collect();
            let units: usize = hidden.iter().map(|h| h.units).sum::<usize>().max(1);
            let dead: usize = hidden.iter().map(|h| h.dead.len()).sum();
            let dormant: usize = hidden.iter().map(|h| h.dormant.len()).sum();
            metrics
                .extra
                .insert("dead_fraction".into(), json!(dead as f64 / units as f64));
            metrics.extra.insert(
                "dormant_fraction".into(),
                json!(dormant as f64 / units as f64),
            );
            metrics.extra.insert(
                "health".into(),
                serde_json::Value::Array(health.iter().map(summary).collect()),
            );
            self.history.push(health);
        }
        Ok(())
    }
}
