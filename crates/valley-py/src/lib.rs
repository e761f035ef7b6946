//! The extension module `valley._valley`: valley's checkpoints, models, evaluation,
//! federated client training and server aggregation, partitions, SSR and 1D valleys for
//! Python. The package `valley` (python/valley) wraps it with keyword defaults, dict model
//! configurations and torch conversions; its docstrings are the user documentation.
//!
//! Everything runs on the CPU and returns copies as NumPy arrays; model configurations
//! cross as the JSON of [`valley::ModelConfig`] (what checkpoints store under `model`).
//! Every failure is a `valley.ValleyError` with valley's message.

mod arrays;
mod errors;

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use numpy::PyReadonlyArray1;
use pyo3::prelude::*;
use pyo3::types::PyDict;
use valley::checkpoint::{self, Checkpoint};
use valley::eval::{BnAugment, EvalConfig, Split};
use valley::noise::{direction as build_direction, Context, DirectionSpec, Noise, Norm};
use valley::params::{ssr as sign_same_ratio, Group, Params};
use valley::train::{prepare, DataConfig, OptimConfig, Prepared};
use valley::{Arch, BnInit, Device, Kind, Model, ModelConfig, Tensor};
use valley_data::{DatasetKind, Partition};
use valley_fed::client::{local_fit, ClientState, ClientTask, Workspace};
use valley_fed::strategy::{for_config, sample_clients as draw_clients, FitIns, FitRes, LocalConfig, Strategy};
use valley_fed::{Algorithm, FedConfig, Reduce};
use valley_landscape::{EvalData, Evaluator, LandscapeSpec};

use arrays::{dict_of, params_dict, state_from, tensors_of, to_numpy};
use errors::{fail, valley_err, ValleyError};

fn parse<T: std::str::FromStr>(s: &str) -> PyResult<T>
where
    T::Err: std::error::Error,
{
    s.parse::<T>().map_err(valley_err)
}

/// A validated model configuration from its JSON.
fn config_of(json: &str) -> PyResult<ModelConfig> {
    let config: ModelConfig =
        serde_json::from_str(json).map_err(|e| fail(format!("not a valid valley model configuration: {e}")))?;
    config.validate().map_err(valley_err)?;
    Ok(config)
}

/// A model of `config` holding `weights` (a whole state dict).
fn model_with(config: &ModelConfig, weights: &Bound<'_, PyDict>, source: &str) -> PyResult<(Model, Params)> {
    let model = Model::new(config, Device::Cpu).map_err(valley_err)?;
    let state = state_from(&model, weights, source)?;
    state.write_to(&model);
    Ok((model, state))
}

/// `(tensors, metadata)` of a safetensors checkpoint, tensors as NumPy arrays by name.
#[pyfunction]
fn read_checkpoint<'py>(py: Python<'py>, path: PathBuf) -> PyResult<(Bound<'py, PyDict>, HashMap<String, String>)> {
    let ck = Checkpoint::read(&path).map_err(valley_err)?;
    let named = ck.names.iter().map(|n| (n.clone(), ck.tensors[n].shallow_clone()));
    Ok((dict_of(py, named)?, ck.metadata.clone()))
}

/// Writes `tensors` (name → array) with `metadata` exactly as given, atomically, with the
/// header in valley's canonical order. Refuses NaN or infinite values, naming the tensor.
#[pyfunction]
fn write_checkpoint(path: PathBuf, tensors: &Bound<'_, PyDict>, metadata: HashMap<String, String>) -> PyResult<()> {
    let mut named: Vec<(String, Tensor)> = tensors_of(tensors)?.into_iter().collect();
    named.sort_by(|a, b| a.0.cmp(&b.0));
    for (name, t) in &named {
        if t.is_floating_point() {
            let bad = t.isfinite().logical_not().sum(Kind::Int64).int64_value(&[]);
            if bad > 0 {
                return Err(valley_err(valley::Error::checkpoint(
                    &path,
                    format!("not written: tensor `{name}` has {bad} NaN or infinite values"),
                )));
            }
        }
    }
    checkpoint::save_tensors(&path, &named, metadata).map_err(valley_err)
}

