//! The federated loop: strategy → transport → aggregation, measured and checkpointed
//! every round so a killed run resumes to the identical result.
//!
//! A run folder holds `global.safetensors` (the latest global model, a valley checkpoint
//! with the input normalisation, so `valley eval` reads it), `state.safetensors` (global
//! model, server and client state, per-round records; what `--resume` reads), `rounds.csv`,
//! `fed.json` (the configuration) and, when finished, `summary.json`.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use serde::{Deserialize, Serialize};
use tch::{Device, Kind, Tensor};
use valley::checkpoint::{self, Checkpoint};
use valley::params::{ssr, Params};
use valley::rng::{self, tag};
use valley::tensors::TensorSet;
use valley::train::{prepare, Prepared};
use valley::Model;
use valley_base::csv::{CsvWriter, LineEnd};
use valley_base::{atomic_write, RunMeta};

use crate::client::Workspace;
use crate::config::{EvalSplit, FedConfig};
use crate::partition::{split_clients, PartitionReport};
use crate::strategy::{for_config, Failure, FitRes};
use crate::transport::{Evaluator, Faults, Simulation, Transport};
use crate::{Error, Result};

/// Measurements of one round.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RoundRecord {
    pub round: usize,
    /// Accuracy and mean cross-entropy of the new global model on the test set (NaN in a
    /// selection run, which never reads the test set).
    pub test_accuracy: f64,
    pub test_loss: f64,
    /// Mean over returned clients of their mean local cross-entropy (NaN if none returned).
    pub train_loss: f64,
    /// Mean over returned clients of SSR(θk, θt), θt the global model they started from.
    pub mean_ssr: f64,
    /// Fraction of parameters whose sign aggregation flipped: 1 − SSR(θ_{t+1}, θt).
    pub sign_flip: f64,
    pub selected: usize,
    pub returned: usize,
    pub stragglers: usize,
    /// No client returned, so the global model was kept.
    pub kept_global: bool,
    pub seconds: f64,
    /// Accuracy and cross-entropy of the new global model on the validation split (NaN
    /// unless the run evaluates on it).
    pub val_accuracy: f64,
    pub val_loss: f64,
    /// Mean over returned clients of their mean per-step regulariser value, as added to the
    /// loss (−γ·R for FedSign; FedProx's, MOON's or FedDyn's term; 0 for FedAvg; NaN if
    /// none returned).
    pub reg_term: f64,
    /// Fraction of learnable parameters whose sign differs between θt and the mean client
    /// model mean_k θk: 1 − SSR(mean_k θk, θt) (equals `sign_flip` except for FedDyn, whose
    /// server corrects the mean; NaN if none returned).
    pub sign_diff_mean_client: f64,
}

impl RoundRecord {
    pub const CSV_HEADER: &'static str = "round,test_accuracy,test_loss,train_loss,mean_ssr,sign_flip,selected,returned,stragglers,kept_global,seconds,val_accuracy,val_loss,reg_term,sign_diff_mean_client";
    /// Values per record in the state file; records of runs written before the validation
    /// and regulariser columns have the first 11.
    const WIDTH: usize = 15;
    const OLD_WIDTH: usize = 11;

    fn to_row(&self) -> Vec<f64> {
        vec![
            self.round as f64,
            self.test_accuracy,
            self.test_loss,
            self.train_loss,
            self.mean_ssr,
            self.sign_flip,
            self.selected as f64,
            self.returned as f64,
            self.stragglers as f64,
            self.kept_global as u8 as f64,
            self.seconds,
            self.val_accuracy,
            self.val_loss,
            self.reg_term,
            self.sign_diff_mean_client,
        ]
    }

    /// The inverse of `to_row` (an 11-value row of an older run gets NaN for the newer
    /// columns); `None` for a row of another length.
    fn from_row(r: &[f64]) -> Option<Self> {
        let mut full = [f64::NAN; Self::WIDTH];
        if r.len() != Self::WIDTH && r.len() != Self::OLD_WIDTH {
            return None;
        }
        full[..r.len()].copy_from_slice(r);
        let [round, test_accuracy, test_loss, train_loss, mean_ssr, sign_flip, selected, returned, stragglers, kept_global, seconds, val_accuracy, val_loss, reg_term, sign_diff_mean_client] =
            full;
        Some(Self {
            round: round as usize,
            test_accuracy,
            test_loss,
            train_loss,
            mean_ssr,
            sign_flip,
            selected: selected as usize,
            returned: returned as usize,
            stragglers: stragglers as usize,
            kept_global: kept_global != 0.0,
            seconds,
            val_accuracy,
            val_loss,
            reg_term,
            sign_diff_mean_client,
        })
    }

