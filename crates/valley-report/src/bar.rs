use std::path::{Path, PathBuf};

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, VPos};

use crate::error::{invalid, Result};
use crate::style::{
    draw_legend, fmt_tick, fmt_value, font, legend_height, padded_range, palette, render, text, text_size,
    title_height, titled, DrawResult, Figure, LegendEntry, Swatch, DESC_FONT, TICK_FONT,
};

const VALUE_FONT: u32 = 12;
const LINE_H: u32 = 18;

/// Grouped bar chart: for each group `g` (x axis) one bar per entry of `bars`, of height
/// `bars[b].1[g]`; bar series are coloured by palette order and named in a legend.
/// Non-finite values leave a gap. Bars start at 0 (the y range always contains 0).
/// Writes `<stem>.png` and `<stem>.svg` atomically and returns both paths.
pub fn bar_figure(
    stem: &Path,
    title: &str,
    groups: &[String],
    bars: &[(String, Vec<f64>)],
    y_label: &str,
) -> Result<Vec<PathBuf>> {
    if groups.is_empty() || bars.is_empty() {
        return Err(invalid(stem, "bar_figure needs at least one group and one bar series"));
    }
    for (name, vals) in bars {
        if vals.len() != groups.len() {
            return Err(invalid(
                stem,
                format!("bar series `{name}` has {} values but there are {} groups", vals.len(), groups.len()),
            ));
        }
    }
    render(stem, &BarFigure { title, groups, bars, y_label })
}

struct BarFigure<'a> {
    title: &'a str,
    groups: &'a [String],
    bars: &'a [(String, Vec<f64>)],
    y_label: &'a str,
}

/// Greedy word wrap of `s` into lines at most `width` pixels wide.
fn wrap(s: &str, width: u32) -> Vec<String> {
    let mut lines: Vec<String> = Vec::new();
    for word in s.split_whitespace() {
        match lines.last_mut() {
            Some(line) if text_size(&format!("{line} {word}"), TICK_FONT).0 <= width => {
                line.push(' ');
                line.push_str(word);
            }
            _ => lines.push(word.to_string()),
        }
    }
    lines
}

impl BarFigure<'_> {
    fn group_width(&self) -> u32 {
        (self.bars.len() as u32 * 22 + 30).max(80)
    }

    fn entries(&self) -> Vec<LegendEntry> {
        self.bars
            .iter()
            .enumerate()
            .map(|(i, (name, _))| LegendEntry { label: name.clone(), color: palette(i), swatch: Swatch::Box })
            .collect()
    }

    fn label_lines(&self) -> u32 {
        self.groups.iter().map(|g| wrap(g, self.group_width() - 6).len() as u32).max().unwrap_or(1).max(1)
    }
}

