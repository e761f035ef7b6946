"""valley from Python: the engine of the `valley` command line (Rust, libtorch) as functions.

    import valley
    data = valley.Dataset("fashion-mnist", train_limit=2000)
    model = data.model_config("mlp", hidden=[64])
    theta = valley.init_weights(model, seed=1)                 # valley fed --seed 1's θ0
    parts = valley.partition(data.labels(), data.num_classes, 10, "dirichlet:0.5", seed=1)
    client = valley.Client(data, model, "fedsign", coef=0.01)
    new, stats, state = client.fit(theta, parts[0], client=0, round=1, seed=1, epochs=1)
    valley.evaluate(new, model, data)                           # {'loss': ..., 'accuracy': ...}

Weights are state dicts `{tensor name: numpy array}` with PyTorch's names (torch tensors are
accepted wherever arrays are); a model configuration is the dict a checkpoint stores under its
`model` metadata. Every failure raises `valley.ValleyError` with valley's message.
"""

import json as _json

import numpy as _np

try:
    # The extension links the libtorch of the environment's torch wheel; importing torch
    # first loads exactly those libraries, whatever the extension's rpath says.
    import torch as _torch
except ImportError:  # the rpath still finds libtorch where the package was built
    _torch = None

from . import _valley
from ._valley import ROUNDS_CSV_HEADER, VERSION, ValleyError, sample_clients

__all__ = [
    "ROUNDS_CSV_HEADER",
    "VERSION",
    "Checkpoint",
    "Client",
    "Dataset",
    "Server",
    "ValleyError",
    "curve",
    "average",
    "evaluate",
    "init_weights",
    "model_config",
    "partition",
    "read_checkpoint",
    "sample_clients",
    "save_model",
    "ssr",
    "ssr_groups",
    "write_checkpoint",
]


def _cfg(model):
    """A model configuration (dict or JSON text) as the JSON the extension reads."""
    if isinstance(model, str):
        return model
    if isinstance(model, dict):
        return _json.dumps(model)
    raise ValleyError(f"a model configuration must be a dict or JSON text, got {type(model).__name__}")


def _array(name, value):
    """A contiguous NumPy array of a tensor or array-like (torch tensors are copied to the CPU)."""
    if hasattr(value, "detach") and hasattr(value, "cpu"):
        value = value.detach().cpu().numpy()
    a = _np.asarray(value)
    if a.dtype not in (_np.float32, _np.float64, _np.int64):
        raise ValleyError(f"tensor `{name}` has dtype {a.dtype}; valley stores float32, float64 and int64")
    # Not np.ascontiguousarray: it turns a 0-d array (BN's num_batches_tracked) into shape (1,).
    return a if a.flags["C_CONTIGUOUS"] else a.copy(order="C")


def _arrays(tensors):
    if not isinstance(tensors, dict):
        raise ValleyError(f"weights must be a dict of name -> array, got {type(tensors).__name__}")
    return {str(k): _array(k, v) for k, v in tensors.items()}


class Checkpoint:
    """A checkpoint read into memory: `tensors` (name -> array), `metadata` (name -> text) and
    `model`, the model configuration (dict) when the file records one."""

    def __init__(self, tensors, metadata):
        self.tensors = tensors
        self.metadata = metadata
        self.model = _json.loads(metadata["model"]) if "model" in metadata else None

    def __repr__(self):
        arch = self.model["arch"] if self.model else "unknown model"
        return f"Checkpoint({len(self.tensors)} tensors, {arch})"


def read_checkpoint(path, as_torch=False):
    """Reads a safetensors checkpoint (any valley output or PyTorch safetensors file).
    `as_torch=True` gives torch tensors instead of NumPy arrays."""
    tensors, metadata = _valley.read_checkpoint(str(path))
    if as_torch:
        if _torch is None:
            raise ValleyError("as_torch=True needs torch installed")
        tensors = {k: _torch.from_numpy(v) for k, v in tensors.items()}
    return Checkpoint(tensors, metadata)


