use std::path::{Path, PathBuf};

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use crate::error::{invalid, Result};
use crate::style::{
    contrast_text, draw_colorbar, draw_note, fmt_tick, fmt_value, font, padded_range, render, text, text_size,
    title_height, titled, ColorMap, DrawResult, Figure, DESC_FONT, MISSING, TICK_FONT,
};

const COLORBAR_W: u32 = 120;

/// Colour map of `z[iy][ix]` over the grid `xs × ys` (cell centres, ascending), e.g. a 2D
/// loss surface `L(θ + α·d₁ + β·d₂)`, with a viridis colour bar labelled `z_label`.
/// Non-finite cells are grey. Writes `<stem>.png` and `<stem>.svg` atomically.
#[allow(clippy::too_many_arguments)]
pub fn heatmap_figure(
    stem: &Path,
    title: &str,
    xs: &[f64],
    ys: &[f64],
    z: &[Vec<f64>],
    x_label: &str,
    y_label: &str,
    z_label: &str,
) -> Result<Vec<PathBuf>> {
    if xs.is_empty() || ys.is_empty() {
        return Err(invalid(stem, "heatmap_figure needs at least one x and one y"));
    }
    if xs.iter().chain(ys).any(|v| !v.is_finite()) {
        return Err(invalid(stem, "heatmap grid coordinates xs and ys must be finite"));
    }
    if z.len() != ys.len() {
        return Err(invalid(
            stem,
            format!("z has {} rows but ys has {} values (z is indexed z[iy][ix])", z.len(), ys.len()),
        ));
    }
    if let Some((iy, row)) = z.iter().enumerate().find(|(_, r)| r.len() != xs.len()) {
        return Err(invalid(stem, format!("z[{iy}] has {} values but xs has {}", row.len(), xs.len())));
    }
    render(stem, &Heatmap { title, xs, ys, z, x_label, y_label, z_label })
}

struct Heatmap<'a> {
    title: &'a str,
    xs: &'a [f64],
    ys: &'a [f64],
    z: &'a [Vec<f64>],
    x_label: &'a str,
    y_label: &'a str,
    z_label: &'a str,
}

/// Cell edges around centres `c`: midpoints between neighbours, half a step beyond the ends.
fn edges(c: &[f64]) -> Vec<f64> {
    if c.len() == 1 {
        return vec![c[0] - 0.5, c[0] + 0.5];
    }
    let mut e = Vec::with_capacity(c.len() + 1);
    e.push(c[0] - (c[1] - c[0]) / 2.0);
    e.extend(c.windows(2).map(|w| (w[0] + w[1]) / 2.0));
    e.push(c[c.len() - 1] + (c[c.len() - 1] - c[c.len() - 2]) / 2.0);
    e
}

fn z_range(values: impl Iterator<Item = f64> + Clone) -> std::ops::Range<f64> {
    let finite: Vec<f64> = values.filter(|v| v.is_finite()).collect();
    let lo = finite.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = finite.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    if finite.is_empty() || hi - lo <= f64::EPSILON * lo.abs().max(1.0) {
        padded_range(finite)
    } else {
        lo..hi
    }
}

impl Figure for Heatmap<'_> {
    fn size(&self) -> (u32, u32) {
        (560 + COLORBAR_W, title_height(self.title) + 460)
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> DrawResult
    where
        DB::ErrorType: 'static,
    {
        let body = titled(root, self.title)?;
        let (w, _) = body.dim_in_pixel();
        let (main, bar) = body.split_horizontally(w - COLORBAR_W);
        let ex = edges(self.xs);
        let ey = edges(self.ys);
        let xr = ex.iter().copied().fold(f64::INFINITY, f64::min)..ex.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let yr = ey.iter().copied().fold(f64::INFINITY, f64::min)..ey.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let zr = z_range(self.z.iter().flatten().copied());
        let (x_span, y_span) = (xr.end - xr.start, yr.end - yr.start);
        let mut chart = ChartBuilder::on(&main)
            .margin(10)
            .margin_right(12)
            .x_label_area_size(50)
            .y_label_area_size(70)
            .build_cartesian_2d(xr, yr)?;
        let x_fmt = move |v: &f64| fmt_tick(*v, x_span);
        let y_fmt = move |v: &f64| fmt_tick(*v, y_span);
        chart
            .configure_mesh()
            .disable_mesh()
            .x_desc(self.x_label)
            .y_desc(self.y_label)
            .x_labels(6)
            .y_labels(6)
            .x_label_formatter(&x_fmt)
            .y_label_formatter(&y_fmt)
            .label_style(font(TICK_FONT))
            .axis_desc_style(font(DESC_FONT))
            .draw()?;
        let zspan = zr.end - zr.start;
        for (iy, row) in self.z.iter().enumerate() {
            chart.draw_series(row.iter().enumerate().map(|(ix, &v)| {
                let c = if v.is_finite() { ColorMap::Viridis.at((v - zr.start) / zspan) } else { MISSING };
                Rectangle::new([(ex[ix], ey[iy]), (ex[ix + 1], ey[iy + 1])], c.filled())
            }))?;
        }
        if !self.z.iter().flatten().any(|v| v.is_finite()) {
            draw_note(&main, "no finite data")?;
        }
        draw_colorbar(&bar, zr, ColorMap::Viridis, self.z_label, 10, 60)?;
        Ok(())
    }
}

