//! Shared look of all figures: font, palette, sizes, axis ranges, tick labels, legends and
//! the PNG + SVG rendering of one figure.

use std::io::Cursor;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use plotters::style::FontStyle;

use crate::error::{Error, Result};
use crate::io::with_suffix;
use valley_base::atomic_write;

/// Size in pixels of one panel of a multi-panel figure (line and histogram figures).
pub const PANEL_SIZE: (u32, u32) = (480, 360);
/// Height in pixels of the figure title strip (omitted when the title is empty).
pub const TITLE_HEIGHT: u32 = 40;

/// Okabe–Ito colour-blind-safe palette, ordered so the first colours contrast most on white
/// (the yellow comes last). `Series::color(i)` indexes it modulo its length.
pub const PALETTE: [(u8, u8, u8); 8] = [
    (0, 114, 178),   // blue
    (213, 94, 0),    // vermillion
    (0, 158, 115),   // bluish green
    (230, 159, 0),   // orange
    (204, 121, 167), // reddish purple
    (86, 180, 233),  // sky blue
    (0, 0, 0),       // black
    (240, 228, 66),  // yellow
];

pub(crate) const FONT: &str = "sans-serif";
pub(crate) const TITLE_FONT: u32 = 22;
pub(crate) const CAPTION_FONT: u32 = 18;
pub(crate) const DESC_FONT: u32 = 16;
pub(crate) const TICK_FONT: u32 = 14;
pub(crate) const LEGEND_FONT: u32 = 14;
pub(crate) const LEGEND_ROW: u32 = 22;

static DEJAVU: &[u8] = include_bytes!("../../../assets/fonts/DejaVuSans.ttf");

/// Registers the bundled DejaVu Sans as plotters' `sans-serif` (all styles fall back to it).
pub(crate) fn ensure_font() -> Result<()> {
    static DONE: OnceLock<bool> = OnceLock::new();
    let ok = *DONE.get_or_init(|| {
        plotters::style::register_font(FONT, FontStyle::Normal, DEJAVU).is_ok()
            && plotters::style::register_font(FONT, FontStyle::Bold, DEJAVU).is_ok()
    });
    if ok {
        Ok(())
    } else {
        Err(Error::Font)
    }
}

pub(crate) fn palette(i: usize) -> RGBColor {
    let (r, g, b) = PALETTE[i % PALETTE.len()];
    RGBColor(r, g, b)
}

pub(crate) fn font(size: u32) -> FontDesc<'static> {
    (FONT, size).into_font()
}

/// Text style anchored at `(h, v)`.
pub(crate) fn text(size: u32, h: HPos, v: VPos) -> TextStyle<'static> {
    font(size).color(&BLACK).pos(Pos::new(h, v))
}

/// Width and height of `s` in pixels at font size `size`.
pub(crate) fn text_size(s: &str, size: u32) -> (u32, u32) {
    if s.is_empty() {
        return (0, 0);
    }
    font(size).box_size(s).unwrap_or((s.chars().count() as u32 * size * 6 / 10, size))
}

/// Axis range covering `values` (finite ones only) with a 5 % margin on each side. An empty
/// set gives `0..1`; a single distinct value `v` gives `v ± max(|v|·0.1, 0.5)`.
pub(crate) fn padded_range(values: impl IntoIterator<Item = f64>) -> Range<f64> {
    let (lo, hi) = values
        .into_iter()
        .filter(|v| v.is_finite())
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| (lo.min(v), hi.max(v)));
    if !lo.is_finite() {
        return 0.0..1.0;
    }
    if hi - lo <= f64::EPSILON * lo.abs().max(1.0) {
        let w = (lo.abs() * 0.1).max(0.5);
        return lo - w..hi + w;
    }
    let m = 0.05 * (hi - lo);
    lo - m..hi + m
}

/// Tick label for `v` on an axis spanning `span`: enough decimals to tell ticks apart,
/// scientific notation for very large or very small magnitudes, no trailing zeros.
pub(crate) fn fmt_tick(v: f64, span: f64) -> String {
    if !v.is_finite() {
        return String::new();
    }
    let a = v.abs();
    let step = (span.abs() / 8.0).max(f64::MIN_POSITIVE);
    if a < step * 1e-6 {
        return "0".into();
    }
    if !(1e-3..1e5).contains(&a) {
        return format!("{v:.1e}");
    }
    let decimals = (-step.log10()).ceil().clamp(0.0, 6.0) as usize + 1;
    let s = format!("{v:.decimals$}");
    let s = if s.contains('.') { s.trim_end_matches('0').trim_end_matches('.').to_string() } else { s };
    if s == "-0" {
        "0".into()
    } else {
        s
    }
}

