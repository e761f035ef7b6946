//! valley-fed's error type.

use std::path::PathBuf;

#[derive(thiserror::Error, Debug)]
pub enum Error {
    #[error("invalid federated setting: {0}")]
    Config(String),
    #[error("{clients} clients but only {samples} training samples; lower --clients or raise --train-limit")]
    TooManyClients { clients: usize, samples: usize },
    #[error("{} already holds a federated run; pass --resume to continue it or choose another --out", dir.display())]
    RunExists { dir: PathBuf },
    #[error("checkpointed MOON state of client {client} does not fit the model")]
    MoonState { client: usize },
    #[error("the MOON workspace lacks its global and previous models")]
    MoonWorkspace,
    #[error("cannot resume from {}: {detail}", path.display())]
    Resume { path: PathBuf, detail: String },
    #[error("client {client} in round {round} failed")]
    Client {
        round: usize,
        client: usize,
        /// Boxed to keep every `Result` of this crate small.
        #[source]
        source: Box<valley::Error>,
    },
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
