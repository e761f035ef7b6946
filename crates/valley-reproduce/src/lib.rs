//! One-command reproductions of the paper's findings (PAPER.md §3–§5).
//!
//! Each reproduction trains what it needs (cached by a hash of the full training config),
//! measures, states the paper's claim in one sentence, tests it on the measured numbers, and
//! writes `verdict.json`, its figures and `report.html` into its own folder.

pub mod base;
mod cache;
pub mod claims;
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
    /// `--rejudge` on a folder without the finding's saved measurements.
    #[error("{}: no saved measurements of `{name}` ({missing}); pass the --out folder of an earlier `valley reproduce {name}` run", dir.display())]
    NoMeasurements { name: String, dir: PathBuf, missing: String },
    /// A finding whose verdict cannot yet be recomputed from saved files.
    #[error("`{name}` cannot be re-judged: its measurements are not all saved; rerun `valley reproduce {name}`")]
    NotRejudgeable { name: String },
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
    /// The trained models the current finding has used so far (its verdict lists them).
    pub models: Vec<base::ModelRecord>,
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

/// Recomputes the verdict of finding `name` from the measurements an earlier run saved under
/// `out` (its `--out` folder, or the finding's own folder), without training or evaluating,
/// and rewrites `verdict.json` and `report.html` there.
pub fn rejudge(name: &str, out: &std::path::Path) -> Result<Finding> {
    let dir =
        [out.join(name), out.to_path_buf()].into_iter().find(|d| d.join("verdict.json").exists()).ok_or_else(|| {
            Error::NoMeasurements {
                name: name.into(),
                dir: out.to_path_buf(),
                missing: format!("no {name}/verdict.json"),
            }
        })?;
    let path = dir.join("verdict.json");
    let text = std::fs::read_to_string(&path).map_err(|e| valley::Error::read(&path, e))?;
    let old = Finding::from_json(&text, &dir).map_err(|e| Error::NoMeasurements {
        name: name.into(),
        dir: dir.clone(),
        missing: format!("verdict.json is not a valley verdict: {e}"),
    })?;
    if old.name != name {
        return Err(Error::NoMeasurements {
            name: name.into(),
            dir,
            missing: format!("verdict.json there is finding `{}`", old.name),
        });
    }
    let judged = match name {
        "noise" => valleys::judge_networks(&dir, valleys::judge_noise)?,
        "flip" => valleys::judge_networks(&dir, valleys::judge_flip)?,
        "special" => valleys::judge_networks(&dir, valleys::judge_special)?,
        "groups" => valleys::judge_networks(&dir, valleys::judge_groups)?,
        "bn-init" => valleys::judge_networks(&dir, valleys::judge_bn_init)?,
        "relu" => theory::judge_relu(&dir)?,
        "softmax" => theory::softmax_judge(&dir)?,
        "hessian" => curvature::judge_hessian(&dir)?,
        "hparams" => studies::judge_hparams(&dir)?,
        "soups" => studies::soups_judge(&dir)?,
        "fedsign" => studies::fedsign_judge(&dir)?,
        _ => return Err(Error::NotRejudgeable { name: name.into() }),
    };
    old.rejudged(judged)
}

/// Appends finding `name`'s wall time to `<out>/timings.csv` (budget, finding, seconds): the
/// one output that differs between identical runs, kept apart from the verdicts for that reason.
pub fn record_time(out: &std::path::Path, name: &str, budget: Budget, seconds: f64) -> Result<()> {
    #[derive(serde::Serialize, serde::Deserialize)]
    struct Timing {
        budget: String,
        finding: String,
        seconds: f64,
    }
    let path = out.join("timings.csv");
    let mut rows: Vec<Timing> =
        if path.exists() { valley_base::csv::read_records(&path).unwrap_or_default() } else { vec![] };
    rows.retain(|t| !(t.finding == name && t.budget == budget.name()));
    rows.push(Timing { budget: budget.name().into(), finding: name.into(), seconds: (seconds * 10.0).round() / 10.0 });
    Ok(valley_base::csv::write_records(&path, &rows)?)
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