/// Writes a model checkpoint as `valley train`/`valley fed` do: every tensor of the model
/// of `model` (JSON config) set to `weights`, valley's metadata block (format, model,
/// version) plus `extra`, so `valley eval` and `valley info` read it.
#[pyfunction]
fn save_model(path: PathBuf, weights: &Bound<'_, PyDict>, model: &str, extra: HashMap<String, String>) -> PyResult<()> {
    let (m, _) = model_with(&config_of(model)?, weights, "the weights")?;
    let extra: Vec<(&str, String)> = extra.iter().map(|(k, v)| (k.as_str(), v.clone())).collect();
    checkpoint::save_model(&m, &path, &extra).map_err(valley_err)
}

/// The JSON of a model configuration (validated; defaults as valley's).
#[pyfunction]
#[pyo3(signature = (arch, in_channels, image_size, num_classes, width=1.0, hidden=None, bn_init="ones"))]
fn model_config(
    arch: &str,
    in_channels: i64,
    image_size: i64,
    num_classes: i64,
    width: f64,
    hidden: Option<Vec<i64>>,
    bn_init: &str,
) -> PyResult<String> {
    let mut c = ModelConfig::new(parse::<Arch>(arch)?, in_channels, image_size, num_classes);
    c.width = width;
    if let Some(h) = hidden {
        c.hidden = h;
    }
    c.bn_init = parse::<BnInit>(bn_init)?;
    c.validate().map_err(valley_err)?;
    serde_json::to_string(&c).map_err(|e| fail(e.to_string()))
}

/// The initial global model θ0 of `valley fed --seed seed` for this model (all tensors).
#[pyfunction]
fn init_weights<'py>(py: Python<'py>, model: &str, seed: u64) -> PyResult<Bound<'py, PyDict>> {
    let m = valley_fed::server::initial_global(&config_of(model)?, seed, Device::Cpu).map_err(valley_err)?;
    params_dict(py, &Params::state_of(&m))
}

/// A dataset loaded, subset and normalised as `valley fed`/`valley train` load it: the
/// normalisation is computed on the (subset) training split unless one is given.
#[pyclass(module = "valley", unsendable, subclass)]
struct Dataset {
    data: Prepared,
}

#[pymethods]
impl Dataset {
    #[new]
    #[pyo3(signature = (name, data_dir=None, train_limit=None, test_limit=None, subset_seed=0, augment=None, normalisation=None))]
    fn new(
        name: &str,
        data_dir: Option<PathBuf>,
        train_limit: Option<usize>,
        test_limit: Option<usize>,
        subset_seed: u64,
        augment: Option<bool>,
        normalisation: Option<(Vec<f32>, Vec<f32>)>,
    ) -> PyResult<Self> {
        let cfg = DataConfig {
            dataset: parse::<DatasetKind>(name)?,
            data_dir,
            train_limit,
            test_limit,
            subset_seed,
            augment,
        };
        let norm = normalisation.map(|(mean, std)| valley_data::Normalisation { mean, std });
        let data = prepare(&cfg, norm.as_ref(), Device::Cpu).map_err(valley_err)?;
        Ok(Self { data })
    }

    #[getter]
    fn name(&self) -> String {
        self.data.name.clone()
    }
    #[getter]
    fn num_classes(&self) -> i64 {
        self.data.num_classes
    }
    #[getter]
    fn channels(&self) -> i64 {
        self.data.channels
    }
    #[getter]
    fn image_size(&self) -> i64 {
        self.data.image_size
    }
    #[getter]
    fn train_size(&self) -> usize {
        self.data.train.len()
    }
    #[getter]
    fn test_size(&self) -> usize {
        self.data.test.len()
    }
    /// `(mean, std)` per channel, as recorded in checkpoints.
    #[getter]
    fn normalisation(&self) -> (Vec<f32>, Vec<f32>) {
        (self.data.normalisation.mean.clone(), self.data.normalisation.std.clone())
    }
    /// The JSON of the normalisation (a checkpoint's `normalisation` metadata).
    fn normalisation_json(&self) -> String {
        serde_json::to_string(&self.data.normalisation).unwrap_or_default()
    }

