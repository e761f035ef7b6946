//! Evaluation: loss and accuracy of a model on a split, and BN re-estimation after the
//! weights change (landscapes, interpolation, merging, soups).
//!
//! Every command that evaluates changed weights takes one [`EvalConfig`]; its `Default`
//! holds the paper's settings. The samples that re-estimate BN statistics are always a
//! seeded draw from the training samples ([`EvalConfig::bn_draw`]), so a run records which
//! ones it used and a rerun uses the same ones. A network trained on augmented images has BN
//! statistics of augmented batches, so its re-estimation samples are augmented the same way
//! (`bn_augment`), once, by a seeded stream: PyTorch's `update_bn(train_loader, model)` does
//! the same with the training loader's transforms.

use rand::seq::SliceRandom;
use serde::{Deserialize, Serialize};
use tch::{Kind, Tensor};

use crate::models::{Mode, Model};
use crate::rng::{self, tag};
use crate::tensors::TensorSet;
use crate::{Error, Result};

/// A dataset split a model is evaluated on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Split {
    Train,
    Test,
}

impl Split {
    pub fn name(&self) -> &'static str {
        match self {
            Split::Train => "train",
            Split::Test => "test",
        }
    }
}

impl std::fmt::Display for Split {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for Split {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s.trim() {
            "train" => Ok(Split::Train),
            "test" => Ok(Split::Test),
            _ => Err(Error::Config(format!("unknown split `{s}` (expected train, test or train,test)"))),
        }
    }
}

/// Loss and accuracy of a model on a split.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Eval {
    pub loss: f64,
    pub accuracy: f64,
}

impl Eval {
    pub fn error(&self) -> f64 {
        1.0 - self.accuracy
    }
}

/// Mean cross-entropy `(1/N) Σᵢ −log softmax(f(xᵢ))_{yᵢ}` and accuracy in evaluation
/// mode, without gradients, in batches of `batch` rows.
pub fn evaluate(model: &Model, set: &TensorSet, batch: usize) -> Eval {
    let batch = batch.max(1);
    tch::no_grad(|| {
        let (mut loss, mut correct) = (0.0, 0i64);
        let n = set.len();
        let mut start = 0;
        while start < n {
            let len = batch.min(n - start);
            let (x, y) = set.slice(start, len);
            let (l, c) = batch_totals(model, &x, &y);
            loss += l;
            correct += c;
            start += len;
        }
        let n = n.max(1) as f64;
        Eval { loss: loss / n, accuracy: correct as f64 / n }
    })
}

/// Summed cross-entropy and number of correct predictions of one batch `x` `[B, C, H, W]`,
/// `y` `[B]`, in evaluation mode (call inside `no_grad`). [`evaluate`] and the federated
/// server's parallel evaluation add these up.
pub fn batch_totals(model: &Model, x: &Tensor, y: &Tensor) -> (f64, i64) {
    let logits = model.forward(x, Mode::Eval);
    let loss = logits.cross_entropy_loss::<Tensor>(y, None, tch::Reduction::Sum, -100, 0.0).double_value(&[]);
    let correct = logits.argmax(-1, false).eq_tensor(y).sum(Kind::Int64).int64_value(&[]);
    (loss, correct)
}

/// What happens to BN running statistics when the weights change.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum BnPolicy {
    /// Reset and re-estimate as a cumulative average over training batches (the paper).
    #[default]
    Recompute,
    /// Keep the statistics the weights came with: θf's in a landscape, the interpolated or
    /// averaged statistics of the inputs in interpolation and merging.
    Keep,
}

impl BnPolicy {
    pub fn name(&self) -> &'static str {
        match self {
            Self::Recompute => "recompute",
            Self::Keep => "keep",
        }
    }
}

impl std::fmt::Display for BnPolicy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for BnPolicy {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "recompute" => Ok(Self::Recompute),
            // `average` is `valley merge`'s word for keeping the inputs' averaged statistics.
            "keep" | "average" => Ok(Self::Keep),
            _ => Err(Error::Config(format!("unknown BN policy `{s}` (expected recompute or keep)"))),
        }
    }
}

/// Whether BN re-estimation samples are augmented, as asked on the command line or in Python;
/// [`BnAugment::resolve`] turns it into [`EvalConfig::bn_augment`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BnAugment {
    /// As the checkpoint's recorded training did (no when it records none).
    AsTrained,
    Yes,
    No,
}

impl BnAugment {
    /// Augmented or not, for checkpoint `ck` (`None`: no checkpoint records a training).
    pub fn resolve(self, ck: Option<&crate::checkpoint::Checkpoint>) -> Result<bool> {
        match (self, ck) {
            (Self::AsTrained, Some(ck)) => crate::train::trained_with_augmentation(ck),
            (Self::AsTrained, None) | (Self::No, _) => Ok(false),
            (Self::Yes, _) => Ok(true),
        }
    }
}

