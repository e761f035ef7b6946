"""PyTorch reference for `valley bench`: the same models, batch, thread count and optimiser.

usage: bench_torch.py [--batch 128] [--threads 2] [--steps 50] [--models mlp,cnn,...] [--device cpu]
Prints one JSON object per model with its training steps per second. CASES mirrors
valley::bench::CASES (crates/valley/src/bench.rs).
"""

import argparse
import json
import time

import torch

import valley_models


# name -> (arch as stored in valley's checkpoint metadata, channels, image size, width)
CASES = {
    "mlp": ("mlp", 1, 28, 1.0),
    "cnn": ("cnn", 1, 28, 1.0),
    "cnn32": ("cnn", 3, 32, 1.0),
    "resnet20": ("resnet20", 3, 32, 1.0),
    "vgg11-bn": ({"vgg": {"depth": 11, "bn": True}}, 3, 32, 1.0),
    "cpu-cnn": ("cnn", 1, 28, 0.5),
    "cpu-resnet20": ("resnet20", 3, 32, 0.5),
    "cpu-vgg11-bn": ({"vgg": {"depth": 11, "bn": True}}, 3, 32, 0.25),
}
WARMUP_STEPS = 5


def config(name):
    if name not in CASES:
        raise SystemExit(f"unknown bench model {name!r} (expected one of {', '.join(CASES)})")
    arch, c, s, w = CASES[name]
    return {"arch": arch, "in_channels": c, "image_size": s, "num_classes": 10, "width": w, "hidden": [512, 512]}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--steps", type=int, default=50)
    ap.add_argument("--models", default=",".join(CASES))
    ap.add_argument("--device", default="cpu", help="cpu or cuda")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    for name in a.models.split(","):
        cfg = config(name)
        c, s = cfg["in_channels"], cfg["image_size"]
        torch.manual_seed(0)
        net = valley_models.build(cfg).to(a.device)
        opt = torch.optim.SGD(net.parameters(), lr=0.01, momentum=0.9, weight_decay=5e-4)
        x = torch.randn(a.batch, c, s, s, device=a.device)
        y = torch.randint(10, (a.batch,), device=a.device)

        def step():
            opt.zero_grad()
            loss = torch.nn.functional.cross_entropy(net(x), y)
            loss.backward()
            opt.step()
            loss.item()

        for _ in range(WARMUP_STEPS):
            step()
        t0, c0 = time.perf_counter(), time.process_time()
        for _ in range(a.steps):
            step()
        if a.device.startswith("cuda"):
            torch.cuda.synchronize()
        rate = a.steps / (time.perf_counter() - t0)
        cpu_rate = a.steps / (time.process_time() - c0)
        print(json.dumps({"engine": "pytorch", "model": name, "steps_per_sec": rate, "steps_per_cpu_sec": cpu_rate, "batch": a.batch, "threads": a.threads, "device": a.device}))


if __name__ == "__main__":
    main()
