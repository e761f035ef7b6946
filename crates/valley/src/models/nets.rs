//! Forward passes of the architectures, laid out as the equivalent PyTorch modules in
//! `python/valley_models.py` so that `load_state_dict` accepts valley's checkpoints.

use tch::Tensor;

use super::layers::{max_pool2, BatchNorm2d, Conv2d, Linear, Mode, Registry};
use super::{Arch, ModelConfig};
use crate::{Error, Result};

/// Optional sink for hidden pre-activations (finding 8's activation states).
type Taps<'a> = Option<&'a mut Vec<Tensor>>;

fn relu(xs: Tensor, taps: &mut Taps) -> Tensor {
    if let Some(t) = taps.as_deref_mut() {
        t.push(xs.flatten(1, -1));
    }
    xs.relu()
}

pub(crate) enum Net {
    Linear { classifier: Linear },
    Mlp { hidden: Vec<Linear>, classifier: Linear },
    Vgg { features: Vec<VggLayer>, hidden: Vec<Linear>, classifier: Linear },
    Resnet { conv1: Conv2d, bn1: BatchNorm2d, stages: Vec<BasicBlock>, fc: Linear },
}

pub(crate) enum VggLayer {
    Conv(Conv2d, Option<BatchNorm2d>),
    Pool,
}

pub(crate) struct BasicBlock {
    conv1: Conv2d,
    bn1: BatchNorm2d,
    conv2: Conv2d,
    bn2: BatchNorm2d,
    downsample: Option<(Conv2d, BatchNorm2d)>,
}

impl BasicBlock {
    fn new(r: &mut Registry, prefix: &str, cin: i64, cout: i64, stride: i64) -> Self {
        // PyTorch registers conv1, bn1, conv2, bn2 before downsample; keep that order.
        let conv1 = r.conv(&format!("{prefix}.conv1"), cin, cout, 3, stride, false);
        let bn1 = r.batch_norm(&format!("{prefix}.bn1"), cout);
        let conv2 = r.conv(&format!("{prefix}.conv2"), cout, cout, 3, 1, false);
        let bn2 = r.batch_norm(&format!("{prefix}.bn2"), cout);
        let downsample = (stride != 1 || cin != cout).then(|| {
            (
                r.conv(&format!("{prefix}.downsample.0"), cin, cout, 1, stride, false),
                r.batch_norm(&format!("{prefix}.downsample.1"), cout),
            )
        });
        Self { conv1, bn1, conv2, bn2, downsample }
    }

    fn forward(&self, xs: &Tensor, mode: Mode, taps: &mut Taps) -> Tensor {
        let h = relu(self.bn1.forward(&self.conv1.forward(xs), mode), taps);
        let h = self.bn2.forward(&self.conv2.forward(&h), mode);
        let shortcut = match &self.downsample {
            Some((conv, bn)) => bn.forward(&conv.forward(xs), mode),
            None => xs.shallow_clone(),
        };
        relu(h + shortcut, taps)
    }
}

pub(crate) fn vgg_cfg(depth: u8) -> &'static [i64] {
    // 0 marks a max-pool, as 'M' in torchvision's cfgs.
    match depth {
        11 => &[64, 0, 128, 0, 256, 256, 0, 512, 512, 0, 512, 512, 0],
        13 => &[64, 64, 0, 128, 128, 0, 256, 256, 0, 512, 512, 0, 512, 512, 0],
        16 => &[64, 64, 0, 128, 128, 0, 256, 256, 256, 0, 512, 512, 512, 0, 512, 512, 512, 0],
        _ => &[64, 64, 0, 128, 128, 0, 256, 256, 256, 256, 0, 512, 512, 512, 512, 0, 512, 512, 512, 512, 0],
    }
}

/// The small CNN is a VGG-style stack: conv-BN-ReLU ×2, pool, conv-BN-ReLU ×2, pool.
pub(crate) const CNN_CFG: &[i64] = &[32, 32, 0, 64, 64, 0];

/// Builds the net and returns it with the classifier prefix and the LAYER1 prefixes.
pub(crate) fn build(c: &ModelConfig, r: &mut Registry) -> Result<(Net, String, Vec<String>)> {
    let flat = c.in_channels * c.image_size * c.image_size;
    match c.arch {
        Arch::Linear => {
            let classifier = r.linear("classifier", flat, c.num_classes, false);
            Ok((Net::Linear { classifier }, "classifier".into(), vec!["classifier".into()]))
        }
        Arch::Mlp => {
            let mut hidden = Vec::new();
            let mut input = flat;
            for (i, &h) in c.hidden.iter().enumerate() {
                let h = c.scaled(h);
                hidden.push(r.linear(&format!("features.{}", 2 * i), input, h, true));
                input = h;
            }
            let classifier = r.linear("classifier", input, c.num_classes, true);
            let layer1 = if c.hidden.is_empty() { "classifier" } else { "features.0" };
            Ok((Net::Mlp { hidden, classifier }, "classifier".into(), vec![layer1.into()]))
        }
        Arch::Cnn => build_vgg(c, r, CNN_CFG, true, &[256]),
        Arch::Vgg { depth, bn } => build_vgg(c, r, vgg_cfg(depth), bn, &[512, 512]),
        Arch::Resnet20 => build_resnet(c, r, 16, &[(16, 1), (32, 2), (64, 2)], 3),
        Arch::Resnet18 => build_resnet(c, r, 64, &[(64, 1), (128, 2), (256, 2), (512, 2)], 2),
    }
}

