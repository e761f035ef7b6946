"""The ServerApp: valley's server strategies on Flower, writing what `valley fed` writes.

Each round the strategy sends θt to max(⌊Q·K⌋, 1) connected SuperNodes, aggregates what returns
with valley's rule (`valley.Server`: the unweighted mean of the paper; FedDyn's
θ = mean θk − h/α with h kept in the strategy), evaluates the new global model on the test set
and writes OUT/rounds.csv (the columns of `valley fed`'s) and OUT/global.safetensors (a valley
checkpoint with the input normalisation, which `valley eval` reads).
"""

import json
import math
import time
from pathlib import Path

import numpy as np

from flwr.app import ConfigRecord, Context, MetricRecord
from flwr.serverapp import Grid, ServerApp
from flwr.serverapp.strategy import FedAvg

import valley

from .task import Settings, from_record, to_record

app = ServerApp()


class UnweightedAverage(FedAvg):
    """FedAvg's server as in the paper: the unweighted mean of the returned models, in client
    order. FedProx, MOON and FedSign use it too; their difference is the client objective."""

    def __init__(self, settings, model, **kwargs):
        per_round = max(math.floor(settings.participation * settings.clients + 1e-9), 1)
        super().__init__(fraction_train=settings.participation, fraction_evaluate=0.0,
                         min_train_nodes=per_round, min_available_nodes=settings.clients, **kwargs)
        self.rule = valley.Server(model, settings.clients, settings.algorithm, coef=settings.coef,
                                  reduce=settings.reduce)
        self.model = model
        self.global_weights = None
        self.sign_diff_mean_client = math.nan
        self.round_started = None
        self.selected = 0
        self.returns = []

    def configure_train(self, server_round, arrays, config, grid):
        self.round_started = time.perf_counter()
        self.sign_diff_mean_client = math.nan
        self.global_weights = from_record(arrays)
        messages = list(super().configure_train(server_round, arrays, config, grid))
        self.selected = len(messages)
        return messages

    def aggregate_train(self, server_round, replies):
        valid, _ = self._check_and_log_replies(replies, is_train=True)
        valid.sort(key=lambda m: int(m.content["metrics"]["client"]))
        self.returns = [m.content["metrics"] for m in valid]
        if not valid:
            return None, None
        results = [(from_record(m.content["arrays"]), int(m.content["metrics"]["num-examples"])) for m in valid]
        new = self.rule.aggregate(server_round, self.global_weights, results)
        # What `valley fed` records beside the aggregate: the signs of the plain client mean.
        mean = valley.average([w for w, _ in results], self.model)
        self.sign_diff_mean_client = 1.0 - valley.ssr(mean, self.global_weights, self.model)
        n = len(valid)
        metrics = MetricRecord({
            "train-loss": sum(r["train-loss"] for r in self.returns) / n,
            "mean-ssr": sum(r["ssr"] for r in self.returns) / n,
        })
        return to_record(new), metrics


class FedDyn(UnweightedAverage):
    """FedDyn's server (Acar et al. 2021): `h ← h − α/K·Σ(θk − θt)`, `θ = mean θk − h/α`. The
    state h lives in this strategy (in its `valley.Server`), for the whole run."""

    def server_state(self):
        """h, one array per learnable tensor (empty before the first aggregation)."""
        return self.rule.state()


STRATEGIES = {
    "fedavg": UnweightedAverage,
    "fedprox": UnweightedAverage,
    "moon": UnweightedAverage,
    "fedsign": UnweightedAverage,
    "feddyn": FedDyn,
}


class RoundWriter:
    """Evaluates each new global model and writes rounds.csv and global.safetensors."""

    def __init__(self, settings, data, model, strategy):
        self.s, self.data, self.model, self.strategy = settings, data, model, strategy
        self.out = Path(settings.out_dir)
        self.out.mkdir(parents=True, exist_ok=True)
        self.rows = []
        self.previous = None

    def __call__(self, server_round, arrays):
        weights = from_record(arrays)
        if server_round == 0:
            self.previous = weights
            return None
        loss, acc = valley.evaluate(weights, self.model, self.data, "test", self.s.eval_batch).values()
        st = self.strategy
        returned = st.returns
        n = len(returned)
        values = {
            "round": server_round,
            "test_accuracy": acc,
            "test_loss": loss,
            "train_loss": sum(r["train-loss"] for r in returned) / n if n else math.nan,
            "mean_ssr": sum(r["ssr"] for r in returned) / n if n else math.nan,
            "sign_flip": 1.0 - valley.ssr(weights, self.previous, self.model),
            "selected": st.selected,
            "returned": n,
            "stragglers": sum(1 for r in returned if r["steps"] < r["planned-steps"]),
            "kept_global": n == 0,
            "seconds": time.perf_counter() - st.round_started,
            # Flower runs evaluate on the test split; the validation columns are for selection runs.
            "val_accuracy": math.nan,
            "val_loss": math.nan,
            "reg_term": sum(r["reg-term"] for r in returned) / n if n else math.nan,
            "sign_diff_mean_client": st.sign_diff_mean_client,
        }
        self.rows.append(values)
        self.previous = weights
        valley.save_model(self.out / "global.safetensors", weights, self.model, seed=self.s.seed,
                          round=server_round, algorithm=self.s.algorithm,
                          normalisation=self.data.normalisation_json(), engine="flower")
        write_rounds_csv(self.out / "rounds.csv", self.rows)
        return MetricRecord({"test-accuracy": acc, "test-loss": loss})


def _cell(column, v):
    if isinstance(v, bool):
        return "true" if v else "false"
    if column == "seconds":
        return f"{v:.3f}"
    if isinstance(v, float):
        # Rust's formatting of f64: the shortest digits that read back exactly, never an exponent.
        return "NaN" if math.isnan(v) else np.format_float_positional(v, unique=True, trim="-")
    return str(v)


def write_rounds_csv(path, rows):
    """rounds.csv with `valley fed`'s header (valley.ROUNDS_CSV_HEADER) and number format."""
    columns = valley.ROUNDS_CSV_HEADER.split(",")
    missing = [c for c in columns if c not in rows[0]]
    if missing:
        raise valley.ValleyError(f"the Flower server does not compute rounds.csv column(s) {missing}")
    lines = [valley.ROUNDS_CSV_HEADER] + [",".join(_cell(c, r[c]) for c in columns) for r in rows]
    tmp = path.with_suffix(".csv.tmp")
    tmp.write_text("\n".join(lines) + "\n")
    tmp.replace(path)


@app.main()
def main(grid: Grid, context: Context) -> None:
    s = Settings.from_run_config(context.run_config)
    if s.algorithm not in STRATEGIES:
        raise valley.ValleyError(f"unknown algorithm `{s.algorithm}` (expected one of {', '.join(STRATEGIES)})")
    data = s.dataset_()
    model = s.model_config(data)
    strategy = STRATEGIES[s.algorithm](s, model)
    writer = RoundWriter(s, data, model, strategy)
    (writer.out / "flower.json").write_text(json.dumps({**s.__dict__, "model_config": model}, indent=2) + "\n")
    train_config = ConfigRecord({"clients": s.clients})
    strategy.start(grid=grid, initial_arrays=to_record(valley.init_weights(model, s.seed)), num_rounds=s.rounds,
                   train_config=train_config, evaluate_fn=writer)
