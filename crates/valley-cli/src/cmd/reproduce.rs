//! `valley reproduce NAME|all` and `valley report RUNS…`.

use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use clap::Args;
use valley_reproduce::{Budget, Env, Finding, NAMES};

use crate::common::DeviceArgs;

#[derive(Args, Debug)]
pub struct ReproduceArgs {
    /// Findings to reproduce, comma separated: noise, flip, special, groups, bn-init, hparams,
    /// softmax, relu, hessian, soups, fedsign, or all.
    #[arg(value_delimiter = ',', required_unless_present = "claims")]
    pub names: Vec<String>,
    /// Recompute the verdicts from the measurements saved in this folder (the --out folder
    /// of an earlier run) without training or evaluating anything.
    #[arg(long, value_name = "DIR", conflicts_with = "claims")]
    pub rejudge: Option<PathBuf>,
    /// Print every finding's claim, statistic and threshold as a Markdown table and exit.
    #[arg(long)]
    pub claims: bool,
    /// smoke (seconds), cpu (meaningful on 2 cores), paper (the paper's settings; GPU).
    #[arg(long, default_value = "cpu")]
    pub budget: Budget,
    /// Output folder: one sub-folder per finding and report.html.
    #[arg(long, default_value = "out/reproduce")]
    pub out: PathBuf,
    /// Folder of cached trained models (reused across runs).
    #[arg(long, default_value = "runs/cache")]
    pub cache: PathBuf,
    #[command(flatten)]
    pub device: DeviceArgs,
}

pub fn run(a: ReproduceArgs) -> Result<()> {
    if a.claims {
        print!("{}", valley_reproduce::claims::markdown());
        return Ok(());
    }
    let names: Vec<String> = if a.names.iter().any(|n| n == "all") {
        NAMES.iter().map(|s| s.to_string()).collect()
    } else {
        a.names.clone()
    };
    for n in &names {
        if !NAMES.contains(&n.as_str()) {
            bail!("unknown finding `{n}` (expected one of {}, all)", NAMES.join(", "));
        }
    }
    if let Some(dir) = &a.rejudge {
        return rejudge(&names, dir, a.names.iter().any(|n| n == "all"));
    }
    let budget = a.budget;
    let device = a.device.resolve()?;
    let mut log = |m: &str| eprintln!("{m}");
    let mut findings: Vec<Finding> = Vec::new();
    for name in &names {
        let command = format!("valley reproduce {name} --budget {} --out {}", budget.name(), a.out.display());
        eprintln!("== {name} ({} budget)", budget.name());
        let mut env =
            Env { out: a.out.clone(), cache: a.cache.clone(), budget, device, log: &mut log, models: Vec::new() };
        let start = std::time::Instant::now();
        let f = valley_reproduce::run(name, &mut env, &command).with_context(|| format!("reproducing `{name}`"))?;
        let seconds = start.elapsed().as_secs_f64();
        valley_reproduce::record_time(&a.out, name, budget, seconds)?;
        println!("{:<8} {}  ({:.0} s)  {}", name, if f.pass { "PASS" } else { "FAIL" }, seconds, f.detail);
        findings.push(f);
    }
    let report = a.out.join("report.html");
    valley_reproduce::write_report(&findings, &report, "valley: reproduced findings")?;
    println!("report: {}", report.display());
    Ok(())
}

/// Re-judges `names` from the measurements under `dir`; with `all`, the findings it lacks are
/// skipped rather than refused. `dir/report.html` is rewritten with every verdict there.
fn rejudge(names: &[String], dir: &std::path::Path, all: bool) -> Result<()> {
    let mut judged = 0;
    for name in names {
        if all && !dir.join(name).join("verdict.json").exists() {
            continue;
        }
        let f = valley_reproduce::rejudge(name, dir).with_context(|| format!("re-judging `{name}`"))?;
        println!("{:<8} {}  {}", name, if f.pass { "PASS" } else { "FAIL" }, f.detail);
        judged += 1;
    }
    if judged == 0 {
        bail!(
            "{} holds no finding's verdict.json; pass the --out folder of an earlier `valley reproduce`",
            dir.display()
        );
    }
    let report = dir.join("report.html");
    valley_reproduce::write_report(&collect(&[dir.to_path_buf()])?, &report, "valley: reproduced findings")?;
    println!("report: {}", report.display());
    Ok(())
}

#[derive(Args, Debug)]
pub struct ReportArgs {
    /// Folders holding verdict.json files (searched one level deep).
    #[arg(required = true)]
    pub runs: Vec<PathBuf>,
    /// The HTML file to write.
    #[arg(long, default_value = "out/report.html")]
    pub out: PathBuf,
}

pub fn report(a: ReportArgs) -> Result<()> {
    let findings = collect(&a.runs)?;
    if findings.is_empty() {
        if let Some(missing) = a.runs.iter().find(|d| !d.exists()) {
            bail!(
                "runs folder {} does not exist; pass the --out folder of an earlier `valley reproduce`",
                missing.display()
            );
        }
        bail!(
            "no verdict.json found in {}; pass the --out folder of an earlier `valley reproduce`",
            a.runs.iter().map(|d| d.display().to_string()).collect::<Vec<_>>().join(", ")
        );
    }
    valley_reproduce::write_report(&findings, &a.out, "valley: findings")?;
    println!("report: {} ({} findings)", a.out.display(), findings.len());
    Ok(())
}

/// The verdicts in `runs` (each folder and its sub-folders), in the paper's order.
fn collect(runs: &[PathBuf]) -> Result<Vec<Finding>> {
    let mut findings = Vec::new();
    for dir in runs {
        let mut candidates = vec![dir.join("verdict.json")];
        if let Ok(entries) = std::fs::read_dir(dir) {
            let mut subs: Vec<PathBuf> = entries.flatten().map(|e| e.path().join("verdict.json")).collect();
            subs.sort();
            candidates.extend(subs);
        }
        for path in candidates.into_iter().filter(|p| p.exists()) {
            let text = std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
            let f = Finding::from_json(&text, path.parent().unwrap_or(dir))
                .with_context(|| format!("{} is not a valley verdict", path.display()))?;
            findings.push(f);
        }
    }
    // The paper's order, whatever order the folders were listed in.
    findings.sort_by_key(|f| NAMES.iter().position(|n| *n == f.name).unwrap_or(NAMES.len()));
    Ok(findings)
}