impl std::str::FromStr for BnAugment {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "as-trained" => Ok(Self::AsTrained),
            "yes" => Ok(Self::Yes),
            "no" => Ok(Self::No),
            _ => Err(Error::Config(format!("unknown BN augmentation `{s}` (expected as-trained, yes or no)"))),
        }
    }
}

/// How changed weights are evaluated; recorded beside every result.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EvalConfig {
    /// BN running statistics at each evaluated point.
    pub bn: BnPolicy,
    /// Samples per BN re-estimation batch.
    pub bn_batch: usize,
    /// BN re-estimation batches (the same ones, in the same order, at every point).
    pub bn_batches: usize,
    /// Evaluation batch size (no gradients, so large batches are cheap).
    pub eval_batch: usize,
    /// Seed of the draw of BN re-estimation samples from the training samples.
    #[serde(default)]
    pub bn_seed: u64,
    /// Augment the drawn BN samples as training did (random crop with padding 4, horizontal
    /// flip). Statistics from clean images do not match weights trained on augmented ones:
    /// the cpu budget's ResNet-20 measures 88.7 % test accuracy with them, 92.5 % with
    /// augmented ones and 92.4 % with its running statistics (docs/results/bn-augment).
    #[serde(default)]
    pub bn_augment: bool,
}

impl Default for EvalConfig {
    /// The paper's setting: BN re-estimated from 20 batches of 256 training samples.
    fn default() -> Self {
        Self { bn: BnPolicy::Recompute, bn_batch: 256, bn_batches: 20, eval_batch: 1000, bn_seed: 0, bn_augment: false }
    }
}

/// BN re-estimation samples: their indices in the training samples, and the samples.
pub struct BnSample {
    pub indices: Vec<usize>,
    pub set: TensorSet,
}

impl EvalConfig {
    /// Refuses zero batch sizes and counts.
    pub fn validate(&self) -> Result<()> {
        if self.bn_batch == 0 || self.bn_batches == 0 || self.eval_batch == 0 {
            return Err(Error::Config(format!(
                "BN batch, BN batches and evaluation batch must be ≥ 1 (got {}, {}, {})",
                self.bn_batch, self.bn_batches, self.eval_batch
            )));
        }
        Ok(())
    }

    /// Number of BN re-estimation samples, `bn_batch · bn_batches`.
    pub fn bn_samples(&self) -> usize {
        self.bn_batch.max(1) * self.bn_batches
    }

    /// The BN re-estimation samples drawn from `pool` (indices of the training samples that
    /// may be used): `pool` shuffled by the stream `(bn_seed, [BN])`, then its first
    /// `bn_batch · bn_batches` entries (all of them when the pool is smaller).
    pub fn bn_draw(&self, pool: &[usize]) -> Vec<usize> {
        let mut order = pool.to_vec();
        order.shuffle(&mut rng::stream(self.bn_seed, &[tag::BN]));
        order.truncate(self.bn_samples());
        order
    }

    /// The BN re-estimation samples drawn from all of `train`.
    pub fn bn_sample(&self, train: &TensorSet) -> BnSample {
        let pool: Vec<usize> = (0..train.len()).collect();
        self.bn_sample_from(train, &pool)
    }

    /// The BN re-estimation samples drawn from the rows `pool` of `train`, augmented once
    /// by the stream `(bn_seed, [BN, AUGMENT])` when `bn_augment` is set.
    pub fn bn_sample_from(&self, train: &TensorSet, pool: &[usize]) -> BnSample {
        let indices = self.bn_draw(pool);
        let mut set = train.subset(&indices);
        if self.bn_augment {
            set = augmented(&set, &mut rng::stream(self.bn_seed, &[tag::BN, tag::AUGMENT]));
        }
        BnSample { indices, set }
    }

    /// Applies the BN policy to `model` as it stands: with `recompute`, re-estimates its
    /// statistics from `bn` (the drawn samples); with `keep`, leaves them.
    pub fn apply_bn(&self, model: &Model, bn: &TensorSet) {
        if self.bn == BnPolicy::Recompute {
            recompute_bn(model, bn, self.bn_batch, self.bn_batches);
        }
    }

    /// This configuration with `bn_augment` set as the run that wrote `ck` trained.
    pub fn as_trained(self, ck: &crate::checkpoint::Checkpoint) -> Result<Self> {
        Ok(Self { bn_augment: crate::train::trained_with_augmentation(ck)?, ..self })
    }

    /// [`evaluate`] with this configuration's batch size.
    pub fn evaluate(&self, model: &Model, set: &TensorSet) -> Eval {
        evaluate(model, set, self.eval_batch)
    }
}

/// `set` with every image cropped and flipped as in training ([`valley_data::augment_crop_flip`]).
fn augmented(set: &TensorSet, rng: &mut impl rand::Rng) -> TensorSet {
    let s = set.x.size();
    let shape = [s[0], s[1], s[2], s[3]].map(|d| d as usize);
    let x = crate::tensors::crop_flip(crate::tensors::to_vec_f32(&set.x), shape, set.x.device(), rng);
    TensorSet { x, y: set.y.shallow_clone(), num_classes: set.num_classes }
}

