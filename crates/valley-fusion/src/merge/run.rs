//! Merging checkpoints end to end (`valley merge`): load, check layouts, dispatch on the
//! method, set BN statistics, save the merged checkpoint and its `merge.json` record.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::json;
use valley::checkpoint::{self, Checkpoint};
use valley::eval::{BnPolicy, EvalConfig};
use valley::params::Params;
use valley::train::Prepared;
use valley::{Device, Model};

use super::{
    greedy_soup, normalise_weights, sign_conflicts, task_arithmetic, task_vectors, ties, weighted_average,
    write_merged, GreedyTrace, SignConflicts, TiesConfig,
};
use crate::report::CheckpointId;
use crate::{same_layout, Error, Result};

/// A merging method.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Method {
    /// Weighted average `Σi wi·θi` (equal weights unless given).
    Uniform,
    /// Greedy soup on a held-out half of the test split ([`greedy_soup`]).
    Greedy,
    /// `base + λ·Σi (θi − base)`.
    TaskArithmetic,
    /// TIES-merging of the task vectors `θi − base`.
    Ties,
}

impl Method {
    pub fn name(&self) -> &'static str {
        match self {
            Method::Uniform => "uniform",
            Method::Greedy => "greedy",
            Method::TaskArithmetic => "task-arithmetic",
            Method::Ties => "ties",
        }
    }

    /// Whether the method works on task vectors and so needs a base.
    pub fn needs_base(&self) -> bool {
        matches!(self, Method::TaskArithmetic | Method::Ties)
    }
}

impl std::fmt::Display for Method {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for Method {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        [Method::Uniform, Method::Greedy, Method::TaskArithmetic, Method::Ties]
            .into_iter()
            .find(|m| m.name() == s)
            .ok_or_else(|| Error::UnknownMethod { given: s.to_string() })
    }
}

/// How to merge.
#[derive(Clone, Debug, PartialEq)]
pub struct MergeSpec {
    pub method: Method,
    /// Weights of the uniform soup (normalised to sum 1; `None` = equal).
    pub weights: Option<Vec<f64>>,
    /// Scale λ of the summed (task arithmetic) or merged (TIES) task vector.
    pub lambda: f64,
    /// TIES: fraction of each task vector kept by magnitude.
    pub keep: f64,
    /// BN statistics of the result: `keep` the inputs' average, or `recompute` them on
    /// training samples drawn by `eval.bn_draw` (needs the dataset); also the greedy soup's
    /// evaluation batch.
    pub eval: EvalConfig,
    /// Seed of the greedy soup's stratified held-out half of the test split.
    pub seed: u64,
}

impl MergeSpec {
    /// Whether [`run`] needs the dataset: to re-estimate BN statistics or for the greedy
    /// soup's held-out accuracy.
    pub fn needs_data(&self) -> bool {
        self.eval.bn == BnPolicy::Recompute || self.method == Method::Greedy
    }

    /// The BN setting's name in `merge.json`: `average` (the inputs' statistics, averaged)
    /// or `recompute`.
    fn bn_name(&self) -> &'static str {
        match self.eval.bn {
            BnPolicy::Keep => "average",
            BnPolicy::Recompute => "recompute",
        }
    }
}

/// The checkpoints to merge, loaded and checked to share one architecture.
pub struct Inputs {
    pub paths: Vec<PathBuf>,
    pub checkpoints: Vec<Checkpoint>,
    pub models: Vec<Model>,
    /// The shared base θ of task vectors, with its path.
    pub base: Option<(PathBuf, Params)>,
}

