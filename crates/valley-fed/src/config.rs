//! A federated run's configuration (written beside its results as `fed.json`).

use std::str::FromStr;

use serde::{Deserialize, Serialize};
use valley::train::{DataConfig, OptimConfig};
use valley::ModelConfig;
use valley_data::Partition;

use crate::{Error, Result};

/// How FedSign's alignment term `R(θ) = Σ_i r_i`, `r_i = sgp(θt,i)·σ(θi) + sgp(−θt,i)·σ(−θi)`,
/// is reduced over the learnable parameters. Since σ'(−x) = σ'(x), the penalty −γ·R has the
/// per-element gradient `−γ·w_i·s_i·σ(θi)(1 − σ(θi))`, s_i = sign(θt,i) (0 where θt,i = 0),
/// with the weight w_i of each reduction below.
///
/// The default is `sum` [choice, measured]: it is the literal inner product of Eq. (1), and the
/// only reduction whose pull (≤ γ/4 per element, at θ = 0) does not shrink with the model's
/// size. Measured on the BN cnn at width 0.25 (≈ 5·10⁴ parameters, Fashion-MNIST, K = 100,
/// 8 rounds, seed 0): `mean` and `tensor-mean` at γ = 0.01 and 0.1 left the clients' mean
/// SSR(θk, θt) at FedAvg's 0.966, `sum` raised it to 0.973 (γ = 0.001) and 0.993 (γ = 0.01).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum Reduce {
    /// Mean over all N learnable parameters: w_i = 1/N.
    Mean,
    /// Sum over all learnable parameters: w_i = 1.
    #[default]
    Sum,
    /// Mean within each of the L learnable tensors, averaged over tensors: w_i = 1/(L·n_l)
    /// for an element of tensor l with n_l elements (the convention of the first author's
    /// public federated-learning code for its parameter-wise regularisers).
    TensorMean,
}

impl Reduce {
    pub fn name(&self) -> &'static str {
        match self {
            Reduce::Mean => "mean",
            Reduce::Sum => "sum",
            Reduce::TensorMean => "tensor-mean",
        }
    }
}

impl std::fmt::Display for Reduce {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Reduce {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "mean" => Ok(Self::Mean),
            "sum" => Ok(Self::Sum),
            "tensor-mean" => Ok(Self::TensorMean),
            _ => Err(Error::Config(format!("unknown FedSign reduction `{s}` (expected sum, mean or tensor-mean)"))),
        }
    }
}

/// The federated algorithm: the client objective and, for FedDyn, the server rule.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase", tag = "name")]
pub enum Algorithm {
    /// Local CE; server averages.
    FedAvg,
    /// Local CE + μ/2·‖θ − θt‖².
    FedProx { mu: f64 },
    /// Local CE + μ·ℓ_con, ℓ_con = −log(e^{cos(z,z_glob)/τ} / (e^{cos(z,z_glob)/τ} + e^{cos(z,z_prev)/τ})).
    Moon { mu: f64, tau: f64 },
    /// Local CE − ⟨g_k, θ⟩ + α/2·‖θ − θt‖²; server θ = mean(θ_k) − h/α (Acar et al. 2021).
    FedDyn { alpha: f64 },
    /// Local CE − γ·reduce_i[sgp(θt,i)·σ(θk,i) + sgp(−θt,i)·σ(−θk,i)] (paper §5).
    FedSign { gamma: f64, reduce: Reduce },
}

impl Algorithm {
    pub const NAMES: &'static str = "fedavg, fedprox, moon, feddyn, fedsign";

    /// The algorithm `name` with its coefficient: `coef` is μ (FedProx, MOON), α (FedDyn) or
    /// γ (FedSign); `None` takes the default (0.01, 1, 0.01, 0.01).
    pub fn parse(name: &str, coef: Option<f64>, reduce: Reduce) -> Result<Self> {
        let a = match name.to_ascii_lowercase().as_str() {
            "fedavg" => Algorithm::FedAvg,
            "fedprox" => Algorithm::FedProx { mu: coef.unwrap_or(0.01) },
            "moon" => Algorithm::Moon { mu: coef.unwrap_or(1.0), tau: 0.5 },
            "feddyn" => Algorithm::FedDyn { alpha: coef.unwrap_or(0.01) },
            "fedsign" => Algorithm::FedSign { gamma: coef.unwrap_or(0.01), reduce },
            _ => return Err(Error::Config(format!("unknown algorithm `{name}` (expected one of {})", Self::NAMES))),
        };
        a.validate()?;
        Ok(a)
    }

