//! A comparison grid of federated runs (`valley fed compare`, the FedSign study): every
//! algorithm × Dirichlet α × seed, each run resumable and reused when finished, summarised
//! per (algorithm, α) by the mean and sample standard deviation over seeds.

use std::path::{Path, PathBuf};

use tch::Device;
use valley_data::Partition;
use valley_report::{line_figure, Panel, Series, Table};

use crate::server::{self, Event, RoundRecord};
use crate::{Algorithm, Error, FedConfig, Result};

/// One algorithm of a grid, with the label that names it in tables, figures and folders.
#[derive(Clone, Debug, PartialEq)]
pub struct Entry {
    pub label: String,
    pub algorithm: Algorithm,
}

impl Entry {
    /// An entry labelled with the algorithm's name.
    pub fn named(algorithm: Algorithm) -> Self {
        Self { label: algorithm.name().to_string(), algorithm }
    }
}

/// The grid: `base` with each entry's algorithm, each α (when `base` uses a Dirichlet split)
/// and each seed.
#[derive(Clone, Debug)]
pub struct Grid {
    pub base: FedConfig,
    pub entries: Vec<Entry>,
    pub alphas: Vec<f64>,
    pub seeds: Vec<u64>,
    /// Whether a run's seed also draws its `--train-limit`/`--test-limit` subset (`valley fed
    /// compare`, where `--seed` does both), or every run keeps `base`'s subset (the FedSign
    /// study).
    pub subset_per_seed: bool,
    /// Write each fresh run's `accuracy.png` ([`server::write_accuracy_figure`]).
    pub figures: bool,
}

/// The runs of one (entry, α) over the seeds.
#[derive(Clone, Debug, PartialEq)]
pub struct CellResult {
    pub label: String,
    pub alpha: f64,
    /// Final test accuracy per seed (fraction).
    pub finals: Vec<f64>,
    /// Best test accuracy over rounds, per seed.
    pub best: Vec<f64>,
    /// Mean seconds per round, per seed.
    pub seconds_per_round: Vec<f64>,
    /// Test accuracy per round, per seed.
    pub curves: Vec<Vec<f64>>,
}

impl CellResult {
    /// Mean and sample standard deviation of the final accuracies.
    pub fn final_mean_std(&self) -> (f64, f64) {
        mean_std(&self.finals)
    }

    /// Per round: mean and sample standard deviation over seeds, up to the shortest run.
    pub fn curve_mean_std(&self) -> Vec<(f64, f64)> {
        let rounds = self.curves.iter().map(Vec::len).min().unwrap_or(0);
        (0..rounds).map(|i| mean_std(&self.curves.iter().map(|c| c[i]).collect::<Vec<_>>())).collect()
    }
}

/// Progress of a grid, for the caller to display.
pub enum CompareEvent<'a> {
    /// A finished run found in `dir` is reused.
    Reusing { label: &'a str, alpha: f64, seed: u64, dir: &'a Path },
    /// A run starts (or resumes) in `dir`.
    Running { label: &'a str, alpha: f64, seed: u64, dir: &'a Path },
    /// A run's events.
    Run(Event<'a>),
    /// A run finished (freshly, `reused` false) with these records.
    Finished { label: &'a str, records: &'a [RoundRecord], reused: bool },
}

impl Grid {
    /// Checks every configuration of the grid before the first run starts.
    pub fn validate(&self) -> Result<()> {
        if self.entries.is_empty() || self.seeds.is_empty() || self.alphas.is_empty() {
            return Err(Error::Config("a comparison needs at least one algorithm, α and seed".into()));
        }
        for e in &self.entries {
            for &alpha in &self.alphas {
                self.config(e, alpha, self.seeds[0]).validate()?;
            }
        }
        Ok(())
    }

    /// The configuration of one run.
    pub fn config(&self, entry: &Entry, alpha: f64, seed: u64) -> FedConfig {
        let mut cfg = self.base.clone();
        cfg.algorithm = entry.algorithm;
        if let Partition::Dirichlet { .. } = cfg.partition {
            cfg.partition = Partition::Dirichlet { alpha };
        }
        cfg.seed = seed;
        if self.subset_per_seed {
            cfg.data.subset_seed = seed;
        }
        cfg
    }