impl Inputs {
    /// Loads `models` (at least one) and `base`, and checks that all share one layout.
    pub fn load(models: &[PathBuf], base: Option<&Path>, device: Device) -> Result<Self> {
        if models.is_empty() {
            return Err(Error::NoModels);
        }
        let (mut checkpoints, mut loaded) = (Vec::new(), Vec::new());
        for p in models {
            let ck = Checkpoint::read(p)?;
            let m = ck.to_model(None, device)?;
            if let Some(first) = loaded.first() {
                same_layout(&models[0], first, p, &m)?;
            }
            checkpoints.push(ck);
            loaded.push(m);
        }
        let base = match base {
            Some(p) => {
                let m = Checkpoint::read(p)?.to_model(None, device)?;
                same_layout(&models[0], &loaded[0], p, &m)?;
                Some((p.to_path_buf(), Params::of(&m)))
            }
            None => None,
        };
        Ok(Self { paths: models.to_vec(), checkpoints, models: loaded, base })
    }

    /// Inputs whose recorded input normalisation differs from the first's (the first's is
    /// used for the data and written into the result).
    pub fn normalisation_mismatches(&self) -> Vec<&Path> {
        let first = serde_json::to_string(&self.checkpoints[0].normalisation()).ok();
        self.checkpoints
            .iter()
            .filter(|c| serde_json::to_string(&c.normalisation()).ok() != first)
            .map(|c| c.path.as_path())
            .collect()
    }
}

/// The greedy soup's trace and its accuracy on the half of the test split it did not see.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct GreedyOutcome {
    pub trace: GreedyTrace,
    pub other_half_accuracy: f64,
}

/// What [`run`] wrote and measured.
#[derive(Clone, Debug)]
pub struct MergeReport {
    /// Per-group sign conflicts: over task vectors when a base is given, else over the models.
    pub conflicts: Vec<SignConflicts>,
    pub greedy: Option<GreedyOutcome>,
    /// The `merge.json` record beside the output checkpoint.
    pub record: PathBuf,
}

