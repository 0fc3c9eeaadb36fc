#!/usr/bin/env bash
# The kill-at-random-points test N times in a row (default 50) under a parallel CPU hog (Debian's `stress`), on
# the current commit checked out in its own worktree, so edits to the working tree cannot reach the runs.
# Stops at the first failure and keeps its log. Usage: bash benchmarks/kill_loop.sh [N]   (about 1 min a run)
set -u
n=${1:-50}
repo=$(cd "$(dirname "$0")/.." && pwd)
py="$repo/.venv/bin/python"
wt=$(mktemp -d /tmp/nvs-eval-kill-loop.XXXX)
git -C "$repo" worktree add -q --detach "$wt" HEAD || exit 1
trap 'kill $hog 2>/dev/null; git -C "$repo" worktree remove --force "$wt"' EXIT
command -v stress >/dev/null || { echo "kill_loop: needs Debian's stress (apt-get install stress)" >&2; exit 3; }
stress --cpu "$(nproc)" >/dev/null 2>&1 &
hog=$!
cd "$wt" || exit 1
export PYTHONPATH="$wt"
echo "start $(date -u +%FT%TZ) commit $(git rev-parse --short HEAD), $n runs under stress --cpu $(nproc)"
pass=0
for i in $(seq 1 "$n"); do
  t0=$(date +%s)
  if "$py" -m pytest -q -p no:cacheprovider -o addopts="" \
      "tests/cli/test_cli.py::test_sigkill_at_random_points_then_rerun_completes_without_recomputing" > "$wt/run.log" 2>&1; then
    pass=$((pass + 1))
    echo "run $i: passed in $(( $(date +%s) - t0 )) s, load $(cut -d' ' -f1-3 /proc/loadavg)"
  else
    cp "$wt/run.log" "/tmp/kill-loop-failure-$i.log"
    echo "run $i: FAILED (log: /tmp/kill-loop-failure-$i.log)"
    break
  fi
done
echo "end $(date -u +%FT%TZ): $pass of $n passed in a row"
[ "$pass" -eq "$n" ]