    /// The folder of one run: `root/<label>-alpha<α>-seed<seed>` (`fedsign γ=0.01` is
    /// written `fedsign-g0.01`).
    pub fn run_dir(root: &Path, entry: &Entry, alpha: f64, seed: u64) -> PathBuf {
        let slug = entry.label.replace(" γ=", "-g").replace(' ', "-");
        root.join(format!("{slug}-alpha{alpha}-seed{seed}"))
    }

    /// Runs (or reuses) every run under `root` with `workers` clients trained side by side,
    /// returning one result per (α, entry), α-major.
    pub fn run(
        &self,
        root: &Path,
        device: Device,
        workers: usize,
        on_event: &mut dyn FnMut(CompareEvent),
    ) -> Result<Vec<CellResult>> {
        self.validate()?;
        let mut out = Vec::new();
        for &alpha in &self.alphas {
            for entry in &self.entries {
                let mut cell = CellResult {
                    label: entry.label.clone(),
                    alpha,
                    finals: vec![],
                    best: vec![],
                    seconds_per_round: vec![],
                    curves: vec![],
                };
                for &seed in &self.seeds {
                    let cfg = self.config(entry, alpha, seed);
                    let dir = Self::run_dir(root, entry, alpha, seed);
                    let label = entry.label.as_str();
                    let done = dir.join("summary.json").exists()
                        && server::read_records(&dir).is_ok_and(|r| r.len() == cfg.rounds);
                    let records = if done {
                        on_event(CompareEvent::Reusing { label, alpha, seed, dir: &dir });
                        server::read_records(&dir)?
                    } else {
                        on_event(CompareEvent::Running { label, alpha, seed, dir: &dir });
                        let s =
                            server::run(&cfg, &dir, device, workers, true, &mut |e| on_event(CompareEvent::Run(e)))?;
                        if self.figures {
                            server::write_accuracy_figure(&dir, &s.rounds, cfg.algorithm.name())?;
                        }
                        s.rounds
                    };
                    on_event(CompareEvent::Finished { label, records: &records, reused: done });
                    let last = records.last().ok_or_else(|| {
                        Error::Config(format!("{} holds a run without rounds; delete it", dir.display()))
                    })?;
                    cell.finals.push(last.test_accuracy);
                    cell.best.push(records.iter().map(|r| r.test_accuracy).fold(f64::NAN, f64::max));
                    cell.seconds_per_round.push(records.iter().map(|r| r.seconds).sum::<f64>() / records.len() as f64);
                    cell.curves.push(records.iter().map(|r| r.test_accuracy).collect());
                }
                out.push(cell);
            }
        }
        Ok(out)
    }
}

/// The comparison table (accuracies in percent): algorithm, α, final accuracy mean ± std,
/// std, best, seconds per round, seeds.
pub fn table(results: &[CellResult]) -> Table {
    Table {
        header: ["algorithm", "alpha", "final accuracy (%)", "std", "best (%)", "s/round", "seeds"]
            .map(String::from)
            .to_vec(),
        rows: results
            .iter()
            .map(|c| {
                let pct: Vec<f64> = c.finals.iter().map(|f| f * 100.0).collect();
                let (m, s) = mean_std(&pct);
                let best: Vec<f64> = c.best.iter().map(|b| b * 100.0).collect();
                vec![
                    c.label.clone(),
                    c.alpha.to_string(),
                    format!("{m:.2} ± {s:.2}"),
                    format!("{s:.2}"),
                    format!("{:.2}", mean_std(&best).0),
                    format!("{:.2}", mean_std(&c.seconds_per_round).0),
                    c.finals.len().to_string(),
                ]
            })
            .collect(),
    }
}

/// Files written by [`write_outputs`].
pub struct Outputs {
    pub markdown: PathBuf,
    pub csv: PathBuf,
    pub figure: PathBuf,
}

