"""``nvs-eval evaluate CONFIG.yaml``: the whole benchmark into the store, then the tables and report."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ._common import add_precision_arg, path_argument, print_auxiliary


def add_arguments(p: argparse.ArgumentParser) -> None:
    path_argument(p, "config", must_be="file", help="benchmark YAML (see configs/)")
    p.add_argument("--out", default=None, help="output folder (default: out/<name> beside the config)")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N")
    p.add_argument("--force", action="store_true",
                   help="re-score stored results whose inputs changed (old values stay in results_history), "
                        "and write into a non-empty --out")
    p.add_argument("--recompute", action="store_true", help="re-score every row, even unchanged ones")
    p.add_argument("--no-report", action="store_true", help="skip the tables and HTML report")
    p.add_argument("--threads", type=int, default=None,
                   help="CPU threads for this process (under torchrun on the CPU: per rank; default: the cores "
                        "divided among the node's ranks)")
    add_precision_arg(p)


def run(args: argparse.Namespace) -> int:
    import os

    from ..api import evaluate

    threads = args.threads
    if threads is None and int(os.environ.get("LOCAL_WORLD_SIZE", "1")) > 1:
        threads = max(1, (os.cpu_count() or 1) // int(os.environ["LOCAL_WORLD_SIZE"]))
    if threads is not None:
        import torch

        torch.set_num_threads(threads)
    res = evaluate(Path(args.config), args.out, device=args.device, force=args.force, recompute=args.recompute,
                   precision=args.precision)
    if res.rank != 0:  # a distributed run's other ranks: rank 0 merges, reports and prints
        return 0
    s = res.stats
    print(f"{s.views} views: {s.computed} render(s) computed, {s.reused} reused from {res.store}", file=sys.stderr)
    print_auxiliary(res.paired)
    for p in res.paired:  # what the loaders noticed, the efficiency files not read among it
        for note in p.scene.notes:
            print(f"note: {p.scene.dataset}/{p.scene.name}: {note}", file=sys.stderr)
    _summary(res)
    if not args.no_report:
        from ..config import load_config
        from ..report import write_report

        cfg = load_config(Path(args.config))
        baselines = {ds.name: ds.baselines for ds in cfg.datasets if ds.baselines}
        paths = write_report(res.store, res.out / "report", figures=True, force=args.force, baselines=baselines,
                             aggregation=res.protocol.aggregation)
        print(f"report: {paths['html']}", file=sys.stderr)
    return 0


def _summary(res) -> None:
    from ..conventions.registry import METRICS
    from ..results.aggregate import dataset_summary
    from ._common import print_table

    metrics = [m for m in METRICS if m in res.per_view.columns]
    print(f"protocol: {res.protocol.name}")
    summ = dataset_summary(res.per_view)
    if not summ.empty:
        print_table(res.per_view, metrics, by=("dataset", "method"))
