#!/usr/bin/env bash
# FedSign on Fashion-MNIST over Flower, every party its own process on 127.0.0.1:
#   scripts/flower-demo.sh OUT [NODES]
# starts a SuperLink and NODES SuperNodes (default 3; node i holds valley's partition i of
# NODES), submits the Flower app in flower/ with `flwr run`, streams its log, and stops every
# process it started (also on Ctrl-C or error). Leaves OUT/rounds.csv (the columns of
# `valley fed`), OUT/global.safetensors (read it with `valley eval`), OUT/flower.json (the
# settings) and the processes' logs in OUT/logs.
# The demo's settings: FedSign, an MLP, 3 rounds of 1 local epoch on 12 000 training and 2 000
# test images. RUN_CONFIG overrides or adds app settings (space-separated key=value, strings
# quoted; keys in flower/pyproject.toml), e.g. RUN_CONFIG="algorithm='fedavg' rounds=5".
# PORT: the SuperLink's port (default 9300); SuperNode i serves its ClientApps on PORT+1+i.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ $# -lt 1 ]; then
  echo "usage: scripts/flower-demo.sh OUT [NODES]" >&2
  exit 2
fi
out=$(realpath -m "$1")
nodes=${2:-3}
port=${PORT:-9300}
mkdir -p "$out/logs"
export PATH="$PWD/.venv/bin:$PATH"
# Flower posts usage events to its makers' server unless told not to; this demo talks to
# 127.0.0.1 only.
export FLWR_TELEMETRY_ENABLED=0
# Flower's CLI keeps its connections in FLWR_HOME/config.toml: one for this demo's SuperLink.
export FLWR_HOME="$out/flwr-home"
mkdir -p "$FLWR_HOME"
cat > "$FLWR_HOME/config.toml" <<EOF
[superlink]
default = "demo"

[superlink.demo]
address = "127.0.0.1:$port"
insecure = true
EOF

pids=()
stop_all() {
  # Each party runs in its own process group (setsid), so its ServerApp/ClientApp children
  # stop with it.
  for p in "${pids[@]}"; do kill -TERM -- "-$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do
    for _ in $(seq 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
    kill -KILL -- "-$p" 2>/dev/null || true
  done
}
trap stop_all EXIT
trap 'exit 130' INT TERM

start() { # start NAME CMD...: a background process group logging to OUT/logs/NAME.log
  local name=$1
  shift
  setsid "$@" >"$out/logs/$name.log" 2>&1 &
  pids+=($!)
}

start superlink flower-superlink --insecure --host 127.0.0.1 --port "$port" \
  --disable-runtime-dependency-installation
for i in $(seq 0 $((nodes - 1))); do
  start "supernode-$i" flower-supernode --insecure --superlink "127.0.0.1:$port" \
    --host 127.0.0.1 --port $((port + 1 + i)) --node-config "partition-id=$i num-partitions=$nodes"
done

declare -A settings=([algorithm]="'fedsign'" [model]="'mlp'" [train-limit]=12000 [test-limit]=2000
  [rounds]=3 [local-epochs]=1 [clients]="$nodes" [out-dir]="'$out'")
for kv in ${RUN_CONFIG:-}; do settings[${kv%%=*}]=${kv#*=}; done
config=""
for k in "${!settings[@]}"; do config+="$k=${settings[$k]} "; done
rounds=${settings[rounds]}
echo "SuperLink 127.0.0.1:$port, $nodes SuperNodes; run config: $config"
up=""
for _ in $(seq 120); do
  if flwr ls demo >/dev/null 2>&1; then
    up=1
    break
  fi
  sleep 0.5
done
if [ -z "$up" ]; then
  echo "flower-demo: the SuperLink did not answer on 127.0.0.1:$port; see $out/logs/superlink.log" >&2
  exit 1
fi
flwr run flower demo --stream --run-config "$config" 2>&1 | tee "$out/logs/flwr-run.log"
if [ ! -s "$out/rounds.csv" ] || [ "$(($(wc -l <"$out/rounds.csv") - 1))" -lt "$rounds" ]; then
  echo "flower-demo: the run did not finish $rounds rounds; see $out/logs" >&2
  exit 1
fi
echo "flower-demo: wrote $out/rounds.csv and $out/global.safetensors"
