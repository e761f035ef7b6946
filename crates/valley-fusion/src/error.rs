//! valley-fusion's error type: every variant names the file, grid or option that was wrong.

use std::path::PathBuf;

#[derive(thiserror::Error, Debug)]
pub enum Error {
    #[error(transparent)]
    Valley(#[from] valley::Error),
    #[error(transparent)]
    Data(#[from] valley_data::Error),
    #[error(transparent)]
    Report(#[from] valley_report::Error),
    /// Writing a file failed (see `valley_base::atomic_write`).
    #[error(transparent)]
    Write(#[from] valley_base::Error),
    #[error("{} and {} are not the same architecture", a.display(), b.display())]
    Mismatch {
        a: PathBuf,
        b: PathBuf,
        #[source]
        source: valley::Error,
    },
    #[error("invalid configuration: {0}")]
    Config(String),
}

pub type Result<T> = std::result::Result<T, Error>;
