#!/usr/bin/env bash
# The main demo, from a fresh machine: set up, train a small CNN on Fashion-MNIST (its test
# accuracy is printed), and reproduce findings 1 (seven noises, as sampled vs
# sign-consistent), 2 (sign-change ratio) and 7 (softmax theory) at the CPU budget, with
# figures, verdicts and an HTML report. Trained models are cached in runs/cache, so a second
# run only redraws. About 20 minutes on 2 cores the first time.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
out=${1:-out/demo}
echo "report: $out/report.html (written at the end)"
target/release/valley reproduce noise,flip,softmax --budget cpu --out "$out"
