#!/usr/bin/env bash
# valley landscape against the straightforward PyTorch sweep (python/landscape_reference.py)
# on a trained checkpoint: the curves must agree to 1e-3 in loss and error, and valley's
# sweep time is compared with the reference's.
# usage: scripts/landscape_check.sh [CHECKPOINT] [OUT] ; env THREADS (2), TEST_LIMIT (1000),
#        LAMBDAS (-1:1:5), REF_EVAL_BATCH (256), DEVICE (valley's --device; the reference runs on the CPU)
set -euo pipefail
cd "$(dirname "$0")/.."
ckpt=${1:-runs/cnn/final.safetensors}
out=${2:-out/landscape-check}
threads=${THREADS:-2}
limit=()
[ -n "${TEST_LIMIT-1000}" ] && limit=(--test-limit "${TEST_LIMIT-1000}")
target/release/valley landscape --checkpoint "$ckpt" --dataset fashion-mnist --directions gaussian --sign both \
  --lambdas="${LAMBDAS:--1:1:5}" --seed 3 --save-direction --dump-eval-data "${limit[@]}" \
  --threads "$threads" ${DEVICE:+--device "$DEVICE"} --no-plots --out "$out" >/dev/null
ref=$(.venv/bin/python python/landscape_reference.py "$out" --threads "$threads" --eval-batch "${REF_EVAL_BATCH:-256}")
.venv/bin/python - "$out" "$ref" <<'PY'
import csv, json, sys
out, ref = sys.argv[1], json.loads(sys.argv[2])
key = lambda r: (r["direction"], r["sign"], float(r["scale"]), r["group"], r["seed"], float(r["lambda"]), r["split"])
v = {key(r): r for r in csv.DictReader(open(f"{out}/curves.csv"))}
t = {key(r): r for r in csv.DictReader(open(f"{out}/reference-curves.csv"))}
assert v.keys() == t.keys(), f"row sets differ: {len(v)} valley rows, {len(t)} reference rows"
dl = max(abs(float(v[k]["loss"]) - float(t[k]["loss"])) for k in v)
de = max(abs(float(v[k]["error"]) - float(t[k]["error"])) for k in v)
s = json.load(open(f"{out}/summary.json"))["timing"]
ratio = ref["sweep_seconds"] / s["sweep_seconds"]
print(f"rows {len(v)}  max|Δloss| {dl:.2e}  max|Δerror| {de:.2e}")
print(f"valley {s['sweep_seconds']:.1f}s ({s['evaluated_points']} points)  reference {ref['sweep_seconds']:.1f}s ({ref['points']} points, eval batch {ref['eval_batch']})  speed-up {ratio:.2f}x")
sys.exit(0 if dl < 1e-3 and de < 1e-3 else 1)
PY