impl Figure for BarFigure<'_> {
    fn size(&self) -> (u32, u32) {
        let w = (100 + self.groups.len() as u32 * self.group_width()).clamp(560, 4000);
        let h = title_height(self.title) + 380 + self.label_lines() * LINE_H + legend_height(&self.entries(), w);
        (w, h)
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> DrawResult
    where
        DB::ErrorType: 'static,
    {
        let body = titled(root, self.title)?;
        let entries = self.entries();
        let (w, h) = body.dim_in_pixel();
        let (chart_area, legend_area) = body.split_vertically(h - legend_height(&entries, w));
        draw_legend(&legend_area, &entries)?;

        let n = self.groups.len();
        let vals = self.bars.iter().flat_map(|(_, v)| v.iter().copied()).chain([0.0]);
        let mut yr = padded_range(vals.clone());
        let finite: Vec<f64> = vals.filter(|v| v.is_finite()).collect();
        if finite.iter().all(|&v| v >= 0.0) {
            yr.start = 0.0;
        }
        if finite.iter().all(|&v| v <= 0.0) && finite.iter().any(|&v| v < 0.0) {
            yr.end = 0.0;
        }
        let y_span = yr.end - yr.start;
        let label_h = 14 + self.label_lines() * LINE_H;
        let mut chart = ChartBuilder::on(&chart_area)
            .margin(10)
            .margin_right(20)
            .x_label_area_size(label_h)
            .y_label_area_size(72)
            .build_cartesian_2d(0.0..n as f64, yr.clone())?;
        let y_fmt = move |v: &f64| fmt_tick(*v, y_span);
        chart
            .configure_mesh()
            .disable_x_mesh()
            .x_labels(0)
            .y_labels(8)
            .y_desc(self.y_label)
            .y_label_formatter(&y_fmt)
            .label_style(font(TICK_FONT))
            .axis_desc_style(font(DESC_FONT))
            .bold_line_style(RGBColor(225, 225, 225))
            .light_line_style(RGBColor(245, 245, 245))
            .draw()?;

        let nb = self.bars.len() as f64;
        let slot = 0.8 / nb;
        let base = 0f64.clamp(yr.start, yr.end);
        let (bx, by) = chart_area.get_base_pixel();
        let px = |c: (i32, i32)| (c.0 - bx, c.1 - by);
        let bar_px = chart.backend_coord(&(slot, 0.0)).0 - chart.backend_coord(&(0.0, 0.0)).0;
        for (b, (_, v)) in self.bars.iter().enumerate() {
            let color = palette(b);
            for (g, &y) in v.iter().enumerate() {
                if !y.is_finite() {
                    continue;
                }
                let x0 = g as f64 + 0.1 + b as f64 * slot;
                let x1 = x0 + slot * 0.92;
                chart.draw_series(std::iter::once(Rectangle::new([(x0, base), (x1, y)], color.filled())))?;
                let label = fmt_value(y);
                if text_size(&label, VALUE_FONT).0 as i32 <= bar_px + 6 {
                    let (tx, ty) = px(chart.backend_coord(&((x0 + x1) / 2.0, y)));
                    let (anchor, dy) = if y >= base { (VPos::Bottom, -3) } else { (VPos::Top, 3) };
                    chart_area.draw(&Text::new(label, (tx, ty + dy), text(VALUE_FONT, HPos::Center, anchor)))?;
                }
            }
        }
        let gw = chart.backend_coord(&(1.0, 0.0)).0 - chart.backend_coord(&(0.0, 0.0)).0;
        for (g, name) in self.groups.iter().enumerate() {
            let (tx, ty) = px(chart.backend_coord(&(g as f64 + 0.5, yr.start)));
            for (k, line) in wrap(name, (gw - 6).max(10) as u32).into_iter().enumerate() {
                chart_area.draw(&Text::new(
                    line,
                    (tx, ty + 8 + k as i32 * LINE_H as i32),
                    text(TICK_FONT, HPos::Center, VPos::Top),
                ))?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bar_figure_writes_labels_and_survives_nan() {
        let dir = tempfile::tempdir().unwrap();
        let groups: Vec<String> = ["FedAvg", "FedProx", "FedSign (ours)"].iter().map(|s| s.to_string()).collect();
        let bars = vec![
            ("IID".to_string(), vec![0.71, 0.70, 0.74]),
            ("Dirichlet α=0.1".to_string(), vec![0.52, f64::NAN, 0.61]),
        ];
        let out = bar_figure(&dir.path().join("bars"), "Test accuracy", &groups, &bars, "accuracy").unwrap();
        let img = image::open(&out[0]).unwrap();
        let fig = BarFigure { title: "Test accuracy", groups: &groups, bars: &bars, y_label: "accuracy" };
        assert_eq!((img.width(), img.height()), fig.size());
        let svg = std::fs::read_to_string(&out[1]).unwrap();
        for t in ["Test accuracy", "FedProx", "Dirichlet α=0.1", "accuracy"] {
            assert!(svg.contains(t), "svg lacks {t}");
        }
        let err = bar_figure(&dir.path().join("b2"), "", &groups, &[("x".into(), vec![1.0])], "y").unwrap_err();
        assert!(err.to_string().contains("1 values but there are 3 groups"));
    }
}
