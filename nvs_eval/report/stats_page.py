"""The report's statistics page: per dataset and metric, each method's value with its two-level bootstrap 95%
interval (a bar figure and a table), the pairwise matrix of paired differences with Holm-adjusted p-values, and
the run-to-run spread per scene where methods have several runs (:mod:`nvs_eval.results.stats`)."""

from __future__ import annotations

import hashlib
from html import escape
from pathlib import Path

import pandas as pd

from ..conventions.registry import DEFAULT_SIGNIFICANCE, METRICS
from ..errors import UsageError
from ..results.aggregate import scene_summary, split_runs
from ..results.stats import DEFAULT_RESAMPLES, bootstrap_ci, pairwise
from .figures import ci_figure
from .table import fmt
from .work import draw


def _per_view_over_runs(per_view: pd.DataFrame) -> pd.DataFrame:
    """Runs averaged per view (the unit of the intervals and tests; the spread over runs is shown apart)."""
    df = split_runs(per_view)
    metrics = [m for m in METRICS if m in df.columns]
    return df.groupby(["dataset", "scene", "method", "view"], as_index=False)[metrics].mean()


def stats_page(out: Path, per_view: pd.DataFrame, metrics: list[str], aggregation: str,
               resamples: int = DEFAULT_RESAMPLES) -> str:
    """The body of ``stats.html`` (figures written under ``out/figures``)."""
    pv = _per_view_over_runs(per_view)
    parts = ['<p><a href="index.html">&larr; summary</a></p><h1>Statistics</h1>',
             f"<p>Values aggregated as <code>{escape(aggregation)}</code>. Intervals: 95% two-level bootstrap "
             f"({resamples} resamples of the scenes and, within each, of its views; fixed seed, so the page is the "
             "same every time it is written). Pairwise: mean of the per-view differences (row minus column, "
             "per scene then over scenes), its paired two-level bootstrap interval and a two-sided sign-flip "
             "permutation p-value, Holm-adjusted over the pairs of each table. Methods with several runs: runs "
             "averaged per view here; their run-to-run spread is listed below. Definitions and references: "
             "<code>nvs_eval/results/stats.py</code>.</p>"]
    for dataset, g in pv.groupby("dataset", sort=True):
        parts.append(f"<h2>{escape(dataset)}</h2>")
        cis = []
        for m in metrics:
            ci = bootstrap_ci(g, m, aggregation=aggregation, resamples=resamples)
            ci["metric"] = m
            cis.append(ci)
        ci = pd.concat(cis, ignore_index=True)
        fig = out / "figures" / f"stats-{hashlib.sha256(dataset.encode()).hexdigest()[:8]}.png"
        draw(ci_figure, ci, metrics, fig)
        parts.append(f'<img src="figures/{fig.name}" alt="95% intervals, {escape(dataset)}">')
        head = "".join(f"<th>{escape(METRICS[m].label)}</th>" for m in metrics)
        rows = []
        for method in sorted(ci["method"].unique()):
            cells = []
            for m in metrics:
                r = ci[(ci["method"] == method) & (ci["metric"] == m)].iloc[0]
                cells.append(f"<td>{fmt(r['value'], m)} <small>[{fmt(r['lo'], m)}, {fmt(r['hi'], m)}]</small></td>")
            rows.append(f"<tr><td>{escape(method)}</td>{''.join(cells)}</tr>")
        n = ci.iloc[0]
        parts.append(f'<table><thead><tr><th>Method</th>{head}</tr></thead><tbody>{"".join(rows)}</tbody></table>'
                     f'<p class="caption">{int(n["scenes"])} scene(s), {int(n["views"])} view(s); value [95% '
                     "interval].</p>")
        methods = sorted(g["method"].unique())
        if len(methods) > 1:
            for m in metrics:
                parts.append(_pairwise_html(g, m, methods, resamples))
        parts.append(_runs_html(per_view[per_view["dataset"] == dataset], metrics, aggregation))
    return "".join(parts)


def _pairwise_html(g: pd.DataFrame, metric: str, methods: list[str], resamples: int) -> str:
    try:
        table = pairwise(g, metric, methods, resamples=resamples)
    except UsageError as e:
        return f"<h3>{escape(METRICS[metric].label)}: pairwise</h3><p>Not compared: {escape(e.render('cli'))}</p>"
    d = METRICS[metric].precision + 1
    cell, sig = {}, {}
    for r in table.itertuples():
        cell[(r.a, r.b)] = f"{r.difference:+.{d}f} <small>[{r.lo:+.{d}f}, {r.hi:+.{d}f}]<br>p={r.p_holm:.3g}</small>"
        sig[(r.a, r.b)] = r.p_holm < DEFAULT_SIGNIFICANCE
    head = "".join(f"<th>{escape(b)}</th>" for b in methods[1:])
    rows = []
    for a in methods[:-1]:
        cells = "".join(f'<td class="{"sig" if sig.get((a, b)) else ""}">{cell.get((a, b), "")}</td>'
                        for b in methods[1:])
        rows.append(f"<tr><td>{escape(a)}</td>{cells}</tr>")
    return (f"<h3>{escape(METRICS[metric].label)}: row minus column</h3><table class=\"pairwise\"><thead><tr><th></th>"
            f"{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"
            '<p class="caption">Mean paired difference [95% interval], Holm-adjusted p; shaded: p &lt; '
            f'{DEFAULT_SIGNIFICANCE:g}.</p>')


def _runs_html(per_view: pd.DataFrame, metrics: list[str], aggregation: str) -> str:
    scenes = scene_summary(per_view, aggregation)
    multi = scenes[scenes["runs"] > 1]
    if multi.empty:
        return ""
    head = "".join(f"<th>{escape(METRICS[m].label)}</th>" for m in metrics)
    rows = [f"<tr><td>{escape(r['scene'])}</td><td>{escape(r['method'])}</td><td>{int(r['runs'])}</td>"
            + "".join(f"<td>{fmt(r[m], m)} &plusmn; {fmt(r[f'{m}_run_std'], m)}</td>" for m in metrics) + "</tr>"
            for _, r in multi.iterrows()]
    return ("<h3>Run-to-run spread per scene</h3><table><thead><tr><th>Scene</th><th>Method</th><th>Runs</th>"
            f"{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"
            '<p class="caption">Mean over runs &plusmn; sample standard deviation over runs.</p>')
