"""Multi-scale evaluation: views rendered at several resolutions, summarised per scale and by mip-NeRF's "Avg".

A view's scale is read from its id, the one place it is written:

* ``..._d<j>``: mip-NeRF's multi-scale Blender (google/mipnerf ``scripts/convert_blender_data.py``: the test image
  ``i`` at level ``j`` is ``images_test/{i:03d}_d{j}.png``, ``j`` box-downsamplings by 2), so the image is
  ``1 / 2^j`` of the full resolution;
* ``r<s>/...``: renders at 3DGS's ``-r s`` (Mip-Splatting's single-scale-train / multi-scale-test protocol,
  ``test_preds_<s>``), ``1 / s`` of the full resolution.

:func:`scale_summary` averages each method's views per scale within a scene, then over scenes. :func:`mipnerf_avg`
is the "Avg" of mip-NeRF's Table 1 exactly as google/mipnerf ``scripts/summarize.ipynb`` (``summarize_results``)
computes it: PSNR, SSIM and LPIPS are each averaged over the scales (PSNR in dB), then ``exp(mean(log([10^(-PSNR
/ 10), sqrt(1 - SSIM), LPIPS])))``: one number, the geometric mean of the three errors.
"""

from __future__ import annotations

import math
import re

import pandas as pd

_LEVEL = re.compile(r"_d(\d+)$")
_RES = re.compile(r"^r(\d+)/")


def view_scale(view: str) -> int | None:
    """The view's downsampling factor relative to the full resolution, or ``None`` for a single-scale view id.

    >>> view_scale("images_test/003_d2"), view_scale("r8/00012"), view_scale("test/r_0")
    (4, 8, None)
    """
    m = _LEVEL.search(view)
    if m:
        return 2 ** int(m.group(1))
    m = _RES.match(view)
    return int(m.group(1)) if m else None


def scale_label(factor: int) -> str:
    return "full" if factor == 1 else f"1/{factor}"


def scales_of(per_view: pd.DataFrame) -> list[int]:
    """The scales of a dataset's views, coarsest last; ``[]`` unless every view has one and there are two or more."""
    scales = [view_scale(str(v)) for v in per_view["view"].unique()]
    if not scales or any(s is None for s in scales) or len(set(scales)) < 2:
        return []
    return sorted(set(scales))


def scale_summary(per_view: pd.DataFrame, metrics: list[str]) -> pd.DataFrame:
    """``dataset, method, scale`` and each metric: the mean over a scene's views of that scale, then over scenes
    (a method with several runs: each run so, then the mean over runs)."""
    from .aggregate import split_runs

    df = split_runs(per_view)
    df["scale"] = [view_scale(str(v)) for v in df["view"]]
    df = df[df["scale"].notna()]
    scene = df.groupby(["dataset", "scene", "method", "run", "scale"], sort=True)[metrics].mean().reset_index()
    run = scene.groupby(["dataset", "method", "run", "scale"], sort=True)[metrics].mean().reset_index()
    return run.groupby(["dataset", "method", "scale"], sort=True)[metrics].mean().reset_index()


def mipnerf_avg(psnr: list[float], ssim: list[float], lpips: list[float]) -> float:
    """mip-NeRF's "Avg" of per-scale PSNR, SSIM and LPIPS (scripts/summarize.ipynb, ``summarize_results``).

    >>> round(mipnerf_avg([30.0, 32.0], [0.95, 0.97], [0.05, 0.03]), 6)
    0.018522
    """
    p, s, lp = (sum(v) / len(v) for v in (psnr, ssim, lpips))
    mse, dssim = math.exp(-0.1 * math.log(10.0) * p), math.sqrt(1 - s)
    return math.exp((math.log(mse) + math.log(dssim) + math.log(lp)) / 3)
