"""One table model, ranked once; LaTeX, Markdown, CSV and HTML renderers only format it.

Ranking is direction-aware (``higher_is_better`` from the metric registry) and done on the values as displayed
(rounded to the metric's precision), so two methods that print the same number are tied: all of them are bold,
and the next distinct value is underlined.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import pandas as pd

from ..registry import METRICS
from ..results.aggregate import scene_summary


@dataclass(frozen=True)
class Column:
    label: str
    metric: str


@dataclass(frozen=True)
class Cell:
    value: float
    text: str
    rank: int  # 1 best, 2 second best, 0 otherwise


@dataclass(frozen=True)
class Table:
    key: str
    title: str
    row_header: str
    rows: tuple[str, ...]
    columns: tuple[Column, ...]
    cells: tuple[tuple[Cell, ...], ...]
    caption: str


def fmt(value: float, metric: str, precision: dict[str, int] | None = None) -> str:
    digits = (precision or {}).get(metric, METRICS[metric].precision)
    if math.isnan(value):
        return "--"
    if math.isinf(value):
        return "inf" if value > 0 else "-inf"
    return f"{value:.{digits}f}"


def _rank_column(values: list[float], metric: str, precision) -> list[int]:
    digits = (precision or {}).get(metric, METRICS[metric].precision)
    shown = [round(v, digits) if math.isfinite(v) else v for v in values]
    distinct = sorted({v for v in shown if not math.isnan(v)}, reverse=METRICS[metric].higher_is_better)
    if len(values) < 2:
        return [0] * len(values)
    best = distinct[0] if distinct else None
    second = distinct[1] if len(distinct) > 1 else None
    return [1 if v == best else 2 if (second is not None and v == second) else 0 for v in shown]


def _table(key, title, row_header, rows, columns, values, caption, precision) -> Table:
    cols_ranks = [_rank_column([values[r][c] for r in range(len(rows))], col.metric, precision)
                  for c, col in enumerate(columns)]
    cells = tuple(tuple(Cell(values[r][c], fmt(values[r][c], col.metric, precision), cols_ranks[c][r])
                        for c, col in enumerate(columns)) for r in range(len(rows)))
    return Table(key, title, row_header, tuple(rows), tuple(columns), cells, caption)


def build_tables(per_view: pd.DataFrame, protocol: str, metrics: list[str] | None = None,
                 precision: dict[str, int] | None = None, resolution: dict[str, str] | None = None) -> list[Table]:
    """Per dataset: a summary table (methods x metrics, mean over scenes) and one methods x scenes table per metric.

    ``resolution``: dataset -> the ground-truth resolution(s) its numbers were computed at, for the captions."""
    metrics = [m for m in (metrics or list(METRICS)) if m in per_view.columns]
    scenes = scene_summary(per_view)
    tables = []
    for dataset, g in scenes.groupby("dataset", sort=True):
        at = f" Ground truth at {resolution[dataset]}." if resolution and dataset in resolution else ""
        methods = sorted(g["method"].unique())
        scene_names = sorted(g["scene"].unique())
        means = g.groupby("method")[metrics].mean()
        n = len(scene_names)
        values = [[float(means.loc[m, k]) for k in metrics] for m in methods]
        tables.append(_table(
            f"{dataset}-summary", f"{dataset}: average over {n} scene(s)", "Method", methods,
            [Column(METRICS[k].label, k) for k in metrics], values,
            f"{dataset}: mean over {n} scene(s) of per-scene means of per-view values; protocol {protocol}.{at}",
            precision))
        for k in metrics:
            piv = g.pivot(index="method", columns="scene", values=k)
            vals = [[float(piv.loc[m, s]) if s in piv.columns else float("nan") for s in scene_names]
                    + [float(means.loc[m, k])] for m in methods]
            cols = [Column(s, k) for s in scene_names] + [Column("Avg.", k)]
            tables.append(_table(f"{dataset}-{k}", f"{dataset}: {METRICS[k].label} per scene", "Method", methods, cols,
                                 vals, f"{dataset}: {METRICS[k].label} per scene; protocol {protocol}.{at}",
                                 precision))
    return tables


def arrow(metric: str) -> str:
    return "up" if METRICS[metric].higher_is_better else "down"
