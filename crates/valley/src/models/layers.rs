//! Layers whose tensors carry PyTorch's names and layouts.
//!
//! Each layer registers its tensors in a [`Registry`] under the module path PyTorch would
//! give them (`features.0.weight`, `layer1.0.bn1.running_var`, ...). The layer keeps
//! shallow clones, so the registry and the forward pass share storage.

use tch::{Kind, Tensor};

use super::{BnInit, Entry, Role};

/// Builds a model's tensors in a fixed order with PyTorch's default initialisation.
pub(crate) struct Registry {
    pub entries: Vec<Entry>,
    pub device: tch::Device,
    pub bn_init: BnInit,
}

impl Registry {
    fn add(&mut self, name: String, tensor: Tensor, role: Role) -> Tensor {
        let tensor = if role.is_learnable() { tensor.set_requires_grad(true) } else { tensor };
        self.entries.push(Entry { name, tensor: tensor.shallow_clone(), role });
        tensor
    }

    /// U(-1/√fan_in, 1/√fan_in): PyTorch's kaiming_uniform(a=√5) for weights and its bias rule.
    fn uniform_fan_in(&self, shape: &[i64], fan_in: i64) -> Tensor {
        let bound = 1.0 / (fan_in as f64).sqrt();
        Tensor::empty(shape, (Kind::Float, self.device)).uniform_(-bound, bound)
    }

    pub fn linear(&mut self, prefix: &str, input: i64, output: i64, bias: bool) -> Linear {
        let w = self.uniform_fan_in(&[output, input], input);
        let weight = self.add(format!("{prefix}.weight"), w, Role::LinearWeight);
        let bias = bias.then(|| {
            let b = self.uniform_fan_in(&[output], input);
            self.add(format!("{prefix}.bias"), b, Role::Bias)
        });
        Linear { weight, bias }
    }

    pub fn conv(&mut self, prefix: &str, cin: i64, cout: i64, k: i64, stride: i64, bias: bool) -> Conv2d {
        let fan_in = cin * k * k;
        let w = self.uniform_fan_in(&[cout, cin, k, k], fan_in);
        let weight = self.add(format!("{prefix}.weight"), w, Role::ConvWeight);
        let bias = bias.then(|| {
            let b = self.uniform_fan_in(&[cout], fan_in);
            self.add(format!("{prefix}.bias"), b, Role::Bias)
        });
        Conv2d { weight, bias, stride, padding: k / 2 }
    }

    pub fn batch_norm(&mut self, prefix: &str, channels: i64) -> BatchNorm2d {
        let opts = (Kind::Float, self.device);
        let w = match self.bn_init {
            BnInit::Ones => Tensor::ones([channels], opts),
            BnInit::Uniform => Tensor::empty([channels], opts).uniform_(0.0, 1.0),
            BnInit::Gauss => Tensor::empty([channels], opts).normal_(0.0, 0.1),
        };
        BatchNorm2d {
            weight: self.add(format!("{prefix}.weight"), w, Role::BnWeight),
            bias: self.add(format!("{prefix}.bias"), Tensor::zeros([channels], opts), Role::BnBias),
            running_mean: self.add(
                format!("{prefix}.running_mean"),
                Tensor::zeros([channels], opts),
                Role::BnRunningMean,
            ),
            running_var: self.add(format!("{prefix}.running_var"), Tensor::ones([channels], opts), Role::BnRunningVar),
            num_batches_tracked: self.add(
                format!("{prefix}.num_batches_tracked"),
                Tensor::zeros([], (Kind::Int64, self.device)),
                Role::BnBatchCount,
            ),
        }
    }
}

/// How a forward pass treats batch normalisation.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Mode {
    /// Running statistics are used, nothing is updated.
    Eval,
    /// Batch statistics are used; running statistics move by PyTorch's momentum 0.1.
    Train,
    /// Batch statistics are used; running statistics become the cumulative average of all
    /// batches since the last reset (PyTorch's `momentum=None`), as the paper re-estimates them.
    Recompute,
}

pub struct Linear {
    weight: Tensor,
    bias: Option<Tensor>,
}

impl Linear {
    pub fn forward(&self, xs: &Tensor) -> Tensor {
        xs.linear(&self.weight, self.bias.as_ref())
    }
}

pub struct Conv2d {
    weight: Tensor,
    bias: Option<Tensor>,
    stride: i64,
    padding: i64,
}

impl Conv2d {
    pub fn forward(&self, xs: &Tensor) -> Tensor {
        xs.conv2d(&self.weight, self.bias.as_ref(), [self.stride; 2], [self.padding; 2], [1, 1], 1)
    }
}

pub struct BatchNorm2d {
    weight: Tensor,
    bias: Tensor,
    running_mean: Tensor,
    running_var: Tensor,
    num_batches_tracked: Tensor,
}

impl BatchNorm2d {
    const EPS: f64 = 1e-5;

    pub fn forward(&self, xs: &Tensor, mode: Mode) -> Tensor {
        let training = mode != Mode::Eval;
        let momentum = match mode {
            Mode::Eval => 0.0,
            Mode::Train => {
                self.count_batch();
                0.1
            }
            Mode::Recompute => 1.0 / self.count_batch() as f64,
        };
        xs.batch_norm(
            Some(&self.weight),
            Some(&self.bias),
            Some(&self.running_mean),
            Some(&self.running_var),
            training,
            momentum,
            Self::EPS,
            false,
        )
    }

    /// Increments `num_batches_tracked` and returns the new count.
    fn count_batch(&self) -> i64 {
        let n = self.num_batches_tracked.int64_value(&[]) + 1;
        tch::no_grad(|| {
            let _ = self.num_batches_tracked.shallow_clone().fill_(n);
        });
        n
    }
}
