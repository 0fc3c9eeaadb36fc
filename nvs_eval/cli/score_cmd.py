"""``nvs-eval score RENDERS [RENDERS ...] --gt GT``: score folders, print a table, optionally write JSON."""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

from ._common import add_protocol_args, print_table


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("renders", nargs="+", help="one folder per method (NAME=PATH to name it), or a layout folder")
    p.add_argument("--gt", default=None, help="ground-truth folder (omit to auto-detect a 3dgs/nerfstudio/nerfbaselines layout)")
    p.add_argument("--layout", default=None, choices=["pairs", "3dgs", "nerfstudio", "nerfbaselines"])
    p.add_argument("--iteration", type=int, default=None, help="3dgs: which test/ours_<iteration> (default latest)")
    p.add_argument("--allow-missing", action="store_true", help="score the views that have renders; report coverage")
    p.add_argument("--json", default=None, help="write per-view values and means to this JSON file")
    p.add_argument("--force", action="store_true", help="overwrite an existing --json file")
    add_protocol_args(p)


def _method(arg: str) -> tuple[str, Path]:
    if "=" in arg and not Path(arg).exists():
        name, path = arg.split("=", 1)
        return name, Path(path)
    path = Path(arg)
    return path.resolve().name, path


def run(args: argparse.Namespace) -> int:
    from ..api import score_scenes
    from ..data.layouts import load_layout, pairs_scene
    from ..errors import StoreError, UsageError
    from ..metrics.registry import parse_metric_list
    from ..protocols import get_protocol
    from ..results.export import atomic_write_text

    protocol = get_protocol(args.protocol)
    metrics = parse_metric_list(args.metrics, protocol.metrics)
    if args.json and Path(args.json).exists() and not args.force:
        raise StoreError(f"{args.json}: already exists; pass --force to overwrite it")
    if args.gt is not None and args.layout not in (None, "pairs"):
        raise UsageError(f"--gt is for the pairs layout; the {args.layout} layout brings its own ground truth")
    if args.gt is not None:
        scenes = [pairs_scene([_method(a) for a in args.renders], Path(args.gt))]
    else:
        scenes = []
        for a in args.renders:
            name, path = _method(a)
            scenes += load_layout(path, args.layout, iteration=args.iteration,
                                  method=name if "=" in a else None)
    df = score_scenes(scenes, protocol, metrics, device=args.device, allow_missing=args.allow_missing,
                      precision=args.precision)
    print(f"protocol: {protocol.name}")
    print_table(df, metrics, by=("scene", "method") if df["scene"].nunique() > 1 else ("method",))
    if args.json:
        def num(v: float):
            return v if math.isfinite(v) else str(v)

        doc = {
            "protocol": protocol.settings(),
            "metrics": list(metrics),
            "views": [{"method": r["method"], "view": r["view"], **{m: num(float(r[m])) for m in metrics}}
                      for r in df.to_dict("records")],
            "mean": {m: {k: num(float(v)) for k, v in g[list(metrics)].mean().items()}
                     for m, g in df.groupby("method", sort=False)},
        }
        atomic_write_text(Path(args.json), json.dumps(doc, indent=1))
    return 0
