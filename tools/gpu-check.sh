#!/usr/bin/env bash
# The GPU part of the tests, on a machine with CUDA: `bash tools/gpu-check.sh`.
# Uses the project's .venv when there is one, else the python3 on PATH (with torch built for CUDA and
# pytest). Runs the CUDA tests and the checker's own tests (which add the CUDA cases to every
# "devices" check there), then times each check there, then grades notebooks through the sandbox
# with the GPU (tools/gpu_grading_check.py). Full logs: _build/gpu-check/.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=python3
[ -x .venv/bin/python ] && PY=.venv/bin/python
"$PY" - <<'PY'
import sys, torch
if not torch.cuda.is_available():
    sys.exit("no CUDA device visible to torch: run this on a machine with a GPU and torch built for CUDA")
print("python", sys.version.split()[0], "| torch", torch.__version__, "| CUDA", torch.version.cuda,
      "|", torch.cuda.get_device_name(0))
PY
# The judge runs as `python -I`, which ignores PYTHONPATH: gru_ref must be installed.
if ! "$PY" -I -c "import gru_ref" 2>/dev/null; then
    "$PY" -m pip install --quiet --no-deps --no-build-isolation -e . \
        || { echo "could not install gru_ref: run '$PY -m pip install -e .' and look at its error"; exit 1; }
fi
# Two pytest processes side by side: the checker's tests fork, and need a process where CUDA never
# started; the CUDA tests run each check in a fresh process; the equations' backward starts CUDA.
LOGS=_build/gpu-check
mkdir -p "$LOGS"
"$PY" -m pytest -v -rs tests/test_checker.py >"$LOGS/checker.log" 2>&1 & checker=$!
"$PY" -m pytest -v -rs tests/test_gpu.py tests/test_equations.py >"$LOGS/gpu.log" 2>&1 & gpu=$!
status=0
wait $checker || status=1
wait $gpu || status=1
for log in "$LOGS/checker.log" "$LOGS/gpu.log"; do
    echo "== $log"
    grep -E "^(FAILED|ERROR)|^SKIPPED|^=+ .*(passed|failed|error)" "$log" || tail -n 20 "$log"
done
"$PY" tools/bench_checker.py
# Grading through the sandbox with the GPU passed in (needs bubblewrap: tools/install-sandbox.sh).
"$PY" tools/gpu_grading_check.py "$LOGS/grading.json" || status=1
# train_gru's retrains with a GPU in the machine: forked, in-process, and graded in the sandbox.
"$PY" tools/gpu_train_check.py --grading >"$LOGS/train_gru.log" 2>&1 || { status=1; tail -n 30 "$LOGS/train_gru.log"; }
tail -n 1 "$LOGS/train_gru.log"
exit $status
