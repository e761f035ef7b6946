//! The eigenvalues of largest magnitude by power iteration with deflation.

use serde::{Deserialize, Serialize};

use super::{HessianOperator, Vector};

/// When to stop iterating for each eigenvalue.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PowerConfig {
    /// Stop when `|λₜ − λₜ₋₁| < rel_tol · |λₜ₋₁|` (PyHessian's criterion) ...
    pub rel_tol: f64,
    /// ... or after this many products.
    pub max_iter: usize,
}

impl Default for PowerConfig {
    fn default() -> Self {
        Self { rel_tol: 1e-4, max_iter: 100 }
    }
}

/// One eigenvalue found by power iteration.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Eigenvalue {
    /// The Rayleigh quotient `vᵀHv` of the final unit vector.
    pub value: f64,
    pub iterations: usize,
    /// `|λₜ − λₜ₋₁| / |λₜ₋₁|` at the last step.
    pub relative_change: f64,
    pub converged: bool,
}

/// The `k` eigenvalues of largest magnitude, largest first, with their unit eigenvectors.
///
/// Eigenvalue i: `v ← normalise(orth(Hv))` against the eigenvectors already found (deflation by
/// projection, as PyHessian), from a Gaussian start; λ is the Rayleigh quotient. Converges
/// geometrically at the rate |λᵢ₊₁/λᵢ|; a Hessian with close leading eigenvalues needs more
/// iterations, which `converged` reports.
pub fn top_eigenvalues(
    op: &HessianOperator,
    k: usize,
    cfg: &PowerConfig,
    rng: &mut impl rand::Rng,
) -> (Vec<Eigenvalue>, Vec<Vector>) {
    let mut values = Vec::new();
    let mut vectors: Vec<Vector> = Vec::new();
    for _ in 0..k.min(op.dim() as usize) {
        let (value, v) = power_iteration(op, &vectors, cfg, rng);
        values.push(value);
        vectors.push(v);
    }
    (values, vectors)
}

fn power_iteration(
    op: &HessianOperator,
    found: &[Vector],
    cfg: &PowerConfig,
    rng: &mut impl rand::Rng,
) -> (Eigenvalue, Vector) {
    let mut v = Vector::gaussian(op.params(), rng).orthogonalised(found).normalised();
    let mut lambda = f64::NAN;
    let mut change = f64::INFINITY;
    for t in 1..=cfg.max_iter.max(1) {
        let hv = op.apply(&v);
        let next = v.dot(&hv);
        if lambda.is_finite() {
            change = (next - lambda).abs() / (lambda.abs() + 1e-12);
        }
        lambda = next;
        v = hv.orthogonalised(found).normalised();
        if change < cfg.rel_tol {
            return (Eigenvalue { value: lambda, iterations: t, relative_change: change, converged: true }, v);
        }
    }
    (Eigenvalue { value: lambda, iterations: cfg.max_iter.max(1), relative_change: change, converged: false }, v)
}
