use std::ops::Range;
use std::path::{Path, PathBuf};

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use crate::error::{invalid, Result};
use crate::style::{
    contrast_text, draw_colorbar, draw_note, fmt_tick, fmt_value, font, padded_range, palette, render, text, text_size,
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
    check_grid(stem, xs, ys, z)?;
    render(stem, &Heatmap { title, xs, ys, z, x_label, y_label, z_label, path: &[] })
}

/// One point of a path drawn over a heat map, e.g. a training epoch projected on the plane
/// of a loss surface; an empty `label` draws the marker without text.
#[derive(Clone, Debug, PartialEq)]
pub struct PathMark {
    pub x: f64,
    pub y: f64,
    pub label: String,
}

/// [`heatmap_figure`] with iso-lines of `z` (at its deciles, so a surface whose loss
/// explodes at the edges still shows levels near its minimum) and `path` drawn on top: its
/// points joined in order, each marked (the first by a square), labelled where the mark has
/// a label. Parts of the path outside the grid are clipped at its edge. `labels` are the
/// x, y and colour-bar labels.
pub fn heatmap_path_figure(
    stem: &Path,
    title: &str,
    xs: &[f64],
    ys: &[f64],
    z: &[Vec<f64>],
    labels: (&str, &str, &str),
    path: &[PathMark],
) -> Result<Vec<PathBuf>> {
    check_grid(stem, xs, ys, z)?;
    if path.iter().any(|m| !(m.x.is_finite() && m.y.is_finite())) {
        return Err(invalid(stem, "path coordinates must be finite"));
    }
    let (x_label, y_label, z_label) = labels;
    render(stem, &Heatmap { title, xs, ys, z, x_label, y_label, z_label, path })
}

fn check_grid(stem: &Path, xs: &[f64], ys: &[f64], z: &[Vec<f64>]) -> Result<()> {
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
    Ok(())
}

struct Heatmap<'a> {
    title: &'a str,
    xs: &'a [f64],
    ys: &'a [f64],
    z: &'a [Vec<f64>],
    x_label: &'a str,
    y_label: &'a str,
    z_label: &'a str,
    /// Drawn with iso-lines when not empty.
    path: &'a [PathMark],
}

/// The deciles of the finite values, without repeats: the iso-line levels.
fn decile_levels(z: &[Vec<f64>]) -> Vec<f64> {
    let mut v: Vec<f64> = z.iter().flatten().copied().filter(|v| v.is_finite()).collect();
    if v.len() < 2 {
        return vec![];
    }
    v.sort_by(f64::total_cmp);
    let mut levels: Vec<f64> = (1..10).map(|k| v[k * (v.len() - 1) / 10]).collect();
    levels.dedup();
    levels.retain(|&l| l > v[0] && l < v[v.len() - 1]);
    levels
}

/// Segments of the iso-line `z = level` by marching squares over the cells whose corners
/// are grid points (`z[iy][ix]` at `(xs[ix], ys[iy])`), crossings linearly interpolated
/// along cell edges. A saddle cell (four crossings) joins them in edge order.
fn iso_segments(xs: &[f64], ys: &[f64], z: &[Vec<f64>], level: f64) -> Vec<[(f64, f64); 2]> {
    let mut out = Vec::new();
    for iy in 0..ys.len().saturating_sub(1) {
        for ix in 0..xs.len().saturating_sub(1) {
            // Corners counter-clockwise; edge k joins corner k and k+1.
            let c = [
                (xs[ix], ys[iy], z[iy][ix]),
                (xs[ix + 1], ys[iy], z[iy][ix + 1]),
                (xs[ix + 1], ys[iy + 1], z[iy + 1][ix + 1]),
                (xs[ix], ys[iy + 1], z[iy + 1][ix]),
            ];
            if c.iter().any(|p| !p.2.is_finite()) {
                continue;
            }
            let mut cross = Vec::with_capacity(4);
            for k in 0..4 {
                let (a, b) = (c[k], c[(k + 1) % 4]);
                if (a.2 < level) != (b.2 < level) {
                    let t = (level - a.2) / (b.2 - a.2);
                    cross.push((a.0 + t * (b.0 - a.0), a.1 + t * (b.1 - a.1)));
                }
            }
            for pair in cross.chunks_exact(2) {
                out.push([pair[0], pair[1]]);
            }
        }
    }
    out
}

