//! 2D surfaces `L(θf + α·d₁ + β·d₂)` over a grid, resumable row by row.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use valley::params::Params;
use valley_base::csv::{CsvWriter, LineEnd};

use crate::sweep::{Evaluator, Split};
use crate::{Error, Result};

/// One grid point on one split.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct PlanePoint {
    pub alpha: f64,
    pub beta: f64,
    pub split: Split,
    pub loss: f64,
    pub error: f64,
}

const HEADER: [&str; 5] = ["alpha", "beta", "split", "loss", "error"];

/// Reads the points of an earlier (possibly interrupted) run; none if the file is absent.
pub fn read_plane_csv(path: &Path) -> Result<Vec<PlanePoint>> {
    if !path.exists() {
        return Ok(vec![]);
    }
    let read_err = |source| Error::CsvRead { path: path.to_path_buf(), source };
    let mut r = csv::Reader::from_path(path).map_err(read_err)?;
    let header: Vec<String> = r.headers().map_err(read_err)?.iter().map(String::from).collect();
    if header != HEADER {
        return Err(Error::CsvHeader {
            path: path.to_path_buf(),
            found: header,
            expected: HEADER.map(String::from).to_vec(),
        });
    }
    let mut out = Vec::new();
    for (i, rec) in r.records().enumerate() {
        let rec = rec.map_err(read_err)?;
        let num = |k: usize| {
            rec.get(k).and_then(|v| v.parse::<f64>().ok()).ok_or_else(|| Error::CsvNumber {
                path: path.to_path_buf(),
                row: i + 2,
                column: HEADER[k],
            })
        };
        let split: Split = rec.get(2).unwrap_or("").parse()?;
        out.push(PlanePoint { alpha: num(0)?, beta: num(1)?, split, loss: num(3)?, error: num(4)? });
    }
    Ok(out)
}

fn write_plane_csv(path: &Path, points: &[PlanePoint]) -> Result<()> {
    let mut w = CsvWriter::new(path, HEADER, LineEnd::Lf)?;
    for p in points {
        w.row([
            p.alpha.to_string(),
            p.beta.to_string(),
            p.split.to_string(),
            format!("{:.8}", p.loss),
            format!("{:.8}", p.error),
        ])?;
    }
    Ok(w.finish()?)
}

/// Writes the plane's spec `record` to `json_path`. When `csv_path` holds points of an
/// earlier run, that run's record must equal `record` (the build's version and git revision
/// aside), else
/// [`Error::Resume`]: resuming would mix two surfaces in one file.
pub fn start(json_path: &Path, csv_path: &Path, record: &serde_json::Value) -> Result<()> {
    if csv_path.exists() {
        check_resume(json_path, csv_path, record)?;
    }
    let text = serde_json::to_string_pretty(record).unwrap_or_default();
    valley_base::atomic_write(json_path, text.as_bytes())?;
    Ok(())
}

/// Checks that the record in `json_path` (written beside `csv_path` by an earlier run)
/// equals `record`, ignoring `valley_version` and `git_revision` (the build may differ, the
/// spec may not).
pub fn check_resume(json_path: &Path, csv_path: &Path, record: &serde_json::Value) -> Result<()> {
    let without_version = |v: &serde_json::Value| {
        let mut v = v.clone();
        if let Some(o) = v.as_object_mut() {
            o.remove("valley_version");
            o.remove("git_revision");
        }
        v
    };
    let old: Option<serde_json::Value> =
        std::fs::read_to_string(json_path).ok().and_then(|t| serde_json::from_str(&t).ok());
    match old {
        Some(old) if without_version(&old) == without_version(record) => Ok(()),
        _ => Err(Error::Resume {
            path: csv_path.to_path_buf(),
            detail: format!(
                "made with another spec ({} differs or is missing); delete it or choose another --out",
                json_path.display()
            ),
        }),
    }
}

/// The most points of a plane: two maximal λ grids would be 10⁸ evaluations.
pub const MAX_PLANE_POINTS: usize = 250_000;

/// Refuses a plane of more than [`MAX_PLANE_POINTS`] points, before anything is written.
pub fn check_grid(alphas: &[f64], betas: &[f64]) -> Result<()> {
    if alphas.len().saturating_mul(betas.len()) > MAX_PLANE_POINTS {
        return Err(Error::Spec(format!(
            "a plane of {} × {} points exceeds the limit of {MAX_PLANE_POINTS}; use coarser --lambdas/--betas",
            alphas.len(),
            betas.len()
        )));
    }
    Ok(())
}