/// Annotated matrix of `values[row][col]` (e.g. client × class counts, a confusion matrix),
/// coloured white → blue from min to max, with a colour bar. When `annotate` is set each
/// cell shows its value (integers without decimals) where it fits. Writes `<stem>.png` and
/// `<stem>.svg` atomically.
pub fn matrix_figure(
    stem: &Path,
    title: &str,
    row_labels: &[String],
    col_labels: &[String],
    values: &[Vec<f64>],
    annotate: bool,
) -> Result<Vec<PathBuf>> {
    if values.is_empty() || values[0].is_empty() {
        return Err(invalid(stem, "matrix_figure needs at least one row and one column"));
    }
    let nc = values[0].len();
    if let Some((r, row)) = values.iter().enumerate().find(|(_, r)| r.len() != nc) {
        return Err(invalid(stem, format!("values[{r}] has {} columns but values[0] has {nc}", row.len())));
    }
    if row_labels.len() != values.len() || col_labels.len() != nc {
        return Err(invalid(
            stem,
            format!(
                "{} row labels and {} column labels for a {}×{nc} matrix",
                row_labels.len(),
                col_labels.len(),
                values.len()
            ),
        ));
    }
    render(stem, &Matrix { title, rows: row_labels, cols: col_labels, values, annotate })
}

struct Matrix<'a> {
    title: &'a str,
    rows: &'a [String],
    cols: &'a [String],
    values: &'a [Vec<f64>],
    annotate: bool,
}

const ANNOT_FONT: u32 = 13;

impl Matrix<'_> {
    /// (cell size, row label width, column label height, rotated column labels?)
    fn geometry(&self) -> (u32, u32, u32, bool) {
        let n = self.rows.len().max(self.cols.len()) as u32;
        let mut cell = (640 / n).clamp(16, 56);
        if self.annotate {
            let widest =
                self.values.iter().flatten().map(|&v| text_size(&fmt_value(v), ANNOT_FONT).0).max().unwrap_or(0);
            cell = cell.max((widest + 10).min(80));
        }
        let row_w = self.rows.iter().map(|s| text_size(s, TICK_FONT).0).max().unwrap_or(0) + 14;
        let col_w = self.cols.iter().map(|s| text_size(s, TICK_FONT).0).max().unwrap_or(0);
        let rotated = col_w + 4 > cell;
        let col_h = if rotated { col_w + 14 } else { TICK_FONT + 16 };
        (cell, row_w, col_h, rotated)
    }
}

