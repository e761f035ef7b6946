#!/usr/bin/env bash
# Training speed of valley (tch) against PyTorch on the same models, batch and threads.
# usage: scripts/bench.sh [BATCH] [THREADS] [STEPS]
set -euo pipefail
cd "$(dirname "$0")/.."
batch=${1:-128}; threads=${2:-2}; steps=${3:-50}
cargo build --release -q
v=$(target/release/valley bench --json --batch "$batch" --threads "$threads" --steps "$steps")
t=$(.venv/bin/python python/bench_torch.py --batch "$batch" --threads "$threads" --steps "$steps")
.venv/bin/python - "$v" "$t" <<'PY'
import json, sys
v = {d["model"]: d for d in map(json.loads, sys.argv[1].splitlines())}
t = {d["model"]: d for d in map(json.loads, sys.argv[2].splitlines())}
print(f"{'model':<7}{'valley steps/s':>16}{'pytorch steps/s':>17}{'ratio':>8}")
for m in v:
    print(f"{m:<7}{v[m]['steps_per_sec']:>16.2f}{t[m]['steps_per_sec']:>17.2f}{v[m]['steps_per_sec'] / t[m]['steps_per_sec']:>7.2f}x")
PY
