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
    import numpy as np

    from ..conventions.registry import MAP_LABELS
    from ..errors import StoreError
    from ..report.figures import _plt
    from ..results.export import atomic_output

    for path in (args.out, args.save_map):
        if path and Path(path).exists() and not args.force:
            raise StoreError(f"{path}: already exists; pass --force to overwrite it")
    from ..evaluate.maps import pair_map

    r, g, m = pair_map(Path(args.render), Path(args.gt), args.metric, args.protocol, args.device)
    if args.save_map:
        with atomic_output(args.save_map) as tmp, open(tmp, "wb") as f:
            np.save(f, m)
    plt = _plt()
    fig, axes = plt.subplots(1, 3, figsize=(11, 3.6))
    axes[0].imshow(g)
    axes[0].set_title("ground truth")
    axes[1].imshow(r)
    axes[1].set_title(Path(args.render).name)
    im = axes[2].imshow(m, cmap="inferno", vmin=0)
    axes[2].set_title(f"{MAP_LABELS.get(args.metric, args.metric)} (mean {np.nanmean(m):.4f})")
    fig.colorbar(im, ax=axes[2], fraction=0.046)
    for ax in axes:
        ax.set_xticks([])
        ax.set_yticks([])
    fig.tight_layout()
    with atomic_output(args.out) as tmp:
        fig.savefig(tmp, dpi=100, format=Path(args.out).suffix.lstrip(".") or "png")
    print(f"{args.metric} map mean {np.nanmean(m):.6f} -> {args.out}")
    return 0
