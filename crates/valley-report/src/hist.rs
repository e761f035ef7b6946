use std::path::{Path, PathBuf};

use plotters::coord::Shift;
use plotters::prelude::*;

use crate::error::{invalid, Result};
use crate::line::{GridFigure, GridPanel};
use crate::style::{
    draw_legend, draw_note, fmt_tick, font, legend_height, padded_range, palette, render, DrawResult, LegendEntry,
    Swatch, CAPTION_FONT, DESC_FONT, TICK_FONT,
};

/// One panel of overlapping histograms, e.g. the distribution of parameter values of two
/// models. All samples share `bins` equal-width bins over their joint finite range.
#[derive(Clone, Debug, Default)]
pub struct HistPanel {
    pub title: String,
    pub x_label: String,
    /// `(label, values)`; non-finite values are ignored.
    pub samples: Vec<(String, Vec<f64>)>,
    pub bins: usize,
}

impl HistPanel {
    pub fn new(title: impl Into<String>, x_label: impl Into<String>, bins: usize) -> Self {
        HistPanel { title: title.into(), x_label: x_label.into(), samples: Vec::new(), bins }
    }

    pub fn with_sample(mut self, label: impl Into<String>, values: impl Into<Vec<f64>>) -> Self {
        self.samples.push((label.into(), values.into()));
        self
    }
}

/// Overlapping semi-transparent histograms (counts per bin), one panel per [`HistPanel`],
/// in `cols` columns of [`crate::PANEL_SIZE`] panels. Writes `<stem>.png` and `<stem>.svg`.
pub fn histogram_figure(stem: &Path, title: &str, panels: &[HistPanel], cols: usize) -> Result<Vec<PathBuf>> {
    if panels.is_empty() {
        return Err(invalid(stem, "histogram_figure needs at least one panel"));
    }
    if let Some(p) = panels.iter().find(|p| p.bins == 0) {
        return Err(invalid(stem, format!("histogram panel `{}` has bins = 0 (use at least 1)", p.title)));
    }
    render(stem, &GridFigure { title, panels, cols: cols.clamp(1, panels.len()) })
}

impl GridPanel for HistPanel {
    fn draw_into<DB: DrawingBackend>(&self, area: &DrawingArea<DB, Shift>) -> DrawResult
    where
        DB::ErrorType: 'static,
    {
        draw_hist(area, self)
    }
}

fn counts(values: &[f64], range: &std::ops::Range<f64>, bins: usize) -> Vec<u64> {
    let mut c = vec![0u64; bins];
    let w = (range.end - range.start) / bins as f64;
    for &v in values.iter().filter(|v| v.is_finite()) {
        let i = (((v - range.start) / w).floor().max(0.0) as usize).min(bins - 1);
        c[i] += 1;
    }
    c
}

