//! One-command reproductions of the paper's findings (PAPER.md §3–§5).
//!
//! Each reproduction trains what it needs (cached by a hash of the full training config),
//! measures, states the paper's claim in one sentence, tests it on the measured numbers, and
//! writes `verdict.json`, its figures and `report.html` into its own folder.

mod cache;
pub mod curvature;
pub mod listing2;
pub mod studies;
pub mod theory;
pub mod valleys;
mod verdict;

use std::path::PathBuf;
use std::str::FromStr;

pub use cache::trained;
pub use verdict::Finding;

/// Errors of a reproduction.
#[derive(thiserror::Error, Debug)]
pub enum Error {
    #[error(transparent)]
    Valley(#[from] valley::Error),
    #[error(transparent)]
    Data(#[from] valley_data::Error),
    #[error(transparent)]
    Report(#[from] valley_report::Error),
    /// Writing a file failed (see `valley_base::atomic_write`).
    #[error(transparent)]
    Write(#[from] valley_base::Error),
    #[error(transparent)]
    Landscape(#[from] valley_landscape::Error),
    #[error(transparent)]
    Fusion(#[from] valley_fusion::Error),
    #[error(transparent)]
    Fed(#[from] valley_fed::Error),
    #[error("unknown budget `{given}` (expected smoke, cpu or paper)")]
    UnknownBudget { given: String },
    #[error("unknown finding `{given}` (expected one of {expected}, all)")]
    UnknownFinding { given: String, expected: String },
    #[error("cannot read the measurements {}: {detail}; rerun the finding to measure again", path.display())]
    BadMeasurements { path: PathBuf, detail: String },
    #[error("the {study} study has no {algorithm} run to compare with (its algorithm list lacks it)")]
    MissingRun { study: &'static str, algorithm: &'static str },
}

pub type Result<T> = std::result::Result<T, Error>;

/// How much compute a reproduction may use.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Budget {
    /// Seconds: tiny subsets and models; checks the code paths, not the science.
    Smoke,
    /// Meaningful on 2 CPU cores: Fashion-MNIST, narrow models, a few epochs.
    Cpu,
    /// The paper's settings (needs CIFAR/SVHN files and a GPU).
    Paper,
}

impl FromStr for Budget {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "smoke" => Ok(Self::Smoke),
            "cpu" => Ok(Self::Cpu),
            "paper" => Ok(Self::Paper),
            _ => Err(Error::UnknownBudget { given: s.to_string() }),
        }
    }
}

impl Budget {
    pub fn name(&self) -> &'static str {
        match self {
            Budget::Smoke => "smoke",
            Budget::Cpu => "cpu",
            Budget::Paper => "paper",
        }
    }

    /// Picks a value per budget.
    pub fn pick<T>(&self, smoke: T, cpu: T, paper: T) -> T {
        match self {
            Budget::Smoke => smoke,
            Budget::Cpu => cpu,
            Budget::Paper => paper,
        }
    }
}

/// Where and how reproductions run.
pub struct Env<'a> {
    /// The folder of this reproduction's outputs.
    pub out: PathBuf,
    /// Trained models shared by all reproductions (`<cache>/<config hash>/`).
    pub cache: PathBuf,
    pub budget: Budget,
    pub device: valley::Device,
    /// Progress messages for the caller to show.
    pub log: &'a mut dyn FnMut(&str),
}

impl Env<'_> {
    /// The folder for finding `name`, created on demand.
    pub fn dir(&self, name: &str) -> Result<PathBuf> {
        let d = self.out.join(name);
        std::fs::create_dir_all(&d).map_err(|e| valley::Error::create_dir(&d, e))?;
        Ok(d)
    }
}

/// The reproductions, in the paper's order; `all` runs each.
pub const NAMES: [&str; 11] =
    ["noise", "flip", "special", "groups", "bn-init", "hparams", "softmax", "relu", "hessian", "soups", "fedsign"];

/// Runs one reproduction by name. `command` is the exact command line that reruns it.
pub fn run(name: &str, env: &mut Env, command: &str) -> Result<Finding> {
    match name {
        "noise" => valleys::noise(env, command),
        "flip" => valleys::flip(env, command),
        "special" => valleys::special(env, command),
        "groups" => valleys::groups(env, command),
        "bn-init" => valleys::bn_init(env, command),
        "hparams" => studies::hparams(env, command),
        "soups" => studies::soups(env, command),
        "fedsign" => studies::fedsign(env, command),
        "softmax" => theory::softmax(env, command),
        "relu" => theory::relu(env, command),
        "hessian" => curvature::hessian(env, command),
        other => Err(Error::UnknownFinding { given: other.to_string(), expected: NAMES.join(", ") }),
    }
}

/// Writes one HTML report with a section per finding.
pub fn write_report(findings: &[Finding], path: &std::path::Path, title: &str) -> Result<()> {
    let mut report = valley_report::HtmlReport::new(title);
    for f in findings {
        report.section(f.section());
    }
    report.write(path)?;
    Ok(())
}
