//! Flat views of a model's learnable parameters, parameter groups, signs and the
//! sign-same ratio (SSR).
//!
//! [`Params`] is an ordered list of named tensors in the model's parameter order (BN weight
//! and bias included, BN running statistics excluded). All vector algebra of the paper
//! (θf + λ·d, θB − θA, ‖θ‖, sign(θ)) works on it.

use std::fmt;
use std::str::FromStr;

use regex::Regex;
use tch::{Kind, Tensor};

use crate::models::{Model, Role};
use crate::{Error, Result};

/// Learnable tensors by name, detached from autograd.
pub struct Params {
    pub names: Vec<String>,
    pub tensors: Vec<Tensor>,
}

impl Clone for Params {
    fn clone(&self) -> Self {
        self.map(|t| t.copy())
    }
}

impl Params {
    /// A detached copy of `model`'s learnable parameters.
    pub fn of(model: &Model) -> Self {
        let (names, tensors) = model.parameters().map(|e| (e.name.clone(), e.tensor.detach().copy())).unzip();
        Self { names, tensors }
    }

    /// Builds from named tensors (e.g. a direction read from a file), in `model`'s order.
    pub fn from_named(model: &Model, get: impl Fn(&str) -> Option<Tensor>, source: &str) -> Result<Self> {
        let mut tensors = Vec::new();
        let mut names = Vec::new();
        for e in model.parameters() {
            let t = get(&e.name).ok_or_else(|| Error::Mismatch(format!("{source} has no tensor `{}`", e.name)))?;
            if t.size() != e.tensor.size() {
                return Err(Error::Mismatch(format!(
                    "{source}: tensor `{}` has shape {:?}, the model expects {:?}",
                    e.name,
                    t.size(),
                    e.tensor.size()
                )));
            }
            names.push(e.name.clone());
            tensors.push(t.to_kind(Kind::Float).to_device(e.tensor.device()));
        }
        Ok(Self { names, tensors })
    }

    /// Copies these values into the model's parameters (in place, no allocation).
    pub fn write_to(&self, model: &Model) {
        tch::no_grad(|| {
            for (e, t) in model.parameters().zip(&self.tensors) {
                e.tensor.shallow_clone().copy_(t);
            }
        });
    }

    /// Sets the model's parameters to `self + λ·d` in place (θ(λ) = θf + λ·d).
    pub fn write_shifted(&self, d: &Params, lambda: f64, model: &Model) {
        tch::no_grad(|| {
            for ((e, t), dt) in model.parameters().zip(&self.tensors).zip(&d.tensors) {
                let mut p = e.tensor.shallow_clone();
                p.copy_(t);
                let _ = p.g_add_(&(dt * lambda));
            }
        });
    }

    pub fn map(&self, f: impl Fn(&Tensor) -> Tensor) -> Self {
        Self { names: self.names.clone(), tensors: self.tensors.iter().map(f).collect() }
    }

    pub fn zip_map(&self, other: &Params, f: impl Fn(&Tensor, &Tensor) -> Tensor) -> Self {
        Self {
            names: self.names.clone(),
            tensors: self.tensors.iter().zip(&other.tensors).map(|(a, b)| f(a, b)).collect(),
        }
    }

    /// `a·self + b·other`.
    pub fn combine(&self, a: f64, other: &Params, b: f64) -> Self {
        self.zip_map(other, |x, y| x * a + y * b)
    }

    pub fn numel(&self) -> i64 {
        self.tensors.iter().map(|t| t.numel() as i64).sum()
    }

    /// Global Frobenius norm over the tensors selected by `mask` (all when `None`).
    pub fn norm(&self, mask: Option<&[bool]>) -> f64 {
        self.tensors
            .iter()
            .enumerate()
            .filter(|(i, _)| mask.is_none_or(|m| m[*i]))
            .map(|(_, t)| t.square().sum(Kind::Double).double_value(&[]))
            .sum::<f64>()
            .sqrt()
    }

    /// Sets tensors outside `mask` to zero.
    pub fn masked(&self, mask: &[bool]) -> Self {
        let tensors =
            self.tensors.iter().zip(mask).map(|(t, &m)| if m { t.shallow_clone() } else { t.zeros_like() }).collect();
        Self { names: self.names.clone(), tensors }
    }

    /// All values concatenated into one flat f32 vector (for histograms and statistics).
    pub fn flat(&self, mask: Option<&[bool]>) -> Tensor {
        let parts: Vec<Tensor> = self
            .tensors
            .iter()
            .enumerate()
            .filter(|(i, _)| mask.is_none_or(|m| m[*i]))
            .map(|(_, t)| t.flatten(0, -1).to_kind(Kind::Float))
            .collect();
        if parts.is_empty() {
            Tensor::zeros([0], (Kind::Float, tch::Device::Cpu))
        } else {
            Tensor::cat(&parts, 0)
        }
    }

