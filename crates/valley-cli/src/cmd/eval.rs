//! `valley eval CHECKPOINT`: loss and accuracy on a split.

use std::path::PathBuf;

use anyhow::Result;
use clap::Args;
use valley::eval::{BnPolicy, Split};

use crate::common::{data_for, load_checkpoint, DataArgs, DeviceArgs, EvalOptions, ShapeArgs};

#[derive(Args, Debug)]
pub struct EvalArgs {
    /// A safetensors checkpoint (valley's, or PyTorch's with --model).
    pub checkpoint: PathBuf,
    #[command(flatten)]
    pub data: DataArgs,
    #[command(flatten)]
    pub device: DeviceArgs,
    /// Split(s) to evaluate: test, train or train,test.
    #[arg(long, default_value = "test", value_delimiter = ',')]
    pub split: Vec<Split>,
    /// Architecture, for checkpoints without valley metadata.
    #[arg(long)]
    pub model: Option<valley::Arch>,
    #[command(flatten)]
    pub eval: EvalOptions,
    #[command(flatten)]
    pub shape: ShapeArgs,
    /// Seed of the --train-limit/--test-limit subsets.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
}

pub fn run(a: EvalArgs) -> Result<()> {
    let device = a.device.resolve()?;
    let (ck, model) = load_checkpoint(&a.checkpoint, a.model, &a.shape, device)?;
    let data = data_for(&a.data, a.seed, &ck, &model, device)?;
    // A checkpoint is evaluated as saved unless asked otherwise.
    let cfg = a.eval.config(BnPolicy::Keep, Some(&ck))?;
    if cfg.bn == BnPolicy::Recompute {
        cfg.apply_bn(&model, &cfg.bn_sample(&data.train).set);
    }
    for split in &a.split {
        let set = match split {
            Split::Test => &data.test,
            Split::Train => &data.train,
        };
        let r = cfg.evaluate(&model, set);
        println!(
            "{split}: loss {:.4}  accuracy {:.2}%  ({} samples of {})",
            r.loss,
            r.accuracy * 100.0,
            set.len(),
            data.name
        );
    }
    Ok(())
}