fn draw_hist<DB: DrawingBackend>(area: &DrawingArea<DB, Shift>, panel: &HistPanel) -> DrawResult
where
    DB::ErrorType: 'static,
{
    let entries: Vec<LegendEntry> = panel
        .samples
        .iter()
        .enumerate()
        .map(|(i, (label, _))| LegendEntry { label: label.clone(), color: palette(i), swatch: Swatch::Box })
        .collect();
    let (w, h) = area.dim_in_pixel();
    let (chart_area, legend_area) = area.split_vertically(h - legend_height(&entries, w).min(h / 3));
    draw_legend(&legend_area, &entries)?;

    let all = panel.samples.iter().flat_map(|(_, v)| v.iter().copied()).filter(|v| v.is_finite());
    let (lo, hi) = all.clone().fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), v| (a.min(v), b.max(v)));
    let empty = !lo.is_finite();
    let bin_range = if empty || hi - lo <= f64::EPSILON * lo.abs().max(1.0) { padded_range([lo, hi]) } else { lo..hi };
    let all_counts: Vec<Vec<u64>> = panel.samples.iter().map(|(_, v)| counts(v, &bin_range, panel.bins)).collect();
    let max_count = all_counts.iter().flatten().copied().max().unwrap_or(0).max(1) as f64;
    let margin = 0.03 * (bin_range.end - bin_range.start);
    let xr = bin_range.start - margin..bin_range.end + margin;
    let x_span = xr.end - xr.start;
    let y_top = max_count * 1.08;

    let mut builder = ChartBuilder::on(&chart_area);
    builder.margin(8).margin_right(18).x_label_area_size(46).y_label_area_size(66);
    if !panel.title.is_empty() {
        builder.caption(&panel.title, font(CAPTION_FONT));
    }
    let mut chart = builder.build_cartesian_2d(xr, 0.0..y_top)?;
    let x_fmt = move |v: &f64| fmt_tick(*v, x_span);
    let y_fmt = move |v: &f64| fmt_tick(*v, y_top);
    chart
        .configure_mesh()
        .x_desc(panel.x_label.as_str())
        .y_desc("count")
        .x_labels(6)
        .y_labels(6)
        .x_label_formatter(&x_fmt)
        .y_label_formatter(&y_fmt)
        .label_style(font(TICK_FONT))
        .axis_desc_style(font(DESC_FONT))
        .bold_line_style(RGBColor(225, 225, 225))
        .light_line_style(RGBColor(245, 245, 245))
        .draw()?;

    let bw = (bin_range.end - bin_range.start) / panel.bins as f64;
    for (i, c) in all_counts.iter().enumerate() {
        let color = palette(i);
        chart.draw_series(c.iter().enumerate().filter(|(_, &n)| n > 0).map(|(k, &n)| {
            let x0 = bin_range.start + k as f64 * bw;
            Rectangle::new([(x0, 0.0), (x0 + bw, n as f64)], color.mix(0.35).filled())
        }))?;
        // Step outline so overlapping histograms stay distinguishable.
        let mut step = vec![(bin_range.start, 0.0)];
        for (k, &n) in c.iter().enumerate() {
            let x0 = bin_range.start + k as f64 * bw;
            step.push((x0, n as f64));
            step.push((x0 + bw, n as f64));
        }
        step.push((bin_range.end, 0.0));
        chart.draw_series(std::iter::once(PathElement::new(step, color.stroke_width(2))))?;
    }
    if empty {
        draw_note(&chart_area, "no finite data")?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::style::{PANEL_SIZE, TITLE_HEIGHT};

    #[test]
    fn counts_cover_all_finite_values() {
        let c = counts(&[0.0, 0.5, 1.0, f64::NAN, 0.25], &(0.0..1.0), 4);
        // 0.0 → bin 0, 0.25 → bin 1, 0.5 → bin 2, 1.0 → last bin (closed); NaN ignored.
        assert_eq!(c, vec![1, 1, 1, 1]);
    }

    #[test]
    fn histogram_figure_writes_expected_size_and_labels() {
        let dir = tempfile::tempdir().unwrap();
        let a: Vec<f64> = (0..500).map(|i| ((i * 37 % 101) as f64 / 101.0 - 0.5) * 2.0).collect();
        let b: Vec<f64> = a.iter().map(|v| v * 0.5 + 0.3).collect();
        let p = HistPanel::new("conv1.weight", "value", 30).with_sample("model A", a).with_sample("model B", b);
        let empty = HistPanel::new("empty", "value", 10).with_sample("nan", vec![f64::NAN]);
        let out = histogram_figure(&dir.path().join("h"), "Parameter values", &[p, empty], 2).unwrap();
        let img = image::open(&out[0]).unwrap();
        assert_eq!((img.width(), img.height()), (2 * PANEL_SIZE.0, TITLE_HEIGHT + PANEL_SIZE.1));
        let svg = std::fs::read_to_string(&out[1]).unwrap();
        for t in ["Parameter values", "model A", "model B", "conv1.weight", "no finite data"] {
            assert!(svg.contains(t), "svg lacks {t}");
        }
    }
}
