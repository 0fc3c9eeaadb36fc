"""Statistics a careful paper prints, on any DataFrame with the store's columns (``dataset``, ``scene``,
``method``, ``view`` and one column per metric; ``run`` optional): aggregation as a named choice, two-level
bootstrap confidence intervals, paired comparisons with Holm's correction.

* **Aggregation** (:data:`nvs_eval.conventions.registry.AGGREGATIONS`): ``view-mean`` (mean of per-view values per
  scene, then the mean over scenes), ``pooled-mse`` (for PSNR-type metrics, the PSNR of the mean MSE of a scene's views;
  the other metrics as ``view-mean``), ``scene-weighted`` (all views of a dataset pooled: scenes weigh by their
  view counts).
* **Confidence intervals**: a two-level (hierarchical) bootstrap: each resample draws the scenes with replacement
  and, within every drawn scene, its views with replacement, then aggregates as above; the 95% interval is the
  2.5 and 97.5 percentiles of the resampled statistic (Davison and Hinkley, *Bootstrap Methods and their
  Application*, 1997, section 3.8, resampling at both stages of a two-stage design; Field and Welsh,
  "Bootstrapping clustered data", JRSS-B 69(3), 2007). Views of one scene are not independent, scenes are the
  unit a benchmark samples; resampling views alone would understate the uncertainty. Resampling is vectorised
  over all resamples and all methods at once, with one fixed seed, so tables are reproducible; the methods of a
  dataset share the same resampled scenes and views.
* **Paired comparison** of two methods scored on the same views: the mean difference (aggregated as above), its
  paired two-level bootstrap interval, and a two-sided sign-flip permutation p-value on the per-view differences
  (under the null hypothesis of no difference each view's difference is as likely negative as positive; exact
  over all 2^n sign patterns for n <= 16 views, else 10,000 random flips; Good, *Permutation Tests*, 2000). The two
  answer different questions: the sign-flip test holds the scenes fixed (on these scenes, is the difference more
  than view-to-view chance?), the interval treats the scenes as a sample (would it hold on other scenes like
  them?). Where a verdict is printed beside the interval, both must reject (:func:`significant`): the interval's
  own test, :func:`bootstrap_p`, so a "significant" mark never sits beside an interval that includes 0, and the
  sign-flip test, which keeps tiny samples from being called significant. Across the pairs of one table the p-values
  are adjusted with Holm's step-down method (Holm, Scand. J. Statist. 6(2), 1979). Two methods not scored on
  the same (dataset, scene, view) set are refused with what differs, unless ``allow_different_sets`` (then the
  intersection is compared and the result says so).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..conventions.registry import DEFAULT_AGGREGATION
from ..errors import UsageError, option

KEYS = ["dataset", "scene", "method"]
DEFAULT_RESAMPLES = 10_000
DEFAULT_SEED = 0
EXACT_SIGN_FLIP_MAX = 16


def _is_psnr(metric: str) -> bool:
    from ..conventions.registry import METRICS

    spec = METRICS.get(metric)
    return spec is not None and spec.kind == "psnr"


def _to_mse(psnr: np.ndarray) -> np.ndarray:
    return 10.0 ** (-np.asarray(psnr, dtype=np.float64) / 10.0)


def _to_psnr(mse: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore"):
        return -10.0 * np.log10(mse)


def _check_aggregation(aggregation: str) -> None:
    from ..conventions.registry import AGGREGATIONS

    if aggregation not in AGGREGATIONS:
        raise UsageError(f"unknown aggregation {aggregation!r}; known: {', '.join(AGGREGATIONS)}")


def scene_value(values: np.ndarray, metric: str, aggregation: str = DEFAULT_AGGREGATION) -> float:
    """One scene's value from its per-view values: their mean, or for PSNR-type metrics under ``pooled-mse`` the
    PSNR of their mean MSE (NaN without values). The one place a scene is aggregated (tables use it too).

    >>> round(scene_value(np.array([20.0, 40.0]), "psnr", "pooled-mse"), 4)
    22.9671
    """
    v = np.asarray(values, dtype=np.float64)
    if not len(v):
        return float("nan")
    if aggregation == "pooled-mse" and _is_psnr(metric):
        return float(_to_psnr(np.array([_to_mse(v).mean()]))[0])
    return float(v.mean())


def scene_values(per_view: pd.DataFrame, metric: str, aggregation: str = DEFAULT_AGGREGATION) -> pd.DataFrame:
    """One row per dataset/scene/method (and run): the scene's value of ``metric`` and its view count.

    >>> df = pd.DataFrame({"dataset": "d", "scene": "s", "method": "m", "view": ["a", "b"], "psnr": [20.0, 40.0]})
    >>> [round(float(scene_values(df, "psnr", a)["psnr"][0]), 4) for a in ("view-mean", "pooled-mse")]
    [30.0, 22.9671]
    """
    _check_aggregation(aggregation)
    keys = KEYS + (["run"] if "run" in per_view.columns else [])
    rows = []
    for key, g in per_view.groupby(keys, sort=True):
        v = g[metric].dropna().to_numpy(np.float64)
        rows.append({**dict(zip(keys, key)), metric: scene_value(v, metric, aggregation), "views": len(v)})
    return pd.DataFrame(rows)


def dataset_values(per_view: pd.DataFrame, metric: str, aggregation: str = DEFAULT_AGGREGATION) -> pd.DataFrame:
    """One row per dataset/method (and run): the dataset's value, its scene and view counts."""
    _check_aggregation(aggregation)
    keys = ["dataset", "method"] + (["run"] if "run" in per_view.columns else [])
    if aggregation == "scene-weighted":
        rows = []
        for key, g in per_view.groupby(keys, sort=True):
            v = g[metric].dropna().to_numpy(np.float64)
            rows.append({**dict(zip(keys, key)), metric: float(v.mean()) if len(v) else float("nan"),
                         "scenes": g["scene"].nunique(), "views": len(v)})
        return pd.DataFrame(rows)
    scenes = scene_values(per_view, metric, aggregation)
    return pd.DataFrame([{**dict(zip(keys, key)), metric: float(g[metric].mean()), "scenes": len(g),
                          "views": int(g["views"].sum())} for key, g in scenes.groupby(keys, sort=True)])


