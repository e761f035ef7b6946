"""What the ServerApp and the ClientApps share: the run's settings, the data and model they
derive from them, and state dicts <-> Flower ArrayRecords."""

from dataclasses import dataclass

import numpy as np
from flwr.app import Array, ArrayRecord

import valley


@dataclass(frozen=True)
class Settings:
    """A run's settings, read from Flower's run config (keys as in pyproject.toml, which are
    `valley fed`'s flags)."""

    algorithm: str
    coef: float | None
    reduce: str | None
    clients: int
    participation: float
    rounds: int
    local_epochs: int
    batch_size: int
    lr: float
    momentum: float
    weight_decay: float
    dataset: str
    data_dir: str | None
    train_limit: int | None
    test_limit: int | None
    model: str
    width: float
    partition: str
    seed: int
    eval_batch: int
    out_dir: str

    @classmethod
    def from_run_config(cls, c):
        coef = str(c["coef"])
        return cls(
            algorithm=str(c["algorithm"]),
            coef=None if coef in ("", "default") else float(coef),
            reduce=None if str(c["fedsign-reduce"]) in ("", "default") else str(c["fedsign-reduce"]),
            clients=int(c["clients"]),
            participation=float(c["participation"]),
            rounds=int(c["rounds"]),
            local_epochs=int(c["local-epochs"]),
            batch_size=int(c["batch-size"]),
            lr=float(c["lr"]),
            momentum=float(c["momentum"]),
            weight_decay=float(c["weight-decay"]),
            dataset=str(c["dataset"]),
            data_dir=str(c["data-dir"]) or None,
            train_limit=int(c["train-limit"]) or None,
            test_limit=int(c["test-limit"]) or None,
            model=str(c["model"]),
            width=float(c["width"]),
            partition=str(c["partition"]),
            seed=int(c["seed"]),
            eval_batch=int(c["eval-batch"]),
            out_dir=str(c["out-dir"]),
        )

    def dataset_(self):
        """The data as `valley fed --seed SEED` loads it (limits draw their subset with the seed)."""
        return valley.Dataset(self.dataset, data_dir=self.data_dir, train_limit=self.train_limit,
                              test_limit=self.test_limit, subset_seed=self.seed)

    def model_config(self, data):
        return data.model_config(self.model, width=self.width)


def to_record(weights):
    """A state dict (name -> array) as an ArrayRecord (names kept, arrays copied)."""
    return ArrayRecord({k: Array(np.ascontiguousarray(v)) for k, v in weights.items()})


def from_record(record):
    """An ArrayRecord as a state dict."""
    return {k: a.numpy() for k, a in record.items()}