/// Writes `root/compare.md`, `root/compare.csv` and `root/compare-accuracy.{png,svg}` (one
/// panel per α, a curve per algorithm with a ±1 std band over seeds).
pub fn write_outputs(root: &Path, results: &[CellResult]) -> Result<Outputs> {
    let t = table(results);
    let markdown = root.join("compare.md");
    valley_base::atomic_write(&markdown, t.to_markdown().as_bytes())?;
    let csv = root.join("compare.csv");
    t.write_csv(&csv)?;
    let mut alphas: Vec<f64> = Vec::new();
    for c in results {
        if !alphas.contains(&c.alpha) {
            alphas.push(c.alpha);
        }
    }
    let panels: Vec<Panel> = alphas
        .iter()
        .map(|&alpha| {
            let mut panel = Panel::new(format!("Dirichlet α = {alpha}"), "round", "test accuracy");
            for c in results.iter().filter(|c| c.alpha == alpha) {
                let stats = c.curve_mean_std();
                let xs: Vec<f64> = (1..=stats.len()).map(|r| r as f64).collect();
                let ys: Vec<f64> = stats.iter().map(|s| s.0).collect();
                let lo: Vec<f64> = stats.iter().map(|s| s.0 - s.1).collect();
                let hi: Vec<f64> = stats.iter().map(|s| s.0 + s.1).collect();
                panel = panel.with_series(Series::new(c.label.clone(), xs, ys).with_band(lo, hi));
            }
            panel
        })
        .collect();
    let cols = panels.len().min(3);
    line_figure(&root.join("compare-accuracy"), "global test accuracy (mean ± std over seeds)", &panels, cols)?;
    Ok(Outputs { markdown, csv, figure: root.join("compare-accuracy.png") })
}

/// Mean and sample standard deviation ([`valley_base::stats`]; the deviation is 0 for one
/// value).
pub fn mean_std(v: &[f64]) -> (f64, f64) {
    (valley_base::stats::mean(v), valley_base::stats::std(v))
}

#[cfg(test)]
mod tests {
    use super::*;
    use valley::train::DataConfig;
    use valley::{Arch, ModelConfig};
    use valley_data::DatasetKind;

    #[test]
    fn mean_and_sample_std_by_hand() {
        // 1, 2, 3, 4: mean 2.5, Σ(x − m)² = 5, s = √(5/3).
        let (m, s) = mean_std(&[1.0, 2.0, 3.0, 4.0]);
        assert_eq!(m, 2.5);
        assert!((s - (5.0f64 / 3.0).sqrt()).abs() < 1e-12);
        assert_eq!(mean_std(&[7.0]), (7.0, 0.0));
    }

    #[test]
    fn grid_runs_are_reused_and_summarised_per_cell() {
        let tmp = tempfile::tempdir().unwrap();
        let mut model = ModelConfig::new(Arch::Mlp, 1, 8, 10);
        model.hidden = vec![16];
        let mut base = FedConfig::paper(Algorithm::FedAvg, DataConfig::new(DatasetKind::Digits), model, 1, 0);
        (base.clients, base.participation, base.local_epochs) = (4, 0.5, 1);
        let grid = Grid {
            base,
            entries: vec![
                Entry::named(Algorithm::FedAvg),
                Entry {
                    label: "fedsign γ=0.1".into(),
                    algorithm: Algorithm::FedSign { gamma: 0.1, reduce: crate::Reduce::Sum },
                },
            ],
            alphas: vec![0.5],
            seeds: vec![1, 2],
            subset_per_seed: true,
            figures: false,
        };
        let cfg = grid.config(&grid.entries[1], 0.5, 2);
        assert_eq!((cfg.seed, cfg.data.subset_seed, cfg.partition), (2, 2, Partition::Dirichlet { alpha: 0.5 }));
        let mut ran = 0;
        let first = grid
            .run(tmp.path(), Device::Cpu, 1, &mut |e| {
                if let CompareEvent::Running { .. } = e {
                    ran += 1
                }
            })
            .unwrap();
        assert_eq!(ran, 4);
        assert!(tmp.path().join("fedsign-g0.1-alpha0.5-seed2").join("summary.json").exists());
        let mut reused = 0;
        let again = grid
            .run(tmp.path(), Device::Cpu, 1, &mut |e| {
                if let CompareEvent::Reusing { .. } = e {
                    reused += 1
                }
            })
            .unwrap();
        assert_eq!(reused, 4);
        assert_eq!(first.len(), 2);
        for (a, b) in first.iter().zip(&again) {
            assert_eq!(a.finals, b.finals, "a reused run reports the same numbers");
            assert_eq!(a.finals.len(), 2);
        }
        let out = write_outputs(tmp.path(), &first).unwrap();
        let csv = std::fs::read_to_string(out.csv).unwrap();
        assert_eq!(csv.lines().count(), 3, "{csv}");
        assert!(csv.lines().nth(2).unwrap().starts_with("fedsign γ=0.1,0.5,"), "{csv}");
    }
}
