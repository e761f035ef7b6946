//! `valley eval CHECKPOINT`: loss and accuracy on a split.

use std::path::PathBuf;

use anyhow::{bail, Result};
use clap::Args;
use valley::train::{self, BnPolicy};

use crate::common::{data_for, load_checkpoint, DataArgs, DeviceArgs};

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
    pub split: Vec<String>,
    /// Architecture, for checkpoints without valley metadata.
    #[arg(long)]
    pub model: Option<String>,
    /// BN statistics: keep (default here) or recompute from training batches first.
    #[arg(long, default_value = "keep")]
    pub bn: String,
    /// Seed of the --train-limit/--test-limit subsets.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
}

pub fn run(a: EvalArgs) -> Result<()> {
    let device = a.device.resolve()?;
    let (ck, model) = load_checkpoint(&a.checkpoint, a.model.as_deref(), device)?;
    let data = data_for(&a.data, a.seed, &ck, &model, device)?;
    if a.bn.parse::<BnPolicy>()? == BnPolicy::Recompute {
        train::recompute_bn(&model, &data.train, 256, 20);
    }
    for split in &a.split {
        let set = match split.as_str() {
            "test" => &data.test,
            "train" => &data.train,
            other => bail!("unknown split `{other}` (expected test or train)"),
        };
        let r = train::evaluate(&model, set, 1000);
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
