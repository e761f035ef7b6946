//! Optimisers with PyTorch's update rules, and learning-rate schedules.

use std::str::FromStr;

use serde::{Deserialize, Serialize};
use tch::Tensor;

use crate::models::Model;
use crate::{Error, Result};

/// Which optimiser updates θ.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum OptimizerKind {
    #[default]
    Sgd,
    Adamw,
}

impl FromStr for OptimizerKind {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "sgd" => Ok(Self::Sgd),
            "adamw" => Ok(Self::Adamw),
            _ => Err(Error::Config(format!("unknown optimizer `{s}` (expected sgd or adamw)"))),
        }
    }
}

/// Hyperparameters of the optimiser.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct OptimConfig {
    pub kind: OptimizerKind,
    pub lr: f64,
    pub momentum: f64,
    pub weight_decay: f64,
    pub nesterov: bool,
    pub betas: (f64, f64),
    pub eps: f64,
}

impl Default for OptimConfig {
    /// The paper's defaults: SGD, lr 0.03, momentum 0.9, weight decay 5e-4.
    fn default() -> Self {
        Self {
            kind: OptimizerKind::Sgd,
            lr: 0.03,
            momentum: 0.9,
            weight_decay: 5e-4,
            nesterov: false,
            betas: (0.9, 0.999),
            eps: 1e-8,
        }
    }
}

impl OptimConfig {
    pub fn validate(&self) -> Result<()> {
        let ok = self.lr > 0.0
            && self.lr.is_finite()
            && (0.0..1.0).contains(&self.momentum)
            && self.weight_decay >= 0.0
            && self.weight_decay.is_finite();
        if !ok {
            return Err(Error::Config(format!(
                "optimiser needs lr > 0, momentum in [0,1), weight decay ≥ 0 (got lr {}, momentum {}, wd {})",
                self.lr, self.momentum, self.weight_decay
            )));
        }
        if self.nesterov && self.momentum == 0.0 {
            return Err(Error::Config("Nesterov momentum needs --momentum > 0".into()));
        }
        Ok(())
    }
}

/// Optimiser state: one buffer (SGD) or two (AdamW) per learnable tensor, always detached
/// from autograd so no graph survives a step.
pub struct Optimizer {
    config: OptimConfig,
    params: Vec<Tensor>,
    state: Vec<Vec<Tensor>>,
    step: i64,
    /// Which tensors have received a gradient in some step: [`Optimizer::backward_step`] then
    /// treats a later missing gradient as zero, as `.grad` zeroed by `zero_grad` would be.
    had_grad: Vec<bool>,
}

impl Optimizer {
    pub fn new(model: &Model, config: &OptimConfig) -> Result<Self> {
        config.validate()?;
        let params: Vec<Tensor> = model.parameters().map(|e| e.tensor.shallow_clone()).collect();
        let had_grad = vec![false; params.len()];
        Ok(Self { config: config.clone(), params, state: Vec::new(), step: 0, had_grad })
    }

    pub fn zero_grad(&mut self) {
        for p in &mut self.params {
            p.zero_grad();
        }
    }

    /// One update with learning rate `lr` from the gradients in `.grad`, PyTorch semantics:
    /// SGD `g ← ∇ + wd·θ; b ← μ·b + g (b₁ = g); θ ← θ − lr·(g + μ·b if nesterov else b)`;
    /// AdamW `θ ← θ(1 − lr·wd)` then Adam with bias correction.
    pub fn step(&mut self, lr: f64) {
        let grads: Vec<Tensor> = self.params.iter().map(Tensor::grad).collect();
        self.apply(&grads, lr);
    }

    /// `∇ = ∂loss/∂θ` for every optimised tensor, then [`Optimizer::step`]'s update with it.
    ///
    /// The gradients come straight from the autograd engine and are never stored in `.grad`
    /// (PyTorch's `zero_grad(set_to_none=True)`, its default): `zero_grad` + `backward` would
    /// first zero every `.grad` and then add each new gradient into it, two passes over all
    /// parameters per step that change no value (0 + g = g). Tensors outside the optimiser
    /// that `loss` depends on get no gradient.
    pub fn backward_step(&mut self, loss: &Tensor, lr: f64) {
        let grads = Tensor::run_backward(&[loss], &self.params, false, false);
        self.apply(&grads, lr);
    }

