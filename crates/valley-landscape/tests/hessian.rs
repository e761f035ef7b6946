//! The Hessian estimators against the closed form of the paper's linear softmax model:
//! for logits z = Wx (no intercept) and mean cross-entropy,
//! `H = (1/N) Σₙ (diag(pₙ) − pₙpₙᵀ) ⊗ xₙxₙᵀ` over vec(W) in row-major order.

use valley::models::{Arch, Model, ModelConfig};
use valley::params::Group;
use valley::tensors::TensorSet;
use valley::{Device, Kind, Tensor};
use valley_landscape::hessian::density::{slq, DensityConfig};
use valley_landscape::hessian::eigen::{top_eigenvalues, PowerConfig};
use valley_landscape::hessian::run::{analyse, HessianConfig};
use valley_landscape::hessian::trace::{hutchinson, TraceConfig};
use valley_landscape::hessian::HessianOperator;

const K: i64 = 3;
const N: i64 = 40;

/// A linear model on 1×2×2 inputs (D = 4, 12 parameters), random weights and data.
fn setup() -> (Model, TensorSet) {
    valley::device::with_seed(3, || {
        let model = Model::new(&ModelConfig::new(Arch::Linear, 1, 2, K), Device::Cpu).unwrap();
        tch::no_grad(|| {
            let w = model.parameters().next().unwrap().tensor.shallow_clone();
            w.shallow_clone().copy_(&(Tensor::randn(w.size(), (Kind::Float, Device::Cpu)) * 0.8));
        });
        let x = Tensor::randn([N, 1, 2, 2], (Kind::Float, Device::Cpu)) * 1.5;
        let y = Tensor::randint(K, [N], (Kind::Int64, Device::Cpu));
        (model, TensorSet { x, y, num_classes: K })
    })
}

fn closed_form(model: &Model, set: &TensorSet) -> Tensor {
    let w = model.parameters().next().unwrap().tensor.detach().to_kind(Kind::Double);
    let x = set.x.reshape([N, -1]).to_kind(Kind::Double);
    let p = x.matmul(&w.tr()).softmax(-1, Kind::Double);
    let d = x.size()[1];
    let mut h = Tensor::zeros([K * d, K * d], (Kind::Double, Device::Cpu));
    for n in 0..N {
        let (pn, xn) = (p.get(n), x.get(n));
        let a = pn.diag(0) - pn.outer(&pn);
        h += a.kron(&xn.outer(&xn));
    }
    h / N as f64
}

fn eigenvalues_descending(h: &Tensor) -> Vec<f64> {
    let (values, _) = h.linalg_eigh("L");
    let mut v = Vec::<f64>::try_from(&values).unwrap();
    v.reverse();
    v
}

#[test]
fn hessian_vector_products_give_the_closed_form_matrix() {
    let (model, set) = setup();
    let op = HessianOperator::new(&model, &set, 7, &Group::All.mask(&model).unwrap()).unwrap();
    let dense = op.dense().unwrap().to_kind(Kind::Double);
    let exact = closed_form(&model, &set);
    let err = (&dense - &exact).abs().max().double_value(&[]);
    let scale = exact.abs().max().double_value(&[]);
    assert!(err < 1e-5 * scale.max(1.0), "max |H − H_closed| = {err} (max |H| = {scale})");
}

#[test]
fn power_iteration_finds_the_top_eigenvalues() {
    let (model, set) = setup();
    let op = HessianOperator::new(&model, &set, 16, &Group::All.mask(&model).unwrap()).unwrap();
    let exact = eigenvalues_descending(&closed_form(&model, &set));
    let cfg = PowerConfig { rel_tol: 1e-10, max_iter: 2000 };
    let (found, vectors) = top_eigenvalues(&op, 2, &cfg, &mut valley::rng::stream(1, &[]));
    assert_eq!(found.len(), 2);
    for (i, e) in found.iter().enumerate() {
        assert!((e.value - exact[i]).abs() < 1e-4 * exact[0], "λ{i}: {} vs closed form {}", e.value, exact[i]);
    }
    assert!(vectors[0].dot(&vectors[1]).abs() < 1e-4, "eigenvectors are not orthogonal");
}

#[test]
fn hutchinson_agrees_with_the_exact_trace_within_its_standard_error() {
    let (model, set) = setup();
    let op = HessianOperator::new(&model, &set, 40, &Group::All.mask(&model).unwrap()).unwrap();
    let exact = closed_form(&model, &set).trace().double_value(&[]);
    let cfg = TraceConfig { rel_tol: 0.02, min_probes: 20, max_probes: 2000 };
    let est = hutchinson(&op, &cfg, &mut valley::rng::stream(2, &[]));
    assert!(est.converged && est.probes >= 20, "{est:?}");
    assert!((est.trace - exact).abs() < 4.0 * est.stderr, "Hutchinson {est:?} vs exact trace {exact}");
}

#[test]
fn lanczos_quadrature_is_a_distribution_on_the_spectrum() {
    let (model, set) = setup();
    let op = HessianOperator::new(&model, &set, 40, &Group::All.mask(&model).unwrap()).unwrap();
    let exact = eigenvalues_descending(&closed_form(&model, &set));
    let density = slq(&op, &DensityConfig { steps: 12, runs: 2 }, &mut valley::rng::stream(4, &[]));
    let tol = 1e-4 * exact[0];
    for q in &density.runs {
        let total: f64 = q.weights.iter().sum();
        assert!((total - 1.0).abs() < 1e-6, "weights sum to {total}");
        assert!(q.nodes.iter().all(|&n| n > exact[11] - tol && n < exact[0] + tol), "nodes {:?}", q.nodes);
        let top = q.nodes.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
        assert!((top - exact[0]).abs() < 1e-3 * exact[0], "largest Ritz value {top} vs λmax {}", exact[0]);
    }
    // The smoothed density integrates to about 1 over a range that covers the spectrum.
    let (lo, hi) = (exact[11] - 1.0, exact[0] + 1.0);
    let xs: Vec<f64> = (0..=4000).map(|i| lo + (hi - lo) * i as f64 / 4000.0).collect();
    let ys = density.smoothed(&xs, 0.05);
    let integral: f64 = ys.iter().sum::<f64>() * (hi - lo) / 4000.0;
    assert!((integral - 1.0).abs() < 0.01, "∫φ = {integral}");
}

#[test]
fn a_group_restricts_the_hessian_and_the_analysis_names_it() {
    let (model, set) = setup();
    let cfg = HessianConfig { top_k: 1, density: None, ..HessianConfig::default() };
    let out = analyse(&model, &set, &[Group::All, Group::Clf], &cfg).unwrap();
    assert_eq!(out[0].group, "all");
    assert_eq!(out[0].parameters, 12);
    assert_eq!(out[0].top_eigenvalues.len(), 1);
    assert!(out[0].trace.trace > 0.0 && out[0].trace.stderr.is_finite());
    // The linear model is all classifier: the CLF group's Hessian is the whole one.
    assert_eq!(out[1].parameters, 12);
    let empty = TensorSet { x: set.x.narrow(0, 0, 0), y: set.y.narrow(0, 0, 0), num_classes: K };
    let err = HessianOperator::new(&model, &empty, 8, &Group::All.mask(&model).unwrap()).err().unwrap();
    assert!(err.to_string().contains("empty"), "{err}");
}
