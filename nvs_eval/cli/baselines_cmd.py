"""``nvs-eval baselines [DATASET]``: the published results nvs-eval can print beside yours, with their sources."""

from __future__ import annotations

import argparse


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("dataset", nargs="?", default=None, help="show one dataset's entries in full (per scene)")


def run(args: argparse.Namespace) -> int:
    from ..baselines import datasets, load
    from ..conventions.registry import METRICS

    for name in [args.dataset] if args.dataset else datasets():
        entries = load(name)
        print(f"{name}  (nvs-eval report --baselines {name}; config: baselines: {name})")
        for b in entries:
            means = "  ".join(f"{METRICS[k].label} {v:.{b.decimals['mean'].get(k, 3)}f}"
                              for k, v in b.printed_mean.items())
            print(f"  {b.name:28s} {len(b.scenes):2d} scenes  protocol {b.protocol:13s} {means}")
            if args.dataset:
                print(f"    evidence: {b.evidence}\n    source:   {b.source}")
                for scene, row in b.scenes.items():
                    print(f"    {scene:12s} " + "  ".join(f"{k} {v:g}" for k, v in row.items()))
        print()
    return 0
