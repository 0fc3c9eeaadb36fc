"""``nvs-eval demo``: build the embedded benchmark, evaluate it and write the report."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def add_arguments(p: argparse.ArgumentParser) -> None:
    from ..data.demo import VIEWS

    p.add_argument("--out", default="nvs-eval-demo", help="folder for the demo data, store and report")
    p.add_argument("--views", type=int, default=VIEWS, help=f"test views per scene (default {VIEWS})")
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
    _wild(out, args)
    return 0


def _wild(out: Path, args: argparse.Namespace) -> None:
    """The in-the-wild part: smooth-nerf under nerfw with an affine fit (stored, with its fits) beside the raw
    right-half numbers."""
    from ..api import evaluate, scenes_from_config, score_scenes
    from ..config import load_config
    from ..conventions.protocols import get_protocol
    from ..data.demo import WILD_METRICS
    from ._common import print_side_by_side, wrap

    cfg = load_config(out / "data" / "wild.yaml")
    fitted = evaluate(cfg, out / "results-wild", device=args.device, recompute=args.recompute)
    raw = score_scenes(scenes_from_config(cfg), get_protocol(cfg.protocol), WILD_METRICS, device=args.device,
                       progress=False)
    print(wrap(f"in the wild: protocol {fitted.protocol.caption()}; {len(fitted.per_view)} views, their fits stored "
               f"in {fitted.store}"))
    print_side_by_side({"raw": raw, fitted.protocol.appearance_fit: fitted.per_view}, list(WILD_METRICS), ("method",))
