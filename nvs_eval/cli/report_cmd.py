"""``nvs-eval report``: tables and the HTML report from a results store."""

from __future__ import annotations

import argparse


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--results", default=".", help="results folder or results.sqlite (default: current folder)")
    p.add_argument("--out", default="reports", help="output folder (default: reports/)")
    p.add_argument("--format", default="latex,md,csv,html", help="comma-separated: latex, md, csv, html")
    p.add_argument("--protocol", default=None, help="which protocol's results, when the store has several")
    p.add_argument("--no-figures", action="store_true", help="skip heatmaps and plots")
    p.add_argument("--worst", type=int, default=2, help="worst views per method to show (default 2)")
    p.add_argument("--device", default="cpu", help="device for the heatmaps (default cpu)")
    p.add_argument("--force", action="store_true", help="write into --out even if it holds other files")


def run(args: argparse.Namespace) -> int:
    from ..report import write_report

    formats = tuple(f.strip() for f in args.format.split(",") if f.strip())
    paths = write_report(args.results, args.out, formats, figures=not args.no_figures, protocol=args.protocol,
                         worst_k=args.worst, device=args.device, force=args.force)
    for kind, path in paths.items():
        print(f"{kind}: {path}")
    return 0
