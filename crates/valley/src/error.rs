//! valley's error type: every variant names what was wrong and where.

use std::path::PathBuf;

#[derive(thiserror::Error, Debug)]
pub enum Error {
    #[error("invalid configuration: {0}")]
    Config(String),
    #[error("architecture mismatch: the models have {left} and {right} tensors ({left_arch} vs {right_arch})")]
    TensorCount { left: usize, right: usize, left_arch: String, right_arch: String },
    #[error("architecture mismatch: first differing tensor: `{left}` {left_shape:?} vs `{right}` {right_shape:?}")]
    TensorDiffers { left: String, left_shape: Vec<i64>, right: String, right_shape: Vec<i64> },
    /// `file` names where the tensors came from (a direction file, a checkpoint).
    #[error("architecture mismatch: {file} has no tensor `{name}`")]
    MissingTensor { file: String, name: String },
    #[error("architecture mismatch: {file}: tensor `{name}` has shape {found:?}, the model expects {expected:?}")]
    TensorShape { file: String, name: String, found: Vec<i64>, expected: Vec<i64> },
    /// `model` and `data` describe each side, e.g. "a mlp model for 1x8x8 images and 10
    /// classes" and "dataset digits has 1x8x8 images and 2 classes".
    #[error("architecture mismatch: {} holds {model}, but {data}; pass the --dataset the model was trained on", checkpoint.display())]
    ModelData { checkpoint: PathBuf, model: String, data: String },
    #[error("checkpoint {path}: {detail}")]
    Checkpoint { path: PathBuf, detail: String },
    #[error("cannot read {}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot create the folder {}: check that it is not a file and that its parent is writable", path.display())]
    CreateDir {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("--out {path}: {detail}")]
    Output { path: PathBuf, detail: String },
    #[error("{} line {line} is not a valid record", path.display())]
    Json {
        path: PathBuf,
        line: usize,
        #[source]
        source: serde_json::Error,
    },
    #[error(transparent)]
    Data(#[from] valley_data::Error),
    /// Writing a file failed (see `valley_base::atomic_write`).
    #[error(transparent)]
    Write(#[from] valley_base::Error),
    #[error("libtorch failed")]
    Torch(#[from] tch::TchError),
    #[error("training stopped: the loss is {loss} at epoch {epoch}, step {step}{hint}")]
    NonFinite { epoch: usize, step: usize, loss: f64, hint: String },
}

pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    pub fn read(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Read { path: path.into(), source }
    }

    pub fn create_dir(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::CreateDir { path: path.into(), source }
    }

    pub fn checkpoint(path: impl Into<PathBuf>, detail: impl Into<String>) -> Self {
        Error::Checkpoint { path: path.into(), detail: detail.into() }
    }
}
