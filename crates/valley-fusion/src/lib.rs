//! Model fusion (paper §4): the interpolation curve `(1−λ)θA + λθB` with its loss barrier
//! and performance gap, sign-same ratios (SSR) between models, the model-soups study, and
//! merging (uniform and greedy soups, task arithmetic, TIES) with sign-conflict statistics.

mod error;
pub mod grid;
pub mod interpolate;
pub mod merge;
pub mod report;
pub mod soups;
pub mod ssr;

pub use error::{FusionError, Result};
pub use grid::{parse_lambdas, with_anchors};
pub use interpolate::{barrier, curve, performance_gap, summarise, CurvePoint, CurveSummary, EvalSpec};
pub use soups::{run_soups, SoupsConfig, SoupsOutcome};
pub use ssr::{ssr_report, GroupSsr};
