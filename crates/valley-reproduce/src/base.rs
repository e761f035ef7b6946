//! What every reproduction reports about the trained models it measured (PAPER.md §6: the
//! regime is part of the result): accuracy, how far training went, how much of the network
//! sits behind BN, and how far θf moved from θ0 in sign.

use std::path::Path;

use valley::checkpoint::Checkpoint;
use valley::params::{ssr, Group, Params};
use valley::train::{read_metrics, RunDir, TrainConfig};

use crate::Result;

/// One trained model of a reproduction, as `verdict.json` and the report state it.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ModelRecord {
    /// The cache folder it was trained into (`<arch>-<dataset>-<config hash>`).
    pub run: String,
    pub arch: String,
    pub width: f64,
    pub dataset: String,
    /// Training images used (all of the split when the config sets no limit).
    pub train_images: Option<usize>,
    pub epochs: usize,
    pub test_accuracy: f64,
    pub final_train_loss: f64,
    /// (loss of the second-to-last epoch − last) / second-to-last: near 0 on a plateau.
    pub last_epoch_loss_drop: Option<f64>,
    /// Share of the learnable parameters that are conv weights followed by BN.
    pub bn_share: f64,
    /// SSR(θ0, θf) over all learnable parameters.
    pub ssr_init_final: f64,
}

impl ModelRecord {
    /// The record of the model trained by `cfg` in `run`.
    pub fn of(cfg: &TrainConfig, run: &Path, device: valley::Device) -> Result<Self> {
        let dir = RunDir::new(run);
        let epochs = read_metrics(&dir.metrics())?;
        let last = epochs.last();
        let drop = match epochs.as_slice() {
            [.., a, b] if a.train_loss > 0.0 => Some((a.train_loss - b.train_loss) / a.train_loss),
            _ => None,
        };
        let final_model = Checkpoint::read(&dir.final_())?.to_model(None, device)?;
        let theta_f = Params::of(&final_model);
        let theta_0 = Params::of(&Checkpoint::read(&dir.init())?.to_model(None, device)?);
        let count = |mask: Option<&[bool]>| {
            theta_f
                .tensors
                .iter()
                .enumerate()
                .filter(|(i, _)| mask.is_none_or(|m| m[*i]))
                .map(|(_, t)| t.numel())
                .sum::<usize>()
        };
        // Networks without BN have no parameter behind BN (and an MLP no conv to mask).
        let bn_share = if cfg.model.arch.has_bn() {
            count(Some(&Group::Conv.mask(&final_model)?)) as f64 / count(None).max(1) as f64
        } else {
            0.0
        };
        Ok(Self {
            run: run.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default(),
            arch: cfg.model.arch.name(),
            width: cfg.model.width,
            dataset: cfg.data.dataset.name().to_string(),
            train_images: cfg.data.train_limit,
            epochs: cfg.epochs,
            test_accuracy: last.map_or(f64::NAN, |r| r.test_accuracy),
            final_train_loss: last.map_or(f64::NAN, |r| r.train_loss),
            last_epoch_loss_drop: drop,
            bn_share,
            ssr_init_final: ssr(&theta_0, &theta_f, None),
        })
    }

    /// One line for logs and reports.
    pub fn summary(&self) -> String {
        format!(
            "{} (width {}) on {} ({} training images, {} epochs): test accuracy {:.2} %, final training loss {:.4}{}, {:.1} % of parameters conv weights followed by BN, SSR(θ0, θf) = {:.3}",
            self.arch,
            self.width,
            self.dataset,
            self.train_images.map_or("all".to_string(), |n| n.to_string()),
            self.epochs,
            100.0 * self.test_accuracy,
            self.final_train_loss,
            self.last_epoch_loss_drop.map_or(String::new(), |d| format!(" (last epoch −{:.1} %)", 100.0 * d)),
            100.0 * self.bn_share,
            self.ssr_init_final
        )
    }
}
