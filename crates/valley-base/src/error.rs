//! The error type of `valley-base`.

use std::path::PathBuf;

/// Errors of `valley-base`; every variant names the file. OS errors are kept as the source
/// (printed once, by the caller's error chain), never repeated in the message.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot write {}: check that the directory is writable", path.display())]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot write {}: the path has no file name", path.display())]
    NoFileName { path: PathBuf },
    #[error("cannot encode the CSV rows for {}", path.display())]
    Csv {
        path: PathBuf,
        #[source]
        source: ::csv::Error,
    },
}

/// Result alias of this crate.
pub type Result<T> = std::result::Result<T, Error>;