/// Compact value for cell annotations and bar labels.
pub(crate) fn fmt_value(v: f64) -> String {
    if !v.is_finite() {
        return "–".into();
    }
    if v.fract() == 0.0 && v.abs() < 1e7 {
        return format!("{v:.0}");
    }
    let a = v.abs();
    if !(1e-2..1e4).contains(&a) {
        format!("{v:.1e}")
    } else if a >= 100.0 {
        format!("{v:.0}")
    } else if a >= 10.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    }
}

/// How a legend entry is drawn.
#[derive(Clone, Copy)]
pub(crate) enum Swatch {
    Line { dashed: bool },
    Box,
}

pub(crate) struct LegendEntry {
    pub label: String,
    pub color: RGBColor,
    pub swatch: Swatch,
}

const SWATCH_W: u32 = 26;
const ENTRY_GAP: u32 = 18;

/// Splits legend entries into rows that fit `width` pixels.
pub(crate) fn legend_rows(entries: &[LegendEntry], width: u32) -> Vec<Vec<usize>> {
    let mut rows: Vec<Vec<usize>> = Vec::new();
    let mut used = 0u32;
    for (i, e) in entries.iter().enumerate() {
        let w = SWATCH_W + 6 + text_size(&e.label, LEGEND_FONT).0 + ENTRY_GAP;
        match rows.last_mut() {
            Some(row) if used + w <= width.saturating_sub(16) => {
                row.push(i);
                used += w;
            }
            _ => {
                rows.push(vec![i]);
                used = w;
            }
        }
    }
    rows
}

/// Height of the legend strip for `entries` in an area `width` pixels wide.
pub(crate) fn legend_height(entries: &[LegendEntry], width: u32) -> u32 {
    let rows = legend_rows(entries, width).len() as u32;
    if rows == 0 {
        0
    } else {
        rows * LEGEND_ROW + 8
    }
}

/// Draws the legend centred in `area`, row by row.
pub(crate) fn draw_legend<DB: DrawingBackend>(area: &DrawingArea<DB, Shift>, entries: &[LegendEntry]) -> DrawResult
where
    DB::ErrorType: 'static,
{
    let (w, _) = area.dim_in_pixel();
    for (r, row) in legend_rows(entries, w).iter().enumerate() {
        let widths: Vec<u32> =
            row.iter().map(|&i| SWATCH_W + 6 + text_size(&entries[i].label, LEGEND_FONT).0).collect();
        let total: u32 = widths.iter().sum::<u32>() + ENTRY_GAP * (row.len() as u32).saturating_sub(1);
        let mut x = (w.saturating_sub(total) / 2) as i32;
        let y = (4 + r as u32 * LEGEND_ROW + LEGEND_ROW / 2) as i32;
        for (&i, &ew) in row.iter().zip(&widths) {
            let e = &entries[i];
            match e.swatch {
                Swatch::Line { dashed: false } => {
                    area.draw(&PathElement::new(vec![(x, y), (x + SWATCH_W as i32, y)], e.color.stroke_width(3)))?;
                }
                Swatch::Line { dashed: true } => {
                    for k in 0..3 {
                        let x0 = x + k * 10;
                        area.draw(&PathElement::new(vec![(x0, y), (x0 + 6, y)], e.color.stroke_width(3)))?;
                    }
                }
                Swatch::Box => {
                    area.draw(&Rectangle::new(
                        [(x + 4, y - 7), (x + SWATCH_W as i32 - 4, y + 7)],
                        e.color.mix(0.5).filled(),
                    ))?;
                    area.draw(&Rectangle::new(
                        [(x + 4, y - 7), (x + SWATCH_W as i32 - 4, y + 7)],
                        e.color.stroke_width(1),
                    ))?;
                }
            }
            area.draw(&Text::new(
                e.label.clone(),
                (x + SWATCH_W as i32 + 6, y),
                text(LEGEND_FONT, HPos::Left, VPos::Center),
            ))?;
            x += (ew + ENTRY_GAP) as i32;
        }
    }
    Ok(())
}

/// Writes a centred note (e.g. "no finite data") in the middle of `area`.
pub(crate) fn draw_note<DB: DrawingBackend>(area: &DrawingArea<DB, Shift>, note: &str) -> DrawResult
where
    DB::ErrorType: 'static,
{
    let (w, h) = area.dim_in_pixel();
    area.draw(&Text::new(
        note.to_string(),
        ((w / 2) as i32, (h / 2) as i32),
        font(DESC_FONT).color(&RGBColor(110, 110, 110)).pos(Pos::new(HPos::Center, VPos::Center)),
    ))?;
    Ok(())
}

