//! The curvature behind the flat side (PAPER.md §3, finding 7's explanation carried to trained
//! networks): the Hessian trace along a sign-consistent valley.

use std::path::{Path, PathBuf};

use serde_json::json;
use valley::checkpoint::Checkpoint;
use valley::eval::EvalConfig;
use valley::noise::{direction, Context, DirectionSpec, Noise};
use valley::params::{Group, Params};
use valley_landscape::hessian::eigen::PowerConfig;
use valley_landscape::hessian::run::{along_valley, CurvePoint, HessianConfig};
use valley_landscape::hessian::trace::TraceConfig;
use valley_landscape::{EvalData, Split};
use valley_report::{line_figure, Panel, Series, Table};

use crate::base::BaseNet;
use crate::valleys::trained_base;
use crate::verdict::{Finding, Judgement};
use crate::{Env, Error, Result};

/// The perturbation sizes a of the claim; the curve is measured at ±a and 0.
pub const SIZES: [f64; 5] = [0.2, 0.4, 0.6, 0.8, 1.0];

/// Standard errors by which the + side must be lower for the claim to hold at a size.
pub const MARGIN_SE: f64 = 2.0;

/// Whether `tr(H)(θf + a·d) + MARGIN_SE·√(se₊² + se₋²) < tr(H)(θf − a·d)` at each size a
/// (sizes with no point on either side are left out).
pub fn lower_on_plus(points: &[CurvePoint]) -> Vec<(f64, bool)> {
    let at = |l: f64| points.iter().find(|p| (p.lambda - l).abs() < 1e-9);
    SIZES
        .iter()
        .filter_map(|&a| {
            let (plus, minus) = (at(a)?, at(-a)?);
            let se = (plus.trace_stderr.powi(2) + minus.trace_stderr.powi(2)).sqrt();
            Some((a, plus.trace + MARGIN_SE * se < minus.trace))
        })
        .collect()
}

fn lambdas() -> Vec<f64> {
    let mut l: Vec<f64> = SIZES.iter().rev().map(|a| -a).collect();
    l.push(0.0);
    l.extend(SIZES);
    l
}

/// The estimator settings per budget (one batch: the gradient graph is kept).
fn hessian_config(env: &Env) -> HessianConfig {
    HessianConfig {
        batch: usize::MAX,
        top_k: 1,
        trace: TraceConfig {
            rel_tol: 0.02,
            min_probes: env.budget.pick(4, 20, 50),
            max_probes: env.budget.pick(4, 40, 100),
        },
        power: PowerConfig { rel_tol: 1e-3, max_iter: env.budget.pick(5, 30, 100) },
        density: None,
        seed: 0,
    }
}

/// tr(H) and λmax along θf + λ·d for the base network `net`, BN re-estimated at every point
/// as in the valleys of findings 1–4.
fn curve(env: &mut Env, net: BaseNet, what: &str) -> Result<(String, Vec<CurvePoint>)> {
    let (cfg, run) = trained_base(env, net, what)?;
    let ck = Checkpoint::read(&valley::train::RunDir::new(&run).final_())?;
    let model = ck.to_model(None, env.device)?;
    let mut data_cfg = cfg.data.clone();
    data_cfg.test_limit = Some(env.budget.pick(100, 500, 2000));
    let eval = EvalConfig::default().as_trained(&ck)?;
    let data = EvalData::prepare(&ck, &model, &data_cfg, &[Split::Test], &eval, env.device)?;
    let theta = Params::of(&model);
    let spec = DirectionSpec::consistent(Noise::Gaussian);
    let d = direction(&spec, &theta, &model, &Context::default())?;
    (env.log)(&format!("{what}: Hessian along {} at {} points", spec.label(), lambdas().len()));
    let set = &data.splits[0].1;
    let points =
        along_valley(&model, &theta, &d, &lambdas(), set, &Group::All, (&eval, &data.bn_set), &hessian_config(env))?;
    Ok((cfg.model.arch.name(), points))
}