    fn csv_row(&self) -> [String; Self::WIDTH] {
        [
            self.round.to_string(),
            self.test_accuracy.to_string(),
            self.test_loss.to_string(),
            self.train_loss.to_string(),
            self.mean_ssr.to_string(),
            self.sign_flip.to_string(),
            self.selected.to_string(),
            self.returned.to_string(),
            self.stragglers.to_string(),
            self.kept_global.to_string(),
            format!("{:.3}", self.seconds),
            self.val_accuracy.to_string(),
            self.val_loss.to_string(),
            self.reg_term.to_string(),
            self.sign_diff_mean_client.to_string(),
        ]
    }

    /// Accuracy of the global model on the split the run evaluates.
    pub fn accuracy(&self, split: EvalSplit) -> f64 {
        match split {
            EvalSplit::Test => self.test_accuracy,
            EvalSplit::Validation => self.val_accuracy,
        }
    }
}

/// Progress events for the caller (the library prints nothing).
pub enum Event<'a> {
    Start { clients: usize, per_round: usize, workers: usize, partition: &'a PartitionReport, sizes: &'a [usize] },
    Resumed { round: usize },
    RoundEnd(&'a RoundRecord),
}

/// A finished run.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct FedSummary {
    pub dir: PathBuf,
    pub algorithm: String,
    /// The split the accuracies below were measured on.
    pub evaluated: EvalSplit,
    pub final_accuracy: f64,
    pub final_loss: f64,
    pub best_accuracy: f64,
    pub mean_seconds_per_round: f64,
    pub rounds: Vec<RoundRecord>,
}

/// The paths inside a federated run folder.
pub struct FedDir(pub PathBuf);

impl FedDir {
    pub fn global(&self) -> PathBuf {
        self.0.join("global.safetensors")
    }
    pub fn state(&self) -> PathBuf {
        self.0.join("state.safetensors")
    }
    pub fn rounds_csv(&self) -> PathBuf {
        self.0.join("rounds.csv")
    }
    pub fn summary(&self) -> PathBuf {
        self.0.join("summary.json")
    }
    pub fn config(&self) -> PathBuf {
        self.0.join("fed.json")
    }
}

/// A federated run's data: the prepared sets (training samples minus the validation split),
/// the training labels, the client split and the validation split.
pub struct ClientData {
    pub data: Prepared,
    pub labels: Vec<i64>,
    pub parts: Vec<Vec<usize>>,
    pub validation: Option<TensorSet>,
}

/// Prepares the data and the client split of `cfg` (what `valley partition` shows): with
/// `cfg.validation` > 0 a class-stratified fraction of the training samples, drawn from the
/// stream (seed, SUBSET, 2), is held out first, and the clients share the rest. [choice] The
/// input normalisation is still computed on all loaded training samples: a per-channel mean
/// and std, not a fit to the validation labels.
pub fn prepare_clients(cfg: &FedConfig, device: Device) -> Result<ClientData> {
    let mut data = prepare(&cfg.data, None, device)?;
    let classes = data.num_classes as usize;
    let validation = if cfg.validation > 0.0 {
        let labels = Vec::<i64>::try_from(&data.train.y.to_device(Device::Cpu))?;
        let seed = rng::derive_seed(cfg.seed, &[tag::SUBSET, 2]);
        let (keep, held) = valley_data::stratified_split(&labels, classes, cfg.validation, seed)?;
        let validation = data.train.subset(&held);
        data.train = data.train.subset(&keep);
        data.train_images = data.train_images.as_ref().map(|im| im.select(&keep));
        Some(validation)
    } else {
        None
    };
    let labels = Vec::<i64>::try_from(&data.train.y.to_device(Device::Cpu))?;
    let parts = split_clients(&labels, classes, cfg.clients, &cfg.partition, cfg.seed)?;
    Ok(ClientData { data, labels, parts, validation })
}

/// The global model θ0 of a run with `seed`: drawn with the engine seeded from the stream
/// (seed, INIT), so a Flower server or a notebook starts where `valley fed` starts.
pub fn initial_global(model: &valley::ModelConfig, seed: u64, device: Device) -> Result<Model> {
    Ok(Model::seeded(model, rng::derive_seed(seed, &[tag::INIT]), device)?)
}

