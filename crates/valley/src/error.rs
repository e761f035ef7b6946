//! valley's error type: every variant names what was wrong and where.

use std::path::PathBuf;

#[derive(thiserror::Error, Debug)]
pub enum Error {
    #[error("invalid configuration: {0}")]
    Config(String),
    #[error("architecture mismatch: {0}")]
    Mismatch(String),
    #[error("checkpoint {path}: {detail}")]
    Checkpoint { path: PathBuf, detail: String },
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("{path}: {detail}")]
    Json { path: PathBuf, detail: String },
    #[error(transparent)]
    Data(#[from] valley_data::DataError),
    /// Writing a file failed (see `valley_base::atomic_write`).
    #[error(transparent)]
    Write(#[from] valley_base::Error),
    #[error("libtorch: {0}")]
    Torch(#[from] tch::TchError),
    #[error("training diverged: loss is {loss} at epoch {epoch}, step {step}; the last good checkpoint is kept{hint}")]
    NonFinite { epoch: usize, step: usize, loss: f64, hint: String },
}

pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io { path: path.into(), source }
    }

    pub fn checkpoint(path: impl Into<PathBuf>, detail: impl Into<String>) -> Self {
        Error::Checkpoint { path: path.into(), detail: detail.into() }
    }
}
