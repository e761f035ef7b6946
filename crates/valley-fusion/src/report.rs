//! Files the fusion commands write: JSON records, CSV tables, PNG/SVG figures.

use std::path::{Path, PathBuf};

use serde::Serialize;
use serde_json::{json, Value};
use valley::eval::EvalConfig;
use valley_report::{bar_figure, line_figure, Panel, Series, Table};

use crate::interpolate::{CurvePoint, CurveSummary};
use crate::soups::{SoupsOutcome, Start};
use crate::ssr::GroupSsr;
use crate::Result;

/// A checkpoint's identity in a record.
#[derive(Clone, Debug, Serialize)]
pub struct CheckpointId {
    pub path: PathBuf,
    pub sha256: String,
}

impl CheckpointId {
    pub fn of(path: &Path) -> Result<Self> {
        Ok(Self { path: path.to_path_buf(), sha256: valley::checkpoint::sha256_file(path)? })
    }
}

fn write_json(path: &Path, value: &Value) -> Result<()> {
    let text = serde_json::to_string_pretty(value).unwrap_or_default();
    Ok(valley_base::atomic_write(path, text.as_bytes())?)
}

fn metadata() -> Value {
    valley_base::RunMeta::new().to_json()
}

/// `interpolation.csv` (`lambda,split,loss,accuracy,error`), `interpolation.json` (barrier and
/// gap of the first split at top level, every split's summary, endpoints, spec, checkpoint
/// sha256s, `dataset`) and `interpolation.png/svg`. Returns the written paths.
pub fn write_interpolation(
    dir: &Path,
    (a, b): (&CheckpointId, &CheckpointId),
    dataset: Value,
    spec: &EvalConfig,
    lambdas: &[f64],
    points: &[CurvePoint],
    summaries: &[CurveSummary],
) -> Result<Vec<PathBuf>> {
    let table = Table {
        header: ["lambda", "split", "loss", "accuracy", "error"].map(String::from).to_vec(),
        rows: points
            .iter()
            .map(|p| {
                vec![
                    p.lambda.to_string(),
                    p.split.to_string(),
                    p.loss.to_string(),
                    p.accuracy.to_string(),
                    (1.0 - p.accuracy).to_string(),
                ]
            })
            .collect(),
    };
    let csv = dir.join("interpolation.csv");
    table.write_csv(&csv)?;
    let first = &summaries[0];
    let endpoint = |f: &dyn Fn(&CurveSummary) -> (f64, f64)| {
        summaries
            .iter()
            .map(|s| (s.split.to_string(), json!({ "loss": f(s).0, "accuracy": f(s).1 })))
            .collect::<serde_json::Map<_, _>>()
    };
    let record = json!({
        "meta": metadata(),
        "what": "accuracy and loss of (1−λ)θA + λθB",
        "checkpoints": { "a": a, "b": b },
        "dataset": dataset,
        "spec": { "lambdas": lambdas, "eval": spec },
        "barrier": first.barrier,
        "gap": first.gap,
        "split": first.split,
        "endpoints": { "a": endpoint(&|s| (s.loss_a, s.accuracy_a)), "b": endpoint(&|s| (s.loss_b, s.accuracy_b)), "mid": endpoint(&|s| (s.loss_mid, s.accuracy_mid)) },
        "splits": summaries,
    });
    let json_path = dir.join("interpolation.json");
    write_json(&json_path, &record)?;
    let panel = |y: &str, f: &dyn Fn(&CurvePoint) -> f64| {
        let mut panel = Panel::new(y, "λ  ((1−λ)θA + λθB)", y);
        for (i, s) in summaries.iter().enumerate() {
            let pts: Vec<&CurvePoint> = points.iter().filter(|p| p.split == s.split).collect();
            panel = panel.with_series(
                Series::new(
                    s.split.to_string(),
                    pts.iter().map(|p| p.lambda).collect::<Vec<_>>(),
                    pts.iter().map(|p| f(p)).collect::<Vec<_>>(),
                )
                .color(i),
            );
        }
        panel
    };
    let title =
        format!("Interpolation: barrier {:.4}, gap {:+.2} pts ({})", first.barrier, first.gap * 100.0, first.split);
    let mut files = vec![csv, json_path];
    files.extend(line_figure(
        &dir.join("interpolation"),
        &title,
        &[panel("loss", &|p| p.loss), panel("accuracy", &|p| p.accuracy)],
        2,
    )?);
    Ok(files)
}

