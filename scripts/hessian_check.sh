#!/usr/bin/env bash
# `valley hessian` against PyHessian on a small trained MLP and a small BN CNN (Fashion-MNIST,
# 500 test samples): top eigenvalue within 1 %, traces within 2 combined standard errors, and
# the time of one Hessian-vector product in each. Results in out/hessian-check/.
# usage: scripts/hessian_check.sh [SAMPLES]
set -euo pipefail
cd "$(dirname "$0")/.."
samples=${1:-500}
scripts/setup.sh
out=out/hessian-check
mkdir -p "$out"
status=0
for model in mlp cnn; do
  run=$out/$model
  if [ ! -e "$run/final.safetensors" ]; then
    target/release/valley train --model "$model" --width 0.25 --hidden 64 --dataset fashion-mnist \
      --train-limit 5000 --test-limit 1000 --epochs 2 --seed 1 --out "$run"
  fi
  rm -rf "$out/$model-hessian"
  target/release/valley hessian "$run/final.safetensors" --test-limit "$samples" --hvp-batch "$samples" --top-k 1 \
    --max-probes 100 --min-probes 100 --density-steps 0 --power-tol 1e-5 --power-iter 300 \
    --dump-eval-data --out "$out/$model-hessian"
  echo "== $model"
  (cd python && ../.venv/bin/python pyhessian_check.py "../$run/final.safetensors" \
    "../$out/$model-hessian/eval-data.safetensors" "../$out/$model-hessian/hessian.json" \
    --out "../$out/$model-check.json") || status=1
  grep -h seconds_per_product "$out/$model-hessian/hessian.json" | head -1
done
exit $status
