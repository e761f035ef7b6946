//! valley-fed's error type.

use std::path::PathBuf;

#[derive(thiserror::Error, Debug)]
pub enum Error {
    #[error("invalid federated setting: {0}")]
    Config(String),
    #[error("cannot resume from {path}: {detail}")]
    Resume { path: PathBuf, detail: String },
    #[error("client {client} in round {round} failed")]
    Client { round: usize, client: usize, source: valley::Error },
    #[error(transparent)]
    Valley(#[from] valley::Error),
    #[error(transparent)]
    Data(#[from] valley_data::Error),
    /// Writing a file failed (see `valley_base::atomic_write`).
    #[error(transparent)]
    Write(#[from] valley_base::Error),
    #[error(transparent)]
    Report(#[from] valley_report::Error),
    #[error("libtorch failed")]
    Torch(#[from] tch::TchError),
}

pub type Result<T> = std::result::Result<T, Error>;
