//! `valley info CHECKPOINT`: architecture, parameter count, groups.

use std::path::PathBuf;

use anyhow::Result;
use clap::Args;
use valley::params::Group;

use crate::common::{load_checkpoint, ShapeArgs};

#[derive(Args, Debug)]
pub struct InfoArgs {
    pub checkpoint: PathBuf,
    /// Architecture, for checkpoints without valley metadata.
    #[arg(long)]
    pub model: Option<valley::Arch>,
    #[command(flatten)]
    pub shape: ShapeArgs,
    /// Also list every tensor.
    #[arg(long)]
    pub tensors: bool,
}

pub fn run(a: InfoArgs) -> Result<()> {
    let (ck, model) = load_checkpoint(&a.checkpoint, a.model, &a.shape, valley::Device::Cpu)?;
    let c = model.config();
    println!("checkpoint   {}", a.checkpoint.display());
    println!("sha256       {}", valley::checkpoint::sha256_file(&a.checkpoint)?);
    println!("model        {} (width {}, BN init {:?})", c.arch, c.width, c.bn_init);
    println!("input        {}x{}x{}, {} classes", c.in_channels, c.image_size, c.image_size, c.num_classes);
    println!(
        "parameters   {} learnable in {} tensors ({} tensors with buffers)",
        model.num_parameters(),
        model.parameters().count(),
        model.entries().len()
    );
    for key in ["seed", "epoch", "valley_version"] {
        if let Some(v) = ck.metadata.get(key) {
            println!("{key:<12} {v}");
        }
    }
    println!("groups:");
    for g in Group::named() {
        match g.mask(&model) {
            Ok(mask) => {
                let n: i64 =
                    model.parameters().zip(&mask).filter(|(_, &m)| m).map(|(e, _)| e.tensor.numel() as i64).sum();
                println!(
                    "  {:<13} {:>10} parameters in {:>3} tensors",
                    g.to_string(),
                    n,
                    mask.iter().filter(|&&m| m).count()
                );
            }
            Err(_) => println!("  {:<13} (empty for this architecture)", g.to_string()),
        }
    }
    if a.tensors {
        for e in model.entries() {
            println!("  {:<40} {:?} {:?}", e.name, e.tensor.size(), e.role);
        }
    }
    Ok(())
}
