//! `valley fed` and `valley partition` (being written).
use anyhow::{bail, Result};
#[derive(clap::Args, Debug)]
pub struct FedArgs {}
#[derive(clap::Args, Debug)]
pub struct PartitionArgs {}
pub fn run(_: FedArgs) -> Result<()> { bail!("not available in this build") }
pub fn partition(_: PartitionArgs) -> Result<()> { bail!("not available in this build") }
