//! Server strategies (as in Flower): which clients train each round with which
//! instructions, and how their results become the next global model. Strategies never see
//! how instructions travel ([`crate::transport`]) nor how clients train ([`crate::client`]).

use rand::seq::index::sample;
use tch::Tensor;
use valley::rng::{self, tag};
use valley::train::OptimConfig;

use crate::config::{Algorithm, FedConfig};
use crate::Result;
use valley::params::Params;

/// What a client is told to do in a round (Flower's `FitIns`).
pub struct FitIns {
    /// The global model θt (shared, read-only).
    pub weights: Params,
    pub local: LocalConfig,
}

/// Local training settings sent with every instruction.
#[derive(Clone, Debug)]
pub struct LocalConfig {
    pub algorithm: Algorithm,
    pub epochs: usize,
    pub batch_size: usize,
    pub optim: OptimConfig,
}

/// What a client sends back (Flower's `FitRes`).
pub struct FitRes {
    pub weights: Params,
    /// Local training samples n_k.
    pub num_examples: usize,
    /// Mean cross-entropy over the local steps taken.
    pub train_loss: f64,
    /// Mean over the local steps of the regulariser's value as added to the loss
    /// (−γ·R for FedSign, μ/2·‖θ − θt‖² for FedProx, μ·ℓ_con for MOON, FedDyn's term; 0 for
    /// FedAvg).
    pub reg_term: f64,
    pub steps: usize,
    /// Steps E·⌈n_k/B⌉ a full round would take (more than `steps` for a straggler).
    pub planned_steps: usize,
}

/// Why a sampled client returned nothing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Failure {
    /// It dropped out (simulated with the dropout rate, or lost by a transport).
    Dropped,
    /// It holds no training samples (possible under a strong Dirichlet skew).
    NoData,
}

pub type FitOutcome = std::result::Result<FitRes, Failure>;

/// A server strategy.
pub trait Strategy: Send {
    fn name(&self) -> &'static str;

    /// The clients sampled in round `round` (1-based) and their instructions.
    fn configure_fit(&self, round: usize, global: &Params) -> Vec<(usize, FitIns)>;

    /// The next global model from the returned results (sorted by client id; never empty).
    fn aggregate_fit(
        &mut self,
        round: usize,
        global: &Params,
        results: &[(usize, FitRes)],
        failures: &[(usize, Failure)],
    ) -> Params;

    /// Server state to checkpoint (FedDyn's h).
    fn state(&self) -> Vec<(String, Tensor)> {
        Vec::new()
    }

    /// Restores [`Strategy::state`]; `get` looks a tensor up by name.
    fn load_state(&mut self, _get: &dyn Fn(&str) -> Option<Tensor>) -> Result<()> {
        Ok(())
    }
}

/// max(Q·K, 1) client ids drawn uniformly without replacement from the stream
/// (seed, CLIENTS, round), sorted.
pub fn sample_clients(seed: u64, round: usize, clients: usize, per_round: usize) -> Vec<usize> {
    let mut rng = rng::stream(seed, &[tag::CLIENTS, round as u64]);
    let mut ids = sample(&mut rng, clients, per_round.min(clients)).into_vec();
    ids.sort_unstable();
    ids
}

/// FedAvg's server: sample clients, send θt, average what returns — unweighted (the
/// paper) or weighted by n_k. FedProx, MOON and FedSign use this server; their difference
/// is the client objective named in [`LocalConfig::algorithm`].
pub struct FedAvg {
    pub seed: u64,
    pub clients: usize,
    pub per_round: usize,
    pub weighted: bool,
    pub local: LocalConfig,
}

impl FedAvg {
    pub fn new(cfg: &FedConfig) -> Self {
        Self {
            seed: cfg.seed,
            clients: cfg.clients,
            per_round: cfg.clients_per_round(),
            weighted: cfg.weighted,
            local: LocalConfig {
                algorithm: cfg.algorithm,
                epochs: cfg.local_epochs,
                batch_size: cfg.batch_size,
                optim: cfg.optim.clone(),
            },
        }
    }

