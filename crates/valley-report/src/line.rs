use std::ops::Range;
use std::path::{Path, PathBuf};

use plotters::coord::ranged1d::{AsRangedCoord, ValueFormatter};
use plotters::coord::Shift;
use plotters::prelude::*;

use crate::error::{invalid, Result};
use crate::style::{
    draw_legend, draw_note, fmt_tick, font, legend_height, padded_range, palette, render, title_height, titled,
    DrawResult, Figure, LegendEntry, Swatch, CAPTION_FONT, DESC_FONT, PANEL_SIZE, TICK_FONT,
};

/// One curve `ys(xs)` of a panel, e.g. a valley `L(θf + λ·d)` over λ, optionally with a
/// shaded band `lower ≤ y ≤ upper` (a 95 % interval over repeated directions).
#[derive(Clone, Debug)]
pub struct Series {
    pub label: String,
    pub xs: Vec<f64>,
    pub ys: Vec<f64>,
    /// `(lower, upper)`, same length as `xs`.
    pub band: Option<(Vec<f64>, Vec<f64>)>,
    pub dashed: bool,
    /// Index into [`crate::PALETTE`]; `None` uses the series' position in its panel.
    pub color: Option<usize>,
}

impl Series {
    pub fn new(label: impl Into<String>, xs: impl Into<Vec<f64>>, ys: impl Into<Vec<f64>>) -> Self {
        Series { label: label.into(), xs: xs.into(), ys: ys.into(), band: None, dashed: false, color: None }
    }

    /// Adds a shaded interval `lo ≤ y ≤ hi` drawn under the curve.
    pub fn with_band(mut self, lo: impl Into<Vec<f64>>, hi: impl Into<Vec<f64>>) -> Self {
        self.band = Some((lo.into(), hi.into()));
        self
    }

    pub fn dashed(mut self) -> Self {
        self.dashed = true;
        self
    }

    /// Uses palette colour `i` (modulo the palette length).
    pub fn color(mut self, i: usize) -> Self {
        self.color = Some(i);
        self
    }
}

/// One set of axes of a line figure.
#[derive(Clone, Debug, Default)]
pub struct Panel {
    pub title: String,
    pub x_label: String,
    pub y_label: String,
    pub series: Vec<Series>,
    /// Fixed y range; `None` fits the data (curves and bands) with a 5 % margin.
    pub y_range: Option<(f64, f64)>,
    /// Logarithmic y axis; non-positive values are skipped like non-finite ones.
    pub log_y: bool,
}

impl Panel {
    pub fn new(title: impl Into<String>, x_label: impl Into<String>, y_label: impl Into<String>) -> Self {
        Panel { title: title.into(), x_label: x_label.into(), y_label: y_label.into(), ..Default::default() }
    }

    pub fn with_series(mut self, s: Series) -> Self {
        self.series.push(s);
        self
    }
}

/// A figure of `panels` laid out in `cols` columns (row-major), each [`PANEL_SIZE`] pixels,
/// under `title`. Writes `<stem>.png` and `<stem>.svg` atomically and returns both paths.
///
/// Non-finite points are skipped (the line breaks there); a panel without finite points
/// shows an empty frame with a note. Errors if a series' `xs`, `ys` or band differ in length.
pub fn line_figure(stem: &Path, title: &str, panels: &[Panel], cols: usize) -> Result<Vec<PathBuf>> {
    if panels.is_empty() {
        return Err(invalid(stem, "line_figure needs at least one panel"));
    }
    for p in panels {
        for s in &p.series {
            if s.xs.len() != s.ys.len() {
                return Err(invalid(
                    stem,
                    format!("series `{}` in panel `{}` has {} xs but {} ys", s.label, p.title, s.xs.len(), s.ys.len()),
                ));
            }
            if let Some((lo, hi)) = &s.band {
                if lo.len() != s.xs.len() || hi.len() != s.xs.len() {
                    return Err(invalid(
                        stem,
                        format!(
                            "series `{}` in panel `{}` has {} xs but a band of {} lower and {} upper values",
                            s.label,
                            p.title,
                            s.xs.len(),
                            lo.len(),
                            hi.len()
                        ),
                    ));
                }
            }
        }
    }
    render(stem, &GridFigure { title, panels, cols: cols.clamp(1, panels.len()) })
}

