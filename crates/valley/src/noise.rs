//! Noise, sign manipulation and normalisation: how a direction `d` is built (paper §1–§2).
//!
//! `d = normalise(sign_manipulate(ε), θf)`, zero outside the parameter group. Element-wise
//! noise is drawn per tensor from the stream (seed, tensor index), so a direction is fully
//! determined by (checkpoint, spec, seed) and never needs storing.

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

use rand::Rng;
use rand_distr::{Distribution, StandardNormal};
use tch::{Kind, Tensor};

use crate::checkpoint::Checkpoint;
use crate::models::Model;
use crate::params::{sgp, sign_pm1, Group, Params};
use crate::rng::{self, tag};
use crate::{Error, Result};

/// Where ε comes from.
#[derive(Clone, Debug, PartialEq)]
pub enum Noise {
    /// G(0, 1).
    Gaussian,
    /// U(−1, 1).
    Uniform,
    /// Uniform on {−1, 0, 1}.
    Ternary,
    /// G(1, 1).
    GaussianShifted,
    /// U(0, 1).
    UniformPositive,
    /// Uniform on {0, 1}.
    Binary,
    /// The constant 1.
    Ones,
    /// ε1 = θ0, the initialisation.
    Init,
    /// ε2 = θf.
    Theta,
    /// ε3 = sign(θf).
    Sign,
    /// ε4 = sign(θf − μ), μ the mean of each tensor.
    SignCentered,
    /// ε5 = sgp(θf).
    Sgp,
    /// ε6 = sgp(θf − μ).
    SgpCentered,
    /// μ: each tensor's mean, broadcast.
    Mean,
    /// θB − θA from two checkpoints.
    Diff(PathBuf, PathBuf),
    /// A direction stored in a safetensors file with the model's parameter names.
    File(PathBuf),
}

