#!/usr/bin/env bash
# Training speed of valley (tch) against plain PyTorch on the same models, batch, threads and
# optimiser. Single runs on a 2-core machine vary by ±20 %, so the two engines run in
# alternation ROUNDS times per batch size (odd rounds valley first, even rounds PyTorch first,
# so a drift in machine load does not favour one), and the table shows the median of each and
# the ratio of the medians; "cpu ratio" is the same ratio for steps per second of process CPU
# time, which a busy machine disturbs far less (at THREADS=1 it is the work a step costs).
# Every measurement is also appended to out/bench/runs.jsonl.
# The defaults (3 rounds, 20 steps, batch 128 and 256, all 8 models) take about 9 minutes on
# the idle 2-core machine.
# usage: [DEVICE=cuda] scripts/bench.sh [ROUNDS] [THREADS] [STEPS] [BATCHES] [MODELS]
#   e.g. scripts/bench.sh 5 2 30 128,256 mlp,cnn,cnn32,resnet20,vgg11-bn,cpu-cnn,cpu-resnet20,cpu-vgg11-bn
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-3}; threads=${2:-2}; steps=${3:-20}; batches=${4:-128,256}
models=${5:-mlp,cnn,cnn32,resnet20,vgg11-bn,cpu-cnn,cpu-resnet20,cpu-vgg11-bn}
device=${DEVICE:-cpu}
cargo build --release -q
mkdir -p out/bench
log=out/bench/runs.jsonl
stamp=$(date -u +%Y-%m-%dT%H:%M:%SZ)
for ((r = 1; r <= rounds; r++)); do
  for b in ${batches//,/ }; do
    echo "round $r/$rounds, batch $b" >&2
    engines=(valley pytorch)
    ((r % 2)) || engines=(pytorch valley)
    for e in "${engines[@]}"; do
      if [ "$e" = valley ]; then
        target/release/valley bench --json --models "$models" --batch "$b" --threads "$threads" --steps "$steps" --device "$device"
      else
        .venv/bin/python python/bench_torch.py --models "$models" --batch "$b" --threads "$threads" --steps "$steps" --device "$device"
      fi | sed "s/^{/{\"stamp\":\"$stamp\",\"round\":$r,/" >> "$log"
    done
  done
done
.venv/bin/python - "$log" "$stamp" <<'PY'
import json, statistics, sys
from collections import defaultdict
runs = [json.loads(l) for l in open(sys.argv[1]) if sys.argv[2] in l]
rate, cpu = defaultdict(list), defaultdict(list)
for d in runs:
    rate[(d["model"], d["batch"], d["engine"])].append(d["steps_per_sec"])
    cpu[(d["model"], d["batch"], d["engine"])].append(d.get("steps_per_cpu_sec", float("nan")))
order = list(dict.fromkeys(d["model"] for d in runs))
keys = sorted({(m, b) for m, b, _ in rate}, key=lambda k: (k[1], order.index(k[0])))
print(f"{'model':<13}{'batch':>6}{'valley steps/s':>16}{'pytorch steps/s':>17}{'ratio':>8}{'cpu ratio':>11}{'rounds':>8}")
for m, b in keys:
    v, t = rate[(m, b, "valley")], rate[(m, b, "pytorch")]
    mv, mt = statistics.median(v), statistics.median(t)
    cv, ct = statistics.median(cpu[(m, b, "valley")]), statistics.median(cpu[(m, b, "pytorch")])
    print(f"{m:<13}{b:>6}{mv:>16.2f}{mt:>17.2f}{mv / mt:>7.2f}x{cv / ct:>10.2f}x{len(v):>8}")
PY
