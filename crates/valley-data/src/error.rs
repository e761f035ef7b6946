//! The crate's error type: every variant names the file it concerns and what was wrong.

use std::path::PathBuf;

/// Result alias used throughout `valley-data`.
pub type Result<T> = std::result::Result<T, Error>;

/// Everything that can go wrong while reading, splitting or partitioning data.
#[derive(thiserror::Error, Debug)]
pub enum Error {
    #[error("cannot read {}", .path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{} is not the expected file type: magic {found}, expected {expected}", .path.display())]
    BadMagic { path: PathBuf, expected: String, found: String },
    #[error("{} is shorter than its header says: the header describes {expected_bytes} bytes, the file has {found_bytes} (a truncated file or a wrong header count or size; re-download the file)", .path.display())]
    Truncated { path: PathBuf, expected_bytes: u64, found_bytes: u64 },
    #[error("{} has trailing data: header describes {expected_bytes} bytes, file has {found_bytes} (wrong or corrupted file)", .path.display())]
    TrailingData { path: PathBuf, expected_bytes: u64, found_bytes: u64 },
    #[error("{} has {found_bytes} bytes, not a multiple of the {record_bytes}-byte record size (truncated or wrong dataset variant)", .path.display())]
    RecordSize { path: PathBuf, record_bytes: u64, found_bytes: u64 },
    #[error("{} holds {image_count} images but {} holds {label_count} labels (files from different splits?)", .images.display(), .labels.display())]
    CountMismatch { images: PathBuf, image_count: usize, labels: PathBuf, label_count: usize },
    #[error("{}: sample {index} has label {label}, outside 0..{num_classes}", .path.display())]
    BadLabel { path: PathBuf, index: usize, label: i64, num_classes: usize },
    #[error("{}: unexpected shape: {detail}", .path.display())]
    Shape { path: PathBuf, detail: String },
    #[error("{}: malformed: {detail}", .path.display())]
    Format { path: PathBuf, detail: String },
    #[error("{} not found: {hint}", .path.display())]
    NotFound { path: PathBuf, hint: String },
    #[error("unknown dataset `{given}`; valid names: {valid}")]
    UnknownDataset { given: String, valid: String },
    #[error("dataset `{dataset}` has no default directory: pass a directory or set {env_var} (or VALLEY_DATA_DIR)")]
    NoDefaultDir { dataset: &'static str, env_var: String },
    #[error("normalisation has {means} means and {stds} stds but the images have {channels} channels")]
    NormalisationChannels { means: usize, stds: usize, channels: usize },
    #[error("normalisation {what} of channel {channel} is {value}; it must be {rule}")]
    BadNormalisation { what: &'static str, channel: usize, value: f32, rule: &'static str },
    #[error("dataset `{dataset}`: {} is a file, not a folder; pass the folder that holds the dataset's files", .path.display())]
    DirIsFile { dataset: &'static str, path: PathBuf },
    #[error("partition `{spec}`: {why}; expected iid, dirichlet:<alpha> or shards:<n>")]
    BadPartition { spec: String, why: &'static str },
    #[error("Dirichlet α must be finite and > 0, got {alpha}")]
    BadAlpha { alpha: f64 },
    #[error("shards per client must be at least 1")]
    NoShards,
    #[error("number of clients must be at least 1")]
    NoClients,
    #[error("{clients} clients but only {samples} samples")]
    TooManyClients { clients: usize, samples: usize },
    #[error("{clients} clients × {per_client} shards exceeds the {samples} samples")]
    TooManyShards { clients: usize, per_client: usize, samples: usize },
    #[error("sample {index} has label {label}, outside 0..{num_classes}")]
    LabelOutOfRange { index: usize, label: i64, num_classes: usize },
    #[error("test fraction {fraction} must lie in [0, 1]")]
    BadTestFraction { fraction: f64 },
}

impl Error {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io { path: path.into(), source }
    }

    pub(crate) fn format(path: impl Into<PathBuf>, detail: impl Into<String>) -> Self {
        Error::Format { path: path.into(), detail: detail.into() }
    }

    pub(crate) fn shape(path: impl Into<PathBuf>, detail: impl Into<String>) -> Self {
        Error::Shape { path: path.into(), detail: detail.into() }
    }
}