impl Noise {
    /// The seven element-wise distributions, in the paper's order.
    pub const ELEMENTWISE: [&'static str; 7] =
        ["gaussian", "uniform", "ternary", "gaussian-shifted", "uniform-positive", "binary", "ones"];
    /// The six special directions ε1..ε6.
    pub const SPECIAL: [&'static str; 6] = ["init", "theta", "sign", "sign-centered", "sgp", "sgp-centered"];

    /// The paper's notation, for plot titles.
    pub fn paper_label(&self) -> String {
        match self {
            Noise::Gaussian => "G(0,1)".into(),
            Noise::Uniform => "U(-1,1)".into(),
            Noise::Ternary => "{-1,0,1}".into(),
            Noise::GaussianShifted => "G(1,1)".into(),
            Noise::UniformPositive => "U(0,1)".into(),
            Noise::Binary => "{0,1}".into(),
            Noise::Ones => "{1}".into(),
            Noise::Init => "ε1=θ0".into(),
            Noise::Theta => "ε2=θf".into(),
            Noise::Sign => "ε3=sign(θf)".into(),
            Noise::SignCentered => "ε4=sign(θf−μ)".into(),
            Noise::Sgp => "ε5=sgp(θf)".into(),
            Noise::SgpCentered => "ε6=sgp(θf−μ)".into(),
            Noise::Mean => "μ".into(),
            Noise::Diff(..) => "θB−θA".into(),
            Noise::File(p) => p.display().to_string(),
        }
    }

    fn sample(dist: &Noise, rng: &mut impl Rng) -> f32 {
        match dist {
            Noise::Gaussian => StandardNormal.sample(rng),
            Noise::Uniform => rng.random_range(-1.0..1.0),
            Noise::Ternary => rng.random_range(-1i32..=1) as f32,
            Noise::GaussianShifted => 1.0 + Distribution::<f32>::sample(&StandardNormal, rng),
            Noise::UniformPositive => rng.random_range(0.0..1.0),
            Noise::Binary => rng.random_range(0i32..=1) as f32,
            _ => 1.0,
        }
    }
}

impl fmt::Display for Noise {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = match self {
            Noise::Gaussian => "gaussian",
            Noise::Uniform => "uniform",
            Noise::Ternary => "ternary",
            Noise::GaussianShifted => "gaussian-shifted",
            Noise::UniformPositive => "uniform-positive",
            Noise::Binary => "binary",
            Noise::Ones => "ones",
            Noise::Init => "init",
            Noise::Theta => "theta",
            Noise::Sign => "sign",
            Noise::SignCentered => "sign-centered",
            Noise::Sgp => "sgp",
            Noise::SgpCentered => "sgp-centered",
            Noise::Mean => "mean",
            Noise::Diff(..) => "diff",
            Noise::File(_) => "file",
        };
        f.write_str(s)
    }
}

impl FromStr for Noise {
    type Err = Error;
    /// Names as in [`Noise::ELEMENTWISE`] and [`Noise::SPECIAL`], plus `mean`,
    /// `diff:A.safetensors:B.safetensors` and `file:PATH`.
    fn from_str(s: &str) -> Result<Self> {
        if let Some(rest) = s.strip_prefix("diff:") {
            let (a, b) = rest
                .split_once(':')
                .ok_or_else(|| Error::Config(format!("`{s}`: expected diff:A.safetensors:B.safetensors")))?;
            return Ok(Noise::Diff(a.into(), b.into()));
        }
        if let Some(path) = s.strip_prefix("file:") {
            return Ok(Noise::File(path.into()));
        }
        Ok(match s {
            "gaussian" | "g01" => Noise::Gaussian,
            "uniform" | "u-11" => Noise::Uniform,
            "ternary" => Noise::Ternary,
            "gaussian-shifted" | "g11" => Noise::GaussianShifted,
            "uniform-positive" | "u01" => Noise::UniformPositive,
            "binary" => Noise::Binary,
            "ones" => Noise::Ones,
            "init" => Noise::Init,
            "theta" => Noise::Theta,
            "sign" => Noise::Sign,
            "sign-centered" => Noise::SignCentered,
            "sgp" => Noise::Sgp,
            "sgp-centered" => Noise::SgpCentered,
            "mean" => Noise::Mean,
            _ => {
                return Err(Error::Config(format!(
                    "unknown noise `{s}` (expected one of {}, {}, mean, diff:A:B, file:PATH)",
                    Noise::ELEMENTWISE.join(", "),
                    Noise::SPECIAL.join(", ")
                )))
            }
        })
    }
}

/// How the signs of ε relate to θf's.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum SignMode {
    /// ε as drawn.
    AsSampled,
    /// η = |ε| ⊙ sign(θf), sign(0) = −1.
    Consistent,
    /// A random fraction r of the elements take θf's sign (each element independently
    /// with probability r); the rest stay as drawn.
    FlipRatio(f64),
}

impl SignMode {
    /// The label used in `curves.csv` and file names.
    pub fn label(&self) -> String {
        match self {
            SignMode::AsSampled => "as-sampled".into(),
            SignMode::Consistent => "consistent".into(),
            SignMode::FlipRatio(r) => format!("ratio-{r}"),
        }
    }

    /// The inverse of [`SignMode::label`], for reading saved curves back.
    pub fn from_label(s: &str) -> Result<Self> {
        match s {
            "as-sampled" => Ok(SignMode::AsSampled),
            "consistent" => Ok(SignMode::Consistent),
            _ => s
                .strip_prefix("ratio-")
                .and_then(|r| r.parse::<f64>().ok())
                .filter(|r| (0.0..=1.0).contains(r))
                .map(SignMode::FlipRatio)
                .ok_or_else(|| {
                    Error::Config(format!("unknown sign mode `{s}` (expected as-sampled, consistent or ratio-R)"))
                }),
        }
    }
}

/// How 1-D tensors (biases, BN weight and bias) are treated by filter normalisation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OneDPolicy {
    /// d = s·ε ⊙ |θ| element-wise (ASAM's adaptive operator).
    Abs,
    /// d = 0.
    Ignore,
    /// The whole tensor is one filter.
    Tensor,
}

/// Normalisation of ε into d.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Norm {
    /// d = ε.
    Raw,
    /// d = s · ε/‖ε‖ · ‖θf‖ over the group (`per_tensor`: per parameter tensor).
    Ns { per_tensor: bool },
    /// Filter normalisation: each output filter (dim 0 slice) of ε rescaled to s·‖θf filter‖.
    Filter(OneDPolicy),
}

