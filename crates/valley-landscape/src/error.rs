//! The landscape crate's error type.

use std::path::PathBuf;

#[derive(thiserror::Error, Debug)]
pub enum Error {
    /// A malformed option: the λ grid, a sign mode, a direction list.
    #[error("invalid landscape spec: {0}")]
    Spec(String),
    /// The dataset does not fit the checkpoint's architecture.
    #[error("dataset {dataset} does not match checkpoint {}: {detail}", checkpoint.display())]
    DataMismatch { checkpoint: PathBuf, dataset: String, detail: String },
    /// A plane.csv from an earlier run was made with another spec.
    #[error("{}: {detail}", path.display())]
    Resume { path: PathBuf, detail: String },
    /// A run folder given as a training trajectory lacks what the trajectory needs.
    #[error("run folder {}: {detail}", dir.display())]
    Trajectory { dir: PathBuf, detail: String },
    /// An earlier run's CSV file cannot be parsed.
    #[error("cannot read {}: delete the file to start over", path.display())]
    CsvRead {
        path: PathBuf,
        #[source]
        source: csv::Error,
    },
    #[error("{} has header {found:?}, expected {expected:?}; delete the file to start over", path.display())]
    CsvHeader { path: PathBuf, found: Vec<String>, expected: Vec<String> },
    #[error("{} row {row}: column {column} is not a number; delete the file to start over", path.display())]
    CsvNumber { path: PathBuf, row: usize, column: &'static str },
    #[error(transparent)]
    Valley(#[from] valley::Error),
    #[error(transparent)]
    Report(#[from] valley_report::Error),
    /// Writing a file failed (see `valley_base::atomic_write`).
    #[error(transparent)]
    Write(#[from] valley_base::Error),
}

pub type Result<T> = std::result::Result<T, Error>;
