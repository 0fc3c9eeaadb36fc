"""``nvs-eval demo``: build the embedded benchmark, evaluate it and write the report."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--out", default="nvs-eval-demo", help="folder for the demo data, store and report")
    p.add_argument("--views", type=int, default=6, help="test views per scene (default 6)")
    p.add_argument("--device", default="auto")
    p.add_argument("--recompute", action="store_true", help="re-score every row, even those already stored")


def run(args: argparse.Namespace) -> int:
    from ..api import evaluate
    from ..data.demo import build_demo
    from ..report import write_report
    from .evaluate_cmd import _summary

    out = Path(args.out)
    config = build_demo(out / "data", views_per_scene=args.views)
    res = evaluate(config, out / "results", device=args.device, recompute=args.recompute)
    print(f"{res.stats.views} views: {res.stats.computed} render(s) computed, {res.stats.reused} reused",
          file=sys.stderr)
    _summary(res)
    paths = write_report(res.store, out / "report", figures=True)
    print(f"report: {paths['html']}")
    return 0
