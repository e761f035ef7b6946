//! What every reproduction reports about the trained models it measured (PAPER.md §6: the
//! regime is part of the result): accuracy, how far training went, how much of the network
//! sits behind BN, and how far θf moved from θ0 in sign.

use std::path::Path;

use valley::checkpoint::Checkpoint;
use valley::params::{ssr, Group, Params};
use valley::train::{read_metrics, DataConfig, OptimConfig, RunDir, Schedule, TrainConfig};
use valley::{Arch, ModelConfig};
use valley_data::DatasetKind;

use crate::{Budget, Result};

/// The base networks the valley findings train (PAPER.md §6: conv nets whose parameters are
/// nearly all conv weights followed by BN, with a small head, trained until the training loss
/// plateaus; and a network without BN where a finding needs one).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BaseNet {
    /// The paper's main family: VGG16-BN at the paper budget; at the cpu budget VGG11-BN at
    /// width 0.25, whose 28×28 features end at 1×1×128, so the head is a 128-128-10 classifier
    /// (4 % of the parameters): the global-pooling head a narrow VGG needs.
    VggBn,
    /// CIFAR ResNet-20 with basic blocks (the paper's SVHN network), width 0.5 at the cpu budget.
    Resnet20,
    /// Without BN: VGG11, the paper's network without BN, at VggBn's width (0.25 at the cpu
    /// budget) with He's initialisation, which a plain 11-layer ReLU net needs to leave chance
    /// (valley's VGG without BN uses it); an MLP at the smoke budget.
    NoBn,
}

/// [choice] Epochs of a cpu-budget base network: the cosine schedule reaches 0 at the end of
/// them, so the training loss flattens over the last epochs (`ModelRecord::last_epoch_loss_drop`
/// reports how much it still fell; PLATEAU_DROP is the bound).
pub const CPU_EPOCHS: usize = 15;

/// A base network counts as trained to a plateau when its last epoch lowered the training loss
/// by less than this share of the epoch before's.
pub const PLATEAU_DROP: f64 = 0.05;

/// The training of base network `net` at `budget`: the paper's recipe (SGD lr 0.03, momentum
/// 0.9, weight decay 5e-4, batch 256, cosine). At the cpu budget: the full Fashion-MNIST
/// training split with random crops (padding 4) and horizontal flips; at smoke: a small CNN on
/// 3,000 images for 2 epochs, which checks the code paths, not the science.
pub fn base_config(budget: Budget, net: BaseNet) -> TrainConfig {
    let (dataset, channels, size) =
        if budget == Budget::Paper { (DatasetKind::Cifar10, 3, 32) } else { (DatasetKind::FashionMnist, 1, 28) };
    let arch = match net {
        BaseNet::VggBn => budget.pick(Arch::Cnn, Arch::Vgg { depth: 11, bn: true }, Arch::Vgg { depth: 16, bn: true }),
        BaseNet::Resnet20 => Arch::Resnet20,
        BaseNet::NoBn => budget.pick(Arch::Mlp, Arch::Vgg { depth: 11, bn: false }, Arch::Vgg { depth: 11, bn: false }),
    };
    let mut data = DataConfig::new(dataset);
    data.train_limit = budget.pick(Some(3000), None, None);
    data.test_limit = budget.pick(Some(300), None, None);
    data.augment = budget.pick(None, Some(true), None);
    let mut model = ModelConfig::new(arch, channels, size, 10);
    model.width = match (budget, net) {
        (Budget::Smoke, _) => 0.25,
        (Budget::Cpu, BaseNet::VggBn | BaseNet::NoBn) => 0.25,
        (Budget::Cpu, _) => 0.5,
        (Budget::Paper, _) => 1.0,
    };
    let mut optim = OptimConfig::default();
    if arch == (Arch::Vgg { depth: 11, bn: false }) {
        // [choice] kept from the paper budget, where VGG without BN diverged at the BN networks' 0.03
        optim.lr = 0.01;
    }
    TrainConfig {
        data,
        model,
        optim,
        schedule: Schedule::Cosine,
        epochs: budget.pick(2, CPU_EPOCHS, 200),
        batch_size: 256,
        seed: 0,
        save_epochs: vec![],
        eval_batch: 1000,
    }
}

