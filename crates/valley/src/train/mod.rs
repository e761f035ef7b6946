//! Training: the optimiser loop, run folders and resume (evaluation is in [`crate::eval`]).
//!
//! A run folder holds `init.safetensors` (θ0), `final.safetensors` (θf), optional
//! `epoch-N.safetensors`, `checkpoint.safetensors` (model + optimiser state after the last
//! finished epoch, for `--resume`), `metrics.jsonl` and `run.json`.

pub mod data;
pub mod optim;

use std::path::{Path, PathBuf};
use std::time::Instant;

use serde::{Deserialize, Serialize};
use tch::{Device, Kind, Tensor};

use crate::checkpoint::{self, Checkpoint};
use crate::eval::evaluate;
use crate::models::{Mode, Model, ModelConfig};
use crate::rng::{self, tag};
use crate::tensors::TensorSet;
use crate::{Error, Result};
pub use data::{prepare, Batches, DataConfig, Prepared};
pub use optim::{OptimConfig, Optimizer, OptimizerKind, Schedule};

/// An extra loss term added during local or global training (FedProx, FedSign, MOON, ...).
pub trait Regulariser {
    /// The term to add for this batch, given the batch input, logits and penultimate features.
    fn penalty(&mut self, model: &Model, xs: &Tensor, logits: &Tensor, features: &Tensor) -> Option<Tensor>;
}

/// Statistics of one pass over training batches.
#[derive(Clone, Copy, Debug, Default, Serialize, Deserialize)]
pub struct EpochStats {
    pub loss: f64,
    pub accuracy: f64,
    pub steps: usize,
}

/// Trains for up to `max_steps` batches from `batches` with cross-entropy plus `reg`.
/// Stops with [`Error::NonFinite`] when a loss is NaN or infinite.
#[allow(clippy::too_many_arguments)]
pub fn train_steps(
    model: &Model,
    opt: &mut Optimizer,
    batches: impl Iterator<Item = (Tensor, Tensor)>,
    lr: f64,
    max_steps: usize,
    mut reg: Option<&mut dyn Regulariser>,
    epoch: usize,
    mut on_step: impl FnMut(usize, f64),
) -> Result<EpochStats> {
    let (mut loss_sum, mut correct, mut seen, mut steps) = (0.0, 0i64, 0i64, 0usize);
    for (x, y) in batches.take(max_steps) {
        let (logits, features) = model.forward_with_features(&x, Mode::Train);
        let ce = logits.cross_entropy_for_logits(&y);
        let (loss, penalised) = match reg.as_deref_mut().and_then(|r| r.penalty(model, &x, &logits, &features)) {
            Some(p) => (&ce + p, true),
            None => (ce.shallow_clone(), false),
        };
        let value = loss.double_value(&[]);
        if !value.is_finite() {
            return Err(Error::NonFinite { epoch, step: steps, loss: value, hint: String::new() });
        }
        opt.backward_step(&loss, lr);
        let n = y.size()[0];
        let ce_value = if penalised { ce.double_value(&[]) } else { value };
        loss_sum += ce_value * n as f64;
        correct += tch::no_grad(|| logits.argmax(-1, false).eq_tensor(&y).sum(Kind::Int64).int64_value(&[]));
        seen += n;
        steps += 1;
        on_step(steps, value);
    }
    let seen_f = seen.max(1) as f64;
    Ok(EpochStats { loss: loss_sum / seen_f, accuracy: correct as f64 / seen_f, steps })
}

/// What [`train_epochs`] trains on and how: a subset of a prepared training set (for
/// example one half of an IID split, or one client's samples), an optimiser, a schedule
/// over `epochs` and a seed. Epoch `e`'s shuffle draws from the stream
/// `(seed, [SHUFFLE, stream, e])`, so two trainees with different `stream` tags see
/// independent orders and a rerun with the same plan is bit-identical.
pub struct EpochPlan<'a> {
    pub set: &'a TensorSet,
    /// Host copy of the training images when augmentation is on (see [`Prepared`]).
    pub images: Option<&'a valley_data::ImageSet>,
    /// The samples to train on (`None` = all of `set`).
    pub indices: Option<&'a [usize]>,
    pub optim: &'a OptimConfig,
    pub schedule: &'a Schedule,
    pub epochs: usize,
    pub batch_size: usize,
    pub seed: u64,
    /// Distinguishes the shuffle streams of several trainees sharing one seed.
    pub stream: u64,
}