fn figure(dir: &Path, curves: &[(String, Vec<CurvePoint>)]) -> Result<Vec<PathBuf>> {
    let panel = |(name, pts): &(String, Vec<CurvePoint>), top: bool| {
        let xs: Vec<f64> = pts.iter().map(|p| p.lambda).collect();
        let ys: Vec<f64> = pts.iter().map(|p| if top { p.top_eigenvalue } else { p.trace }).collect();
        let mut s = Series::new(name.clone(), xs, ys);
        if !top {
            let lo: Vec<f64> = pts.iter().map(|p| p.trace - p.trace_stderr).collect();
            let hi: Vec<f64> = pts.iter().map(|p| p.trace + p.trace_stderr).collect();
            s = s.with_band(lo, hi);
        }
        let title = format!("{name}: {}", if top { "top eigenvalue" } else { "tr(H) ± s.e." });
        Panel::new(title, "λ", if top { "λmax" } else { "trace" }).with_series(s)
    };
    let panels: Vec<Panel> = curves.iter().flat_map(|c| [panel(c, false), panel(c, true)]).collect();
    Ok(line_figure(&dir.join("hessian-curve"), "Curvature along θf + λ·d (sign-consistent G(0,1))", &panels, 2)?)
}

/// Curvature finding: tr(H) lower on the flat (+) side of a sign-consistent valley.
pub fn hessian(env: &mut Env, command: &str) -> Result<Finding> {
    let dir = env.dir("hessian")?;
    let curves = vec![curve(env, BaseNet::VggBn, "hessian (BN)")?, curve(env, BaseNet::NoBn, "hessian (no BN)")?];
    let rows: Vec<HessianRow> = curves
        .iter()
        .flat_map(|(network, pts)| {
            pts.iter().map(|p| HessianRow {
                network: network.clone(),
                lambda: p.lambda,
                trace: p.trace,
                trace_stderr: p.trace_stderr,
                top_eigenvalue: p.top_eigenvalue,
            })
        })
        .collect();
    valley_base::csv::write_records(&dir.join(CURVES_FILE), &rows)?;
    let figures = figure(&dir, &curves)?;
    Finding::record(env, &dir, "hessian", command, figures, judge_hessian(&dir)?)
}

const CURVES_FILE: &str = "hessian-curves.csv";

/// One point of a network's curvature curve, as saved.
#[derive(serde::Serialize, serde::Deserialize)]
struct HessianRow {
    network: String,
    lambda: f64,
    trace: f64,
    trace_stderr: f64,
    top_eigenvalue: f64,
}

