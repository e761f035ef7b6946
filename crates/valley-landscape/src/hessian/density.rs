//! The spectral density of the Hessian by stochastic Lanczos quadrature (SLQ).

use serde::{Deserialize, Serialize};
use valley::{Kind, Tensor};

use super::{HessianOperator, Vector};

/// How many Lanczos steps and runs.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DensityConfig {
    /// Lanczos steps m per run (nodes per run; PyHessian uses 100).
    pub steps: usize,
    /// Independent runs averaged (PyHessian uses 1).
    pub runs: usize,
}

impl Default for DensityConfig {
    fn default() -> Self {
        Self { steps: 50, runs: 1 }
    }
}

/// The quadrature of one Lanczos run: `φ(t) ≈ Σⱼ wⱼ δ(t − θⱼ)`, Σⱼ wⱼ = 1.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Quadrature {
    /// Ritz values θⱼ (eigenvalues of the tridiagonal Lanczos matrix T), ascending.
    pub nodes: Vec<f64>,
    /// Weights wⱼ = (first component of T's j-th unit eigenvector)².
    pub weights: Vec<f64>,
}

/// The estimated density `φ(t) = (1/d) Σᵢ δ(t − λᵢ)`: one quadrature per run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SpectralDensity {
    pub runs: Vec<Quadrature>,
}

/// SLQ (Ubaru et al. 2017; Ghorbani et al. 2019): for each run, m Lanczos steps with full
/// reorthogonalisation from a unit Rademacher vector v give `T`; with `T = QΘQᵀ`,
/// `vᵀ g(H) v ≈ Σⱼ Q₀ⱼ² g(θⱼ)`, so the nodes θⱼ with weights Q₀ⱼ² estimate the density.
pub fn slq(op: &HessianOperator, cfg: &DensityConfig, rng: &mut impl rand::Rng) -> SpectralDensity {
    let runs = (0..cfg.runs.max(1)).map(|_| lanczos_quadrature(op, cfg.steps.max(1), rng)).collect();
    SpectralDensity { runs }
}

fn lanczos_quadrature(op: &HessianOperator, steps: usize, rng: &mut impl rand::Rng) -> Quadrature {
    let (alpha, beta) = lanczos(op, steps, rng);
    let m = alpha.len() as i64;
    let t = Tensor::zeros([m, m], (Kind::Double, valley::Device::Cpu));
    for (i, &a) in alpha.iter().enumerate() {
        let _ = t.get(i as i64).get(i as i64).fill_(a);
    }
    for (i, &b) in beta.iter().enumerate() {
        let _ = t.get(i as i64).get(i as i64 + 1).fill_(b);
        let _ = t.get(i as i64 + 1).get(i as i64).fill_(b);
    }
    let (values, vectors) = t.linalg_eigh("L");
    let nodes = Vec::<f64>::try_from(&values).unwrap_or_default();
    let first = vectors.get(0);
    let weights = Vec::<f64>::try_from(&(&first * &first)).unwrap_or_default();
    Quadrature { nodes, weights }
}

/// The Lanczos coefficients: diagonal α and off-diagonal β of T (β has one fewer entry).
/// Stops early when β vanishes (an invariant subspace: T is then exact).
fn lanczos(op: &HessianOperator, steps: usize, rng: &mut impl rand::Rng) -> (Vec<f64>, Vec<f64>) {
    let mut basis = vec![Vector::rademacher(op.params(), rng).normalised()];
    let (mut alpha, mut beta) = (Vec::new(), Vec::new());
    for j in 0..steps.min(op.dim() as usize) {
        let w = op.apply(&basis[j]);
        alpha.push(w.dot(&basis[j]));
        if j + 1 == steps {
            break;
        }
        let w = w.orthogonalised(&basis);
        let b = w.norm();
        if b < 1e-10 * alpha.iter().fold(1.0f64, |m, a| m.max(a.abs())) {
            break;
        }
        beta.push(b);
        basis.push(w.scale(1.0 / b));
    }
    beta.truncate(alpha.len().saturating_sub(1));
    (alpha, beta)
}

impl SpectralDensity {
    /// The density smoothed by a Gaussian kernel of width `sigma` at `points` (averaged over
    /// runs): `φσ(t) = meanᵣ Σⱼ wᵣⱼ 𝒩(t; θᵣⱼ, σ²)`.
    pub fn smoothed(&self, points: &[f64], sigma: f64) -> Vec<f64> {
        let norm = 1.0 / (sigma * (2.0 * std::f64::consts::PI).sqrt());
        points
            .iter()
            .map(|&t| {
                let per_run = self.runs.iter().map(|q| {
                    q.nodes
                        .iter()
                        .zip(&q.weights)
                        .map(|(n, w)| w * norm * (-0.5 * ((t - n) / sigma).powi(2)).exp())
                        .sum::<f64>()
                });
                per_run.sum::<f64>() / self.runs.len().max(1) as f64
            })
            .collect()
    }

    /// Smallest and largest node over all runs.
    pub fn range(&self) -> (f64, f64) {
        let nodes = self.runs.iter().flat_map(|q| q.nodes.iter().copied());
        nodes.fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), n| (lo.min(n), hi.max(n)))
    }
}