/// Runs (or with `resume`, continues) the federated training `cfg` into `out` with
/// `workers` clients trained side by side. With the same seed the results, including
/// `global.safetensors` byte for byte, do not depend on `workers` or on interruptions.
pub fn run(
    cfg: &FedConfig,
    out: &Path,
    device: Device,
    workers: usize,
    resume: bool,
    on_event: &mut dyn FnMut(Event),
) -> Result<FedSummary> {
    cfg.validate()?;
    let dir = FedDir(out.to_path_buf());
    if !resume && dir.state().exists() {
        return Err(Error::RunExists { dir: out.to_path_buf() });
    }
    std::fs::create_dir_all(out).map_err(|e| valley::Error::create_dir(out, e))?;
    // Kernels run single-threaded everywhere; parallelism comes from the workers.
    tch::set_num_threads(1);

    let ClientData { data, labels, parts, validation } = prepare_clients(cfg, device)?;
    let evaluated = match (cfg.evaluate, &validation) {
        (EvalSplit::Validation, Some(v)) => v,
        (EvalSplit::Validation, None) => {
            return Err(Error::Config("a selection run needs a validation fraction > 0".into()));
        }
        (EvalSplit::Test, _) => &data.test,
    };
    let mut cfg = cfg.clone();
    (cfg.model.in_channels, cfg.model.image_size, cfg.model.num_classes) =
        (data.channels, data.image_size, data.num_classes);
    let report = PartitionReport::new(&parts, &labels, data.num_classes as usize);
    let sizes: Vec<usize> = parts.iter().map(Vec::len).collect();

    let global_model = initial_global(&cfg.model, cfg.seed, device)?;
    let mut global = Params::state_of(&global_model);
    let workers = workers.max(1).min(cfg.clients_per_round().max(1));
    let pool = (0..workers)
        .map(|_| Workspace::new(&cfg.model, &cfg.algorithm, &data.train, evaluated, device))
        .collect::<Result<Vec<_>>>()?;
    let faults = Faults { dropout: cfg.dropout, stragglers: cfg.stragglers };
    let mut sim = Simulation::new(pool, parts, data.train_images.as_ref(), cfg.seed, faults, cfg.eval_batch);
    let mut strategy = for_config(&cfg);
    on_event(Event::Start {
        clients: cfg.clients,
        per_round: cfg.clients_per_round(),
        workers,
        partition: &report,
        sizes: &sizes,
    });

    let config_json = serde_json::to_string(&cfg).unwrap_or_default();
    let mut records: Vec<RoundRecord> = Vec::new();
    if resume && dir.state().exists() {
        checkpoint::remove_stale_temps(out)?;
        let ck = Checkpoint::read(&dir.state())?;
        let bad = |detail: String| Error::Resume { path: dir.state(), detail };
        let saved: FedConfig = ck
            .metadata
            .get("fed_config")
            .and_then(|j| serde_json::from_str(j).ok())
            .ok_or_else(|| bad("it has no readable `fed_config` metadata".into()))?;
        if !saved.same_run(&cfg) {
            return Err(bad(format!(
                "it was written with different settings (only --rounds may change on resume); saved: {}",
                serde_json::to_string(&saved).unwrap_or_default()
            )));
        }
        let get = |n: &str| ck.tensors.get(n).map(|t| t.to_device(device));
        global = Params::from_named_like(&global, "global.", &get)
            .ok_or_else(|| bad("its global model does not match the configured architecture".into()))?;
        strategy.load_state(&get)?;
        sim.load_state(&get)?;
        if let Some(t) = ck.tensors.get("records") {
            let rows = Vec::<Vec<f64>>::try_from(&t.to_kind(Kind::Double)).unwrap_or_default();
            records = rows.iter().map(|r| RoundRecord::from_row(r)).collect::<Option<Vec<_>>>().ok_or_else(|| {
                bad(format!("its round records do not have the {} values of a round", RoundRecord::WIDTH))
            })?;
        }
        on_event(Event::Resumed { round: records.len() });
    }
    let text = serde_json::to_string_pretty(&cfg).unwrap_or_default();
    atomic_write(&dir.config(), text.as_bytes())?;
    let norm_json = serde_json::to_string(&data.normalisation).unwrap_or_default();

    for round in records.len() + 1..=cfg.rounds {
        let t0 = Instant::now();
        let instructions = strategy.configure_fit(round, &global);
        let selected = instructions.len();
        let outcomes = sim.fit_round(round, instructions)?;
        let mut results: Vec<(usize, FitRes)> = Vec::new();
        let mut failures: Vec<(usize, Failure)> = Vec::new();
        for (k, o) in outcomes {
            match o {
                Ok(r) => results.push((k, r)),
                Err(f) => failures.push((k, f)),
            }
        }
        let old = global.learnable();
        let n = results.len() as f64;
        let train_loss = results.iter().map(|(_, r)| r.train_loss).sum::<f64>() / n;
        let mean_ssr = results.iter().map(|(_, r)| ssr(&r.weights.learnable(), &old, None)).sum::<f64>() / n;
        let reg_term = results.iter().map(|(_, r)| r.reg_term).sum::<f64>() / n;
        let sign_diff_mean_client = if results.is_empty() {
            f64::NAN
        } else {
            let models: Vec<&Params> = results.iter().map(|(_, r)| &r.weights).collect();
            1.0 - ssr(&Params::weighted_mean(&models, None).learnable(), &old, None)
        };
        let stragglers = results.iter().filter(|(_, r)| r.steps < r.planned_steps).count();
        let kept_global = results.is_empty();
        if !kept_global {
            global = strategy.aggregate_fit(round, &global, &results, &failures);
        }
        let sign_flip = 1.0 - ssr(&global.learnable(), &old, None);
        let eval = sim.evaluate(&global);
        let (on_test, on_val) = match cfg.evaluate {
            EvalSplit::Test => ((eval.accuracy, eval.loss), (f64::NAN, f64::NAN)),
            EvalSplit::Validation => ((f64::NAN, f64::NAN), (eval.accuracy, eval.loss)),
        };
        records.push(RoundRecord {
            round,
            test_accuracy: on_test.0,
            test_loss: on_test.1,
            train_loss,
            mean_ssr,
            sign_flip,
            selected,
            returned: results.len(),
            stragglers,
            kept_global,
            seconds: t0.elapsed().as_secs_f64(),
            val_accuracy: on_val.0,
            val_loss: on_val.1,
            reg_term,
            sign_diff_mean_client,
        });

        global.write_to(&global_model);
        let meta = vec![
            ("seed", cfg.seed.to_string()),
            ("round", round.to_string()),
            ("algorithm", cfg.algorithm.name().to_string()),
            ("normalisation", norm_json.clone()),
        ];
        checkpoint::save_model(&global_model, &dir.global(), &meta)?;
        write_rounds_csv(&dir.rounds_csv(), &records)?;
        // The state file is written last: it is what makes a round official for --resume.
        save_state(&dir.state(), &global, strategy.state(), sim.state(), &records, &config_json, round)?;
        on_event(Event::RoundEnd(records.last().expect("just pushed")));
    }

    let last = records.last().cloned();
    let summary = FedSummary {
        dir: out.to_path_buf(),
        algorithm: cfg.algorithm.name().to_string(),
        evaluated: cfg.evaluate,
        final_accuracy: last.as_ref().map_or(f64::NAN, |r| r.accuracy(cfg.evaluate)),
        final_loss: last.as_ref().map_or(f64::NAN, |r| match cfg.evaluate {
            EvalSplit::Test => r.test_loss,
            EvalSplit::Validation => r.val_loss,
        }),
        best_accuracy: records.iter().map(|r| r.accuracy(cfg.evaluate)).fold(f64::NAN, f64::max),
        mean_seconds_per_round: records.iter().map(|r| r.seconds).sum::<f64>() / records.len().max(1) as f64,
        rounds: records,
    };
    let meta = RunMeta::new()
        .with_seed(cfg.seed)
        .with_dataset(serde_json::json!({ "name": data.name, "files": data.files, "train_size": data.train.len(), "test_size": data.test.len(), "validation_size": validation.as_ref().map_or(0, TensorSet::len) }))
        .with_options(&cfg);
    let json = meta.stamp(serde_json::json!({
        "mean": data.normalisation.mean,
        "std": data.normalisation.std,
        "device": valley::device::describe(device),
        "workers": workers,
        "client_sizes": sizes,
        "empty_clients": report.empty_clients,
        "evaluated": summary.evaluated,
        "final_accuracy": summary.final_accuracy,
        "final_loss": summary.final_loss,
        "best_accuracy": summary.best_accuracy,
        "mean_seconds_per_round": summary.mean_seconds_per_round,
        "rounds": summary.rounds,
    }));
    atomic_write(&dir.summary(), serde_json::to_string_pretty(&json).unwrap_or_default().as_bytes())?;
    Ok(summary)
}

