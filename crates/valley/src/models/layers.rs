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

/// Weights N(0, 2/fan_in), with fan_in every dimension but the first; bias 0.
fn init_he(weight: &Tensor, bias: Option<&Tensor>) {
    let fan_in: i64 = weight.size()[1..].iter().product();
    tch::no_grad(|| {
        let _ = weight.shallow_clone().normal_(0.0, (2.0 / fan_in as f64).sqrt());
        if let Some(b) = bias {
            let _ = b.shallow_clone().zero_();
        }
    });
}

pub struct Linear {
    weight: Tensor,
    bias: Option<Tensor>,
}

impl Linear {
    /// He initialisation, as [`Conv2d::init_he`].
    pub fn init_he(&self) {
        init_he(&self.weight, self.bias.as_ref());
    }

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
    /// He initialisation: weights N(0, 2/fan_in) (PyTorch's kaiming_normal, fan_in, ReLU),
    /// bias 0.
    pub fn init_he(&self) {
        init_he(&self.weight, self.bias.as_ref());
    }

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
        if mode == Mode::Recompute && !xs.requires_grad() {
            if let Some(out) = self.recompute_without_grad(xs) {
                return out;
            }
        }
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

    /// [`Mode::Recompute`] for an input `[N, C, H, W]` that needs no gradient, with the batch
    /// statistics from ATen's vectorised reductions: `μ = mean(x)`, `σ² = mean((x − μ)²)` over
    /// N, H, W, then `y = γ(x − μ)/√(σ² + ε) + β` and the cumulative averages
    /// `r_μ ← (1 − 1/k)·r_μ + μ/k`, `r_σ² ← (1 − 1/k)·r_σ² + σ²·n/(n − 1)/k` for the k-th batch
    /// of n = N·H·W values per channel. Same formulas as ATen's train-mode kernel, whose NCHW
    /// statistics loop is scalar and took a third of a CNN's BN re-estimation; results agree
    /// to float rounding. `None` (use ATen) for other shapes and for a single value per channel.
    fn recompute_without_grad(&self, xs: &Tensor) -> Option<Tensor> {
        let size = xs.size();
        let n = match size.as_slice() {
            [n, _, h, w] => n * h * w,
            _ => return None,
        };
        if n < 2 {
            return None;
        }
        let k = self.count_batch() as f64;
        let dims = [0i64, 2, 3];
        let mean = xs.mean_dim(dims.as_slice(), false, None);
        let var = (xs - mean.view([1, -1, 1, 1])).square().mean_dim(dims.as_slice(), false, None);
        tch::no_grad(|| {
            let keep = 1.0 - 1.0 / k;
            let _ = self.running_mean.shallow_clone().g_mul_scalar_(keep).g_add_(&(&mean / k));
            let unbiased = n as f64 / (n - 1) as f64;
            let _ = self.running_var.shallow_clone().g_mul_scalar_(keep).g_add_(&(&var * (unbiased / k)));
        });
        Some(xs.batch_norm(Some(&self.weight), Some(&self.bias), Some(&mean), Some(&var), false, 0.0, Self::EPS, false))
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

/// PyTorch's `max_pool2d(x, 2)`: the maximum of each 2×2 window of `[N, C, H, W]`, stride 2,
/// odd trailing rows and columns dropped.
///
/// Without gradients no argmax indices are needed, and the maximum of the four strided
/// quarter-grids gives the same values (max is exact) with vectorised element-wise kernels;
/// ATen's NCHW pooling kernel is scalar and took a quarter of a CNN's evaluation.
///
/// With gradients (training), a contiguous float CPU input takes [`window_argmax`]'s indices
/// and `y = gather(x.view(N, C, H·W), 2, idx)`: the same values, and the same gradient, since
/// gather's backward adds each output gradient into a zeroed input at its index exactly as
/// ATen's pooling backward does. ATen's forward kernel was a fifth of a narrow VGG's training
/// step. Other inputs (CUDA, half precision, strided) take ATen's kernel.
pub fn max_pool2(xs: &Tensor) -> Tensor {
    let size = xs.size();
    match size.as_slice() {
        [_, _, h, w] if !xs.requires_grad() => {
            let (h, w) = (h / 2 * 2, w / 2 * 2);
            let quarter = |i: i64, j: i64| xs.slice(2, i, h, 2).slice(3, j, w, 2);
            quarter(0, 0).maximum(&quarter(0, 1)).maximum(&quarter(1, 0).maximum(&quarter(1, 1)))
        }
        &[n, c, h, w]
            if n * c > 0
                && h >= 2
                && w >= 2
                && xs.device() == tch::Device::Cpu
                && xs.kind() == Kind::Float
                && xs.is_contiguous() =>
        {
            let idx = window_argmax(xs, n * c, h, w);
            xs.view([n, c, h * w]).gather(2, &idx.view([n, c, -1]), false).view([n, c, h / 2, w / 2])
        }
        _ => xs.max_pool2d_default(2),
    }
}

/// For a contiguous float CPU tensor holding `planes` maps of `h × w` (`h, w ≥ 2`), the index
/// `i·w + j` within its map of the maximum of every 2×2 window (stride 2), as an int64
/// `[planes, h/2, w/2]` tensor. ATen's rule, so gradients go where PyTorch's go: the window is
/// scanned row by row, and an element replaces the running maximum (start −∞, index of the
/// window's first element) when it is greater or NaN, so ties keep the first maximum.
fn window_argmax(xs: &Tensor, planes: i64, h: i64, w: i64) -> Tensor {
    let (oh, ow) = (h / 2, w / 2);
    let idx = Tensor::empty([planes, oh, ow], (Kind::Int64, tch::Device::Cpu));
    let (h, w, oh, ow) = (h as usize, w as usize, oh as usize, ow as usize);
    let planes = planes as usize;
    // SAFETY: the caller checked that `xs` is a contiguous float CPU tensor of
    // planes·h·w elements; `idx` was just allocated contiguous with planes·oh·ow int64
    // elements and nothing else refers to it yet. Both outlive the slices.
    let (x, out) = unsafe {
        (
            std::slice::from_raw_parts(xs.data_ptr() as *const f32, planes * h * w),
            std::slice::from_raw_parts_mut(idx.data_ptr() as *mut i64, planes * oh * ow),
        )
    };
    for (plane, out) in x.chunks_exact(h * w).zip(out.chunks_exact_mut(oh * ow)) {
        for (r, out) in out.chunks_exact_mut(ow).enumerate() {
            let top = 2 * r * w;
            let (row0, row1) = (&plane[top..top + w], &plane[top + w..top + 2 * w]);
            for (q, slot) in out.iter_mut().enumerate() {
                let j = 2 * q;
                let mut best = (f32::NEG_INFINITY, top + j);
                for (v, i) in [
                    (row0[j], top + j),
                    (row0[j + 1], top + j + 1),
                    (row1[j], top + w + j),
                    (row1[j + 1], top + w + j + 1),
                ] {
                    if v > best.0 || v.is_nan() {
                        best = (v, i);
                    }
                }
                *slot = best.1 as i64;
            }
        }
    }
    idx
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::device::with_seed;

    #[test]
    fn max_pool2_without_grad_equals_atens_pool_on_even_and_odd_maps() {
        let randn = |seed, shape: &[i64]| with_seed(seed, || Tensor::randn(shape, (Kind::Float, tch::Device::Cpu)));
        for (h, w) in [(8, 8), (7, 5), (2, 3)] {
            let x = randn(1, &[3, 4, h, w]);
            let fast = max_pool2(&x);
            assert_eq!(fast.size(), [3, 4, h / 2, w / 2]);
            assert!(fast.equal(&x.max_pool2d_default(2)), "{h}x{w}");
        }
        let x = randn(2, &[2, 2, 4, 4]).set_requires_grad(true);
        max_pool2(&x).sum(Kind::Float).backward();
        assert_eq!(x.grad().sum(Kind::Float).double_value(&[]), 2.0 * 2.0 * 4.0, "one unit of gradient per window");
    }

    #[test]
    fn max_pool2_with_grad_gives_atens_values_and_gradients_with_ties_and_nan() {
        let opts = (Kind::Float, tch::Device::Cpu);
        for (h, w) in [(8, 8), (7, 5), (2, 3), (32, 32)] {
            // ReLU zeros and small integers make ties common; then one NaN and one −∞ window.
            let x = with_seed(h as u64, || Tensor::randint(4, [3, 4, h, w], opts)) - 1.0;
            let _ = x.get(0).get(0).get(0).get(1).fill_(f64::NAN);
            let _ = x.get(1).get(2).narrow(0, 0, 2).narrow(1, 0, 2).fill_(f64::NEG_INFINITY);
            let ours = x.copy().set_requires_grad(true);
            let aten = x.copy().set_requires_grad(true);
            let (y_ours, y_aten) = (max_pool2(&ours), aten.max_pool2d_default(2));
            assert_eq!(y_ours.size(), [3, 4, h / 2, w / 2]);
            assert!(y_ours.isnan().equal(&y_aten.isnan()), "NaN windows differ at {h}x{w}");
            assert!(y_ours.nan_to_num(0.0, None, None).equal(&y_aten.nan_to_num(0.0, None, None)), "{h}x{w}");
            let g = with_seed(w as u64, || Tensor::randn(y_aten.size(), opts));
            // ∂(Σ y·g)/∂y = g exactly, so each backward receives the same output gradient.
            (y_ours * &g).sum(Kind::Float).backward();
            (y_aten * &g).sum(Kind::Float).backward();
            assert!(ours.grad().equal(&aten.grad()), "gradients differ at {h}x{w}");
            assert_eq!(ours.grad().ne(0.0).sum(Kind::Int64).int64_value(&[]), 3 * 4 * (h / 2) * (w / 2));
        }
    }

    #[test]
    fn recompute_without_grad_matches_atens_train_mode_batch_norm() {
        let bn = |seed| {
            with_seed(seed, || {
                let mut r = Registry { entries: Vec::new(), device: tch::Device::Cpu, bn_init: BnInit::Uniform };
                let bn = r.batch_norm("bn", 3);
                let _ = tch::no_grad(|| bn.bias.shallow_clone().uniform_(-1.0, 1.0));
                bn
            })
        };
        let (fast, aten) = (bn(5), bn(5));
        assert!(fast.weight.equal(&aten.weight) && fast.bias.equal(&aten.bias), "one seed, one initialisation");
        for b in 0..3 {
            let x = with_seed(b as u64, || Tensor::randn([6, 3, 4, 5], (Kind::Float, tch::Device::Cpu))) * (b + 1) + b;
            let y_fast = tch::no_grad(|| fast.forward(&x, Mode::Recompute));
            // A leaf that requires grad sends the same batch through ATen's kernel.
            let y_aten = aten.forward(&x.copy().set_requires_grad(true), Mode::Recompute).detach();
            assert!(y_fast.allclose(&y_aten, 1e-5, 1e-5, false), "output of batch {b}");
        }
        assert!(fast.running_mean.allclose(&aten.running_mean, 1e-5, 1e-6, false));
        assert!(fast.running_var.allclose(&aten.running_var, 1e-5, 1e-6, false));
        assert_eq!(fast.num_batches_tracked.int64_value(&[]), 3);
        assert!(!fast.running_var.allclose(&Tensor::ones([3], (Kind::Float, tch::Device::Cpu)), 1e-3, 1e-3, false));
    }
}
