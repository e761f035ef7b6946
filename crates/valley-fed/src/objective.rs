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

/// FedSign: `−γ · R(θ)`, `R = reduce_i[sgp(θt,i)·σ(θi) + sgp(−θt,i)·σ(−θi)]` over all
/// learnable parameters, reduce = sum, mean or tensor-mean ([`Reduce`] states each
/// reduction's per-element gradient). Rewards each parameter for keeping θt's sign; entries
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
        let per_tensor = theta.iter().zip(&self.masks).map(|(p, (pos, neg))| {
            let r = pos * p.sigmoid() + neg * (-p).sigmoid();
            match self.reduce {
                Reduce::TensorMean => r.mean(Kind::Float),
                Reduce::Sum | Reduce::Mean => r.sum(Kind::Float),
            }
        });
        let total = per_tensor.fold(Tensor::from(0f32), |s, x| s + x);
        let reduced = match self.reduce {
            Reduce::Sum => total,
            Reduce::Mean => total / self.numel,
            Reduce::TensorMean => total / self.masks.len().max(1) as f64,
        };
        reduced * -self.gamma
    }
}

impl Regulariser for SignAlignment {
    fn penalty(&mut self, model: &Model, _: &Tensor, _: &Tensor, _: &Tensor) -> Option<Tensor> {
        Some(self.value(&learnable(model)))
    }
}

/// Wraps a client's regulariser and records the value of every term it adds, so a round
/// can report the mean penalty per step (`reg_term` in rounds.csv).
pub struct Tracked<'r> {
    pub inner: &'r mut dyn Regulariser,
    pub sum: f64,
    pub steps: usize,
}

impl<'r> Tracked<'r> {
    pub fn new(inner: &'r mut dyn Regulariser) -> Self {
        Self { inner, sum: 0.0, steps: 0 }
    }

    /// Mean value of the terms added so far (0 before the first step).
    pub fn mean(&self) -> f64 {
        if self.steps == 0 {
            0.0
        } else {
            self.sum / self.steps as f64
        }
    }
}

impl Regulariser for Tracked<'_> {
    fn penalty(&mut self, model: &Model, xs: &Tensor, logits: &Tensor, features: &Tensor) -> Option<Tensor> {
        let p = self.inner.penalty(model, xs, logits, features)?;
        self.sum += p.double_value(&[]);
        self.steps += 1;
        Some(p)
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

    /// Value and gradient of −γ·R for `reduce` on a two-tensor "model": θt = ([1, −2, 0], [½]),
    /// θ = ([0, ln 3, 1], [−ln 3]). Per element r = [σ(0), σ(−ln 3), 0], [σ(−ln 3)] =
    /// [½, ¼, 0], [¼]; s·σ'(θ) = [¼, −3/16, 0], [3/16] (σ'(0) = ¼, σ'(±ln 3) = 3/16).
    fn value_and_grad(reduce: Reduce, gamma: f64) -> (f64, Vec<f32>, Vec<f32>) {
        let anchor = [Tensor::from_slice(&[1.0f32, -2.0, 0.0]), Tensor::from_slice(&[0.5f32])];
        let l3 = 3f32.ln();
        let a = Tensor::from_slice(&[0.0f32, l3, 1.0]).set_requires_grad(true);
        let b = Tensor::from_slice(&[-l3]).set_requires_grad(true);
        let v = SignAlignment::new(gamma, reduce, &anchor).value(&[a.shallow_clone(), b.shallow_clone()]);
        v.backward();
        (scalar(&v), Vec::<f32>::try_from(&a.grad()).unwrap(), Vec::<f32>::try_from(&b.grad()).unwrap())
    }

    fn close(got: &[f32], want: &[f64]) -> bool {
        got.len() == want.len() && got.iter().zip(want).all(|(g, w)| (*g as f64 - w).abs() < 1e-6)
    }

    #[test]
    fn fedsign_sum_gradient_is_gamma_times_sigma_prime() {
        // w_i = 1: R = ½ + ¼ + 0 + ¼ = 1; ∂(−γR)/∂θi = −γ·s_i·σ'(θi).
        let g = 0.1;
        let (v, ga, gb) = value_and_grad(Reduce::Sum, g);
        assert!((v + g).abs() < 1e-6, "{v}");
        assert!(close(&ga, &[-g / 4.0, g * 3.0 / 16.0, 0.0]), "{ga:?}");
        assert!(close(&gb, &[-g * 3.0 / 16.0]), "{gb:?}");
    }

    #[test]
    fn fedsign_mean_gradient_is_divided_by_the_parameter_count() {
        // w_i = 1/N, N = 4: R = ¼.
        let g = 0.1;
        let (v, ga, gb) = value_and_grad(Reduce::Mean, g);
        assert!((v + g / 4.0).abs() < 1e-6, "{v}");
        assert!(close(&ga, &[-g / 16.0, g * 3.0 / 64.0, 0.0]), "{ga:?}");
        assert!(close(&gb, &[-g * 3.0 / 64.0]), "{gb:?}");
    }

    #[test]
    fn fedsign_tensor_mean_weights_each_tensor_by_its_size() {
        // w = 1/(L·n_l), L = 2: 1/6 in the 3-element tensor, ½ in the 1-element one;
        // R = (¾/3 + ¼/1)/2 = ¼.
        let g = 0.1;
        let (v, ga, gb) = value_and_grad(Reduce::TensorMean, g);
        assert!((v + g / 4.0).abs() < 1e-6, "{v}");
        assert!(close(&ga, &[-g / 24.0, g * 3.0 / 96.0, 0.0]), "{ga:?}");
        assert!(close(&gb, &[-g * 3.0 / 32.0]), "{gb:?}");
    }

    #[test]
    fn tracked_records_the_mean_added_term() {
        let model = Model::new(&ModelConfig::new(Arch::Mlp, 1, 4, 3), tch::Device::Cpu).unwrap();
        let anchor: Vec<Tensor> = model.parameters().map(|e| e.tensor.detach().copy()).collect();
        let shifted: Vec<Tensor> = anchor.iter().map(|a| a + 0.1).collect();
        let mut prox = Proximal { mu: 2.0, anchor: shifted };
        let x = Tensor::zeros([1, 1, 4, 4], (Kind::Float, tch::Device::Cpu));
        let mut t = Tracked::new(&mut prox);
        assert_eq!(t.mean(), 0.0);
        let p1 = scalar(&t.penalty(&model, &x, &x, &x).unwrap());
        let p2 = scalar(&t.penalty(&model, &x, &x, &x).unwrap());
        // μ/2·n·0.01 with μ = 2.
        let n = model.num_parameters() as f64;
        assert!((p1 - n * 0.01).abs() / p1 < 1e-4, "{p1}");
        assert_eq!((t.steps, t.mean()), (2, (p1 + p2) / 2.0));
    }

    #[test]
    fn proximal_and_dynamic_terms_at_the_anchor() {
        let model = Model::seeded(&ModelConfig::new(Arch::Mlp, 1, 4, 3), 0, tch::Device::Cpu).unwrap();
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
