"""Straightforward PyTorch sweep of the directions `valley landscape --save-direction` wrote.

It should reproduce valley's curves.csv (max abs diff < 1e-3 in loss and error): for each
saved direction and each λ it restores θf, adds λ·d, resets BN statistics and re-estimates
them with momentum=None over the same training batches in the same order, and evaluates.

usage: landscape_reference.py OUT_DIR [--threads N] [--eval-batch B]
Reads OUT/summary.json, OUT/direction-*.safetensors and OUT/eval-data.safetensors (from
--dump-eval-data) or, for the full splits, the IDX files named in summary.json with
OUT/bn-indices.json. Writes OUT/reference-curves.csv; prints a JSON line with the timing.
"""

import argparse
import csv
import gzip
import json
import os
import sys
import time

import numpy as np
import torch
from safetensors import safe_open
from safetensors.torch import load_file
from torch.utils.data import DataLoader, TensorDataset

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import valley_models  # noqa: E402


def read_idx(path):
    with gzip.open(path) if path.endswith(".gz") else open(path, "rb") as f:
        data = f.read()
    ndim = data[3]
    dims = [int.from_bytes(data[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim)]
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)


def load_data(out, summary):
    dump = os.path.join(out, "eval-data.safetensors")
    splits = list(summary["dataset"]["splits"].keys())
    if os.path.exists(dump):
        t = load_file(dump)
        return {s: (t[f"{s}_x"], t[f"{s}_y"]) for s in splits}, t["bn_x"]
    ds = summary["dataset"]
    if ds["test_limit"] is not None or ds["train_limit"] is not None:
        sys.exit("subsets need the exact samples: rerun valley with --dump-eval-data")
    files = {os.path.basename(f["path"]).split("-")[0]: f["path"] for f in ds["files"]}
    by = {}
    for f in ds["files"]:
        name = os.path.basename(f["path"])
        split = "train" if name.startswith("train") else "test"
        by[(split, "labels" if "labels" in name else "images")] = f["path"]
    norm = ds["normalisation"]
    mean, std = np.float32(norm["mean"][0]), np.float32(norm["std"][0])

    def split(s):
        x = read_idx(by[(s, "images")]).astype(np.float32) / np.float32(255.0)
        x = (x - mean) / std
        y = read_idx(by[(s, "labels")]).astype(np.int64)
        return torch.from_numpy(x[:, None]), torch.from_numpy(y)

    data = {s: split(s) for s in splits}
    train_x = data["train"][0] if "train" in data else split("train")[0]
    del files
    with open(os.path.join(out, "bn-indices.json")) as f:
        idx = torch.tensor(json.load(f))
    return data, train_x[idx]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--eval-batch", type=int, default=256, help="DataLoader batch size of the evaluation")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    with open(os.path.join(a.out, "summary.json")) as f:
        summary = json.load(f)
    ckpt = summary["checkpoint"]["path"]
    meta = safe_open(ckpt, "pt").metadata()
    net = valley_models.build(json.loads(meta["model"]))
    theta_f = load_file(ckpt)
    net.load_state_dict(theta_f, strict=True)
    data, bn_x = load_data(a.out, summary)
    bn = summary["bn"]
    lambdas = summary["spec"]["lambdas"]
    files = []
    for c in summary["curves"]:
        if c["file"] and c["file"] not in [f for f, _ in files]:
            files.append((c["file"], c))
    if not files:
        sys.exit("no saved directions: rerun valley landscape with --save-direction")

    rows, points = [], 0
    t0 = time.perf_counter()
    for path, c in files:
        d = load_file(path)
        for lam in lambdas:
            net.load_state_dict(theta_f)
            with torch.no_grad():
                for name, p in net.named_parameters():
                    p.add_(lam * d[name])
                if bn["policy"] == "recompute":
                    bns = [m for m in net.modules() if isinstance(m, torch.nn.BatchNorm2d)]
                    for m in bns:
                        m.reset_running_stats()
                        m.momentum = None
                    if bns:
                        net.train()
                        for b in range(bn["batches"]):
                            xb = bn_x[b * bn["batch"]:(b + 1) * bn["batch"]]
                            if len(xb) == 0:
                                break
                            net(xb)
                net.eval()
                for split, (x, y) in data.items():
                    loss, correct = 0.0, 0
                    for xb, yb in DataLoader(TensorDataset(x, y), batch_size=a.eval_batch):
                        out = net(xb)
                        loss += torch.nn.functional.cross_entropy(out, yb, reduction="sum").item()
                        correct += (out.argmax(1) == yb).sum().item()
                    n = len(y)
                    rows.append([c["direction"], c["sign"], c["scale"], c["group"], c["seed"], lam, split, loss / n, 1 - correct / n])
            points += 1
    seconds = time.perf_counter() - t0
    with open(os.path.join(a.out, "reference-curves.csv"), "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["direction", "sign", "scale", "group", "seed", "lambda", "split", "loss", "error"])
        w.writerows(rows)
    print(json.dumps({"sweep_seconds": seconds, "points": points, "threads": a.threads, "eval_batch": a.eval_batch}))


if __name__ == "__main__":
    main()