    /// The labels of `split` (`train` or `test`), int64.
    #[pyo3(signature = (split="train"))]
    fn labels<'py>(&self, py: Python<'py>, split: &str) -> PyResult<Bound<'py, PyAny>> {
        let set = match parse::<Split>(split)? {
            Split::Train => &self.data.train,
            Split::Test => &self.data.test,
        };
        to_numpy(py, &set.y)
    }

    /// The JSON of a model configuration for this data's channels, image size and classes.
    #[pyo3(signature = (arch, width=1.0, hidden=None, bn_init="ones"))]
    fn model_config(&self, arch: &str, width: f64, hidden: Option<Vec<i64>>, bn_init: &str) -> PyResult<String> {
        let d = &self.data;
        model_config(arch, d.channels, d.image_size, d.num_classes, width, hidden, bn_init)
    }
}

/// `(loss, accuracy)`: mean cross-entropy and accuracy of the model with `weights` on a
/// split, in evaluation mode (stored BN statistics), in batches of `batch`.
#[pyfunction]
#[pyo3(signature = (weights, model, data, split="test", batch=500))]
fn evaluate(
    weights: &Bound<'_, PyDict>,
    model: &str,
    data: &Dataset,
    split: &str,
    batch: usize,
) -> PyResult<(f64, f64)> {
    let config = config_of(model)?;
    data.data.check_fits(&config, Path::new("the weights")).map_err(valley_err)?;
    let (m, _) = model_with(&config, weights, "the weights")?;
    let set = match parse::<Split>(split)? {
        Split::Train => &data.data.train,
        Split::Test => &data.data.test,
    };
    let e = valley::eval::evaluate(&m, set, batch);
    Ok((e.loss, e.accuracy))
}

/// Client sample indices for a split of `labels` over `clients` clients, drawn as
/// `valley fed --seed seed` draws them (scheme `iid`, `dirichlet:α` or `shards:n`).
#[pyfunction]
fn partition(
    labels: PyReadonlyArray1<'_, i64>,
    num_classes: usize,
    clients: usize,
    scheme: &str,
    seed: u64,
) -> PyResult<Vec<Vec<usize>>> {
    let labels = labels.as_slice().map_err(|_| fail("labels must be a contiguous int64 array"))?;
    if let Some((i, l)) = labels.iter().enumerate().find(|(_, &l)| l < 0 || l as usize >= num_classes) {
        return Err(fail(format!("label {l} at index {i} is outside 0..{num_classes}")));
    }
    if clients == 0 {
        return Err(fail("clients must be at least 1"));
    }
    valley_fed::partition::split_clients(labels, num_classes, clients, &parse::<Partition>(scheme)?, seed)
        .map_err(valley_err)
}

/// SSR(a, b): the fraction of learnable parameters with the same sign (zero its own sign).
#[pyfunction]
fn ssr(a: &Bound<'_, PyDict>, b: &Bound<'_, PyDict>, model: &str) -> PyResult<f64> {
    let config = config_of(model)?;
    let layout = Model::new(&config, Device::Cpu).map_err(valley_err)?;
    let a = state_from(&layout, a, "a")?;
    let b = state_from(&layout, b, "b")?;
    Ok(sign_same_ratio(&a.learnable(), &b.learnable(), None))
}

/// The JSON list of valley-fusion's per-group SSR report (`valley fusion ssr`): for each
/// non-empty parameter group, SSR(a, b), SSR(init, a), SSR(init, b), SSR(a, b − a),
/// SSR(b, b − a) and the moments of each model.
#[pyfunction]
#[pyo3(signature = (a, b, model, init=None))]
fn ssr_groups(
    a: &Bound<'_, PyDict>,
    b: &Bound<'_, PyDict>,
    model: &str,
    init: Option<&Bound<'_, PyDict>>,
) -> PyResult<String> {
    let config = config_of(model)?;
    let layout = Model::new(&config, Device::Cpu).map_err(valley_err)?;
    let a = state_from(&layout, a, "a")?.learnable();
    let b = state_from(&layout, b, "b")?.learnable();
    let init = init.map(|i| state_from(&layout, i, "init").map(|p| p.learnable())).transpose()?;
    let report = valley_fusion::ssr::ssr_report(&layout, &a, &b, init.as_ref()).map_err(valley_err)?;
    serde_json::to_string(&report).map_err(|e| fail(e.to_string()))
}

