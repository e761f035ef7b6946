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
    /// Final accuracy per seed (fraction) on the split the runs evaluate (the test set, or the
    /// validation split in a selection grid).
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
    /// written `fedsign-g0.01`, `fedprox μ=0.1` `fedprox-mu0.1`, `feddyn α=0.1` `feddyn-a0.1`).
    pub fn run_dir(root: &Path, entry: &Entry, alpha: f64, seed: u64) -> PathBuf {
        let slug = entry
            .label
            .replace(" γ=", "-g")
            .replace(" μ=", "-mu")
            .replace(" α=", "-a")
            .replace('[', "-")
            .replace(']', "")
            .replace(' ', "-");
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
                    let split = cfg.evaluate;
                    cell.finals.push(last.accuracy(split));
                    cell.best.push(records.iter().map(|r| r.accuracy(split)).fold(f64::NAN, f64::max));
                    cell.seconds_per_round.push(records.iter().map(|r| r.seconds).sum::<f64>() / records.len() as f64);
                    cell.curves.push(records.iter().map(|r| r.accuracy(split)).collect());
                }
                out.push(cell);
            }
        }
        Ok(out)
    }
}

/// Model selection on the validation split: for each algorithm, the candidates to try
/// (one family of [`Algorithm`]s differing in their coefficient; FedAvg has one candidate).
#[derive(Clone, Debug)]
pub struct Tuning {
    pub candidates: Vec<Vec<Algorithm>>,
    /// The seed of the selection runs (their partition, initialisation and validation split).
    pub seed: u64,
    /// The Dirichlet α the selection runs at; the choice is applied at every α of the grid.
    pub alpha: f64,
}

/// One algorithm's selection: each candidate's final validation accuracy and the choice.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Selection {
    pub algorithm: String,
    /// (label, coefficient, final validation accuracy) per candidate, in the order tried.
    pub candidates: Vec<(String, Option<f64>, f64)>,
    pub chosen: String,
    pub chosen_coefficient: Option<f64>,
    pub chosen_validation_accuracy: f64,
}

/// The candidate with the highest final validation accuracy; ties and NaN scores go to the
/// earlier candidate.
pub fn choose(scores: &[f64]) -> Option<usize> {
    let mut best: Option<usize> = None;
    for (i, &v) in scores.iter().enumerate() {
        if v.is_finite() && best.is_none_or(|b| v > scores[b]) {
            best = Some(i);
        }
    }
    best
}

impl Grid {
    /// Selection runs under `root`: every candidate of `tuning` as a selection run of `self`
    /// (same settings, evaluated on the validation split, never on the test set) at
    /// `tuning.alpha` and `tuning.seed`. Returns the selection per algorithm and the grid of
    /// the chosen algorithms (evaluated on the test set), which the caller runs.
    pub fn tune(
        &self,
        tuning: &Tuning,
        root: &Path,
        device: Device,
        workers: usize,
        on_event: &mut dyn FnMut(CompareEvent),
    ) -> Result<(Vec<Selection>, Grid)> {
        if self.base.validation <= 0.0 {
            return Err(Error::Config("tuning needs a validation split: give a validation fraction > 0".into()));
        }
        if tuning.candidates.iter().any(Vec::is_empty) {
            return Err(Error::Config("every tuned algorithm needs at least one candidate".into()));
        }
        let mut base = self.base.clone();
        base.evaluate = crate::EvalSplit::Validation;
        let entries: Vec<Entry> = tuning
            .candidates
            .iter()
            .flatten()
            .map(|&algorithm| Entry { label: algorithm.label(), algorithm })
            .collect();
        let select = Grid {
            base,
            entries,
            alphas: vec![tuning.alpha],
            seeds: vec![tuning.seed],
            subset_per_seed: self.subset_per_seed,
            figures: false,
        };
        let cells = select.run(root, device, workers, on_event)?;
        let mut selections = Vec::new();
        let mut chosen = Vec::new();
        let mut offset = 0;
        for family in &tuning.candidates {
            let cells = &cells[offset..offset + family.len()];
            offset += family.len();
            let scores: Vec<f64> = cells.iter().map(|c| c.finals[0]).collect();
            let i = choose(&scores).ok_or_else(|| {
                Error::Config(format!(
                    "every {} candidate ended with a non-finite validation accuracy",
                    family[0].name()
                ))
            })?;
            selections.push(Selection {
                algorithm: family[0].name().to_string(),
                candidates: family.iter().zip(&scores).map(|(a, &v)| (a.label(), a.coefficient(), v)).collect(),
                chosen: family[i].label(),
                chosen_coefficient: family[i].coefficient(),
                chosen_validation_accuracy: scores[i],
            });
            chosen.push(Entry { label: family[i].label(), algorithm: family[i] });
        }
        let mut final_grid = self.clone();
        final_grid.entries = chosen;
        final_grid.base.evaluate = crate::EvalSplit::Test;
        Ok((selections, final_grid))
    }
}

/// Writes `root/selection.json` and `root/selection.csv` (algorithm, candidate, coefficient,
/// final validation accuracy, chosen).
pub fn write_selection(root: &Path, selections: &[Selection]) -> Result<()> {
    let json = serde_json::to_string_pretty(selections).unwrap_or_default();
    valley_base::atomic_write(&root.join("selection.json"), json.as_bytes())?;
    let t = Table {
        header: ["algorithm", "candidate", "coefficient", "validation accuracy", "chosen"].map(String::from).to_vec(),
        rows: selections
            .iter()
            .flat_map(|s| {
                s.candidates.iter().map(move |(label, coef, v)| {
                    vec![
                        s.algorithm.clone(),
                        label.clone(),
                        coef.map_or(String::new(), |c| c.to_string()),
                        v.to_string(),
                        (label == &s.chosen).to_string(),
                    ]
                })
            })
            .collect(),
    };
    t.write_csv(&root.join("selection.csv"))?;
    Ok(())
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
    fn the_best_validation_score_is_chosen_and_ties_go_first() {
        assert_eq!(choose(&[0.5, 0.7, 0.6]), Some(1));
        assert_eq!(choose(&[0.7, 0.7, 0.6]), Some(0));
        assert_eq!(choose(&[f64::NAN, 0.2]), Some(1));
        assert_eq!(choose(&[f64::NAN]), None);
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