@dataclass(frozen=True)
class _Grid:
    """A dataset's per-view values as (methods, scenes, max views), NaN-padded, with each scene's view count."""

    methods: list[str]
    values: np.ndarray
    counts: np.ndarray


def _grid(per_view: pd.DataFrame, metric: str, methods: list[str] | None = None) -> _Grid:
    methods = methods or sorted(per_view["method"].unique())
    wide = per_view.pivot_table(index=["scene", "view"], columns="method", values=metric,
                                aggfunc="first").reindex(columns=methods)
    scenes = sorted(per_view["scene"].unique())
    blocks = [wide.loc[s].to_numpy(np.float64).T for s in scenes]  # (M, views of s)
    counts = np.array([b.shape[1] for b in blocks])
    values = np.full((len(methods), len(scenes), int(counts.max())), np.nan)
    for j, b in enumerate(blocks):
        values[:, j, : b.shape[1]] = b
    return _Grid(methods, values, counts)


def _resample_indices(counts: np.ndarray, resamples: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Scene indices (B, S) and view indices (B, S, V) of a two-level bootstrap; view slots beyond the drawn
    scene's count are -1."""
    s = len(counts)
    vmax = int(counts.max())
    scene_idx = rng.integers(0, s, size=(resamples, s))
    n = counts[scene_idx]  # (B, S)
    view_idx = np.floor(rng.random((resamples, s, vmax)) * n[..., None]).astype(np.int64)
    view_idx[np.arange(vmax)[None, None, :] >= n[..., None]] = -1
    return scene_idx, view_idx


def _boot(values: np.ndarray, counts: np.ndarray, metric: str, aggregation: str, resamples: int,
          rng: np.random.Generator, chunk: int = 2000) -> np.ndarray:
    """The aggregate of ``values`` (M, S, V; each scene's first ``counts[s]`` views) over ``resamples`` two-level
    resamples, (M, B). The resampled views of each slot become multiplicity weights (``np.bincount``), and each
    slot's sum is one matrix product per scene, for all methods at once."""
    m, s, v = values.shape
    pooled = aggregation == "pooled-mse" and _is_psnr(metric)
    vals = np.nan_to_num(_to_mse(values) if pooled else values, nan=0.0)
    out = []
    for b0 in range(0, resamples, chunk):
        b = min(chunk, resamples - b0)
        scene_idx, view_idx = _resample_indices(counts, b, rng)
        idx = view_idx.reshape(b * s, v)
        valid = idx >= 0
        flat = (np.arange(b * s)[:, None] * v + idx)[valid]
        weights = np.bincount(flat, minlength=b * s * v).reshape(b * s, v).astype(np.float64)
        slots = scene_idx.reshape(-1)
        sums = np.empty((m, b * s))
        for c in range(s):
            sel = np.nonzero(slots == c)[0]
            if len(sel):
                sums[:, sel] = vals[:, c, :] @ weights[sel].T
        n = counts[slots].astype(np.float64)
        if aggregation == "scene-weighted":
            out.append(sums.reshape(m, b, s).sum(-1) / n.reshape(b, s).sum(-1))
        elif pooled:
            out.append(_to_psnr(sums / n).reshape(m, b, s).mean(-1))
        else:
            out.append((sums / n).reshape(m, b, s).mean(-1))
    return np.concatenate(out, axis=1)


def bootstrap_ci(per_view: pd.DataFrame, metric: str, *, aggregation: str = DEFAULT_AGGREGATION, level: float = 0.95,
                 resamples: int = DEFAULT_RESAMPLES, seed: int = DEFAULT_SEED) -> pd.DataFrame:
    """The dataset-level value of ``metric`` for every dataset/method, with its two-level bootstrap interval.

    Returns:
        One row per dataset/method: ``value`` (the aggregate of the data), ``lo``, ``hi``, ``scenes``, ``views``,
        ``aggregation``, ``level``, ``resamples``.

    Example:
        >>> rng = np.random.default_rng(1)
        >>> df = pd.DataFrame([{"dataset": "d", "scene": f"s{s}", "method": "m", "view": str(v),
        ...                     "psnr": 25 + s + rng.normal()} for s in range(3) for v in range(20)])
        >>> r = bootstrap_ci(df, "psnr", resamples=2000).iloc[0]
        >>> round(float(r["value"]), 2), bool(r["lo"] < r["value"] < r["hi"]), int(r["scenes"]), int(r["views"])
        (25.95, True, 3, 60)
    """
    _check_aggregation(aggregation)
    if "run" in per_view.columns and per_view["run"].nunique() > 1:
        raise UsageError("bootstrap_ci takes one run per method; select a run, or average runs per view first")
    rows = []
    rng = np.random.default_rng(seed)
    data = dataset_values(per_view, metric, aggregation).set_index(["dataset", "method"])
    for dataset, g in per_view.groupby("dataset", sort=True):
        grid = _grid(g, metric)
        inside = np.arange(grid.values.shape[2])[None, :] < grid.counts[:, None]  # (S, V): each scene's views
        if np.isnan(grid.values[:, inside]).any():  # methods scored on different views: each on its own views
            boot = np.concatenate([_boot(_grid(g[g["method"] == m], metric).values,
                                         _grid(g[g["method"] == m], metric).counts, metric, aggregation, resamples,
                                         np.random.default_rng(seed)) for m in grid.methods])
        else:  # all methods at once, on the same resampled scenes and views
            boot = _boot(grid.values, grid.counts, metric, aggregation, resamples, rng)
        lo, hi = np.nanpercentile(boot, [50 * (1 - level), 50 * (1 + level)], axis=1)
        for i, m in enumerate(grid.methods):
            d = data.loc[(dataset, m)]
            rows.append({"dataset": dataset, "method": m, "value": float(d[metric]), "lo": float(lo[i]),
                         "hi": float(hi[i]), "scenes": int(d["scenes"]), "views": int(d["views"]),
                         "aggregation": aggregation, "level": level, "resamples": resamples})
    return pd.DataFrame(rows)


def _wide(per_view: pd.DataFrame, metric: str) -> pd.DataFrame:
    """Per-view values, (dataset, scene, view) x method."""
    return per_view.pivot_table(index=["dataset", "scene", "view"], columns="method", values=metric,
                                aggfunc="first")


def _common(wide: pd.DataFrame, a: str, b: str, allow_different_sets: bool) -> tuple[pd.Series, str]:
    """The per-view differences ``a - b`` on the views both were scored on, and a note when that is not all."""
    for m in (a, b):
        if m not in wide.columns or not wide[m].notna().any():
            raise UsageError(f"no scored views for {m}")
    has_a, has_b = wide[a].notna(), wide[b].notna()
    note = ""
    if not (has_a == has_b).all():
        scenes_a = set(wide.index[has_a].droplevel("view"))
        scenes_b = set(wide.index[has_b].droplevel("view"))
        what = (f"scenes: {len(scenes_a)} for {a}, {len(scenes_b)} for {b}" if scenes_a != scenes_b else
                f"views: {int(has_a.sum())} for {a}, {int(has_b.sum())} for {b}")
        only = wide.index[has_a != has_b][0]
        if not allow_different_sets:
            raise UsageError(f"{a} and {b} were not scored on the same views ({what}; e.g. {'/'.join(only)} only "
                             f"for {a if has_a[only] else b})",
                             hint=f"compare them on the same set, or pass {option('allow_different_sets')} to "
                                  "compare the intersection")
        note = f"compared on the {int((has_a & has_b).sum())} views both were scored on ({what})"
    return (wide[a] - wide[b])[has_a & has_b], note


def _sign_flip_p(weighted: np.ndarray, observed: float, resamples: int, rng: np.random.Generator) -> float:
    """Two-sided p-value of ``observed = sum(weighted)`` under random sign flips of every per-view difference
    (``weighted``: each difference times its weight in the statistic, so a flipped statistic is ``signs @
    weighted``): exact over all 2^n patterns for small n, else ``resamples`` random patterns, counted as
    ``(1 + extreme) / (1 + resamples)``."""
    n = len(weighted)
    tol = 1e-12 * max(1.0, abs(observed))
    if n <= EXACT_SIGN_FLIP_MAX:
        signs = 1.0 - 2.0 * ((np.arange(2**n)[:, None] >> np.arange(n)[None, :]) & 1)
        return float((np.abs(signs @ weighted) >= abs(observed) - tol).mean())
    extreme = 0
    for r0 in range(0, resamples, 2000):
        bits = rng.integers(0, 2, size=(min(2000, resamples - r0), n), dtype=np.int8)
        flipped = 2.0 * (bits.astype(np.float64) @ weighted) - weighted.sum()
        extreme += int((np.abs(flipped) >= abs(observed) - tol).sum())
    return float((1 + extreme) / (1 + resamples))


def paired_test(per_view: pd.DataFrame, metric: str, a: str, b: str, *, level: float = 0.95,
                resamples: int = DEFAULT_RESAMPLES, seed: int = DEFAULT_SEED,
                allow_different_sets: bool = False) -> dict:
    """Compare methods ``a`` and ``b`` on the views both were scored on: ``a - b``.

    The difference is aggregated per view-mean (mean over a scene's views of the per-view differences, then the
    mean over scenes). Returns ``{"a", "b", "metric", "difference", "lo", "hi", "p", "p_boot", "views", "scenes",
    "note"}``: ``p`` the sign-flip p-value (scenes fixed), ``p_boot`` the bootstrap one that agrees with ``lo, hi``
    (:func:`bootstrap_p`).

    Example:
        >>> rows = [{"dataset": "d", "scene": f"s{s}", "view": str(v), "method": m, "psnr": 30 + s + v % 3 + d}
        ...         for s in range(2) for v in range(10) for m, d in (("a", 0.01), ("b", 0.0))]
        >>> r = paired_test(pd.DataFrame(rows), "psnr", "a", "b")
        >>> round(r["difference"], 4), r["p"] < 0.001, r["views"]
        (0.01, True, 20)
    """
    return _paired(_wide(per_view, metric), metric, a, b, level, resamples, seed, allow_different_sets)


def _paired(wide: pd.DataFrame, metric: str, a: str, b: str, level: float, resamples: int, seed: int,
            allow_different_sets: bool, boot: np.ndarray | bool | None = None) -> dict:
    """``boot``: the difference's bootstrap statistics if already drawn (:func:`pairwise` draws them for every
    pair at once), ``False`` to skip the interval (only the p-value is wanted)."""
    diff, note = _common(wide, a, b, allow_different_sets)
    groups = [g.to_numpy(np.float64) for _, g in diff.groupby(level=["dataset", "scene"], sort=True)]
    sizes = np.array([len(g) for g in groups])
    # the statistic (mean over scenes of each scene's mean difference) is linear in the differences
    weighted = np.concatenate([g / (len(g) * len(groups)) for g in groups])
    observed = float(weighted.sum())
    rng = np.random.default_rng(seed)
    if boot is None:
        values = np.full((1, len(groups), int(sizes.max())), np.nan)
        for j, g in enumerate(groups):
            values[0, j, : len(g)] = g
        boot = _boot(values, sizes, "difference", DEFAULT_AGGREGATION, resamples, rng)[0]
    lo, hi = (np.percentile(boot, [50 * (1 - level), 50 * (1 + level)]) if boot is not False
              else (float("nan"), float("nan")))
    p = _sign_flip_p(weighted, observed, resamples, np.random.default_rng([seed, 1]))
    return {"a": a, "b": b, "metric": metric, "difference": observed, "lo": float(lo), "hi": float(hi), "p": p,
            "p_boot": bootstrap_p(boot) if boot is not False else float("nan"), "views": int(sizes.sum()),
            "scenes": len(groups), "note": note}


def significant(p_boot: float, p_views: float, alpha: float) -> bool:
    """The verdict printed beside an interval: both tests reject at ``alpha`` (each Holm-adjusted by the caller).
    ``p_boot < alpha`` makes it agree with the interval (it then excludes 0); the sign-flip ``p_views < alpha``
    guards small samples, where the percentile bootstrap is overconfident (three views that all favour one method
    put every draw on one side of 0, while no sign-flip test of three views can reach 0.05).

    >>> significant(0.01, 0.3, 0.05), significant(0.2, 0.001, 0.05), significant(0.01, 0.001, 0.05)
    (False, False, True)
    """
    return bool(p_boot < alpha and p_views < alpha)


def bootstrap_p(boot: np.ndarray) -> float:
    """Two-sided p-value of "no difference" read off the paired bootstrap draws ``boot`` of the difference:
    ``2 (1 + k) / (1 + B)`` (at most 1), ``k`` the draws on the far side of zero (zero included) out of ``B``
    (Davison and Hinkley 1997, section 4.4.1; the +1 counts the observed sample). It is the test the printed
    interval makes: ``bootstrap_p < 1 - level`` implies that the ``level`` percentile interval of the same draws
    excludes 0 (the interval's lower end is interpolated between sorted draws at index ``(1 - level) / 2 (B - 1)
    > k``, both above zero). The sign-flip ``p`` asks another question (the scenes fixed, is each view's
    difference as likely negative as positive?) and can be far smaller when few scenes disagree.

    >>> bootstrap_p(np.array([0.5, 1.0, 2.0, -0.1])), bootstrap_p(np.zeros(9))
    (0.8, 1.0)
    """
    boot = np.asarray(boot, dtype=np.float64)
    k = min(int((boot <= 0).sum()), int((boot >= 0).sum()))
    return float(min(1.0, 2.0 * (1 + k) / (1 + len(boot))))


def holm(pvalues: list[float]) -> list[float]:
    """Holm's step-down adjusted p-values (same order as given).

    >>> [round(p, 3) for p in holm([0.01, 0.04, 0.03])]
    [0.03, 0.06, 0.06]
    """
    p = np.asarray(pvalues, dtype=np.float64)
    order = np.argsort(p, kind="stable")
    m = len(p)
    adjusted = np.empty(m)
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (m - rank) * p[i]))
        adjusted[i] = running
    return adjusted.tolist()