/// The part of the segment `a`–`b` inside the rectangle `x × y` (Liang–Barsky), if any.
fn clip(a: (f64, f64), b: (f64, f64), x: &Range<f64>, y: &Range<f64>) -> Option<[(f64, f64); 2]> {
    let (dx, dy) = (b.0 - a.0, b.1 - a.1);
    let (mut t0, mut t1) = (0.0f64, 1.0f64);
    for (p, q) in [(-dx, a.0 - x.start), (dx, x.end - a.0), (-dy, a.1 - y.start), (dy, y.end - a.1)] {
        if p == 0.0 {
            if q < 0.0 {
                return None;
            }
        } else {
            let r = q / p;
            if p < 0.0 {
                t0 = t0.max(r);
            } else {
                t1 = t1.min(r);
            }
        }
    }
    (t0 <= t1).then_some([(a.0 + t0 * dx, a.1 + t0 * dy), (a.0 + t1 * dx, a.1 + t1 * dy)])
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
        if !self.path.is_empty() {
            let line = RGBColor(255, 255, 255).mix(0.7).stroke_width(1);
            for level in decile_levels(self.z) {
                let segs = iso_segments(self.xs, self.ys, self.z, level);
                chart.draw_series(segs.into_iter().map(|s| PathElement::new(s.to_vec(), line)))?;
            }
            let (xr, yr) = (chart.x_range(), chart.y_range());
            let path_color = palette(1);
            let segs = self.path.windows(2).filter_map(|w| clip((w[0].x, w[0].y), (w[1].x, w[1].y), &xr, &yr));
            chart.draw_series(segs.map(|s| PathElement::new(s.to_vec(), path_color.stroke_width(2))))?;
            let inside = |m: &&PathMark| xr.contains(&m.x) && yr.contains(&m.y);
            for (i, m) in self.path.iter().enumerate().filter(|(_, m)| inside(m)) {
                if i == 0 {
                    let start = EmptyElement::at((m.x, m.y))
                        + Rectangle::new([(-5, -5), (5, 5)], path_color.filled())
                        + Rectangle::new([(-5, -5), (5, 5)], WHITE.stroke_width(1));
                    chart.draw_series(std::iter::once(start))?;
                } else {
                    let dot = EmptyElement::at((m.x, m.y))
                        + Circle::new((0, 0), 4, path_color.filled())
                        + Circle::new((0, 0), 4, WHITE.stroke_width(1));
                    chart.draw_series(std::iter::once(dot))?;
                }
                if !m.label.is_empty() {
                    let (w, h) = text_size(&m.label, TICK_FONT);
                    let (w, h) = (w as i32, h as i32);
                    let note = EmptyElement::at((m.x, m.y))
                        + Rectangle::new([(5, -h - 7), (w + 9, -3)], WHITE.mix(0.75).filled())
                        + Text::new(m.label.clone(), (7, -h - 5), font(TICK_FONT).color(&BLACK));
                    chart.draw_series(std::iter::once(note))?;
                }
            }
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
    fn iso_line_of_a_plane_is_straight_where_the_level_lies() {
        // z = x + 2y on a 3×3 grid: every crossing of the level 1 lies on the line x + 2y = 1.
        let g = [0.0, 0.5, 1.0];
        let z: Vec<Vec<f64>> = g.iter().map(|y| g.iter().map(|x| x + 2.0 * y).collect()).collect();
        let segs = iso_segments(&g, &g, &z, 1.0);
        assert!(!segs.is_empty());
        for s in &segs {
            for (x, y) in s {
                assert!((x + 2.0 * y - 1.0).abs() < 1e-12, "({x}, {y}) is off the level set");
                assert!((0.0..=1.0).contains(x) && (0.0..=1.0).contains(y));
            }
        }
        assert!(iso_segments(&g, &g, &z, 5.0).is_empty(), "a level above the surface has no line");
        assert_eq!(decile_levels(&[vec![1.0; 4]]), Vec::<f64>::new(), "a flat surface has no levels");
    }

    #[test]
    fn clip_keeps_the_inside_part_of_a_segment() {
        let (x, y) = (0.0..1.0, 0.0..1.0);
        assert_eq!(clip((0.2, 0.2), (0.8, 0.4), &x, &y), Some([(0.2, 0.2), (0.8, 0.4)]));
        let [a, b] = clip((-1.0, 0.5), (2.0, 0.5), &x, &y).unwrap();
        assert_eq!((a, b), ((0.0, 0.5), (1.0, 0.5)));
        assert_eq!(clip((2.0, 2.0), (3.0, 2.5), &x, &y), None);
        assert_eq!(clip((-0.5, 0.5), (0.5, 1.5), &x, &y), Some([(0.0, 1.0), (0.0, 1.0)]));
    }

    #[test]
    fn path_figure_labels_its_marks_and_refuses_nan() {
        let dir = tempfile::tempdir().unwrap();
        let xs: Vec<f64> = (0..11).map(|i| -1.0 + i as f64 * 0.2).collect();
        let z: Vec<Vec<f64>> = xs.iter().map(|y| xs.iter().map(|x| x * x + y * y).collect()).collect();
        let mark = |x: f64, y: f64, l: &str| PathMark { x, y, label: l.into() };
        let path =
            [mark(-0.8, 0.6, "epoch 0"), mark(-0.3, 0.2, ""), mark(3.0, 0.1, "outside"), mark(0.0, 0.0, "final")];
        let labels = ("α (PC1, 80.0 %)", "β (PC2, 15.0 %)", "test loss");
        let out = heatmap_path_figure(&dir.path().join("p"), "Trajectory", &xs, &xs, &z, labels, &path).unwrap();
        let svg = std::fs::read_to_string(&out[1]).unwrap();
        let texts = crate::style::svg_texts(&svg);
        for t in ["epoch 0", "final", "α (PC1, 80.0 %)", "Trajectory"] {
            assert!(texts.iter().any(|s| s == t), "svg lacks text {t}: {texts:?}");
        }
        assert!(!texts.iter().any(|s| s == "outside"), "a mark outside the grid is not drawn");
        let bad = [mark(f64::NAN, 0.0, "")];
        let err = heatmap_path_figure(&dir.path().join("q"), "", &xs, &xs, &z, labels, &bad).unwrap_err();
        assert!(err.to_string().contains("finite"), "{err}");
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
