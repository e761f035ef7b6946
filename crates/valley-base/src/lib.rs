//! Infrastructure every valley crate shares, with one copy of each piece:
//!
//! - [`io::atomic_write`]: write a file so that readers see the old or the complete new one;
//! - [`csv::CsvWriter`]: the one CSV writer (RFC 4180 quoting by the `csv` crate, atomic);
//! - [`stats`]: mean, standard deviation and error, the t interval, Spearman ρ, Kendall τ-b;
//! - [`meta::RunMeta`]: the metadata block every run writes (tool version, git revision set
//!   at build time, seed, dataset identity, options).
//!
//! Why a crate of its own: the two lowest crates, `valley-data` (datasets) and
//! `valley-report` (plots, HTML), both write files and neither may depend on the other, so
//! the shared pieces sit one level below both. This crate knows nothing about tensors,
//! models or the paper; it depends only on serde, serde_json, csv and thiserror.

pub mod csv;
pub mod error;
pub mod io;
pub mod meta;
pub mod stats;

pub use error::{Error, Result};
pub use io::atomic_write;
pub use meta::RunMeta;

/// The valley version (all crates of the workspace share it).
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// `git rev-parse --short HEAD` of the tree this binary was built from, `-dirty` appended when
/// tracked files had changes, "unknown" when built outside a git checkout.
pub const GIT_REVISION: &str = env!("VALLEY_GIT_REVISION");