    pub fn name(&self) -> &'static str {
        match self {
            Algorithm::FedAvg => "fedavg",
            Algorithm::FedProx { .. } => "fedprox",
            Algorithm::Moon { .. } => "moon",
            Algorithm::FedDyn { .. } => "feddyn",
            Algorithm::FedSign { .. } => "fedsign",
        }
    }

    /// The coefficient that model selection tunes: μ, α or γ (`None` for FedAvg).
    pub fn coefficient(&self) -> Option<f64> {
        match *self {
            Algorithm::FedAvg => None,
            Algorithm::FedProx { mu } | Algorithm::Moon { mu, .. } => Some(mu),
            Algorithm::FedDyn { alpha } => Some(alpha),
            Algorithm::FedSign { gamma, .. } => Some(gamma),
        }
    }

    /// This algorithm with its tuned coefficient set to `value` (FedAvg is unchanged).
    pub fn with_coefficient(&self, value: f64) -> Self {
        match *self {
            Algorithm::FedAvg => Algorithm::FedAvg,
            Algorithm::FedProx { .. } => Algorithm::FedProx { mu: value },
            Algorithm::Moon { tau, .. } => Algorithm::Moon { mu: value, tau },
            Algorithm::FedDyn { .. } => Algorithm::FedDyn { alpha: value },
            Algorithm::FedSign { reduce, .. } => Algorithm::FedSign { gamma: value, reduce },
        }
    }

    /// The name with its coefficient, as tables and folders show it: `fedavg`,
    /// `fedprox μ=0.01`, `moon μ=1`, `feddyn α=0.01`, `fedsign γ=0.01` (reduction sum) or
    /// `fedsign[tensor-mean] γ=0.1`.
    pub fn label(&self) -> String {
        match *self {
            Algorithm::FedAvg => "fedavg".into(),
            Algorithm::FedProx { mu } => format!("fedprox μ={mu}"),
            Algorithm::Moon { mu, .. } => format!("moon μ={mu}"),
            Algorithm::FedDyn { alpha } => format!("feddyn α={alpha}"),
            Algorithm::FedSign { gamma, reduce: Reduce::Sum } => format!("fedsign γ={gamma}"),
            Algorithm::FedSign { gamma, reduce } => format!("fedsign[{reduce}] γ={gamma}"),
        }
    }

    pub fn validate(&self) -> Result<()> {
        let (what, v, strictly) = match *self {
            Algorithm::FedAvg => return Ok(()),
            Algorithm::FedProx { mu } => ("FedProx μ", mu, false),
            Algorithm::Moon { mu, tau } => {
                if !(tau > 0.0 && tau.is_finite()) {
                    return Err(Error::Config(format!("MOON temperature τ must be > 0, got {tau}")));
                }
                ("MOON μ", mu, false)
            }
            Algorithm::FedDyn { alpha } => ("FedDyn α", alpha, true),
            Algorithm::FedSign { gamma, .. } => ("FedSign γ", gamma, false),
        };
        let ok = v.is_finite() && if strictly { v > 0.0 } else { v >= 0.0 };
        if !ok {
            let bound = if strictly { "> 0" } else { "≥ 0" };
            return Err(Error::Config(format!("{what} must be finite and {bound}, got {v}")));
        }
        Ok(())
    }
}

/// The split a run evaluates its global model on after every round.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum EvalSplit {
    /// The global test set (a final run).
    #[default]
    Test,
    /// The held-out validation split (a selection run: the test set is never read).
    Validation,
}

/// The paper's federated setup (§5), written once: [`FedConfig::paper`] and the defaults
/// of `valley fed` and `valley partition` take these.
pub mod paper {
    /// K, the number of clients.
    pub const CLIENTS: usize = 100;
    /// Q, the fraction of clients sampled per round.
    pub const PARTICIPATION: f64 = 0.1;
    /// E, local epochs per round.
    pub const LOCAL_EPOCHS: usize = 5;
    pub const BATCH_SIZE: usize = 64;
    /// Local SGD: learning rate, momentum, weight decay.
    pub const LR: f64 = 0.03;
    pub const MOMENTUM: f64 = 0.9;
    pub const WEIGHT_DECAY: f64 = 1e-5;
    /// α of the Dirichlet label split.
    pub const DIRICHLET_ALPHA: f64 = 0.5;
}

/// Everything that determines a federated run's numbers.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FedConfig {
    pub algorithm: Algorithm,
    pub data: DataConfig,
    pub model: ModelConfig,
    pub partition: Partition,
    /// K, the number of clients.
    pub clients: usize,
    /// Q: each round the server samples max(⌊Q·K⌋, 1) clients uniformly without replacement.
    pub participation: f64,
    /// T, the round budget.
    pub rounds: usize,
    /// E, local epochs per round.
    pub local_epochs: usize,
    pub batch_size: usize,
    /// Local optimiser (fresh per client and round; constant learning rate).
    pub optim: OptimConfig,
    /// Aggregate weighted by client data size instead of the paper's unweighted mean.
    pub weighted: bool,
    /// Probability that a sampled client returns nothing this round.
    pub dropout: f64,
    /// Probability that a sampled client finishes only a U(0,1) fraction of its local steps.
    pub stragglers: f64,
    pub seed: u64,
    pub eval_batch: usize,
    /// Fraction of the training samples held out as a class-stratified validation split,
    /// drawn from the stream (seed, SUBSET, 2) and never trained on; 0 = none.
    #[serde(default)]
    pub validation: f64,
    /// The split evaluated after every round.
    #[serde(default)]
    pub evaluate: EvalSplit,
}

