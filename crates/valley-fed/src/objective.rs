//! The client objectives' extra terms, as [`Regulariser`]s added to the cross-entropy.
//!
//! θ are the local model's learnable tensors (with gradients), θt the frozen global model
//! the client started from.

use tch::{Kind, Tensor};
use valley::models::Mode;
use valley::params::sgp;
use valley::train::Regulariser;
use valley::Model;

use crate::config::Reduce;

fn learnable(model: &Model) -> Vec<Tensor> {
    model.parameters().map(|e| e.tensor.shallow_clone()).collect()
}

/// FedProx: `μ/2 · Σ_i (θ_i − θt,i)²`.
pub struct Proximal {
    pub mu: f64,
    pub anchor: Vec<Tensor>,
}

impl Regulariser for Proximal {
    fn penalty(&mut self, model: &Model, _: &Tensor, _: &Tensor, _: &Tensor) -> Option<Tensor> {
        Some(squared_distance(&learnable(model), &self.anchor) * (self.mu / 2.0))
    }
}

fn squared_distance(theta: &[Tensor], anchor: &[Tensor]) -> Tensor {
    theta.iter().zip(anchor).map(|(p, a)| (p - a).square().sum(Kind::Float)).fold(Tensor::from(0f32), |s, x| s + x)
}

/// FedSign: `−γ · reduce_i[sgp(θt,i)·σ(θi) + sgp(−θt,i)·σ(−θi)]`, reduce = mean or sum
/// over all learnable parameters. Rewards each parameter for keeping θt's sign; entries
/// with θt,i = 0 contribute nothing.
pub struct SignAlignment {
    pub gamma: f64,
    pub reduce: Reduce,
    /// sgp(θt) and sgp(−θt) per tensor, precomputed.
    masks: Vec<(Tensor, Tensor)>,
    numel: f64,
}

impl SignAlignment {
    pub fn new(gamma: f64, reduce: Reduce, anchor: &[Tensor]) -> Self {
        let masks = tch::no_grad(|| anchor.iter().map(|a| (sgp(a), sgp(&-a))).collect());
        let numel = anchor.iter().map(|a| a.numel() as f64).sum::<f64>().max(1.0);
        Self { gamma, reduce, masks, numel }
    }

    /// The penalty for parameter values `theta` (differentiable in `theta`).
    pub fn value(&self, theta: &[Tensor]) -> Tensor {
        let total = theta
            .iter()
            .zip(&self.masks)
            .map(|(p, (pos, neg))| (pos * p.sigmoid() + neg * (-p).sigmoid()).sum(Kind::Float))
            .fold(Tensor::from(0f32), |s, x| s + x);
        let reduced = match self.reduce {
            Reduce::Mean => total / self.numel,
            Reduce::Sum => total,
        };
        reduced * -self.gamma
    }
}

impl Regulariser for SignAlignment {
    fn penalty(&mut self, model: &Model, _: &Tensor, _: &Tensor, _: &Tensor) -> Option<Tensor> {
        Some(self.value(&learnable(model)))
    }
}

/// FedDyn's local term: `−⟨g_k, θ⟩ + α/2 · ‖θ − θt‖²`, g_k the client's correction state.
pub struct Dynamic<'a> {
    pub alpha: f64,
    pub anchor: Vec<Tensor>,
    pub correction: &'a [Tensor],
}

impl Regulariser for Dynamic<'_> {
    fn penalty(&mut self, model: &Model, _: &Tensor, _: &Tensor, _: &Tensor) -> Option<Tensor> {
        let theta = learnable(model);
        let linear = theta
            .iter()
            .zip(self.correction)
            .map(|(p, g)| (p * g).sum(Kind::Float))
            .fold(Tensor::from(0f32), |s, x| s + x);
        Some(squared_distance(&theta, &self.anchor) * (self.alpha / 2.0) - linear)
    }
}

/// MOON's model-contrastive term, `μ · mean_n −log(e^{s⁺/τ} / (e^{s⁺/τ} + e^{s⁻/τ}))` with
/// s⁺ = cos(z, z_glob), s⁻ = cos(z, z_prev); z is the local model's representation (the
/// input of its final layer), z_glob and z_prev come from the frozen global and previous
/// local models in evaluation mode.
pub struct Contrastive<'a> {
    pub mu: f64,
    pub tau: f64,
    pub global: &'a Model,
    pub previous: &'a Model,
}

impl Regulariser for Contrastive<'_> {
    fn penalty(&mut self, _: &Model, xs: &Tensor, _: &Tensor, z: &Tensor) -> Option<Tensor> {
        let (zg, zp) = tch::no_grad(|| {
            (self.global.forward_with_features(xs, Mode::Eval).1, self.previous.forward_with_features(xs, Mode::Eval).1)
        });
        Some(contrastive_loss(z, &zg, &zp, self.tau) * self.mu)
    }
}