/// Trains `model` for `plan.epochs` epochs with a fresh optimiser: epoch `e` (0-based) uses
/// `lr_e = schedule.lr(optim.lr, e, epochs)` and one pass over `plan.indices` in shuffled
/// mini-batches. After each epoch `on_epoch(e + 1, &stats)` runs (save a checkpoint,
/// evaluate, log); an error from it stops training and is returned.
pub fn train_epochs(
    model: &Model,
    plan: &EpochPlan,
    mut on_epoch: impl FnMut(usize, &EpochStats) -> Result<()>,
) -> Result<Vec<EpochStats>> {
    if plan.epochs == 0 || plan.batch_size == 0 {
        return Err(Error::Config(format!(
            "epochs and batch size must be ≥ 1 (got {} epochs, batch {})",
            plan.epochs, plan.batch_size
        )));
    }
    if plan.indices.is_some_and(|ix| ix.is_empty()) {
        return Err(Error::Config("cannot train on an empty set of samples".into()));
    }
    let mut opt = Optimizer::new(model, plan.optim)?;
    let mut all = Vec::with_capacity(plan.epochs);
    for epoch in 0..plan.epochs {
        let lr = plan.schedule.lr(plan.optim.lr, epoch, plan.epochs);
        let stream = rng::stream(plan.seed, &[tag::SHUFFLE, plan.stream, epoch as u64]);
        let batches = Batches::new(plan.set, plan.images, plan.indices, plan.batch_size, stream);
        let stats = train_steps(model, &mut opt, batches, lr, usize::MAX, None, epoch + 1, |_, _| {})?;
        on_epoch(epoch + 1, &stats)?;
        all.push(stats);
    }
    Ok(all)
}

/// A complete training run's configuration; `run.json` stores it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TrainConfig {
    pub data: DataConfig,
    pub model: ModelConfig,
    pub optim: OptimConfig,
    pub schedule: Schedule,
    pub epochs: usize,
    pub batch_size: usize,
    pub seed: u64,
    /// Epochs after which `epoch-N.safetensors` is kept.
    pub save_epochs: Vec<usize>,
    pub eval_batch: usize,
}

impl TrainConfig {
    pub fn validate(&self) -> Result<()> {
        self.model.validate()?;
        self.optim.validate()?;
        if self.epochs == 0 || self.batch_size == 0 {
            return Err(Error::Config(format!(
                "epochs and batch size must be ≥ 1 (got {} epochs, batch {})",
                self.epochs, self.batch_size
            )));
        }
        if let Some(e) = self.save_epochs.iter().find(|&&e| e == 0 || e > self.epochs) {
            return Err(Error::Config(format!(
                "save epoch {e} lies outside the run's epochs 1..={}; give epochs in that range",
                self.epochs
            )));
        }
        if self.eval_batch == 0 {
            return Err(Error::Config("evaluation batch size must be ≥ 1".into()));
        }
        Ok(())
    }

    /// The fields (dotted paths such as `optim.lr`) in which `other` differs from this
    /// configuration, ignoring `save_epochs` (which only decides what is kept).
    pub fn changed_fields(&self, other: &TrainConfig) -> Vec<String> {
        fn walk(path: &str, a: &serde_json::Value, b: &serde_json::Value, out: &mut Vec<String>) {
            match (a, b) {
                (serde_json::Value::Object(x), serde_json::Value::Object(y)) => {
                    let keys: std::collections::BTreeSet<&String> = x.keys().chain(y.keys()).collect();
                    for k in keys {
                        let p = if path.is_empty() { k.clone() } else { format!("{path}.{k}") };
                        let null = serde_json::Value::Null;
                        walk(&p, x.get(k).unwrap_or(&null), y.get(k).unwrap_or(&null), out);
                    }
                }
                _ if a != b => out.push(format!("{path} ({a} → {b})")),
                _ => {}
            }
        }
        let (mut a, mut b) = (self.clone(), other.clone());
        (a.save_epochs, b.save_epochs) = (Vec::new(), Vec::new());
        let mut out = Vec::new();
        walk(
            "",
            &serde_json::to_value(&a).unwrap_or_default(),
            &serde_json::to_value(&b).unwrap_or_default(),
            &mut out,
        );
        out
    }

    /// A hash of the full configuration, for caching trained models.
    pub fn fingerprint(&self) -> String {
        use sha2::{Digest, Sha256};
        let json = serde_json::to_string(self).unwrap_or_default();
        hex::encode(&Sha256::digest(json.as_bytes())[..8])
    }
}