/// One trained model of a reproduction, as `verdict.json` and the report state it.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ModelRecord {
    /// The cache folder it was trained into (`<arch>-<dataset>-<config hash>`).
    pub run: String,
    pub arch: String,
    pub width: f64,
    /// BN weight initialisation (none without BN; not recorded before 2026-12-02's second run).
    #[serde(default)]
    pub bn_init: Option<valley::BnInit>,
    pub dataset: String,
    /// Training images used (all of the split when the config sets no limit).
    pub train_images: Option<usize>,
    pub epochs: usize,
    pub test_accuracy: f64,
    pub final_train_loss: f64,
    /// (loss of the second-to-last epoch − last) / second-to-last: near 0 on a plateau.
    pub last_epoch_loss_drop: Option<f64>,
    /// Share of the learnable parameters that are conv weights followed by BN.
    pub bn_share: f64,
    /// SSR(θ0, θf) over all learnable parameters.
    pub ssr_init_final: f64,
}

impl ModelRecord {
    /// The record of the model trained by `cfg` in `run`.
    pub fn of(cfg: &TrainConfig, run: &Path, device: valley::Device) -> Result<Self> {
        let dir = RunDir::new(run);
        let epochs = read_metrics(&dir.metrics())?;
        let last = epochs.last();
        let drop = match epochs.as_slice() {
            [.., a, b] if a.train_loss > 0.0 => Some((a.train_loss - b.train_loss) / a.train_loss),
            _ => None,
        };
        let final_model = Checkpoint::read(&dir.final_())?.to_model(None, device)?;
        let theta_f = Params::of(&final_model);
        let theta_0 = Params::of(&Checkpoint::read(&dir.init())?.to_model(None, device)?);
        let count = |mask: Option<&[bool]>| {
            theta_f
                .tensors
                .iter()
                .enumerate()
                .filter(|(i, _)| mask.is_none_or(|m| m[*i]))
                .map(|(_, t)| t.numel())
                .sum::<usize>()
        };
        // Networks without BN have no parameter behind BN (and an MLP no conv to mask).
        let bn_share = if cfg.model.arch.has_bn() {
            count(Some(&Group::Conv.mask(&final_model)?)) as f64 / count(None).max(1) as f64
        } else {
            0.0
        };
        Ok(Self {
            run: run.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default(),
            arch: cfg.model.arch.name(),
            width: cfg.model.width,
            bn_init: cfg.model.arch.has_bn().then_some(cfg.model.bn_init),
            dataset: cfg.data.dataset.name().to_string(),
            train_images: cfg.data.train_limit,
            epochs: cfg.epochs,
            test_accuracy: last.map_or(f64::NAN, |r| r.test_accuracy),
            final_train_loss: last.map_or(f64::NAN, |r| r.train_loss),
            last_epoch_loss_drop: drop,
            bn_share,
            ssr_init_final: ssr(&theta_0, &theta_f, None),
        })
    }

    /// One line for logs and reports.
    pub fn summary(&self) -> String {
        format!(
            "{} (width {}) on {} ({} training images, {} epochs): test accuracy {:.2} %, final training loss {:.4}{}, {:.1} % of parameters conv weights followed by BN, SSR(θ0, θf) = {:.3}",
            self.arch,
            self.width,
            self.dataset,
            self.train_images.map_or("all".to_string(), |n| n.to_string()),
            self.epochs,
            100.0 * self.test_accuracy,
            self.final_train_loss,
            self.last_epoch_loss_drop.map_or(String::new(), |d| format!(" (last epoch {:+.1} %)", -100.0 * d)),
            100.0 * self.bn_share,
            self.ssr_init_final
        )
    }
}
