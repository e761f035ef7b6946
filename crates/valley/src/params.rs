//! Flat views of a model's learnable parameters, parameter groups, signs and the
//! sign-same ratio (SSR).
//!
//! [`Params`] is an ordered list of named tensors with their roles: a model's learnable
//! parameters in parameter order (BN weight and bias included, BN running statistics
//! excluded; [`Params::of`]), or its whole state, parameters and BN buffers in entry order
//! ([`Params::state_of`], what federated clients exchange). All vector algebra of the paper
//! (θf + λ·d, θB − θA, ‖θ‖, sign(θ), the weighted mean of FedAvg) works on it.

use std::fmt;
use std::str::FromStr;

use regex::Regex;
use tch::{Kind, Tensor};

use crate::models::{Entry, Model, Role};
use crate::{Error, Result};

/// Named tensors of a model, detached from autograd: its learnable parameters, or its
/// whole state (see the module doc).
pub struct Params {
    pub names: Vec<String>,
    pub tensors: Vec<Tensor>,
    /// What each tensor is; a BN running statistic or batch counter marks a whole state.
    pub roles: Vec<Role>,
}

impl Clone for Params {
    fn clone(&self) -> Self {
        self.map(|t| t.copy())
    }
}

impl Params {
    /// A detached copy of `model`'s learnable parameters.
    pub fn of(model: &Model) -> Self {
        Self::copy_of(model.parameters())
    }

    /// A detached copy of every tensor of `model`: learnable parameters and BN buffers, in
    /// entry order.
    pub fn state_of(model: &Model) -> Self {
        Self::copy_of(model.entries().iter())
    }

