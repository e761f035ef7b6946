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

/// The parameter groups whose Hessian blocks are measured along the BN network's valley, beside
/// the whole Hessian (the groups of finding 4; one direction d over all parameters).
const GROUPS: [Group; 5] = [Group::Clf, Group::Feat, Group::Layer1, Group::Conv, Group::Bn];

/// One measured curve: the network, the parameter group whose Hessian block it is, the points.
struct Measured {
    network: String,
    group: String,
    points: Vec<CurvePoint>,
}

/// tr(H) and λmax along θf + λ·d for the base network `net`, BN re-estimated at every point
/// as in the valleys of findings 1–4: of all parameters, then of each of `groups`.
fn measure(env: &mut Env, net: BaseNet, what: &str, groups: &[Group]) -> Result<Vec<Measured>> {
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
    let set = &data.splits[0].1;
    let mut out = Vec::new();
    for group in std::iter::once(&Group::All).chain(groups) {
        (env.log)(&format!("{what}: Hessian of {group} along {} at {} points", spec.label(), lambdas().len()));
        let points =
            along_valley(&model, &theta, &d, &lambdas(), set, group, (&eval, &data.bn_set), &hessian_config(env))?;
        out.push(Measured { network: cfg.model.arch.name(), group: group.to_string(), points });
    }
    Ok(out)
}

fn figure(dir: &Path, curves: &[Measured]) -> Result<Vec<PathBuf>> {
    let series = |label: String, pts: &[CurvePoint], top: bool| {
        let xs: Vec<f64> = pts.iter().map(|p| p.lambda).collect();
        let ys: Vec<f64> = pts.iter().map(|p| if top { p.top_eigenvalue } else { p.trace }).collect();
        let s = Series::new(label, xs, ys);
        if top {
            return s;
        }
        let lo: Vec<f64> = pts.iter().map(|p| p.trace - p.trace_stderr).collect();
        let hi: Vec<f64> = pts.iter().map(|p| p.trace + p.trace_stderr).collect();
        s.with_band(lo, hi)
    };
    let mut panels = Vec::new();
    for c in curves.iter().filter(|c| c.group == ALL) {
        for top in [false, true] {
            let title = format!("{}: {}", c.network, if top { "top eigenvalue" } else { "tr(H) ± s.e." });
            let y = if top { "λmax" } else { "trace" };
            panels.push(Panel::new(title, "λ", y).with_series(series(c.network.clone(), &c.points, top)));
        }
    }
    let blocks: Vec<&Measured> = curves.iter().filter(|c| c.group != ALL).collect();
    if let Some(first) = blocks.first() {
        for top in [false, true] {
            let what = if top { "top eigenvalue" } else { "tr(H) ± s.e." };
            let mut panel = Panel::new(format!("{}: {what} per group block", first.network), "λ", "");
            for c in &blocks {
                panel = panel.with_series(series(c.group.clone(), &c.points, top));
            }
            panels.push(panel);
        }
    }
    Ok(line_figure(&dir.join("hessian-curve"), "Curvature along θf + λ·d (sign-consistent G(0,1))", &panels, 2)?)
}

