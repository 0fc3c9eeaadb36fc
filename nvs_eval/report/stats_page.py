"""The report's statistics page: per dataset and metric, each method's value with its two-level bootstrap 95%
interval (a bar figure and a table), the pairwise matrix of paired differences with Holm-adjusted p-values, and
the run-to-run spread per scene where methods have several runs (:mod:`nvs_eval.results.stats`)."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pandas as pd

from ..conventions.registry import DEFAULT_SIGNIFICANCE, METRICS
from ..errors import UsageError
from ..results.aggregate import runs_averaged, scene_summary
from ..results.stats import DEFAULT_RESAMPLES, EXACT_SIGN_FLIP_MAX, bootstrap_ci, pairwise, significant
from .figures import ci_figure
from .table import fmt, fmt_spread
from .work import draw

INTRO = ("Values aggregated as {aggregation}. Intervals: 95% two-level bootstrap ({resamples} resamples of the "
         "scenes and, within each, of its views; fixed seed, so the page is the same every time it is written). "
         "Pairwise: mean of the per-view differences (row minus column, per scene then over scenes) and its paired "
         "two-level bootstrap interval; p is that bootstrap's two-sided p-value (would the difference hold on other "
         "scenes like these?), p views a sign-flip permutation test of the per-view differences with the scenes "
         "held fixed (on these scenes, is it more than view-to-view chance?), often far smaller with few scenes, "
         "larger with few views. Both are Holm-adjusted over the pairs of each table; a pair is shaded only where "
         "both are below the level, so a shaded interval always excludes 0. Neither p goes below its resolution: "
         "the bootstrap's is at least 2 / (1 + {resamples}) = {floor:.2g} (no draw on the far side of 0), the "
         "sign-flip's at least 2 / 2^n over n views (exact up to {exact} views, else 1 / (1 + {resamples})); and "
         "Holm's step-down adjustment multiplies the i-th smallest of m p-values by m - i + 1 and keeps them in "
         "order, so several pairs of one table often print the same adjusted p. Methods with several runs: runs "
         "averaged per view here; their run-to-run spread is listed below. Definitions and references: "
         "nvs_eval/results/stats.py.")


def stats_context(out: Path, per_view: pd.DataFrame, metrics: list[str], aggregation: str,
                  resamples: int = DEFAULT_RESAMPLES, allow_different_sets: bool = False) -> dict:
    """What ``stats.html`` shows (figures written under ``out/figures``): per dataset the intervals' figure and
    table, the pairwise matrices (a pair scored on different views left out and named once, unless
    ``allow_different_sets``) and the run-to-run spread."""
    pv = runs_averaged(per_view)
    datasets = []
    for dataset, g in pv.groupby("dataset", sort=True):
        ci = pd.concat([bootstrap_ci(g, m, aggregation=aggregation, resamples=resamples).assign(metric=m)
                        for m in metrics], ignore_index=True)
        fig = out / "figures" / f"stats-{hashlib.sha256(dataset.encode()).hexdigest()[:8]}.png"
        draw(ci_figure, ci, metrics, fig)
        methods = sorted(g["method"].unique())
        matrices = [_pairwise(g, m, methods, resamples, allow_different_sets) for m in metrics] if len(methods) > 1 \
            else []
        refused = list(dict.fromkeys(r for p in matrices for r in p.pop("refused_pairs")))
        datasets.append({"name": dataset, "figure": {"src": f"figures/{fig.name}", "alt": f"95% intervals, {dataset}"},
                         "table": _ci_table(ci, metrics), "pairwise": matrices, "refused": refused,
                         "runs": _runs(per_view[per_view["dataset"] == dataset], metrics, aggregation)})
    intro = INTRO.format(aggregation=aggregation, resamples=resamples, floor=2 / (1 + resamples),
                         exact=EXACT_SIGN_FLIP_MAX)
    return {"intro": intro, "datasets": datasets}


def _ci_table(ci: pd.DataFrame, metrics: list[str]) -> dict:
    """Each method's value and interval per metric; a method scored on fewer scenes than the others says so (as in
    the tables), and the caption gives each method's counts where they differ."""
    rows, counts = [], {}
    n_scenes = int(ci["scenes"].max())
    for method in sorted(ci["method"].unique()):
        cells = []
        for m in metrics:
            r = ci[(ci["method"] == method) & (ci["metric"] == m)].iloc[0]
            cells.append({"text": fmt(r["value"], m), "small": f"[{fmt(r['lo'], m)}, {fmt(r['hi'], m)}]"})
        first = ci[ci["method"] == method].iloc[0]
        counts[method] = (int(first["scenes"]), int(first["views"]))
        short = f" ({counts[method][0]} of {n_scenes} scenes)" if counts[method][0] < n_scenes else ""
        rows.append([method + short, *cells])
    if len(set(counts.values())) == 1:
        (s, v), = set(counts.values())
        said = f"{s} scene(s), {v} view(s)"
    else:
        said = "scenes and views: " + "; ".join(f"{m} {s} and {v}" for m, (s, v) in counts.items())
    return {"head": ["Method", *(METRICS[m].label for m in metrics)], "rows": rows,
            "caption": f"{said}; value [95% interval] (each interval on its own, not adjusted for the others)."}


def _pairwise(g: pd.DataFrame, metric: str, methods: list[str], resamples: int,
              allow_different_sets: bool = False) -> dict:
    """One metric's matrix of paired differences (row minus column); a pair not tested reads "not compared", and
    its reason is returned in ``refused_pairs`` for the page to say once."""
    label = METRICS[metric].label
    try:
        table = pairwise(g, metric, methods, resamples=resamples, allow_different_sets=allow_different_sets)
    except UsageError as e:  # a method with no value at all for this metric
        return {"label": f"{label}: pairwise", "refused": e.render("cli"), "refused_pairs": []}
    d = METRICS[metric].precision + 1
    cell, refused = {}, []
    for r in table.itertuples():
        if r.refused:
            cell[(r.a, r.b)] = {"text": "not compared", "small": "scored on other views"}
            refused.append(r.refused)
            continue
        cell[(r.a, r.b)] = {"text": f"{r.difference:+.{d}f}", "small": f"[{r.lo:+.{d}f}, {r.hi:+.{d}f}] "
                            f"p={r.p_boot_holm:.3g}, p views={r.p_holm:.3g}",
                            "cls": "sig" if significant(r.p_boot_holm, r.p_holm, DEFAULT_SIGNIFICANCE) else ""}
    rows = [[a, *(cell.get((a, b), "") for b in methods[1:])] for a in methods[:-1]]
    better = "a positive difference favours the row" if METRICS[metric].higher_is_better else \
        "lower is better, so a negative difference favours the row"
    return {"label": f"{label}: row minus column", "refused": "", "head": ["", *methods[1:]], "rows": rows,
            "alpha": f"{DEFAULT_SIGNIFICANCE:g}", "better": better, "refused_pairs": refused}


def _runs(per_view: pd.DataFrame, metrics: list[str], aggregation: str) -> dict | None:
    scenes = scene_summary(per_view, aggregation)
    multi = scenes[scenes["runs"] > 1]
    if multi.empty:
        return None
    rows = [[r["scene"], r["method"], str(int(r["runs"])),
             *(f"{fmt(r[m], m)} \u00b1 {fmt_spread(r[f'{m}_run_std'], m)}" for m in metrics)]
            for _, r in multi.iterrows()]
    return {"head": ["Scene", "Method", "Runs", *(METRICS[m].label for m in metrics)], "rows": rows}
