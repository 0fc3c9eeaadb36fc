"""``nvs-eval protocols``: every protocol with every setting and its source."""

from __future__ import annotations

import argparse
import json


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--json", action="store_true", help="print as JSON")


def run(args: argparse.Namespace) -> int:
    from ..protocols import PROTOCOLS

    if args.json:
        print(json.dumps({k: p.settings() for k, p in PROTOCOLS.items()}, indent=1))
        return 0
    for p in PROTOCOLS.values():
        s = p.settings()
        print(f"{p.name}  ({p.key()})\n  {p.summary}")
        for key in ("quantize", "quantize_images", "background", "lpips_input", "metrics"):
            print(f"  {key:16s} {s[key]}")
        print("  ssim            " + ", ".join(f"{k}={v}" for k, v in s["ssim"].items()))
        for src in p.sources:
            print(f"  source          {src}")
        print()
    return 0
