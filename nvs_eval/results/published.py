"""Paired tests of your methods against a published one, view by view (``report --baselines DATASET --paired``).

NerfBaselines publishes every test view's value (:mod:`nvs_eval.baselines.per_view`), so a method scored on the
same views can be compared with a published method by the paired tests of :mod:`nvs_eval.results.stats`, without
re-running it. That is only sound when the two sides computed the same quantity on the same images, so each scene
is paired only when all of these hold, and otherwise refused with the reason:

* the results were scored under the ``nerfbaselines`` protocol (the preset that reproduces NerfBaselines'
  evaluation at the versions the files name: 8-bit truncated images, dm_pix SSIM, LPIPS-Alex on [-1, 1]);
* ``nvs-eval check`` has checked the scene against the published dataset and found it comparable: the standard
  split, the dataset's own files at the published resolution (a scene never checked is refused: "unchecked");
* the check named every scored view's dataset image, and those names are exactly the published views' names.

Views are paired by dataset image name (the check's match of the run's view to the dataset image, and
:func:`nvs_eval.baselines.per_view.view_names` for the published side), never by position. Each comparison gives
the mean difference (yours minus published; per scene, then the mean over scenes), its paired two-level bootstrap
interval, the sign-flip p-value Holm-adjusted over every comparison of that metric, and the number of views paired.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ..errors import option
from .stats import DEFAULT_RESAMPLES, DEFAULT_SEED, _paired, holm

ALL_SCENES = "(all)"
DISPLAY = {"gaussian-splatting": "3DGS", "zipnerf": "Zip-NeRF", "mipnerf360": "Mip-NeRF 360",
           "instant-ngp": "Instant-NGP", "nerfacto": "nerfacto", "tetra-nerf": "Tetra-NeRF"}


def published_label(method: str) -> str:
    """``3DGS (NerfBaselines)``: a published method as tables and the statistics page name it."""
    return f"{DISPLAY.get(method, method)} (NerfBaselines)"


@dataclass
class PublishedComparison:
    """``rows``: one per (your method, published method, metric, scene or :data:`ALL_SCENES`): difference (yours
    minus published), lo, hi, p (sign-flip), p_boot (the interval's own test), p_holm and p_boot_holm (each
    Holm-adjusted over the metric's comparisons), views, scenes, note. ``refused``: ``{"scene", "method",
    "reason"}`` for every scene (or method on a scene) not paired; ``method`` is ``None`` when the whole scene is
    refused."""

    dataset: str
    published: str
    rows: pd.DataFrame
    refused: list[dict] = field(default_factory=list)


def _published_names(published: str, scene: str, n_views: int, check: dict) -> list[str]:
    from ..baselines.per_view import _png_key, view_names

    if published == "mipnerf360":  # the standard split's test images (the check proved it standard and complete)
        return sorted(check["split"]["test_views"], key=_png_key)
    return view_names(published, scene, n_views)


def _scene_refusal(published: str, scene: str, check: dict | None, n_views: int) -> str | None:
    if check is None:
        return (f"unchecked: nvs-eval has not checked that this scene's views are {published}'s test images at the "
                f"published resolution (run `nvs-eval check`, or evaluate with {option('dataset_root')})")
    if check.get("dataset") != published:
        return f"checked against dataset {check.get('dataset')!r}, not {published!r}"
    if not check.get("comparable"):
        return "not comparable with the published protocol: " + "; ".join(check.get("reasons") or ["(no reason)"])
    if published == "mipnerf360" and len(check["split"]["test_views"]) != n_views:
        return (f"the checked split has {len(check['split']['test_views'])} test views; NerfBaselines published "
                f"{n_views} (another version of the dataset?)")
    return None


def _method_views(g: pd.DataFrame, check: dict, names: list[str]) -> tuple[dict | None, str | None]:
    """run view -> dataset image name for one method's views on a scene, or the reason they cannot be paired."""
    to_image = {v["view"]: v["dataset_image"] for v in check["views"]}
    views = list(g["view"])
    unmatched = [v for v in views if v not in to_image]
    if unmatched:
        return None, (f"{len(unmatched)} view(s) the check did not match to a dataset image (e.g. {unmatched[0]}): "
                      "the check was run on other files; check again")
    images = [to_image[v] for v in views]
    if len(set(images)) != len(images) or set(images) != set(names):
        missing, extra = sorted(set(names) - set(images)), sorted(set(images) - set(names))
        return None, (f"views differ from the published ones: {len(missing)} published view(s) missing"
                      f"{' (e.g. ' + missing[0] + ')' if missing else ''}, {len(extra)} not published"
                      f"{' (e.g. ' + extra[0] + ')' if extra else ''}"
                      + (", some dataset image scored twice" if len(set(images)) != len(images) else ""))
    return dict(zip(views, images)), None