_SHARED: dict[bytes, np.ndarray] = {}  # one report asks for each column's bootstrap twice: the tables' † and stats.html


def shared_bootstrap(per_view: pd.DataFrame, wide: pd.DataFrame, metric: str, methods: list[str], resamples: int,
                     seed: int) -> np.ndarray | None:
    """When every method has every view: one two-level bootstrap of all of them, (M, B), that serves every pair
    (the view-mean of a - b is the difference of the view-means on the same resampled scenes and views); else
    ``None`` (each pair draws its own, on the views both have).

    Drawn once per input: the result (read-only) is kept under a digest of the values, the view counts, the
    metric, ``resamples`` and ``seed``, everything the draws depend on, so a second caller with the same data gets
    the same array without drawing it again."""
    import hashlib

    if not wide[methods].notna().all().all():
        return None
    grid = _grid(per_view[per_view["method"].isin(methods)], metric, methods)
    h = hashlib.blake2b(f"{metric}|{resamples}|{seed}|{grid.values.shape}".encode())
    h.update(np.ascontiguousarray(grid.values).tobytes())
    h.update(np.ascontiguousarray(grid.counts, dtype=np.int64).tobytes())
    key = h.digest()
    if key not in _SHARED:
        if len(_SHARED) >= 256:
            _SHARED.clear()
        boot = _boot(grid.values, grid.counts, metric, DEFAULT_AGGREGATION, resamples, np.random.default_rng(seed))
        boot.flags.writeable = False
        _SHARED[key] = boot
    return _SHARED[key]


