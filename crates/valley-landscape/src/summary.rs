//! `summary.json` and `bn-indices.json`: everything a landscape run measured, with what it
//! was made from, so that the run can be reproduced from the files beside its results.

use std::path::{Path, PathBuf};

use serde_json::{json, Value};
use valley::train::DataConfig;

use crate::run::{Aggregate, Curve, LandscapeSpec};
use crate::sweep::{EvalData, Evaluator, PointEval};
use crate::Result;

/// Where a landscape run came from (besides its spec and evaluation settings).
pub struct Provenance<'a> {
    /// The command line.
    pub command: Vec<String>,
    pub checkpoint: &'a Path,
    pub checkpoint_sha256: &'a str,
    /// θ0 of the `init` direction.
    pub init: Option<&'a Path>,
    pub data: &'a DataConfig,
    /// The device, as [`valley::device::describe`] names it.
    pub device: String,
}

/// How long the sweep took.
pub struct Timing {
    pub sweep_seconds: f64,
    /// Points evaluated (θf's cached point counted once).
    pub evaluated_points: usize,
    /// Directions × λ values.
    pub grid_points: usize,
}

/// The file `bn-indices.json` that `summary.json` points to.
pub const BN_INDICES_FILE: &str = "bn-indices.json";

/// Writes `out/summary.json` (versions, command, checkpoint, data, spec, BN settings, θf's
/// loss and error, timing, every curve's metrics, their aggregates over seeds) and
/// `out/bn-indices.json` (the BN re-estimation samples' indices in the training split).
/// `theta_f` is θf's evaluation. Returns the path of `summary.json`.
pub fn write_summary(
    out: &Path,
    from: &Provenance,
    eval: &Evaluator,
    spec: &LandscapeSpec,
    (curves, aggregates): (&[Curve], &[Aggregate]),
    theta_f: &PointEval,
    timing: &Timing,
) -> Result<PathBuf> {
    let data = eval.data();
    let config = &eval.config;
    let summary = valley_base::RunMeta::new().stamp(json!({
        "command": from.command,
        "checkpoint": {
            "path": from.checkpoint,
            "sha256": from.checkpoint_sha256,
            "model": eval.model().config(),
            "init": from.init,
        },
        "dataset": dataset_record(data, from.data),
        "spec": spec.record(),
        "bn": {
            "policy": config.bn,
            "batch": config.bn_batch,
            "batches": config.bn_batches,
            "seed": config.bn_seed,
            "augment": config.bn_augment,
            "samples": data.bn_set.len(),
            "momentum": "cumulative average (PyTorch momentum=None) after reset",
            "indices_file": BN_INDICES_FILE,
        },
        "eval_batch": config.eval_batch,
        "device": from.device,
        "theta_f": theta_f
            .per_split
            .iter()
            .map(|(s, e)| (s.to_string(), json!({"loss": e.loss, "error": e.error()})))
            .collect::<serde_json::Map<_, _>>(),
        "timing": {
            "sweep_seconds": timing.sweep_seconds,
            "evaluated_points": timing.evaluated_points,
            "grid_points": timing.grid_points,
        },
        "curves": curves.iter().map(curve_record).collect::<Vec<_>>(),
        "aggregated": aggregates,
    }));
    let path = out.join("summary.json");
    valley_base::atomic_write(&path, serde_json::to_string_pretty(&summary).unwrap_or_default().as_bytes())?;
    let indices = serde_json::to_string(&data.bn_indices).unwrap_or_default();
    valley_base::atomic_write(&out.join(BN_INDICES_FILE), indices.as_bytes())?;
    Ok(path)
}

fn curve_record(c: &Curve) -> Value {
    json!({
        "direction": c.key.direction_id(), "sign": c.key.sign.label(), "scale": c.key.scale,
        "group": c.key.group.to_string(), "seed": c.seed, "split": c.key.split, "direction_norm": c.direction_norm, "file": c.file,
        "error": c.error_metrics, "loss": c.loss_metrics,
    })
}

fn dataset_record(data: &EvalData, cfg: &DataConfig) -> Value {
    json!({
        "name": data.dataset,
        "files": data.files,
        "splits": data.splits.iter().map(|(s, t)| (s.to_string(), json!(t.len()))).collect::<serde_json::Map<_, _>>(),
        "train_size": data.train_size,
        "train_limit": cfg.train_limit,
        "test_limit": cfg.test_limit,
        "subset_seed": cfg.subset_seed,
        "normalisation": data.normalisation,
        "normalisation_source": if data.normalisation_from_checkpoint { "checkpoint" } else { "computed on the training split" },
    })
}