pub(crate) type DrawResult = std::result::Result<(), Box<dyn std::error::Error + Send + Sync>>;

/// A figure that can draw itself on any plotters backend.
pub(crate) trait Figure {
    /// Canvas size in pixels.
    fn size(&self) -> (u32, u32);
    /// Draws the whole figure on `root` (already filled white).
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> DrawResult
    where
        DB::ErrorType: 'static;
}

/// Splits off a title strip with `title` centred in it; returns the rest of the canvas.
pub(crate) fn titled<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    title: &str,
) -> std::result::Result<DrawingArea<DB, Shift>, Box<dyn std::error::Error + Send + Sync>>
where
    DB::ErrorType: 'static,
{
    if title.is_empty() {
        return Ok(root.clone());
    }
    let (top, rest) = root.split_vertically(TITLE_HEIGHT);
    let (w, h) = top.dim_in_pixel();
    top.draw(&Text::new(
        title.to_string(),
        ((w / 2) as i32, (h / 2 + 2) as i32),
        text(TITLE_FONT, HPos::Center, VPos::Center),
    ))?;
    Ok(rest)
}

pub(crate) fn title_height(title: &str) -> u32 {
    if title.is_empty() {
        0
    } else {
        TITLE_HEIGHT
    }
}

/// Renders `fig` to `<stem>.png` and `<stem>.svg`, each written atomically.
pub(crate) fn render(stem: &Path, fig: &impl Figure) -> Result<Vec<PathBuf>> {
    ensure_font()?;
    let png_path = with_suffix(stem, "png");
    let svg_path = with_suffix(stem, "svg");
    let (w, h) = fig.size();
    let plot_err = |path: &Path, e: Box<dyn std::error::Error + Send + Sync>| Error::Plot {
        path: path.to_path_buf(),
        message: e.to_string(),
    };

    let mut rgb = vec![255u8; w as usize * h as usize * 3];
    {
        let root = BitMapBackend::with_buffer(&mut rgb, (w, h)).into_drawing_area();
        draw_on(&root, fig).map_err(|e| plot_err(&png_path, e))?;
    }
    let img = image::RgbImage::from_raw(w, h, rgb).ok_or_else(|| Error::Encode {
        path: png_path.clone(),
        message: "pixel buffer does not match the canvas size".into(),
    })?;
    let mut png = Cursor::new(Vec::new());
    img.write_to(&mut png, image::ImageFormat::Png)
        .map_err(|e| Error::Encode { path: png_path.clone(), message: e.to_string() })?;
    atomic_write(&png_path, png.get_ref())?;

    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (w, h)).into_drawing_area();
        draw_on(&root, fig).map_err(|e| plot_err(&svg_path, e))?;
    }
    atomic_write(&svg_path, svg.as_bytes())?;
    Ok(vec![png_path, svg_path])
}

fn draw_on<DB: DrawingBackend>(root: &DrawingArea<DB, Shift>, fig: &impl Figure) -> DrawResult
where
    DB::ErrorType: 'static,
{
    root.fill(&WHITE)?;
    fig.draw(root)?;
    root.present()?;
    Ok(())
}

/// Colour maps used by heat maps and matrices.
#[derive(Clone, Copy)]
pub(crate) enum ColorMap {
    /// Perceptually uniform, colour-blind friendly (matplotlib's viridis).
    Viridis,
    /// White to dark blue, for counts and confusion matrices.
    Blues,
}

impl ColorMap {
    /// Colour at `t ∈ [0, 1]` (clamped); piecewise-linear between anchor colours.
    pub(crate) fn at(self, t: f64) -> RGBColor {
        const VIRIDIS: [(u8, u8, u8); 9] = [
            (68, 1, 84),
            (71, 45, 123),
            (59, 82, 139),
            (44, 114, 142),
            (33, 145, 140),
            (39, 173, 129),
            (92, 200, 99),
            (170, 220, 50),
            (253, 231, 37),
        ];
        const BLUES: [(u8, u8, u8); 5] =
            [(247, 251, 255), (198, 219, 239), (107, 174, 214), (33, 113, 181), (8, 48, 107)];
        let anchors: &[(u8, u8, u8)] = match self {
            ColorMap::Viridis => &VIRIDIS,
            ColorMap::Blues => &BLUES,
        };
        let t = if t.is_finite() { t.clamp(0.0, 1.0) } else { 0.0 };
        let pos = t * (anchors.len() - 1) as f64;
        let i = (pos.floor() as usize).min(anchors.len() - 2);
        let f = pos - i as f64;
        let lerp = |a: u8, b: u8| (a as f64 + (b as f64 - a as f64) * f).round() as u8;
        let (a, b) = (anchors[i], anchors[i + 1]);
        RGBColor(lerp(a.0, b.0), lerp(a.1, b.1), lerp(a.2, b.2))
    }
}

