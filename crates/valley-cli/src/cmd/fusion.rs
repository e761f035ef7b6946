//! `valley interpolate|ssr|soups|merge` (being written).
use anyhow::{bail, Result};
#[derive(clap::Args, Debug)]
pub struct InterpolateArgs {}
#[derive(clap::Args, Debug)]
pub struct SsrArgs {}
#[derive(clap::Args, Debug)]
pub struct SoupsArgs {}
#[derive(clap::Args, Debug)]
pub struct MergeArgs {}
pub fn interpolate(_: InterpolateArgs) -> Result<()> { bail!("not available in this build") }
pub fn ssr(_: SsrArgs) -> Result<()> { bail!("not available in this build") }
pub fn soups(_: SoupsArgs) -> Result<()> { bail!("not available in this build") }
pub fn merge(_: MergeArgs) -> Result<()> { bail!("not available in this build") }
