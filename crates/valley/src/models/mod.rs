//! The paper's classifiers (MLP, small CNN, VGG with and without BN, ResNet-20, ResNet-18,
//! and the linear softmax model of the theory section) with PyTorch's parameter names.
//!
//! A [`Model`] owns an ordered list of named tensors ([`Entry`]); everything outside this
//! module works on those names and never on layer internals, so the engine stays swappable.

mod layers;
mod nets;

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use tch::{Device, Tensor};

use crate::{Error, Result};
pub use layers::Mode;
use nets::Net;

/// BN weight initialisation studied in the paper's finding 5 (BN bias always starts at 0).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum BnInit {
    /// γ = 1 (PyTorch's default).
    #[default]
    Ones,
    /// γ ~ U(0, 1).
    Uniform,
    /// γ ~ G(0, 0.1²), i.e. standard deviation 0.1.
    Gauss,
}

impl FromStr for BnInit {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "ones" | "one" | "1" => Ok(Self::Ones),
            "uniform" => Ok(Self::Uniform),
            "gauss" | "gaussian" => Ok(Self::Gauss),
            _ => Err(Error::Config(format!("unknown BN init `{s}` (expected ones, uniform or gauss)"))),
        }
    }
}

/// The architectures valley can build.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Arch {
    /// Multinomial logistic regression without intercept (the paper's theory model).
    Linear,
    Mlp,
    /// Four 3x3 conv layers with BN, two max-pools, a two-layer classifier.
    Cnn,
    Vgg {
        depth: u8,
        bn: bool,
    },
    Resnet20,
    Resnet18,
}

impl Arch {
    pub const NAMES: &'static str =
        "linear, mlp, cnn, vgg11, vgg11-bn, vgg13, vgg13-bn, vgg16, vgg16-bn, vgg19, vgg19-bn, resnet20, resnet18";

    pub fn name(&self) -> String {
        match self {
            Arch::Linear => "linear".into(),
            Arch::Mlp => "mlp".into(),
            Arch::Cnn => "cnn".into(),
            Arch::Vgg { depth, bn } => format!("vgg{depth}{}", if *bn { "-bn" } else { "" }),
            Arch::Resnet20 => "resnet20".into(),
            Arch::Resnet18 => "resnet18".into(),
        }
    }

    /// Conv widths of the VGG/CNN feature stack (0 = max-pool); `None` for other nets.
    pub(crate) fn feature_stack(&self) -> Option<&'static [i64]> {
        match self {
            Arch::Cnn => Some(nets::CNN_CFG),
            Arch::Vgg { depth, .. } => Some(nets::vgg_cfg(*depth)),
            _ => None,
        }
    }

    pub fn has_bn(&self) -> bool {
        matches!(self, Arch::Cnn | Arch::Vgg { bn: true, .. } | Arch::Resnet20 | Arch::Resnet18)
    }
}

impl fmt::Display for Arch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name())
    }
}

impl FromStr for Arch {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        let arch = match s {
            "linear" | "softmax" => Arch::Linear,
            "mlp" => Arch::Mlp,
            "cnn" => Arch::Cnn,
            "resnet20" => Arch::Resnet20,
            "resnet18" => Arch::Resnet18,
            _ => {
                let (base, bn) = match s.strip_suffix("-bn") {
                    Some(base) => (base, true),
                    None => (s, false),
                };
                match base.strip_prefix("vgg").and_then(|d| d.parse::<u8>().ok()) {
                    Some(depth @ (11 | 13 | 16 | 19)) => Arch::Vgg { depth, bn },
                    _ => return Err(Error::Config(format!("unknown model `{s}` (expected one of {})", Arch::NAMES))),
                }
            }
        };
        Ok(arch)
    }
}

/// Everything needed to rebuild a model; stored in every checkpoint's metadata.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ModelConfig {
    pub arch: Arch,
    pub in_channels: i64,
    pub image_size: i64,
    pub num_classes: i64,
    /// Channel/width multiplier (1.0 = the paper's widths).
    pub width: f64,
    /// Hidden widths of the MLP.
    pub hidden: Vec<i64>,
    pub bn_init: BnInit,
}

impl ModelConfig {
    pub fn new(arch: Arch, in_channels: i64, image_size: i64, num_classes: i64) -> Self {
        Self { arch, in_channels, image_size, num_classes, width: 1.0, hidden: vec![512, 512], bn_init: BnInit::Ones }
    }

    pub fn validate(&self) -> Result<()> {
        let bad = |msg: String| Err(Error::Config(msg));
        if !(self.width > 0.0 && self.width.is_finite()) {
            return bad(format!("width multiplier must be positive, got {}", self.width));
        }
        if self.in_channels < 1 || self.image_size < 1 || self.num_classes < 2 {
            return bad(format!(
                "model needs ≥1 input channel, image size ≥1 and ≥2 classes (got {}x{}x{}, {} classes)",
                self.in_channels, self.image_size, self.image_size, self.num_classes
            ));
        }
        if self.hidden.iter().any(|&h| h < 1) {
            return bad(format!("MLP hidden widths must be ≥1, got {:?}", self.hidden));
        }
        // Far beyond any model here; keeps C·S² and the layer sizes from overflowing.
        const LIMIT: i64 = 1 << 16;
        let too_big = self.in_channels > LIMIT
            || self.image_size > LIMIT
            || self.num_classes > LIMIT * 16
            || self.hidden.iter().any(|&h| h > LIMIT * 16)
            || self.width > 64.0;
        if too_big {
            return bad(format!(
                "model sizes out of range: {}x{}x{} inputs, {} classes, hidden {:?}, width {} (limits: {LIMIT} channels \
                 and pixels per side, {} classes and hidden units, width 64)",
                self.in_channels,
                self.image_size,
                self.image_size,
                self.num_classes,
                self.hidden,
                self.width,
                LIMIT * 16
            ));
        }
        Ok(())
    }

