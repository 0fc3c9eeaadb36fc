"""``nvs-eval heatmap RENDER GT``: one pair's error map as a figure, optionally the raw map as .npy."""

from __future__ import annotations

import argparse
from pathlib import Path

from ._common import path_argument


def add_arguments(p: argparse.ArgumentParser) -> None:
    from ..conventions.registry import MAP_LABELS

    path_argument(p, "render", must_be="file", help="the rendered image")
    path_argument(p, "gt", must_be="file", help="its ground-truth image")
    p.add_argument("--metric", default="lpips_vgg", choices=list(MAP_LABELS), help="which map (default lpips_vgg)")
    p.add_argument("--protocol", default=None)
    p.add_argument("--device", default="auto")
    p.add_argument("--out", required=True, help="figure path (.png)")
    p.add_argument("--save-map", default=None, help="save the raw float32 H x W map here (.npy)")
    p.add_argument("--force", action="store_true", help="overwrite --out / --save-map if they exist")


def run(args: argparse.Namespace) -> int:
    from ..report.heatmap import write_heatmap

    mean = write_heatmap(Path(args.render), Path(args.gt), args.metric, Path(args.out), args.protocol, args.device,
                         Path(args.save_map) if args.save_map else None, args.force)
    print(f"{args.metric} map mean {mean:.6f} -> {args.out}")
    return 0