    fn copy_of<'a>(entries: impl Iterator<Item = &'a Entry>) -> Self {
        let (mut names, mut tensors, mut roles) = (Vec::new(), Vec::new(), Vec::new());
        for e in entries {
            names.push(e.name.clone());
            tensors.push(e.tensor.detach().copy());
            roles.push(e.role);
        }
        Self { names, tensors, roles }
    }

    /// Whether this holds BN buffers as well as learnable parameters.
    pub fn has_buffers(&self) -> bool {
        self.roles.iter().any(|r| !r.is_learnable())
    }

    /// The model entries these tensors belong to, in order.
    fn entries_of<'m>(&self, model: &'m Model) -> impl Iterator<Item = &'m Entry> {
        let all = self.has_buffers();
        model.entries().iter().filter(move |e| all || e.role.is_learnable())
    }

    /// Handles to the same storage (read-only sharing, e.g. with a worker thread).
    pub fn share(&self) -> Self {
        self.map(|t| t.shallow_clone())
    }

    /// Indices of the learnable tensors.
    pub fn learnable_indices(&self) -> impl Iterator<Item = usize> + '_ {
        self.roles.iter().enumerate().filter(|(_, r)| r.is_learnable()).map(|(i, _)| i)
    }

    /// The learnable tensors only (shared storage).
    pub fn learnable(&self) -> Params {
        let idx: Vec<usize> = self.learnable_indices().collect();
        Self {
            names: idx.iter().map(|&i| self.names[i].clone()).collect(),
            tensors: idx.iter().map(|&i| self.tensors[i].shallow_clone()).collect(),
            roles: idx.iter().map(|&i| self.roles[i]).collect(),
        }
    }

    /// Named tensors with a prefix, for checkpoints.
    pub fn named(&self, prefix: &str) -> Vec<(String, Tensor)> {
        self.names.iter().zip(&self.tensors).map(|(n, t)| (format!("{prefix}{n}"), t.shallow_clone())).collect()
    }

    /// Reads tensors written by [`Params::named`] with `like`'s names, roles, kinds and
    /// devices; `None` when one is missing or has another shape.
    pub fn from_named_like(like: &Params, prefix: &str, get: &dyn Fn(&str) -> Option<Tensor>) -> Option<Self> {
        let mut tensors = Vec::with_capacity(like.names.len());
        for (n, l) in like.names.iter().zip(&like.tensors) {
            let t = get(&format!("{prefix}{n}"))?;
            if t.size() != l.size() {
                return None;
            }
            tensors.push(t.to_kind(l.kind()).to_device(l.device()));
        }
        Some(Self { names: like.names.clone(), tensors, roles: like.roles.clone() })
    }

    /// `Σ_k w_k·θ_k / Σ_k w_k` for every floating tensor (parameters and BN running
    /// statistics), summed in the given order in f64; BN batch counters and integer tensors
    /// take the maximum. `weights` = `None` is the unweighted mean. Panics if `models` is
    /// empty (a federated round without returns keeps the global model instead).
    pub fn weighted_mean(models: &[&Params], weights: Option<&[f64]>) -> Params {
        assert!(!models.is_empty(), "average of no models");
        let w: Vec<f64> = match weights {
            Some(w) => w.to_vec(),
            None => vec![1.0; models.len()],
        };
        let total: f64 = w.iter().sum();
        let first = models[0];
        let tensors = tch::no_grad(|| {
            (0..first.tensors.len())
                .map(|i| {
                    let kind = first.tensors[i].kind();
                    if first.roles[i] == Role::BnBatchCount || !is_floating(kind) {
                        let stacked: Vec<Tensor> = models.iter().map(|m| m.tensors[i].shallow_clone()).collect();
                        return Tensor::stack(&stacked, 0).amax([0i64].as_slice(), false);
                    }
                    let mut acc = first.tensors[i].zeros_like().to_kind(Kind::Double);
                    for (m, wk) in models.iter().zip(&w) {
                        acc += m.tensors[i].to_kind(Kind::Double) * (*wk / total);
                    }
                    acc.to_kind(kind)
                })
                .collect()
        });
        Params { names: first.names.clone(), tensors, roles: first.roles.clone() }
    }

    /// Builds from named tensors (e.g. a direction read from a file), in `model`'s order.
    pub fn from_named(model: &Model, get: impl Fn(&str) -> Option<Tensor>, source: &str) -> Result<Self> {
        let mut tensors = Vec::new();
        let mut names = Vec::new();
        let mut roles = Vec::new();
        for e in model.parameters() {
            let t =
                get(&e.name).ok_or_else(|| Error::MissingTensor { file: source.to_string(), name: e.name.clone() })?;
            if t.size() != e.tensor.size() {
                return Err(Error::TensorShape {
                    file: source.to_string(),
                    name: e.name.clone(),
                    found: t.size(),
                    expected: e.tensor.size(),
                });
            }
            names.push(e.name.clone());
            roles.push(e.role);
            tensors.push(t.to_kind(Kind::Float).to_device(e.tensor.device()));
        }
        Ok(Self { names, tensors, roles })
    }

    /// Copies these values into the model's parameters, and its buffers when this is a
    /// whole state (in place, no allocation).
    pub fn write_to(&self, model: &Model) {
        tch::no_grad(|| {
            for (e, t) in self.entries_of(model).zip(&self.tensors) {
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
        Self { names: self.names.clone(), tensors: self.tensors.iter().map(f).collect(), roles: self.roles.clone() }
    }

    pub fn zip_map(&self, other: &Params, f: impl Fn(&Tensor, &Tensor) -> Tensor) -> Self {
        Self {
            names: self.names.clone(),
            tensors: self.tensors.iter().zip(&other.tensors).map(|(a, b)| f(a, b)).collect(),
            roles: self.roles.clone(),
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
        Self { names: self.names.clone(), tensors, roles: self.roles.clone() }
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

    /// The inverse of [`Params::flat`]: a [`Params`] shaped like `self` (names, roles, kinds,
    /// devices) holding `flat`'s values in the tensors `mask` selects (all when `None`), zero
    /// elsewhere. `flat` must hold exactly as many values as the selected tensors.
    pub fn unflatten(&self, flat: &Tensor, mask: Option<&[bool]>) -> Params {
        let mut offset = 0i64;
        let tensors = self
            .tensors
            .iter()
            .enumerate()
            .map(|(i, t)| {
                if !mask.is_none_or(|m| m[i]) {
                    return t.zeros_like();
                }
                let n = t.numel() as i64;
                let part = flat.narrow(0, offset, n).view(t.size().as_slice()).to_kind(t.kind()).to_device(t.device());
                offset += n;
                part
            })
            .collect();
        Params { names: self.names.clone(), tensors, roles: self.roles.clone() }
    }

    pub fn get(&self, name: &str) -> Option<&Tensor> {
        self.names.iter().position(|n| n == name).map(|i| &self.tensors[i])
    }
}

fn is_floating(kind: Kind) -> bool {
    matches!(kind, Kind::Float | Kind::Double | Kind::Half | Kind::BFloat16)
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

/// Two groups are equal when they select by the same rule (regexes by their pattern).
impl PartialEq for Group {
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (Group::Regex(a), Group::Regex(b)) => a.as_str() == b.as_str(),
            (a, b) => std::mem::discriminant(a) == std::mem::discriminant(b),
        }
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
        Model::seeded(&ModelConfig::new(arch.parse().unwrap(), 1, 28, 10), 0, tch::Device::Cpu).unwrap()
    }

    fn two(vals: &[f32], count: i64) -> Params {
        Params {
            names: vec!["fc.weight".into(), "bn.num_batches_tracked".into()],
            tensors: vec![Tensor::from_slice(vals), Tensor::from(count)],
            roles: vec![Role::LinearWeight, Role::BnBatchCount],
        }
    }

    fn vals(t: &Tensor) -> Vec<f32> {
        Vec::<f32>::try_from(t).unwrap()
    }

    #[test]
    fn unflatten_inverts_flat_and_zeroes_what_the_mask_leaves_out() {
        let p = Params::of(&model("cnn"));
        let back = p.unflatten(&p.flat(None), None);
        assert!(back.tensors.iter().zip(&p.tensors).all(|(a, b)| a.equal(&b.to_kind(a.kind()))));
        let mask: Vec<bool> = (0..p.tensors.len()).map(|i| i % 2 == 0).collect();
        let half = p.unflatten(&p.flat(Some(&mask)), Some(&mask));
        for (i, (h, t)) in half.tensors.iter().zip(&p.tensors).enumerate() {
            let expected = if mask[i] { t.shallow_clone() } else { t.zeros_like() };
            assert!(h.equal(&expected), "tensor {i} ({})", p.names[i]);
        }
        assert_eq!(half.names, p.names);
    }

    #[test]
    fn unweighted_and_weighted_means_match_hand_values() {
        let (a, b) = (two(&[1.0, 2.0, -4.0], 3), two(&[3.0, 6.0, 0.0], 5));
        let m = Params::weighted_mean(&[&a, &b], None);
        assert_eq!(vals(&m.tensors[0]), vec![2.0, 4.0, -2.0]);
        assert_eq!(m.tensors[1].int64_value(&[]), 5, "batch counters take the maximum");
        // Sizes 1 and 3: (1·1 + 3·3)/4 = 2.5, (2 + 18)/4 = 5, (−4 + 0)/4 = −1.
        let m = Params::weighted_mean(&[&a, &b], Some(&[1.0, 3.0]));
        assert_eq!(vals(&m.tensors[0]), vec![2.5, 5.0, -1.0]);
        assert_eq!(vals(&Params::weighted_mean(&[&a], None).tensors[0]), vals(&a.tensors[0]));
    }

    #[test]
    fn state_holds_buffers_and_round_trips_through_a_model_and_names() {
        let (m, other) = (model("cnn"), model("cnn"));
        let state = Params::state_of(&m);
        assert_eq!(state.tensors.len(), m.entries().len());
        assert!(state.has_buffers() && !Params::of(&m).has_buffers());
        assert_eq!(state.learnable().names, Params::of(&m).names);
        let shifted = state.map(|t| if t.kind() == Kind::Float { t + 1.0 } else { t + 2 });
        shifted.write_to(&other);
        for (e, t) in other.entries().iter().zip(&shifted.tensors) {
            assert!(e.tensor.equal(t), "{} not written", e.name);
        }
        let named: std::collections::HashMap<String, Tensor> = shifted.named("g.").into_iter().collect();
        let back = Params::from_named_like(&state, "g.", &|n| named.get(n).map(|t| t.shallow_clone())).unwrap();
        assert!(back.tensors.iter().zip(&shifted.tensors).all(|(a, b)| a.equal(b)));
        assert!(Params::from_named_like(&state, "missing.", &|n| named.get(n).map(|t| t.shallow_clone())).is_none());
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
