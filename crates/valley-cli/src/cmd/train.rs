//! `valley train`: flags and/or a TOML config file → a run folder.

use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use clap::Args;
use serde::Deserialize;
use valley::train::{self, Event, OptimConfig, OptimizerKind, Schedule, TrainConfig};
use valley::{Arch, BnInit, ModelConfig};
use valley_data::DatasetKind;

use crate::common::{opt_from_str, DataArgs, DeviceArgs};
use crate::progress;

/// Every option of a training run. Flags override the `--config` file; the file uses the
/// same names with underscores (e.g. `train_limit = 3000`).
#[derive(Args, Clone, Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TrainArgs {
    /// TOML file with any of these options.
    #[arg(long)]
    #[serde(skip)]
    pub config: Option<PathBuf>,
    /// Output run folder (default runs/<model>-<dataset>-seed<seed>).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Continue an interrupted run from its last checkpoint (same result as uninterrupted).
    #[arg(long)]
    #[serde(skip)]
    pub resume: bool,
    #[command(flatten)]
    #[serde(flatten)]
    pub data: DataArgs,
    #[command(flatten)]
    #[serde(flatten)]
    pub device: DeviceArgs,
    /// Architecture: linear, mlp, cnn, vgg11[-bn], vgg13[-bn], vgg16[-bn], vgg19[-bn], resnet20, resnet18.
    #[arg(long)]
    #[serde(deserialize_with = "opt_from_str")]
    pub model: Option<Arch>,
    /// Width multiplier for channels and hidden units (1 = the paper's widths).
    #[arg(long)]
    pub width: Option<f64>,
    /// MLP hidden widths, comma separated (default 512,512).
    #[arg(long, value_delimiter = ',')]
    pub hidden: Option<Vec<i64>>,
    /// BN weight initialisation: ones (default), uniform U(0,1), gauss G(0,0.1).
    #[arg(long)]
    #[serde(deserialize_with = "opt_from_str")]
    pub bn_init: Option<BnInit>,
    /// Training epochs (the budget).
    #[arg(long)]
    pub epochs: Option<usize>,
    /// Mini-batch size (paper: 256).
    #[arg(long)]
    pub batch_size: Option<usize>,
    /// Learning rate (paper: 0.03).
    #[arg(long)]
    pub lr: Option<f64>,
    /// Momentum (paper: 0.9).
    #[arg(long)]
    pub momentum: Option<f64>,
    /// Weight decay (paper: 5e-4).
    #[arg(long)]
    pub weight_decay: Option<f64>,
    /// Nesterov momentum.
    #[arg(long)]
    pub nesterov: Option<bool>,
    /// Optimiser: sgd (default) or adamw.
    #[arg(long)]
    #[serde(deserialize_with = "opt_from_str")]
    pub optimizer: Option<OptimizerKind>,
    /// Schedule: cosine (default), constant, step:EVERY:GAMMA.
    #[arg(long)]
    #[serde(deserialize_with = "opt_from_str")]
    pub schedule: Option<Schedule>,
    /// Random seed (initialisation, shuffling, subsets).
    #[arg(long)]
    pub seed: Option<u64>,
    /// Random crop + flip augmentation (default: on for 32x32 data, off otherwise).
    #[arg(long)]
    pub augment: Option<bool>,
    /// Epochs after which to keep epoch-N.safetensors, comma separated.
    #[arg(long, value_delimiter = ',')]
    pub save_epochs: Option<Vec<usize>>,
}

macro_rules! merge {
    ($flags:expr, $file:expr, $($field:ident),*) => { $( if $flags.$field.is_none() { $flags.$field = $file.$field.clone(); } )* };
}

impl TrainArgs {
    /// Flags first, then the config file.
    fn merged(mut self) -> Result<Self> {
        let Some(path) = self.config.clone() else { return Ok(self) };
        let text = std::fs::read_to_string(&path).with_context(|| format!("reading config {}", path.display()))?;
        let file: TrainArgs = toml::from_str(&text).with_context(|| format!("config {}", path.display()))?;
        merge!(
            self,
            file,
            out,
            model,
            width,
            hidden,
            bn_init,
            epochs,
            batch_size,
            lr,
            momentum,
            weight_decay,
            nesterov,
            optimizer,
            schedule,
            seed,
            augment,
            save_epochs
        );
        merge!(self.data, file.data, dataset, data_dir, train_limit, test_limit);
        merge!(self.device, file.device, device, threads);
        Ok(self)
    }

