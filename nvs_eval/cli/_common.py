"""Arguments shared by several commands."""

from __future__ import annotations

import argparse


def add_protocol_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--protocol", default=None, help="evaluation protocol (see `nvs-eval protocols`; default nvs-eval)")
    p.add_argument("--metrics", default=None, help="comma-separated metric ids, e.g. psnr,ssim,lpips_alex,lpips_vgg")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N (default auto)")
    add_precision_arg(p)


def add_precision_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("--precision", default="float32", choices=["float32", "bf16", "fp16", "tf32"],
                   help="float32 (exact, default); bf16 / fp16 / tf32 run LPIPS faster with different numbers "
                        "(opt-in; see benchmarks/RESULTS.md for the measured error)")


def print_table(df, metrics, by=("method",), file=None) -> None:
    """A plain-text table of means."""
    import sys

    from ..metrics.registry import METRICS

    file = file or sys.stdout
    g = df.groupby(list(by), sort=False)[list(metrics)].mean()
    head = [*by, *[METRICS[m].label for m in metrics], "views"]
    counts = df.groupby(list(by), sort=False).size()
    rows = [[*(k if isinstance(k, tuple) else (k,)), *[f"{v:.{METRICS[m].precision + 2}f}" for m, v in zip(metrics, r)],
             str(counts[k])] for k, r in zip(g.index, g.to_numpy())]
    widths = [max(len(str(x)) for x in col) for col in zip(head, *rows)]
    print("  ".join(h.ljust(w) for h, w in zip(head, widths)), file=file)
    for r in rows:
        print("  ".join(str(x).ljust(w) for x, w in zip(r, widths)), file=file)
