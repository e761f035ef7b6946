#!/usr/bin/env bash
# Installs what valley needs on a fresh Debian machine with Rust and Python 3.11:
#   - Fashion-MNIST (Debian package dataset-fashion-mnist),
#   - a project-local virtual environment .venv with the PyPI wheel torch==2.13.0, whose
#     libtorch valley links (see .cargo/config.toml; binaries carry its path as rpath),
#   - the release build of the `valley` binary.
# Safe to rerun: every step is skipped when already done.
set -euo pipefail
cd "$(dirname "$0")/.."

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
torch_dir=$(.venv/bin/python -c 'import torch, os; print(os.path.dirname(torch.__file__))')
ln -sfn "$torch_dir" .venv/libtorch

cargo build --release -q