/// Grid geometry shared by line and histogram figures.
fn grid_size(title: &str, n: usize, cols: usize) -> (u32, u32) {
    let rows = n.div_ceil(cols);
    (PANEL_SIZE.0 * cols as u32, title_height(title) + PANEL_SIZE.1 * rows as u32)
}

/// Panel areas of a grid figure, row-major, the first `n` cells.
fn grid_areas<DB: DrawingBackend>(area: &DrawingArea<DB, Shift>, n: usize, cols: usize) -> Vec<DrawingArea<DB, Shift>> {
    let rows = n.div_ceil(cols);
    area.split_evenly((rows, cols)).into_iter().take(n).collect()
}

/// A panel that draws itself into one cell of a grid figure.
pub(crate) trait GridPanel {
    fn draw_into<DB: DrawingBackend>(&self, area: &DrawingArea<DB, Shift>) -> DrawResult
    where
        DB::ErrorType: 'static;
}

/// Panels of one kind in `cols` columns under one title (line and histogram figures).
pub(crate) struct GridFigure<'a, P> {
    pub title: &'a str,
    pub panels: &'a [P],
    pub cols: usize,
}

impl<P: GridPanel> Figure for GridFigure<'_, P> {
    fn size(&self) -> (u32, u32) {
        grid_size(self.title, self.panels.len(), self.cols)
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> DrawResult
    where
        DB::ErrorType: 'static,
    {
        let body = titled(root, self.title)?;
        for (area, panel) in grid_areas(&body, self.panels.len(), self.cols).iter().zip(self.panels) {
            panel.draw_into(area)?;
        }
        Ok(())
    }
}

impl GridPanel for Panel {
    fn draw_into<DB: DrawingBackend>(&self, area: &DrawingArea<DB, Shift>) -> DrawResult
    where
        DB::ErrorType: 'static,
    {
        draw_panel(area, self)
    }
}

fn is_ok(v: f64, log: bool) -> bool {
    v.is_finite() && (!log || v > 0.0)
}

fn draw_panel<DB: DrawingBackend>(area: &DrawingArea<DB, Shift>, panel: &Panel) -> DrawResult
where
    DB::ErrorType: 'static,
{
    let log = panel.log_y;
    let entries: Vec<LegendEntry> = panel
        .series
        .iter()
        .enumerate()
        .filter(|(_, s)| !s.label.is_empty())
        .map(|(i, s)| LegendEntry {
            label: s.label.clone(),
            color: palette(s.color.unwrap_or(i)),
            swatch: Swatch::Line { dashed: s.dashed },
        })
        .collect();
    let (w, h) = area.dim_in_pixel();
    let lh = legend_height(&entries, w).min(h / 3);
    let (chart_area, legend_area) = area.split_vertically(h - lh);
    draw_legend(&legend_area, &entries)?;

    // Points where x and y are both usable; band values count only where x is finite.
    let mut xs = Vec::new();
    let mut ys = Vec::new();
    for s in &panel.series {
        for (i, (&x, &y)) in s.xs.iter().zip(&s.ys).enumerate() {
            if !x.is_finite() {
                continue;
            }
            if is_ok(y, log) {
                xs.push(x);
                ys.push(y);
            }
            if let Some((lo, hi)) = &s.band {
                for v in [lo[i], hi[i]] {
                    if is_ok(v, log) {
                        xs.push(x);
                        ys.push(v);
                    }
                }
            }
        }
    }
    let empty = ys.is_empty();
    let x_range = padded_range(xs.iter().copied());
    let y_range = match panel.y_range {
        Some((a, b)) if a.is_finite() && b.is_finite() && a < b && (!log || a > 0.0) => a..b,
        _ if log => {
            let r = padded_range(ys.iter().map(|v| v.log10()));
            if empty {
                1.0..10.0
            } else {
                10f64.powf(r.start)..10f64.powf(r.end)
            }
        }
        _ => padded_range(ys.iter().copied()),
    };

    let mut builder = ChartBuilder::on(&chart_area);
    builder.margin(8).margin_right(18).x_label_area_size(46).y_label_area_size(66);
    if !panel.title.is_empty() {
        builder.caption(&panel.title, font(CAPTION_FONT));
    }
    if log {
        chart_body(builder, panel, x_range, y_range.clone().log_scale(), y_range.end - y_range.start)?;
    } else {
        let span = y_range.end - y_range.start;
        chart_body(builder, panel, x_range, y_range, span)?;
    }
    if empty {
        draw_note(&chart_area, "no finite data")?;
    }
    Ok(())
}

