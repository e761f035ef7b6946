//! Arguments and helpers shared by several subcommands.

use std::path::PathBuf;

use anyhow::Result;
use clap::Args;
use serde::{Deserialize, Deserializer};
use valley::checkpoint::Checkpoint;
use valley::device::{self, DeviceChoice};
use valley::eval::{BnAugment, BnPolicy, EvalConfig};
use valley::train::DataConfig;
use valley::{Arch, Device, Model};
use valley_data::DatasetKind;

/// Which data to use.
#[derive(Args, Clone, Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DataArgs {
    /// Dataset: fashion-mnist, mnist, cifar10, cifar100, svhn, image-folder, csv, digits.
    #[arg(long)]
    #[serde(deserialize_with = "opt_from_str")]
    pub dataset: Option<DatasetKind>,
    /// Folder with the dataset's files (also VALLEY_<NAME>_DIR, e.g. VALLEY_CIFAR10_DIR).
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// Use a stratified subset of this many training samples (deterministic by --seed).
    #[arg(long)]
    pub train_limit: Option<usize>,
    /// Use a stratified subset of this many test samples (default: the full test split).
    #[arg(long)]
    pub test_limit: Option<usize>,
}

impl DataArgs {
    /// The data configuration; `subset_seed` fixes which samples a limit keeps.
    pub fn config(&self, default: DatasetKind, subset_seed: u64) -> Result<DataConfig> {
        let dataset = self.dataset.unwrap_or(default);
        Ok(DataConfig {
            dataset,
            data_dir: self.data_dir.clone(),
            train_limit: self.train_limit,
            test_limit: self.test_limit,
            subset_seed,
            augment: None,
        })
    }
}

/// Where to compute.
#[derive(Args, Clone, Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DeviceArgs {
    /// auto (CUDA when present), cpu or cuda.
    #[arg(long)]
    #[serde(deserialize_with = "opt_from_str")]
    pub device: Option<DeviceChoice>,
    /// libtorch intra-op threads (default: libtorch's choice; OMP_NUM_THREADS also works).
    #[arg(long)]
    pub threads: Option<usize>,
}

impl DeviceArgs {
    pub fn resolve(&self) -> Result<Device> {
        device::set_threads(self.threads.unwrap_or(0));
        Ok(self.device.unwrap_or(DeviceChoice::Auto).resolve()?)
    }
}

/// What a checkpoint without valley metadata cannot tell from its tensors alone.
#[derive(Args, Clone, Copy, Debug, Default)]
pub struct ShapeArgs {
    /// Input channels, for checkpoints without valley metadata (when the tensors leave it open).
    #[arg(long)]
    pub in_channels: Option<i64>,
    /// Input image side, for checkpoints without valley metadata (when the tensors leave it open).
    #[arg(long)]
    pub image_size: Option<i64>,
    /// Number of classes, for checkpoints without valley metadata (checked against the tensors).
    #[arg(long)]
    pub num_classes: Option<i64>,
}

impl ShapeArgs {
    fn hints(&self) -> valley::checkpoint::ShapeHints {
        valley::checkpoint::ShapeHints {
            in_channels: self.in_channels,
            image_size: self.image_size,
            num_classes: self.num_classes,
        }
    }
}

/// Loads a checkpoint as a model. `arch` and `shape` describe files without valley's
/// metadata (the tensors determine what they can, see `Checkpoint::infer_config`); for a
/// valley checkpoint an `arch` that contradicts its metadata is an error.
pub fn load_checkpoint(
    path: &std::path::Path,
    arch: Option<Arch>,
    shape: &ShapeArgs,
    device: Device,
) -> Result<(valley::checkpoint::Checkpoint, Model)> {
    let ck = valley::checkpoint::Checkpoint::read(path)?;
    let fallback = match (ck.model_config()?, arch) {
        (None, Some(a)) => Some(ck.infer_config(a, shape.hints())?),
        (Some(saved), Some(a)) if saved.arch != a => anyhow::bail!(
            "--model {a} contradicts {}, which holds a {} model; drop --model (valley checkpoints record their architecture)",
            path.display(),
            saved.arch
        ),
        _ => None,
    };
    let model = ck.to_model(fallback.as_ref(), device)?;
    Ok((ck, model))
}

/// Loads the data a checkpoint was trained with, and checks the model fits it.
pub fn data_for(
    args: &DataArgs,
    seed: u64,
    ck: &valley::checkpoint::Checkpoint,
    model: &Model,
    device: Device,
) -> Result<valley::train::Prepared> {
    let data =
        valley::train::prepare(&args.config(DatasetKind::FashionMnist, seed)?, ck.normalisation().as_ref(), device)?;
    data.check_fits(model.config(), &ck.path)?;
    Ok(data)
}

/// Reads an optional value of a config file with the type's `FromStr`, as the command line
/// does, so that both accept the same spellings.
pub fn opt_from_str<'de, D, T>(d: D) -> std::result::Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: std::str::FromStr,
    T::Err: std::fmt::Display,
{
    Option::<String>::deserialize(d)?.map(|s| s.parse().map_err(serde::de::Error::custom)).transpose()
}

/// Refuses an output folder path that names an existing file.
pub fn check_output_dir(out: &std::path::Path) -> Result<()> {
    if out.exists() && !out.is_dir() {
        anyhow::bail!("--out {} is an existing file, not a folder; choose a folder path", out.display());
    }
    Ok(())
}

/// Evaluation and BN re-estimation options of every command that evaluates a model; the
/// defaults are [`EvalConfig::default`]'s.
#[derive(Args, Debug, Clone)]
pub struct EvalOptions {
    /// BN running statistics: recompute (reset + cumulative re-estimation on training
    /// samples, the paper) or keep [default: recompute; keep for `eval` and `merge`, where
    /// `average` also means keep].
    #[arg(long)]
    pub bn: Option<BnPolicy>,
    /// Training batches used to re-estimate BN statistics.
    #[arg(long, default_value_t = EvalConfig::default().bn_batches)]
    pub bn_batches: usize,
    /// Samples per BN re-estimation batch.
    #[arg(long, default_value_t = EvalConfig::default().bn_batch)]
    pub bn_batch: usize,
    /// Seed of the draw of BN re-estimation samples from the training split.
    #[arg(long, default_value_t = EvalConfig::default().bn_seed)]
    pub bn_seed: u64,
    /// Evaluation batch size (no gradients, so large batches are cheap).
    #[arg(long, default_value_t = EvalConfig::default().eval_batch)]
    pub eval_batch: usize,
    /// Crop and flip the BN re-estimation samples: as-trained (when the checkpoint records a
    /// training with augmentation), yes or no.
    #[arg(long, default_value = "as-trained")]
    pub bn_augment: BnAugment,
}

impl EvalOptions {
    /// The configuration, with `default_bn` when `--bn` is not given; `ck` is the checkpoint
    /// whose recorded training decides `--bn-augment as-trained` (none: not augmented).
    pub fn config(&self, default_bn: BnPolicy, ck: Option<&Checkpoint>) -> Result<EvalConfig> {
        let bn_augment = self.bn_augment.resolve(ck)?;
        let cfg = EvalConfig {
            bn: self.bn.unwrap_or(default_bn),
            bn_batch: self.bn_batch,
            bn_batches: self.bn_batches,
            eval_batch: self.eval_batch,
            bn_seed: self.bn_seed,
            bn_augment,
        };
        cfg.validate()?;
        Ok(cfg)
    }
}
