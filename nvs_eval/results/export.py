"""Human-readable exports beside the store, written atomically (temp file, then rename).

Per scene, ``results.json`` and ``per_view.json`` in the shapes the 3DGS ``metrics.py`` writes
(``{method: {"SSIM": .., "PSNR": .., "LPIPS": ..}}`` and ``{method: {"SSIM": {image: value}, ...}}``), so
existing scripts keep working; ``LPIPS`` is the protocol's first LPIPS metric and every metric also appears under
its own id. A tidy ``per_view.csv`` and ``summary.csv`` hold everything at full precision.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import pandas as pd

from ..conventions.registry import DEFAULT_AGGREGATION, METRICS
from ..errors import StoreError, option
from ..util.atomic import atomic_output, atomic_write_text
from .aggregate import dataset_summary, scene_summary, with_run_column

__all__ = ["atomic_output", "atomic_write_text", "check_output_folder", "write_exports"]


def check_output_folder(folder: Path, marker: str, force: bool) -> None:
    """Refuse to write into ``folder`` when it holds files that nvs-eval did not write there (no ``marker``),
    unless ``force``: existing results are never overwritten by accident."""
    folder = Path(folder)
    if force or not folder.exists():
        return
    if not folder.is_dir():
        raise StoreError(f"{folder}: exists and is not a folder")
    # ".<marker>.*" are nvs-eval's own files in the making (a store being created by another process)
    if (folder / marker).exists() or not any(not p.name.startswith(f".{marker}.") for p in folder.iterdir()):
        return
    raise StoreError(f"not empty and not an nvs-eval output folder (no {marker})", path=folder,
                     hint=f"choose another {option('out')} or pass {option('force')} to write into it")


def _json_value(v: float):
    return v if math.isfinite(v) else ("inf" if v > 0 else "-inf" if v < 0 else "nan")


def _legacy_keys(metrics: list[str]) -> dict[str, str]:
    keys = {"psnr": "PSNR", "ssim": "SSIM"}
    lp = [m for m in metrics if METRICS[m].kind == "lpips" and METRICS[m].family == "plain"]
    if lp:
        keys[lp[0]] = "LPIPS"
    return keys


def write_exports(per_view: pd.DataFrame, out: Path, protocol_settings: dict) -> list[Path]:
    """Write per-scene JSON (3DGS shapes) and tidy CSVs under ``out``; returns the paths written."""
    out = Path(out)
    written: list[Path] = []
    metrics = [m for m in METRICS if m in per_view.columns]
    legacy = _legacy_keys(metrics)
    for (dataset, scene), g in per_view.groupby(["dataset", "scene"], sort=True):
        results, views = {}, {}
        for method, gm in g.groupby("method", sort=True):
            results[method], views[method] = {}, {}
            for m in metrics:
                vals = gm[["view", m]].dropna()
                mean = float(vals[m].mean())
                per = {v: _json_value(float(x)) for v, x in zip(vals["view"], vals[m])}
                for key in {legacy.get(m, m), m}:
                    results[method][key] = _json_value(mean)
                    views[method][key] = per
        folder = out / "scenes" / str(dataset) / str(scene)
        for name, obj in (("results.json", results), ("per_view.json", views)):
            atomic_write_text(folder / name, json.dumps(obj, indent=1, sort_keys=True))
            written.append(folder / name)
    cols = ["dataset", "scene", "method", "view"] + metrics
    atomic_write_text(out / "per_view.csv", with_run_column(per_view[cols]).to_csv(index=False, float_format="%.10g"))
    aggregation = protocol_settings.get("aggregation", DEFAULT_AGGREGATION)  # summary.csv says which, in a column
    atomic_write_text(out / "scene_summary.csv",
                      scene_summary(per_view, aggregation).to_csv(index=False, float_format="%.10g"))
    atomic_write_text(out / "summary.csv",
                      dataset_summary(per_view, aggregation).to_csv(index=False, float_format="%.10g"))
    atomic_write_text(out / "protocol.json", json.dumps(protocol_settings, indent=1, sort_keys=True))
    written += [out / "per_view.csv", out / "scene_summary.csv", out / "summary.csv", out / "protocol.json"]
    return written