fn build_vgg(
    c: &ModelConfig,
    r: &mut Registry,
    cfg: &[i64],
    bn: bool,
    hidden_widths: &[i64],
) -> Result<(Net, String, Vec<String>)> {
    let mut features = Vec::new();
    let mut layer1 = Vec::new();
    let (mut index, mut channels, mut size) = (0usize, c.in_channels, c.image_size);
    let mut pooled = false;
    for &v in cfg {
        if v == 0 {
            // A pool on a 1x1 map is impossible; small inputs (28x28) skip the last one(s).
            if size >= 2 {
                features.push(VggLayer::Pool);
                size /= 2;
                index += 1;
            }
            pooled = true;
            continue;
        }
        let out = c.scaled(v);
        let conv = r.conv(&format!("features.{index}"), channels, out, 3, 1, true);
        if !pooled {
            layer1.push(format!("features.{index}"));
        }
        let norm = bn.then(|| r.batch_norm(&format!("features.{}", index + 1), out));
        if bn && !pooled {
            layer1.push(format!("features.{}", index + 1));
        }
        index += if bn { 3 } else { 2 };
        features.push(VggLayer::Conv(conv, norm));
        channels = out;
    }
    if size < 1 {
        return Err(Error::Config(format!("input size {} too small for {}", c.image_size, c.arch)));
    }
    let mut hidden = Vec::new();
    let mut input = channels * size * size;
    for (i, &h) in hidden_widths.iter().enumerate() {
        let h = c.scaled(h);
        hidden.push(r.linear(&format!("classifier.{}", 2 * i), input, h, true));
        input = h;
    }
    let clf = format!("classifier.{}", 2 * hidden_widths.len());
    let classifier = r.linear(&clf, input, c.num_classes, true);
    if !bn {
        // PyTorch's default init shrinks the signal by about √6 per ReLU layer; without BN to
        // restore it an 11-layer VGG stays at chance (Fashion-MNIST, width 0.25: 10.0 % after
        // 6 epochs at lr 0.01–0.05, and with torchvision's fan_out conv init too). He's init
        // keeps the signal's scale (PyTorch twin, 12,000 images: 77 % train accuracy in 3 epochs).
        for layer in &features {
            if let VggLayer::Conv(conv, _) = layer {
                conv.init_he();
            }
        }
        hidden.iter().chain([&classifier]).for_each(Linear::init_he);
    }
    Ok((Net::Vgg { features, hidden, classifier }, clf, layer1))
}

fn build_resnet(
    c: &ModelConfig,
    r: &mut Registry,
    stem: i64,
    stages: &[(i64, i64)],
    blocks: usize,
) -> Result<(Net, String, Vec<String>)> {
    let stem = c.scaled(stem);
    let conv1 = r.conv("conv1", c.in_channels, stem, 3, 1, false);
    let bn1 = r.batch_norm("bn1", stem);
    let mut all = Vec::new();
    let mut cin = stem;
    for (s, &(width, stride)) in stages.iter().enumerate() {
        let cout = c.scaled(width);
        for b in 0..blocks {
            let prefix = format!("layer{}.{b}", s + 1);
            all.push(BasicBlock::new(r, &prefix, cin, cout, if b == 0 { stride } else { 1 }));
            cin = cout;
        }
    }
    let fc = r.linear("fc", cin, c.num_classes, true);
    let layer1 = vec!["conv1".into(), "bn1".into(), "layer1".into()];
    Ok((Net::Resnet { conv1, bn1, stages: all, fc }, "fc".into(), layer1))
}

impl Net {
    /// Logits and the representation fed to the final classifier layer.
    pub fn forward(&self, xs: &Tensor, mode: Mode) -> (Tensor, Tensor) {
        self.run(xs, mode, &mut None)
    }

    /// Evaluation-mode forward that records every hidden pre-activation.
    pub fn forward_tapped(&self, xs: &Tensor, taps: &mut Vec<Tensor>) {
        let _ = self.run(xs, Mode::Eval, &mut Some(taps));
    }

    fn run(&self, xs: &Tensor, mode: Mode, taps: &mut Taps) -> (Tensor, Tensor) {
        match self {
            Net::Linear { classifier } => {
                let h = xs.flatten(1, -1);
                (classifier.forward(&h), h)
            }
            Net::Mlp { hidden, classifier } => {
                let h = mlp_stack(xs.flatten(1, -1), hidden, taps);
                (classifier.forward(&h), h)
            }
            Net::Vgg { features, hidden, classifier } => {
                let mut h = xs.shallow_clone();
                for layer in features {
                    h = match layer {
                        VggLayer::Pool => max_pool2(&h),
                        VggLayer::Conv(conv, bn) => {
                            let z = conv.forward(&h);
                            let z = match bn {
                                Some(bn) => bn.forward(&z, mode),
                                None => z,
                            };
                            relu(z, taps)
                        }
                    };
                }
                let h = mlp_stack(h.flatten(1, -1), hidden, taps);
                (classifier.forward(&h), h)
            }
            Net::Resnet { conv1, bn1, stages, fc } => {
                let mut h = relu(bn1.forward(&conv1.forward(xs), mode), taps);
                for block in stages {
                    h = block.forward(&h, mode, taps);
                }
                let h = h.adaptive_avg_pool2d([1, 1]).flatten(1, -1);
                (fc.forward(&h), h)
            }
        }
    }
}

fn mlp_stack(mut h: Tensor, layers: &[Linear], taps: &mut Taps) -> Tensor {
    for layer in layers {
        h = relu(layer.forward(&h), taps);
    }
    h
}