    pub fn get(&self, name: &str) -> Option<&Tensor> {
        self.names.iter().position(|n| n == name).map(|i| &self.tensors[i])
    }
}

/// The paper's sign with sign(0) = −1: `+1` where x > 0, else `−1`.
pub fn sign_pm1(x: &Tensor) -> Tensor {
    x.gt(0.0).to_kind(Kind::Float) * 2.0 - 1.0
}

/// sgp(x) = 1 where x > 0, else 0.
pub fn sgp(x: &Tensor) -> Tensor {
    x.gt(0.0).to_kind(Kind::Float)
}

/// Sign-same ratio: the fraction of elements where `sign(a) = sign(b)` (zero counts as its
/// own sign), over the tensors selected by `mask`.
pub fn ssr(a: &Params, b: &Params, mask: Option<&[bool]>) -> f64 {
    let (mut same, mut total) = (0i64, 0i64);
    for (i, (x, y)) in a.tensors.iter().zip(&b.tensors).enumerate() {
        if mask.is_some_and(|m| !m[i]) {
            continue;
        }
        same += x.sign().eq_tensor(&y.sign()).sum(Kind::Int64).int64_value(&[]);
        total += x.numel() as i64;
    }
    if total == 0 {
        f64::NAN
    } else {
        same as f64 / total as f64
    }
}

/// The parameter groups of the paper (§1) and any regex over parameter names.
#[derive(Clone, Debug)]
pub enum Group {
    All,
    /// Final classifier layer, weight and bias.
    Clf,
    /// Everything but the final classifier layer.
    Feat,
    /// Stem and first stage (ResNet) or the first conv block (VGG/CNN).
    Layer1,
    /// All conv weights.
    Conv,
    /// All BN weights and biases.
    Bn,
    BnWeight,
    ClfWeight,
    ClfBias,
    /// Weights (conv, linear) outside the classifier.
    OtherWeight,
    /// Biases (conv, linear, BN) outside the classifier.
    OtherBias,
    Regex(Regex),
}

impl Group {
    /// The named groups, in the order the paper lists them.
    pub const NAMED: [&'static str; 11] = [
        "ALL",
        "CLF",
        "FEAT",
        "LAYER1",
        "CONV",
        "BN",
        "BN-weight",
        "CLF-weight",
        "CLF-bias",
        "other-weight",
        "other-bias",
    ];

    /// All named groups.
    pub fn named() -> Vec<Group> {
        Self::NAMED.iter().map(|n| n.parse().expect("named groups parse")).collect()
    }

    /// Which of `model`'s parameters belong to the group (in parameter order).
    pub fn mask(&self, model: &Model) -> Result<Vec<bool>> {
        let clf = model.classifier_prefix();
        let in_clf = |name: &str| name.starts_with(&format!("{clf}."));
        let in_layer1 = |name: &str| model.layer1_prefixes().iter().any(|p| name.starts_with(&format!("{p}.")));
        let mask: Vec<bool> = model
            .parameters()
            .map(|e| {
                let (n, r) = (e.name.as_str(), e.role);
                let is_weight = matches!(r, Role::ConvWeight | Role::LinearWeight);
                match self {
                    Group::All => true,
                    Group::Clf => in_clf(n),
                    Group::Feat => !in_clf(n),
                    Group::Layer1 => in_layer1(n),
                    Group::Conv => r == Role::ConvWeight,
                    Group::Bn => matches!(r, Role::BnWeight | Role::BnBias),
                    Group::BnWeight => r == Role::BnWeight,
                    Group::ClfWeight => in_clf(n) && is_weight,
                    Group::ClfBias => in_clf(n) && r == Role::Bias,
                    Group::OtherWeight => !in_clf(n) && is_weight,
                    Group::OtherBias => !in_clf(n) && matches!(r, Role::Bias | Role::BnBias),
                    Group::Regex(re) => re.is_match(n),
                }
            })
            .collect();
        if !mask.iter().any(|&m| m) {
            return Err(Error::Config(format!(
                "parameter group `{self}` selects no parameter of model {} (names look like `{}`)",
                model.config().arch,
                model.parameters().next().map(|e| e.name.as_str()).unwrap_or("")
            )));
        }
        Ok(mask)
    }
}

impl fmt::Display for Group {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = match self {
            Group::All => "ALL",
            Group::Clf => "CLF",
            Group::Feat => "FEAT",
            Group::Layer1 => "LAYER1",
            Group::Conv => "CONV",
            Group::Bn => "BN",
            Group::BnWeight => "BN-weight",
            Group::ClfWeight => "CLF-weight",
            Group::ClfBias => "CLF-bias",
            Group::OtherWeight => "other-weight",
            Group::OtherBias => "other-bias",
            Group::Regex(re) => return write!(f, "re:{}", re.as_str()),
        };
        f.write_str(s)
    }
}