/// `mean_n −log softmax([cos(z,z⁺)/τ, cos(z,z⁻)/τ])₀` for representations `[N, D]`.
pub fn contrastive_loss(z: &Tensor, pos: &Tensor, neg: &Tensor, tau: f64) -> Tensor {
    let sp = Tensor::cosine_similarity(z, pos, 1, 1e-8) / tau;
    let sn = Tensor::cosine_similarity(z, neg, 1, 1e-8) / tau;
    let logits = Tensor::stack(&[sp, sn], 1);
    let target = Tensor::zeros([z.size()[0]], (Kind::Int64, z.device()));
    logits.cross_entropy_for_logits(&target)
}

#[cfg(test)]
mod tests {
    use super::*;
    use valley::{Arch, ModelConfig};

    fn scalar(t: &Tensor) -> f64 {
        t.double_value(&[])
    }

    #[test]
    fn fedsign_penalty_matches_hand_computation() {
        // θt = [1, −2, 0, 3], θk = [0, 0, 5, ln 3]: terms σ(0) = ½ (sign +), σ(−0) = ½
        // (sign −), 0 (θt = 0), σ(ln 3) = ¾ (sign +). Sum 1.75, mean 0.4375.
        let anchor = [Tensor::from_slice(&[1.0f32, -2.0, 0.0, 3.0])];
        let theta = [Tensor::from_slice(&[0.0f32, 0.0, 5.0, 3f32.ln()])];
        let mean = SignAlignment::new(0.1, Reduce::Mean, &anchor).value(&theta);
        assert!((scalar(&mean) + 0.1 * 0.4375).abs() < 1e-6, "{}", scalar(&mean));
        let sum = SignAlignment::new(0.01, Reduce::Sum, &anchor).value(&theta);
        assert!((scalar(&sum) + 0.01 * 1.75).abs() < 1e-6);
        // The gradient pushes θ toward θt's sign: ∂/∂θ₀ = −γ/4·σ'(0) < 0 (increase θ₀).
        let p = Tensor::from_slice(&[0.0f32, 0.0, 5.0, 1.0]).set_requires_grad(true);
        SignAlignment::new(1.0, Reduce::Mean, &anchor).value(&[p.shallow_clone()]).backward();
        let g = Vec::<f32>::try_from(&p.grad()).unwrap();
        assert!(g[0] < 0.0 && g[1] > 0.0 && g[2] == 0.0);
    }

    #[test]
    fn proximal_and_dynamic_terms_at_the_anchor() {
        tch::manual_seed(0);
        let model = Model::new(&ModelConfig::new(Arch::Mlp, 1, 4, 3), tch::Device::Cpu).unwrap();
        let anchor: Vec<Tensor> = model.parameters().map(|e| e.tensor.detach().copy()).collect();
        let x = Tensor::zeros([1, 1, 4, 4], (Kind::Float, tch::Device::Cpu));
        let mut prox = Proximal { mu: 0.5, anchor: anchor.iter().map(|a| a.shallow_clone()).collect() };
        assert_eq!(scalar(&prox.penalty(&model, &x, &x, &x).unwrap()), 0.0);
        // Shift every parameter by +0.1: μ/2·n·0.01.
        let shifted: Vec<Tensor> = anchor.iter().map(|a| a + 0.1).collect();
        let n = model.num_parameters() as f64;
        let p = scalar(&squared_distance(&shifted, &anchor)) * 0.25;
        assert!((p - 0.25 * n * 0.01).abs() / p < 1e-4);
        let zeros: Vec<Tensor> = anchor.iter().map(|a| a.zeros_like()).collect();
        let mut dynamic = Dynamic { alpha: 0.1, anchor, correction: &zeros };
        assert_eq!(scalar(&dynamic.penalty(&model, &x, &x, &x).unwrap()), 0.0);
    }

    #[test]
    fn contrastive_loss_prefers_the_positive() {
        let z = Tensor::from_slice(&[1.0f32, 0.0]).view([1, 2]);
        let same = contrastive_loss(&z, &z, &(-&z), 0.5);
        // cos⁺ = 1, cos⁻ = −1: −log(e² / (e² + e⁻²)) = log(1 + e⁻⁴).
        assert!((scalar(&same) - (1.0 + (-4f64).exp()).ln()).abs() < 1e-6);
        let swapped = contrastive_loss(&z, &(-&z), &z, 0.5);
        assert!(scalar(&swapped) > scalar(&same));
    }
}
