//! Hutchinson's estimator of the Hessian trace.

use serde::{Deserialize, Serialize};
use valley_base::stats;

use super::{HessianOperator, Vector};

/// When to stop drawing probe vectors.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TraceConfig {
    /// Stop once the standard error is below `rel_tol · |estimate|` ...
    pub rel_tol: f64,
    /// ... and at least this many probes were drawn (the standard error of fewer is unreliable).
    pub min_probes: usize,
    /// Never draw more than this many.
    pub max_probes: usize,
}

impl Default for TraceConfig {
    fn default() -> Self {
        Self { rel_tol: 0.01, min_probes: 10, max_probes: 200 }
    }
}

/// An estimate of `tr(H)`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TraceEstimate {
    /// Mean of `vᵀHv` over the probes.
    pub trace: f64,
    /// Standard error of that mean: sample std / √probes.
    pub stderr: f64,
    pub probes: usize,
    /// Whether the relative tolerance was reached before `max_probes`.
    pub converged: bool,
}

/// `tr(H) ≈ (1/m) Σⱼ vⱼᵀHvⱼ` with i.i.d. Rademacher `vⱼ` (unbiased, since E[vvᵀ] = I), drawing
/// probes until `stderr < rel_tol·|trace|` after at least `min_probes`.
pub fn hutchinson(op: &HessianOperator, cfg: &TraceConfig, rng: &mut impl rand::Rng) -> TraceEstimate {
    let mut samples: Vec<f64> = Vec::new();
    loop {
        let v = Vector::rademacher(op.params(), rng);
        samples.push(v.dot(&op.apply(&v)));
        let (mean, stderr) = (stats::mean(&samples), stats::std_err(&samples));
        let converged = samples.len() >= cfg.min_probes.max(2) && stderr < cfg.rel_tol * mean.abs();
        if converged || samples.len() >= cfg.max_probes.max(1) {
            return TraceEstimate { trace: mean, stderr, probes: samples.len(), converged };
        }
    }
}