impl FromStr for Group {
    type Err = Error;
    /// A group name (case-insensitive) or a regex over parameter names (`re:` prefix optional).
    fn from_str(s: &str) -> Result<Self> {
        let g = match s.to_ascii_lowercase().replace('_', "-").as_str() {
            "all" => Group::All,
            "clf" => Group::Clf,
            "feat" => Group::Feat,
            "layer1" => Group::Layer1,
            "conv" => Group::Conv,
            "bn" => Group::Bn,
            "bn-weight" => Group::BnWeight,
            "clf-weight" => Group::ClfWeight,
            "clf-bias" => Group::ClfBias,
            "other-weight" => Group::OtherWeight,
            "other-bias" => Group::OtherBias,
            _ => {
                let pattern = s.strip_prefix("re:").unwrap_or(s);
                if pattern.is_empty() {
                    return Err(Error::Config("empty parameter-group regex".into()));
                }
                let re = Regex::new(pattern).map_err(|e| {
                    Error::Config(format!(
                        "group `{s}` is neither a group name ({}) nor a valid regex: {e}",
                        Group::NAMED.join(", ")
                    ))
                })?;
                Group::Regex(re)
            }
        };
        Ok(g)
    }
}

/// Mean and standard deviation of the parameters in a group.
pub fn group_stats(p: &Params, mask: &[bool]) -> (f64, f64) {
    let flat = p.flat(Some(mask)).to_kind(Kind::Double);
    if flat.numel() == 0 {
        return (f64::NAN, f64::NAN);
    }
    let mean = flat.mean(Kind::Double).double_value(&[]);
    let std = if flat.numel() > 1 { flat.std(true).double_value(&[]) } else { 0.0 };
    (mean, std)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Arch, ModelConfig};

    fn model(arch: &str) -> Model {
        tch::manual_seed(0);
        let cfg = ModelConfig::new(arch.parse().unwrap(), 1, 28, 10);
        Model::new(&cfg, tch::Device::Cpu).unwrap()
    }

    #[test]
    fn ssr_with_self_is_one_and_with_negation_zero() {
        let m = model("cnn");
        let p = Params::of(&m);
        assert_eq!(ssr(&p, &p, None), 1.0);
        // BN biases start at exactly 0 and keep their sign under negation; use BN-free tensors.
        let w = Group::OtherWeight.mask(&m).unwrap();
        assert_eq!(ssr(&p, &p.map(|t| -t), Some(&w)), 0.0);
    }

    #[test]
    fn groups_partition_the_parameters() {
        for arch in ["cnn", "vgg11-bn", "resnet20", "mlp"] {
            let m = model(arch);
            let all = Group::All.mask(&m).unwrap();
            let clf = Group::Clf.mask(&m).unwrap();
            let feat = Group::Feat.mask(&m).unwrap();
            assert!(all.iter().all(|&x| x));
            assert!(clf.iter().zip(&feat).all(|(a, b)| a != b), "{arch}: CLF and FEAT must split ALL");
            let parts = ["CLF-weight", "CLF-bias", "other-weight", "other-bias", "BN-weight"];
            let masks: Vec<Vec<bool>> =
                parts.iter().map(|g| g.parse::<Group>().unwrap().mask(&m).unwrap_or_default()).collect();
            for i in 0..all.len() {
                let hits = masks.iter().filter(|mk| mk.get(i).copied().unwrap_or(false)).count();
                assert_eq!(hits, 1, "{arch}: parameter {i} must be in exactly one two-model group");
            }
        }
    }

    #[test]
    fn layer1_of_resnet_is_stem_and_first_stage() {
        let m = model("resnet20");
        let mask = Group::Layer1.mask(&m).unwrap();
        let names: Vec<&str> = m.parameters().zip(&mask).filter(|(_, &k)| k).map(|(e, _)| e.name.as_str()).collect();
        assert!(names.contains(&"conv1.weight") && names.contains(&"layer1.2.bn2.bias"));
        assert!(!names.iter().any(|n| n.starts_with("layer2")));
    }

    #[test]
    fn bad_groups_are_rejected() {
        let m = model("mlp");
        assert!(Group::Bn.mask(&m).is_err(), "an MLP has no BN parameters");
        assert!("re:(".parse::<Group>().is_err());
        assert!("re:".parse::<Group>().is_err());
        assert!("re:^nothing$".parse::<Group>().unwrap().mask(&m).is_err());
        let _ = Arch::Mlp;
    }

    #[test]
    fn sign_convention_maps_zero_to_minus_one() {
        let x = Tensor::from_slice(&[-2.0f32, 0.0, 3.0]);
        assert_eq!(Vec::<f32>::try_from(&sign_pm1(&x)).unwrap(), vec![-1.0, -1.0, 1.0]);
        assert_eq!(Vec::<f32>::try_from(&sgp(&x)).unwrap(), vec![0.0, 0.0, 1.0]);
    }
}
