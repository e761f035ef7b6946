//! Evaluating `θ(λ) = θf + λ·d` in place: data preparation, BN policy, the λ sweep.
//!
//! The model's parameters are overwritten from θf at every point (no model copies, no
//! gradients); BN running statistics are either kept from θf or reset and re-estimated as a
//! cumulative average over a fixed set of training batches (the paper's choice).

use std::path::Path;

use tch::{Device, Tensor};
use valley::checkpoint::Checkpoint;
pub use valley::eval::Split;
use valley::eval::{Eval, EvalConfig};
use valley::params::Params;
use valley::tensors::TensorSet;
use valley::train::{self, DataConfig};
use valley::Model;
use valley_data::{FileIdentity, Normalisation};

use crate::{Error, Result};

/// The tensors a landscape is evaluated on.
pub struct EvalData {
    pub dataset: String,
    pub files: Vec<FileIdentity>,
    pub normalisation: Normalisation,
    /// Whether the normalisation came from the checkpoint's metadata.
    pub normalisation_from_checkpoint: bool,
    /// The evaluated splits, in the order asked for.
    pub splits: Vec<(Split, TensorSet)>,
    /// BN re-estimation samples, `bn_batch · bn_batches` of them (fewer if the split is
    /// small), drawn by [`EvalConfig::bn_draw`].
    pub bn_set: TensorSet,
    /// Their indices in the (possibly subset) training split.
    pub bn_indices: Vec<usize>,
    pub train_size: usize,
}

impl EvalData {
    /// Loads the data for `model` (the checkpoint `ck`), normalised as recorded in the
    /// checkpoint, and checks that its shape fits the model.
    pub fn prepare(
        ck: &Checkpoint,
        model: &Model,
        data: &DataConfig,
        splits: &[Split],
        eval: &EvalConfig,
        device: Device,
    ) -> Result<Self> {
        if splits.is_empty() {
            return Err(Error::Spec("no split to evaluate (use --splits test, train or train,test)".into()));
        }
        let recorded = ck.normalisation();
        let p = train::prepare(data, recorded.as_ref(), device)?;
        let cfg = model.config();
        let mismatch =
            |detail: String| Error::DataMismatch { checkpoint: ck.path.clone(), dataset: p.name.clone(), detail };
        if p.channels != cfg.in_channels || p.num_classes != cfg.num_classes {
            return Err(mismatch(format!(
                "model {} expects {} input channel(s) and {} classes, the dataset has {} and {}; pass the dataset the model was trained on",
                cfg.arch, cfg.in_channels, cfg.num_classes, p.channels, p.num_classes
            )));
        }
        if p.image_size != cfg.image_size {
            return Err(mismatch(format!(
                "model expects {0}x{0} images, the dataset has {1}x{1}",
                cfg.image_size, p.image_size
            )));
        }
        if let Some(n) = &recorded {
            if n.mean.len() != p.channels as usize {
                return Err(mismatch(format!(
                    "recorded normalisation has {} channels, the data {}",
                    n.mean.len(),
                    p.channels
                )));
            }
        }
        let bn = eval.bn_sample(&p.train);
        let train_size = p.train.len();
        let (train, test) = (p.train, p.test);
        let mut out = Vec::new();
        let (mut train, mut test) = (Some(train), Some(test));
        for s in splits {
            let set = match s {
                Split::Train => train.take(),
                Split::Test => test.take(),
            }
            .ok_or_else(|| Error::Spec(format!("split `{s}` listed twice")))?;
            out.push((*s, set));
        }
        Ok(Self {
            dataset: p.name,
            files: p.files,
            normalisation: p.normalisation,
            normalisation_from_checkpoint: recorded.is_some(),
            splits: out,
            bn_set: bn.set,
            bn_indices: bn.indices,
            train_size,
        })
    }