impl Norm {
    pub fn label(&self) -> &'static str {
        match self {
            Norm::Raw => "raw",
            Norm::Ns { per_tensor: false } => "ns",
            Norm::Ns { per_tensor: true } => "ns-tensor",
            Norm::Filter(OneDPolicy::Abs) => "filter",
            Norm::Filter(OneDPolicy::Ignore) => "filter-ignore",
            Norm::Filter(OneDPolicy::Tensor) => "filter-tensor",
        }
    }
}

impl FromStr for Norm {
    type Err = Error;
    /// `raw`, `ns`, `ns-tensor`, `filter` (1-D policy abs), `filter-ignore`, `filter-tensor`.
    fn from_str(s: &str) -> Result<Self> {
        Ok(match s {
            "raw" => Norm::Raw,
            "ns" => Norm::Ns { per_tensor: false },
            "ns-tensor" => Norm::Ns { per_tensor: true },
            "filter" | "filter-abs" => Norm::Filter(OneDPolicy::Abs),
            "filter-ignore" => Norm::Filter(OneDPolicy::Ignore),
            "filter-tensor" => Norm::Filter(OneDPolicy::Tensor),
            _ => {
                return Err(Error::Config(format!(
                    "unknown normalisation `{s}` (expected raw, ns, ns-tensor, filter, filter-ignore, filter-tensor)"
                )))
            }
        })
    }
}

/// A direction, fully specified.
#[derive(Clone, Debug)]
pub struct DirectionSpec {
    pub noise: Noise,
    pub sign: SignMode,
    pub norm: Norm,
    pub scale: f64,
    pub group: Group,
    pub seed: u64,
}

impl DirectionSpec {
    /// `noise` made sign-consistent with θf, NS-normalised at s = 1 over all parameters, seed 0:
    /// `ε ← |ε| ⊙ sign(θf)`, then `ε ← ε / ‖ε‖ · ‖θf‖` (the paper's standard sign-consistent
    /// direction, used by findings 7–8 and the curvature finding).
    pub fn consistent(noise: Noise) -> Self {
        Self {
            noise,
            sign: SignMode::Consistent,
            norm: Norm::Ns { per_tensor: false },
            scale: 1.0,
            group: Group::All,
            seed: 0,
        }
    }

    /// A file-name-safe label, e.g. `gaussian-consistent-s1`.
    pub fn label(&self) -> String {
        format!("{}-{}-s{}", self.noise, self.sign.label(), self.scale)
    }
}

/// What a direction may refer to besides θf.
#[derive(Default)]
pub struct Context {
    /// θ0 (for `init`), usually `init.safetensors` beside the checkpoint.
    pub init: Option<PathBuf>,
}

/// Builds d for `spec` around `theta` (θf) of `model`.
pub fn direction(spec: &DirectionSpec, theta: &Params, model: &Model, ctx: &Context) -> Result<Params> {
    let mask = spec.group.mask(model)?;
    let eps = raw_noise(spec, theta, model, ctx)?;
    let eps = apply_sign(&eps, theta, spec.sign, spec.seed);
    let eps = eps.masked(&mask);
    Ok(normalise(&eps, theta, spec.norm, spec.scale, &mask))
}

fn raw_noise(spec: &DirectionSpec, theta: &Params, model: &Model, ctx: &Context) -> Result<Params> {
    let centred = |t: &Tensor| t - t.mean(Kind::Float);
    let p = match &spec.noise {
        Noise::Theta => theta.clone(),
        Noise::Sign => theta.map(sign_pm1),
        Noise::SignCentered => theta.map(|t| sign_pm1(&centred(t))),
        Noise::Sgp => theta.map(sgp),
        Noise::SgpCentered => theta.map(|t| sgp(&centred(t))),
        Noise::Mean => theta.map(|t| t.mean(Kind::Float).expand_as(t).copy()),
        Noise::Init => {
            let path = ctx.init.as_ref().ok_or_else(|| {
                Error::Config(
                    "direction `init` needs θ0: no init.safetensors beside the checkpoint (pass --init PATH)".into(),
                )
            })?;
            read_params(path, model)?
        }
        Noise::Diff(a, b) => read_params(b, model)?.combine(1.0, &read_params(a, model)?, -1.0),
        Noise::File(path) => read_params(path, model)?,
        dist => theta.map_indexed(|i, t| sample_like(dist, t, spec.seed, i)),
    };
    Ok(p)
}