    /// The library configuration with the paper's defaults filled in.
    pub fn to_config(&self) -> Result<TrainConfig> {
        let seed = self.seed.unwrap_or(0);
        let mut data = self.data.config(DatasetKind::FashionMnist, seed)?;
        data.augment = self.augment;
        let arch = self.model.unwrap_or(Arch::Cnn);
        let mut model = ModelConfig::new(arch, 1, 28, 10);
        model.width = self.width.unwrap_or(1.0);
        if let Some(h) = &self.hidden {
            model.hidden = h.clone();
        }
        model.bn_init = self.bn_init.unwrap_or_default();
        let d = OptimConfig::default();
        let optim = OptimConfig {
            kind: self.optimizer.unwrap_or(d.kind),
            lr: self.lr.unwrap_or(d.lr),
            momentum: self.momentum.unwrap_or(d.momentum),
            weight_decay: self.weight_decay.unwrap_or(d.weight_decay),
            nesterov: self.nesterov.unwrap_or(false),
            ..d
        };
        let cfg = TrainConfig {
            data,
            model,
            optim,
            schedule: self.schedule.clone().unwrap_or_default(),
            epochs: self.epochs.unwrap_or(10),
            batch_size: self.batch_size.unwrap_or(256),
            seed,
            save_epochs: self.save_epochs.clone().unwrap_or_default(),
            eval_batch: 1000,
        };
        cfg.validate()?;
        Ok(cfg)
    }
}

pub fn run(args: TrainArgs) -> Result<()> {
    let args = args.merged()?;
    let cfg = args.to_config()?;
    let device = args.device.resolve()?;
    let out = args.out.clone().unwrap_or_else(|| {
        PathBuf::from(format!("runs/{}-{}-seed{}", cfg.model.arch, cfg.data.dataset.name(), cfg.seed))
    });
    if !args.resume && valley::train::RunDir::new(&out).final_().exists() {
        bail!("{} already holds a finished run; choose another --out or delete it", out.display());
    }
    let summary = train_with_progress(&cfg, &out, device, args.resume)?;
    println!(
        "test accuracy {:.2}% (loss {:.4}) after {} epochs; run saved in {}",
        summary.test_accuracy * 100.0,
        summary.test_loss,
        cfg.epochs,
        out.display()
    );
    Ok(())
}

/// Runs training with a progress bar per epoch (plain lines when not on a terminal).
pub fn train_with_progress(
    cfg: &TrainConfig,
    out: &std::path::Path,
    device: valley::Device,
    resume: bool,
) -> Result<train::RunSummary> {
    let mut pb = progress::bar(0, "train");
    let mut on_event = |e: Event| match e {
        Event::EpochStart { epoch, epochs, steps } => {
            pb = progress::bar(steps as u64, &format!("epoch {epoch}/{epochs}"));
        }
        Event::Step { step, loss } => {
            pb.set_position(step as u64);
            pb.set_message(format!("loss {loss:.4}"));
        }
        Event::EpochEnd(r) => {
            pb.finish_and_clear();
            progress::line(
                &pb,
                format!(
                    "epoch {:>3}  lr {:.4}  train loss {:.4} acc {:.2}%  test loss {:.4} acc {:.2}%  ({:.1}s)",
                    r.epoch,
                    r.lr,
                    r.train_loss,
                    r.train_accuracy * 100.0,
                    r.test_loss,
                    r.test_accuracy * 100.0,
                    r.seconds
                ),
            );
        }
        Event::Resumed { epoch } => progress::line(&pb, format!("resuming after epoch {epoch}")),
    };
    Ok(train::run(cfg, out, device, resume, &mut on_event)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn key() -> impl Strategy<Value = &'static str> {
        prop_oneof![
            Just("epochs"),
            Just("batch_size"),
            Just("lr"),
            Just("momentum"),
            Just("weight_decay"),
            Just("width"),
            Just("hidden"),
            Just("save_epochs"),
            Just("schedule"),
            Just("model"),
            Just("dataset"),
            Just("train_limit"),
            Just("seed"),
            Just("bn_init"),
            Just("optimizer"),
            Just("nesterov"),
            Just("unknown_key"),
        ]
    }

    fn value() -> impl Strategy<Value = String> {
        prop_oneof![
            (-3i64..300).prop_map(|v| v.to_string()),
            any::<f64>().prop_map(|v| format!("{v:?}")),
            Just("nan".to_string()),
            Just("inf".to_string()),
            Just("-inf".to_string()),
            Just("[0, 1, 99]".to_string()),
            Just("[]".to_string()),
            Just("true".to_string()),
            "\"[a-z0-9:.-]{0,10}\"",
            Just("\"step:2:0.1\"".to_string()),
            Just("\"mlp\"".to_string()),
            Just("18446744073709551616".to_string()),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig {
            cases: 512,
            failure_persistence: None,
            rng_seed: proptest::test_runner::RngSeed::Fixed(0x5eed_0012),
            ..ProptestConfig::default()
        })]

        /// A `--config` file, valid TOML or not, gives an error or a configuration that
        /// passes validation; it never panics.
        #[test]
        fn toml_configs_give_a_valid_config_or_an_error(
            entries in proptest::collection::vec((key(), value()), 0..5),
            junk in "[ -~\n]{0,40}",
        ) {
            let text: String = entries.iter().map(|(k, v)| format!("{k} = {v}\n")).collect();
            for text in [text, junk] {
                if let Ok(args) = toml::from_str::<TrainArgs>(&text) {
                    if let Ok(cfg) = args.to_config() {
                        prop_assert!(cfg.validate().is_ok());
                        prop_assert!(cfg.save_epochs.iter().all(|&e| e >= 1 && e <= cfg.epochs));
                        prop_assert!(cfg.optim.lr.is_finite() && cfg.optim.lr > 0.0);
                    }
                }
            }
        }
    }
}
