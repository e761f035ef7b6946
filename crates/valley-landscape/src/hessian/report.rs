//! `hessian.json`, `hessian-curve.csv` and their figures.

use std::path::{Path, PathBuf};

use serde_json::{json, Value};
use valley_base::csv::{write_csv, LineEnd};
use valley_report::{line_figure, Panel, Series};

use super::run::{CurvePoint, GroupCurvature};
use crate::Result;

/// Points of the smoothed density figure.
const DENSITY_POINTS: usize = 400;

/// Writes `hessian.json`: `context` (checkpoint, sha256, data, BN handling, the config) and,
/// per group, `trace`, `trace_stderr`, `top_eigenvalues` (largest magnitude first) and the
/// estimators' convergence and quadrature.
pub fn write_json(out: &Path, context: Value, groups: &[GroupCurvature]) -> Result<PathBuf> {
    let per_group: Vec<Value> = groups
        .iter()
        .map(|g| {
            json!({
                "group": g.group,
                "parameters": g.parameters,
                "trace": g.trace.trace,
                "trace_stderr": g.trace.stderr,
                "trace_probes": g.trace.probes,
                "trace_converged": g.trace.converged,
                "top_eigenvalues": g.top_eigenvalues.iter().map(|e| e.value).collect::<Vec<_>>(),
                "eigenvalue_convergence": g.top_eigenvalues,
                "density": g.density,
                "products": g.products,
                "seconds_per_product": g.seconds_per_product,
            })
        })
        .collect();
    let mut record = valley_base::RunMeta::new().stamp(context);
    record["groups"] = Value::Array(per_group);
    let path = out.join("hessian.json");
    let text = serde_json::to_string_pretty(&record).unwrap_or_default();
    valley_base::atomic_write(&path, text.as_bytes())?;
    Ok(path)
}

/// `hessian-density.{png,svg}`: each group's smoothed spectral density (Gaussian kernel of
/// width 1 % of its spectral range), on a log density axis as in PyHessian's figures.
pub fn density_figure(out: &Path, groups: &[GroupCurvature]) -> Result<Vec<PathBuf>> {
    let panels: Vec<Panel> = groups
        .iter()
        .filter_map(|g| {
            let d = g.density.as_ref()?;
            let (lo, hi) = d.range();
            let pad = 0.05 * (hi - lo).max(1e-6);
            let xs: Vec<f64> = (0..DENSITY_POINTS)
                .map(|i| lo - pad + (hi - lo + 2.0 * pad) * i as f64 / (DENSITY_POINTS - 1) as f64)
                .collect();
            let ys: Vec<f64> = d.smoothed(&xs, 0.01 * (hi - lo).max(1e-6)).into_iter().map(|y| y.max(1e-12)).collect();
            let mut panel = Panel::new(format!("group {}", g.group), "eigenvalue", "density")
                .with_series(Series::new("SLQ", xs, ys));
            panel.log_y = true;
            Some(panel)
        })
        .collect();
    if panels.is_empty() {
        return Ok(vec![]);
    }
    let cols = panels.len().min(3);
    Ok(line_figure(&out.join("hessian-density"), "Hessian spectral density", &panels, cols)?)
}

/// `hessian-curve.csv` (lambda, trace, trace_stderr, top_eigenvalue) and its figure: tr(H)
/// with ±1 standard error, and the top eigenvalue, against λ.
pub fn write_curve(out: &Path, label: &str, points: &[CurvePoint]) -> Result<Vec<PathBuf>> {
    let path = out.join("hessian-curve.csv");
    let rows = points.iter().map(|p| [p.lambda, p.trace, p.trace_stderr, p.top_eigenvalue].map(|v| format!("{v}")));
    write_csv(&path, ["lambda", "trace", "trace_stderr", "top_eigenvalue"], rows, LineEnd::Lf)?;
    let xs: Vec<f64> = points.iter().map(|p| p.lambda).collect();
    let trace: Vec<f64> = points.iter().map(|p| p.trace).collect();
    let lo: Vec<f64> = points.iter().map(|p| p.trace - p.trace_stderr).collect();
    let hi: Vec<f64> = points.iter().map(|p| p.trace + p.trace_stderr).collect();
    let top: Vec<f64> = points.iter().map(|p| p.top_eigenvalue).collect();
    let panels = [
        Panel::new("tr(H)", "λ", "trace").with_series(Series::new(label, xs.clone(), trace).with_band(lo, hi)),
        Panel::new("top eigenvalue", "λ", "λmax").with_series(Series::new(label, xs, top)),
    ];
    let mut files = vec![path];
    files.extend(line_figure(&out.join("hessian-curve"), &format!("Curvature along θf + λ·d ({label})"), &panels, 2)?);
    Ok(files)
}
