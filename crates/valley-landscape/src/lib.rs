//! 1D valleys `L(θf + λ·d)`: evaluation, asymmetry metrics, outputs (paper §1–§3).
//!
//! A run builds directions d with [`valley::noise::direction`] (noise, sign manipulation,
//! normalisation, parameter group, seed), evaluates `θ(λ) = θf + λ·d` in place over a λ
//! grid ([`sweep::Evaluator`]), and summarises each curve by its side means, asymmetry
//! index, widths and quadratic curvatures ([`metrics::CurveMetrics`]), aggregated over
//! repeated seeds with 95 % t intervals ([`run::aggregate`]). [`plane`] does the same on a
//! 2D grid `θf + α·d₁ + β·d₂`,
//! and [`trajectory`] places a run's epoch checkpoints on such a plane (PCA of the path).

mod error;
pub mod hessian;
pub mod metrics;
pub mod plane;
pub mod plots;
pub mod run;
pub mod summary;
pub mod sweep;
pub mod trajectory;

pub use error::{Error, Result};
pub use metrics::{CurveMetrics, Threshold};
pub use run::{aggregate, Aggregate, Curve, LandscapeSpec};
pub use sweep::{EvalData, Evaluator, Split};
pub use valley_base::stats::Interval;
