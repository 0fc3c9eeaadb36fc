"""Aggregation of the efficiency figures (:mod:`nvs_eval.conventions.figures`): scene and dataset values, runs.

The order is the metrics' own: a method's scene value is the mean over its runs, its dataset value the mean of its
scene values; ± is the sample standard deviation over runs of each run's value. ``fps`` is never averaged: it is
``1000 / the mean render_ms`` at every level (over the views by the tool, over runs and scenes here), so a slow
scene weighs as it does in a paper's "FPS" column and the mean of per-frame FPS never enters (DeepLink-org/
3DGSTensorCore #5 shows how far the two differ). A figure a method lacks on some of the dataset's scenes has no
dataset value ("–"), and the scenes are named.

>>> import pandas as pd
>>> eff = pd.DataFrame({"dataset": "d", "scene": ["a", "b"], "method": "m", "run": "", "figure": "render_ms",
...                     "value": [5.0, 15.0], "source": "stats.json", "detail": ""})
>>> s = summarize(eff, "d", ["a", "b"])
>>> s.values[("m", "render_ms")], s.values[("m", "fps")]
(10.0, 100.0)
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import pandas as pd

from ..conventions.figures import DERIVED, FIGURES

EMPTY = ("dataset", "scene", "method", "run", "figure", "value", "source", "detail")


def with_derived(eff: pd.DataFrame) -> pd.DataFrame:
    """``eff`` with a ``fps`` row beside each ``render_ms`` row (``1000 / render_ms``, its source the same file):
    per run and scene only; means over runs and scenes are recomputed from ``render_ms`` by :func:`summarize`."""
    rows = []
    for name, base in DERIVED.items():
        src = eff[eff["figure"] == base]
        if len(src):
            d = src.copy()
            d["figure"] = name
            d["value"] = 1000.0 / d["value"]
            d["detail"] = [f"1000 / render_ms ({v})" for v in src["detail"]]
            rows.append(d)
    return pd.concat([eff, *rows], ignore_index=True) if rows else eff


@dataclass
class Summary:
    """One dataset's figures per method (over the ``scenes`` given).

    Attributes:
        values: ``(method, figure) -> value`` in the stored unit (NaN: missing on some scene).
        spreads: ``(method, figure) -> sample std over runs`` (NaN: one run).
        runs: ``method -> number of runs``.
        missing: ``(method, figure) -> scenes`` where the figure is absent.
        figures: the figures present for any method, in registry order.
        sources: ``figure -> the kinds of source it came from`` (file names, one of each).
    """

    values: dict = field(default_factory=dict)
    spreads: dict = field(default_factory=dict)
    runs: dict = field(default_factory=dict)
    missing: dict = field(default_factory=dict)
    figures: list = field(default_factory=list)
    sources: dict = field(default_factory=dict)


def _per_run(g: pd.DataFrame, figure: str, scenes: list[str]) -> tuple[dict[str, float], list[str]]:
    """``{run: mean over scenes}`` of one method's ``figure`` (fps: 1000 / the mean render_ms), and the scenes
    where some run of the method lacks it (then there is no value)."""
    base = DERIVED.get(figure, figure)
    f = g[g["figure"] == base]
    have = set(zip(f["run"], f["scene"]))
    missing = [s for s in scenes if any((r, s) not in have for r in g["run"].unique())]
    if missing:
        return {}, missing
    per = f.groupby("run")["value"].mean()  # each run's mean over scenes (scene rows are unique per run)
    if figure in DERIVED:
        per = 1000.0 / per
    return {str(r): float(v) for r, v in per.items()}, []


def _mean_over_runs(figure: str, per: dict[str, float]) -> float:
    if figure in DERIVED:  # 1000 / the mean over runs of each run's mean time
        return 1000.0 / (sum(1000.0 / v for v in per.values()) / len(per))
    return sum(per.values()) / len(per)


def summarize(eff: pd.DataFrame, dataset: str, scenes: list[str], methods: list[str] | None = None) -> Summary:
    """The figures of ``dataset``'s methods over ``scenes`` (see the module's docstring for the order)."""
    out = Summary()
    d = eff[(eff["dataset"] == dataset) & eff["scene"].isin(scenes)]
    if d.empty:
        return out
    present = set(d["figure"])
    out.figures = [f for f in FIGURES if f in present or DERIVED.get(f) in present]
    for figure in out.figures:
        base = DERIVED.get(figure, figure)
        names = sorted({str(s).rsplit("/", 1)[-1] for s in d[d["figure"] == base]["source"]})
        out.sources[figure] = names
    for method in methods if methods is not None else sorted(d["method"].unique()):
        g = d[d["method"] == method]
        out.runs[method] = max(1, g["run"].nunique()) if len(g) else 0
        for figure in out.figures:
            per, missing = _per_run(g, figure, scenes)
            if missing:
                out.values[(method, figure)] = out.spreads[(method, figure)] = math.nan
                out.missing[(method, figure)] = missing
                continue
            vals = list(per.values())
            out.values[(method, figure)] = _mean_over_runs(figure, per)
            out.spreads[(method, figure)] = float(pd.Series(vals).std(ddof=1)) if len(vals) > 1 else math.nan
    return out


def scene_values(eff: pd.DataFrame, dataset: str, scene: str, methods: list[str]) -> Summary:
    """One scene's figures per method (mean over runs; fps from the mean render_ms)."""
    return summarize(eff, dataset, [scene], methods)


def json_rows(eff: pd.DataFrame) -> list[dict]:
    """``score --json``'s ``"efficiency"``: one row per method, scene, run and figure (``fps`` derived per run and
    scene from that run's ``render_ms``), each with its source file."""
    full = with_derived(eff)
    return [{"method": r["method"], "scene": r["scene"], "run": r["run"], "figure": r["figure"],
             "value": float(r["value"]), "source": r["source"], "detail": r["detail"]}
            for r in full.to_dict("records")]


def frame_of_scenes(scenes) -> pd.DataFrame:
    """The figures :class:`~nvs_eval.data.scene.Scene` objects carry, as the store's frame (``method`` split
    into method and run)."""
    from .aggregate import RUN_SEP

    rows = [{"dataset": s.dataset, "scene": s.name, "method": m.partition(RUN_SEP)[0], "run": m.partition(RUN_SEP)[2],
             "figure": f.figure, "value": f.value, "source": f.source, "detail": f.detail}
            for s in scenes for m, figs in s.efficiency.items() for f in figs]
    return pd.DataFrame(rows, columns=list(EMPTY))


def caption(summary: Summary) -> str:
    """The caption's sentence: where each figure came from, that it is the tool's own measurement, and the
    scenes each missing figure lacks."""
    if not summary.figures:
        return ""
    parts = []
    for f in summary.figures:
        spec = FIGURES[f]
        src = ", ".join(summary.sources.get(f, [])) or "?"
        parts.append(f"{spec.label} ({f}: {spec.definition}) from {src}")
    text = (" Efficiency columns: " + "; ".join(parts) + ". Each is the training tool's own measurement on its own "
            "GPU, read from the file named (the store keeps each file's path and sha256), not re-measured by nvs-eval; "
            "figures from different GPUs do not compare.")
    missing = {}
    for (m, f), scenes in summary.missing.items():
        missing.setdefault(f, []).append(f"{m} ({', '.join(scenes)})")
    if missing:
        text += " – : not recorded on every scene: " + "; ".join(
            f"{FIGURES[f].label}: {', '.join(v)}" for f, v in missing.items()) + "."
    return text