/// One line of `metrics.jsonl`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct EpochRecord {
    pub epoch: usize,
    pub lr: f64,
    pub train_loss: f64,
    pub train_accuracy: f64,
    pub test_loss: f64,
    pub test_accuracy: f64,
    pub seconds: f64,
}

/// Progress events for the caller to display (the library prints nothing).
pub enum Event<'a> {
    EpochStart { epoch: usize, epochs: usize, steps: usize },
    Step { step: usize, loss: f64 },
    EpochEnd(&'a EpochRecord),
    Resumed { epoch: usize },
}

/// Output of a finished run.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct RunSummary {
    pub dir: PathBuf,
    pub test_accuracy: f64,
    pub test_loss: f64,
    pub epochs: Vec<EpochRecord>,
}

/// The paths inside a run folder; every reader and writer of a run's files names them
/// through this type.
pub struct RunDir(pub PathBuf);

impl RunDir {
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self(dir.into())
    }
    pub fn init(&self) -> PathBuf {
        self.0.join("init.safetensors")
    }
    pub fn final_(&self) -> PathBuf {
        self.0.join("final.safetensors")
    }
    pub fn epoch(&self, e: usize) -> PathBuf {
        self.0.join(format!("epoch-{e}.safetensors"))
    }
    pub fn checkpoint(&self) -> PathBuf {
        self.0.join("checkpoint.safetensors")
    }
    pub fn metrics(&self) -> PathBuf {
        self.0.join("metrics.jsonl")
    }
    pub fn run_json(&self) -> PathBuf {
        self.0.join("run.json")
    }
    /// The model after the last epoch whose losses were finite, written (model only, so
    /// `valley eval` and `valley info` open it) when training stops on a NaN or inf loss.
    pub fn last_good(&self) -> PathBuf {
        self.0.join("last-good.safetensors")
    }
}

/// Why a run stopped early; recorded in `run.json`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Stop {
    pub reason: String,
    pub epoch: usize,
    pub loss: f64,
    /// The last epoch whose model was kept (0 = θ0) and its file.
    pub last_good_epoch: usize,
    pub last_good: PathBuf,
}