/// `Σ_k w_k·θ_k / Σ_k w_k` of whole states (BN batch counters: the maximum), summed in the
/// given order; `weights` = `None` is the unweighted mean (`valley fed`'s aggregation).
#[pyfunction]
#[pyo3(signature = (models, model, weights=None))]
fn average<'py>(
    py: Python<'py>,
    models: Vec<Bound<'py, PyDict>>,
    model: &str,
    weights: Option<Vec<f64>>,
) -> PyResult<Bound<'py, PyDict>> {
    if models.is_empty() {
        return Err(fail("no models to average"));
    }
    if let Some(w) = &weights {
        if w.len() != models.len() || w.iter().any(|x| !(x.is_finite() && *x >= 0.0)) || w.iter().sum::<f64>() <= 0.0 {
            return Err(fail(format!(
                "weights must be {} finite numbers ≥ 0 with a positive sum, got {w:?}",
                models.len()
            )));
        }
    }
    let layout = Model::new(&config_of(model)?, Device::Cpu).map_err(valley_err)?;
    let states: Vec<Params> = models
        .iter()
        .enumerate()
        .map(|(k, m)| state_from(&layout, m, &format!("model {k}")))
        .collect::<PyResult<_>>()?;
    let refs: Vec<&Params> = states.iter().collect();
    params_dict(py, &Params::weighted_mean(&refs, weights.as_deref()))
}

/// The clients sampled in round `round` (1-based) of `valley fed --seed seed`.
#[pyfunction]
fn sample_clients(seed: u64, round: usize, clients: usize, per_round: usize) -> Vec<usize> {
    draw_clients(seed, round, clients, per_round)
}

/// `reduce` = `None` takes `valley fed`'s default FedSign reduction.
fn algorithm(name: &str, coef: Option<f64>, reduce: Option<&str>) -> PyResult<Algorithm> {
    let reduce = reduce.map(parse::<Reduce>).transpose()?.unwrap_or_default();
    Algorithm::parse(name, coef, reduce).map_err(valley_err)
}

/// One federated client's compute: a model (and MOON's two frozen ones) reused for every
/// round, trained on `data`'s training split with the objective of `algorithm`.
#[pyclass(module = "valley", unsendable, subclass)]
struct Client {
    workspace: Workspace,
    data: Py<Dataset>,
    algorithm: Algorithm,
    threads: usize,
}

#[pymethods]
impl Client {
    #[new]
    #[pyo3(signature = (data, model, algorithm="fedavg", coef=None, reduce=None, threads=1))]
    fn new(
        data: Bound<'_, Dataset>,
        model: &str,
        algorithm: &str,
        coef: Option<f64>,
        reduce: Option<&str>,
        threads: usize,
    ) -> PyResult<Self> {
        let algorithm = self::algorithm(algorithm, coef, reduce)?;
        let config = config_of(model)?;
        let workspace = {
            let d = data.borrow();
            d.data.check_fits(&config, Path::new("the model configuration")).map_err(valley_err)?;
            Workspace::new(&config, &algorithm, &d.data.train, &d.data.test, Device::Cpu).map_err(valley_err)?
        };
        Ok(Self { workspace, data: data.unbind(), algorithm, threads: threads.max(1) })
    }