/// `ssr.json` (`all` = the ALL group, `groups` by name, checkpoints), `ssr.csv` and
/// `ssr.png/svg` (bars per group). Returns the written paths.
pub fn write_ssr(dir: &Path, checkpoints: &[(&str, CheckpointId)], groups: &[GroupSsr]) -> Result<Vec<PathBuf>> {
    let all = groups.iter().find(|g| g.group == "ALL");
    let by_name: serde_json::Map<String, Value> = groups.iter().map(|g| (g.group.clone(), json!(g))).collect();
    let ck: serde_json::Map<String, Value> = checkpoints.iter().map(|(k, c)| (k.to_string(), json!(c))).collect();
    let record = json!({
        "meta": metadata(),
        "what": "sign-same ratios SSR(u,v) = fraction of elements with sign(u) = sign(v), learnable parameters only",
        "checkpoints": ck,
        "all": all,
        "groups": by_name,
    });
    let json_path = dir.join("ssr.json");
    write_json(&json_path, &record)?;
    let opt = |x: Option<f64>| x.map(|v| v.to_string()).unwrap_or_default();
    let table = ssr_table(groups, &|x| x.to_string(), &opt);
    let csv = dir.join("ssr.csv");
    table.write_csv(&csv)?;
    let names: Vec<String> = groups.iter().map(|g| g.group.clone()).collect();
    let mut bars = vec![("SSR-AB".to_string(), groups.iter().map(|g| g.ssr_ab).collect::<Vec<_>>())];
    if groups.iter().all(|g| g.ssr_ia.is_some()) {
        bars.push(("SSR-IA".into(), groups.iter().map(|g| g.ssr_ia.unwrap_or(f64::NAN)).collect()));
        bars.push(("SSR-IB".into(), groups.iter().map(|g| g.ssr_ib.unwrap_or(f64::NAN)).collect()));
    }
    bars.push(("SSR(A, B−A)".into(), groups.iter().map(|g| g.ssr_a_diff).collect()));
    bars.push(("SSR(B, B−A)".into(), groups.iter().map(|g| g.ssr_b_diff).collect()));
    let mut files = vec![json_path, csv];
    files.extend(bar_figure(&dir.join("ssr"), "Sign-same ratio per parameter group", &names, &bars, "SSR")?);
    Ok(files)
}

/// The SSR table (one row per group), with cells formatted by `num` / `opt`.
pub fn ssr_table(groups: &[GroupSsr], num: &dyn Fn(f64) -> String, opt: &dyn Fn(Option<f64>) -> String) -> Table {
    let header = [
        "group",
        "numel",
        "ssr_ab",
        "ssr_ia",
        "ssr_ib",
        "ssr_a_diff",
        "ssr_b_diff",
        "mean_a",
        "std_a",
        "mean_b",
        "std_b",
        "mean_init",
        "std_init",
    ];
    Table {
        header: header.map(String::from).to_vec(),
        rows: groups
            .iter()
            .map(|g| {
                vec![
                    g.group.clone(),
                    g.numel.to_string(),
                    num(g.ssr_ab),
                    opt(g.ssr_ia),
                    opt(g.ssr_ib),
                    num(g.ssr_a_diff),
                    num(g.ssr_b_diff),
                    num(g.a.mean),
                    num(g.a.std),
                    num(g.b.mean),
                    num(g.b.std),
                    opt(g.init.map(|m| m.mean)),
                    opt(g.init.map(|m| m.std)),
                ]
            })
            .collect(),
    }
}

