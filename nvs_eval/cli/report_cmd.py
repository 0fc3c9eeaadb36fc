"""``nvs-eval report``: tables and the HTML report from a results store."""

from __future__ import annotations

import argparse

from ._common import path_argument


def add_arguments(p: argparse.ArgumentParser) -> None:
    path_argument(p, "--results", default=".", help="results folder or results.sqlite (default: current folder)")
    p.add_argument("--out", default="reports", help="output folder (default: reports/)")
    p.add_argument("--format", default="latex,md,csv,html",
                   help="comma-separated: latex, md, csv, html, survey (the 3DGS compression survey's "
                        "<method>/<Dataset>/<scene>.csv; not in the default)")
    p.add_argument("--protocol", default=None, help="which protocol's results, when the store has several")
    p.add_argument("--no-figures", action="store_true", help="skip heatmaps and plots")
    p.add_argument("--worst", type=int, default=2, help="worst views per method to show (default 2)")
    p.add_argument("--device", default="cpu", help="device for the heatmaps (default cpu)")
    p.add_argument("--force", action="store_true", help="write into --out even if it holds other files")
    p.add_argument("--unflag-baselines", action="store_true",
                   help="print --baselines beside scenes that nvs-eval check found not comparable without the "
                        "flag (the caption still names those scenes)")
    from ..conventions.registry import AGGREGATIONS, DEFAULT_AGGREGATION, DEFAULT_SIGNIFICANCE

    p.add_argument("--aggregation", default=DEFAULT_AGGREGATION, choices=list(AGGREGATIONS),
                   help="how per-view values become scene and dataset values (stated in every caption): "
                        + "; ".join(f"{k}: {v}" for k, v in AGGREGATIONS.items()))
    p.add_argument("--significance", type=float, default=DEFAULT_SIGNIFICANCE,
                   help="mark methods not significantly different from each column's best at this level "
                        "(significant only where the paired two-level bootstrap and the sign-flip test both reject, "
                        "each Holm-adjusted over every pair of methods, as stats.html shades; 0 turns the marks off)")
    p.add_argument("--allow-different-sets", action="store_true",
                   help="test methods scored on different views (or fewer scenes) on the views they share, in the "
                        "tables' marks and stats.html's matrices (the captions say so); by default such pairs are not "
                        "tested and are named")
    p.add_argument("--efficiency", default="all", choices=("all", "none"),
                   help="the training tools' own efficiency figures stored beside the results (number of Gaussians, "
                        "size, FPS, training time and memory; docs/efficiency.md) as columns after the metrics "
                        "(default all); none leaves them out")
    p.add_argument("--baselines", action="append", default=[], metavar="NAME[:DATASET]",
                   help="print published results beside yours (`nvs-eval baselines` lists them): NAME's rows go into "
                        "the tables of DATASET (default: the results' only dataset, or the one named NAME)")
    p.add_argument("--paired", action="store_true",
                   help="with --baselines mipnerf360 or blender: paired tests of each method against NerfBaselines' "
                        "published per-view results (views paired by dataset image name; only scenes that "
                        "`nvs-eval check` found comparable, scored under the nerfbaselines protocol; the others are "
                        "refused with the reason)")


def run(args: argparse.Namespace) -> int:
    from ..report import write_report

    formats = tuple(f.strip() for f in args.format.split(",") if f.strip())
    paths = write_report(args.results, args.out, formats, figures=not args.no_figures, protocol=args.protocol,
                         worst_k=args.worst, device=args.device, force=args.force,
                         baselines=baseline_targets(args.baselines, args.results), aggregation=args.aggregation,
                         significance=args.significance or None, allow_different_sets=args.allow_different_sets,
                         force_baselines=args.unflag_baselines, paired=args.paired,
                         efficiency=args.efficiency != "none")
    for kind, path in paths.items():
        print(f"{kind}: {path}")
    if "survey" in paths:
        readme = (paths["survey"] / "README.md").read_text(encoding="utf-8")
        for line in readme.splitlines():
            if line.startswith("- "):
                print(f"survey: condition not met: {line[2:]}")
    return 0


def baseline_targets(specs: list[str], results) -> dict[str, str]:
    """``["mipnerf360", "blender:synthetic"]`` -> {results dataset: baselines name}."""
    from pathlib import Path

    from ..conventions.registry import STORE_NAME
    from ..errors import UsageError
    from ..results.store import ResultsStore

    if not specs:
        return {}
    path = Path(results)
    path = path / STORE_NAME if path.is_dir() else path
    with ResultsStore(path) as store:
        datasets = sorted(store.frame()["dataset"].unique())
    out = {}
    for spec in specs:
        name, _, dataset = spec.partition(":")
        if not dataset:
            dataset = name if name in datasets else datasets[0] if len(datasets) == 1 else ""
        if not dataset:
            raise UsageError(f"--baselines {name}: the results have several datasets ({', '.join(datasets)}); "
                             f"say which: --baselines {name}:DATASET")
        out[dataset] = name
    return out