    fn mean(&self, results: &[(usize, FitRes)]) -> Params {
        let models: Vec<&Params> = results.iter().map(|(_, r)| &r.weights).collect();
        let sizes: Vec<f64> = results.iter().map(|(_, r)| r.num_examples as f64).collect();
        Params::weighted_mean(&models, self.weighted.then_some(sizes.as_slice()))
    }
}

impl Strategy for FedAvg {
    fn name(&self) -> &'static str {
        self.local.algorithm.name()
    }

    fn configure_fit(&self, round: usize, global: &Params) -> Vec<(usize, FitIns)> {
        sample_clients(self.seed, round, self.clients, self.per_round)
            .into_iter()
            .map(|k| (k, FitIns { weights: global.share(), local: self.local.clone() }))
            .collect()
    }

    fn aggregate_fit(&mut self, _: usize, _: &Params, results: &[(usize, FitRes)], _: &[(usize, Failure)]) -> Params {
        self.mean(results)
    }
}

/// FedDyn's server (Acar et al. 2021): with m clients, returned set P and coefficient α,
/// `h ← h − α/m · Σ_{k∈P} (θk − θt)`, `θ_{t+1} = mean_{k∈P} θk − h/α` on the learnable
/// parameters; BN statistics are averaged.
pub struct FedDyn {
    pub avg: FedAvg,
    pub alpha: f64,
    /// h, one tensor per learnable parameter (zeros until the first aggregation).
    pub h: Option<Vec<Tensor>>,
}

impl Strategy for FedDyn {
    fn name(&self) -> &'static str {
        "feddyn"
    }

    fn configure_fit(&self, round: usize, global: &Params) -> Vec<(usize, FitIns)> {
        self.avg.configure_fit(round, global)
    }

    fn aggregate_fit(
        &mut self,
        _: usize,
        global: &Params,
        results: &[(usize, FitRes)],
        _: &[(usize, Failure)],
    ) -> Params {
        let mut next = self.avg.mean(results);
        let learnable: Vec<usize> = global.learnable_indices().collect();
        let m = self.avg.clients as f64;
        tch::no_grad(|| {
            let h = self.h.get_or_insert_with(|| learnable.iter().map(|&i| global.tensors[i].zeros_like()).collect());
            for (j, &i) in learnable.iter().enumerate() {
                let mut drift = global.tensors[i].zeros_like();
                for (_, r) in results {
                    drift += &r.weights.tensors[i] - &global.tensors[i];
                }
                h[j] -= drift * (self.alpha / m);
                next.tensors[i] -= &h[j] / self.alpha;
            }
        });
        next
    }

    fn state(&self) -> Vec<(String, Tensor)> {
        self.h.iter().flatten().enumerate().map(|(j, t)| (format!("server.h.{j}"), t.shallow_clone())).collect()
    }

    fn load_state(&mut self, get: &dyn Fn(&str) -> Option<Tensor>) -> Result<()> {
        let h: Vec<Tensor> = (0..).map_while(|j| get(&format!("server.h.{j}"))).collect();
        self.h = (!h.is_empty()).then_some(h);
        Ok(())
    }
}

/// The strategy for `cfg.algorithm`.
pub fn for_config(cfg: &FedConfig) -> Box<dyn Strategy> {
    let avg = FedAvg::new(cfg);
    match cfg.algorithm {
        Algorithm::FedDyn { alpha } => Box::new(FedDyn { avg, alpha, h: None }),
        _ => Box::new(avg),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sampling_is_per_round_reproducible_and_without_replacement() {
        let a = sample_clients(3, 5, 100, 10);
        assert_eq!(a, sample_clients(3, 5, 100, 10));
        assert_ne!(a, sample_clients(3, 6, 100, 10));
        let mut d = a.clone();
        d.dedup();
        assert_eq!(d.len(), 10);
        assert!(a.iter().all(|&k| k < 100));
        assert_eq!(sample_clients(1, 1, 4, 9), vec![0, 1, 2, 3]);
    }
}