/// Trains a model as `cfg` says into `out`, resuming from `checkpoint.safetensors` when
/// `resume` is set and one exists. With the same seed on the same machine the final
/// checkpoint is byte-identical whether or not the run was interrupted.
pub fn run(
    cfg: &TrainConfig,
    out: &Path,
    device: Device,
    resume: bool,
    on_event: &mut dyn FnMut(Event),
) -> Result<RunSummary> {
    cfg.validate()?;
    let dir = RunDir(out.to_path_buf());
    if out.exists() && !out.is_dir() {
        return Err(Error::Config(format!("run folder {} is an existing file; choose a folder path", out.display())));
    }
    std::fs::create_dir_all(out).map_err(|e| Error::create_dir(out, e))?;
    let data = prepare(&cfg.data, None, device)?;
    let mut model_cfg = cfg.model.clone();
    (model_cfg.in_channels, model_cfg.image_size, model_cfg.num_classes) =
        (data.channels, data.image_size, data.num_classes);
    let model = Model::seeded(&model_cfg, rng::derive_seed(cfg.seed, &[tag::INIT]), device)?;
    let mut opt = Optimizer::new(&model, &cfg.optim)?;
    let norm_json = serde_json::to_string(&data.normalisation).unwrap_or_default();
    let cfg_json = serde_json::to_string(cfg).unwrap_or_default();
    let meta = |epoch: usize| {
        vec![
            ("seed", cfg.seed.to_string()),
            ("epoch", epoch.to_string()),
            ("normalisation", norm_json.clone()),
            ("train_config", cfg_json.clone()),
        ]
    };

    let mut records: Vec<EpochRecord> = Vec::new();
    let mut start_epoch = 0;
    if resume && dir.checkpoint().exists() {
        checkpoint::remove_stale_temps(out)?;
        let ck = Checkpoint::read(&dir.checkpoint())?;
        // Checkpoints written before the config was recorded resume unchecked.
        if let Some(saved) = recorded_config(&ck)? {
            let changed = saved.changed_fields(cfg);
            if !changed.is_empty() {
                return Err(Error::checkpoint(
                    &ck.path,
                    format!(
                        "cannot resume: the run was started with other settings, changed: {}; rerun with the \
                         original settings or train into another --out",
                        changed.join(", ")
                    ),
                ));
            }
        }
        ck.load_into_with_extra(&model)?;
        opt.load_state(|n| ck.tensors.get(n).map(|t| t.shallow_clone()));
        start_epoch = ck.metadata.get("epoch").and_then(|e| e.parse().ok()).unwrap_or(0);
        records = read_metrics(&dir.metrics())?.into_iter().filter(|r| r.epoch <= start_epoch).collect();
        on_event(Event::Resumed { epoch: start_epoch });
    } else {
        checkpoint::save_model(&model, &dir.init(), &meta(0))?;
    }

    // The last epoch whose model is on disk: θ0 in init.safetensors, later epochs in the
    // training checkpoint.
    let mut good_epoch = start_epoch;
    let stop = |epoch: usize, loss: f64, what: &str, good_epoch: usize, records: &[EpochRecord]| -> Result<Stop> {
        let source = if good_epoch == 0 { dir.init() } else { dir.checkpoint() };
        let good = Model::new(&model_cfg, device)?;
        Checkpoint::read(&source)?.load_into_with_extra(&good)?;
        checkpoint::save_model(&good, &dir.last_good(), &meta(good_epoch))?;
        let stop = Stop {
            reason: format!("{what} loss is {loss} in epoch {epoch}"),
            epoch,
            loss,
            last_good_epoch: good_epoch,
            last_good: dir.last_good(),
        };
        let summary = RunSummary {
            dir: out.to_path_buf(),
            test_accuracy: records.last().map_or(f64::NAN, |r| r.test_accuracy),
            test_loss: records.last().map_or(f64::NAN, |r| r.test_loss),
            epochs: records.to_vec(),
        };
        write_run_json(cfg, &model_cfg, &data, device, &summary, Some(&stop), &dir.run_json())?;
        Ok(stop)
    };
    let diverged = |stop: Stop, step: usize| Error::NonFinite {
        epoch: stop.epoch,
        step,
        loss: stop.loss,
        hint: format!(
            "; the model after epoch {} is saved as {} (see run.json); lower --lr and rerun",
            stop.last_good_epoch,
            stop.last_good.display()
        ),
    };

    for epoch in start_epoch..cfg.epochs {
        let t0 = Instant::now();
        let lr = cfg.schedule.lr(cfg.optim.lr, epoch, cfg.epochs);
        let stream = rng::stream(cfg.seed, &[tag::SHUFFLE, epoch as u64]);
        let batches = Batches::new(&data.train, data.train_images.as_ref(), None, cfg.batch_size, stream);
        on_event(Event::EpochStart { epoch: epoch + 1, epochs: cfg.epochs, steps: batches.num_batches() });
        let stats = match train_steps(&model, &mut opt, batches, lr, usize::MAX, None, epoch + 1, |step, loss| {
            on_event(Event::Step { step, loss })
        }) {
            Err(Error::NonFinite { step, loss, .. }) => {
                return Err(diverged(stop(epoch + 1, loss, "training", good_epoch, &records)?, step))
            }
            other => other?,
        };
        let test = evaluate(&model, &data.test, cfg.eval_batch);
        if !test.loss.is_finite() {
            return Err(diverged(stop(epoch + 1, test.loss, "test", good_epoch, &records)?, stats.steps));
        }
        let record = EpochRecord {
            epoch: epoch + 1,
            lr,
            train_loss: stats.loss,
            train_accuracy: stats.accuracy,
            test_loss: test.loss,
            test_accuracy: test.accuracy,
            seconds: t0.elapsed().as_secs_f64(),
        };
        records.push(record);
        if cfg.save_epochs.contains(&(epoch + 1)) {
            checkpoint::save_model(&model, &dir.epoch(epoch + 1), &meta(epoch + 1))?;
        }
        // Metrics first, then the checkpoint that makes them official: a crash between the
        // two leaves an extra metrics line that resume drops.
        write_metrics(&dir.metrics(), &records)?;
        save_training_state(&model, &opt, &dir.checkpoint(), &meta(epoch + 1))?;
        good_epoch = epoch + 1;
        on_event(Event::EpochEnd(records.last().expect("just pushed")));
    }

    checkpoint::save_model(&model, &dir.final_(), &meta(cfg.epochs))?;
    let last = records.last().cloned();
    let summary = RunSummary {
        dir: out.to_path_buf(),
        test_accuracy: last.as_ref().map(|r| r.test_accuracy).unwrap_or(f64::NAN),
        test_loss: last.as_ref().map(|r| r.test_loss).unwrap_or(f64::NAN),
        epochs: records,
    };
    write_run_json(cfg, &model_cfg, &data, device, &summary, None, &dir.run_json())?;
    Ok(summary)
}

