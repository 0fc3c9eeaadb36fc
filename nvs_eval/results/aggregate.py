"""Aggregation, in a fixed order: scene = mean of its views; dataset = mean of its scenes.

Means are of per-view values (mean of per-image PSNR, never PSNR of pooled MSE). A view whose PSNR is ``inf``
(render identical to ground truth) makes its scene's mean PSNR ``inf``: it is kept and shown, not capped.
Standard deviations are population std over views (scene) or over scene means (dataset); counts are given.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

KEYS = ["dataset", "scene", "method"]


def _metric_columns(per_view: pd.DataFrame) -> list[str]:
    from ..registry import METRICS

    return [m for m in METRICS if m in per_view.columns]


def _stats(g: pd.DataFrame, metrics: list[str], row: dict) -> dict:
    """Add mean, population std and count of each metric column of ``g`` to ``row``."""
    for m in metrics:
        v = g[m].dropna().to_numpy(dtype=np.float64)
        row[m] = float(np.mean(v)) if len(v) else float("nan")
        row[f"{m}_std"] = float(np.std(v)) if len(v) and np.isfinite(v).all() else float("nan")
        row[f"{m}_n"] = int(len(v))
    return row


def scene_summary(per_view: pd.DataFrame) -> pd.DataFrame:
    """One row per dataset/scene/method: ``<metric>`` (mean), ``<metric>_std``, ``<metric>_n``."""
    metrics = _metric_columns(per_view)
    return pd.DataFrame([_stats(g, metrics, dict(zip(KEYS, key))) for key, g in per_view.groupby(KEYS, sort=True)])


def dataset_summary(per_view: pd.DataFrame) -> pd.DataFrame:
    """One row per dataset/method: mean over scene means, std over scenes, number of scenes."""
    scenes = scene_summary(per_view)
    metrics = _metric_columns(per_view)
    return pd.DataFrame([_stats(g, metrics, {"dataset": d, "method": m, "scenes": int(len(g))})
                         for (d, m), g in scenes.groupby(["dataset", "method"], sort=True)])