    /// The algorithm's name (fedavg, fedprox, moon, feddyn, fedsign).
    #[getter]
    fn algorithm(&self) -> &'static str {
        self.algorithm.name()
    }

    /// Trains the global `weights` for `epochs` local epochs on the training samples
    /// `indices`, as client `client` in round `round` of a run with `seed` (which fixes
    /// the batch order), with a fresh SGD optimiser at a constant learning rate. `state` is
    /// what this client returned last time (FedDyn's correction, MOON's previous model).
    /// Returns `(weights, stats, state)`.
    #[pyo3(signature = (weights, indices, *, client, round, seed, epochs=5, batch_size=64, lr=0.03,
                        momentum=0.9, weight_decay=1e-5, state=None, fraction=1.0))]
    #[allow(clippy::too_many_arguments)]
    fn fit<'py>(
        &mut self,
        py: Python<'py>,
        weights: &Bound<'py, PyDict>,
        indices: Vec<usize>,
        client: usize,
        round: usize,
        seed: u64,
        epochs: usize,
        batch_size: usize,
        lr: f64,
        momentum: f64,
        weight_decay: f64,
        state: Option<&Bound<'py, PyDict>>,
        fraction: f64,
    ) -> PyResult<(Bound<'py, PyDict>, Bound<'py, PyDict>, Bound<'py, PyDict>)> {
        let data = self.data.bind(py).borrow();
        let n = data.data.train.len();
        if indices.is_empty() {
            return Err(fail(format!("client {client} has no training samples")));
        }
        if let Some(&i) = indices.iter().find(|&&i| i >= n) {
            return Err(fail(format!("sample index {i} is outside the training split (0..{n})")));
        }
        if epochs == 0 || batch_size == 0 || round == 0 {
            return Err(fail(format!(
                "epochs, batch size and round must be ≥ 1 (got {epochs} epochs, batch {batch_size}, round {round})"
            )));
        }
        if !(fraction > 0.0 && fraction <= 1.0) {
            return Err(fail(format!("fraction of local steps must lie in (0, 1], got {fraction}")));
        }
        let optim = OptimConfig { lr, momentum, weight_decay, ..OptimConfig::default() };
        optim.validate().map_err(valley_err)?;
        let global = state_from(&self.workspace.model, weights, "the global weights")?;
        let mut client_state = self.load_state(state)?;
        let ins = FitIns {
            weights: global.share(),
            local: LocalConfig { algorithm: self.algorithm, epochs, batch_size, optim },
        };
        let task =
            ClientTask { round, client, seed, indices: &indices, images: data.data.train_images.as_ref(), fraction };
        // `valley fed` computes with one intra-op thread, so equal threads give equal floats.
        tch::set_num_threads(self.threads as i32);
        // With torch imported, libtorch's autograd engine refuses to run while the GIL is held.
        // Tensors are Send but not Sync, so the closure owns what it uses and hands back the state.
        let workspace = &mut self.workspace;
        let (res, client_state) = py.detach(move || {
            let res = local_fit(workspace, &task, &mut client_state, &ins);
            (res, client_state)
        });
        let res: FitRes = res.map_err(valley_err)?;
        let stats = PyDict::new(py);
        stats.set_item("num_examples", res.num_examples)?;
        stats.set_item("train_loss", res.train_loss)?;
        stats.set_item("reg_term", res.reg_term)?;
        stats.set_item("steps", res.steps)?;
        stats.set_item("planned_steps", res.planned_steps)?;
        stats.set_item("ssr", sign_same_ratio(&res.weights.learnable(), &global.learnable(), None))?;
        Ok((params_dict(py, &res.weights)?, stats, self.state_dict(py, &client_state)?))
    }
}

impl Client {
    /// Client state from its dict: `correction.{j}` (FedDyn's g_k per learnable tensor) and
    /// `previous.{name}` (MOON's previous local model), the names `valley fed` checkpoints
    /// under `client.{k}.`.
    fn load_state(&self, state: Option<&Bound<'_, PyDict>>) -> PyResult<ClientState> {
        let Some(state) = state else { return Ok(ClientState::default()) };
        let tensors = tensors_of(state)?;
        let get = |n: &str| tensors.get(n).map(|t| t.to_kind(Kind::Float));
        let correction: Vec<Tensor> = (0..).map_while(|j| get(&format!("correction.{j}"))).collect();
        let like = Params::state_of(&self.workspace.model);
        if correction.len() != like.learnable_indices().count() && !correction.is_empty() {
            return Err(fail(format!(
                "client state has {} correction tensors, the model has {} learnable tensors",
                correction.len(),
                like.learnable_indices().count()
            )));
        }
        for (j, (g, i)) in correction.iter().zip(like.learnable_indices()).enumerate() {
            if g.size() != like.tensors[i].size() {
                return Err(fail(format!(
                    "client state `correction.{j}` has shape {:?}, expected {:?}",
                    g.size(),
                    like.tensors[i].size()
                )));
            }
        }
        let previous = Params::from_named_like(&like, "previous.", &get);
        if previous.is_none() && tensors.keys().any(|k| k.starts_with("previous.")) {
            return Err(fail("client state `previous.*` does not hold a whole state of the model"));
        }
        Ok(ClientState { correction: (!correction.is_empty()).then_some(correction), previous })
    }

