use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use valley_base::atomic_write;
use valley_base::csv::{write_csv, LineEnd};

/// A plain table: shown in HTML reports, printable as Markdown, savable as CSV.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Table {
    pub header: Vec<String>,
    pub rows: Vec<Vec<String>>,
}

impl Table {
    /// GitHub-flavoured Markdown; `|` in cells is escaped and newlines become spaces.
    pub fn to_markdown(&self) -> String {
        let cell = |s: &String| s.replace('|', "\\|").replace(['\n', '\r'], " ");
        let line = |cells: &[String]| format!("| {} |\n", cells.iter().map(cell).collect::<Vec<_>>().join(" | "));
        let mut out = line(&self.header);
        out.push_str(&format!("|{}\n", " --- |".repeat(self.header.len().max(1))));
        for row in &self.rows {
            out.push_str(&line(row));
        }
        out
    }

    /// RFC 4180 CSV (cells with `,`, `"` or newlines are quoted, CRLF line ends), written
    /// atomically.
    pub fn write_csv(&self, path: &Path) -> Result<()> {
        Ok(write_csv(path, &self.header, &self.rows, LineEnd::CrLf)?)
    }
}

/// One section of an [`HtmlReport`]: a claim of the paper, whether the run supports it
/// (pass/fail badge), prose, figures, a table and the command that reproduces it.
#[derive(Clone, Debug, Default)]
pub struct Section {
    pub title: String,
    /// The statement being checked, e.g. "the positive side of the valley is flatter".
    pub claim: Option<String>,
    /// `Some(true)` shows a PASS badge, `Some(false)` FAIL, `None` no badge.
    pub verdict: Option<bool>,
    /// Numbers behind the verdict, shown next to the badge.
    pub verdict_detail: Option<String>,
    pub paragraphs: Vec<String>,
    /// PNG (or SVG) files embedded as data URIs.
    pub figures: Vec<PathBuf>,
    /// Captions are figure paths relative to this folder (so `ones-ns/valley.png` and
    /// `gauss-ns/valley.png` stay apart); without it, the file name.
    pub figure_root: Option<PathBuf>,
    pub table: Option<Table>,
    /// Exact command to rerun this section, shown in a `<pre>` block.
    pub command: Option<String>,
}

impl Section {
    pub fn new(title: impl Into<String>) -> Self {
        Section { title: title.into(), ..Default::default() }
    }
}

fn caption(figure: &Path, root: Option<&Path>) -> String {
    match root.and_then(|r| figure.strip_prefix(r).ok()) {
        Some(rel) => rel.to_string_lossy().into_owned(),
        None => figure.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default(),
    }
}

/// A self-contained HTML report: inline CSS, figures embedded as base64 data URIs, no
/// external resources, every piece of text HTML-escaped.
#[derive(Clone, Debug, Default)]
pub struct HtmlReport {
    title: String,
    sections: Vec<Section>,
}

const CSS: &str = "body{font-family:-apple-system,'Segoe UI',Helvetica,Arial,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222;line-height:1.5}\
h1{border-bottom:2px solid #0072b2;padding-bottom:.3em}\
h2{margin-top:2em;border-bottom:1px solid #ddd;padding-bottom:.2em}\
.badge{display:inline-block;padding:.1em .6em;border-radius:.3em;color:#fff;font-weight:bold;font-size:.8em;vertical-align:middle;margin-left:.5em}\
.pass{background:#009e73}.fail{background:#d55e00}\
.claim{border-left:4px solid #0072b2;background:#f3f8fc;padding:.5em 1em;margin:1em 0}\
.verdict{font-weight:bold}\
figure{margin:1em 0}figure img{max-width:100%;border:1px solid #eee}figcaption{color:#666;font-size:.85em}\
table{border-collapse:collapse;margin:1em 0;font-size:.9em}th,td{border:1px solid #ccc;padding:.3em .7em;text-align:left}th{background:#f0f0f0}\
pre{background:#f6f6f6;border:1px solid #ddd;padding:.7em;overflow-x:auto;white-space:pre-wrap}\
nav ul{columns:2}";