fn read_params(path: &std::path::Path, model: &Model) -> Result<Params> {
    let ck = Checkpoint::read(path)?;
    Params::from_named(model, |n| ck.tensors.get(n).map(|t| t.shallow_clone()), &path.display().to_string())
}

/// Element-wise noise for tensor `index`, from the stream (seed, index).
fn sample_like(dist: &Noise, like: &Tensor, seed: u64, index: usize) -> Tensor {
    let mut rng = rng::stream(seed, &[tag::NOISE, index as u64]);
    let values: Vec<f32> = (0..like.numel()).map(|_| Noise::sample(dist, &mut rng)).collect();
    Tensor::from_slice(&values).reshape(like.size()).to_device(like.device())
}

fn apply_sign(eps: &Params, theta: &Params, mode: SignMode, seed: u64) -> Params {
    match mode {
        SignMode::AsSampled => eps.clone(),
        SignMode::Consistent => eps.zip_map(theta, |e, t| e.abs() * sign_pm1(t)),
        SignMode::FlipRatio(r) => {
            let flipped = eps.zip_map(theta, |e, t| e.abs() * sign_pm1(t));
            let mut out = eps.clone();
            for (i, (o, f)) in out.tensors.iter_mut().zip(&flipped.tensors).enumerate() {
                let mut rng = rng::stream(seed, &[tag::FLIP, i as u64]);
                let pick: Vec<bool> = (0..o.numel()).map(|_| rng.random_bool(r)).collect();
                let pick = Tensor::from_slice(&pick).reshape(o.size()).to_device(o.device());
                *o = f.where_self(&pick, o);
            }
            out
        }
    }
}

fn normalise(eps: &Params, theta: &Params, norm: Norm, scale: f64, mask: &[bool]) -> Params {
    let safe = |num: f64, den: f64| if den > 0.0 { num / den } else { 0.0 };
    match norm {
        Norm::Raw => eps.map(|t| t * scale),
        Norm::Ns { per_tensor: false } => {
            let factor = scale * safe(theta.norm(Some(mask)), eps.norm(Some(mask)));
            eps.map(|t| t * factor)
        }
        Norm::Ns { per_tensor: true } => eps.zip_map(theta, |e, t| {
            let (ne, nt) = (e.norm().double_value(&[]), t.norm().double_value(&[]));
            e * (scale * safe(nt, ne))
        }),
        Norm::Filter(policy) => eps.zip_map(theta, |e, t| filter_normalise(e, t, policy) * scale),
    }
}

/// Rescales each output filter (slice along dim 0) of `e` to the norm of the same filter of `t`.
fn filter_normalise(e: &Tensor, t: &Tensor, policy: OneDPolicy) -> Tensor {
    if e.dim() <= 1 {
        return match policy {
            OneDPolicy::Abs => e * t.abs(),
            OneDPolicy::Ignore => e.zeros_like(),
            OneDPolicy::Tensor => {
                let ne = e.norm().double_value(&[]);
                if ne > 0.0 {
                    e * (t.norm().double_value(&[]) / ne)
                } else {
                    e.zeros_like()
                }
            }
        };
    }
    let rows = e.size()[0];
    let dims: Vec<i64> = (1..e.dim() as i64).collect();
    let ne = e.reshape([rows, -1]).norm_scalaropt_dim(2, [1], false);
    let nt = t.reshape([rows, -1]).norm_scalaropt_dim(2, [1], false);
    let factor = (nt / ne.clamp_min(1e-30)) * ne.gt(0.0).to_kind(Kind::Float);
    let mut shape = vec![rows];
    shape.extend(dims.iter().map(|_| 1));
    e * factor.reshape(shape)
}

