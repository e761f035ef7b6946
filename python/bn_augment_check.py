"""BN statistics of a network trained on augmented images, three ways, with the PyTorch twin.

    python python/bn_augment_check.py CHECKPOINT [--test 2000] [--batches 8]

Prints the test accuracy and loss (the first N test images of Fashion-MNIST) with the
checkpoint's running statistics, with statistics re-estimated (reset, cumulative average) on
clean training images, and on the same images cropped (padding 4) and flipped as in training.
valley re-estimates on augmented samples when the checkpoint records augmented training
(`--bn-augment as-trained`); this is the independent check that it should.
"""

import argparse
import gzip
import json

import numpy as np
import torch
from safetensors import safe_open
from safetensors.torch import load_file

import valley_models

FASHION = "/usr/share/datasets/fashion-mnist/"


def idx(path):
    raw = gzip.open(path).read()
    n = int.from_bytes(raw[4:8], "big")
    if raw[3] == 3:
        return np.frombuffer(raw, np.uint8, offset=16).reshape(n, 1, 28, 28).astype(np.float32) / 255
    return np.frombuffer(raw, np.uint8, offset=8).astype(np.int64)


def crop_flip(x, g):
    padded = torch.nn.functional.pad(x, (4, 4, 4, 4))
    out = torch.empty_like(x)
    oy, ox = torch.randint(0, 9, (len(x),), generator=g), torch.randint(0, 9, (len(x),), generator=g)
    flip = torch.rand(len(x), generator=g) < 0.5
    for i in range(len(x)):
        c = padded[i, :, oy[i]:oy[i] + 28, ox[i]:ox[i] + 28]
        out[i] = c.flip(-1) if flip[i] else c
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("checkpoint")
    ap.add_argument("--test", type=int, default=2000)
    ap.add_argument("--batches", type=int, default=8)
    a = ap.parse_args()
    torch.manual_seed(0)
    meta = safe_open(a.checkpoint, "pt").metadata()
    norm = json.loads(meta["normalisation"])
    mean, std = norm["mean"][0], norm["std"][0]
    xtr = torch.tensor((idx(FASHION + "train-images-idx3-ubyte.gz") - mean) / std)
    xte = torch.tensor((idx(FASHION + "t10k-images-idx3-ubyte.gz") - mean) / std)[: a.test]
    yte = torch.tensor(idx(FASHION + "t10k-labels-idx1-ubyte.gz"))[: a.test]
    net = valley_models.build(json.loads(meta["model"]))
    state = load_file(a.checkpoint)

    def evaluate(label):
        net.eval()
        with torch.no_grad():
            out = net(xte)
        acc = (out.argmax(1) == yte).float().mean().item()
        loss = torch.nn.functional.cross_entropy(out, yte).item()
        print(f"{label}: accuracy {100 * acc:.2f} %, loss {loss:.4f}")

    def reestimate(augment):
        net.load_state_dict(state)
        for m in net.modules():
            if isinstance(m, (torch.nn.BatchNorm1d, torch.nn.BatchNorm2d)):
                m.reset_running_stats()
                m.momentum = None
        g = torch.Generator().manual_seed(0)
        order = torch.randperm(len(xtr), generator=g)
        net.train()
        with torch.no_grad():
            for b in range(a.batches):
                x = xtr[order[b * 256:(b + 1) * 256]]
                net(crop_flip(x, g) if augment else x)

    print(f"{a.checkpoint}: first {a.test} test images, BN over {a.batches} x 256 training images")
    net.load_state_dict(state)
    evaluate("running statistics")
    reestimate(False)
    evaluate("re-estimated on clean images")
    reestimate(True)
    evaluate("re-estimated on cropped and flipped images")


if __name__ == "__main__":
    main()