fn write_rounds_csv(path: &Path, records: &[RoundRecord]) -> Result<()> {
    let mut w = CsvWriter::new(path, RoundRecord::CSV_HEADER.split(','), LineEnd::Lf)?;
    for r in records {
        w.row(r.csv_row())?;
    }
    Ok(w.finish()?)
}

fn save_state(
    path: &Path,
    global: &Params,
    server: Vec<(String, Tensor)>,
    clients: Vec<(String, Tensor)>,
    records: &[RoundRecord],
    config_json: &str,
    round: usize,
) -> Result<()> {
    let mut tensors = global.named("global.");
    tensors.extend(server);
    tensors.extend(clients);
    let rows: Vec<f64> = records.iter().flat_map(|r| r.to_row()).collect();
    let width = RoundRecord::CSV_HEADER.split(',').count() as i64;
    tensors.push(("records".into(), Tensor::from_slice(&rows).view([records.len() as i64, width])));
    let mut meta: HashMap<String, String> = RunMeta::new().to_pairs().into_iter().collect();
    meta.extend([
        ("format".to_string(), "valley-fed-state/1".to_string()),
        ("fed_config".to_string(), config_json.to_string()),
        ("round".to_string(), round.to_string()),
    ]);
    Ok(checkpoint::save_tensors(path, &tensors, meta)?)
}