    /// Writes the exact evaluation tensors (`test_x`, `test_y`, `train_x`, `train_y`, `bn_x`)
    /// so that an independent implementation can reproduce the curves on identical data.
    pub fn dump(&self, path: &Path, eval: &EvalConfig) -> Result<()> {
        let mut tensors: Vec<(String, Tensor)> = Vec::new();
        for (s, set) in &self.splits {
            tensors.push((format!("{s}_x"), set.x.to_device(Device::Cpu)));
            tensors.push((format!("{s}_y"), set.y.to_device(Device::Cpu)));
        }
        tensors.push(("bn_x".into(), self.bn_set.x.to_device(Device::Cpu)));
        let meta = std::collections::HashMap::from([
            ("bn_batch".to_string(), eval.bn_batch.to_string()),
            ("bn_batches".to_string(), eval.bn_batches.to_string()),
            ("dataset".to_string(), self.dataset.clone()),
        ]);
        valley::checkpoint::save_tensors(path, &tensors, meta)?;
        Ok(())
    }
}

/// Loss and error of the model on each split at one point of weight space.
#[derive(Clone, Debug, PartialEq)]
pub struct PointEval {
    pub per_split: Vec<(Split, Eval)>,
}

/// Evaluates `θf + Σ λᵢ·dᵢ` by overwriting `model`'s parameters in place.
pub struct Evaluator<'a> {
    model: &'a Model,
    theta: Params,
    /// θf's BN buffers (running mean/var, batch count), restored by [`Evaluator::restore`].
    buffers: Vec<Tensor>,
    data: &'a EvalData,
    pub config: EvalConfig,
    base: Option<PointEval>,
    /// Number of evaluated points (cache hits excluded).
    pub evaluations: usize,
}

impl<'a> Evaluator<'a> {
    /// Takes θf from `model`'s current parameters.
    pub fn new(model: &'a Model, data: &'a EvalData, config: EvalConfig) -> Self {
        let buffers = model.entries().iter().filter(|e| !e.role.is_learnable()).map(|e| e.tensor.copy()).collect();
        Self { model, theta: Params::of(model), buffers, data, config, base: None, evaluations: 0 }
    }

    /// θf.
    pub fn theta(&self) -> &Params {
        &self.theta
    }

    pub fn model(&self) -> &Model {
        self.model
    }

    /// The data the points are evaluated on.
    pub fn data(&self) -> &EvalData {
        self.data
    }

    /// Loss and error at `θf + Σ λᵢ·dᵢ`. The point with every λᵢ = 0 is θf itself and is
    /// evaluated once, then served from a cache (it does not depend on the directions).
    pub fn at(&mut self, shifts: &[(&Params, f64)]) -> PointEval {
        let at_theta = shifts.iter().all(|(_, l)| *l == 0.0);
        if at_theta {
            if let Some(b) = &self.base {
                return b.clone();
            }
        }
        match shifts.split_first() {
            Some(((d, l), rest)) if !at_theta => {
                self.theta.write_shifted(d, *l, self.model);
                tch::no_grad(|| {
                    for (d, l) in rest {
                        for (e, t) in self.model.parameters().zip(&d.tensors) {
                            let _ = e.tensor.shallow_clone().g_add_(&(t * *l));
                        }
                    }
                });
            }
            _ => self.theta.write_to(self.model),
        }
        self.restore_buffers();
        self.config.apply_bn(self.model, &self.data.bn_set);
        let per_split = self.data.splits.iter().map(|(s, set)| (*s, self.config.evaluate(self.model, set))).collect();
        let p = PointEval { per_split };
        self.evaluations += 1;
        if at_theta {
            self.base = Some(p.clone());
        }
        p
    }

    /// The curve along `d`: one [`PointEval`] per λ.
    pub fn sweep(&mut self, d: &Params, lambdas: &[f64]) -> Vec<PointEval> {
        lambdas.iter().map(|&l| self.at(&[(d, l)])).collect()
    }

    /// Puts θf and its BN statistics back into the model.
    pub fn restore(&self) {
        self.theta.write_to(self.model);
        self.restore_buffers();
    }

