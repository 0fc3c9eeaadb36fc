"""A scene page's numbers, in the order the page shows them: the scene's means per method, the trajectory and
distribution figures, the per-view values and the input hashes (the comparisons and the viewer come from
:func:`nvs_eval.report.pages._comparisons`)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from ..conventions.registry import METRICS
from ..results.aggregate import display_name
from .table import fmt, fmt_spread

MASK = "+mask:"  # the masked families' gt_sha256 is "<ground truth sha256>+mask:<mask sha256>"


def scene_context(out: Path, slug: str, dataset: str, scene: str, g: pd.DataFrame, tidy: pd.DataFrame,
                  metrics: list[str], aggregation: str, figures: bool) -> dict:
    """Everything ``scene.html`` shows apart from the comparisons and the viewer."""
    figs = []
    if figures:
        from .figures import curves_figure, distribution_figure
        from .work import draw

        title = f"{dataset} / {scene}"
        draw(curves_figure, g, metrics, out / "figures" / slug / "curves.png", title)
        draw(distribution_figure, g, metrics, out / "figures" / slug / "distribution.png", title)
        figs = [{"heading": "Along the trajectory", "src": f"../figures/{slug}/curves.png",
                 "alt": "per-view values along the test trajectory"},
                {"heading": "Distributions", "src": f"../figures/{slug}/distribution.png",
                 "alt": "distributions of the per-view values"}]
    here = tidy[(tidy["dataset"] == dataset) & (tidy["scene"] == scene)]
    return {"dataset": dataset, "scene": scene, "means": means_context(g, metrics, aggregation), "figures": figs,
            "per_view": per_view_context(g, metrics), "hashes": hashes_context(input_hashes(here))}


def _head(metrics: list[str]) -> list[str]:
    return [METRICS[m].label + (" \u2191" if METRICS[m].higher_is_better else " \u2193") for m in metrics]


def means_context(g: pd.DataFrame, metrics: list[str], aggregation: str) -> dict:
    """One row per method (its runs averaged): the scene's value of each metric, the run-to-run spread beside."""
    from ..results.aggregate import scene_summary

    summary = scene_summary(g, aggregation)
    rows = []
    for r in summary.to_dict("records"):
        cells = [{"text": fmt(r[m], m), "small": f"\u00b1 {fmt_spread(r[f'{m}_run_std'], m)}" if r["runs"] > 1 else ""}
                 for m in metrics]
        rows.append([r["method"] + (f" ({r['runs']} runs)" if r["runs"] > 1 else ""), *cells])
    views = g["view"].nunique()
    return {"head": ["Method", *_head(metrics)], "rows": rows,
            "caption": f"The scene's {views} view(s), aggregated as {aggregation}; a method with several runs: the "
                       "mean over its runs \u00b1 their sample standard deviation."}


def per_view_context(g: pd.DataFrame, metrics: list[str]) -> dict:
    """Every method's (and run's) value on every view, sortable (``data-v`` holds the full value)."""
    rows = [[{"text": display_name(r["method"]), "v": display_name(r["method"])}, {"text": r["view"], "v": r["view"]},
             *({"text": f"{float(r[m]):.4f}", "v": repr(float(r[m]))} for m in metrics)]
            for r in g.sort_values(["view", "method"]).to_dict("records")]
    return {"head": ["Method", "View", *_head(metrics)], "rows": rows}


def input_hashes(tidy: pd.DataFrame) -> pd.DataFrame:
    """One row per method, view and input files: ``render_sha256``, ``gt_sha256``, ``mask_sha256`` (``""``
    without a mask).

    The store keeps one row per metric, and the masked families' ground-truth digest names the mask too
    (``<gt>+mask:<mask>``): taken as it is, every view of a benchmark with masks came out twice. The mask's digest
    is split off into its own column, so each view is listed once.
    """
    cols = ["method", "view", "render_sha256", "gt_sha256", "mask_sha256"]
    if tidy.empty:
        return pd.DataFrame(columns=cols)
    split = tidy["gt_sha256"].str.partition(MASK)
    df = pd.DataFrame({"method": tidy["method"], "view": tidy["view"], "render_sha256": tidy["render_sha256"],
                       "gt_sha256": split[0], "mask_sha256": split[2]})
    keys = cols[:4]
    masks = df.groupby(keys, sort=False)["mask_sha256"].agg(lambda s: ", ".join(sorted({m for m in s if m})))
    return masks.reset_index()[cols].sort_values(["view", "method"], kind="stable").reset_index(drop=True)


def hashes_context(hashes: pd.DataFrame) -> dict:
    masked = bool((hashes["mask_sha256"] != "").any())
    head = ["Method", "View", "render", "ground truth", *(["mask"] if masked else [])]
    short = lambda h: ", ".join(x[:16] for x in h.split(", ")) if h else ""
    rows = [[display_name(r.method), r.view, {"text": r.render_sha256[:16], "code": True},
             {"text": r.gt_sha256[:16], "code": True}, *([{"text": short(r.mask_sha256), "code": True}] if masked
                                                          else [])]
            for r in hashes.itertuples()]
    return {"head": head, "rows": rows}
