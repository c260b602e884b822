#!/usr/bin/env bash
# The GPU part of the tests, on a machine with CUDA: `bash tools/gpu-check.sh`.
# Uses the project's .venv when there is one, else the python3 on PATH (with torch built for CUDA).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=python3
[ -x .venv/bin/python ] && PY=.venv/bin/python
"$PY" - <<'PY'
import torch
assert torch.cuda.is_available(), "no CUDA device visible to torch: run this on a GPU machine"
print("torch", torch.__version__, "on", torch.cuda.get_device_name(0))
PY
"$PY" -m pip install --quiet --no-deps --no-build-isolation -e . 2>/dev/null || true
exec "$PY" -m pytest -v -rs tests/test_gpu.py tests/test_equations.py tests/test_checker.py
