"""Checks `valley hessian` against PyHessian (Yao et al. 2020) on the same checkpoint and samples.

usage: pyhessian_check.py CHECKPOINT EVAL_DATA HESSIAN_JSON [--probes 100] [--out check.json]

EVAL_DATA is the eval-data.safetensors that `valley hessian --dump-eval-data` writes, so both
tools differentiate the mean cross-entropy over the same rows; the model is valley's Python twin
(valley_models.py) in eval mode, as PyHessian sets it. Claims, fixed before measuring:
  - top eigenvalue: |λ_valley − λ_pyhessian| ≤ 1 % of |λ_pyhessian|;
  - trace: |tr_valley − tr_pyhessian| ≤ 2·√(se_valley² + se_pyhessian²) (both are Hutchinson
    means; about a 95 % two-sided test).
Also reports the time of one Hessian-vector product in PyHessian. Exits 1 when a claim fails.
"""

import argparse
import json
import math
import statistics
import time

import torch
from pyhessian import hessian
from pyhessian.utils import hessian_vector_product, normalization
from safetensors import safe_open
from safetensors.torch import load_file

import valley_models


def load_model(path):
    meta = safe_open(path, "pt").metadata()
    net = valley_models.build(json.loads(meta["model"]))
    tensors = load_file(path)
    state = {k: v for k, v in tensors.items() if k in net.state_dict()}
    net.load_state_dict(state, strict=True)
    return net.eval()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("checkpoint")
    ap.add_argument("eval_data")
    ap.add_argument("hessian_json")
    ap.add_argument("--probes", type=int, default=100)
    ap.add_argument("--out")
    a = ap.parse_args()
    torch.manual_seed(0)
    torch.set_num_threads(2)
    net = load_model(a.checkpoint)
    data = load_file(a.eval_data)
    x, y = data["test_x"], data["test_y"]
    valley = next(g for g in json.load(open(a.hessian_json))["groups"] if g["group"] == "all")

    comp = hessian(net, torch.nn.CrossEntropyLoss(), data=(x, y), cuda=False)
    top, _ = comp.eigenvalues(maxIter=300, tol=1e-5, top_n=1)
    # tol=0: PyHessian's own stopping rule would end after a few probes; draw them all.
    vhv = comp.trace(maxIter=a.probes, tol=0.0)
    v = normalization([torch.randn_like(p) for p in comp.params])
    t0 = time.perf_counter()
    for _ in range(5):
        hessian_vector_product(comp.gradsH, comp.params, v)
    hvp_seconds = (time.perf_counter() - t0) / 5

    tr_p, se_p = statistics.mean(vhv), statistics.stdev(vhv) / math.sqrt(len(vhv))
    tr_v, se_v = valley["trace"], valley["trace_stderr"]
    lam_p, lam_v = top[0], valley["top_eigenvalues"][0]
    eig_ok = abs(lam_v - lam_p) <= 0.01 * abs(lam_p)
    trace_ok = abs(tr_v - tr_p) <= 2 * math.sqrt(se_v**2 + se_p**2)
    result = {
        "checkpoint": a.checkpoint,
        "samples": int(y.shape[0]),
        "top_eigenvalue": {"valley": lam_v, "pyhessian": lam_p, "relative_difference": abs(lam_v - lam_p) / abs(lam_p), "pass": eig_ok},
        "trace": {"valley": tr_v, "valley_stderr": se_v, "pyhessian": tr_p, "pyhessian_stderr": se_p, "probes": len(vhv), "pass": trace_ok},
        "pyhessian_hvp_seconds": hvp_seconds,
    }
    print(json.dumps(result, indent=2))
    if a.out:
        with open(a.out, "w") as f:
            json.dump(result, f, indent=2)
    raise SystemExit(0 if eig_ok and trace_ok else 1)


if __name__ == "__main__":
    main()
