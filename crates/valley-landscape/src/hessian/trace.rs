//! Hutchinson's estimator of the Hessian trace.

use serde::{Deserialize, Serialize};

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
        let (mean, stderr) = mean_stderr(&samples);
        let converged = samples.len() >= cfg.min_probes.max(2) && stderr < cfg.rel_tol * mean.abs();
        if converged || samples.len() >= cfg.max_probes.max(1) {
            return TraceEstimate { trace: mean, stderr, probes: samples.len(), converged };
        }
    }
}

/// Mean and standard error of the mean (NaN standard error for one sample).
fn mean_stderr(x: &[f64]) -> (f64, f64) {
    let n = x.len() as f64;
    let mean = x.iter().sum::<f64>() / n;
    if x.len() < 2 {
        return (mean, f64::NAN);
    }
    let var = x.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1.0);
    (mean, (var / n).sqrt())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mean_and_standard_error_match_hand_computation() {
        // mean 2, sample variance ((1)+(0)+(1))/2 = 1, stderr 1/√3
        let (m, se) = mean_stderr(&[1.0, 2.0, 3.0]);
        assert!((m - 2.0).abs() < 1e-12 && (se - 1.0 / 3f64.sqrt()).abs() < 1e-12);
        assert!(mean_stderr(&[5.0]).1.is_nan());
    }
}
