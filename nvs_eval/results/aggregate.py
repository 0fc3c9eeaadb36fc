"""Aggregation, in a fixed order, under a named choice (:data:`nvs_eval.conventions.protocols.AGGREGATIONS`):

* ``view-mean`` (the default): scene = mean of its per-view values; dataset = mean of its scenes.
* ``pooled-mse``: for PSNR-type metrics, scene = PSNR of the mean MSE of its views (as some papers compute it);
  other metrics as ``view-mean``.
* ``scene-weighted``: dataset = mean over all its views pooled (scenes weigh by their view counts).

Several runs of one method (``runs:`` in a config, ``name=PATH1,PATH2`` on the command line) are stored as methods
``name#run=<run>``; here they are split back (:func:`split_runs`): each run is aggregated on its own, the reported value
is the mean over runs of the run values, ``<metric>_run_std`` the sample standard deviation over runs and ``runs``
their number.

A view whose PSNR is ``inf`` (render identical to ground truth) makes its scene's mean PSNR ``inf``: it is kept and
shown, not capped. ``<metric>_std`` is the population std over views (scene) or over scene values (dataset);
``<metric>_n`` the number of views (scene, per run) and ``scenes`` / ``views`` the counts behind a dataset value.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..conventions.registry import DEFAULT_AGGREGATION

KEYS = ["dataset", "scene", "method"]
RUN_SEP = "#run="  # a stored method name "nerfacto#run=seed0" is run seed0 of nerfacto


def run_key(method: str, run: str | None) -> str:
    """The stored method name of one run: ``name#run=<run>`` (``name`` when there is a single run).

    >>> run_key("3dgs", "seed1"), run_key("3dgs", None)
    ('3dgs#run=seed1', '3dgs')
    """
    return f"{method}{RUN_SEP}{run}" if run else method


def display_name(method: str) -> str:
    """A stored method name as a person reads it (pages, figures): one run of several says which.

    >>> display_name("3dgs#run=seed1"), display_name("3dgs")
    ('3dgs (run seed1)', '3dgs')
    """
    name, sep, run = method.partition(RUN_SEP)
    return f"{name} (run {run})" if sep else name


def with_run_column(per_view: pd.DataFrame) -> pd.DataFrame:
    """``method`` split into the method and a ``run`` column placed right after it (``""`` for a single run): the
    exports' form, where ``floater-gs#run=seed0`` would be an internal key."""
    df = split_runs(per_view)
    cols = list(per_view.columns)
    return df[cols[: cols.index("method") + 1] + ["run"] + cols[cols.index("method") + 1:]]


def split_runs(per_view: pd.DataFrame) -> pd.DataFrame:
    """``method`` split into the method and a ``run`` column (``""`` for a single run)."""
    df = per_view.copy()
    parts = df["method"].astype(str).str.partition(RUN_SEP)
    df["method"], df["run"] = parts[0], parts[2]
    return df


def runs_averaged(per_view: pd.DataFrame) -> pd.DataFrame:
    """Each method's runs averaged per view (the unit of the intervals and paired tests: the statistics page's, the
    tables' † and the published comparison's; the spread over runs is shown apart)."""
    df = split_runs(per_view)
    return df.groupby(["dataset", "scene", "method", "view"], as_index=False)[_metric_columns(df)].mean()


def first_runs(per_view: pd.DataFrame) -> pd.DataFrame:
    """Only the first run (by name) of each method with several runs (the report's image comparisons show one run
    per method: a method's runs look alike; their numbers are all in the tables)."""
    split = split_runs(per_view)
    first = split.groupby("method")["run"].transform("min")
    return per_view[(split["run"] == first).to_numpy()]


def _metric_columns(per_view: pd.DataFrame) -> list[str]:
    from ..conventions.registry import METRICS

    return [m for m in METRICS if m in per_view.columns]


def _run_stats(row: dict, metric: str, per_run: list[float]) -> None:
    row[metric] = float(np.mean(per_run)) if per_run else float("nan")
    finite = np.isfinite(per_run).all() if per_run else False
    row[f"{metric}_run_std"] = float(np.std(per_run, ddof=1)) if len(per_run) > 1 and finite else float("nan")