/// Curvature finding: tr(H) lower on the flat (+) side of a sign-consistent valley.
pub fn hessian(env: &mut Env, command: &str) -> Result<Finding> {
    let dir = env.dir("hessian")?;
    let mut curves = measure(env, BaseNet::VggBn, "hessian (BN)", &GROUPS)?;
    curves.extend(measure(env, BaseNet::NoBn, "hessian (no BN)", &[])?);
    let rows: Vec<HessianRow> = curves
        .iter()
        .flat_map(|c| {
            c.points.iter().map(|p| HessianRow {
                network: c.network.clone(),
                group: c.group.clone(),
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

/// The group name of the whole Hessian in the saved table.
const ALL: &str = "ALL";

fn all_group() -> String {
    ALL.into()
}

/// One point of a network's curvature curve, as saved.
#[derive(serde::Serialize, serde::Deserialize)]
struct HessianRow {
    network: String,
    /// The parameter group of the Hessian block; tables saved before groups were measured
    /// have only the whole Hessian.
    #[serde(default = "all_group")]
    group: String,
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
    let mut curves: Vec<Measured> = Vec::new();
    for r in rows {
        let p = CurvePoint {
            lambda: r.lambda,
            trace: r.trace,
            trace_stderr: r.trace_stderr,
            top_eigenvalue: r.top_eigenvalue,
        };
        match curves.iter_mut().find(|c| c.network == r.network && c.group == r.group) {
            Some(c) => c.points.push(p),
            None => curves.push(Measured { network: r.network, group: r.group, points: vec![p] }),
        }
    }
    let mut table =
        Table { header: ["network", "group", "λ", "tr(H)", "s.e.", "λmax"].map(String::from).to_vec(), rows: vec![] };
    let holds_at = |c: &Measured| -> String {
        let at: Vec<String> = lower_on_plus(&c.points).iter().filter(|h| h.1).map(|h| format!("{}", h.0)).collect();
        format!("{{{}}}", at.join(", "))
    };
    let whole: Vec<&Measured> = curves.iter().filter(|c| c.group == ALL).collect();
    let mut pass = !whole.is_empty();
    let mut detail = Vec::new();
    for c in &whole {
        let holds = lower_on_plus(&c.points);
        pass &= holds.len() == SIZES.len() && holds.iter().all(|h| h.1);
        detail.push(format!("{}: holds at a ∈ {} of {{0.2,…,1}}", c.network, holds_at(c)));
    }
    let blocks: Vec<String> = curves
        .iter()
        .filter(|c| c.group != ALL)
        .map(|c| format!("{} {} {}", c.network, c.group, holds_at(c)))
        .collect();
    if !blocks.is_empty() {
        detail.push(format!("group blocks (reported, not judged), a where it holds: {}", blocks.join(", ")));
    }
    for c in &curves {
        for p in &c.points {
            let row = [
                c.network.clone(),
                c.group.clone(),
                format!("{:+.1}", p.lambda),
                format!("{:.3}", p.trace),
                format!("{:.3}", p.trace_stderr),
                format!("{:.3}", p.top_eigenvalue),
            ];
            table.rows.push(row.to_vec());
        }
    }
    let numbers = json!({
        "margin_standard_errors": MARGIN_SE,
        "curves": curves.iter().map(|c| json!({
            "network": c.network, "group": c.group, "points": c.points, "lower_on_plus": lower_on_plus(&c.points),
        })).collect::<Vec<_>>(),
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
                let (network, group) = n.split_once('/').unwrap_or((n, ALL));
                pts.iter().map(move |p| HessianRow {
                    network: network.to_string(),
                    group: group.to_string(),
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
        // A group block is reported with its range but does not decide the verdict.
        save(tmp.path(), &[("vgg11-bn", holds()), ("vgg11", holds()), ("vgg11-bn/CLF", pts(|l| 10.0 + l, 0.1))]);
        let j = judge_hessian(tmp.path()).unwrap();
        assert!(j.pass && j.detail.contains("vgg11-bn CLF {}"), "{}", j.detail);
        // A table saved before groups were measured has no group column: all of it is the whole Hessian.
        let old = "network,lambda,trace,trace_stderr,top_eigenvalue\n";
        let body: String = pts(|l| 10.0 - 5.0 * l, 0.1)
            .iter()
            .map(|p| format!("vgg11-bn,{},{},{},{}\n", p.lambda, p.trace, p.trace_stderr, p.top_eigenvalue))
            .collect();
        std::fs::write(tmp.path().join(CURVES_FILE), format!("{old}{body}")).unwrap();
        assert!(judge_hessian(tmp.path()).unwrap().pass);
        std::fs::remove_file(tmp.path().join(CURVES_FILE)).unwrap();
        assert!(judge_hessian(tmp.path()).is_err(), "no measurements, no verdict");
    }
}
