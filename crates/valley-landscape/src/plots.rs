//! Figures of a landscape run: valleys per direction (Figure 3 of the paper) and the
//! sign-change-ratio sweep.

use std::path::{Path, PathBuf};

use valley_report::{line_figure, Panel, Series};

use valley::noise::SignMode;

use crate::metrics::Metric;
use crate::run::Aggregate;
use crate::sweep::Split;
use crate::Result;

/// Which quantity a figure shows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Quantity {
    Error,
    Loss,
}

impl Quantity {
    fn name(self) -> &'static str {
        match self {
            Quantity::Error => "error",
            Quantity::Loss => "loss",
        }
    }
}

/// One figure per split and metric, `valley-<split>-<metric>.{png,svg}`: a panel per
/// direction (and group) and sign mode, sign modes in rows as in the paper's Figure 3, one
/// curve per scale with a 95 % band when there are repeated seeds.
pub fn valley_figures(out: &Path, aggs: &[Aggregate], norm: &str) -> Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    let mut splits: Vec<Split> = aggs.iter().map(|a| a.key.split).collect();
    splits.sort();
    splits.dedup();
    for split in splits {
        let of_split: Vec<&Aggregate> = aggs.iter().filter(|a| a.key.split == split).collect();
        let rows = unique(of_split.iter().map(|a| a.key.sign));
        let cols = unique(of_split.iter().map(|a| (&a.key.direction, &a.key.group)));
        let many_groups = unique(of_split.iter().map(|a| &a.key.group)).len() > 1;
        for metric in [Quantity::Error, Quantity::Loss] {
            let mut panels = Vec::new();
            for sign in &rows {
                for &(dir, group) in &cols {
                    let mut title = format!("{} {}", dir.paper_label(), sign.label());
                    if many_groups {
                        title.push_str(&format!(" [{group}]"));
                    }
                    let mut panel = Panel::new(title, "λ", format!("{split} {}", metric.name()));
                    let curves = of_split
                        .iter()
                        .filter(|a| a.key.sign == *sign && &a.key.direction == dir && &a.key.group == group);
                    for a in curves {
                        let iv = if metric == Quantity::Error { &a.error } else { &a.loss };
                        let mut s = Series::new(
                            format!("s={} ({norm})", a.key.scale),
                            a.lambdas.clone(),
                            iv.iter().map(|i| i.mean).collect::<Vec<_>>(),
                        );
                        if a.seeds.len() > 1 {
                            let lo: Vec<f64> = iv.iter().map(|i| i.lo.unwrap_or(i.mean)).collect();
                            let hi: Vec<f64> = iv.iter().map(|i| i.hi.unwrap_or(i.mean)).collect();
                            s = s.with_band(lo, hi);
                        }
                        panel = panel.with_series(s);
                    }
                    panels.push(panel);
                }
            }
            // One y range per row (sign mode), so the panels of a row read on one scale; a
            // figure-wide range let the as-sampled positive noises (loss ≈ 60) flatten the
            // sign-consistent row.
            // With a single direction the sign modes are laid out side by side: one range.
            let per_row = if cols.len() == 1 { panels.len() } else { cols.len() };
            for row in panels.chunks_mut(per_row.max(1)) {
                share_y_range(row, metric == Quantity::Error);
            }
            let ncols = if cols.len() == 1 { rows.len().min(4) } else { cols.len().min(7) };
            let stem = out.join(format!("valley-{split}-{}", metric.name()));
            let title = format!("{} {} along θf + λ·d", split, metric.name());
            files.extend(line_figure(&stem, &title, &panels, ncols.max(1))?);
        }
    }
    Ok(files)
}

/// Gives `panels` the y range of all their series and bands, padded by 5 %; error ranges
/// start at 0 at the lowest.
fn share_y_range(panels: &mut [Panel], nonnegative: bool) {
    let ys = panels
        .iter()
        .flat_map(|p| p.series.iter())
        .flat_map(|s| s.ys.iter().chain(s.band.iter().flat_map(|b| b.0.iter().chain(b.1.iter()))));
    let (lo, hi) =
        ys.filter(|v| v.is_finite()).fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), &v| (a.min(v), b.max(v)));
    if lo < hi {
        let pad = 0.05 * (hi - lo);
        let floor = if nonnegative { 0.0 } else { f64::NEG_INFINITY };
        for p in panels.iter_mut() {
            p.y_range = Some(((lo - pad).max(floor), hi + pad));
        }
    }
}

/// `ratio-sweep-<split>.{png,svg}` when the run has several flip ratios: mean test error on
/// the + side (λ > 0) and the − side (λ < 0) against the ratio r (the paper's finding 2).
pub fn ratio_figures(out: &Path, aggs: &[Aggregate]) -> Result<Vec<PathBuf>> {
    let ratio = |a: &Aggregate| match a.key.sign {
        SignMode::FlipRatio(r) => Some(r),
        _ => None,
    };
    let with_ratio: Vec<&Aggregate> = aggs.iter().filter(|a| ratio(a).is_some()).collect();
    if unique(with_ratio.iter().map(|a| a.key.sign)).len() < 2 {
        return Ok(vec![]);
    }
    let mut files = Vec::new();
    let mut splits: Vec<Split> = with_ratio.iter().map(|a| a.key.split).collect();
    splits.sort();
    splits.dedup();
    for split in splits {
        let keys = unique(
            with_ratio.iter().filter(|a| a.key.split == split).map(|a| (&a.key.direction, &a.key.group, a.key.scale)),
        );
        let mut panels = Vec::new();
        for &(dir, group, scale) in &keys {
            let mut pts: Vec<(f64, f64, f64)> = with_ratio
                .iter()
                .filter(|a| {
                    a.key.split == split && &a.key.direction == dir && &a.key.group == group && a.key.scale == scale
                })
                .filter_map(|a| {
                    let m = |k: Metric| a.error_metrics.mean(k).unwrap_or(f64::NAN);
                    ratio(a).map(|r| (r, m(Metric::MeanPlus), m(Metric::MeanMinus)))
                })
                .collect();
            pts.sort_by(|a, b| a.0.total_cmp(&b.0));
            let rs: Vec<f64> = pts.iter().map(|p| p.0).collect();
            panels.push(
                Panel::new(
                    format!("{} s={scale} [{group}]", dir.paper_label()),
                    "sign-change ratio r",
                    format!("mean {split} error"),
                )
                .with_series(Series::new("λ > 0", rs.clone(), pts.iter().map(|p| p.1).collect::<Vec<_>>()))
                .with_series(Series::new("λ < 0", rs, pts.iter().map(|p| p.2).collect::<Vec<_>>()).dashed()),
            );
        }
        let stem = out.join(format!("ratio-sweep-{split}"));
        files.extend(line_figure(
            &stem,
            "Mean error per side against the sign-change ratio",
            &panels,
            panels.len().min(4),
        )?);
    }
    Ok(files)
}

fn unique<T: PartialEq>(it: impl Iterator<Item = T>) -> Vec<T> {
    let mut out = Vec::new();
    for x in it {
        if !out.contains(&x) {
            out.push(x);
        }
    }
    out
}
