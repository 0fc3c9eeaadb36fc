"""The report's figures (legible small multiples), their process pool, its progress, and the maps kept from
scoring (nvs_eval/report/figures.py, report/work.py, compute/mapcache.py)."""

from __future__ import annotations

import io

import numpy as np
import pandas as pd
import pytest

from nvs_eval.report import figures
from nvs_eval.report.figures import DISPLAY_WIDTH_PX, MAX_ASPECT, MAX_PANELS_PER_ROW, MIN_TEXT_PX

from helpers import bench

METRICS10 = ["psnr", "ssim", "lpips_alex", "lpips_vgg", "cc_psnr", "cc_ssim", "masked_psnr", "masked_ssim", "dists",
             "flip"]


def per_view(methods: int = 5, views: int = 6) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    rows = [{"dataset": "d", "scene": "s", "method": f"method-{k}#run=seed{k}", "view": f"{v:04d}",
             **{m: float(rng.random()) for m in METRICS10}} for k in range(methods) for v in range(views)]
    return pd.DataFrame(rows)


def geometry_faults(fig) -> list[str]:
    """What makes ``fig`` illegible at :data:`DISPLAY_WIDTH_PX` (the page's reading width), shown at most that wide:
    more than MAX_PANELS_PER_ROW panels in a row, wider than MAX_ASPECT:1, or a text under MIN_TEXT_PX there."""
    from matplotlib.text import Text

    w_px, h_px = fig.get_figwidth() * fig.dpi, fig.get_figheight() * fig.dpi
    scale = min(1.0, DISPLAY_WIDTH_PX / w_px)  # an <img> with max-width 100%: shrunk to the page, never enlarged
    faults = []
    rows: dict[float, int] = {}
    for ax in fig.axes:
        if ax.get_visible():
            top = round(ax.get_position().y1, 3)
            rows[top] = rows.get(top, 0) + 1
    if max(rows.values()) > MAX_PANELS_PER_ROW:
        faults.append(f"{max(rows.values())} panels in a row")
    if w_px / h_px > MAX_ASPECT:
        faults.append(f"aspect {w_px / h_px:.1f}:1")
    for t in fig.findobj(Text):
        if t.get_visible() and t.get_text().strip():
            px = t.get_fontsize() * fig.dpi / 72 * scale
            if px < MIN_TEXT_PX:
                faults.append(f"{t.get_text()!r} at {px:.1f} px")
    return faults


def test_a_one_row_strip_of_ten_panels_is_found_illegible():
    """The check below can fail: the old layout (one row of 10 panels, 8 pt at 90 dpi, 3240 x 252 px) fails it."""
    plt = figures._plt()
    fig, axes = plt.subplots(1, 10, figsize=(36, 2.8), dpi=90)
    for ax in axes:
        ax.set_title("PSNR", fontsize=8)
    faults = geometry_faults(fig)
    plt.close(fig)
    assert any("panels in a row" in f for f in faults) and any("aspect" in f for f in faults)
    assert any(" px" in f and "aspect" not in f for f in faults)


def test_trajectory_distribution_and_interval_figures_are_legible_at_1000_px():
    df, metrics = per_view(), METRICS10
    ci = pd.DataFrame([{"method": m, "metric": x, "value": 0.5, "lo": 0.4, "hi": 0.6}
                       for m in df["method"].unique() for x in metrics])
    plt = figures._plt()
    for fig in (figures.curves_build(df, metrics, "d / s"), figures.distribution_build(df, metrics[:2], "d / s"),
                figures.ci_build(ci, metrics[:4])):
        try:
            assert geometry_faults(fig) == []
            assert round(fig.get_figwidth() * fig.dpi) == DISPLAY_WIDTH_PX
        finally:
            plt.close(fig)


def test_figures_drawn_in_a_pool_equal_those_drawn_serially_and_a_figure_error_is_raised(tmp_path):
    from nvs_eval.report.work import ReportWork, draw

    df, metrics = per_view(3, 4), METRICS10[:2]
    with pytest.raises(KeyError, match="no_such_metric"):
        with ReportWork(workers=2, progress=False) as work:
            draw(figures.curves_figure, df, metrics, tmp_path / "pool" / "c.png", "t")
            draw(figures.distribution_figure, df, metrics, tmp_path / "pool" / "d.png", "t")
            draw(figures.curves_figure, df, ["no_such_metric"], tmp_path / "pool" / "x.png", "t")
    assert work.pool is not None
    with ReportWork(workers=1, progress=False) as work:
        draw(figures.curves_figure, df, metrics, tmp_path / "serial" / "c.png", "t")
        draw(figures.distribution_figure, df, metrics, tmp_path / "serial" / "d.png", "t")
        assert work.pool is None  # one core: drawn here, no pool started
    for name in ("c.png", "d.png"):
        assert (tmp_path / "pool" / name).read_bytes() == (tmp_path / "serial" / name).read_bytes()
    assert not (tmp_path / "pool" / "x.png").exists()