fn save_training_state(model: &Model, opt: &Optimizer, path: &Path, extra: &[(&str, String)]) -> Result<()> {
    let mut tensors: Vec<(String, Tensor)> =
        model.entries().iter().map(|e| (e.name.clone(), e.tensor.shallow_clone())).collect();
    tensors.extend(opt.state_tensors());
    let mut meta = checkpoint::model_metadata(model.config());
    for (k, v) in extra {
        meta.insert(k.to_string(), v.clone());
    }
    checkpoint::save_tensors(path, &tensors, meta)
}

fn write_metrics(path: &Path, records: &[EpochRecord]) -> Result<()> {
    let mut text = String::new();
    for r in records {
        text.push_str(&serde_json::to_string(r).unwrap_or_default());
        text.push('\n');
    }
    Ok(valley_base::atomic_write(path, text.as_bytes())?)
}

/// Reads `metrics.jsonl`.
pub fn read_metrics(path: &Path) -> Result<Vec<EpochRecord>> {
    if !path.exists() {
        return Ok(Vec::new());
    }
    let text = std::fs::read_to_string(path).map_err(|e| Error::read(path, e))?;
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .enumerate()
        .map(|(i, l)| serde_json::from_str(l).map_err(|source| Error::Json { path: path.into(), line: i + 1, source }))
        .collect()
}

fn write_run_json(
    cfg: &TrainConfig,
    model: &ModelConfig,
    data: &Prepared,
    device: Device,
    s: &RunSummary,
    stopped: Option<&Stop>,
    path: &Path,
) -> Result<()> {
    let meta = valley_base::RunMeta::new()
        .with_seed(cfg.seed)
        .with_dataset(serde_json::json!({ "name": data.name, "files": data.files, "train_size": data.train.len(), "test_size": data.test.len() }))
        .with_options(cfg);
    let mut json = meta.stamp(serde_json::json!({
        "model": model,
        "preprocessing": { "pixel_scale": "[0,1]", "augment": data.augment },
        "mean": data.normalisation.mean,
        "std": data.normalisation.std,
        "device": crate::device::describe(device),
        "config_hash": cfg.fingerprint(),
        "test_accuracy": s.test_accuracy,
        "test_loss": s.test_loss,
    }));
    if let Some(stop) = stopped {
        json["stopped"] = serde_json::to_value(stop).unwrap_or_default();
    }
    let text = serde_json::to_string_pretty(&json).unwrap_or_default();
    Ok(valley_base::atomic_write(path, text.as_bytes())?)
}

/// The training configuration `train` recorded in a checkpoint's metadata; `None` for files
/// written without one (PyTorch's, merges, checkpoints older than the record).
pub fn recorded_config(ck: &Checkpoint) -> Result<Option<TrainConfig>> {
    let Some(json) = ck.metadata.get("train_config") else { return Ok(None) };
    serde_json::from_str(json)
        .map(Some)
        .map_err(|e| Error::checkpoint(&ck.path, format!("metadata `train_config` is not readable ({e})")))
}

