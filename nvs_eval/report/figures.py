"""Figures (matplotlib, Agg): comparison heatmaps, per-view curves and distributions.

Every map comes from the metric kernels themselves (:meth:`Evaluator.maps`); a figure uses one colour scale per
map type for all methods shown on the same view, so the methods can be compared by eye.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from ..conventions.registry import MAP_LABELS, METRICS
from ..util.atomic import atomic_output


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(plt, fig, out: Path) -> None:
    """``fig`` to ``out``, whole or not at all (a full disk's error names ``out``), then closed."""
    try:
        with atomic_output(out) as tmp:
            jpeg = out.suffix.lower() in (".jpg", ".jpeg")
            fig.savefig(tmp, dpi=90, format=out.suffix.lstrip(".").lower(),
                        **({"pil_kwargs": {"quality": 88}} if jpeg else {}))
    finally:
        plt.close(fig)


def shared_limits(maps_by_method: dict[str, dict[str, np.ndarray]]) -> dict[str, float]:
    """One upper colour limit per map type, shared by every method (99.5th percentile of all of them)."""
    kinds = next(iter(maps_by_method.values())).keys()
    return {k: float(max(np.percentile(m[k], 99.5) for m in maps_by_method.values()) or 1e-6) for k in kinds}


def comparison_figure(gt: np.ndarray, renders: dict[str, np.ndarray], maps: dict[str, dict[str, np.ndarray]],
                      out: Path, title: str) -> Path:
    """GT | render | abs error | LPIPS map(s) | 1 - SSIM, one row per method, colour bars, shared scales."""
    plt = _plt()
    kinds = list(next(iter(maps.values())).keys())
    lim = shared_limits(maps)
    ncol = 2 + len(kinds)
    fig, axes = plt.subplots(len(renders), ncol, figsize=(2.6 * ncol, 2.2 * len(renders) + 0.4), squeeze=False)
    for r, (method, img) in enumerate(renders.items()):
        axes[r, 0].imshow(gt)
        axes[r, 0].set_title("ground truth" if r == 0 else "", fontsize=8)
        axes[r, 1].imshow(img)
        axes[r, 1].set_title(method, fontsize=8)
        for c, k in enumerate(kinds):
            ax = axes[r, 2 + c]
            im = ax.imshow(maps[method][k], cmap="inferno", vmin=0.0, vmax=lim[k])
            ax.set_title(MAP_LABELS.get(k, k), fontsize=8)
            fig.colorbar(im, ax=ax, fraction=0.046, pad=0.02).ax.tick_params(labelsize=6)
        for ax in axes[r]:
            ax.set_xticks([])
            ax.set_yticks([])
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    _save(plt, fig, out)
    return out


def colour_map(m: np.ndarray, vmax: float) -> np.ndarray:
    """A map coloured with inferno on [0, vmax] as H x W x 3 uint8 (NaN, where SSIM is undefined, is black)."""
    from matplotlib import colormaps

    x = np.nan_to_num(np.clip(m / max(vmax, 1e-12), 0, 1), nan=0.0)
    return (colormaps["inferno"](x)[..., :3] * 255).round().astype(np.uint8)


def curves_figure(scene_df: pd.DataFrame, metrics: list[str], out: Path, title: str) -> Path:
    """Per-view metric values along the test trajectory, one line per method."""
    plt = _plt()
    fig, axes = plt.subplots(1, len(metrics), figsize=(3.6 * len(metrics), 2.8), squeeze=False)
    for ax, m in zip(axes[0], metrics):
        for method, g in scene_df.groupby("method", sort=True):
            g = g.sort_values("view")
            ax.plot(range(len(g)), g[m].to_numpy(), marker="o", ms=3, label=method)
        direction = "higher" if METRICS[m].higher_is_better else "lower"
        ax.set_title(f"{METRICS[m].label} ({direction} is better)", fontsize=8)
        ax.set_xlabel("test view (sorted)", fontsize=8)
        ax.tick_params(labelsize=7)
    axes[0][0].legend(fontsize=7)
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    _save(plt, fig, out)
    return out


def distribution_figure(scene_df: pd.DataFrame, metrics: list[str], out: Path, title: str) -> Path:
    """Per-method distributions of per-view values (box plots with the points)."""
    plt = _plt()
    methods = sorted(scene_df["method"].unique())
    fig, axes = plt.subplots(1, len(metrics), figsize=(3.6 * len(metrics), 2.8), squeeze=False)
    for ax, m in zip(axes[0], metrics):
        data = [scene_df.loc[scene_df["method"] == k, m].replace([np.inf], np.nan).dropna().to_numpy() for k in methods]
        ax.boxplot(data, showfliers=False)
        for i, d in enumerate(data, 1):
            ax.scatter(np.full(len(d), i), d, s=6, alpha=0.6)
        ax.set_xticks(range(1, len(methods) + 1), methods, rotation=20, fontsize=7)
        ax.set_title(METRICS[m].label, fontsize=8)
        ax.tick_params(labelsize=7)
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    _save(plt, fig, out)
    return out