    fn apply(&mut self, grads: &[Tensor], lr: f64) {
        self.step += 1;
        let c = self.config.clone();
        tch::no_grad(|| {
            let first = self.state.is_empty();
            for (i, (p, g)) in self.params.iter_mut().zip(grads).enumerate() {
                let g = if g.defined() {
                    self.had_grad[i] = true;
                    g.shallow_clone()
                } else if self.had_grad[i] {
                    p.zeros_like()
                } else {
                    continue;
                };
                match c.kind {
                    OptimizerKind::Sgd => sgd_update(p, &g, &mut self.state, i, first, &c, lr),
                    OptimizerKind::Adamw => adamw_update(p, &g, &mut self.state, i, first, &c, lr, self.step),
                }
            }
        });
    }

    /// State tensors for checkpointing (names are stable across runs).
    pub fn state_tensors(&self) -> Vec<(String, Tensor)> {
        let mut out = Vec::new();
        for (i, bufs) in self.state.iter().enumerate() {
            for (j, b) in bufs.iter().enumerate() {
                out.push((format!("optimizer.{i}.{j}"), b.shallow_clone()));
            }
        }
        out.push(("optimizer.step".into(), Tensor::from(self.step)));
        out
    }

    /// Restores state written by [`Optimizer::state_tensors`].
    pub fn load_state(&mut self, get: impl Fn(&str) -> Option<Tensor>) {
        let mut state = Vec::new();
        for i in 0..self.params.len() {
            let bufs: Vec<Tensor> = (0..2)
                .map_while(|j| get(&format!("optimizer.{i}.{j}")))
                .map(|t| t.to_device(self.params[i].device()))
                .collect();
            if bufs.is_empty() {
                break;
            }
            state.push(bufs);
        }
        self.state = state;
        self.step = get("optimizer.step").map(|t| t.int64_value(&[])).unwrap_or(0);
    }
}

fn sgd_update(
    p: &mut Tensor,
    g: &Tensor,
    state: &mut Vec<Vec<Tensor>>,
    i: usize,
    first: bool,
    c: &OptimConfig,
    lr: f64,
) {
    let mut d = if c.weight_decay != 0.0 { g + &*p * c.weight_decay } else { g.shallow_clone() };
    if c.momentum != 0.0 {
        if first {
            state.push(vec![d.detach().copy()]);
        } else {
            let buf = &mut state[i][0];
            let _ = buf.g_mul_scalar_(c.momentum).g_add_(&d);
        }
        let buf = &state[i][0];
        d = if c.nesterov { d + buf * c.momentum } else { buf.shallow_clone() };
    }
    let _ = p.g_sub_(&(d * lr));
}

#[allow(clippy::too_many_arguments)]
fn adamw_update(
    p: &mut Tensor,
    g: &Tensor,
    state: &mut Vec<Vec<Tensor>>,
    i: usize,
    first: bool,
    c: &OptimConfig,
    lr: f64,
    step: i64,
) {
    if first {
        state.push(vec![g.zeros_like(), g.zeros_like()]);
    }
    let (b1, b2) = c.betas;
    let _ = p.g_mul_scalar_(1.0 - lr * c.weight_decay);
    let m = &mut state[i][0];
    let _ = m.g_mul_scalar_(b1).g_add_(&(g * (1.0 - b1)));
    let m = m.shallow_clone();
    let v = &mut state[i][1];
    let _ = v.g_mul_scalar_(b2).g_add_(&(g * g * (1.0 - b2)));
    let bc1 = 1.0 - b1.powi(step as i32);
    let bc2 = 1.0 - b2.powi(step as i32);
    let denom = (v.shallow_clone() / bc2).sqrt() + c.eps;
    let _ = p.g_sub_(&(m / denom * (lr / bc1)));
}

/// Learning-rate schedule over epochs.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case", tag = "kind")]
pub enum Schedule {
    /// `lr_e = lr · ½(1 + cos(π e / E))` (PyTorch's CosineAnnealingLR with T_max = E).
    #[default]
    Cosine,
    /// `lr_e = lr · γ^⌊e / every⌋`.
    Step {
        every: usize,
        gamma: f64,
    },
    Constant,
}

impl FromStr for Schedule {
    type Err = Error;
    /// `cosine`, `constant`, or `step:EVERY:GAMMA` (e.g. `step:30:0.1`).
    fn from_str(s: &str) -> Result<Self> {
        let parts: Vec<&str> = s.split(':').collect();
        match parts.as_slice() {
            ["cosine"] => Ok(Self::Cosine),
            ["constant"] => Ok(Self::Constant),
            ["step", every, gamma] => match (every.parse::<usize>(), gamma.parse::<f64>()) {
                (Ok(every), Ok(gamma)) if every > 0 && gamma > 0.0 && gamma.is_finite() => {
                    Ok(Self::Step { every, gamma })
                }
                _ => {
                    Err(Error::Config(format!("bad step schedule `{s}` (expected step:EVERY:GAMMA, e.g. step:30:0.1)")))
                }
            },
            _ => Err(Error::Config(format!("unknown schedule `{s}` (expected cosine, constant or step:EVERY:GAMMA)"))),
        }
    }
}

