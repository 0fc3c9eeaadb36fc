"""The numbers to reproduce: typed on the command line (``psnr=27.21``, matched to half a unit of the last
printed digit) or read from a tool's results file (3DGS ``results.json`` / ``per_view.json``, NerfBaselines,
``nvs-eval score --json``)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import UsageError, option

FLOAT_TOLERANCE = 1e-4  # targets given with more than 6 decimals (unrounded floats) match to this
TARGET_METRICS = ("psnr", "ssim", "lpips", "lpips_alex", "lpips_vgg", "lpips_squeeze")


@dataclass
class TargetValue:
    """One target: a value (or per-view values) and how close counts as reproducing it."""

    metric: str
    value: float
    tolerance: float
    per_view: dict[str, float] | None = None


def tolerance_of(text: str) -> float:
    """Half a unit of the last printed digit (``"27.21"`` -> 0.005), or :data:`FLOAT_TOLERANCE` for
    unrounded floats (more than 6 decimals).

    >>> tolerance_of("27.21"), tolerance_of("0.815"), tolerance_of("0.81530499458")
    (0.005, 0.0005, 0.0001)
    """
    text = text.strip().lower()
    mantissa = text.split("e")[0]
    decimals = len(mantissa.split(".")[1]) if "." in mantissa else 0
    if decimals > 6:
        return FLOAT_TOLERANCE
    exp = int(text.split("e")[1]) if "e" in text else 0
    return 0.5 * 10.0 ** (exp - decimals)


def _metric_name(name: str) -> str:
    m = name.strip().lower()
    if m not in TARGET_METRICS:
        raise UsageError(f"unknown target metric {name!r}; expected one of {', '.join(TARGET_METRICS)} "
                         "(lpips: any network)")
    return m


def parse_targets(text: str) -> dict[str, TargetValue]:
    """``"psnr=27.21,ssim=0.815,lpips_vgg=0.214"`` -> targets (tolerances from the printed digits).

    >>> t = parse_targets("psnr=27.21, lpips=0.2140")
    >>> t["psnr"].tolerance, t["lpips"].tolerance
    (0.005, 5e-05)
    """
    out = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        name, sep, value = part.partition("=")
        if not sep:
            raise UsageError(f"{option('target')}: got {part!r}", expected="METRIC=VALUE")
        try:
            v = float(value)
        except ValueError:
            raise UsageError(f"{option('target')}: {part!r}: {value!r} is not a number") from None
        out[_metric_name(name)] = TargetValue(_metric_name(name), v, tolerance_of(value))
    if not out:
        raise UsageError(f"{option('target')}: no targets given", expected="METRIC=VALUE[,METRIC=VALUE...]")
    return out




def _float_target(metric: str, values, views: list[str] | None, source: str) -> TargetValue:
    if isinstance(values, dict):  # per view, by file name
        per = {Path(str(k)).stem: float(v) for k, v in values.items()}
        return TargetValue(metric, float(np.mean(list(per.values()))), FLOAT_TOLERANCE, per)
    if isinstance(values, list):
        if views is not None and len(values) != len(views):
            raise UsageError(f"{source}: {metric} has {len(values)} per-view values but {len(views)} views are "
                             "paired")
        per = dict(zip(views or [str(i) for i in range(len(values))], map(float, values)))
        return TargetValue(metric, float(np.mean(values)), FLOAT_TOLERANCE, per)
    return TargetValue(metric, float(values), FLOAT_TOLERANCE)


def _score_json_targets(doc: dict, path: Path, method: str | None) -> dict[str, TargetValue]:
    """Targets from the JSON of ``nvs-eval score``: one method's per-view values."""
    rows = doc["views"]
    methods = list(dict.fromkeys(r["method"] for r in rows))
    pick = method or (methods[0] if len(methods) == 1 else None)
    if pick is None:
        raise UsageError(f"holds methods {', '.join(methods)}", path=path,
                         hint=f"name one with {option('target_method')}")
    rows = [r for r in rows if r["method"] == pick]
    return {m: _float_target(m, {r["view"]: r[m] for r in rows}, None, str(path))
            for m in doc["metrics"] if m in TARGET_METRICS}


def targets_from_file(path: str | Path, views: list[str] | None = None, method: str | None = None
                      ) -> dict[str, TargetValue]:
    """Targets from a tool's own output:

    * 3DGS ``results.json`` (``{"ours_30000": {"SSIM": ..., "PSNR": ..., "LPIPS": ...}}``) and ``per_view.json``
      (the same with ``{"00000.png": value}`` per metric: every view must match);
    * a NerfBaselines results JSON (``metrics_raw``: per-view float32 values, base64, in view order);
    * the ``--json`` of ``nvs-eval score`` (per view; ``method`` picks one when it holds several).
    """
    import base64
    import struct

    path = Path(path)
    try:
        doc = json.loads(path.read_text())
    except FileNotFoundError:
        raise UsageError(f"{path}: target file not found") from None
    except json.JSONDecodeError as e:
        raise UsageError(f"{path}: not JSON ({e})") from None
    out: dict[str, TargetValue] = {}
    if isinstance(doc, dict) and "metrics_raw" in doc:  # NerfBaselines
        for k, v in doc["metrics_raw"].items():
            if k in TARGET_METRICS:
                data = base64.b64decode(v)
                values = list(struct.unpack(f"<{len(data) // 4}f", data))
                out[k] = _float_target(k, values, views, str(path))
    elif isinstance(doc, dict) and "views" in doc and "metrics" in doc:  # nvs-eval score --json
        out = _score_json_targets(doc, path, method)
    elif isinstance(doc, dict) and doc and all(isinstance(v, dict) for v in doc.values()):  # 3DGS
        keys = sorted(doc)
        pick = method or (keys[-1] if len(keys) == 1 or method is None else None)
        if pick not in doc:
            raise UsageError(f"{path}: no method {pick!r}; it holds {', '.join(keys)}")
        for k, v in doc[pick].items():
            name = k.lower()
            if name in TARGET_METRICS:
                out[name] = _float_target(name, v, views, str(path))
    if not out:
        raise UsageError("no PSNR, SSIM or LPIPS values found", path=path,
                         expected="a 3DGS results.json / per_view.json, a NerfBaselines results JSON or the JSON "
                                  "that nvs-eval score writes")
    return out
