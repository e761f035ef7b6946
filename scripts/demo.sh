#!/usr/bin/env bash
# The main demo, from a fresh machine: set up, train a small CNN on Fashion-MNIST and print
# its test accuracy, then reproduce findings 1 (seven noises, as sampled vs sign-consistent),
# 2 (sign-change ratio) and 7 (softmax theory) at the CPU budget, with figures, verdicts and
# an HTML report. Trained models are cached in runs/cache, so a second run is fast.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
valley=target/release/valley
out=${1:-out/demo}
$valley train --config configs/cnn-fashion.toml --out runs/demo-cnn --resume
$valley reproduce noise,flip,softmax --budget cpu --out "$out"
echo
echo "Open $out/report.html in a browser."