def pairwise(per_view: pd.DataFrame, metric: str, methods: list[str] | None = None, **kw) -> pd.DataFrame:
    """:func:`paired_test` for every pair of ``methods`` (default: all), with Holm-adjusted p-values.

    A pair scored on different views (without ``allow_different_sets``) is not tested: its row has the reason in
    ``refused`` (``""`` for a tested pair) and NaN values, and the Holm family is the pairs tested. This one family
    serves the statistics page's matrices and the tables' † alike, so the two never disagree."""
    methods = methods or sorted(per_view["method"].unique())
    wide = _wide(per_view, metric)
    opts = {"level": 0.95, "resamples": DEFAULT_RESAMPLES, "seed": DEFAULT_SEED, "allow_different_sets": False, **kw}
    shared = shared_bootstrap(per_view, wide, metric, methods, opts["resamples"], opts["seed"])
    rows = []
    for i, a in enumerate(methods):
        for j, b in enumerate(methods[i + 1:], i + 1):
            try:
                rows.append({**_paired(wide, metric, a, b, **opts, boot=None if shared is None
                                       else shared[i] - shared[j]), "refused": ""})
            except UsageError as e:
                rows.append({"a": a, "b": b, "metric": metric, "refused": e.render("cli")})
    out = pd.DataFrame(rows)
    if not out.empty:
        tested = out["refused"] == ""
        for p in ("p", "p_boot"):
            if p not in out:
                out[p] = np.nan
            out[f"{p}_holm"] = np.nan
            out.loc[tested, f"{p}_holm"] = holm(out.loc[tested, p].tolist()) if tested.any() else []
    return out


__all__ = ["scene_value", "scene_values", "dataset_values", "bootstrap_ci", "paired_test", "pairwise", "holm",
           "bootstrap_p", "significant"]