def scene_summary(per_view: pd.DataFrame, aggregation: str = DEFAULT_AGGREGATION) -> pd.DataFrame:
    """One row per dataset/scene/method: ``<metric>``, ``<metric>_std``, ``<metric>_n``, ``<metric>_run_std``,
    ``runs``."""
    from .stats import _check_aggregation, scene_value

    _check_aggregation(aggregation)
    df = split_runs(per_view)
    metrics = _metric_columns(df)
    rows = []
    for key, g in df.groupby(KEYS, sort=True):
        row = dict(zip(KEYS, key))
        runs = dict(list(g.groupby("run", sort=True)))
        row["runs"] = len(runs)
        for m in metrics:
            per_run = [scene_value(gr[m].dropna().to_numpy(np.float64), m, aggregation) for gr in runs.values()]
            _run_stats(row, m, per_run)
            v = g[m].dropna().to_numpy(np.float64)
            row[f"{m}_std"] = float(np.std(v)) if len(v) and np.isfinite(v).all() else float("nan")
            row[f"{m}_n"] = int(len(v) // max(1, len(runs)))
        rows.append(row)
    return pd.DataFrame(rows)


def dataset_summary(per_view: pd.DataFrame, aggregation: str = DEFAULT_AGGREGATION) -> pd.DataFrame:
    """One row per dataset/method: the dataset value (mean over runs), ``<metric>_std`` over scene values,
    ``<metric>_run_std`` over runs, ``scenes``, ``views`` (per run), ``runs``, ``aggregation``."""
    from .stats import _check_aggregation, scene_value

    _check_aggregation(aggregation)
    df = split_runs(per_view)
    metrics = _metric_columns(df)
    scenes = scene_summary(per_view, aggregation)
    rows = []
    for (d, meth), g in df.groupby(["dataset", "method"], sort=True):
        runs = dict(list(g.groupby("run", sort=True)))
        sg = scenes[(scenes["dataset"] == d) & (scenes["method"] == meth)]
        row = {"dataset": d, "method": meth, "scenes": int(g["scene"].nunique()),
               "views": int(len(g.drop_duplicates(["scene", "view"]))), "runs": len(runs),
               "aggregation": aggregation}
        for m in metrics:
            if aggregation == "scene-weighted":
                per_run = [float(gr[m].dropna().mean()) for gr in runs.values()]
            else:
                per_run = []
                for gr in runs.values():
                    vals = [scene_value(gs[m].dropna().to_numpy(np.float64), m, aggregation)
                            for _, gs in gr.groupby("scene", sort=True)]
                    per_run.append(float(np.mean(vals)) if vals else float("nan"))
            _run_stats(row, m, per_run)
            v = sg[m].to_numpy(np.float64)
            row[f"{m}_std"] = float(np.std(v)) if len(v) and np.isfinite(v).all() else float("nan")
        rows.append(row)
    return pd.DataFrame(rows)


def over_runs(per_view: pd.DataFrame, metrics, by=("method",)):
    """Each group's runs: ``(mean, std, runs, views)``, the mean and the sample standard deviation of the runs'
    means per metric (NaN std for a single run), the number of runs and one run's view count, indexed by ``by``
    (the method without its run)."""
    split = split_runs(per_view)
    per_run = split.groupby([*by, "run"], sort=False)
    grouped = per_run[list(metrics)].mean().groupby(list(by), sort=False)
    views = per_run.size().groupby(list(by), sort=False).max()
    return grouped.mean(), grouped.std(ddof=1), grouped.size(), views


def run_spread(per_view: pd.DataFrame, metrics) -> dict:
    """``{method: {metric: {"mean", "std", "runs"}}}`` for the methods with several runs: the mean and the sample
    standard deviation of the runs' means (what the tables print as ``mean ± std``).

    >>> df = pd.DataFrame({"method": ["m#run=a", "m#run=a", "m#run=b", "m#run=b", "solo"], "psnr": [1.0, 3, 4, 6, 9]})
    >>> run_spread(df, ["psnr"])
    {'m': {'psnr': {'mean': 3.5, 'std': 2.1213203435596424, 'runs': 2}}}
    """
    mean, std, runs, _ = over_runs(per_view, metrics)
    return {method: {m: {"mean": float(mean.at[method, m]), "std": float(std.at[method, m]), "runs": int(n)}
                     for m in metrics} for method, n in runs.items() if n > 1}
