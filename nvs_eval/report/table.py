"""One table model, ranked once; LaTeX, Markdown, CSV and HTML renderers only format it.

Ranking is direction-aware (``higher_is_better`` from the metric registry) and done on the values as displayed
(rounded to the metric's precision), so two methods that print the same number are tied: all of them are bold,
and the next distinct value is underlined.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import pandas as pd

from ..conventions.figures import FIGURES
from ..conventions.registry import DEFAULT_AGGREGATION, DEFAULT_SIGNIFICANCE, METRICS
from ..results.aggregate import dataset_summary, runs_averaged, scene_summary

SIGNIFICANCE = DEFAULT_SIGNIFICANCE


@dataclass(frozen=True)
class Column:
    label: str
    metric: str
    digits: int | None = None  # decimals, where not the metric's (mip-NeRF's Avg: 4)


@dataclass(frozen=True)
class Cell:
    value: float
    text: str
    rank: int  # 1 best, 2 second best, 0 otherwise
    spread: str = ""  # "± 0.12": the sample std over runs, for a method with several runs
    tied: bool = False  # not significantly different from the column's best (the caption states the test)


@dataclass(frozen=True)
class Table:
    key: str
    title: str
    row_header: str
    rows: tuple[str, ...]
    columns: tuple[Column, ...]
    cells: tuple[tuple[Cell, ...], ...]
    caption: str
    published: tuple[bool, ...] = ()  # rows that are published baselines (printed in italics, never ranked)

    def is_published(self, i: int) -> bool:
        return bool(self.published) and self.published[i]


def spec(metric: str):
    """The spec a column ranks and prints by: a metric's (:data:`METRICS`) or an efficiency figure's
    (:data:`~nvs_eval.conventions.figures.FIGURES`); both have ``label``, ``precision``, ``higher_is_better``."""
    return METRICS[metric] if metric in METRICS else FIGURES[metric]


def fmt(value: float, metric: str, precision: dict[str, int] | None = None) -> str:
    digits = (precision or {}).get(metric, spec(metric).precision)
    if math.isnan(value):
        return "--"
    if math.isinf(value):
        return "inf" if value > 0 else "-inf"
    return f"{value:.{digits}f}"


def fmt_spread(value: float, metric: str, precision: dict[str, int] | None = None) -> str:
    """A standard deviation over runs: as :func:`fmt`, but one that is not zero never prints as zero (a spread of
    0.0002 beside 0.763 prints ``0.0002``, not ``0.000``): up to 3 more digits, then ``<0.000001``.

    >>> fmt_spread(0.26, "psnr"), fmt_spread(0.00021, "ssim"), fmt_spread(0.0, "ssim"), fmt_spread(1e-9, "ssim")
    ('0.26', '0.0002', '0.000', '<0.000001')
    """
    digits = (precision or {}).get(metric, spec(metric).precision)
    if not math.isfinite(value) or value == 0 or round(value, digits) != 0:
        return fmt(value, metric, precision)
    for d in range(digits + 1, digits + 4):
        if round(value, d) != 0:
            return f"{value:.{d}f}"
    return f"<{10.0 ** -(digits + 3):.{digits + 3}f}"


def _rank_column(values: list[float], metric: str, precision) -> list[int]:
    digits = (precision or {}).get(metric, spec(metric).precision)
    shown = [round(v, digits) if math.isfinite(v) else v for v in values]
    distinct = sorted({v for v in shown if not math.isnan(v)}, reverse=spec(metric).higher_is_better)
    if len(values) < 2:
        return [0] * len(values)
    best = distinct[0] if distinct else None
    second = distinct[1] if len(distinct) > 1 else None
    return [1 if v == best else 2 if (second is not None and v == second) else 0 for v in shown]


def _table(key, title, row_header, rows, columns, values, caption, precision, published=0, spreads=None,
           tied=None, unranked=frozenset()) -> Table:
    """``published``: the last ``published`` rows are baselines: shown, never ranked against the methods.
    ``spreads``: per row and column the std over runs (NaN: one run); ``tied``: per row and column, not
    significantly different from the column's best; ``unranked``: ``(row, column)`` cells shown but neither
    ranked nor ranked against (an average over fewer scenes than the others')."""
    ours = len(rows) - published
    precisions = [precision if col.digits is None else {**(precision or {}), col.metric: col.digits}
                  for col in columns]

    def ranks(c, col):
        ranked = [r for r in range(ours) if (r, c) not in unranked]
        got = dict(zip(ranked, _rank_column([values[r][c] for r in ranked], col.metric, precisions[c])))
        return [got.get(r, 0) for r in range(len(rows))]

    cols_ranks = [ranks(c, col) for c, col in enumerate(columns)]

    def spread(r, c, metric):
        v = spreads[r][c] if spreads is not None and r < len(spreads) else float("nan")
        return f"± {fmt_spread(v, metric, precisions[c])}" if math.isfinite(v) else ""

    cells = tuple(tuple(Cell(values[r][c], fmt(values[r][c], col.metric, precisions[c]), cols_ranks[c][r],
                             spread(r, c, col.metric), bool(tied and r < len(tied) and tied[r][c]))
                        for c, col in enumerate(columns)) for r in range(len(rows)))
    return Table(key, title, row_header, tuple(rows), tuple(columns), cells, caption,
                 (False,) * ours + (True,) * published if published else ())


def _baseline_note(baselines, protocol: str) -> str:
    if not baselines:
        return ""
    other = sorted({f"{b.name}: {b.protocol}" for b in baselines if b.protocol.split("+")[0] != protocol.split("+")[0]})
    note = (f" Italic rows: published results (nvs-eval baselines {baselines[0].dataset}; every number's source in "
            f"`nvs-eval baselines {baselines[0].dataset}`), not ranked.")
    if other:
        note += (f" Their protocol differs from this table's ({protocol}): {'; '.join(other)}; such rows compare "
                 "only loosely with the others.")
    return note


FLAG = "‡"


def _check_kind(dataset: str, checks: dict) -> str | None:
    """The dataset kind of a results dataset: its checks', else its own name when that is a kind."""
    from ..data.datasets import DATASET_KINDS

    kinds = {c.get("dataset") for (d, _), c in checks.items() if d == dataset}
    kinds.discard(None)
    if len(kinds) == 1:
        return kinds.pop()
    return dataset if dataset in DATASET_KINDS else None


def scene_coverage(dataset: str, scenes: list[str], checks: dict) -> str:
    """``7 of 9 scenes; missing: ...`` when an average covers fewer of the dataset's scenes than it has."""
    from ..data.datasets import DATASET_KINDS

    kind = _check_kind(dataset, checks)
    standard = DATASET_KINDS[kind].scenes if kind in DATASET_KINDS else ()
    missing = [s for s in standard if s not in scenes]
    if not standard or not missing:
        return ""
    present = len(standard) - len(missing)
    return f" {present} of {len(standard)} {kind} scenes; missing: {', '.join(missing)}."


def comparability(dataset: str, scenes: list[str], checks: dict) -> tuple[str, dict[str, str]]:
    """The caption's sentence on ``nvs-eval check`` for these scenes, and ``{scene: why not}`` for each scene not
    comparable with the dataset's standard protocol. No sentence when none of them was checked."""
    mine = {s: checks[(dataset, s)] for s in scenes if (dataset, s) in checks}
    if not mine:
        return "", {}
    bad = {s: "; ".join(c["reasons"]) for s, c in mine.items() if not c["comparable"]}
    unchecked = [s for s in scenes if s not in mine]
    if bad:
        text = " Not comparable with the standard protocol: " + " ".join(f"{s}: {r}." for s, r in bad.items())
    else:
        rules = sorted({c["split"]["rule"] for c in mine.values()})
        sources = sorted({str(c["gt"]["source"]) for c in mine.values()})
        text = (f" Comparable with the standard protocol (nvs-eval check: {'/'.join(rules)} split, the dataset's own "
                f"{'/'.join(sources)} files).")
    if unchecked:
        text += f" Not checked: {', '.join(unchecked)}."
    return text, bad


def _flag_published(table: Table, columns: list[int]) -> Table:
    """The published rows' cells in ``columns`` marked :data:`FLAG` (beside a scene that is not comparable)."""
    cells = tuple(tuple(replace(c, text=c.text + FLAG) if table.is_published(r) and j in columns and c.text != "--"
                        else c for j, c in enumerate(row)) for r, row in enumerate(table.cells))
    return replace(table, cells=cells)


def _baseline_flags(bad: dict[str, str], scene_names: list[str], force: bool) -> str:
    if not bad:
        return ""
    if force:
        return (f" Published rows are printed beside every scene, including {', '.join(bad)}, which "
                "are not comparable with them (--unflag-baselines).")
    return (f" {FLAG} published value beside a scene that is not comparable with it ({', '.join(bad)}; reasons "
            "above): for reference only.")


def _significance(averaged: pd.DataFrame, metric: str, best: str, alpha: float,
                  allow_different_sets: bool = False) -> tuple[dict[str, bool], list[str], list[str]]:
    """Which methods are not significantly different from ``best``: the pairs with ``best`` of the statistics
    page's own tests (:func:`nvs_eval.results.stats.pairwise` over every method of one dataset's ``averaged``
    values, runs averaged per view (:func:`~nvs_eval.results.aggregate.runs_averaged`), Holm-adjusted over all its
    pairs; the verdict :func:`~nvs_eval.results.stats.significant`: the two-level bootstrap and the sign-flip test
    both reject), so a † and the page's shading never disagree. Also the methods not tested (scored on other views)
    and those tested on the shared views only."""
    from ..results.stats import pairwise, significant

    table = pairwise(averaged, metric, sorted(averaged["method"].unique()),
                     allow_different_sets=allow_different_sets)
    tied, skipped, partial = {}, [], []
    for r in table[(table["a"] == best) | (table["b"] == best)].itertuples():
        other = r.b if r.a == best else r.a
        if r.refused:
            skipped.append(other)
            continue
        tied[other] = not significant(r.p_boot_holm, r.p_holm, alpha)
        if r.note:
            partial.append(f"{other} ({r.note})")
    return tied, skipped, partial


def _counts(summary: pd.DataFrame, aggregation: str) -> str:
    from ..conventions.registry import AGGREGATIONS

    runs = summary[summary["runs"] > 1]
    counts = ", ".join(f"{m}: {n}" for m, n in zip(runs["method"], runs["runs"]))
    run_note = (f" ± is the sample standard deviation over each method's runs ({counts} runs); the value is the "
                "mean over runs." if len(runs) else "")
    most = int(summary["views"].max())
    fewer = ", ".join(f"{m}: {int(v)}" for m, v in zip(summary["method"], summary["views"]) if v < most)
    return (f" Aggregation {aggregation} ({AGGREGATIONS[aggregation]}); {int(summary['scenes'].max())} scene(s), "
            f"{most} view(s) per method{f' ({fewer})' if fewer else ''}.{run_note}")


def build_tables(per_view: pd.DataFrame, protocol: str, metrics: list[str] | None = None,
                 precision: dict[str, int] | None = None, resolution: dict[str, str] | None = None,
                 baselines: dict[str, list] | None = None, aggregation: str = DEFAULT_AGGREGATION,
                 significance: float | None = SIGNIFICANCE, allow_different_sets: bool = False,
                 checks: dict | None = None, force_baselines: bool = False,
                 efficiency: pd.DataFrame | None = None) -> list[Table]:
    """Per dataset: a summary table (methods x metrics, mean over scenes) and one methods x scenes table per metric.

    ``resolution``: dataset -> the ground-truth resolution(s) its numbers were computed at, for the captions.
    ``baselines``: dataset -> published :class:`~nvs_eval.baselines.Baseline` rows to print below the methods
    (their mean over this table's scenes; ``--`` where they have no value). ``aggregation``: how per-view values
    become scene and dataset values (:data:`nvs_eval.conventions.registry.AGGREGATIONS`). ``significance``: mark the
    methods not significantly different from each summary column's best at this level (``None``: no marks).
    ``checks``: ``{(dataset, scene): nvs-eval check}`` (the store's): each caption says whether its scenes are
    comparable with the dataset's standard protocol, and published values beside a scene that is not are flagged
    (:data:`FLAG`) unless ``force_baselines``. A summary over fewer of the dataset's scenes than it has says so.
    ``efficiency``: the store's efficiency figures (:meth:`~nvs_eval.results.store.ResultsStore.efficiency`): those
    present become summary columns after the metrics (human units, ranked by direction, ± over runs; missing on a
    scene: "--" and named in the caption) and one methods x scenes table each; ``None`` leaves them out."""
    from ..conventions.protocols import protocol_caption

    metrics = [m for m in (metrics or list(METRICS)) if m in per_view.columns]
    scenes = scene_summary(per_view, aggregation)
    summary = dataset_summary(per_view, aggregation)
    tables = []
    for dataset, g in scenes.groupby("dataset", sort=True):
        at = f" Ground truth at {resolution[dataset]}." if resolution and dataset in resolution else ""
        methods, scene_names = sorted(g["method"].unique()), sorted(g["scene"].unique())
        ds, bl = summary[summary["dataset"] == dataset].set_index("method"), list((baselines or {}).get(dataset, []))
        short = _short_methods(g, methods, scene_names)
        note, bad, flagged = _notes(dataset, ds, scene_names, bl, protocol, aggregation, checks or {},
                                    force_baselines, short, allow_different_sets and significance is not None)
        values, spreads, tied, sig_note = _summary_values(per_view, dataset, ds, methods, scene_names, metrics, bl,
                                                          precision, significance, allow_different_sets, short)
        eff = _efficiency_columns(efficiency, dataset, scene_names, methods, bl, values, spreads, tied)
        columns = [Column(METRICS[k].label, k) for k in metrics] + eff.columns
        summary_table = _table(
            f"{dataset}-summary", f"{dataset}: average over {len(scene_names)} scene(s)", "Method",
            _labels(methods, short, len(scene_names)) + [b.name for b in bl], columns, values,
            f"{dataset}: protocol {protocol_caption(protocol)}.{at}{note}{sig_note}{eff.caption}", precision, len(bl),
            spreads, tied, {(methods.index(m), c) for m in short for c in range(len(columns))})
        tables.append(_flag_published(summary_table, list(range(len(metrics)))) if flagged else summary_table)
        caption = f"protocol {protocol_caption(protocol)}.{at}{note}"
        scaled = _scale_table(per_view[per_view["dataset"] == dataset], dataset, metrics, precision, caption)
        tables += [scaled] if scaled else []
        tables += [_scene_table(g, ds, dataset, k, methods, scene_names, bl, caption, precision,
                                bad if flagged else {}, short) for k in metrics]
        tables += [_figure_table(efficiency, dataset, f, methods, scene_names, precision, eff.caption)
                   for f in eff.figures]
    return tables


def _notes(dataset: str, ds: pd.DataFrame, scene_names: list[str], bl: list, protocol: str, aggregation: str,
           checks: dict, force_baselines: bool, short: dict, short_tested: bool) -> tuple[str, dict, bool]:
    """A dataset's caption notes (published rows, counts, coverage, methods over fewer scenes, comparability),
    the scenes not comparable, and whether the published rows beside them are flagged."""
    checked, bad = comparability(dataset, scene_names, checks)
    flags = _baseline_flags(bad, scene_names, force_baselines) if bl else ""
    note = (_baseline_note(bl, protocol) + _counts(ds.reset_index(), aggregation)
            + scene_coverage(dataset, scene_names, checks) + _short_note(short, len(scene_names), short_tested)
            + checked + flags)
    return note, bad, bool(bl) and bool(bad) and not force_baselines


def _short_methods(g: pd.DataFrame, methods: list[str], scene_names: list[str]) -> dict[str, list[str]]:
    """The methods scored on fewer of a table's scenes than it has: ``{method: the scenes it lacks}``."""
    have = g.groupby("method")["scene"].agg(set)
    return {m: [s for s in scene_names if s not in have[m]] for m in methods if len(have[m]) < len(scene_names)}


def _labels(methods: list[str], short: dict[str, list[str]], n: int) -> list[str]:
    """Row names; a method averaged over fewer of the table's scenes says over how many."""
    return [f"{m} ({n - len(short[m])} of {n} scenes)" if m in short else m for m in methods]


def _short_note(short: dict[str, list[str]], n: int, tested: bool = False) -> str:
    if not short:
        return ""
    missing = "; ".join(f"{m} lacks {', '.join(s)}" for m, s in short.items())
    return (f" A row that says \"(k of {n} scenes)\" averages only the scenes it was scored on ({missing}): its "
            "average is not comparable with the others', so it is not ranked"
            + (" (it is tested against the best on the views they share)." if tested else " and not tested."))


def _summary_values(per_view, dataset, ds, methods, scene_names, metrics, bl, precision, significance,
                    allow_different_sets, short=()):
    """The summary table's values (methods, then published rows), the spreads over runs, the ties with each
    column's best and the caption's sentence on them (methods in ``short`` are not tested)."""
    values = [[float(ds.loc[m, k]) for k in metrics] for m in methods]
    spreads = [[float(ds.loc[m, f"{k}_run_std"]) for k in metrics] for m in methods]
    tied, sig_note = _ties(per_view, dataset, methods, metrics, values, precision, significance,
                           allow_different_sets, short)
    values += [[b.mean(k, scene_names) for k in metrics] for b in bl]
    return values, spreads, tied, sig_note


@dataclass
class _Efficiency:
    columns: list
    figures: list
    caption: str


def _efficiency_columns(efficiency, dataset, scene_names, methods, bl, values, spreads, tied) -> _Efficiency:
    """Append the efficiency figures' columns to the summary's rows (in place: ``values``, ``spreads``, ``tied``;
    published rows get the figure their baselines file prints, else ``--``) and return the columns and caption."""
    from ..results.efficiency import caption, summarize

    if efficiency is None or efficiency.empty:
        return _Efficiency([], [], "")
    summ = summarize(efficiency, dataset, scene_names, methods)
    figs = summ.figures
    for i, m in enumerate(methods):
        values[i] += [FIGURES[f].show(summ.values[(m, f)]) for f in figs]
        spreads[i] += [FIGURES[f].show(summ.spreads[(m, f)]) for f in figs]
        if tied is not None:
            tied[i] += [False] * len(figs)
    for j, b in enumerate(bl):
        values[len(methods) + j] += [FIGURES[f].show(_published(b, f, scene_names)) for f in figs]
    published = [f for f in figs if any(math.isfinite(_published(b, f, scene_names)) for b in bl)]
    note = caption(summ)
    if published:
        sources = sorted({b.efficiency for b in bl if b.efficiency
                          and any(math.isfinite(_published(b, f, scene_names)) for f in published)})
        note += (f" Published {', '.join(FIGURES[f].label for f in published)} are the baselines file's, not "
                 f"measured by nvs-eval: {'; '.join(sources) or 'measured on its authors GPU'} "
                 f"(`nvs-eval baselines {bl[0].dataset}`).")
    return _Efficiency([Column(FIGURES[f].label, f) for f in figs], figs, note)


def _published(b, figure: str, scene_names: list[str]) -> float:
    """A baselines row's figure over ``scene_names``; fps as 1000 / its mean render_ms (never a mean of FPS)."""
    from ..conventions.figures import DERIVED

    if figure in DERIVED:
        t = b.mean(DERIVED[figure], scene_names)
        return 1000.0 / t if math.isfinite(t) and t > 0 else math.nan
    return b.mean(figure, scene_names)


def _figure_table(efficiency, dataset, figure, methods, scene_names, precision, note) -> Table:
    """One efficiency figure's methods x scenes table (mean over runs; ± over runs) and its dataset value."""
    from ..results.efficiency import scene_values, summarize

    spec_ = FIGURES[figure]
    vals, sprd = [], []
    per_scene = [scene_values(efficiency, dataset, sc, methods) for sc in scene_names]
    total = summarize(efficiency, dataset, scene_names, methods)
    for m in methods:
        row = [s.values.get((m, figure), math.nan) for s in per_scene] + [total.values.get((m, figure), math.nan)]
        sp = [s.spreads.get((m, figure), math.nan) for s in per_scene] + [total.spreads.get((m, figure), math.nan)]
        vals.append([spec_.show(v) for v in row])
        sprd.append([spec_.show(v) for v in sp])
    cols = [Column(sc, figure) for sc in scene_names] + [Column("Avg.", figure)]
    return _table(f"{dataset}-{figure}", f"{dataset}: {spec_.label} per scene", "Method", methods, cols, vals,
                  f"{dataset}: {spec_.label} per scene.{note}", precision, 0, sprd)


def _scale_table(per_view: pd.DataFrame, dataset: str, metrics: list[str], precision, caption: str) -> Table | None:
    """Methods x (each metric at each scale, full resolution first) and mip-NeRF's Avg, for a dataset whose views
    carry scales (:mod:`nvs_eval.results.scales`); ``None`` otherwise."""
    from ..results.scales import mipnerf_avg, scale_label, scale_summary, scales_of

    scales = scales_of(per_view)
    if not scales:
        return None
    summary = scale_summary(per_view, metrics).set_index(["method", "scale"])
    methods = sorted(summary.index.get_level_values(0).unique())
    cols = [Column(f"{METRICS[k].label} {scale_label(sc)}", k) for k in metrics for sc in scales]
    values = [[float(summary[k].get((m, sc), float("nan"))) for k in metrics for sc in scales] for m in methods]
    lp = next((k for k in metrics if METRICS[k].kind == "lpips" and METRICS[k].family == "plain"), None)
    avg_note = ""
    if "psnr" in metrics and "ssim" in metrics and lp:
        cols.append(Column("Avg", lp, digits=4))
        for m, row in zip(methods, values):
            per = {k: [float(summary[k].get((m, sc), float("nan"))) for sc in scales] for k in ("psnr", "ssim", lp)}
            row.append(mipnerf_avg(per["psnr"], per["ssim"], per[lp]))
        avg_note = (f" Avg: mip-NeRF's geometric mean of 10^(-PSNR/10), sqrt(1 - SSIM) and {METRICS[lp].label}, each "
                    "first averaged over the scales (google/mipnerf scripts/summarize.ipynb).")
    return _table(f"{dataset}-scales", f"{dataset}: per scale", "Method", methods, cols, values,
                  f"{dataset}: per scale (views averaged per scene and scale, then over scenes);{avg_note} "
                  f"{caption}", precision)


def _scene_table(g, ds, dataset, k, methods, scene_names, bl, caption, precision, bad, short=()) -> Table:
    """One metric's methods x scenes table (and the average), published rows below, those beside a scene in
    ``bad`` flagged; the average of a method in ``short`` (fewer scenes) is not ranked."""
    piv = g.pivot(index="method", columns="scene", values=k)
    spiv = g.pivot(index="method", columns="scene", values=f"{k}_run_std")
    vals = [[float(piv.loc[m, s]) if s in piv.columns else float("nan") for s in scene_names]
            + [float(ds.loc[m, k])] for m in methods]
    sprd = [[float(spiv.loc[m, s]) if s in spiv.columns else float("nan") for s in scene_names]
            + [float(ds.loc[m, f"{k}_run_std"])] for m in methods]
    vals += [[float(b.scenes.get(s, {}).get(k, float("nan"))) for s in scene_names] + [b.mean(k, scene_names)]
             for b in bl]
    cols = [Column(s, k) for s in scene_names] + [Column("Avg.", k)]
    t = _table(f"{dataset}-{k}", f"{dataset}: {METRICS[k].label} per scene", "Method",
               _labels(methods, short, len(scene_names)) + [b.name for b in bl], cols, vals,
               f"{dataset}: {METRICS[k].label} per scene; {caption}", precision, len(bl), sprd,
               unranked={(methods.index(m), len(scene_names)) for m in short})
    bad_cols = [j for j, sc in enumerate(scene_names) if sc in bad] + ([len(scene_names)] if bad else [])
    return _flag_published(t, bad_cols) if bad else t


def _ties(per_view, dataset, methods, metrics, values, precision, significance, allow_different_sets, short=()):
    """Per method and column, whether it is not significantly different from the column's best (the † marks),
    and the caption's sentence saying so; ``(None, "")`` without a level or with a single method. Methods in
    ``short`` (averaged over fewer scenes than the table's) are never the best, and are tested only with
    ``allow_different_sets`` (on the views they share with it)."""
    ranked = [m for m in methods if m not in short]
    if significance is None or len(methods) < 2:
        return None, ""
    rows = [methods.index(m) for m in ranked]
    ranks = [_rank_column([values[r][c] for r in rows], k, precision) for c, k in enumerate(metrics)]
    # the column's best: the one method ranked, or the rank-1 one (none: nothing to test against)
    bests = [ranked[0] if len(ranked) == 1 else ranked[r.index(1)] if 1 in r else None for r in ranks]
    averaged = runs_averaged(per_view[per_view["dataset"] == dataset])  # once for every column
    cols = [_significance(averaged, k, best, significance, allow_different_sets) if best else ({}, [], [])
            for k, best in zip(metrics, bests)]
    tied = [[cols[c][0].get(m, False) for c in range(len(metrics))] for m in methods]
    skipped = sorted({m for c in cols for m in c[1] if m not in short})
    partial = list(dict.fromkeys(p for c in cols for p in c[2]))
    note = (f" † not significantly different from the column's best at {significance:g}: not both of the two-sided "
            "paired tests on the per-view differences reject, the two-level bootstrap (scenes and views resampled) "
            "and the sign-flip test (scenes fixed); runs averaged per view, Holm-adjusted over every pair of "
            "methods, as the statistics page's matrices are.")
    if skipped:
        note += (" Not tested against the best (scored on other views; --allow-different-sets compares the "
                 f"intersection): {', '.join(skipped)}.")
    if partial:
        note += f" Tested on the views shared with the best only: {'; '.join(partial)}."
    return tied, note


def arrow(metric: str) -> str:
    return "up" if spec(metric).higher_is_better else "down"