impl Schedule {
    /// Learning rate for 0-based `epoch` out of `epochs`.
    pub fn lr(&self, base: f64, epoch: usize, epochs: usize) -> f64 {
        match self {
            Schedule::Cosine => base * 0.5 * (1.0 + (std::f64::consts::PI * epoch as f64 / epochs.max(1) as f64).cos()),
            Schedule::Step { every, gamma } => base * gamma.powi((epoch / every) as i32),
            Schedule::Constant => base,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cosine_starts_at_base_and_decays() {
        let s = Schedule::Cosine;
        assert_eq!(s.lr(0.1, 0, 10), 0.1);
        assert!((s.lr(0.1, 5, 10) - 0.05).abs() < 1e-12);
        assert!(s.lr(0.1, 9, 10) < s.lr(0.1, 8, 10));
        assert_eq!("step:2:0.5".parse::<Schedule>().unwrap().lr(1.0, 5, 10), 0.25);
        assert!("step:0:0.5".parse::<Schedule>().is_err());
        assert!("warmup".parse::<Schedule>().is_err());
    }

    #[test]
    fn backward_step_updates_exactly_as_zero_grad_backward_step() {
        let cfg = crate::ModelConfig::new(crate::Arch::Mlp, 1, 4, 3);
        // Copies, not two seeded builds: tests run in parallel and share the global generator.
        let (a, b, start) = (
            Model::new(&cfg, tch::Device::Cpu).unwrap(),
            Model::new(&cfg, tch::Device::Cpu).unwrap(),
            Model::new(&cfg, tch::Device::Cpu).unwrap(),
        );
        b.copy_from(&a).unwrap();
        start.copy_from(&a).unwrap();
        let x = crate::device::unseeded(|| Tensor::randn([5, 1, 4, 4], (tch::Kind::Float, tch::Device::Cpu)));
        let loss = |m: &Model| m.forward(&x, crate::models::Mode::Train).square().mean(tch::Kind::Float);
        for kind in [OptimizerKind::Sgd, OptimizerKind::Adamw] {
            let oc = OptimConfig { kind, nesterov: kind == OptimizerKind::Sgd, ..Default::default() };
            let (mut oa, mut ob) = (Optimizer::new(&a, &oc).unwrap(), Optimizer::new(&b, &oc).unwrap());
            for _ in 0..3 {
                oa.zero_grad();
                loss(&a).backward();
                oa.step(0.05);
                ob.backward_step(&loss(&b), 0.05);
            }
        }
        for (pa, pb) in a.parameters().zip(b.parameters()) {
            assert!(pa.tensor.equal(&pb.tensor), "{} differs", pa.name);
            assert!(!pb.tensor.grad().defined(), "{} got a .grad", pb.name);
        }
        let moved = a.parameters().zip(start.parameters()).any(|(p, q)| !p.tensor.equal(&q.tensor));
        assert!(moved, "six updates left every parameter unchanged");
    }

    #[test]
    fn sgd_matches_pytorch_momentum_rule() {
        // θ = 1, loss = θ² → ∇ = 2θ. PyTorch (lr 0.1, μ 0.9, wd 0): θ1 = 0.8, b1 = 2;
        // ∇ = 1.6, b2 = 0.9·2 + 1.6 = 3.4, θ2 = 0.8 − 0.34 = 0.46.
        let cfg = crate::ModelConfig::new(crate::Arch::Linear, 1, 1, 2);
        let model = Model::new(&cfg, tch::Device::Cpu).unwrap();
        let w = model.parameters().next().unwrap().tensor.shallow_clone();
        let _ = tch::no_grad(|| w.shallow_clone().fill_(1.0));
        let oc = OptimConfig { lr: 0.1, momentum: 0.9, weight_decay: 0.0, ..Default::default() };
        let mut opt = Optimizer::new(&model, &oc).unwrap();
        for _ in 0..2 {
            opt.zero_grad();
            (&w * &w).sum(tch::Kind::Float).backward();
            opt.step(0.1);
        }
        let v = w.double_value(&[0, 0]);
        assert!((v - 0.46).abs() < 1e-6, "θ2 = {v}");
    }
}