/// `soups.json` (config, split sizes, every point with its curve, the verdict), `soups.csv`
/// (one row per start and epoch), `soups-curves.csv` and `soups.png/svg` (gap, SSRs and
/// barrier against the epoch). Returns the written paths.
pub fn write_soups(dir: &Path, outcome: &SoupsOutcome, dataset: Value) -> Result<Vec<PathBuf>> {
    let json_path = dir.join("soups.json");
    let record = json!({ "meta": metadata(), "dataset": dataset, "outcome": outcome, "verdict": outcome.verdict });
    write_json(&json_path, &record)?;
    let rows = outcome
        .points
        .iter()
        .map(|p| {
            let s = &p.test;
            [p.start.name().to_string(), p.epoch.to_string()]
                .into_iter()
                .chain(
                    [s.accuracy_a, s.accuracy_b, s.accuracy_mid, s.gap, s.barrier, p.ssr_ia, p.ssr_ib, p.ssr_ab]
                        .map(|x| x.to_string()),
                )
                .collect()
        })
        .collect();
    let header = ["start", "epoch", "acc_a", "acc_b", "acc_mid", "gap", "barrier", "ssr_ia", "ssr_ib", "ssr_ab"];
    let csv = dir.join("soups.csv");
    Table { header: header.map(String::from).to_vec(), rows }.write_csv(&csv)?;
    let curves = dir.join("soups-curves.csv");
    Table {
        header: ["start", "epoch", "lambda", "split", "loss", "accuracy"].map(String::from).to_vec(),
        rows: outcome
            .points
            .iter()
            .flat_map(|p| {
                p.curve.iter().map(|c| {
                    vec![
                        p.start.name().into(),
                        p.epoch.to_string(),
                        c.lambda.to_string(),
                        c.split.to_string(),
                        c.loss.to_string(),
                        c.accuracy.to_string(),
                    ]
                })
            })
            .collect(),
    }
    .write_csv(&curves)?;
    let series =
        |start: Start, label: &str, f: &dyn Fn(&crate::soups::SoupsPoint) -> f64, color: usize, dashed: bool| {
            let pts: Vec<_> = outcome.points.iter().filter(|p| p.start == start).collect();
            let s = Series::new(
                format!("{} {label}", start.name()),
                pts.iter().map(|p| p.epoch as f64).collect::<Vec<_>>(),
                pts.iter().map(|p| f(p)).collect::<Vec<_>>(),
            )
            .color(color);
            if dashed {
                s.dashed()
            } else {
                s
            }
        };
    let mut gap = Panel::new("performance gap", "epoch", "Acc(½A+½B) − mean Acc");
    let mut ssrs = Panel::new("sign-same ratios", "epoch", "SSR");
    let mut bar = Panel::new("loss barrier", "epoch", "barrier");
    for (i, start) in [Start::Random, Start::Pretrained].into_iter().enumerate() {
        gap = gap.with_series(series(start, "", &|p| p.test.gap, i, false));
        bar = bar.with_series(series(start, "", &|p| p.test.barrier, i, false));
        ssrs = ssrs.with_series(series(start, "SSR-AB", &|p| p.ssr_ab, i, false));
        ssrs = ssrs.with_series(series(start, "SSR-IA", &|p| p.ssr_ia, i, true));
    }
    let v = &outcome.verdict;
    let title = format!(
        "Soups: ρ(gap, SSR-AB) = {:.2}, verdict {}",
        v.spearman_gap_ssr_ab,
        if v.pass { "pass" } else { "fail" }
    );
    let mut files = vec![json_path, csv, curves];
    files.extend(line_figure(&dir.join("soups"), &title, &[gap, ssrs, bar], 3)?);
    Ok(files)
}
