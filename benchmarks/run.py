"""Benchmark harness: nvs-eval against the reference pipelines, in one run, interleaved.

Pipelines (each runs in its own subprocess so its peak RSS is its own; they alternate so machine drift cancels):

  a) ``ref3dgs``: the 3DGS ``metrics.py`` recipe: per-image loop, PIL + ``to_tensor``, 2-D 11x11 convolution SSIM with
     zero padding (``utils/loss_utils.py``), PSNR, LPIPS-VGG of the ``lpips`` package fed [0, 1] unmapped.
  b) ``reftm``: nerfstudio ``ns-eval`` style: torchmetrics functional SSIM and PSNR per image, LPIPS-alex with
     ``normalize=True``. torchmetrics' LPIPS class downloads torchvision's backbone at construction (impossible
     offline), so the ``lpips`` package's network, which torchmetrics wraps, is used with the same weights.
  c) ``nvs-eval`` under the matching protocol (``3dgs`` against a, ``nerfstudio`` against b), end to end from files.

Also, outside the timed runs: a float64 evaluation of both recipes' PSNR and SSIM (the exact value each float32
pipeline approximates), nvs-eval with the opt-in ``--precision bf16`` and its error against the exact path, peak
memory for 4x more views, the float32 GEMM peak (MKL and oneDNN) and memcpy bandwidth, LPIPS GFLOP/s as a
fraction of that peak (and per layer), SSIM throughput as a fraction of that bandwidth, and a per-stage profile of
nvs-eval's view loop.

Usage:  python benchmarks/run.py [--size 800] [--methods 3] [--views 24] [--hd-views 4] [--uhd-views 1]
                                 [--repeats 1] [--device cpu|cuda] [--out benchmarks/RESULTS.md]
        python benchmarks/run.py --smoke          # a few small views (what CI runs)
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from check_cost import check_cost  # noqa: E402
from common import machine, worker  # noqa: E402
from cross_view import cross_view_cost, forward_batch_cost  # noqa: E402
from distributed_cost import distributed_cost  # noqa: E402
from explain_cost import explain_cost  # noqa: E402
from families import family_costs  # noqa: E402
from main_bench import _memory_lines, _peak_lines, _profile_lines, bench_workload  # noqa: E402
from report_cost import report_cost  # noqa: E402
from settings_cost import settings_cost  # noqa: E402
from stats_cost import stats_cost  # noqa: E402


def _parse_args() -> argparse.Namespace:
    ap = argparse.ArgumentParser()
    ap.add_argument("--size", type=int, default=800)
    ap.add_argument("--methods", type=int, default=3)
    ap.add_argument("--views", type=int, default=24)
    ap.add_argument("--hd-views", type=int, default=4, help="views of the 1920x1080 scene (0 skips it)")
    ap.add_argument("--uhd-views", type=int, default=1, help="views at 3840x2160 (0 skips them)")
    ap.add_argument("--repeats", type=int, default=1)
    ap.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    ap.add_argument("--smoke", action="store_true", help="tiny workload: checks the harness, measures nothing")
    ap.add_argument("--only", default=None, help="run one section only",
                    choices=["families", "explain", "stats", "distributed", "cross-view", "check", "settings",
                             "report"])
    ap.add_argument("--explain-views", type=int, default=35, help="views for the explain section (779x520)")
    ap.add_argument("--out", default=None, help="append the results to this Markdown file")
    ap.add_argument("--worker", default=None)
    ap.add_argument("--data", default=None)
    args = ap.parse_args()
    if args.smoke:
        args.size, args.methods, args.views, args.hd_views, args.uhd_views = 64, 2, 2, 0, 0
    return args


def main() -> None:

    args = _parse_args()
    if args.worker:
        print(json.dumps(worker(args.worker, Path(args.data), args.methods, args.device)))
        return

    def flush(new: list[str]) -> None:  # each section is written as soon as it is measured
        print("\n".join(new))
        if args.out:
            with open(args.out, "a") as f:
                f.write("\n".join(new) + "\n")

    flush([f"## {time.strftime('%Y-%m-%d %H:%M')}: `{' '.join(['python benchmarks/run.py'] + sys.argv[1:])}`", "",
           f"Machine: {machine(args.device)}", ""])
    if args.only == "families" or args.smoke:
        flush(family_costs(args.size, device=args.device))
        if args.only:
            return
    if args.only == "distributed":
        flush(distributed_cost())
        return
    if args.only == "settings" or args.smoke:
        flush(settings_cost(*(((96, 128), 2, 1, 2) if args.smoke else ())))
        if args.only:
            return
    if args.only == "check" or args.smoke:
        flush(check_cost(*((16, (160, 120)) if args.smoke else ())))
        if args.only:
            return
    if args.only == "cross-view" or args.smoke:
        flush(cross_view_cost(*((8, 1, 64, 1) if args.smoke else ()), device=args.device))
        flush(forward_batch_cost(*((64, 8, 1) if args.smoke else ()), device=args.device))
        if args.only:
            return
    if args.only == "report" or args.smoke:  # the demo scored and its report written, their ratio; the demo's time
        flush(report_cost(2, demo=False, smoke=True) if args.smoke else report_cost())
        if args.only:
            return
    if args.only == "stats" or args.smoke:
        flush(stats_cost(*((2, 10, 3, 2) if args.smoke else ())))
        if args.only:
            return
    if args.only == "explain" or args.smoke:
        flush(explain_cost(2, (130, 195), device=args.device) if args.smoke
              else explain_cost(args.explain_views, device=args.device))
        if args.only:
            return
    main_lines, main_root = bench_workload("main", args.size, args.methods, args.views, args.repeats, args.device,
                                           extras=True)
    flush(main_lines)
    for label, size, views in (("1080p scene", (1080, 1920), args.hd_views), ("4K view", (2160, 3840), args.uhd_views)):
        if views:
            more, root = bench_workload(label, size, args.methods, views, 1, args.device, extras=False)
            flush(more)
            shutil.rmtree(root)
    tail = []
    if args.device == "cpu":
        tail = _peak_lines(args) + _memory_lines(args) + _profile_lines(main_root, args.methods)
    shutil.rmtree(main_root)
    flush(tail + [""])


if __name__ == "__main__":
    main()