impl Params {
    /// Maps each tensor with its index.
    pub fn map_indexed(&self, f: impl Fn(usize, &Tensor) -> Tensor) -> Params {
        Params {
            names: self.names.clone(),
            tensors: self.tensors.iter().enumerate().map(|(i, t)| f(i, t)).collect(),
            roles: self.roles.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ModelConfig;

    fn setup() -> (Model, Params) {
        let m = Model::seeded(&ModelConfig::new("cnn".parse().unwrap(), 1, 8, 3), 1, tch::Device::Cpu).unwrap();
        let p = Params::of(&m);
        (m, p)
    }

    fn spec(noise: &str, sign: SignMode, norm: Norm) -> DirectionSpec {
        DirectionSpec { noise: noise.parse().unwrap(), sign, norm, scale: 1.0, group: Group::All, seed: 3 }
    }

    #[test]
    fn consistent_direction_agrees_in_sign_with_theta_everywhere() {
        let (m, p) = setup();
        let d = direction(
            &spec("gaussian", SignMode::Consistent, Norm::Ns { per_tensor: false }),
            &p,
            &m,
            &Context::default(),
        )
        .unwrap();
        for (dt, t) in d.tensors.iter().zip(&p.tensors) {
            let agree = (dt * sign_pm1(t)).ge(0.0).all().int64_value(&[]);
            assert_eq!(agree, 1);
        }
    }

    #[test]
    fn ns_scales_to_s_times_theta_norm() {
        let (m, p) = setup();
        let mut s = spec("uniform", SignMode::AsSampled, Norm::Ns { per_tensor: false });
        s.scale = 2.0;
        let d = direction(&s, &p, &m, &Context::default()).unwrap();
        assert!((d.norm(None) - 2.0 * p.norm(None)).abs() < 1e-3 * p.norm(None));
    }

    #[test]
    fn filter_norm_matches_each_filter() {
        let (m, p) = setup();
        let d = direction(
            &spec("gaussian", SignMode::AsSampled, Norm::Filter(OneDPolicy::Ignore)),
            &p,
            &m,
            &Context::default(),
        )
        .unwrap();
        let (dw, tw) = (d.get("features.0.weight").unwrap(), p.get("features.0.weight").unwrap());
        for f in 0..dw.size()[0] {
            let (a, b) = (dw.get(f).norm().double_value(&[]), tw.get(f).norm().double_value(&[]));
            assert!((a - b).abs() < 1e-4 * b.max(1e-6), "filter {f}: {a} vs {b}");
        }
        assert_eq!(d.get("features.0.bias").unwrap().abs().sum(Kind::Float).double_value(&[]), 0.0);
    }

    #[test]
    fn same_seed_same_direction_and_group_zeroes_the_rest() {
        let (m, p) = setup();
        let mut s = spec("gaussian", SignMode::AsSampled, Norm::Raw);
        let a = direction(&s, &p, &m, &Context::default()).unwrap();
        let b = direction(&s, &p, &m, &Context::default()).unwrap();
        assert!(a.tensors.iter().zip(&b.tensors).all(|(x, y)| x.equal(y)));
        s.group = Group::Clf;
        let c = direction(&s, &p, &m, &Context::default()).unwrap();
        let mask = Group::Clf.mask(&m).unwrap();
        for (t, &k) in c.tensors.iter().zip(&mask) {
            assert_eq!(t.abs().sum(Kind::Float).double_value(&[]) > 0.0, k);
        }
    }

    #[test]
    fn flip_ratio_interpolates_between_sampled_and_consistent() {
        let (m, p) = setup();
        let frac = |r: f64| {
            let d =
                direction(&spec("gaussian", SignMode::FlipRatio(r), Norm::Raw), &p, &m, &Context::default()).unwrap();
            crate::params::ssr(&d.map(sign_pm1), &p.map(sign_pm1), None)
        };
        let (f0, f5, f1) = (frac(0.0), frac(0.5), frac(1.0));
        assert!((f0 - 0.5).abs() < 0.05, "r=0 agrees about half the time: {f0}");
        assert!((f5 - 0.75).abs() < 0.05, "r=0.5 agrees about 3/4 of the time: {f5}");
        assert_eq!(f1, 1.0);
    }

    #[test]
    fn unknown_noise_is_a_clear_error() {
        let err = "gaussion".parse::<Noise>().unwrap_err().to_string();
        assert!(err.contains("gaussion") && err.contains("gaussian"));
    }
}
