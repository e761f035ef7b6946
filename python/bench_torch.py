"""PyTorch reference for `valley bench`: the same MLP and CNN, batch and thread count.

usage: bench_torch.py [--batch 128] [--threads 2] [--steps 50]
Prints one JSON object per model with its training steps per second.
"""

import argparse
import json
import time

import torch

import valley_models


def config(arch, c, s):
    return {"arch": arch, "in_channels": c, "image_size": s, "num_classes": 10, "width": 1.0, "hidden": [512, 512]}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--steps", type=int, default=50)
    ap.add_argument("--models", default="mlp,cnn,cnn32")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    for name in a.models.split(","):
        arch, c, s = ("cnn", 3, 32) if name == "cnn32" else (name, 1, 28)
        torch.manual_seed(0)
        net = valley_models.build(config(arch, c, s))
        opt = torch.optim.SGD(net.parameters(), lr=0.01, momentum=0.9, weight_decay=5e-4)
        x, y = torch.randn(a.batch, c, s, s), torch.randint(10, (a.batch,))

        def step():
            opt.zero_grad()
            loss = torch.nn.functional.cross_entropy(net(x), y)
            loss.backward()
            opt.step()
            loss.item()

        for _ in range(5):
            step()
        t0 = time.perf_counter()
        for _ in range(a.steps):
            step()
        rate = a.steps / (time.perf_counter() - t0)
        print(json.dumps({"engine": "pytorch", "model": name, "steps_per_sec": rate, "batch": a.batch, "threads": a.threads}))


if __name__ == "__main__":
    main()
