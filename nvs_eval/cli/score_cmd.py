"""``nvs-eval score RENDERS [RENDERS ...] --gt GT``: score folders or layouts, print a table, optionally JSON."""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

from ._common import (
    add_protocol_args,
    one_of,
    path_argument,
    print_auxiliary,
    print_side_by_side,
    print_table,
    protocol_from_args,
    scenes_of,
    wrap,
)


def add_arguments(p: argparse.ArgumentParser) -> None:
    from ..data.datasets import DATASET_KINDS
    from ..data.layouts import LAYOUTS

    p.add_argument("renders", nargs="+",
                   help="one folder per method (NAME=PATH to name it; NAME=PATH1,PATH2,... or a glob for several runs "
                        "of one method: mean ± std over runs), or a layout folder")
    path_argument(p, "--gt", must_be="folder", default=None, help="ground-truth folder (omit to auto-detect a layout)")
    p.add_argument("--layout", default=None, **one_of(LAYOUTS), help="the folder layout (default: detected)")
    p.add_argument("--iteration", type=int, default=None,
                   help="3dgs / gsplat / multinerf: which iteration or step (default latest)")
    p.add_argument("--dataset", default=None, **one_of(DATASET_KINDS),
                   help="multinerf: the dataset kind whose held-out views are the ground truth; other layouts: the "
                        "dataset their ground truth is checked against (as nvs-eval check does)")
    path_argument(p, "--dataset-root", must_be="folder", default=None,
                   help="that dataset's scene folder; pixelsplat: the dataset root (test/index.json, .torch chunks)")
    path_argument(p, "--eval-index", must_be="file", default=None,
                   help="pixelsplat: the evaluation index JSON the run was rendered with "
                        "(assets/evaluation_index_re10k.json)")
    p.add_argument("--scene", default=None,
                   help="with --dataset-root: the dataset scene (default: that folder's name; never the run folder's)")
    p.add_argument("--images", default="images", help="llff / mipnerf360: the image folder (images_4, ...)")
    p.add_argument("--allow-missing", action="store_true", help="score the views that have renders; report coverage")
    p.add_argument("--strict", action="store_true",
                   help="auxiliary files beside the renders (<view>_depth.png, depth/...) are an error")
    path_argument(p, "--masks", must_be="folder", default=None,
                   help="masked_* metrics: a folder of mask images paired by view id (white evaluates, grey weighs, "
                        "black leaves out; with several scenes, one sub-folder per scene)")
    p.add_argument("--mask-from-gt-alpha", action="store_true",
                   help="masked_* metrics: the ground truth's alpha channel is the mask")
    p.add_argument("--json", default=None, help="write per-view values and means to this JSON file")
    p.add_argument("--force", action="store_true", help="overwrite an existing --json file")
    p.add_argument("--efficiency", default="all", choices=("all", "none"),
                   help="print (and write to --json) the efficiency figures the training tool recorded beside its "
                        "renders: number of Gaussians, size, FPS, training time and memory (docs/efficiency.md); "
                        "none leaves them out")
    path_argument(p, "--efficiency-table", must_be="file", default=None,
                  help="a CSV method,scene,figure,value,unit,source of efficiency figures for tools that record none")
    p.add_argument("--compare-raw", action="store_true",
                   help="with --appearance-fit: score without the fit too and print raw and fitted means side by side")
    add_protocol_args(p)


def _print_efficiency(scenes) -> object:
    """Print each method's efficiency figures (the tool's own, with their source files); returns their frame."""
    from ..conventions.figures import FIGURES, TOOL_NOTE
    from ..results.efficiency import frame_of_scenes, summarize

    eff = frame_of_scenes(scenes)
    if eff.empty:
        return eff
    print(f"efficiency ({TOOL_NOTE}; fps = 1000 / mean render_ms):")
    for (dataset, scene), g in eff.groupby(["dataset", "scene"], sort=False):
        methods = list(dict.fromkeys(g["method"]))
        summ = summarize(eff, dataset, [scene], methods)
        for m in methods:
            shown = [f"{FIGURES[f].label} {FIGURES[f].show(summ.values[(m, f)]):.{FIGURES[f].precision}f}"
                     + (f" ± {FIGURES[f].show(summ.spreads[(m, f)]):.{FIGURES[f].precision}f}"
                        if math.isfinite(summ.spreads[(m, f)]) else "")
                     for f in summ.figures if math.isfinite(summ.values[(m, f)])]
            print(f"  {scene}/{m}: " + ", ".join(shown))
        for src in sorted(set(g["source"])):
            print(f"    from {src}")
    return eff