def test_report_progress_counts_pages_and_figures_in_plain_lines():
    from nvs_eval.progress import Progress

    out = io.StringIO()
    with Progress(2, "report (pages and figures)", "item", every=0.0, file=out) as p:
        p.add(3)
        p.update(5)
    assert out.getvalue().splitlines()[-1].startswith("report (pages and figures): 5/5 items")


def test_the_report_knows_its_progress_total_before_its_first_figure(tmp_path, monkeypatch):
    """The cold try saw the total grow as figures were found (8/17, then 30/37, then 47/47): the figures are planned
    before the pages are written, so the total is right from the start, and a view whose images went missing is
    taken off it at the end."""
    import nvs_eval.progress
    from nvs_eval.api import evaluate
    from nvs_eval.report import write_report

    bars, added = [], []

    class Spy(nvs_eval.progress.Progress):
        def __init__(self, total, *a, **k):
            super().__init__(total, *a, **{**k, "enabled": False})
            bars.append(self)

        def add(self, n=1):
            added.append(n)
            super().add(n)

    res = evaluate(bench(tmp_path, views=3, metrics="psnr, lpips_alex"), tmp_path / "res", device="cpu",
                   progress=False)
    monkeypatch.setattr(nvs_eval.progress, "Progress", Spy)
    write_report(res.store, tmp_path / "rep", formats=("html",))
    (bar,) = bars
    # 1 scene + index + stats pages; curves, distributions, 3 views x (comparison, previews), the intervals
    assert bar.total == bar.done == 3 + 2 + 3 * 2 + 1 and added == [0]
    (tmp_path / "r" / "m1" / "s1" / "000.png").unlink()
    bars.clear(), added.clear()
    write_report(res.store, tmp_path / "rep2", formats=("html",))
    assert bars[0].done == bars[0].total and added and added[-1] < 0  # the missing view's figures came off


def test_maps_kept_at_scoring_are_the_maps_the_report_computes_and_a_changed_render_misses(tmp_path):
    from nvs_eval.api import evaluate
    from nvs_eval.compute.mapcache import MAX_SIDE, MapCache, map_kinds
    from nvs_eval.compute.maps import map_evaluator, view_maps
    from nvs_eval.data.images import image_ref
    from nvs_eval.report.work import ReportWork
    from nvs_eval.results.store import ResultsStore

    res = evaluate(bench(tmp_path, views=2, h=96, w=112), tmp_path / "res", device="cpu", progress=False)
    cache = MapCache.beside(res.store)
    assert len(list(cache.folder.rglob("*.npz"))) == 4  # 2 methods x 2 views
    with ResultsStore(res.store) as store:
        tidy = store.frame()
    row = tidy[(tidy["method"] == "m1") & (tidy["view"] == tidy["view"].min())].iloc[0]
    gt_ref, refs = image_ref(row["gt_path"]), {"m1": image_ref(row["render_path"])}
    ev = map_evaluator("nvs-eval", ["psnr", "ssim", "lpips_alex"])
    _, _, kept, hit = view_maps(ev, gt_ref, refs, cache)
    _, _, computed, again = view_maps(ev, gt_ref, refs, None)
    assert hit and not again and set(kept["m1"]) == set(map_kinds(ev.metrics)) == {"abs", "ssim", "lpips_alex"}
    for k, m in computed["m1"].items():
        assert kept["m1"][k].dtype == np.float16 and kept["m1"][k].shape == m.shape and max(m.shape) <= MAX_SIDE
        np.testing.assert_allclose(kept["m1"][k].astype(np.float32), m.astype(np.float32), rtol=2e-3, atol=2e-3)
    from PIL import Image

    Image.fromarray(np.zeros((96, 112, 3), np.uint8)).save(row["render_path"])  # replaced after it was scored
    assert view_maps(ev, gt_ref, refs, cache)[3] is False  # never a stale map
    err = io.StringIO()
    with ReportWork(res.store, progress=False) as work:
        import contextlib

        with contextlib.redirect_stderr(err):
            work.view_maps(ev, gt_ref, refs)
            work.view_maps(ev, gt_ref, refs)
    assert work.computed_views == 2 and err.getvalue().count("computing them") == 1  # said once


def test_figures_are_drawn_by_as_many_processes_as_cores_and_serially_on_one(monkeypatch):
    from nvs_eval.report import work

    monkeypatch.setattr(work.os, "sched_getaffinity", lambda _pid: {0}, raising=False)
    assert work.figure_workers() == 1 and work.ReportWork(progress=False).workers == 1
    monkeypatch.setattr(work.os, "sched_getaffinity", lambda _pid: set(range(64)), raising=False)
    assert work.figure_workers() == work.MAX_WORKERS