/// Reads `rounds.csv`'s records back from a finished or interrupted run's state.
pub fn read_records(dir: &Path) -> Result<Vec<RoundRecord>> {
    let ck = Checkpoint::read(&FedDir(dir.to_path_buf()).state())?;
    let rows = match ck.tensors.get("records") {
        Some(t) => Vec::<Vec<f64>>::try_from(&t.to_kind(Kind::Double)).unwrap_or_default(),
        None => Vec::new(),
    };
    rows.iter()
        .enumerate()
        .map(|(i, r)| {
            RoundRecord::from_row(r).ok_or_else(|| Error::Resume {
                path: FedDir(dir.to_path_buf()).state(),
                detail: format!(
                    "record {} has {} values, expected {}; delete the run to start over",
                    i + 1,
                    r.len(),
                    RoundRecord::WIDTH
                ),
            })
        })
        .collect()
}

/// Writes `dir/accuracy.{png,svg}`: the global test accuracy per round, and the mean SSR
/// of the clients with the global model and the fraction of signs flipped by aggregation.
pub fn write_accuracy_figure(dir: &Path, records: &[RoundRecord], label: &str) -> Result<Vec<PathBuf>> {
    use valley_report::{line_figure, Panel, Series};
    let xs: Vec<f64> = records.iter().map(|r| r.round as f64).collect();
    let col = |f: fn(&RoundRecord) -> f64| records.iter().map(f).collect::<Vec<f64>>();
    let acc = Panel::new("global test accuracy", "round", "accuracy").with_series(Series::new(
        label,
        xs.clone(),
        col(|r| r.test_accuracy),
    ));
    let signs = Panel::new("signs", "round", "fraction")
        .with_series(Series::new("mean SSR(θk, θt)", xs.clone(), col(|r| r.mean_ssr)))
        .with_series(Series::new("flipped by aggregation", xs, col(|r| r.sign_flip)).dashed());
    Ok(line_figure(&dir.join("accuracy"), &format!("{label}: accuracy per round"), &[acc, signs], 2)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Algorithm;
    use valley::train::DataConfig;
    use valley::{Arch, ModelConfig};
    use valley_data::DatasetKind;

    /// The bundled digits data (8×8, 10 classes), 6 clients, 2 rounds of a small MLP.
    fn tiny(algorithm: Algorithm) -> FedConfig {
        let mut model = ModelConfig::new(Arch::Mlp, 1, 8, 10);
        model.hidden = vec![32];
        let mut cfg = FedConfig::paper(algorithm, DataConfig::new(DatasetKind::Digits), model, 2, 3);
        (cfg.clients, cfg.participation, cfg.local_epochs) = (6, 0.5, 1);
        cfg
    }

    /// The engine's seed is process-global: tests that draw a model must not interleave.
    static ENGINE: std::sync::Mutex<()> = std::sync::Mutex::new(());

    fn run_in(cfg: &FedConfig, dir: &Path, workers: usize) -> FedSummary {
        run(cfg, dir, Device::Cpu, workers, false, &mut |_| {}).unwrap()
    }

    #[test]
    fn same_seed_gives_identical_global_models_for_any_worker_count() {
        let _guard = ENGINE.lock().unwrap_or_else(|e| e.into_inner());
        let tmp = tempfile::tempdir().unwrap();
        let cfg = tiny(Algorithm::FedSign { gamma: 0.1, reduce: crate::Reduce::Mean });
        let a = run_in(&cfg, &tmp.path().join("a"), 1);
        let b = run_in(&cfg, &tmp.path().join("b"), 2);
        let read = |d: &str| std::fs::read(tmp.path().join(d).join("global.safetensors")).unwrap();
        assert!(read("a") == read("b"), "same seed must give byte-identical global models");
        assert_eq!(a.final_accuracy, b.final_accuracy);
        let mut other = cfg.clone();
        other.seed = 4;
        run_in(&other, &tmp.path().join("c"), 1);
        assert!(read("a") != read("c"), "another seed gives another model");
    }

    #[test]
    fn a_selection_run_holds_out_validation_and_never_reads_the_test_set() {
        let _guard = ENGINE.lock().unwrap_or_else(|e| e.into_inner());
        let tmp = tempfile::tempdir().unwrap();
        let mut cfg = tiny(Algorithm::FedSign { gamma: 0.01, reduce: crate::Reduce::Sum });
        cfg.validation = 0.2;
        cfg.evaluate = EvalSplit::Validation;
        let all = prepare(&cfg.data, None, Device::Cpu).unwrap().train.len();
        let cd = prepare_clients(&cfg, Device::Cpu).unwrap();
        let held = cd.validation.as_ref().unwrap().len();
        assert_eq!(held, (all as f64 * 0.2).round() as usize);
        assert_eq!(cd.parts.iter().map(Vec::len).sum::<usize>() + held, all, "clients share the rest");
        let s = run_in(&cfg, tmp.path(), 1);
        for r in &s.rounds {
            assert!(r.test_accuracy.is_nan() && r.test_loss.is_nan(), "round {} read the test set", r.round);
            assert!((0.0..=1.0).contains(&r.val_accuracy));
            // −γ·R with R > 0: the sign term lowers the loss.
            assert!(r.reg_term < 0.0, "{}", r.reg_term);
            assert!((0.0..=1.0).contains(&r.sign_diff_mean_client));
            // FedAvg's server: the new global model is the mean client model.
            assert_eq!(r.sign_diff_mean_client, r.sign_flip);
        }
        assert_eq!(s.final_accuracy, s.rounds.last().unwrap().val_accuracy);
        let csv = std::fs::read_to_string(tmp.path().join("rounds.csv")).unwrap();
        assert!(csv.starts_with(RoundRecord::CSV_HEADER), "{csv}");
        let back = read_records(tmp.path()).unwrap();
        assert_eq!(back.len(), 2);
        assert_eq!(back[1].val_accuracy, s.rounds[1].val_accuracy);
        assert_eq!(back[1].reg_term, s.rounds[1].reg_term);
    }

    #[test]
    fn an_old_eleven_value_record_reads_with_nan_new_columns() {
        let row = [3.0, 0.5, 1.2, 0.9, 0.8, 0.01, 10.0, 9.0, 1.0, 0.0, 2.5];
        let r = RoundRecord::from_row(&row).unwrap();
        assert_eq!((r.round, r.returned, r.test_accuracy), (3, 9, 0.5));
        assert!(r.val_accuracy.is_nan() && r.reg_term.is_nan());
        assert!(RoundRecord::from_row(&row[..10]).is_none());
    }

    #[test]
    fn total_dropout_keeps_the_initial_global_model() {
        let _guard = ENGINE.lock().unwrap_or_else(|e| e.into_inner());
        let tmp = tempfile::tempdir().unwrap();
        let mut cfg = tiny(Algorithm::FedAvg);
        cfg.dropout = 1.0;
        let s = run_in(&cfg, tmp.path(), 2);
        assert!(s.rounds.iter().all(|r| r.kept_global && r.returned == 0 && r.sign_flip == 0.0));
        let saved = Checkpoint::read(&tmp.path().join("global.safetensors")).unwrap();
        let mut model_cfg = cfg.model.clone();
        model_cfg.in_channels = 1;
        let init = Model::seeded(&model_cfg, rng::derive_seed(cfg.seed, &[tag::INIT]), Device::Cpu).unwrap();
        for e in init.entries() {
            assert!(saved.tensors[&e.name].equal(&e.tensor), "{} changed without any client", e.name);
        }
    }
}
