//! A finding's verdict: the claim, the measured numbers, pass or fail, and where it holds.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use valley_report::{Section, Table};

use crate::{Env, Result};

/// The outcome of one reproduction, written as `verdict.json`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Finding {
    /// Short name, as on the command line (`noise`, `softmax`, ...).
    pub name: String,
    pub title: String,
    /// The paper's claim in one sentence.
    pub claim: String,
    pub pass: bool,
    /// Where a claim holds only in part (e.g. "for |λ| ≤ 0.4"), or what failed.
    pub detail: String,
    pub numbers: serde_json::Value,
    pub budget: String,
    /// The exact command that reruns this finding.
    pub command: String,
    /// Figure files, relative to the finding's folder in `verdict.json`.
    pub figures: Vec<PathBuf>,
    /// The folder holding `verdict.json` (not serialised).
    #[serde(skip)]
    pub dir: PathBuf,
    #[serde(default)]
    pub table: Option<Table>,
    /// The trained models it measured (absent in older files).
    #[serde(default)]
    pub models: Vec<crate::base::ModelRecord>,
    /// Version and git revision of the build that measured it (absent in older files).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub meta: Option<valley_base::RunMeta>,
}

/// What a verdict rule concluded from a finding's saved measurements.
pub(crate) struct Judgement {
    pub pass: bool,
    /// Where the claim holds and where not, with the numbers that decide it.
    pub detail: String,
    pub numbers: serde_json::Value,
    pub table: Table,
}

impl Judgement {
    /// Several networks' judgements of one finding as one: it passes only where every part
    /// passes; the detail and numbers are per network, and the table gains a first column
    /// naming it.
    pub(crate) fn across(parts: Vec<(&str, Judgement)>) -> Judgement {
        let pass = parts.iter().all(|(_, j)| j.pass);
        let detail = parts.iter().map(|(name, j)| format!("{name}: {}", j.detail)).collect::<Vec<_>>().join(" — ");
        let numbers =
            serde_json::Value::Object(parts.iter().map(|(name, j)| (name.to_string(), j.numbers.clone())).collect());
        let mut table = Table { header: vec!["network".into()], rows: vec![] };
        if let Some((_, j)) = parts.first() {
            table.header.extend(j.table.header.iter().cloned());
        }
        for (name, j) in parts {
            table.rows.extend(j.table.rows.into_iter().map(|r| std::iter::once(name.to_string()).chain(r).collect()));
        }
        Judgement { pass, detail, numbers, table }
    }
}

impl Finding {
    /// The finding `name`, judged, with the figures its measurement drew, written into `dir`
    /// as `verdict.json` and `report.html`. Title and claim come from [`crate::claims::CLAIMS`].
    pub(crate) fn record(
        env: &mut Env,
        dir: &Path,
        name: &str,
        command: &str,
        figures: Vec<PathBuf>,
        judged: Judgement,
    ) -> Result<Finding> {
        let c = crate::claims::claim(name).ok_or_else(|| crate::Error::UnknownFinding {
            given: name.to_string(),
            expected: crate::NAMES.join(", "),
        })?;
        let mut f = Finding {
            name: name.into(),
            title: c.title.into(),
            claim: c.claim.into(),
            pass: judged.pass,
            detail: judged.detail,
            numbers: judged.numbers,
            budget: env.budget.name().into(),
            command: command.into(),
            figures,
            dir: dir.to_path_buf(),
            table: Some(judged.table),
            models: std::mem::take(&mut env.models),
            meta: Some(valley_base::RunMeta::new()),
        };
        f.write(dir)?;
        Ok(f)
    }

    /// Replaces the verdict by `judged` (from the same measurements) and rewrites the files;
    /// the claim is the current one, the figures and the command those of the measurement.
    pub(crate) fn rejudged(mut self, judged: Judgement) -> Result<Finding> {
        if let Some(c) = crate::claims::claim(&self.name) {
            (self.title, self.claim) = (c.title.into(), c.claim.into());
        }
        self.pass = judged.pass;
        self.detail = judged.detail;
        self.numbers = judged.numbers;
        self.table = Some(judged.table);
        // A folder kept for its tables alone (figures not copied) re-judges too.
        self.figures = self
            .figures
            .iter()
            .map(|f| if f.is_absolute() { f.clone() } else { self.dir.join(f) })
            .filter(|f| f.exists())
            .collect();
        let dir = self.dir.clone();
        self.write(&dir)?;
        Ok(self)
    }

    /// Reads a `verdict.json`.
    pub fn from_json(text: &str, dir: &Path) -> std::result::Result<Self, serde_json::Error> {
        let mut f: Finding = serde_json::from_str(text)?;
        f.dir = dir.to_path_buf();
        Ok(f)
    }

    /// Writes `verdict.json` and a one-section `report.html` into `dir`.
    pub fn write(&mut self, dir: &Path) -> Result<()> {
        self.dir = dir.to_path_buf();
        for f in &mut self.figures {
            if let Ok(rel) = f.strip_prefix(dir) {
                *f = rel.to_path_buf();
            }
        }
        let json = serde_json::to_string_pretty(self).unwrap_or_default();
        valley_base::atomic_write(&dir.join("verdict.json"), json.as_bytes())?;
        let mut report = valley_report::HtmlReport::new(&format!("valley: {}", self.title));
        report.section(self.section());
        report.write(&dir.join("report.html"))?;
        Ok(())
    }

    /// The report section of this finding.
    pub fn section(&self) -> Section {
        let mut s = Section::new(&self.title);
        s.claim = Some(self.claim.clone());
        s.verdict = Some(self.pass);
        s.verdict_detail = Some(self.detail.clone());
        s.figures = self
            .figures
            .iter()
            .filter(|f| f.extension().is_some_and(|e| e == "png"))
            .map(|f| self.dir.join(f))
            .collect();
        s.figure_root = Some(self.dir.clone());
        s.table = self.table.clone();
        s.command = Some(self.command.clone());
        s.paragraphs = vec![format!("Budget: {}.", self.budget)];
        s.paragraphs.extend(self.models.iter().map(|m| format!("Model: {}.", m.summary())));
        s
    }
}

/// Formats a number for tables.
pub fn fmt(x: f64) -> String {
    if x.abs() >= 100.0 || (x != 0.0 && x.abs() < 1e-3) {
        format!("{x:.3e}")
    } else {
        format!("{x:.4}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn judged(pass: bool, value: f64) -> Judgement {
        Judgement {
            pass,
            detail: format!("index {value}"),
            numbers: serde_json::json!({ "index": value }),
            table: Table { header: vec!["index".into()], rows: vec![vec![value.to_string()]] },
        }
    }

    #[test]
    fn a_finding_across_networks_passes_only_where_every_network_passes() {
        let both = Judgement::across(vec![("VGG-BN", judged(true, 0.3)), ("ResNet-20", judged(true, 0.2))]);
        assert!(both.pass);
        assert_eq!(both.table.header, ["network", "index"]);
        assert_eq!(both.table.rows[1], ["ResNet-20", "0.2"]);
        assert_eq!(both.numbers["ResNet-20"]["index"], 0.2);
        assert!(both.detail.starts_with("VGG-BN: index 0.3") && both.detail.contains("ResNet-20: index 0.2"));
        let one = Judgement::across(vec![("VGG-BN", judged(true, 0.3)), ("ResNet-20", judged(false, 0.01))]);
        assert!(!one.pass, "{}", one.detail);
    }
}