/// Whether the run that wrote `ck` trained on augmented images, so that BN statistics are
/// re-estimated on augmented samples too ([`crate::eval::EvalConfig::bn_augment`]); false
/// when the checkpoint records no training.
pub fn trained_with_augmentation(ck: &Checkpoint) -> Result<bool> {
    Ok(recorded_config(ck)?.is_some_and(|c| c.data.augments(c.model.image_size as usize, c.model.image_size as usize)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Arch, ModelConfig};

    /// Two linearly separable classes of 1×2×2 "images": class c has pixel mean ±1.
    fn toy_set(n: i64) -> TensorSet {
        let y = Tensor::arange(n, (Kind::Int64, Device::Cpu)).remainder(2);
        let sign = y.to_kind(Kind::Float) * 2.0 - 1.0;
        let noise = crate::device::with_seed(3, || Tensor::randn([n, 1, 2, 2], (Kind::Float, Device::Cpu)));
        let x = noise * 0.3 + sign.view([n, 1, 1, 1]);
        TensorSet { x, y, num_classes: 2 }
    }

    fn toy_model() -> Model {
        Model::seeded(&ModelConfig::new(Arch::Linear, 1, 2, 2), 1, Device::Cpu).unwrap()
    }

    #[test]
    fn train_epochs_calls_back_per_epoch_uses_only_the_indices_and_is_reproducible() {
        let set = toy_set(64);
        let indices: Vec<usize> = (0..20).collect();
        let optim = OptimConfig { lr: 0.1, ..Default::default() };
        let schedule = Schedule::Constant;
        let plan = EpochPlan {
            set: &set,
            images: None,
            indices: Some(&indices),
            optim: &optim,
            schedule: &schedule,
            epochs: 3,
            batch_size: 8,
            seed: 5,
            stream: 0,
        };
        // Three copies of one θ0: tests run in parallel and share the engine's global generator,
        // so two seeded draws are not guaranteed equal; the claim here is about training.
        let model = toy_model();
        let (again, other) = (toy_model(), toy_model());
        again.copy_from(&model).unwrap();
        other.copy_from(&model).unwrap();
        let before = evaluate(&model, &set, 64).loss;
        let mut seen = Vec::new();
        let stats = train_epochs(&model, &plan, |e, s| {
            seen.push((e, s.steps));
            Ok(())
        })
        .unwrap();
        // 20 samples in batches of 8 → 3 steps per epoch.
        assert_eq!(seen, vec![(1, 3), (2, 3), (3, 3)]);
        assert_eq!(stats.len(), 3);
        assert!(evaluate(&model, &set, 64).loss < before, "training must lower the loss");

        train_epochs(&again, &plan, |_, _| Ok(())).unwrap();
        let (a, b) = (crate::params::Params::of(&model), crate::params::Params::of(&again));
        assert!(a.tensors.iter().zip(&b.tensors).all(|(x, y)| x.equal(y)), "same plan, same θ");

        let plan_b = EpochPlan { stream: 1, ..plan };
        train_epochs(&other, &plan_b, |_, _| Ok(())).unwrap();
        let c = crate::params::Params::of(&other);
        assert!(!a.tensors.iter().zip(&c.tensors).all(|(x, y)| x.equal(y)), "another stream, another order");
    }

    #[test]
    fn train_epochs_stops_on_a_callback_error_and_rejects_empty_plans() {
        let set = toy_set(16);
        let (optim, schedule) = (OptimConfig::default(), Schedule::Cosine);
        let empty: Vec<usize> = Vec::new();
        let plan = EpochPlan {
            set: &set,
            images: None,
            indices: Some(&empty),
            optim: &optim,
            schedule: &schedule,
            epochs: 2,
            batch_size: 4,
            seed: 0,
            stream: 0,
        };
        assert!(train_epochs(&toy_model(), &plan, |_, _| Ok(())).is_err());
        let plan = EpochPlan { indices: None, ..plan };
        let mut calls = 0;
        let r = train_epochs(&toy_model(), &plan, |_, _| {
            calls += 1;
            Err(Error::Config("stop".into()))
        });
        assert!(r.is_err() && calls == 1);
    }

    #[test]
    fn augmentation_is_read_from_the_recorded_training() {
        let cfg = |augment: Option<bool>, size: i64| TrainConfig {
            data: DataConfig { augment, ..DataConfig::new(valley_data::DatasetKind::FashionMnist) },
            model: ModelConfig::new(Arch::Cnn, 1, size, 10),
            optim: OptimConfig::default(),
            schedule: Schedule::Cosine,
            epochs: 1,
            batch_size: 8,
            seed: 0,
            save_epochs: vec![],
            eval_batch: 8,
        };
        let ck = |meta: Option<String>| Checkpoint {
            path: "c.safetensors".into(),
            tensors: Default::default(),
            names: vec![],
            metadata: meta.map(|m| [("train_config".to_string(), m)].into()).unwrap_or_default(),
        };
        let with = |c: TrainConfig| ck(Some(serde_json::to_string(&c).unwrap()));
        assert!(trained_with_augmentation(&with(cfg(Some(true), 28))).unwrap());
        assert!(!trained_with_augmentation(&with(cfg(Some(false), 32))).unwrap());
        assert!(trained_with_augmentation(&with(cfg(None, 32))).unwrap(), "32×32 data augments by default");
        assert!(!trained_with_augmentation(&with(cfg(None, 28))).unwrap());
        assert!(!trained_with_augmentation(&ck(None)).unwrap(), "no recorded training, no augmentation");
        let err = trained_with_augmentation(&ck(Some("{".into()))).unwrap_err().to_string();
        assert!(err.contains("c.safetensors") && err.contains("train_config"), "{err}");
    }
}
