#!/usr/bin/env bash
# GPU readiness in one go, on a machine with a CUDA GPU (under 8 minutes on one H100/H200):
#   1. the CUDA variants of the test suite (pytest -m cuda);
#   2. CPU against CUDA agreement of every metric and protocol on real photographs, and TF32 kept out of the exact
#      float32 path (benchmarks/gpu_agreement.py);
#   3. benchmarks/gpu.py: nvs-eval against the 3DGS recipe (TF32 off and PyTorch's defaults) at 800x800, 1080p and
#      4K (whole commands and marginal cost per pair, peak GPU memory), the opt-in precisions with their error,
#      LPIPS-VGG per layer against the float32 peak, and a per-stage profile;
#   4. a 2-GPU torchrun run when two GPUs are present: the merged store against one process's, row for row.
# It writes a Markdown section, ready to paste into benchmarks/RESULTS.md, to $GPU_CHECK_OUT (default
# benchmarks/gpu_check.md) and prints it. Run from anywhere: `bash benchmarks/gpu_check.sh`.
# Needs nvs-eval importable (installed, or run from the repository root) with its weights in the cache
# (`nvs-eval weights --fetch`, or NVS_EVAL_CACHE pointing at them; DISTS's 20 kB dists-alphabeta.pt is compared on
# the GPU when it is there), and pytest and lpips for step 1. FLIP is NVIDIA's CPU package: nothing to compare.
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
timeout 180 "$PY" -m pytest -q -p no:cacheprovider -m cuda tests/ 2>&1 | tee /tmp/gpu_check_pytest.log | tail -n 15
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
timeout 120 "$PY" benchmarks/gpu_agreement.py > /tmp/gpu_check_agree.md
rc=$?
[ "$rc" -eq 0 ] || status=1
{
  echo "### CPU against CUDA (benchmarks/gpu_agreement.py, exit $rc, $(( $(date +%s) - t )) s)"
  echo
  cat /tmp/gpu_check_agree.md
  echo
} >> "$OUT"

echo "gpu_check: 3/4 benchmarks/gpu.py (against the 3DGS recipe, per layer, per stage)" >&2
t=$(date +%s)
left=$(( 450 - ($(date +%s) - start) ))
[ "$left" -gt 120 ] || left=120
timeout "$left" "$PY" benchmarks/gpu.py ${GPU_BENCH_ARGS:-} > /tmp/gpu_check_bench.md 2>/tmp/gpu_check_bench.err
rc=$?
[ "$rc" -eq 0 ] || status=1
{
  echo "### benchmarks/gpu.py ${GPU_BENCH_ARGS:-} (exit $rc, $(( $(date +%s) - t )) s)"
  echo
  cat /tmp/gpu_check_bench.md
  [ "$rc" -eq 0 ] || { echo; echo '```'; tail -n 8 /tmp/gpu_check_bench.err; echo '```'; }
  echo
} >> "$OUT"

echo "gpu_check: 4/4 torchrun" >&2
{
  echo "### torchrun"
  echo
  if [ "$gpus" -ge 2 ]; then
    d=$(mktemp -d)
    "$PY" - "$d" <<'PYEOF'
import sys
from pathlib import Path
sys.path.insert(0, "tests")
from helpers import bench
bench(Path(sys.argv[1]), views=16, metrics="psnr, ssim, lpips_alex", h=480, w=640)
PYEOF
    t=$(date +%s)
    "$PY" -m nvs_eval evaluate "$d/bench.yaml" --out "$d/one" --no-report --device cuda > /dev/null 2>&1
    t1=$(( $(date +%s) - t )); t=$(date +%s)
    "$PY" -m torch.distributed.run --nproc-per-node 2 -m nvs_eval evaluate "$d/bench.yaml" --out "$d/two" \
      --no-report --device cuda > "$d/two.log" 2>&1; rc=$?
    t2=$(( $(date +%s) - t ))
    same=$("$PY" -c "import sqlite3,sys; q='SELECT dataset,scene,method,view,metric,value,render_sha256,gt_sha256 FROM results'; r=lambda p: sorted(sqlite3.connect(p).execute(q)); print(r(sys.argv[1]) == r(sys.argv[2]))" "$d/one/results.sqlite" "$d/two/results.sqlite" 2>&1)
    echo "2 GPUs, 16 views of 640x480 x 2 methods: one process ${t1} s, torchrun 2 ranks ${t2} s (exit $rc); merged store equal to one process's row for row: $same."
  else
    echo "One GPU: the 2-GPU torchrun run needs two; the gloo tests in CI run torchrun on the CPU."
  fi
  echo
  echo "Total: $(( $(date +%s) - start )) s."
} >> "$OUT"
cat "$OUT"
exit $status
