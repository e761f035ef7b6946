#!/usr/bin/env bash
# Installs what valley needs on a fresh Debian machine with Rust and Python 3.11:
#   - Fashion-MNIST (Debian package dataset-fashion-mnist),
#   - a project-local virtual environment .venv with the PyPI wheel torch==2.13.0, whose
#     libtorch valley links (see .cargo/config.toml; binaries carry its path as rpath),
#   - the release build of the `valley` binary,
#   - the Python package `valley` (crates/valley-py, built by maturin into .venv, editable: the
#     extension lands beside crates/valley-py/python/valley), with pytest for its tests and
#     Flower (flwr) for federated runs across processes and machines (flower/).
# Safe to rerun: every step is skipped when already done.
set -euo pipefail
cd "$(dirname "$0")/.."

# The torch wheel with its CUDA libraries takes about 5 GB in .venv, and the release build about
# 5 GB in target/. pip's cache would hold a second copy of the wheels, so it is off.
export PIP_NO_CACHE_DIR=1
need_gb=10
free_gb=$(df -Pk . | awk 'NR==2 {print int($4 / 1048576)}')
if [ ! -x .venv/bin/python ] && [ "$free_gb" -lt "$need_gb" ]; then
  echo "setup.sh: only ${free_gb} GB free on the disk holding $PWD; a fresh set-up needs about" \
    "${need_gb} GB (torch in .venv, the release build in target/). Free some space and rerun." >&2
  exit 1
fi

if [ ! -e /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz ]; then
  sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq dataset-fashion-mnist
fi

python=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$python" -m venv .venv
fi
if ! .venv/bin/python -c 'import torch, safetensors, numpy; import pyhessian; assert torch.__version__.startswith("2.13.0")' 2>/dev/null; then
  .venv/bin/pip install -q --upgrade pip
  .venv/bin/pip install -q torch==2.13.0 safetensors numpy
  .venv/bin/pip install -q --no-deps pyhessian==0.1
fi
if ! .venv/bin/python -c 'import maturin, pytest, flwr; assert flwr.__version__ == "1.42.0"' 2>/dev/null; then
  .venv/bin/pip install -q maturin==1.16.0 pytest==9.2.0 flwr==1.42.0
fi
torch_dir=$(.venv/bin/python -c 'import torch, os; print(os.path.dirname(torch.__file__))')
ln -sfn "$torch_dir" .venv/libtorch

cargo build --release -q
# Builds in the workspace's target/ with .cargo/config.toml's settings; a few seconds when
# nothing changed.
VIRTUAL_ENV="$PWD/.venv" .venv/bin/maturin develop --release -q -m crates/valley-py/Cargo.toml
