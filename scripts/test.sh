#!/usr/bin/env bash
# The test suite: set-up if needed, then every Rust test (unit, CLI end-to-end, and the
# PyTorch interoperability test that loads valley checkpoints with load_state_dict), then the
# Python package's tests (python/tests: the package against the CLI, and the Flower app).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
cargo test --workspace --release -q 2>&1
.venv/bin/python -m pytest -q python/tests 2>&1
