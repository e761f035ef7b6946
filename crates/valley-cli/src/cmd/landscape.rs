//! `valley landscape` (being written).
use anyhow::{bail, Result};
#[derive(clap::Args, Debug)]
pub struct LandscapeArgs {}
pub fn run(_: LandscapeArgs) -> Result<()> {
    bail!("valley landscape is not available in this build")
}
