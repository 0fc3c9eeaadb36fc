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
        kind: which kernel computes it: ``psnr``, ``ssim``, ``lpips``, ``dists`` (:mod:`nvs_eval.metrics.dists`)
            or ``flip`` (:mod:`nvs_eval.metrics.flip`).
        lpips_net: the LPIPS backbone (``kind == "lpips"`` only).
        map_label: the title of its per-pixel map (``heatmap``, report figures).
        family: ``plain``; ``cc``: the render is first colour-corrected to the ground truth
            (:func:`nvs_eval.metrics.color.color_correct`); ``masked``: only the pixels a mask selects count
            (:mod:`nvs_eval.metrics.masked`).
        about: one line: what it computes and whose definition (``nvs-eval protocols`` prints it).
    """

    name: str
    label: str
    higher_is_better: bool
    precision: int
    kind: Literal["psnr", "ssim", "lpips", "dists", "flip"]
    lpips_net: str | None = None
    map_label: str | None = None
    family: Literal["plain", "cc", "masked"] = "plain"
    about: str = ""


_LPIPS = "LPIPS v0.1 (Zhang et al. 2018, richzhang/PerceptualSimilarity), {} backbone, input as the protocol maps it"
_PLAIN = {
    "psnr": MetricSpec("psnr", "PSNR", True, 2, "psnr", about="10 log10(1 / MSE) over RGB in [0, 1]"),
    "ssim": MetricSpec("ssim", "SSIM", True, 3, "ssim", map_label="1 - SSIM",
                       about="SSIM (Wang et al. 2004) with the protocol's window, padding and constants"),
    "lpips_alex": MetricSpec("lpips_alex", "LPIPS (Alex)", False, 3, "lpips", "alex", "LPIPS-Alex map",
                             about=_LPIPS.format("AlexNet")),
    "lpips_vgg": MetricSpec("lpips_vgg", "LPIPS (VGG)", False, 3, "lpips", "vgg", "LPIPS-VGG map",
                            about=_LPIPS.format("VGG16")),
    "lpips_squeeze": MetricSpec("lpips_squeeze", "LPIPS (Squeeze)", False, 3, "lpips", "squeeze", "LPIPS-Squeeze map",
                                about=_LPIPS.format("SqueezeNet 1.1 (weights given by the user)")),
}
# The families papers add: the same kernels on the colour-corrected render, or over the masked pixels only.
_FAMILIES = {"cc": "CC-", "masked": "Masked "}
_FAMILY_ABOUT = {"cc": "{}, of the render colour-corrected to the ground truth (multinerf internal/image.py "
                       "color_correct)",
                 "masked": "{}, over the pixels a mask selects, soft weights allowed (nvs_eval.metrics.masked)"}
METRICS: dict[str, MetricSpec] = {
    **_PLAIN,
    **{f"{fam}_{m}": MetricSpec(f"{fam}_{m}", prefix + s.label, s.higher_is_better, s.precision, s.kind, s.lpips_net,
                                None, fam, _FAMILY_ABOUT[fam].format(m))
       for fam, prefix in _FAMILIES.items() for m, s in _PLAIN.items() if m != "lpips_squeeze"},
    # the perceptual metrics papers add beside LPIPS (no masked / colour-corrected variants: none is published)
    "dists": MetricSpec("dists", "DISTS", False, 3, "dists",
                        about="DISTS (Ding et al. 2020, dingkeyan93/DISTS): L2-pooled VGG16, inputs in [0, 1] always"),
    "flip": MetricSpec("flip", "FLIP", False, 3, "flip", map_label="FLIP map",
                       about="LDR-FLIP (Andersson et al. 2020) by NVIDIA's flip-evaluator, 67 pixels per degree"),
}

# How per-view values are aggregated (nvs_eval.results.aggregate): the mean of per-view values per scene, then the
# mean over scenes; PSNR from the mean MSE of a scene's views (PSNR-type metrics; the others as view-mean); or all
# views pooled, so scenes weigh by their view counts.
AGGREGATIONS = {
    "view-mean": "mean of per-view values per scene, then the mean of the scene means",
    "pooled-mse": "PSNR of the mean MSE over a scene's views (other metrics: view-mean), then the mean over scenes",
    "scene-weighted": "mean over all views of the dataset pooled (scenes weighted by their view counts)",
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
