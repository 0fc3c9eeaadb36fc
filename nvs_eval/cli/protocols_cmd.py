"""``nvs-eval protocols``: every protocol with every setting and its source."""

from __future__ import annotations

import argparse


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("file", nargs="?", default=None,
                   help="a custom protocol YAML (as `nvs-eval explain` writes it): validate it and print it")
    p.add_argument("--json", action="store_true", help="print as JSON")


def run(args: argparse.Namespace) -> int:
    from ..conventions.protocols import protocols_listing

    print(protocols_listing(args.file, as_json=args.json), end="")
    return 0