/// Evaluates the grid `alphas × betas` (rows: one α, all β), skipping points already in
/// `csv_path`, and rewrites `csv_path` atomically after each row, so an interrupted run
/// resumes where it stopped. Returns all points, existing and new.
pub fn plane(
    eval: &mut Evaluator,
    d1: &Params,
    d2: &Params,
    alphas: &[f64],
    betas: &[f64],
    csv_path: &Path,
    on_row: &mut dyn FnMut(usize, usize, usize),
) -> Result<Vec<PlanePoint>> {
    check_grid(alphas, betas)?;
    if csv_path.exists() {
        if let Some(dir) = csv_path.parent().filter(|d| !d.as_os_str().is_empty()) {
            valley::checkpoint::remove_stale_temps(dir)?;
        }
    }
    let mut points = read_plane_csv(csv_path)?;
    let key = |a: f64, b: f64| (a.to_bits(), b.to_bits());
    let mut done: HashMap<(u64, u64), usize> = HashMap::new();
    for p in &points {
        *done.entry(key(p.alpha, p.beta)).or_default() += 1;
    }
    let per_point = eval_splits(eval);
    for (i, &a) in alphas.iter().enumerate() {
        let todo: Vec<f64> =
            betas.iter().copied().filter(|&b| done.get(&key(a, b)).copied().unwrap_or(0) < per_point).collect();
        on_row(i, alphas.len(), betas.len() - todo.len());
        if todo.is_empty() {
            continue;
        }
        // A partly written row (another tool, an edit) is recomputed whole for those β.
        points.retain(|p| !(p.alpha.to_bits() == a.to_bits() && todo.iter().any(|b| b.to_bits() == p.beta.to_bits())));
        for b in todo {
            let r = eval.at(&[(d1, a), (d2, b)]);
            for (split, e) in r.per_split {
                points.push(PlanePoint { alpha: a, beta: b, split, loss: e.loss, error: e.error() });
            }
        }
        write_plane_csv(csv_path, &points)?;
    }
    eval.restore();
    Ok(points)
}

fn eval_splits(eval: &mut Evaluator) -> usize {
    eval.at(&[]).per_split.len()
}

/// Heat maps of loss and error per split, `plane-<split>-<metric>.{png,svg}`; with a
/// non-empty `path` (a training trajectory's coordinates), iso-lines and the path on top.
pub fn plane_figures(
    out: &Path,
    points: &[PlanePoint],
    alphas: &[f64],
    betas: &[f64],
    labels: (&str, &str),
    path: &[valley_report::PathMark],
) -> Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    let mut splits: Vec<Split> = points.iter().map(|p| p.split).collect();
    splits.sort();
    splits.dedup();
    for split in splits {
        for (metric, get) in
            [("loss", (|p: &PlanePoint| p.loss) as fn(&PlanePoint) -> f64), ("error", |p: &PlanePoint| p.error)]
        {
            let z: Vec<Vec<f64>> = betas
                .iter()
                .map(|&b| {
                    alphas
                        .iter()
                        .map(|&a| {
                            points
                                .iter()
                                .find(|p| {
                                    p.split == split
                                        && p.alpha.to_bits() == a.to_bits()
                                        && p.beta.to_bits() == b.to_bits()
                                })
                                .map(get)
                                .unwrap_or(f64::NAN)
                        })
                        .collect()
                })
                .collect();
            let stem = out.join(format!("plane-{split}-{metric}"));
            let (x_label, y_label, z_label) =
                (format!("α ({})", labels.0), format!("β ({})", labels.1), format!("{split} {metric}"));
            if path.is_empty() {
                let title = format!("{split} {metric} on θf + α·d₁ + β·d₂");
                files.extend(valley_report::heatmap_figure(
                    &stem, &title, alphas, betas, &z, &x_label, &y_label, &z_label,
                )?);
            } else {
                let title = format!("{split} {metric} and the training path");
                files.extend(valley_report::heatmap_path_figure(
                    &stem,
                    &title,
                    alphas,
                    betas,
                    &z,
                    (&x_label, &y_label, &z_label),
                    path,
                )?);
            }
        }
    }
    Ok(files)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resuming_with_a_changed_spec_is_refused() {
        let tmp = tempfile::tempdir().unwrap();
        let (json, csv) = (tmp.path().join("plane.json"), tmp.path().join("plane.csv"));
        let record = serde_json::json!({ "valley_version": "0.1.0", "alphas": [-1.0, 0.0, 1.0], "seeds": [0, 1] });
        start(&json, &csv, &record).unwrap();
        write_plane_csv(&csv, &[]).unwrap();
        // The same spec under another valley version resumes.
        let mut newer = record.clone();
        newer["valley_version"] = "0.2.0".into();
        newer["git_revision"] = "abc1234-dirty".into();
        start(&json, &csv, &newer).unwrap();
        let mut changed = record.clone();
        changed["alphas"] = serde_json::json!([-1.0, 1.0]);
        match start(&json, &csv, &changed) {
            Err(Error::Resume { path, detail }) => {
                assert_eq!(path, csv);
                assert!(detail.contains("plane.json"), "{detail}");
            }
            other => panic!("expected Error::Resume, got {other:?}"),
        }
        std::fs::remove_file(&json).unwrap();
        assert!(matches!(start(&json, &csv, &record), Err(Error::Resume { .. })), "a missing record is refused too");
    }
}
