#!/usr/bin/env bash
# valley on a CUDA device. Where `nvidia-smi` lists a GPU: builds (scripts/setup.sh), trains a
# small CNN on Fashion-MNIST there, checks its landscape sweep on the GPU against the PyTorch
# reference (scripts/landscape_check.sh: curves within 1e-3, speed-up printed), and prints the
# training-speed table of scripts/bench.sh with both engines on the GPU. Without a GPU it says
# so and exits 0, so it is safe to run anywhere.
# usage: scripts/gpu-check.sh ; env ROUNDS (3), STEPS (20), BATCHES (128,256), MODELS (all)
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v nvidia-smi >/dev/null 2>&1 || ! nvidia-smi -L 2>/dev/null | grep -q '^GPU'; then
  echo "gpu-check: no CUDA device on this machine (nvidia-smi lists none); nothing to check."
  exit 0
fi
nvidia-smi -L
scripts/setup.sh
if ! target/release/valley bench --device cuda --models mlp --batch 8 --steps 1 >/dev/null; then
  echo "gpu-check: a GPU is present but valley's libtorch cannot use it (error above)" >&2
  exit 1
fi
out=out/gpu-check
rm -rf "$out"
mkdir -p "$out"
echo "== train: cnn width 0.5, 1 epoch on 8192 Fashion-MNIST images, on the GPU"
target/release/valley train --model cnn --width 0.5 --dataset fashion-mnist --train-limit 8192 --epochs 1 \
  --device cuda --out "$out/cnn" | tail -n 3
echo "== landscape on the GPU against the PyTorch reference on the CPU"
DEVICE=cuda scripts/landscape_check.sh "$out/cnn/final.safetensors" "$out/landscape"
echo "== training speed on the GPU (valley ÷ PyTorch)"
DEVICE=cuda scripts/bench.sh "${ROUNDS:-3}" 2 "${STEPS:-20}" "${BATCHES:-128,256}" \
  "${MODELS:-mlp,cnn,cnn32,resnet20,vgg11-bn,cpu-cnn,cpu-resnet20,cpu-vgg11-bn}"