    fn state_dict<'py>(&self, py: Python<'py>, s: &ClientState) -> PyResult<Bound<'py, PyDict>> {
        let mut named: Vec<(String, Tensor)> = Vec::new();
        for (j, g) in s.correction.iter().flatten().enumerate() {
            named.push((format!("correction.{j}"), g.shallow_clone()));
        }
        if let Some(p) = &s.previous {
            named.extend(p.named("previous."));
        }
        dict_of(py, named)
    }
}

/// A federated server's aggregation rule, `valley fed`'s strategies: the (unweighted, as in
/// the paper, or size-weighted) mean of the returned models for FedAvg, FedProx, MOON and
/// FedSign; FedDyn's `h ← h − α/K·Σ(θk − θt)`, `θ = mean θk − h/α`, with h kept here.
#[pyclass(module = "valley", unsendable, subclass)]
struct Server {
    strategy: Box<dyn Strategy>,
    layout: Model,
}

#[pymethods]
impl Server {
    #[new]
    #[pyo3(signature = (model, clients, algorithm="fedavg", coef=None, reduce=None, weighted=false))]
    fn new(
        model: &str,
        clients: usize,
        algorithm: &str,
        coef: Option<f64>,
        reduce: Option<&str>,
        weighted: bool,
    ) -> PyResult<Self> {
        let config = config_of(model)?;
        if clients == 0 {
            return Err(fail("clients must be at least 1"));
        }
        let algorithm = self::algorithm(algorithm, coef, reduce)?;
        let mut cfg = FedConfig::paper(algorithm, DataConfig::new(DatasetKind::Digits), config.clone(), 1, 0);
        (cfg.clients, cfg.weighted) = (clients, weighted);
        let layout = Model::new(&config, Device::Cpu).map_err(valley_err)?;
        Ok(Self { strategy: for_config(&cfg), layout })
    }

    /// The next global model from θt (`global`) and the returned `(weights, num_examples)`
    /// pairs, in client order.
    fn aggregate<'py>(
        &mut self,
        py: Python<'py>,
        round: usize,
        global: &Bound<'py, PyDict>,
        results: Vec<(Bound<'py, PyDict>, usize)>,
    ) -> PyResult<Bound<'py, PyDict>> {
        if results.is_empty() {
            return Err(fail("no client results to aggregate (keep the global model instead)"));
        }
        let global = state_from(&self.layout, global, "the global weights")?;
        let mut fits = Vec::with_capacity(results.len());
        for (k, (w, n)) in results.iter().enumerate() {
            let weights = state_from(&self.layout, w, &format!("result {k}"))?;
            let res = FitRes { weights, num_examples: *n, train_loss: 0.0, reg_term: 0.0, steps: 0, planned_steps: 0 };
            fits.push((k, res));
        }
        let next = self.strategy.aggregate_fit(round, &global, &fits, &[]);
        params_dict(py, &next)
    }

    /// The server state to keep between rounds (FedDyn's `server.h.{j}`; empty otherwise).
    fn state<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        dict_of(py, self.strategy.state())
    }

    fn load_state(&mut self, state: &Bound<'_, PyDict>) -> PyResult<()> {
        let tensors = tensors_of(state)?;
        self.strategy.load_state(&|n: &str| tensors.get(n).map(|t| t.to_kind(Kind::Float))).map_err(valley_err)
    }
}

/// A 1D valley `L(θf + λ·d)` of a checkpoint, as `valley landscape` evaluates it: the
/// direction d built from noise `direction` with `sign` (as-sampled or consistent), the
/// normalisation `norm` (raw, ns, ns-tensor, filter, ...) at scale `scale` and `seed`, over
/// all parameters; BN statistics re-estimated at every point (`bn="recompute"`) or kept, from
/// samples cropped and flipped as the checkpoint's training did (`bn_augment="as-trained"`;
/// or `"yes"`, `"no"`). Returns the JSON of `{"lambdas": [...], "<split>_loss": [...], "<split>_error": [...]}`.
#[pyfunction]
#[pyo3(signature = (checkpoint, lambdas, dataset, direction="gaussian", sign="as-sampled", norm="filter",
                    scale=1.0, seed=0, data_dir=None, train_limit=None, test_limit=None, subset_seed=0,
                    splits=vec!["test".to_string()], bn="recompute", bn_augment="as-trained"))]
