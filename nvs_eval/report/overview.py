"""The index page's at-a-glance figure: each scene's value per method for PSNR and an LPIPS metric, as a dot plot.

One row per scene (``dataset / scene`` when the results hold several datasets), one marker per method (runs
averaged, as the tables print them), one panel per metric, its better direction in the title. The figure is
1,000 px wide with 10 pt text (about 14 px at its display size), never wider than 4:1.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from ..conventions.registry import DEFAULT_AGGREGATION, METRICS

WIDTH_IN, DPI = 10.0, 100  # 1,000 px
MARKERS = "oDs^vP*Xh<>p"


def overview_metrics(metrics: list[str]) -> list[str]:
    """The metrics the figure shows: PSNR and the first LPIPS metric of the plain family, those present.

    >>> overview_metrics(["psnr", "ssim", "lpips_alex", "lpips_vgg"])
    ['psnr', 'lpips_alex']
    """
    plain = [m for m in metrics if METRICS[m].family == "plain"]
    lpips = next((m for m in plain if METRICS[m].lpips_net), None)
    chosen = [m for m in ("psnr", lpips) if m in plain]
    return chosen or plain[:1]


def overview_figure(per_view: pd.DataFrame, metrics: list[str], out: Path,
                    aggregation: str = DEFAULT_AGGREGATION) -> Path | None:
    """Write the dot plot to ``out`` (PNG); ``None`` when there is nothing to show."""
    from ..results.aggregate import scene_summary
    from ..results.atomic import atomic_output
    from .figures import _plt

    shown = overview_metrics(metrics)
    if per_view.empty or not shown:
        return None
    scenes = scene_summary(per_view, aggregation)
    several = scenes["dataset"].nunique() > 1
    scenes["label"] = (scenes["dataset"] + " / " + scenes["scene"]) if several else scenes["scene"]
    labels = sorted(scenes["label"].unique(), reverse=True)  # the first scene at the top
    methods = sorted(scenes["method"].unique())
    plt = _plt()
    height = max(2.6, 1.3 + 0.32 * len(labels))
    fig, axes = plt.subplots(1, len(shown), figsize=(WIDTH_IN, height), squeeze=False, sharey=True)
    pos = {label: i for i, label in enumerate(labels)}
    for ax, m in zip(axes[0], shown):
        for k, method in enumerate(methods):
            rows = scenes[scenes["method"] == method]
            ax.scatter(rows[m], rows["label"].map(pos), marker=MARKERS[k % len(MARKERS)], s=42, alpha=0.85,
                       label=method, zorder=3)
        better = "higher" if METRICS[m].higher_is_better else "lower"
        ax.set_title(f"{METRICS[m].label} per scene ({better} is better)", fontsize=11)
        ax.set_yticks(range(len(labels)), labels)
        ax.tick_params(labelsize=10)
        ax.grid(alpha=0.3, zorder=0)
        ax.set_ylim(-0.6, len(labels) - 0.4)
    handles, names = axes[0][0].get_legend_handles_labels()
    fig.legend(handles, names, loc="upper center", ncol=min(len(methods), 5), fontsize=10, frameon=False)
    fig.tight_layout(rect=(0, 0, 1, 1 - 0.5 / height))
    try:
        with atomic_output(out) as tmp:
            fig.savefig(tmp, dpi=DPI, format="png")
    finally:
        plt.close(fig)
    return out