/// Re-estimates BN running statistics: reset, then forward `batches` consecutive batches of
/// `batch` rows of `samples` in train mode, so that each statistic is the cumulative average
/// `(1/B) Σ_b stat_b` (PyTorch's momentum = None). No-op for models without BN.
pub fn recompute_bn(model: &Model, samples: &TensorSet, batch: usize, batches: usize) {
    if !model.config().arch.has_bn() {
        return;
    }
    let batch = batch.max(1);
    model.reset_bn_statistics();
    tch::no_grad(|| {
        let n = samples.len();
        for b in 0..batches {
            let start = b * batch;
            if start >= n {
                break;
            }
            let (x, _) = samples.slice(start, batch.min(n - start));
            let _ = model.forward(&x, Mode::Recompute);
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_is_the_papers_setting() {
        let c = EvalConfig::default();
        assert_eq!((c.bn, c.bn_batch, c.bn_batches, c.eval_batch, c.bn_seed), (BnPolicy::Recompute, 256, 20, 1000, 0));
        assert!(c.validate().is_ok());
        assert!(EvalConfig { bn_batches: 0, ..c }.validate().is_err());
    }

    #[test]
    fn bn_augment_parses_and_resolves_without_a_checkpoint() {
        let parse = |s: &str| s.parse::<BnAugment>();
        assert_eq!(parse("as-trained").unwrap(), BnAugment::AsTrained);
        assert!(parse("yes").unwrap().resolve(None).unwrap());
        assert!(!parse("no").unwrap().resolve(None).unwrap());
        assert!(!BnAugment::AsTrained.resolve(None).unwrap(), "no recorded training: not augmented");
        let e = parse("maybe").unwrap_err().to_string();
        assert!(e.contains("`maybe`") && e.contains("as-trained, yes or no"), "{e}");
    }

    #[test]
    fn bn_draw_is_seeded_distinct_and_from_the_pool() {
        let c = EvalConfig { bn_batch: 4, bn_batches: 3, ..EvalConfig::default() };
        let pool: Vec<usize> = (100..200).collect();
        let a = c.bn_draw(&pool);
        assert_eq!(a.len(), 12);
        assert!(a.iter().all(|i| pool.contains(i)));
        let mut u = a.clone();
        u.sort();
        u.dedup();
        assert_eq!(u.len(), 12, "no sample drawn twice");
        assert_eq!(a, c.bn_draw(&pool), "same seed, same draw");
        assert_ne!(a, EvalConfig { bn_seed: 1, ..c }.bn_draw(&pool), "another seed, another draw");
        assert_eq!(c.bn_draw(&pool[..5]).len(), 5, "a small pool is used whole");
    }

    /// 12 images 1×4×4 whose pixels are 1 + their index, labels 0..12.
    fn images() -> TensorSet {
        let x = Tensor::arange(12 * 16, (Kind::Float, tch::Device::Cpu)).reshape([12, 1, 4, 4]) + 1.0;
        TensorSet { x, y: Tensor::arange(12, (Kind::Int64, tch::Device::Cpu)), num_classes: 12 }
    }

    #[test]
    fn bn_samples_are_augmented_only_when_asked_and_by_a_seeded_stream() {
        let train = images();
        let c = EvalConfig { bn_batch: 4, bn_batches: 2, ..EvalConfig::default() };
        let clean = c.bn_sample(&train);
        let expected = train.subset(&clean.indices);
        assert!(clean.set.x.equal(&expected.x), "without bn_augment the drawn images are unchanged");
        let aug = EvalConfig { bn_augment: true, ..c };
        let (a, b) = (aug.bn_sample(&train), aug.bn_sample(&train));
        assert_eq!(a.indices, clean.indices, "augmenting does not change which samples are drawn");
        assert!(a.set.y.equal(&clean.set.y), "labels stay with their images");
        assert!(a.set.x.equal(&b.set.x), "same seed, same augmented images");
        assert!(!a.set.x.equal(&clean.set.x), "the images are cropped or flipped");
        // Every augmented pixel is padding (0) or a pixel of the same source image.
        let (ax, cx) = (crate::tensors::to_vec_f32(&a.set.x), crate::tensors::to_vec_f32(&clean.set.x));
        for (out, src) in ax.chunks(16).zip(cx.chunks(16)) {
            assert!(out.iter().all(|v| *v == 0.0 || src.contains(v)));
        }
    }

    #[test]
    fn bn_policy_parses_its_names_and_refuses_others() {
        for p in [BnPolicy::Recompute, BnPolicy::Keep] {
            assert_eq!(p.name().parse::<BnPolicy>().unwrap(), p);
        }
        assert_eq!("average".parse::<BnPolicy>().unwrap(), BnPolicy::Keep);
        assert!("recomputed".parse::<BnPolicy>().is_err());
    }
}