/// Merges `inputs` as `spec` says, writes the result to `out` (a safetensors checkpoint)
/// and `out` with extension `json` (the record: method, inputs and output with sha256s,
/// sign conflicts, method details). `data` is the dataset when [`MergeSpec::needs_data`].
pub fn run(spec: &MergeSpec, inputs: &Inputs, data: Option<&Prepared>, out: &Path) -> Result<MergeReport> {
    // Whatever the caller allows about overwriting, an input is never written over.
    let paths: Vec<&Path> =
        inputs.paths.iter().map(PathBuf::as_path).chain(inputs.base.as_ref().map(|(p, _)| p.as_path())).collect();
    valley::checkpoint::check_output(out, &paths, true)?;
    if !(spec.lambda.is_finite() && spec.keep.is_finite()) {
        return Err(Error::Config(format!(
            "λ (--lambda) and the TIES keep fraction (--keep) must be finite numbers, got {} and {}",
            spec.lambda, spec.keep
        )));
    }
    let models = &inputs.models;
    let base = inputs.base.as_ref().map(|(_, p)| p);
    let need_base = || base.ok_or_else(|| Error::NeedsBase { method: spec.method.to_string() });
    let data = match data {
        None if spec.needs_data() => {
            return Err(Error::NeedsData { method: spec.method.to_string(), bn: spec.bn_name().to_string() })
        }
        d => d,
    };
    let bn = data.map(|d| spec.eval.bn_sample(&d.train));
    let params: Vec<Params> = models.iter().map(Params::of).collect();
    let refs: Vec<&Model> = models.iter().collect();
    let work = Model::new(models[0].config(), models[0].device())?;
    let set_bn = |m: &Model| {
        if let Some(b) = &bn {
            spec.eval.apply_bn(m, &b.set);
        }
    };
    let mut details = json!({});
    let mut greedy = None;
    let (merged, ties_stack) = match spec.method {
        Method::Uniform => {
            let w = normalise_weights(models.len(), spec.weights.as_deref())?;
            details = json!({ "weights": w });
            (weighted_average(&params, &w)?, None)
        }
        Method::TaskArithmetic => (task_arithmetic(need_base()?, &params, spec.lambda), None),
        Method::Ties => {
            let (m, st) = ties(need_base()?, &params, &TiesConfig { keep: spec.keep, lambda: spec.lambda })?;
            (m, Some(st))
        }
        Method::Greedy => {
            let d = data
                .ok_or_else(|| Error::NeedsData { method: spec.method.to_string(), bn: spec.bn_name().to_string() })?;
            let labels = Vec::<i64>::try_from(&d.test.y.to_device(Device::Cpu)).map_err(valley::Error::from)?;
            let (report_ix, held_ix) = valley_data::stratified_split(&labels, d.num_classes as usize, 0.5, spec.seed)?;
            let (held, rest) = (d.test.subset(&held_ix), d.test.subset(&report_ix));
            let (soup, trace) = greedy_soup(&params, |inc, theta| {
                let srcs: Vec<&Model> = inc.iter().map(|&i| &models[i]).collect();
                write_merged(&work, theta, &srcs, &normalise_weights(srcs.len(), None)?)?;
                set_bn(&work);
                Ok(spec.eval.evaluate(&work, &held).accuracy)
            })?;
            let srcs: Vec<&Model> = trace.included.iter().map(|&i| &models[i]).collect();
            write_merged(&work, &soup, &srcs, &normalise_weights(srcs.len(), None)?)?;
            set_bn(&work);
            let other = spec.eval.evaluate(&work, &rest).accuracy;
            details = json!({
                "heldout": "a stratified half of the test split (seed --seed); the other half is reported",
                "trace": trace,
                "other_half_accuracy": other,
            });
            greedy = Some(GreedyOutcome { trace, other_half_accuracy: other });
            (soup, None)
        }
    };
    if spec.method != Method::Greedy {
        // BN buffers: the inputs' average (uniform weights unless the uniform soup has its own).
        let bn_weights = match spec.method {
            Method::Uniform => normalise_weights(models.len(), spec.weights.as_deref())?,
            _ => normalise_weights(models.len(), None)?,
        };
        write_merged(&work, &merged, &refs, &bn_weights)?;
        set_bn(&work);
    }
    // Sign statistics: over task vectors when a base is given, else over the models.
    let (vectors, merged_vec) = match base {
        Some(b) => (task_vectors(b, &params), merged.combine(1.0, b, -1.0)),
        None => (params.clone(), merged.clone()),
    };
    let conflicts = sign_conflicts(&models[0], &vectors, &merged_vec, ties_stack.as_ref());
    let norm = inputs.checkpoints[0].metadata.get("normalisation").cloned().unwrap_or_default();
    let method_json =
        json!({ "method": spec.method, "lambda": spec.lambda, "keep": spec.keep, "bn": spec.bn_name() }).to_string();
    checkpoint::save_model(
        &work,
        out,
        &[("normalisation", norm), ("merge", method_json), ("seed", spec.seed.to_string())],
    )?;
    let input_ids = inputs.paths.iter().map(|p| CheckpointId::of(p)).collect::<Result<Vec<_>>>()?;
    let record = json!({
        "meta": valley_base::RunMeta::new().to_json(),
        "method": spec.method, "lambda": spec.lambda, "keep": spec.keep, "bn": spec.bn_name(),
        "eval": spec.eval,
        "inputs": input_ids, "base": inputs.base.as_ref().map(|(p, _)| CheckpointId::of(p)).transpose()?,
        "output": CheckpointId::of(out)?,
        "sign_conflicts": conflicts, "details": details,
    });
    let json_path = out.with_extension("json");
    let text = serde_json::to_string_pretty(&record).unwrap_or_default();
    valley_base::atomic_write(&json_path, text.as_bytes())?;
    Ok(MergeReport { conflicts, greedy, record: json_path })
}

#[cfg(test)]
mod tests {
    use super::*;
    use valley::tensors::TensorSet;
    use valley::{Arch, Kind, ModelConfig, Tensor};