    /// Channels scaled by the width multiplier, never below 1.
    pub(crate) fn scaled(&self, channels: i64) -> i64 {
        ((channels as f64 * self.width).round() as i64).max(1)
    }
}

/// What a tensor is, so parameter groups and BN handling need no name parsing.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Role {
    ConvWeight,
    LinearWeight,
    Bias,
    BnWeight,
    BnBias,
    BnRunningMean,
    BnRunningVar,
    BnBatchCount,
}

impl Role {
    /// Learnable parameters (BN running statistics and counters are buffers).
    pub fn is_learnable(&self) -> bool {
        !matches!(self, Role::BnRunningMean | Role::BnRunningVar | Role::BnBatchCount)
    }
}

/// One named tensor of a model.
pub struct Entry {
    pub name: String,
    pub tensor: Tensor,
    pub role: Role,
}

/// A classifier: its configuration, its named tensors and its forward pass.
pub struct Model {
    config: ModelConfig,
    entries: Vec<Entry>,
    net: Net,
    device: Device,
    /// Module paths of the final classifier layer (group CLF).
    classifier_prefix: String,
    /// Module paths of the stem and first stage (group LAYER1).
    layer1_prefixes: Vec<String>,
}

impl Model {
    /// Builds a model with a fresh initialisation drawn from the global generator as it stands;
    /// for a fixed θ0 use [`Model::seeded`]. (A model about to be overwritten by a checkpoint
    /// needs no seed.)
    pub fn new(config: &ModelConfig, device: Device) -> Result<Self> {
        config.validate()?;
        let mut registry = layers::Registry { entries: Vec::new(), device, bn_init: config.bn_init };
        let (net, classifier_prefix, layer1_prefixes) = crate::device::unseeded(|| nets::build(config, &mut registry))?;
        Ok(Self { config: config.clone(), entries: registry.entries, net, device, classifier_prefix, layer1_prefixes })
    }

    /// Builds the model whose θ0 the seed fixes, whatever other threads draw meanwhile.
    pub fn seeded(config: &ModelConfig, seed: u64, device: Device) -> Result<Self> {
        crate::device::with_seed(seed, || Self::new(config, device))
    }

    pub fn config(&self) -> &ModelConfig {
        &self.config
    }

    pub fn device(&self) -> Device {
        self.device
    }

    /// All tensors (parameters and buffers) in registration order.
    pub fn entries(&self) -> &[Entry] {
        &self.entries
    }

    /// Learnable parameters in registration order (BN weight and bias included).
    pub fn parameters(&self) -> impl Iterator<Item = &Entry> {
        self.entries.iter().filter(|e| e.role.is_learnable())
    }

    pub fn num_parameters(&self) -> i64 {
        self.parameters().map(|e| e.tensor.numel() as i64).sum()
    }

    pub fn entry(&self, name: &str) -> Option<&Entry> {
        self.entries.iter().find(|e| e.name == name)
    }

    pub fn classifier_prefix(&self) -> &str {
        &self.classifier_prefix
    }

    pub fn layer1_prefixes(&self) -> &[String] {
        &self.layer1_prefixes
    }

    /// Logits for a batch `[N, C, H, W]` (or `[N, D]` for flat models).
    pub fn forward(&self, xs: &Tensor, mode: Mode) -> Tensor {
        self.net.forward(xs, mode).0
    }

    /// Logits and the penultimate representation (MOON's contrastive features).
    pub fn forward_with_features(&self, xs: &Tensor, mode: Mode) -> (Tensor, Tensor) {
        self.net.forward(xs, mode)
    }

    /// Pre-activation values of every hidden ReLU, flattened per sample (for the activation
    /// confusion matrix of finding 8).
    pub fn hidden_preactivations(&self, xs: &Tensor) -> Vec<Tensor> {
        let mut taps = Vec::new();
        self.net.forward_tapped(xs, &mut taps);
        taps
    }

    /// Copies every tensor of `other` into this model (same architecture required).
    pub fn copy_from(&self, other: &Model) -> Result<()> {
        self.check_same_layout(other)?;
        tch::no_grad(|| {
            for (dst, src) in self.entries.iter().zip(&other.entries) {
                dst.tensor.shallow_clone().copy_(&src.tensor);
            }
        });
        Ok(())
    }

    /// Fails with the first differing tensor when two models are not the same architecture.
    pub fn check_same_layout(&self, other: &Model) -> Result<()> {
        if self.entries.len() != other.entries.len() {
            return Err(Error::TensorCount {
                left: self.entries.len(),
                right: other.entries.len(),
                left_arch: self.config.arch.to_string(),
                right_arch: other.config.arch.to_string(),
            });
        }
        for (a, b) in self.entries.iter().zip(&other.entries) {
            if a.name != b.name || a.tensor.size() != b.tensor.size() {
                return Err(Error::TensorDiffers {
                    left: a.name.clone(),
                    left_shape: a.tensor.size(),
                    right: b.name.clone(),
                    right_shape: b.tensor.size(),
                });
            }
        }
        Ok(())
    }

    /// Resets BN running statistics to PyTorch's initial values (mean 0, var 1, count 0).
    pub fn reset_bn_statistics(&self) {
        tch::no_grad(|| {
            for e in &self.entries {
                let mut t = e.tensor.shallow_clone();
                match e.role {
                    Role::BnRunningMean | Role::BnBatchCount => {
                        let _ = t.zero_();
                    }
                    Role::BnRunningVar => {
                        let _ = t.fill_(1.0);
                    }
                    _ => {}
                }
            }
        });
    }
}
