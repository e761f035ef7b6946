//! Curvature at a point per parameter group, and along a valley `θf + λ·d`.

use std::time::Instant;

use serde::{Deserialize, Serialize};
use valley::eval::EvalConfig;
use valley::models::Model;
use valley::params::{Group, Params};
use valley::rng::{self, tag};
use valley::tensors::TensorSet;

use super::density::{slq, DensityConfig, SpectralDensity};
use super::eigen::{top_eigenvalues, Eigenvalue, PowerConfig};
use super::trace::{hutchinson, TraceConfig, TraceEstimate};
use super::HessianOperator;
use crate::Result;

/// What to estimate; recorded in `hessian.json`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct HessianConfig {
    /// Rows per Hessian-vector-product batch (the product is of the mean over all rows).
    pub batch: usize,
    /// Eigenvalues of largest magnitude to find.
    pub top_k: usize,
    pub trace: TraceConfig,
    pub power: PowerConfig,
    /// The spectral density, when wanted.
    pub density: Option<DensityConfig>,
    /// Seed of the probe vectors (Rademacher, Gaussian starts).
    pub seed: u64,
}

impl Default for HessianConfig {
    fn default() -> Self {
        Self {
            batch: 256,
            top_k: 3,
            trace: TraceConfig::default(),
            power: PowerConfig::default(),
            density: Some(DensityConfig::default()),
            seed: 0,
        }
    }
}

/// The curvature of one parameter group.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct GroupCurvature {
    /// The group's name (`all` for every learnable parameter).
    pub group: String,
    /// Its number of parameters (the dimension of H).
    pub parameters: i64,
    pub trace: TraceEstimate,
    /// Largest in magnitude first.
    pub top_eigenvalues: Vec<Eigenvalue>,
    pub density: Option<SpectralDensity>,
    /// Hessian-vector products computed for this group, and their mean wall time.
    pub products: usize,
    pub seconds_per_product: f64,
}

/// The name a group has in the outputs: `all` for [`Group::All`], else its usual label.
pub fn group_name(group: &Group) -> String {
    match group {
        Group::All => "all".into(),
        g => g.to_string(),
    }
}

/// Trace, top eigenvalues and (optionally) density of the Hessian of each group of `model`
/// over `set`. Each group draws its probes from its own stream, so adding a group changes no
/// other group's numbers.
pub fn analyse(model: &Model, set: &TensorSet, groups: &[Group], cfg: &HessianConfig) -> Result<Vec<GroupCurvature>> {
    groups
        .iter()
        .enumerate()
        .map(|(i, group)| {
            let op = HessianOperator::new(model, set, cfg.batch, &group.mask(model)?)?;
            let mut rng = rng::stream(cfg.seed, &[tag::HESSIAN, i as u64]);
            let t0 = Instant::now();
            let trace = hutchinson(&op, &cfg.trace, &mut rng);
            let (top_eigenvalues, _) = top_eigenvalues(&op, cfg.top_k, &cfg.power, &mut rng);
            let density = cfg.density.as_ref().map(|d| slq(&op, d, &mut rng));
            let lanczos: usize = density.iter().flat_map(|d| &d.runs).map(|q| q.nodes.len()).sum();
            let products = trace.probes + top_eigenvalues.iter().map(|e| e.iterations).sum::<usize>() + lanczos;
            let seconds_per_product = t0.elapsed().as_secs_f64() / products.max(1) as f64;
            let (group, parameters) = (group_name(group), op.dim());
            Ok(GroupCurvature { group, parameters, trace, top_eigenvalues, density, products, seconds_per_product })
        })
        .collect()
}

/// Curvature at one point `θf + λ·d` of a valley.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct CurvePoint {
    pub lambda: f64,
    pub trace: f64,
    pub trace_stderr: f64,
    pub top_eigenvalue: f64,
}

/// `tr(H)` and the top eigenvalue of `group` at each `θf + λ·d` (`theta` = θf), BN handled by
/// `bn` at each point (re-estimated from `bn_set` when it says `recompute`; the checkpoint's
/// statistics are kept otherwise). Every point uses the same probe stream, so differences
/// between points are not sampling noise of different probes. The model is left at θf with
/// its statistics as they were.
#[allow(clippy::too_many_arguments)]
pub fn along_valley(
    model: &Model,
    theta: &Params,
    direction: &Params,
    lambdas: &[f64],
    set: &TensorSet,
    group: &Group,
    bn: (&EvalConfig, &TensorSet),
    cfg: &HessianConfig,
) -> Result<Vec<CurvePoint>> {
    let mask = group.mask(model)?;
    let saved = Params::state_of(model);
    let points = lambdas
        .iter()
        .map(|&lambda| {
            theta.write_shifted(direction, lambda, model);
            bn.0.apply_bn(model, bn.1);
            let op = HessianOperator::new(model, set, cfg.batch, &mask)?;
            let mut rng = rng::stream(cfg.seed, &[tag::HESSIAN, u64::MAX]);
            let trace = hutchinson(&op, &cfg.trace, &mut rng);
            let (top, _) = top_eigenvalues(&op, 1, &cfg.power, &mut rng);
            let top_eigenvalue = top.first().map_or(f64::NAN, |e| e.value);
            Ok(CurvePoint { lambda, trace: trace.trace, trace_stderr: trace.stderr, top_eigenvalue })
        })
        .collect::<Result<Vec<_>>>();
    saved.write_to(model);
    points
}