#[allow(clippy::too_many_arguments)]
fn curve(
    checkpoint: PathBuf,
    lambdas: Vec<f64>,
    dataset: &str,
    direction: &str,
    sign: &str,
    norm: &str,
    scale: f64,
    seed: u64,
    data_dir: Option<PathBuf>,
    train_limit: Option<usize>,
    test_limit: Option<usize>,
    subset_seed: u64,
    splits: Vec<String>,
    bn: &str,
    bn_augment: &str,
) -> PyResult<String> {
    if lambdas.is_empty() || lambdas.iter().any(|l| !l.is_finite()) {
        return Err(fail("lambdas must be a non-empty list of finite numbers"));
    }
    if !(scale.is_finite() && scale > 0.0) {
        return Err(fail(format!("scale must be a finite number > 0, got {scale}")));
    }
    let [sign] = LandscapeSpec::parse_signs(Some(sign), &[]).map_err(valley_err)?[..] else {
        return Err(fail("sign must be as-sampled or consistent"));
    };
    let spec = DirectionSpec {
        noise: parse::<Noise>(direction)?,
        sign,
        norm: parse::<Norm>(norm)?,
        scale,
        group: Group::All,
        seed,
    };
    let splits: Vec<Split> = splits.iter().map(|s| parse::<Split>(s)).collect::<PyResult<_>>()?;
    let ck = Checkpoint::read(&checkpoint).map_err(valley_err)?;
    let bn_augment = parse::<BnAugment>(bn_augment)?.resolve(Some(&ck)).map_err(valley_err)?;
    let eval = EvalConfig { bn: parse(bn)?, bn_augment, ..EvalConfig::default() };
    let model = ck.to_model(None, Device::Cpu).map_err(valley_err)?;
    let cfg = DataConfig {
        dataset: parse::<DatasetKind>(dataset)?,
        data_dir,
        train_limit,
        test_limit,
        subset_seed,
        augment: None,
    };
    let data = EvalData::prepare(&ck, &model, &cfg, &splits, &eval, Device::Cpu).map_err(valley_err)?;
    let theta = Params::of(&model);
    let d = build_direction(&spec, &theta, &model, &Context::default()).map_err(valley_err)?;
    let mut evaluator = Evaluator::new(&model, &data, eval);
    let points = evaluator.sweep(&d, &lambdas);
    evaluator.restore();
    let mut out = serde_json::Map::new();
    out.insert("lambdas".into(), serde_json::json!(lambdas));
    for (j, s) in splits.iter().enumerate() {
        let col = |f: fn(&valley::eval::Eval) -> f64| points.iter().map(|p| f(&p.per_split[j].1)).collect::<Vec<f64>>();
        out.insert(format!("{s}_loss"), serde_json::json!(col(|e| e.loss)));
        out.insert(format!("{s}_error"), serde_json::json!(col(|e| e.error())));
    }
    serde_json::to_string(&out).map_err(|e| fail(e.to_string()))
}

/// The extension module; `valley/__init__.py` re-exports it with Python defaults.
#[pymodule]
fn _valley(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("ValleyError", m.py().get_type::<ValleyError>())?;
    m.add("VERSION", valley::VERSION)?;
    m.add("ROUNDS_CSV_HEADER", valley_fed::RoundRecord::CSV_HEADER)?;
    m.add_function(wrap_pyfunction!(read_checkpoint, m)?)?;
    m.add_function(wrap_pyfunction!(write_checkpoint, m)?)?;
    m.add_function(wrap_pyfunction!(save_model, m)?)?;
    m.add_function(wrap_pyfunction!(model_config, m)?)?;
    m.add_function(wrap_pyfunction!(init_weights, m)?)?;
    m.add_function(wrap_pyfunction!(evaluate, m)?)?;
    m.add_function(wrap_pyfunction!(partition, m)?)?;
    m.add_function(wrap_pyfunction!(ssr, m)?)?;
    m.add_function(wrap_pyfunction!(ssr_groups, m)?)?;
    m.add_function(wrap_pyfunction!(sample_clients, m)?)?;
    m.add_function(wrap_pyfunction!(average, m)?)?;
    m.add_function(wrap_pyfunction!(curve, m)?)?;
    m.add_class::<Dataset>()?;
    m.add_class::<Client>()?;
    m.add_class::<Server>()?;
    Ok(())
}