impl HtmlReport {
    pub fn new(title: &str) -> Self {
        HtmlReport { title: title.to_string(), sections: Vec::new() }
    }

    pub fn section(&mut self, s: Section) {
        self.sections.push(s);
    }

    /// Renders the report; fails with [`Error::ReadFigure`] if a figure is missing.
    pub fn to_html(&self) -> Result<String> {
        let mut h = String::new();
        let t = escape(&self.title);
        let _ = write!(
            h,
            "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>{t}</title>\n<style>{CSS}</style>\n</head>\n<body>\n<h1>{t}</h1>\n"
        );
        if self.sections.len() > 1 {
            h.push_str("<nav><ul>\n");
            for (i, s) in self.sections.iter().enumerate() {
                let _ = writeln!(h, "<li><a href=\"#s{i}\">{}</a>{}</li>", escape(&s.title), badge(s.verdict));
            }
            h.push_str("</ul></nav>\n");
        }
        for (i, s) in self.sections.iter().enumerate() {
            let _ = writeln!(h, "<section id=\"s{i}\">\n<h2>{}{}</h2>", escape(&s.title), badge(s.verdict));
            if let Some(c) = &s.claim {
                let _ = writeln!(h, "<div class=\"claim\"><b>Claim:</b> {}</div>", escape(c));
            }
            if let Some(d) = &s.verdict_detail {
                let _ = writeln!(h, "<p class=\"verdict\">{}</p>", escape(d));
            }
            for p in &s.paragraphs {
                let _ = writeln!(h, "<p>{}</p>", escape(p));
            }
            for f in &s.figures {
                let bytes = std::fs::read(f).map_err(|source| Error::ReadFigure { path: f.clone(), source })?;
                let mime = match f.extension().and_then(|e| e.to_str()) {
                    Some("svg") => "image/svg+xml",
                    Some("jpg") | Some("jpeg") => "image/jpeg",
                    _ => "image/png",
                };
                let name = escape(&caption(f, s.figure_root.as_deref()));
                let _ = writeln!(
                    h,
                    "<figure><img alt=\"{name}\" src=\"data:{mime};base64,{}\"><figcaption>{name}</figcaption></figure>",
                    base64(&bytes)
                );
            }
            if let Some(table) = &s.table {
                h.push_str("<table>\n<thead><tr>");
                for c in &table.header {
                    let _ = write!(h, "<th>{}</th>", escape(c));
                }
                h.push_str("</tr></thead>\n<tbody>\n");
                for row in &table.rows {
                    h.push_str("<tr>");
                    for c in row {
                        let _ = write!(h, "<td>{}</td>", escape(c));
                    }
                    h.push_str("</tr>\n");
                }
                h.push_str("</tbody>\n</table>\n");
            }
            if let Some(c) = &s.command {
                let _ = writeln!(h, "<p>Reproduce with:</p>\n<pre><code>{}</code></pre>", escape(c));
            }
            h.push_str("</section>\n");
        }
        h.push_str("</body>\n</html>\n");
        Ok(h)
    }

    /// Writes the report to `path` atomically.
    pub fn write(&self, path: &Path) -> Result<()> {
        Ok(atomic_write(path, self.to_html()?.as_bytes())?)
    }
}

fn badge(verdict: Option<bool>) -> &'static str {
    match verdict {
        Some(true) => "<span class=\"badge pass\">PASS</span>",
        Some(false) => "<span class=\"badge fail\">FAIL</span>",
        None => "",
    }
}