/// Black or white, whichever reads better on `c`.
pub(crate) fn contrast_text(c: RGBColor) -> RGBColor {
    let lum = 0.299 * c.0 as f64 + 0.587 * c.1 as f64 + 0.114 * c.2 as f64;
    if lum > 140.0 {
        BLACK
    } else {
        WHITE
    }
}

pub(crate) const MISSING: RGBColor = RGBColor(200, 200, 200);

/// A vertical colour bar for values in `range`, with ticks and `label` on its right, drawn
/// inside `area` (typically ~110 px wide).
pub(crate) fn draw_colorbar<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    range: Range<f64>,
    map: ColorMap,
    label: &str,
    top: u32,
    bottom: u32,
) -> DrawResult
where
    DB::ErrorType: 'static,
{
    let (_, h) = area.dim_in_pixel();
    let (x0, x1) = (10i32, 28i32);
    let (y0, y1) = (top as i32, h.saturating_sub(bottom) as i32);
    let n = (y1 - y0).max(1);
    for k in 0..n {
        let t = 1.0 - k as f64 / n as f64;
        area.draw(&Rectangle::new([(x0, y0 + k), (x1, y0 + k + 1)], map.at(t).filled()))?;
    }
    area.draw(&Rectangle::new([(x0, y0), (x1, y1)], BLACK.stroke_width(1)))?;
    let span = range.end - range.start;
    for k in 0..=4 {
        let t = k as f64 / 4.0;
        let v = range.start + t * span;
        let y = y1 - (t * (y1 - y0) as f64).round() as i32;
        area.draw(&PathElement::new(vec![(x1, y), (x1 + 4, y)], BLACK.stroke_width(1)))?;
        area.draw(&Text::new(fmt_tick(v, span), (x1 + 7, y), text(TICK_FONT, HPos::Left, VPos::Center)))?;
    }
    if !label.is_empty() {
        let (w, _) = area.dim_in_pixel();
        area.draw(&Text::new(
            label.to_string(),
            (w as i32 - 12, (y0 + y1) / 2),
            font(DESC_FONT).transform(FontTransform::Rotate90).color(&BLACK).pos(Pos::new(HPos::Center, VPos::Center)),
        ))?;
    }
    Ok(())
}

/// The text contents of all `<text>` elements of an SVG document (for tests).
#[cfg(test)]
pub(crate) fn svg_texts(svg: &str) -> Vec<String> {
    svg.split("<text")
        .skip(1)
        .filter_map(|t| {
            let body = &t[t.find('>')? + 1..t.find("</text>")?];
            Some(body.trim().to_string())
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn padded_range_widens_constant_and_handles_empty() {
        let r = padded_range([2.0, 2.0, f64::NAN]);
        assert!(r.start < 2.0 && r.end > 2.0);
        assert_eq!(padded_range([f64::NAN, f64::INFINITY]), 0.0..1.0);
        let r = padded_range([0.0, 10.0]);
        assert!((r.start + 0.5).abs() < 1e-12 && (r.end - 10.5).abs() < 1e-12);
    }

    #[test]
    fn tick_labels_are_short_and_distinct() {
        assert_eq!(fmt_tick(0.30000000000000004, 1.0), "0.3");
        assert_eq!(fmt_tick(1.0, 1.0), "1");
        assert_ne!(fmt_tick(0.9996, 0.0004), fmt_tick(0.9997, 0.0004));
        assert_eq!(fmt_tick(2e-17, 1.0), "0");
        assert_eq!(fmt_tick(1e6, 1e6), "1.0e6");
    }

    #[test]
    fn colormap_endpoints() {
        assert_eq!(ColorMap::Viridis.at(0.0), RGBColor(68, 1, 84));
        assert_eq!(ColorMap::Viridis.at(1.0), RGBColor(253, 231, 37));
        assert_eq!(ColorMap::Blues.at(f64::NAN), RGBColor(247, 251, 255));
    }
}
