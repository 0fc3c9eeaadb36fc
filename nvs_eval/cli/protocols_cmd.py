"""``nvs-eval protocols``: every protocol with every setting and its source."""

from __future__ import annotations

import argparse
import json


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("file", nargs="?", default=None,
                   help="a custom protocol YAML (as `nvs-eval explain` writes it): validate it and print it")
    p.add_argument("--json", action="store_true", help="print as JSON")


def run(args: argparse.Namespace) -> int:
    from ..conventions.protocols import LATER_SETTINGS, PROTOCOLS, load_protocol_file

    protocols = {"file": load_protocol_file(args.file)} if args.file else PROTOCOLS
    if args.json:
        print(json.dumps({k: p.settings() for k, p in protocols.items()}, indent=1))
        return 0
    for p in protocols.values():
        s = p.settings()
        print(f"{p.name}  ({p.key()})\n  {p.summary}")
        for key in ("quantize", "quantize_images", "background", "lpips_input", "metrics"):
            print(f"  {key:16s} {s[key]}")
        for key, default in LATER_SETTINGS.items():  # the later settings, where a protocol sets them
            if s[key] != default:
                print(f"  {key:16s} {s[key]}")
        print("  ssim            " + ", ".join(f"{k}={v}" for k, v in s["ssim"].items()))
        for src in p.sources:
            print(f"  source          {src}")
        print(f"  aggregation     {p.aggregation}")
        print()
    if args.file:
        return 0
    from ..conventions.registry import METRICS

    print("metrics  (any protocol computes any of them: --metrics, or a config's metrics:)")
    for m, spec in METRICS.items():
        arrow = "higher is better" if spec.higher_is_better else "lower is better"
        print(f"  {m:20s} {spec.label:20s} {arrow:17s} {spec.about}")
    return 0
