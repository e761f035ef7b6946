"""The Python package `valley` against the `valley` command line: checkpoints written by the CLI
read back and rewrite bit-identical, one federated round trained through the package equals
`valley fed`'s bit for bit (same seed), and bad input raises ValleyError with valley's message.

Runs on the bundled digits data (8x8, 1438 training samples), a few seconds in all.
"""

import csv
import json
import os
import subprocess
from pathlib import Path

import numpy as np
import pytest

import valley

ROOT = Path(__file__).resolve().parents[2]
CLI = Path(os.environ.get("VALLEY_BIN", ROOT / "target" / "release" / "valley"))


def run_cli(*args):
    if not CLI.exists():
        pytest.fail(f"{CLI} is missing: build it with `cargo build --release` (scripts/setup.sh does)")
    done = subprocess.run([str(CLI), *map(str, args)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    return done.stdout


def fed_run(out, algo, rounds, seed=5, extra=()):
    """`valley fed` on digits: 3 clients, all sampled every round, 1 local epoch."""
    run_cli("fed", "--dataset", "digits", "--model", "mlp", "--width", "0.125", "--clients", 3,
            "--participation", 1, "--rounds", rounds, "--local-epochs", 1, "--seed", seed,
            "--algo", algo, "--out", out, *extra)
    return json.loads((out / "fed.json").read_text())


@pytest.fixture(scope="module")
def digits():
    # `valley fed --seed 5` subsets with seed 5; without limits the seed changes nothing.
    return valley.Dataset("digits", subset_seed=5)


def rounds_csv(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


@pytest.mark.parametrize("algo,coef", [("fedsign", 0.01), ("feddyn", 0.01), ("moon", 1.0)])
def test_rounds_through_the_package_equal_valley_fed(tmp_path, digits, algo, coef):
    cfg = fed_run(tmp_path / "cli", algo, rounds=2)
    model, seed, optim = cfg["model"], cfg["seed"], cfg["optim"]
    labels = digits.labels()
    parts = valley.partition(labels, digits.num_classes, cfg["clients"], "dirichlet:0.5", seed)
    assert sorted(np.concatenate(parts).tolist()) == list(range(len(labels)))

    server = valley.Server(model, cfg["clients"], algo, coef=coef)
    client = valley.Client(digits, model, algo, coef=coef)
    theta = valley.init_weights(model, seed)
    states = [None] * cfg["clients"]
    expected = rounds_csv(tmp_path / "cli" / "rounds.csv")
    for rnd in (1, 2):
        results, ssrs, regs = [], [], []
        for k in valley.sample_clients(seed, rnd, cfg["clients"], cfg["clients"]):
            w, stats, states[k] = client.fit(
                theta, parts[k], client=k, round=rnd, seed=seed, epochs=cfg["local_epochs"],
                batch_size=cfg["batch_size"], lr=optim["lr"], momentum=optim["momentum"],
                weight_decay=optim["weight_decay"], state=states[k])
            assert stats["num_examples"] == len(parts[k]) and stats["steps"] == stats["planned_steps"]
            results.append((w, stats["num_examples"]))
            ssrs.append(stats["ssr"])
            regs.append(stats["reg_term"])
        mean = valley.average([w for w, _ in results], model)
        old = theta
        theta = server.aggregate(rnd, theta, results)
        ev = valley.evaluate(theta, model, digits)
        row = expected[rnd - 1]
        assert ev["accuracy"] == float(row["test_accuracy"])
        assert ev["loss"] == pytest.approx(float(row["test_loss"]), rel=1e-12)
        assert np.mean(ssrs) == pytest.approx(float(row["mean_ssr"]), rel=1e-12)
        assert np.mean(regs) == pytest.approx(float(row["reg_term"]), rel=1e-9)
        assert 1 - valley.ssr(mean, old, model) == pytest.approx(float(row["sign_diff_mean_client"]), rel=1e-12)
        assert 1 - valley.ssr(theta, old, model) == pytest.approx(float(row["sign_flip"]), rel=1e-12)

    cli = valley.read_checkpoint(tmp_path / "cli" / "global.safetensors")
    assert sorted(cli.tensors) == sorted(theta)
    for name, t in theta.items():
        assert np.array_equal(cli.tensors[name], t), f"{name} differs from valley fed's"


def test_checkpoint_round_trip_is_bit_identical(tmp_path, digits):
    fed_run(tmp_path / "cli", "fedavg", rounds=1)
    src = tmp_path / "cli" / "global.safetensors"
    ck = valley.read_checkpoint(src)
    assert ck.model["arch"] == "mlp" and ck.metadata["algorithm"] == "fedavg"
    assert all(a.dtype == np.float32 for a in ck.tensors.values())
    valley.write_checkpoint(tmp_path / "copy.safetensors", ck.tensors, ck.metadata)
    assert (tmp_path / "copy.safetensors").read_bytes() == src.read_bytes()

    # torch tensors in and out.
    pt = valley.read_checkpoint(src, as_torch=True)
    valley.write_checkpoint(tmp_path / "pt.safetensors", pt.tensors, pt.metadata)
    assert (tmp_path / "pt.safetensors").read_bytes() == src.read_bytes()


def test_saved_model_is_read_by_valley_eval(tmp_path, digits):
    model = digits.model_config("mlp", hidden=[16])
    theta = valley.init_weights(model, 3)
    parts = valley.partition(digits.labels(), digits.num_classes, 2, "iid", 3)
    w, _, _ = valley.Client(digits, model).fit(theta, parts[0], client=0, round=1, seed=3, epochs=2)
    path = tmp_path / "model.safetensors"
    valley.save_model(path, w, model, normalisation=digits.normalisation_json(), seed=3)
    out = run_cli("eval", path, "--dataset", "digits", "--seed", 5)
    acc = valley.evaluate(w, model, digits)["accuracy"]
    assert f"accuracy {100 * acc:.2f}%" in out, out
    back = valley.read_checkpoint(path)
    assert back.model == model and back.metadata["seed"] == "3" and back.metadata["format"].startswith("valley")


def test_partition_matches_valley_partition(tmp_path, digits):
    run_cli("partition", "--dataset", "digits", "--clients", 4, "--seed", 9, "--out", tmp_path)
    rows = rounds_csv(tmp_path / "partition.csv")
    labels = digits.labels()
    parts = valley.partition(labels, 10, 4, "dirichlet:0.5", 9)
    for row, p in zip(rows, parts):
        counts = np.bincount(labels[p], minlength=10)
        assert [int(row[f"c{c}"]) for c in range(10)] == counts.tolist()
    assert valley.partition(labels, 10, 4, "dirichlet:0.5", 10)[0].tolist() != parts[0].tolist()


def test_ssr_and_curve(tmp_path, digits):
    model = digits.model_config("mlp", hidden=[16])
    a, b = valley.init_weights(model, 1), valley.init_weights(model, 2)
    assert valley.ssr(a, a, model) == 1.0
    flipped = {k: -v for k, v in a.items()}
    assert valley.ssr(a, flipped, model) == 0.0
    s = valley.ssr(a, b, model)
    assert 0.3 < s < 0.7, "independent initialisations agree in sign about half the time"
    mid = valley.average([a, b], model)
    assert np.allclose(mid["classifier.weight"], (a["classifier.weight"] + b["classifier.weight"]) / 2)
    tilted = valley.average([a, b], model, weights=[3, 1])
    assert np.allclose(tilted["classifier.bias"], 0.75 * a["classifier.bias"] + 0.25 * b["classifier.bias"])
    with pytest.raises(valley.ValleyError, match="weights must be 2 finite numbers"):
        valley.average([a, b], model, weights=[1, -1])
    groups = valley.ssr_groups(a, b, model)
    assert groups[0]["group"] == "ALL" and groups[0]["ssr_ab"] == pytest.approx(s)

    # A trained model sits in a valley: loss rises on both sides along a random direction.
    everyone = np.arange(digits.train_size)
    trained, _, _ = valley.Client(digits, model).fit(a, everyone, client=0, round=1, seed=1, epochs=5)
    path = tmp_path / "a.safetensors"
    valley.save_model(path, trained, model, normalisation=digits.normalisation_json())
    c = valley.curve(path, [-1.0, 0.0, 1.0], dataset="digits", bn="keep")
    base = valley.evaluate(trained, model, digits)
    assert base["accuracy"] > 0.8
    assert c["test_loss"][1] == pytest.approx(base["loss"], rel=1e-9)
    assert c["test_error"][1] == pytest.approx(1 - base["accuracy"])
    assert c["test_loss"][0] > c["test_loss"][1] and c["test_loss"][2] > c["test_loss"][1]


def test_curve_bn_samples_are_augmented_as_asked(tmp_path, digits):
    model = digits.model_config("cnn")
    trained, _, _ = valley.Client(digits, model).fit(
        valley.init_weights(model, 1), np.arange(digits.train_size), client=0, round=1, seed=1, epochs=2)
    path = tmp_path / "cnn.safetensors"
    valley.save_model(path, trained, model, normalisation=digits.normalisation_json())
    at = lambda augment: valley.curve(path, [-0.5, 0.0, 0.5], dataset="digits", bn_augment=augment)["test_loss"]
    plain, cropped = at("no"), at("yes")
    assert not np.allclose(plain, cropped), "statistics from cropped, flipped samples differ"
    # A checkpoint saved without a recorded training: as-trained means not augmented.
    assert np.array_equal(at("as-trained"), plain)
    with pytest.raises(valley.ValleyError, match="unknown BN augmentation `maybe`"):
        at("maybe")


def test_bad_input_raises_valley_errors(tmp_path, digits):
    model = digits.model_config("mlp", hidden=[16])
    theta = valley.init_weights(model, 1)
    missing = tmp_path / "nope.safetensors"
    with pytest.raises(valley.ValleyError, match="cannot read .*nope.safetensors"):
        valley.read_checkpoint(missing)
    (tmp_path / "junk.safetensors").write_bytes(b"not a checkpoint")
    with pytest.raises(valley.ValleyError, match="not a valid safetensors file"):
        valley.read_checkpoint(tmp_path / "junk.safetensors")

    wrong = dict(theta, **{"classifier.bias": np.zeros(3, np.float32)})
    with pytest.raises(valley.ValleyError, match=r"`classifier.bias` has shape \[3\], the model expects \[10\]"):
        valley.evaluate(wrong, model, digits)
    with pytest.raises(valley.ValleyError, match="has no tensor `features.0.weight`"):
        valley.evaluate({k: v for k, v in theta.items() if k != "features.0.weight"}, model, digits)
    with pytest.raises(valley.ValleyError, match="has tensor `extra`"):
        valley.evaluate(dict(theta, extra=np.zeros(1, np.float32)), model, digits)
    with pytest.raises(valley.ValleyError, match="dtype int32"):
        valley.write_checkpoint(tmp_path / "x.safetensors", {"a": np.zeros(2, np.int32)})
    nan = dict(theta, **{"features.0.bias": np.full(16, np.nan, np.float32)})
    with pytest.raises(valley.ValleyError, match="`features.0.bias` has 16 NaN or infinite values"):
        valley.write_checkpoint(tmp_path / "x.safetensors", nan)
    assert not (tmp_path / "x.safetensors").exists()

    with pytest.raises(valley.ValleyError, match="unknown algorithm `fedsgd`"):
        valley.Client(digits, model, "fedsgd")
    with pytest.raises(valley.ValleyError, match="FedDyn α must be finite and > 0"):
        valley.Client(digits, model, "feddyn", coef=0.0)
    with pytest.raises(valley.ValleyError, match="unknown model `mlq`"):
        valley.model_config("mlq", 1, 8, 10)
    with pytest.raises(valley.ValleyError, match="unknown dataset|fashion-mnist"):
        valley.Dataset("fashion-mnst")
    other = valley.model_config("mlp", 3, 32, 10, hidden=[16])
    with pytest.raises(valley.ValleyError, match="architecture mismatch.*dataset digits has 1x8x8 images"):
        valley.evaluate(valley.init_weights(other, 1), other, digits)

    client = valley.Client(digits, model)
    with pytest.raises(valley.ValleyError, match="sample index 99999 is outside the training split"):
        client.fit(theta, [0, 99999], client=0, round=1, seed=0)
    with pytest.raises(valley.ValleyError, match="sample index -1 is negative"):
        client.fit(theta, [0, -1], client=0, round=1, seed=0)
    with pytest.raises(valley.ValleyError, match="has no training samples"):
        client.fit(theta, [], client=0, round=1, seed=0)
    with pytest.raises(valley.ValleyError, match="learning rate|lr"):
        client.fit(theta, [0, 1], client=0, round=1, seed=0, lr=-1.0)
    with pytest.raises(valley.ValleyError, match="501 clients"):
        valley.partition(np.zeros(500, np.int64), 10, 501, "iid", 0)
    with pytest.raises(valley.ValleyError, match="label 12 at index 1"):
        valley.partition(np.array([0, 12]), 10, 2, "iid", 0)
    with pytest.raises(valley.ValleyError, match="unknown scheme|dirichlet"):
        valley.partition(np.zeros(10, np.int64), 10, 2, "dirichlet-0.5", 0)


def _free_port_block(n):
    """A port p with p..p+n free on 127.0.0.1 (the SuperLink and the SuperNodes' own APIs)."""
    import socket

    for _ in range(50):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            base = s.getsockname()[1]
        if base + n >= 65535:
            continue
        try:
            socks = []
            for p in range(base, base + n + 1):
                t = socket.socket()
                socks.append(t)
                t.bind(("127.0.0.1", p))
            return base
        except OSError:
            continue
        finally:
            for t in socks:
                t.close()
    pytest.fail("no free block of ports on 127.0.0.1")


def test_flower_run_with_separate_processes_equals_valley_fed(tmp_path):
    """scripts/flower-demo.sh: a SuperLink and 3 SuperNodes as processes, 2 rounds of FedSign on
    digits; its rounds.csv and global model equal `valley fed`'s with the same settings."""
    out = tmp_path / "flower"
    env = dict(os.environ, PORT=str(_free_port_block(4)),
               RUN_CONFIG="rounds=2 dataset='digits' model='mlp' width=0.125 seed=5 train-limit=0 test-limit=0")
    done = subprocess.run(["bash", str(ROOT / "scripts" / "flower-demo.sh"), str(out), "3"], env=env,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    fed_run(tmp_path / "cli", "fedsign", rounds=2)
    flower, cli = rounds_csv(out / "rounds.csv"), rounds_csv(tmp_path / "cli" / "rounds.csv")
    assert (out / "rounds.csv").read_text().splitlines()[0] == valley.ROUNDS_CSV_HEADER
    assert len(flower) == len(cli) == 2
    for f, c in zip(flower, cli):
        assert {k: v for k, v in f.items() if k != "seconds"} == {k: v for k, v in c.items() if k != "seconds"}
    a = valley.read_checkpoint(out / "global.safetensors")
    b = valley.read_checkpoint(tmp_path / "cli" / "global.safetensors")
    assert a.metadata["engine"] == "flower" and a.metadata["normalisation"] == b.metadata["normalisation"]
    for name, t in b.tensors.items():
        assert np.array_equal(a.tensors[name], t), name
    assert "accuracy" in run_cli("eval", out / "global.safetensors", "--dataset", "digits")
    # Every process the script started has stopped.
    left = subprocess.run(["pgrep", "-f", f"{out}|flower-supernode.*{env['PORT']}"], capture_output=True, text=True)
    assert left.stdout.strip() == "", left.stdout
