#!/usr/bin/env bash
# GPU readiness in one go, on a machine with a CUDA GPU (under 8 minutes on one H100/H200):
#   1. the CUDA variants of the test suite (pytest -m cuda);
#   2. CPU against CUDA agreement of every metric and protocol on real photographs, and TF32 kept out of the exact
#      float32 path (benchmarks/gpu_agreement.py);
#   3. benchmarks/run.py --device cuda at a size that fits the time;
#   4. a 2-GPU torchrun run when two GPUs are present (distributed evaluation is not built yet: said, not faked).
# It writes a Markdown section, ready to paste into benchmarks/RESULTS.md, to $GPU_CHECK_OUT (default
# benchmarks/gpu_check.md) and prints it. Run from anywhere: `bash benchmarks/gpu_check.sh`.
# Needs nvs-eval importable (installed, or run from the repository root) with its weights in the cache
# (`nvs-eval weights --fetch`, or NVS_EVAL_CACHE pointing at them), and pytest and lpips for step 1.
set -uo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
OUT=${GPU_CHECK_OUT:-benchmarks/gpu_check.md}

why=$("$PY" -c 'import torch; print("" if torch.cuda.is_available() else "torch.cuda.is_available() is False")' 2>&1 \
      | tail -n 1) || why="$PY cannot import torch ($why)"
if [ -n "$why" ]; then
  echo "gpu_check: no CUDA device to check here: $why." >&2
  echo "gpu_check: run it on a machine with an NVIDIA GPU and a CUDA build of PyTorch (PYTHON=... picks the interpreter)." >&2
  exit 3
fi
start=$(date +%s)
status=0
gpus=$("$PY" -c 'import torch; print(torch.cuda.device_count())')
name=$("$PY" -c 'import torch; print(torch.cuda.get_device_name())')
{
  echo "## GPU check $(date -u +%F): $name x $gpus, torch $("$PY" -c 'import torch; print(torch.__version__)')"
  echo
} > "$OUT"

echo "gpu_check: 1/4 CUDA tests" >&2
t=$(date +%s)
timeout 240 "$PY" -m pytest -q -p no:cacheprovider -m cuda tests/ 2>&1 | tee /tmp/gpu_check_pytest.log | tail -n 15
rc=${PIPESTATUS[0]}
[ "$rc" -eq 0 ] || status=1
{
  echo "### CUDA tests (\`pytest -m cuda tests/\`, exit $rc, $(( $(date +%s) - t )) s)"
  echo
  echo '```'
  grep -E "passed|failed|error" /tmp/gpu_check_pytest.log | tail -n 3
  echo '```'
  echo
} >> "$OUT"

echo "gpu_check: 2/4 CPU against CUDA" >&2
t=$(date +%s)
timeout 180 "$PY" benchmarks/gpu_agreement.py > /tmp/gpu_check_agree.md
rc=$?
[ "$rc" -eq 0 ] || status=1
{
  echo "### CPU against CUDA (benchmarks/gpu_agreement.py, exit $rc, $(( $(date +%s) - t )) s)"
  echo
  cat /tmp/gpu_check_agree.md
  echo
} >> "$OUT"

echo "gpu_check: 3/4 benchmarks/run.py --device cuda" >&2
t=$(date +%s)
left=$(( 400 - ($(date +%s) - start) ))
[ "$left" -gt 60 ] || left=60
timeout "$left" "$PY" benchmarks/run.py --device cuda --size 800 --methods 3 --views 6 --hd-views 1 --uhd-views 1 \
  > /tmp/gpu_check_bench.md 2>/tmp/gpu_check_bench.err
rc=$?
[ "$rc" -eq 0 ] || status=1
{
  echo "### benchmarks/run.py --device cuda --size 800 --views 6 --hd-views 1 --uhd-views 1 (exit $rc, $(( $(date +%s) - t )) s)"
  echo
  cat /tmp/gpu_check_bench.md
  [ "$rc" -eq 0 ] || { echo; echo '```'; tail -n 5 /tmp/gpu_check_bench.err; echo '```'; }
  echo
} >> "$OUT"

echo "gpu_check: 4/4 torchrun" >&2
{
  echo "### torchrun"
  echo
  if [ "$gpus" -ge 2 ]; then
    echo "$gpus GPUs are present, but distributed evaluation (torchrun) is not built yet, so there is nothing to run."
  else
    echo "One GPU: the 2-GPU torchrun run needs two (and distributed evaluation is not built yet)."
  fi
  echo
  echo "Total: $(( $(date +%s) - start )) s."
} >> "$OUT"
cat "$OUT"
exit $status