    fn restore_buffers(&self) {
        tch::no_grad(|| {
            for (e, b) in self.model.entries().iter().filter(|e| !e.role.is_learnable()).zip(&self.buffers) {
                e.tensor.shallow_clone().copy_(b);
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::run::{self, LandscapeSpec};
    use valley::eval::{evaluate, recompute_bn, BnPolicy};
    use valley::noise::{Context, Noise, Norm, SignMode};
    use valley::params::Group;
    use valley::ModelConfig;

    /// A small BN network and random data, so no dataset files are needed.
    fn setup() -> (Model, EvalData) {
        let mut cfg = ModelConfig::new("cnn".parse().unwrap(), 1, 8, 3);
        cfg.width = 0.25;
        let set = |n: i64| TensorSet {
            x: Tensor::randn([n, 1, 8, 8], (tch::Kind::Float, Device::Cpu)),
            y: Tensor::randint(3, [n], (tch::Kind::Int64, Device::Cpu)),
            num_classes: 3,
        };
        let (model, test, bn_set) =
            valley::device::with_seed(7, || (Model::new(&cfg, Device::Cpu).unwrap(), set(50), set(64)));
        let data = EvalData {
            dataset: "synthetic".into(),
            files: vec![],
            normalisation: Normalisation::identity(1),
            normalisation_from_checkpoint: false,
            splits: vec![(Split::Test, test)],
            bn_set,
            bn_indices: (0..64).collect(),
            train_size: 64,
        };
        (model, data)
    }

    fn spec() -> LandscapeSpec {
        LandscapeSpec {
            noises: vec![Noise::Gaussian],
            signs: vec![SignMode::AsSampled, SignMode::Consistent],
            scales: vec![1.0],
            norm: Norm::Ns { per_tensor: false },
            groups: vec![Group::All],
            seeds: vec![3],
            lambdas: vec![-1.0, 0.0, 1.0],
            error_delta: 0.05,
            loss_ratio: 0.5,
        }
    }

    const BN: EvalConfig = EvalConfig {
        bn: BnPolicy::Recompute,
        bn_batch: 16,
        bn_batches: 4,
        eval_batch: 7,
        bn_seed: 0,
        bn_augment: false,
    };

    #[test]
    fn lambda_zero_equals_plain_evaluation_of_theta_f() {
        let (model, data) = setup();
        let curves = {
            let mut ev = Evaluator::new(&model, &data, BN);
            run::run(&spec(), &mut ev, &Context::default(), None, &[], &mut |_| {}).unwrap()
        };
        // θf, BN re-estimated the same way, evaluated directly.
        recompute_bn(&model, &data.bn_set, BN.bn_batch, BN.bn_batches);
        let plain = evaluate(&model, &data.splits[0].1, 50);
        for c in &curves {
            assert!((c.loss[1] - plain.loss).abs() < 1e-6, "{} vs {}", c.loss[1], plain.loss);
            assert_eq!(c.error[1], plain.error());
        }
    }

    #[test]
    fn keep_policy_at_lambda_zero_is_evaluate_and_model_is_restored() {
        let (model, data) = setup();
        let before = Params::of(&model);
        let plain = evaluate(&model, &data.splits[0].1, 50);
        let mut ev = Evaluator::new(&model, &data, EvalConfig { bn: BnPolicy::Keep, eval_batch: 50, ..BN });
        let curves = run::run(&spec(), &mut ev, &Context::default(), None, &[], &mut |_| {}).unwrap();
        assert_eq!(curves[0].loss[1], plain.loss);
        let after = Params::of(&model);
        assert!(
            before.tensors.iter().zip(&after.tensors).all(|(a, b)| a.equal(b)),
            "θf must be restored after the run"
        );
        assert_eq!(evaluate(&model, &data.splits[0].1, 50), plain, "BN statistics must be restored");
    }

    #[test]
    fn curves_are_identical_when_run_twice_with_the_same_seed() {
        let (model, data) = setup();
        let go = |seed: u64| {
            let mut s = spec();
            s.seeds = vec![seed];
            let mut ev = Evaluator::new(&model, &data, EvalConfig { eval_batch: 16, ..BN });
            run::run(&s, &mut ev, &Context::default(), None, &[], &mut |_| {}).unwrap()
        };
        let (a, b, c) = (go(3), go(3), go(4));
        for (x, y) in a.iter().zip(&b) {
            assert_eq!((&x.loss, &x.error), (&y.loss, &y.error));
        }
        assert_ne!(a[0].loss, c[0].loss, "another seed gives another direction");
    }
}