    fn save(dir: &Path, name: &str, seed: i64) -> PathBuf {
        let mut cfg = ModelConfig::new(Arch::Cnn, 1, 8, 3);
        cfg.width = 0.25;
        let m = Model::seeded(&cfg, seed as u64, Device::Cpu).unwrap();
        let path = dir.join(name);
        checkpoint::save_model(&m, &path, &[]).unwrap();
        path
    }

    fn toy_data() -> Prepared {
        let set = |n: i64| {
            let y = Tensor::randint(3, [n], (Kind::Int64, Device::Cpu));
            let x = Tensor::randn([n, 1, 8, 8], (Kind::Float, Device::Cpu));
            TensorSet { x, y, num_classes: 3 }
        };
        let (train, test) = valley::device::with_seed(11, || (set(64), set(60)));
        Prepared {
            name: "synthetic".into(),
            train,
            test,
            train_images: None,
            normalisation: valley_data::Normalisation::identity(1),
            files: vec![],
            channels: 1,
            image_size: 8,
            num_classes: 3,
            augment: false,
        }
    }

    fn spec(method: Method) -> MergeSpec {
        MergeSpec {
            method,
            weights: None,
            lambda: 1.0,
            keep: 0.2,
            eval: EvalConfig {
                bn: BnPolicy::Keep,
                bn_batch: 16,
                bn_batches: 2,
                eval_batch: 32,
                ..EvalConfig::default()
            },
            seed: 0,
        }
    }

    #[test]
    fn uniform_merge_writes_the_average_and_its_record_without_the_binary() {
        let tmp = tempfile::tempdir().unwrap();
        let paths = [save(tmp.path(), "a.safetensors", 1), save(tmp.path(), "b.safetensors", 2)];
        let inputs = Inputs::load(&paths, None, Device::Cpu).unwrap();
        let out = tmp.path().join("m.safetensors");
        let mut s = spec(Method::Uniform);
        s.weights = Some(vec![1.0, 3.0]);
        let report = run(&s, &inputs, None, &out).unwrap();
        let merged = Params::of(&Checkpoint::read(&out).unwrap().to_model(None, Device::Cpu).unwrap());
        let (pa, pb) = (Params::of(&inputs.models[0]), Params::of(&inputs.models[1]));
        let expect = pa.map(|t| t * 0.25).combine(1.0, &pb, 0.75);
        for (m, e) in merged.tensors.iter().zip(&expect.tensors) {
            assert!(m.allclose(e, 1e-6, 1e-6, false));
        }
        let j: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&report.record).unwrap()).unwrap();
        assert_eq!((j["method"].as_str(), j["bn"].as_str()), (Some("uniform"), Some("average")));
        assert_eq!(j["details"]["weights"], json!([0.25, 0.75]));
        assert_eq!(j["inputs"].as_array().unwrap().len(), 2);
        assert_eq!(report.conflicts[0].group, "ALL");
    }

    #[test]
    fn task_methods_need_a_base_and_greedy_needs_data() {
        let tmp = tempfile::tempdir().unwrap();
        let paths = [save(tmp.path(), "a.safetensors", 1), save(tmp.path(), "b.safetensors", 2)];
        let inputs = Inputs::load(&paths, None, Device::Cpu).unwrap();
        let out = tmp.path().join("m.safetensors");
        let e = run(&spec(Method::Ties), &inputs, None, &out).unwrap_err().to_string();
        assert!(e.contains("--base"), "{e}");
        assert!(run(&spec(Method::Greedy), &inputs, None, &out).is_err());
        let data = toy_data();
        let report = run(&spec(Method::Greedy), &inputs, Some(&data), &out).unwrap();
        let g = report.greedy.unwrap();
        assert_eq!(g.trace.order.len(), 2);
        assert!((0.0..=1.0).contains(&g.other_half_accuracy));
        assert!("soup".parse::<Method>().is_err());
        assert_eq!("task-arithmetic".parse::<Method>().unwrap(), Method::TaskArithmetic);
    }
}
