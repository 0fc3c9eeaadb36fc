"""The metric registry: a literal dict of small specs, the one place each metric id is named.

It lives outside ``nvs_eval.metrics`` so that reading it (CLI choices, config validation) never imports torch.

The evaluator dispatches on a spec's ``kind``; reports rank with ``higher_is_better`` and print ``precision``
decimals; the CLI's ``--metrics`` and ``heatmap --metric`` choices, config validation and the figures' map labels
all derive from here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from .errors import UsageError


@dataclass(frozen=True)
class MetricSpec:
    """What the evaluator and a report need to know about a metric id.

    Attributes:
        name: the id (``lpips_vgg``), as stored and exported.
        label: the table header (``LPIPS (VGG)``).
        higher_is_better: the direction reports rank by.
        precision: decimals printed in tables.
        kind: which kernel computes it: ``psnr``, ``ssim`` or ``lpips``.
        lpips_net: the LPIPS backbone (``kind == "lpips"`` only).
        map_label: the title of its per-pixel map (``heatmap``, report figures).
        family: ``plain``; ``cc``: the render is first colour-corrected to the ground truth
            (:func:`nvs_eval.metrics.color.color_correct`); ``masked``: only the pixels a mask selects count
            (:mod:`nvs_eval.metrics.masked`).
    """

    name: str
    label: str
    higher_is_better: bool
    precision: int
    kind: Literal["psnr", "ssim", "lpips"]
    lpips_net: str | None = None
    map_label: str | None = None
    family: Literal["plain", "cc", "masked"] = "plain"


_PLAIN = {
    "psnr": MetricSpec("psnr", "PSNR", True, 2, "psnr"),
    "ssim": MetricSpec("ssim", "SSIM", True, 3, "ssim", map_label="1 - SSIM"),
    "lpips_alex": MetricSpec("lpips_alex", "LPIPS (Alex)", False, 3, "lpips", "alex", "LPIPS-Alex map"),
    "lpips_vgg": MetricSpec("lpips_vgg", "LPIPS (VGG)", False, 3, "lpips", "vgg", "LPIPS-VGG map"),
    "lpips_squeeze": MetricSpec("lpips_squeeze", "LPIPS (Squeeze)", False, 3, "lpips", "squeeze", "LPIPS-Squeeze map"),
}
# The families papers add: the same kernels on the colour-corrected render, or over the masked pixels only.
_FAMILIES = {"cc": "CC-", "masked": "Masked "}
METRICS: dict[str, MetricSpec] = {
    **_PLAIN,
    **{f"{fam}_{m}": MetricSpec(f"{fam}_{m}", prefix + s.label, s.higher_is_better, s.precision, s.kind, s.lpips_net,
                                None, fam)
       for fam, prefix in _FAMILIES.items() for m, s in _PLAIN.items() if m != "lpips_squeeze"},
}

# Per-pixel maps: every metric with a map, plus the plain absolute error.
MAP_LABELS: dict[str, str] = {"abs": "|render - GT|", **{m: s.map_label for m, s in METRICS.items() if s.map_label}}


def parse_metric_list(text: str | None, default: tuple[str, ...]) -> tuple[str, ...]:
    """Parse ``"psnr,ssim,lpips_vgg"`` into validated metric ids (``None`` gives ``default``).

    >>> parse_metric_list("psnr, lpips_vgg", ("psnr",))
    ('psnr', 'lpips_vgg')
    >>> parse_metric_list("psnr,fid", ("psnr",))
    Traceback (most recent call last):
    ...
    nvs_eval.errors.UsageError: unknown metric(s) fid; known: psnr, ssim, lpips_alex, lpips_vgg, lpips_squeeze, ...
    """
    if text is None:
        return default
    names = tuple(m.strip() for m in text.split(",") if m.strip())
    unknown = [m for m in names if m not in METRICS]
    if unknown:
        raise UsageError(f"unknown metric(s) {', '.join(unknown)}; known: {', '.join(METRICS)}")
    if not names:
        raise UsageError("empty metric list")
    return names
