#!/usr/bin/env bash
# The main demo, from a fresh machine: set up, train the cpu budget's base networks on
# Fashion-MNIST to a plateau (VGG11-BN and ResNet-20, and an MLP without BN; each one's test
# accuracy is printed), and reproduce findings 1 (seven noises, as sampled vs sign-consistent,
# on both networks) and 7 (the softmax theory, Listing 2) in the paper's regime, with figures,
# verdicts and an HTML report. Trained models are cached in runs/cache (an interrupted
# training resumes), so a second run only redraws. Most of the time is training: see
# docs/findings.md for the time of each finding on 2 cores.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
out=${1:-out/demo}
echo "report: $out/report.html (written at the end)"
target/release/valley reproduce noise,softmax --budget cpu --out "$out"
