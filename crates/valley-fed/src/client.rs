//! Client logic: local training of the global model on a client's samples with the
//! algorithm's objective, and the per-client state some algorithms keep between rounds.

use tch::Tensor;
use valley::params::Params;
use valley::rng::{self, tag};
use valley::tensors::TensorSet;
use valley::train::{train_steps, Batches, Optimizer, Regulariser};
use valley::{Model, ModelConfig};
use valley_data::ImageSet;

use crate::config::Algorithm;
use crate::objective::{Contrastive, Dynamic, Proximal, SignAlignment, Tracked};
use crate::strategy::{FitIns, FitRes};
use crate::{Error, Result};

/// What a client remembers between its rounds.
#[derive(Default)]
pub struct ClientState {
    /// FedDyn's g_k (one tensor per learnable parameter), updated
    /// `g_k ← g_k − α·(θk − θt)` after each local round.
    pub correction: Option<Vec<Tensor>>,
    /// MOON's previous local model (all tensors).
    pub previous: Option<Params>,
}

/// The compute a worker owns: one model reused for every client it trains (weights are
/// loaded into it, never rebuilt), MOON's two frozen models when needed, and handles to
/// the training data.
pub struct Workspace {
    pub model: Model,
    /// MOON's global and previous-local models.
    aux: Option<(Model, Model)>,
    pub train: TensorSet,
    pub test: TensorSet,
}

impl Workspace {
    pub fn new(
        config: &ModelConfig,
        algorithm: &Algorithm,
        train: &TensorSet,
        test: &TensorSet,
        device: tch::Device,
    ) -> Result<Self> {
        let model = Model::new(config, device)?;
        let aux = match algorithm {
            Algorithm::Moon { .. } => Some((Model::new(config, device)?, Model::new(config, device)?)),
            _ => None,
        };
        let share =
            |s: &TensorSet| TensorSet { x: s.x.shallow_clone(), y: s.y.shallow_clone(), num_classes: s.num_classes };
        Ok(Self { model, aux, train: share(train), test: share(test) })
    }
}

fn share(ts: &[Tensor]) -> Vec<Tensor> {
    ts.iter().map(|t| t.shallow_clone()).collect()
}

/// Which client, which round, and what it may use.
pub struct ClientTask<'a> {
    pub round: usize,
    pub client: usize,
    pub seed: u64,
    pub indices: &'a [usize],
    /// Training images on the host, when augmentation draws from them.
    pub images: Option<&'a ImageSet>,
    /// Fraction of the planned local steps this client completes (1 unless it straggles).
    pub fraction: f64,
}

/// Trains θt on the client's samples for E epochs (or the straggler's fraction of them),
/// minimising CE plus the algorithm's term, with a fresh optimiser and a constant learning
/// rate. Epoch e's batch order comes from the stream (seed, SHUFFLE, round, client, e).
pub fn local_fit(ws: &mut Workspace, task: &ClientTask, state: &mut ClientState, ins: &FitIns) -> Result<FitRes> {
    let local = &ins.local;
    let wrap =
        |source: valley::Error| Error::Client { round: task.round, client: task.client, source: Box::new(source) };
    ins.weights.write_to(&ws.model);
    let anchor: Vec<Tensor> = ins.weights.learnable_indices().map(|i| ins.weights.tensors[i].shallow_clone()).collect();
    let per_epoch = task.indices.len().div_ceil(local.batch_size);
    let planned = per_epoch * local.epochs;
    let budget = ((planned as f64 * task.fraction).ceil() as usize).clamp(1, planned.max(1));

    let mut prox;
    let mut sign;
    let mut dynamic;
    let mut contrastive;
    let reg: Option<&mut dyn Regulariser> = match local.algorithm {
        Algorithm::FedAvg => None,
        Algorithm::FedProx { mu } => {
            prox = Proximal { mu, anchor: share(&anchor) };
            Some(&mut prox)
        }
        Algorithm::FedSign { gamma, reduce } => {
            sign = SignAlignment::new(gamma, reduce, &anchor);
            Some(&mut sign)
        }
        Algorithm::FedDyn { alpha } => {
            let g = state.correction.get_or_insert_with(|| anchor.iter().map(|a| a.zeros_like()).collect());
            dynamic = Dynamic { alpha, anchor: share(&anchor), correction: g.as_slice() };
            Some(&mut dynamic)
        }
        Algorithm::Moon { mu, tau } => {
            let (global, previous) = ws.aux.as_ref().ok_or(Error::MoonWorkspace)?;
            ins.weights.write_to(global);
            // A client's first round has no previous model; MOON then uses the global one.
            state.previous.as_ref().unwrap_or(&ins.weights).write_to(previous);
            contrastive = Contrastive { mu, tau, global, previous };
            Some(&mut contrastive)
        }
    };
    let mut reg = reg.map(Tracked::new);

    let mut opt = Optimizer::new(&ws.model, &local.optim).map_err(wrap)?;
    let (mut loss_sum, mut steps) = (0.0, 0usize);
    for epoch in 0..local.epochs {
        if steps >= budget {
            break;
        }
        let stream = rng::stream(task.seed, &[tag::SHUFFLE, task.round as u64, task.client as u64, epoch as u64]);
        let batches = Batches::new(&ws.train, task.images, Some(task.indices), local.batch_size, stream);
        let r: Option<&mut dyn Regulariser> = match reg.as_mut() {
            Some(r) => Some(r),
            None => None,
        };
        let stats = train_steps(&ws.model, &mut opt, batches, local.optim.lr, budget - steps, r, epoch + 1, |_, _| {})
            .map_err(wrap)?;
        loss_sum += stats.loss * stats.steps as f64;
        steps += stats.steps;
    }

    let reg_term = reg.as_ref().map_or(0.0, Tracked::mean);
    let weights = Params::state_of(&ws.model);
    if let Algorithm::FedDyn { alpha } = local.algorithm {
        if let Some(g) = state.correction.as_mut() {
            tch::no_grad(|| {
                for ((gk, i), a) in g.iter_mut().zip(weights.learnable_indices()).zip(&anchor) {
                    *gk -= (&weights.tensors[i] - a) * alpha;
                }
            });
        }
    }
    if matches!(local.algorithm, Algorithm::Moon { .. }) {
        state.previous = Some(weights.clone());
    }
    Ok(FitRes {
        weights,
        num_examples: task.indices.len(),
        train_loss: loss_sum / steps.max(1) as f64,
        reg_term,
        steps,
        planned_steps: planned,
    })
}