fn chart_body<DB, Y>(
    mut builder: ChartBuilder<'_, '_, DB>,
    panel: &Panel,
    xr: Range<f64>,
    y: Y,
    y_span: f64,
) -> DrawResult
where
    DB: DrawingBackend,
    DB::ErrorType: 'static,
    Y: AsRangedCoord<Value = f64>,
    Y::CoordDescType: ValueFormatter<f64>,
{
    let log = panel.log_y;
    let x_span = xr.end - xr.start;
    let mut chart = builder.build_cartesian_2d(xr, y)?;
    let x_fmt = move |v: &f64| fmt_tick(*v, x_span);
    let y_fmt = move |v: &f64| {
        if log {
            fmt_tick(*v, v.abs())
        } else {
            fmt_tick(*v, y_span)
        }
    };
    chart
        .configure_mesh()
        .x_desc(panel.x_label.as_str())
        .y_desc(panel.y_label.as_str())
        .x_labels(6)
        .y_labels(6)
        .x_label_formatter(&x_fmt)
        .y_label_formatter(&y_fmt)
        .label_style(font(TICK_FONT))
        .axis_desc_style(font(DESC_FONT))
        .bold_line_style(RGBColor(225, 225, 225))
        .light_line_style(RGBColor(245, 245, 245))
        .axis_style(BLACK.stroke_width(1))
        .draw()?;

    for (i, s) in panel.series.iter().enumerate() {
        let color = palette(s.color.unwrap_or(i));
        if let Some((lo, hi)) = &s.band {
            let pts: Vec<Option<(f64, f64, f64)>> =
                s.xs.iter()
                    .zip(lo.iter().zip(hi))
                    .map(|(&x, (&l, &h))| (x.is_finite() && is_ok(l, log) && is_ok(h, log)).then_some((x, l, h)))
                    .collect();
            for seg in pts.split(|p| p.is_none()).filter(|seg| seg.len() >= 2) {
                let seg: Vec<(f64, f64, f64)> = seg.iter().flatten().copied().collect();
                let mut poly: Vec<(f64, f64)> = seg.iter().map(|&(x, l, _)| (x, l)).collect();
                poly.extend(seg.iter().rev().map(|&(x, _, h)| (x, h)));
                chart.draw_series(std::iter::once(Polygon::new(poly, color.mix(0.2).filled())))?;
            }
        }
        let pts: Vec<Option<(f64, f64)>> =
            s.xs.iter().zip(&s.ys).map(|(&x, &y)| (x.is_finite() && is_ok(y, log)).then_some((x, y))).collect();
        for seg in pts.split(|p| p.is_none()).filter(|seg| !seg.is_empty()) {
            let seg: Vec<(f64, f64)> = seg.iter().flatten().copied().collect();
            let style = color.stroke_width(2);
            if seg.len() == 1 {
                chart.draw_series(std::iter::once(Circle::new(seg[0], 3, color.filled())))?;
            } else if s.dashed {
                chart.draw_series(DashedLineSeries::new(seg, 8, 5, style))?;
            } else {
                chart.draw_series(LineSeries::new(seg, style))?;
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::style::TITLE_HEIGHT;

    fn valley(n: usize, shift: f64) -> (Vec<f64>, Vec<f64>) {
        let xs: Vec<f64> = (0..n).map(|i| -1.0 + 2.0 * i as f64 / (n - 1) as f64).collect();
        let ys = xs.iter().map(|x| 0.1 + (x - shift) * (x - shift) * if *x > 0.0 { 1.0 } else { 3.0 }).collect();
        (xs, ys)
    }

    #[test]
    fn line_figure_writes_png_and_svg_of_expected_size() {
        let dir = tempfile::tempdir().unwrap();
        let (xs, ys) = valley(41, 0.0);
        let lo: Vec<f64> = ys.iter().map(|y| y * 0.9).collect();
        let hi: Vec<f64> = ys.iter().map(|y| y * 1.1).collect();
        let p = Panel::new("VGG11 CIFAR-10", "λ", "train loss")
            .with_series(Series::new("Gaussian d", xs.clone(), ys.clone()).with_band(lo, hi))
            .with_series(
                Series::new("sign-consistent d", xs.clone(), ys.iter().map(|y| y * 0.5).collect::<Vec<_>>()).dashed(),
            );
        let out = line_figure(&dir.path().join("valley"), "Valley asymmetry", &[p.clone(), p.clone(), p], 2).unwrap();
        assert_eq!(out.len(), 2);
        let png = std::fs::read(&out[0]).unwrap();
        assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
        let img = image::load_from_memory(&png).unwrap();
        assert_eq!((img.width(), img.height()), (2 * PANEL_SIZE.0, TITLE_HEIGHT + 2 * PANEL_SIZE.1));
        let svg = std::fs::read_to_string(&out[1]).unwrap();
        for t in ["Valley asymmetry", "Gaussian d", "sign-consistent d", "VGG11 CIFAR-10", "train loss"] {
            assert!(svg.contains(t), "svg lacks {t}");
        }
    }

    #[test]
    fn non_finite_and_empty_series_do_not_panic() {
        let dir = tempfile::tempdir().unwrap();
        let xs = vec![0.0, 1.0, f64::NAN, 3.0, 4.0];
        let ys = vec![1.0, f64::INFINITY, 2.0, f64::NAN, 0.5];
        let a = Panel::new("mixed", "x", "y")
            .with_series(Series::new("s", xs.clone(), ys).with_band(vec![f64::NAN; 5], vec![2.0; 5]));
        let b = Panel::new("all NaN", "x", "y").with_series(Series::new("nan", xs.clone(), vec![f64::NAN; 5]));
        let c = Panel { log_y: true, ..Panel::new("log, non-positive", "x", "y") }.with_series(Series::new(
            "neg",
            xs,
            vec![-1.0, 0.0, 1.0, 10.0, 100.0],
        ));
        let d = Panel::new("constant", "x", "y").with_series(Series::new("c", vec![1.0; 3], vec![2.0; 3]));
        let e = Panel::new("no series", "x", "y");
        let out = line_figure(&dir.path().join("nan"), "", &[a, b, c, d, e], 3).unwrap();
        assert!(out.iter().all(|p| p.exists()));
        let svg = std::fs::read_to_string(&out[1]).unwrap();
        assert!(svg.contains("no finite data"));
    }

    #[test]
    fn mismatched_lengths_are_an_error_naming_the_series() {
        let dir = tempfile::tempdir().unwrap();
        let p = Panel::new("p", "x", "y").with_series(Series::new("bad", vec![1.0, 2.0], vec![1.0]));
        let err = line_figure(&dir.path().join("bad"), "t", &[p], 1).unwrap_err().to_string();
        assert!(err.contains("bad") && err.contains("2 xs but 1 ys"), "{err}");
    }
}
