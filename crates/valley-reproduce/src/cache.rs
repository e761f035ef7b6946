//! Trained models cached by a hash of their full training configuration.

use std::path::PathBuf;

use valley::train::{self, TrainConfig};

use crate::base::ModelRecord;
use crate::{Env, Result};

/// Trains `cfg` into `<cache>/<fingerprint>/` unless a finished run is already there; an
/// interrupted run resumes. Returns the run folder.
pub fn trained(env: &mut Env, cfg: &TrainConfig, what: &str) -> Result<PathBuf> {
    Ok(trained_with_record(env, cfg, what)?.0)
}

/// [`trained`], with the model's record (how far training went), computed once.
pub fn trained_with_record(env: &mut Env, cfg: &TrainConfig, what: &str) -> Result<(PathBuf, ModelRecord)> {
    let dir = env.cache.join(format!("{}-{}-{}", cfg.model.arch, cfg.data.dataset.name(), cfg.fingerprint()));
    if valley::train::RunDir::new(&dir).final_().exists() {
        (env.log)(&format!("{what}: reusing {}", dir.display()));
        return note(env, cfg, dir, what);
    }
    (env.log)(&format!(
        "{what}: training {} on {} for {} epochs → {}",
        cfg.model.arch,
        cfg.data.dataset.name(),
        cfg.epochs,
        dir.display()
    ));
    let log = &mut env.log;
    train::run(cfg, &dir, env.device, true, &mut |e| {
        if let train::Event::EpochEnd(r) = e {
            log(&format!("  epoch {} test accuracy {:.2}%", r.epoch, r.test_accuracy * 100.0));
        }
    })?;
    note(env, cfg, dir, what)
}

/// Records the trained model for the finding's verdict and says what it is.
fn note(env: &mut Env, cfg: &TrainConfig, dir: PathBuf, what: &str) -> Result<(PathBuf, ModelRecord)> {
    let record = ModelRecord::of(cfg, &dir, env.device)?;
    (env.log)(&format!("{what}: {}", record.summary()));
    if !env.models.contains(&record) {
        env.models.push(record.clone());
    }
    Ok((dir, record))
}
