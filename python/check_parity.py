"""Loads a valley checkpoint into the PyTorch architecture and compares logits.

usage: check_parity.py CHECKPOINT INPUTS LOGITS [CHECKPOINT INPUTS LOGITS ...]
INPUTS and LOGITS are safetensors files with tensors ``x`` and ``logits`` written by valley.
Prints the max abs difference per checkpoint; exits 1 when any is 1e-4 or more.
"""

import json
import sys

import torch
from safetensors import safe_open
from safetensors.torch import load_file

import valley_models


def main(ckpt, inputs, logits):
    meta = safe_open(ckpt, "pt").metadata()
    net = valley_models.build(json.loads(meta["model"]))
    net.load_state_dict(load_file(ckpt), strict=True)
    net.eval()
    with torch.no_grad():
        out = net(load_file(inputs)["x"])
    diff = (out - load_file(logits)["logits"]).abs().max().item()
    print(json.dumps({"checkpoint": ckpt, "max_abs_diff": diff}))
    return diff < 1e-4


if __name__ == "__main__":
    torch.set_num_threads(1)
    args = sys.argv[1:]
    ok = [main(*args[i:i + 3]) for i in range(0, len(args), 3)]
    sys.exit(0 if ok and all(ok) else 1)