def write_checkpoint(path, tensors, metadata=None):
    """Writes `tensors` with `metadata` (text values) as given, atomically; the file reads back
    bit-identical. NaN or infinite values are refused, naming the tensor."""
    meta = {str(k): str(v) for k, v in (metadata or {}).items()}
    _valley.write_checkpoint(str(path), _arrays(tensors), meta)


def save_model(path, weights, model, **extra):
    """Writes a model checkpoint exactly as `valley train`/`valley fed` do (valley's metadata
    block plus `extra` as text), so `valley eval` and `valley info` read it. Pass
    `normalisation=data.normalisation_json()` so `valley eval` normalises its inputs alike."""
    _valley.save_model(str(path), _arrays(weights), _cfg(model), {k: str(v) for k, v in extra.items()})


def model_config(arch, in_channels, image_size, num_classes, width=1.0, hidden=None, bn_init="ones"):
    """A model configuration: arch linear, mlp, cnn, vgg11[-bn]..vgg19[-bn], resnet20, resnet18;
    `width` scales channels and hidden units; `hidden` are the MLP's hidden widths."""
    return _json.loads(_valley.model_config(arch, in_channels, image_size, num_classes, width, hidden, bn_init))


def init_weights(model, seed):
    """The initial global model θ0 that `valley fed --seed SEED` draws for this model."""
    return _valley.init_weights(_cfg(model), int(seed))


class Dataset(_valley.Dataset):
    """A dataset loaded as `valley fed` and `valley train` load it:
    `Dataset(name, data_dir=None, train_limit=None, test_limit=None, subset_seed=0,
    augment=None, normalisation=None)`. Names: fashion-mnist, mnist, cifar10, cifar100, svhn,
    image-folder, csv, digits. Limits keep a stratified subset drawn with `subset_seed` (the run
    seed in `valley fed`); the normalisation is computed on the training split unless a
    `(mean, std)` pair is given (for example a checkpoint's)."""

    def model_config(self, arch, width=1.0, hidden=None, bn_init="ones"):
        """A model configuration for this data's channels, image size and classes."""
        return _json.loads(super().model_config(arch, width, hidden, bn_init))


def evaluate(weights, model, data, split="test", batch=500):
    """`{"loss", "accuracy"}` of the model with `weights` on `data`'s `split` (train or test):
    mean cross-entropy and accuracy in evaluation mode with the stored BN statistics."""
    loss, acc = _valley.evaluate(_arrays(weights), _cfg(model), data, split, batch)
    return {"loss": loss, "accuracy": acc}


def partition(labels, num_classes, clients, scheme="dirichlet:0.5", seed=0):
    """Client sample indices (one int64 array per client) for `clients` clients: scheme `iid`,
    `dirichlet:α` or `shards:n`, drawn as `valley fed --seed SEED` draws them (so the same
    labels and seed give every client the same samples as the CLI)."""
    labels = _np.ascontiguousarray(_np.asarray(labels, dtype=_np.int64))
    parts = _valley.partition(labels, int(num_classes), int(clients), scheme, int(seed))
    return [_np.asarray(p, dtype=_np.int64) for p in parts]


def ssr(a, b, model):
    """SSR(a, b): the fraction of learnable parameters whose signs agree (zero is its own sign)."""
    return _valley.ssr(_arrays(a), _arrays(b), _cfg(model))


def ssr_groups(a, b, model, init=None):
    """Per parameter group (all, conv, linear, bn, ...), as `valley fusion ssr` reports it:
    SSR(a, b), SSR(init, a), SSR(init, b), SSR(a, b − a), SSR(b, b − a) and each model's moments."""
    report = _valley.ssr_groups(_arrays(a), _arrays(b), _cfg(model), None if init is None else _arrays(init))
    return _json.loads(report)