/// Escapes `& < > " '` for HTML text and attribute values.
pub(crate) fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for ch in s.chars() {
        match ch {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Standard base64 (RFC 4648, with `=` padding).
pub(crate) fn base64(bytes: &[u8]) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [chunk[0], *chunk.get(1).unwrap_or(&0), *chunk.get(2).unwrap_or(&0)];
        let n = (b[0] as u32) << 16 | (b[1] as u32) << 8 | b[2] as u32;
        out.push(A[(n >> 18) as usize & 63] as char);
        out.push(A[(n >> 12) as usize & 63] as char);
        out.push(if chunk.len() > 1 { A[(n >> 6) as usize & 63] as char } else { '=' });
        out.push(if chunk.len() > 2 { A[n as usize & 63] as char } else { '=' });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{line_figure, Panel, Series};

    #[test]
    fn base64_matches_rfc4648_vectors() {
        for (i, o) in
            [("", ""), ("f", "Zg=="), ("fo", "Zm8="), ("foo", "Zm9v"), ("foob", "Zm9vYg=="), ("foobar", "Zm9vYmFy")]
        {
            assert_eq!(base64(i.as_bytes()), o);
        }
    }

    #[test]
    fn report_escapes_text_and_embeds_png() {
        let dir = tempfile::tempdir().unwrap();
        let fig = line_figure(
            &dir.path().join("v"),
            "valley",
            &[Panel::new("p", "λ", "loss").with_series(Series::new("a", vec![0.0, 1.0], vec![1.0, 2.0]))],
            1,
        )
        .unwrap();
        let mut r = HtmlReport::new("Valleys <&> \"asymmetry\"");
        r.section(Section {
            title: "Claim 1: a<b".into(),
            claim: Some("flatter on the + side".into()),
            verdict: Some(true),
            verdict_detail: Some("mean +λ 0.12 < mean −λ 0.31".into()),
            paragraphs: vec!["<script>alert(1)</script>".into()],
            figures: vec![fig[0].clone()],
            figure_root: None,
            table: Some(Table { header: vec!["k".into(), "v".into()], rows: vec![vec!["x|y".into(), "1".into()]] }),
            command: Some("valley valley --model vgg11 > out.txt".into()),
        });
        r.section(Section { verdict: Some(false), ..Section::new("Claim 2") });
        let path = dir.path().join("report.html");
        r.write(&path).unwrap();
        let html = std::fs::read_to_string(&path).unwrap();
        assert!(html.contains("Valleys &lt;&amp;&gt; &quot;asymmetry&quot;"));
        assert!(html.contains("Claim 1: a&lt;b"));
        assert!(!html.contains("<script>"));
        assert!(html.contains("badge pass\">PASS") && html.contains("badge fail\">FAIL"));
        assert!(html.contains("data:image/png;base64,iVBORw0KGgo"));
        assert!(html.contains("valley valley --model vgg11 &gt; out.txt"));
        assert!(!html.contains("http://") && !html.contains("https://"), "report must be self-contained");
        let names: Vec<_> = std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert!(names.iter().all(|n| !n.to_string_lossy().ends_with(".tmp")));
    }

    #[test]
    fn captions_are_relative_to_the_figure_root() {
        let fig = Path::new("/runs/bn-init/ones-ns/valley-test-error.png");
        assert_eq!(caption(fig, Some(Path::new("/runs/bn-init"))), "ones-ns/valley-test-error.png");
        assert_eq!(caption(fig, None), "valley-test-error.png");
        assert_eq!(caption(fig, Some(Path::new("/elsewhere"))), "valley-test-error.png");
    }

    #[test]
    fn missing_figure_names_its_path() {
        let mut r = HtmlReport::new("t");
        r.section(Section { figures: vec![PathBuf::from("/nonexistent/fig.png")], ..Section::new("s") });
        let err = r.to_html().unwrap_err().to_string();
        assert!(err.contains("/nonexistent/fig.png"), "{err}");
    }

    #[test]
    fn table_markdown_and_csv() {
        let t = Table {
            header: vec!["model".into(), "acc".into()],
            rows: vec![vec!["a|b".into(), "0.9".into()], vec!["say \"hi\", ok".into(), "1".into()]],
        };
        assert_eq!(t.to_markdown(), "| model | acc |\n| --- | --- |\n| a\\|b | 0.9 |\n| say \"hi\", ok | 1 |\n");
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("t.csv");
        t.write_csv(&p).unwrap();
        assert_eq!(std::fs::read_to_string(&p).unwrap(), "model,acc\r\na|b,0.9\r\n\"say \"\"hi\"\", ok\",1\r\n");
    }
}