impl FedConfig {
    /// The paper's setup (§5): K = 100, Q = 0.1, E = 5, batch 64, SGD lr 0.03, momentum
    /// 0.9, weight decay 1e-5, Dirichlet α = 0.5, unweighted averaging.
    pub fn paper(algorithm: Algorithm, data: DataConfig, model: ModelConfig, rounds: usize, seed: u64) -> Self {
        Self {
            algorithm,
            data,
            model,
            partition: Partition::Dirichlet { alpha: paper::DIRICHLET_ALPHA },
            clients: paper::CLIENTS,
            participation: paper::PARTICIPATION,
            rounds,
            local_epochs: paper::LOCAL_EPOCHS,
            batch_size: paper::BATCH_SIZE,
            optim: OptimConfig {
                lr: paper::LR,
                momentum: paper::MOMENTUM,
                weight_decay: paper::WEIGHT_DECAY,
                ..OptimConfig::default()
            },
            weighted: false,
            dropout: 0.0,
            stragglers: 0.0,
            seed,
            eval_batch: 500,
            validation: 0.0,
            evaluate: EvalSplit::Test,
        }
    }

    /// Clients sampled per round: max(⌊Q·K⌋, 1).
    pub fn clients_per_round(&self) -> usize {
        ((self.participation * self.clients as f64 + 1e-9).floor() as usize).clamp(1, self.clients.max(1))
    }

    pub fn validate(&self) -> Result<()> {
        let bad = |m: String| Err(Error::Config(m));
        self.algorithm.validate()?;
        self.model.validate()?;
        self.optim.validate()?;
        if let Partition::Dirichlet { alpha } = self.partition {
            if !(alpha > 0.0 && alpha.is_finite()) {
                return bad(format!(
                    "Dirichlet α (--alpha) must be a finite number > 0 (smaller α, stronger label skew), got {alpha}"
                ));
            }
        }
        if self.clients == 0 {
            return bad("--clients must be at least 1".into());
        }
        if !(self.participation > 0.0 && self.participation <= 1.0) {
            return bad(format!("participation Q must lie in (0, 1], got {}", self.participation));
        }
        if self.rounds == 0 || self.local_epochs == 0 || self.batch_size == 0 || self.eval_batch == 0 {
            return bad(format!(
                "rounds, local epochs and batch size must be ≥ 1 (got {} rounds, {} epochs, batch {})",
                self.rounds, self.local_epochs, self.batch_size
            ));
        }
        for (what, p) in [("dropout", self.dropout), ("straggler", self.stragglers)] {
            if !(0.0..=1.0).contains(&p) {
                return bad(format!("{what} rate must lie in [0, 1], got {p}"));
            }
        }
        if !(0.0..1.0).contains(&self.validation) {
            return bad(format!("the validation fraction must lie in [0, 1), got {}", self.validation));
        }
        if self.evaluate == EvalSplit::Validation && self.validation == 0.0 {
            return bad("a selection run evaluates on the validation split; give a validation fraction > 0".into());
        }
        if let Some(n) = self.data.train_limit {
            if self.clients > n {
                return bad(format!(
                    "{} clients but only {n} training samples (--train-limit); use fewer clients",
                    self.clients
                ));
            }
        }
        Ok(())
    }

    /// Whether `other` describes the same run up to its round budget (what resume allows).
    pub fn same_run(&self, other: &FedConfig) -> bool {
        FedConfig { rounds: 0, ..self.clone() } == FedConfig { rounds: 0, ..other.clone() }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use valley_data::DatasetKind;

    fn cfg() -> FedConfig {
        let model = ModelConfig::new(valley::Arch::Mlp, 1, 28, 10);
        FedConfig::paper(Algorithm::FedAvg, DataConfig::new(DatasetKind::FashionMnist), model, 3, 1)
    }

    #[test]
    fn sampled_clients_are_max_of_qk_and_one() {
        let mut c = cfg();
        assert_eq!(c.clients_per_round(), 10);
        c.participation = 0.001;
        assert_eq!(c.clients_per_round(), 1);
        c.clients = 10;
        c.participation = 0.3;
        assert_eq!(c.clients_per_round(), 3);
    }

    #[test]
    fn invalid_settings_are_explained() {
        let mut c = cfg();
        c.partition = Partition::Dirichlet { alpha: 0.0 };
        assert!(c.validate().unwrap_err().to_string().contains("α"));
        let mut c = cfg();
        c.participation = 1.5;
        assert!(c.validate().unwrap_err().to_string().contains("(0, 1]"));
        c.participation = 0.0;
        assert!(c.validate().is_err());
        let mut c = cfg();
        c.data.train_limit = Some(50);
        assert!(c.validate().unwrap_err().to_string().contains("100 clients"));
        assert!(Algorithm::parse("fedsgd", None, Reduce::Mean).unwrap_err().to_string().contains("fedavg"));
        assert!(Algorithm::parse("feddyn", Some(0.0), Reduce::Mean).is_err());
        assert!(cfg().validate().is_ok());
    }
}
