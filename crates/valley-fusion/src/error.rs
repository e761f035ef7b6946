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
        /// Boxed to keep every `Result` of this crate small.
        #[source]
        source: Box<valley::Error>,
    },
    #[error("invalid configuration: {0}")]
    Config(String),
    #[error("merging needs at least one model")]
    NoModels,
    #[error("{weights} weights for {models} models; give one weight per model")]
    WeightCount { weights: usize, models: usize },
    #[error("weights must be finite, ≥ 0 and not all 0, got {weights:?}")]
    BadWeights { weights: Vec<f64> },
    #[error("TIES keeps a fraction in (0, 1] of each task vector, got {keep}")]
    BadKeep { keep: f64 },
    #[error("unknown merge method `{given}` (expected uniform, greedy, task-arithmetic or ties)")]
    UnknownMethod { given: String },
    #[error("method {method} needs --base (the shared initialisation or pre-trained model)")]
    NeedsBase { method: String },
    #[error("method {method} with BN {bn} needs the dataset")]
    NeedsData { method: String, bn: String },
    #[error("the barrier needs λ = 0 and λ = 1 on the grid")]
    BarrierGrid,
    #[error("split `{split}` has no point at λ = {lambda}; the gap and barrier need λ = 0, 0.5 and 1")]
    MissingPoint { split: String, lambda: f64 },
}

pub type Result<T> = std::result::Result<T, Error>;