/// The curvature finding's verdict from `hessian-curves.csv` in `dir`.
pub(crate) fn judge_hessian(dir: &Path) -> Result<Judgement> {
    let path = dir.join(CURVES_FILE);
    let missing = |why: String| Error::NoMeasurements { name: "hessian".into(), dir: dir.to_path_buf(), missing: why };
    if !path.exists() {
        return Err(missing(CURVES_FILE.into()));
    }
    let rows: Vec<HessianRow> =
        valley_base::csv::read_records(&path).map_err(|e| missing(format!("{CURVES_FILE} unreadable: {e}")))?;
    let mut curves: Vec<(String, Vec<CurvePoint>)> = Vec::new();
    for r in rows {
        let p = CurvePoint {
            lambda: r.lambda,
            trace: r.trace,
            trace_stderr: r.trace_stderr,
            top_eigenvalue: r.top_eigenvalue,
        };
        match curves.iter_mut().find(|(n, _)| *n == r.network) {
            Some((_, pts)) => pts.push(p),
            None => curves.push((r.network, vec![p])),
        }
    }
    let mut table = Table {
        header: vec!["network".into(), "λ".into(), "tr(H)".into(), "s.e.".into(), "λmax".into()],
        rows: vec![],
    };
    let mut detail = Vec::new();
    let mut pass = !curves.is_empty();
    for (name, pts) in &curves {
        let holds = lower_on_plus(pts);
        pass &= holds.len() == SIZES.len() && holds.iter().all(|h| h.1);
        let at: Vec<String> = holds.iter().filter(|h| h.1).map(|h| format!("{}", h.0)).collect();
        detail.push(format!("{name}: holds at a ∈ {{{}}} of {{0.2,…,1}}", at.join(", ")));
        for p in pts {
            let row = [
                format!("{:+.1}", p.lambda),
                format!("{:.3}", p.trace),
                format!("{:.3}", p.trace_stderr),
                format!("{:.3}", p.top_eigenvalue),
            ];
            table.rows.push(std::iter::once(name.clone()).chain(row).collect());
        }
    }
    let numbers = json!({
        "margin_standard_errors": MARGIN_SE,
        "curves": curves.iter().map(|(n, p)| json!({ "network": n, "points": p, "lower_on_plus": lower_on_plus(p) })).collect::<Vec<_>>(),
    });
    Ok(Judgement { pass, detail: detail.join("; "), numbers, table })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pts(trace: impl Fn(f64) -> f64, se: f64) -> Vec<CurvePoint> {
        lambdas()
            .into_iter()
            .map(|l| CurvePoint { lambda: l, trace: trace(l), trace_stderr: se, top_eigenvalue: 1.0 })
            .collect()
    }

    #[test]
    fn the_claim_holds_only_where_the_plus_side_is_lower_beyond_the_margin() {
        // tr = 10 − 5λ: at a the gap is 10a; with s.e. 1 the margin is 2√2 ≈ 2.83, so a = 0.2
        // (gap 2) fails and a ≥ 0.4 (gap 4) holds.
        let holds = lower_on_plus(&pts(|l| 10.0 - 5.0 * l, 1.0));
        assert_eq!(holds, vec![(0.2, false), (0.4, true), (0.6, true), (0.8, true), (1.0, true)]);
        // A symmetric curve never holds; a steeper + side never holds.
        assert!(lower_on_plus(&pts(|l| 10.0 + l * l, 0.1)).iter().all(|h| !h.1));
        assert!(lower_on_plus(&pts(|l| 10.0 + 5.0 * l, 0.1)).iter().all(|h| !h.1));
        // With tiny standard errors every size holds.
        assert!(lower_on_plus(&pts(|l| 10.0 - l, 1e-3)).iter().all(|h| h.1));
    }

    fn save(dir: &Path, curves: &[(&str, Vec<CurvePoint>)]) {
        let rows: Vec<HessianRow> = curves
            .iter()
            .flat_map(|(n, pts)| {
                pts.iter().map(|p| HessianRow {
                    network: n.to_string(),
                    lambda: p.lambda,
                    trace: p.trace,
                    trace_stderr: p.trace_stderr,
                    top_eigenvalue: p.top_eigenvalue,
                })
            })
            .collect();
        valley_base::csv::write_records(&dir.join(CURVES_FILE), &rows).unwrap();
    }

    #[test]
    fn judge_passes_only_when_every_network_holds_at_every_size() {
        let tmp = tempfile::tempdir().unwrap();
        let holds = || pts(|l| 10.0 - 5.0 * l, 0.1);
        // The second network fails at a = 0.2 only (gap 2 < margin 2.83).
        save(tmp.path(), &[("vgg11-bn", holds()), ("vgg11", pts(|l| 10.0 - 5.0 * l, 1.0))]);
        let j = judge_hessian(tmp.path()).unwrap();
        assert!(!j.pass, "{}", j.detail);
        assert!(j.detail.contains("vgg11: holds at a ∈ {0.4, 0.6, 0.8, 1}"), "{}", j.detail);
        save(tmp.path(), &[("vgg11-bn", holds()), ("vgg11", holds())]);
        assert!(judge_hessian(tmp.path()).unwrap().pass);
        std::fs::remove_file(tmp.path().join(CURVES_FILE)).unwrap();
        assert!(judge_hessian(tmp.path()).is_err(), "no measurements, no verdict");
    }
}