def compare_with_published(per_view: pd.DataFrame, checks: dict, protocol: str, dataset: str, published: str, *,
                           metrics: list[str] | None = None, level: float = 0.95,
                           resamples: int = DEFAULT_RESAMPLES, seed: int = DEFAULT_SEED) -> PublishedComparison:
    """Pair every method of ``dataset`` (the store's name) in ``per_view`` (one row per method and view, a column
    per metric; runs already averaged) with every NerfBaselines method published on ``published`` (``mipnerf360``,
    ``blender``), scene by scene and over the paired scenes. ``checks``: the store's ``{(dataset, scene): check}``.
    """
    from ..baselines.per_view import METRIC_IDS, NAMED_DATASETS, PROTOCOL, load_per_view, per_view_datasets

    g = per_view[per_view["dataset"] == dataset]
    scenes = sorted(g["scene"].unique())
    refuse_all = None
    if published not in per_view_datasets() or published not in NAMED_DATASETS:
        refuse_all = (f"no per-view published results whose views nvs-eval can name for {published!r} (it can for "
                      f"{', '.join(NAMED_DATASETS)})")
    elif protocol != PROTOCOL:
        refuse_all = (f"a different protocol: these results were scored under {protocol!r}, the published values "
                      f"under NerfBaselines' evaluation, which the {PROTOCOL!r} preset reproduces")
    if refuse_all:
        return PublishedComparison(dataset, published, pd.DataFrame(),
                                   [{"scene": s, "method": None, "reason": refuse_all} for s in scenes])
    pubs: dict[str, list] = {}
    for s in load_per_view(published):
        pubs.setdefault(s.scene, []).append(s)
    metrics = [m for m in (metrics or METRIC_IDS.values()) if m in g.columns and m in METRIC_IDS.values()]
    refused, frames = [], []
    for scene in scenes:
        if scene not in pubs:
            refused.append({"scene": scene, "method": None, "reason": f"NerfBaselines published no {published} "
                            f"{scene!r} (it has {', '.join(sorted(pubs))})"})
            continue
        check = checks.get((dataset, scene))
        reason = _scene_refusal(published, scene, check, pubs[scene][0].n_views)
        if reason:
            refused.append({"scene": scene, "method": None, "reason": reason})
            continue
        names = _published_names(published, scene, pubs[scene][0].n_views, check)
        for method, mg in g[g["scene"] == scene].groupby("method", sort=True):
            mapping, why = _method_views(mg, check, names)
            if why:
                refused.append({"scene": scene, "method": method, "reason": why})
                continue
            mine = mg.assign(view=mg["view"].map(mapping))
            for pub in pubs[scene]:
                theirs = pd.DataFrame({"view": names, **{m: pub.values(m).astype(np.float64) for m in metrics}})
                pair = pd.concat([mine[["view", *metrics]].assign(method="mine"), theirs.assign(method="theirs")])
                frames.append(pair.assign(dataset=dataset, scene=scene, user=method, published=pub.method))
    rows = _tests(frames, metrics, level, resamples, seed, len(pubs))
    return PublishedComparison(dataset, published, rows, refused)


def _tests(frames: list[pd.DataFrame], metrics: list[str], level: float, resamples: int, seed: int,
           published_scenes: int) -> pd.DataFrame:
    if not frames:
        return pd.DataFrame()
    df = pd.concat(frames, ignore_index=True)
    out = []
    for metric in metrics:
        for (user, pub), pg in df.groupby(["user", "published"], sort=True):
            wide = pg.pivot_table(index=["dataset", "scene", "view"], columns="method", values=metric,
                                  aggfunc="first")
            n_scenes = pg["scene"].nunique()
            for scene in [*sorted(pg["scene"].unique()), ALL_SCENES]:
                sub = wide if scene == ALL_SCENES else wide.xs(scene, level="scene", drop_level=False)
                r = _paired(sub, metric, "mine", "theirs", level, resamples, seed, False)
                out.append({"method": user, "published": published_label(pub), "metric": metric, "scene": scene,
                            "difference": r["difference"], "lo": r["lo"], "hi": r["hi"], "p": r["p"],
                            "p_boot": r["p_boot"],
                            "views": r["views"], "scenes": r["scenes"] if scene == ALL_SCENES else 1,
                            "note": f"{n_scenes} of {published_scenes} published scenes paired" if scene == ALL_SCENES
                            else ""})
    rows = pd.DataFrame(out)
    rows["p_holm"] = rows["p_boot_holm"] = np.nan
    for idx in rows.groupby("metric").groups.values():
        rows.loc[idx, "p_holm"] = holm(rows.loc[idx, "p"].tolist())
        rows.loc[idx, "p_boot_holm"] = holm(rows.loc[idx, "p_boot"].tolist())
    return rows