class Client(_valley.Client):
    """One federated client's compute: `Client(data, model, algorithm="fedavg", coef=None,
    reduce=None, threads=1)`. `algorithm` is fedavg, fedprox (coef μ, default 0.01), moon
    (μ, default 1; τ = 0.5), feddyn (α, default 0.01) or fedsign (γ, default 0.01; `reduce`
    sum, mean or tensor-mean, default `valley fed`'s). `threads` is libtorch's intra-op thread
    count; `valley fed` uses 1, which is what makes a client's result equal the CLI's bit for bit.
    The setting is the process's (it is torch's `set_num_threads` when torch is imported too)."""

    def __new__(cls, data, model, algorithm="fedavg", coef=None, reduce=None, threads=1):
        return super().__new__(cls, data, _cfg(model), algorithm, coef, reduce, threads)

    def fit(self, weights, indices, *, client, round, seed, epochs=5, batch_size=64, lr=0.03,
            momentum=0.9, weight_decay=1e-5, state=None, fraction=1.0):
        """Trains the global `weights` on training samples `indices` as client `client` in
        round `round` (1-based) of a run with `seed`, for `epochs` local epochs of SGD at a
        constant `lr` (the defaults are the paper's). `state` is the state this client returned
        last time (FedDyn, MOON). Returns `(weights, stats, state)`; stats are num_examples,
        train_loss (mean local cross-entropy), reg_term (mean per-step value of the objective's
        extra term), steps, planned_steps and ssr = SSR(θk, θt)."""
        idx = _np.asarray(indices, dtype=_np.int64).reshape(-1)
        if idx.size and idx.min() < 0:
            raise ValleyError(f"sample index {int(idx.min())} is negative")
        idx = idx.tolist()
        return super().fit(
            _arrays(weights), idx, client=int(client), round=int(round), seed=int(seed), epochs=epochs,
            batch_size=batch_size, lr=lr, momentum=momentum, weight_decay=weight_decay,
            state=None if state is None else _arrays(state), fraction=fraction)


class Server(_valley.Server):
    """A server's aggregation rule as in `valley fed`: `Server(model, clients, algorithm="fedavg",
    coef=None, reduce=None, weighted=False)`. `aggregate(round, global_weights, [(weights,
    num_examples), ...])` returns the next global model: the unweighted mean (the paper; or
    size-weighted with `weighted=True`), and for FedDyn `θ = mean θk − h/α` with its server state
    h kept in this object (`state()` / `load_state()`); `clients` is K, FedDyn's m."""

    def __new__(cls, model, clients, algorithm="fedavg", coef=None, reduce=None, weighted=False):
        return super().__new__(cls, _cfg(model), int(clients), algorithm, coef, reduce, weighted)

    def aggregate(self, round, global_weights, results):
        pairs = [(_arrays(w), int(n)) for w, n in results]
        return super().aggregate(int(round), _arrays(global_weights), pairs)

    def load_state(self, state):
        super().load_state(_arrays(state))


def average(models, model, weights=None):
    """The (weighted) mean of whole states, as `valley fed` averages client models: parameters
    and BN statistics averaged in the given order, BN batch counters the maximum."""
    return _valley.average([_arrays(m) for m in models], _cfg(model), None if weights is None else list(weights))


def curve(checkpoint, lambdas, dataset="fashion-mnist", direction="gaussian", sign="as-sampled",
          norm="filter", scale=1.0, seed=0, data_dir=None, train_limit=None, test_limit=None,
          subset_seed=0, splits=("test",), bn="recompute", bn_augment="as-trained"):
    """A 1D valley L(θf + λ·d) of a checkpoint as `valley landscape` computes it: d from noise
    `direction` (gaussian, uniform, ..., sign, sgp, ...), `sign` as-sampled or consistent,
    normalised by `norm` (raw, ns, ns-tensor, filter, ...) at `scale`; BN statistics recomputed
    at every point (`bn="recompute"`, the paper) or kept, from training samples cropped and
    flipped as the checkpoint's training did (`bn_augment="as-trained"`; or "yes", "no"). Returns `{"lambdas", "<split>_loss",
    "<split>_error"}` as NumPy arrays."""
    out = _json.loads(_valley.curve(
        str(checkpoint), [float(x) for x in lambdas], dataset, direction, sign, norm, float(scale), int(seed),
        None if data_dir is None else str(data_dir), train_limit, test_limit, int(subset_seed), list(splits), bn,
        bn_augment))
    return {k: _np.asarray(v) for k, v in out.items()}