impl Figure for Matrix<'_> {
    fn size(&self) -> (u32, u32) {
        let (cell, row_w, col_h, _) = self.geometry();
        let w = (row_w + self.cols.len() as u32 * cell + 16 + COLORBAR_W).max(360);
        let h = title_height(self.title) + 12 + (self.rows.len() as u32 * cell).max(160) + col_h + 10;
        (w, h)
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> DrawResult
    where
        DB::ErrorType: 'static,
    {
        let body = titled(root, self.title)?;
        let (cell, row_w, _, rotated) = self.geometry();
        let (nr, nc) = (self.rows.len() as i32, self.cols.len() as i32);
        let c = cell as i32;
        let (ox, oy) = (row_w as i32, 12i32);
        let zr = z_range(self.values.iter().flatten().copied());
        let zspan = zr.end - zr.start;
        for (r, row) in self.values.iter().enumerate() {
            for (k, &v) in row.iter().enumerate() {
                let (x0, y0) = (ox + k as i32 * c, oy + r as i32 * c);
                let color = if v.is_finite() { ColorMap::Blues.at((v - zr.start) / zspan) } else { MISSING };
                body.draw(&Rectangle::new([(x0, y0), (x0 + c, y0 + c)], color.filled()))?;
                if self.annotate {
                    let label = fmt_value(v);
                    let (tw, th) = text_size(&label, ANNOT_FONT);
                    if tw + 4 <= cell && th + 2 <= cell {
                        body.draw(&Text::new(
                            label,
                            (x0 + c / 2, y0 + c / 2),
                            font(ANNOT_FONT).color(&contrast_text(color)).pos(Pos::new(HPos::Center, VPos::Center)),
                        ))?;
                    }
                }
            }
        }
        body.draw(&Rectangle::new([(ox, oy), (ox + nc * c, oy + nr * c)], BLACK.stroke_width(1)))?;
        for (r, label) in self.rows.iter().enumerate() {
            body.draw(&Text::new(
                label.clone(),
                (ox - 6, oy + r as i32 * c + c / 2),
                text(TICK_FONT, HPos::Right, VPos::Center),
            ))?;
        }
        for (k, label) in self.cols.iter().enumerate() {
            let x = ox + k as i32 * c + c / 2;
            let y = oy + nr * c + 6;
            if rotated {
                body.draw(&Text::new(
                    label.clone(),
                    (x, y),
                    font(TICK_FONT)
                        .transform(FontTransform::Rotate270)
                        .color(&BLACK)
                        .pos(Pos::new(HPos::Right, VPos::Center)),
                ))?;
            } else {
                body.draw(&Text::new(label.clone(), (x, y), text(TICK_FONT, HPos::Center, VPos::Top)))?;
            }
        }
        let (_, h) = body.dim_in_pixel();
        let bar = body.margin(0, 0, ox + nc * c + 16, 0);
        let grid_bottom = (oy + nr.max(1) * c).max(oy + 160) as u32;
        draw_colorbar(&bar, zr, ColorMap::Blues, "", oy as u32, h.saturating_sub(grid_bottom))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn edges_surround_centres() {
        assert_eq!(edges(&[0.0, 1.0, 2.0]), vec![-0.5, 0.5, 1.5, 2.5]);
        assert_eq!(edges(&[3.0]), vec![2.5, 3.5]);
    }

    #[test]
    fn heatmap_writes_files_and_rejects_bad_shape() {
        let dir = tempfile::tempdir().unwrap();
        let xs: Vec<f64> = (0..21).map(|i| -1.0 + i as f64 * 0.1).collect();
        let ys = xs.clone();
        let mut z: Vec<Vec<f64>> = ys.iter().map(|y| xs.iter().map(|x| x * x + 2.0 * y * y).collect()).collect();
        z[3][4] = f64::NAN;
        let out = heatmap_figure(&dir.path().join("hm"), "Loss surface", &xs, &ys, &z, "α", "β", "loss").unwrap();
        let img = image::open(&out[0]).unwrap();
        assert_eq!((img.width(), img.height()), (560 + COLORBAR_W, crate::TITLE_HEIGHT + 460));
        let svg = std::fs::read_to_string(&out[1]).unwrap();
        assert!(svg.contains("Loss surface") && svg.contains("loss"));
        let nan = vec![vec![f64::NAN; 2]; 2];
        heatmap_figure(&dir.path().join("nan"), "", &[0.0, 1.0], &[0.0, 1.0], &nan, "x", "y", "z").unwrap();
        let err = heatmap_figure(&dir.path().join("bad"), "", &[0.0, 1.0], &[0.0], &nan, "x", "y", "z").unwrap_err();
        assert!(err.to_string().contains("z has 2 rows but ys has 1"));
    }

    #[test]
    fn matrix_annotates_cells() {
        let dir = tempfile::tempdir().unwrap();
        let rows: Vec<String> = (0..4).map(|i| format!("client {i}")).collect();
        let cols: Vec<String> = (0..3).map(|i| format!("class {i}")).collect();
        let values = vec![vec![120.0, 3.0, 0.0], vec![5.0, 98.0, 1.0], vec![0.0, 0.0, 250.0], vec![f64::NAN, 7.0, 7.0]];
        let out = matrix_figure(&dir.path().join("m"), "Samples per client", &rows, &cols, &values, true).unwrap();
        let img = image::open(&out[0]).unwrap();
        let fig = Matrix { title: "Samples per client", rows: &rows, cols: &cols, values: &values, annotate: true };
        assert_eq!((img.width(), img.height()), fig.size());
        let svg = std::fs::read_to_string(&out[1]).unwrap();
        let texts = crate::style::svg_texts(&svg);
        for t in ["250", "98", "3", "client 3", "class 2", "Samples per client"] {
            assert!(texts.iter().any(|s| s == t), "svg lacks text {t}: {texts:?}");
        }
    }
}
