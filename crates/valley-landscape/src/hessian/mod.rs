//! Curvature of the loss surface: the Hessian `H = ∇²_θ L(θ)` of the mean cross-entropy
//! `L(θ) = (1/N) Σₙ ℓ(f(xₙ; θ), yₙ)`, probed only through Hessian-vector products, as
//! PyHessian (Yao et al., 2020) does:
//!
//! - [`trace::hutchinson`]: `tr(H) = E_v[vᵀHv]` for Rademacher `v`, with its standard error;
//! - [`eigen::top_eigenvalues`]: the k eigenvalues of largest magnitude by power iteration
//!   with deflation;
//! - [`density::slq`]: the spectral density by stochastic Lanczos quadrature.
//!
//! `H` is taken with respect to one parameter group (the other parameters held fixed), with BN
//! layers in evaluation mode (the checkpoint's running statistics), as PyHessian's
//! `model.eval()`. The paper explains the flat side of a sign-consistent valley by a smaller
//! `tr(H)` there (PAPER.md §3, the softmax analysis); [`run`] measures it along any valley.

pub mod density;
pub mod eigen;
mod operator;
pub mod report;
pub mod run;
pub mod trace;
mod vector;

pub use operator::HessianOperator;
pub use vector::Vector;
