//! Figures (PNG + SVG) and self-contained HTML reports for valley.
//!
//! Every figure function takes an output *stem* and writes `<stem>.png` and `<stem>.svg`
//! atomically (temporary file in the same directory, then rename), returning both paths.
//! Text is drawn with a bundled DejaVu Sans, so PNGs are legible on machines without
//! fontconfig. Non-finite values never panic: they are skipped (lines break at them) and a
//! panel with no finite point shows an empty frame with a note.
//!
//! The HTML report ([`HtmlReport`]) embeds PNGs as base64 data URIs and inline CSS, so the
//! single file can be mailed or archived without its figures folder.
//!
//! ```
//! use valley_report::{line_figure, HtmlReport, Panel, Section, Series};
//! let dir = tempfile::tempdir().unwrap();
//! let lambdas: Vec<f64> = (-10..=10).map(|i| i as f64 / 10.0).collect();
//! let loss: Vec<f64> = lambdas.iter().map(|l| l * l).collect();
//! let panel = Panel::new("VGG11", "λ", "loss").with_series(Series::new("Gaussian d", lambdas, loss));
//! let files = line_figure(&dir.path().join("valley"), "Valley", &[panel], 1).unwrap();
//! assert!(files[0].ends_with("valley.png") && files[1].ends_with("valley.svg"));
//! let mut report = HtmlReport::new("Run");
//! report.section(Section { verdict: Some(true), figures: vec![files[0].clone()], ..Section::new("Valley") });
//! report.write(&dir.path().join("report.html")).unwrap();
//! ```

mod bar;
mod error;
mod heatmap;
mod hist;
mod html;
mod io;
mod line;
mod style;

pub use bar::bar_figure;
pub use error::{Error, Result};
pub use heatmap::{heatmap_figure, heatmap_path_figure, matrix_figure, PathMark};
pub use hist::{histogram_figure, HistPanel};
pub use html::{HtmlReport, Section, Table};
pub use line::{line_figure, Panel, Series};
pub use style::{PALETTE, PANEL_SIZE, TITLE_HEIGHT};