def _print_means(args, paired, protocol, metrics, df) -> None:
    """The means table (raw and fitted side by side with ``--compare-raw``), and each scale's means for views at
    several scales."""
    from ..api import score_paired

    print(wrap(f"protocol: {protocol.caption()}"))
    by = ("scene", "method") if df["scene"].nunique() > 1 else ("method",)
    if args.compare_raw:
        raw = score_paired(paired, protocol.with_appearance_fit("none"), metrics, device=args.device,
                           precision=args.precision)
        print_side_by_side({"raw": raw, protocol.appearance_fit: df}, metrics, by)
    else:
        print_table(df, metrics, by=by)
    from ..results.scales import scale_label, scales_of, view_scale

    scales = scales_of(df)
    if scales:  # multi-scale views: each scale's means too
        per_scale = df["view"].map(lambda v: view_scale(str(v)))
        print_side_by_side({scale_label(sc): df[per_scale == sc] for sc in scales}, metrics, by)


def _prepare(args: argparse.Namespace):
    """The protocol, the metrics and the paired scenes (every user error before anything is computed)."""
    from ..api import attach_masks, pair_scenes
    from ..conventions.registry import parse_metric_list
    from ..errors import StoreError, UsageError

    protocol = protocol_from_args(args)
    metrics = parse_metric_list(args.metrics, protocol.metrics)
    if args.compare_raw and protocol.appearance_fit == "none":
        raise UsageError("--compare-raw compares a protocol's appearance fit with the raw numbers; this protocol "
                         f"({protocol.name}) has none", hint="add --appearance-fit gain-bias|affine|color-correct")
    if args.json and Path(args.json).exists() and not args.force:
        raise StoreError(f"{args.json}: already exists; pass --force to overwrite it")
    scenes = scenes_of(args)
    if args.efficiency_table is not None:
        from ..api import add_figure_table
        from ..data.efficiency import read_figure_table

        add_figure_table(scenes, read_figure_table(Path(args.efficiency_table)))
    attach_masks(scenes, args.masks, from_gt_alpha=args.mask_from_gt_alpha)
    paired = pair_scenes(scenes, allow_missing=args.allow_missing, strict=args.strict,
                         resize_gt=protocol.resize_gt != "none")
    return protocol, metrics, scenes, paired


def _print_runs_and_coverage(paired, df, metrics) -> None:
    """Each method's spread over its runs, what ``--allow-missing`` means are over, and what of each run was read."""
    from ..results.aggregate import run_spread

    for method, per_metric in run_spread(df, metrics).items():
        print(wrap(f"{method} over {next(iter(per_metric.values()))['runs']} runs (mean ± sample std of the run "
                   "means): " + ", ".join(f"{m} {v['mean']:.4f} ± {v['std']:.4f}" for m, v in per_metric.items())))
    several = len({p.scene.name for p in paired}) > 1
    for p in paired:  # --allow-missing: what the means are over
        for method, (have, total) in p.coverage.items():
            if have < total:
                print(f"coverage: {p.scene.name + '/' if several else ''}{method}: {have} of {total} views have a "
                      f"render (--allow-missing); its means are over those {have}")
    for p in paired:
        for method, what in p.scene.origin.items():
            print(f"read: {p.scene.name + '/' if several else ''}{method}: {what}")


def _print_reported_and_checks(paired, scenes, df, metrics) -> list:
    """The tools' own means beside nvs-eval's, and each scene's check against its dataset; returns the former."""
    from ..api import check_of
    from ..results.reported import reported_comparison

    reported = reported_comparison(paired, df, metrics)
    for r in reported:
        print(f"{r['scene']}/{r['method']}: the tool's own mean {r['metric']} {r['reported']:.4f}, nvs-eval "
              f"{r['nvs_eval']:.4f} (difference {r['difference']:+.4f}; see {r['doc']} for why they differ)")
    for s in {id(s): s for s in scenes}.values():
        result = check_of(s)
        if result is not None:
            print(f"check: {result.summary()}")
    return reported


def run(args: argparse.Namespace) -> int:
    from ..api import score_paired
    from ..results.reported import score_document
    from ..util.atomic import atomic_write_text

    protocol, metrics, scenes, paired = _prepare(args)
    for s in scenes:
        for note in s.notes:
            print(f"note: {note}", file=sys.stderr)
    print_auxiliary(paired)
    df = score_paired(paired, protocol, metrics, device=args.device, precision=args.precision)
    _print_means(args, paired, protocol, metrics, df)
    efficiency = _print_efficiency(scenes) if args.efficiency != "none" else None
    _print_runs_and_coverage(paired, df, metrics)
    reported = _print_reported_and_checks(paired, scenes, df, metrics)
    if args.json:
        atomic_write_text(Path(args.json), json.dumps(score_document(protocol, metrics, df, paired, reported,
                                                                efficiency), indent=1))
    return 0
