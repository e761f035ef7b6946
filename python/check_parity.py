"""Loads a valley checkpoint into the PyTorch architecture and compares logits.

usage: check_parity.py CHECKPOINT INPUTS LOGITS
INPUTS and LOGITS are safetensors files with tensors ``x`` and ``logits`` written by valley.
Prints the max abs difference; exits 1 when it is 1e-4 or more.
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
    return 0 if diff < 1e-4 else 1


if __name__ == "__main__":
    torch.set_num_threads(1)
    sys.exit(main(*sys.argv[1:4]))
