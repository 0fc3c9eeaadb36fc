"""The report's paired comparison with published per-view results (``report --baselines DATASET --paired``): a
table per dataset (your methods minus each published method, over the paired scenes; † where the difference is not
significant), the per-scene listing with the refusals (``paired_baselines.md``, ``csv/paired_baselines.csv``) and
a section of the statistics page. The tests themselves: :mod:`nvs_eval.results.published`."""

from __future__ import annotations

import pandas as pd

from ..conventions.registry import DEFAULT_SIGNIFICANCE, METRICS
from ..errors import UsageError, option
from ..results.published import ALL_SCENES, PublishedComparison, compare_with_published
from ..results.stats import significant
from .table import Cell, Column, Table, fmt

SIGNIFICANCE_NOTE = ("mean of the per-view differences (yours minus published; per scene, then over the paired "
                     "scenes) and its paired two-level bootstrap 95% interval; p: the same bootstrap's two-sided "
                     "p-value (below 0.05 only where the interval excludes 0), and p views: the sign-flip test with "
                     "the scenes held fixed, each Holm-adjusted over every comparison of the metric, a difference "
                     "significant only where both are below the level; views paired by dataset image name")


def comparisons(per_view: pd.DataFrame, checks: dict, protocol: str, baselines: dict[str, str],
                resamples: int | None = None) -> list[PublishedComparison]:
    """One comparison per ``results dataset -> published dataset`` of ``baselines``; an error naming every reason
    when nothing at all could be paired."""
    from ..results.aggregate import runs_averaged

    if not baselines:
        raise UsageError(f"{option('paired')} needs {option('baselines')} DATASET (the published dataset to pair with)")
    pv = runs_averaged(per_view)
    kw = {} if resamples is None else {"resamples": resamples}
    out = [compare_with_published(pv, checks, protocol, dataset, name, **kw) for dataset, name in baselines.items()]
    if all(c.rows.empty for c in out):
        reasons = sorted({f"{r['scene']}{'/' + r['method'] if r['method'] else ''}: {r['reason']}"
                          for c in out for r in c.refused})
        raise UsageError("no scene can be paired with the published per-view results: " + "; ".join(reasons))
    return out


def _signed(value: float, metric: str) -> str:
    text = fmt(value, metric)
    return text if text.startswith("-") or text == "--" else "+" + text


def paired_table(c: PublishedComparison, significance: float | None = DEFAULT_SIGNIFICANCE) -> Table | None:
    """Rows "mine − 3DGS (NerfBaselines)", a column per metric: the difference over the paired scenes, † where its
    Holm-adjusted p-value is not below ``significance``."""
    if c.rows.empty:
        return None
    level = DEFAULT_SIGNIFICANCE if significance is None else significance
    allr = c.rows[c.rows["scene"] == ALL_SCENES]
    metrics = [m for m in METRICS if m in set(allr["metric"])]
    keys = sorted({(r.method, r.published) for r in allr.itertuples()})
    cells = []
    for method, pub in keys:
        row = []
        for m in metrics:
            r = allr[(allr["method"] == method) & (allr["published"] == pub) & (allr["metric"] == m)].iloc[0]
            row.append(Cell(float(r["difference"]), f"{_signed(r['difference'], m)} [{_signed(r['lo'], m)}, "
                            f"{_signed(r['hi'], m)}]", 0, tied=not significant(r["p_boot_holm"], r["p_holm"], level)))
        cells.append(tuple(row))
    first = allr.iloc[0]
    refused = f" Not paired: {len(c.refused)} (see paired_baselines.md)." if c.refused else ""
    caption = (f"{c.dataset}: your methods minus NerfBaselines' published per-view results on {c.published} "
               f"({first['note']}, {int(first['views'])} views); {SIGNIFICANCE_NOTE}. † not significantly different "
               f"at {level:g}.{refused}")
    return Table(f"{c.dataset}-paired-published", f"{c.dataset}: paired with published methods", "Comparison",
                 tuple(f"{m} − {p}" for m, p in keys), tuple(Column(f"Δ {METRICS[m].label}", m) for m in metrics),
                 tuple(cells), caption)


def paired_markdown(cs: list[PublishedComparison]) -> str:
    """Every comparison per scene and over the paired scenes, then every refusal with its reason."""
    from ..baselines.per_view import COMMIT, REPO

    lines = [f"# Paired with published per-view results\n\nPublished values: {REPO} branch results @ {COMMIT} "
             f"(`nvs-eval baselines DATASET --per-view`). {SIGNIFICANCE_NOTE[0].upper() + SIGNIFICANCE_NOTE[1:]}.\n"]
    for c in cs:
        lines.append(f"## {c.dataset} (published: {c.published})\n")
        if not c.rows.empty:
            lines.append("| method | published | metric | scene | difference | 95% interval | p (Holm) "
                         "| p views (Holm) | views |")
            lines.append("|---|---|---|---|---|---|---|---|---|")
            for r in c.rows.itertuples():
                d, lo, hi = (_signed(v, r.metric) for v in (r.difference, r.lo, r.hi))
                lines.append(f"| {r.method} | {r.published} | {r.metric} | {r.scene} | {d} | [{lo}, {hi}] | "
                             f"{r.p_boot_holm:.3g} | {r.p_holm:.3g} | {r.views} |")
        for r in c.refused:
            lines.append(f"- not paired: {r['scene']}{' / ' + r['method'] if r['method'] else ''}: {r['reason']}")
        lines.append("")
    return "\n".join(lines)


def paired_csv(cs: list[PublishedComparison]) -> str:
    frames = [c.rows.assign(dataset=c.dataset, published_dataset=c.published) for c in cs if not c.rows.empty]
    frames += [pd.DataFrame([{**r, "dataset": c.dataset, "published_dataset": c.published, "refused": r["reason"]}
                             for r in c.refused]).drop(columns="reason") for c in cs if c.refused]
    return pd.concat(frames, ignore_index=True).to_csv(index=False, float_format="%.10g")


def paired_context(cs: list[PublishedComparison]) -> dict:
    """The statistics page's section (``templates/stats.html``): per dataset, the table of every comparison and
    the refusals."""
    sections = []
    for c in cs:
        rows = [[r.method, r.published, METRICS[r.metric].label, r.scene,
                 {"text": _signed(r.difference, r.metric), "small": f"[{_signed(r.lo, r.metric)}, "
                                                                    f"{_signed(r.hi, r.metric)}]"},
                 f"{r.p_boot_holm:.3g}", f"{r.p_holm:.3g}", str(r.views)] for r in c.rows.itertuples()]
        refused = [f"not paired: {r['scene']}{' / ' + r['method'] if r['method'] else ''}: {r['reason']}"
                   for r in c.refused]
        sections.append({"title": f"{c.dataset} (published: {c.published})", "rows": rows, "refused": refused})
    return {"note": SIGNIFICANCE_NOTE[0].upper() + SIGNIFICANCE_NOTE[1:] + ".", "sections": sections,
            "head": ["Method", "Published", "Metric", "Scene", "Difference [95%]", "p (Holm)", "p views (Holm)",
                     "Views"]}
