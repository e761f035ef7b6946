use std::path::PathBuf;

/// Errors of `valley-report`; every variant names the file being written or read.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Writing a file failed (see `valley_base::atomic_write`).
    #[error(transparent)]
    Write(#[from] valley_base::Error),
    #[error("cannot read figure {} to embed it in the report (render the figure first)", path.display())]
    ReadFigure {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("drawing {} failed: {message}", path.display())]
    Plot { path: PathBuf, message: String },
    #[error("encoding {} as PNG failed: {message}", path.display())]
    Encode { path: PathBuf, message: String },
    #[error("invalid input for {}: {message}", path.display())]
    InvalidInput { path: PathBuf, message: String },
    #[error("the bundled font assets/fonts/DejaVuSans.ttf could not be registered with plotters")]
    Font,
}

/// Result alias of this crate.
pub type Result<T> = std::result::Result<T, Error>;

pub(crate) fn invalid(path: &std::path::Path, message: impl Into<String>) -> Error {
    Error::InvalidInput { path: path.to_path_buf(), message: message.into() }
}
