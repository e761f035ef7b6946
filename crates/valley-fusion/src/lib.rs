//! Model fusion (paper §4): the interpolation curve `(1−λ)θA + λθB` with its loss barrier
//! and performance gap, sign-same ratios (SSR) between models, the model-soups study, and
//! merging (uniform and greedy soups, task arithmetic, TIES) with sign-conflict statistics.

mod error;
pub mod interpolate;
pub mod merge;
pub mod report;
pub mod soups;
pub mod ssr;

pub use error::{Error, Result};
pub use interpolate::{barrier, curve, performance_gap, summarise, CurveData, CurvePoint, CurveSummary};
pub use soups::{run_soups, SoupsConfig, SoupsOutcome};
pub use ssr::{ssr_report, GroupSsr};

/// Checks that the models loaded from `a` and `b` share one architecture (same tensor
/// names and shapes), naming both files when they do not.
pub fn same_layout(a: &std::path::Path, ma: &valley::Model, b: &std::path::Path, mb: &valley::Model) -> Result<()> {
    ma.check_same_layout(mb).map_err(|source| Error::Mismatch { a: a.into(), b: b.into(), source: Box::new(source) })
}
