"""The metric registry: a literal dict of small specs, the one place each metric id is named.

It lives outside ``nvs_eval.metrics`` so that reading it (CLI choices, config validation) never imports torch.

Installed plugins add their metrics here too (entry-point group ``nvs_eval.metrics``, :mod:`nvs_eval.plugin`).
The evaluator dispatches on a spec's ``kind``; reports rank with ``higher_is_better`` and print ``precision``
decimals; the CLI's ``--metrics`` and ``heatmap --metric`` choices, config validation and the figures' map labels
all derive from here.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Literal

from ..errors import PluginError, UsageError, option


@dataclass(frozen=True)
class MetricSpec:
    """What the evaluator and a report need to know about a metric id.

    Attributes:
        name: the id (``lpips_vgg``), as stored and exported.
        label: the table header (``LPIPS (VGG)``).
        higher_is_better: the direction reports rank by.
        precision: decimals printed in tables.
        kind: which adapter computes it: the kind of an adapter class registered in
            :mod:`nvs_eval.compute.adapters` (``register_adapter``, the one list of kinds; ``plugin`` for a
            third-party metric, :mod:`nvs_eval.plugin`). An evaluator asked for a metric whose kind has no adapter
            names both (tests/compute/test_adapters.py checks every built-in's).
        lpips_net: the LPIPS backbone (``kind == "lpips"`` only).
        map_label: the title of its per-pixel map (``heatmap``, report figures).
        family: ``plain``; ``cc``: the render is first colour-corrected to the ground truth
            (:func:`nvs_eval.metrics.color.color_correct`); ``masked``: only the pixels a mask selects count
            (:mod:`nvs_eval.metrics.masked`).
        about: one line: what it computes and whose definition (``nvs-eval protocols`` prints it).
        plugin: for a third-party metric, the package that provides it, ``name==version`` (part of every stored
            value's signature).
    """

    name: str
    label: str
    higher_is_better: bool
    precision: int
    kind: str
    lpips_net: str | None = None
    map_label: str | None = None
    family: Literal["plain", "cc", "masked"] = "plain"
    about: str = ""
    plugin: str | None = None


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
BUILTIN_METRICS: dict[str, MetricSpec] = {
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

# Third-party metrics: packages register them under this entry-point group (nvs_eval.plugin, docs/plugins.md).
PLUGIN_GROUP = "nvs_eval.metrics"
PLUGIN_ERRORS: dict[str, str] = {}  # entry-point name -> why it did not load (the built-ins are never affected)
_PLUGIN_FUNCTIONS: dict[str, Callable] = {}


def _load_plugins() -> dict[str, MetricSpec]:
    """Every installed plugin's metrics (``NVS_EVAL_NO_PLUGINS=1`` loads none). A plugin that fails to import,
    or whose metric is not a :func:`nvs_eval.plugin.metric` or clashes with another name, is recorded in
    :data:`PLUGIN_ERRORS` and left out."""
    if os.environ.get("NVS_EVAL_NO_PLUGINS"):
        return {}
    from importlib.metadata import entry_points

    out: dict[str, MetricSpec] = {}
    for ep in entry_points(group=PLUGIN_GROUP):
        dist = f"{ep.dist.name}=={ep.dist.version}" if getattr(ep, "dist", None) else ep.value
        try:
            obj = ep.load()
            for item in obj if isinstance(obj, (list, tuple)) else [obj]:
                out[item.name] = _plugin_spec(item, dist, out)
        except Exception as e:  # noqa: BLE001 - a broken plugin must never break the built-ins
            from ..entrypoints import FAILED, Failed

            fail = Failed(PLUGIN_GROUP, ep.name, dist, ep.value, f"{type(e).__name__}: {e}")
            FAILED.append(fail)  # one warning per package, whatever it registers (nvs_eval.entrypoints)
            PLUGIN_ERRORS[ep.name] = fail.message()
    return out


def _plugin_spec(item, dist: str, loaded: dict) -> MetricSpec:
    from ..plugin import PluginMetric

    if not isinstance(item, PluginMetric):
        raise PluginError(f"expected nvs_eval.plugin.metric(...), got {type(item).__name__}")
    if item.name in BUILTIN_METRICS or item.name in loaded:
        raise PluginError(f"metric name {item.name!r} is already taken")
    _PLUGIN_FUNCTIONS[item.name] = item.fn
    return MetricSpec(item.name, item.label, item.higher_is_better, item.precision, "plugin",
                      about=item.about or f"third-party metric from {dist}", plugin=dist)


def plugin_function(metric: str) -> Callable:
    """The scoring function a plugin registered for ``metric``."""
    METRICS._specs()
    return _PLUGIN_FUNCTIONS[metric]


class _Metrics(Mapping):
    """The built-in metrics, then the installed plugins' (loaded on first use, not at import)."""

    def __init__(self):
        self._all: dict[str, MetricSpec] | None = None

    def _specs(self) -> dict[str, MetricSpec]:
        if self._all is None:
            self._all = {**BUILTIN_METRICS, **_load_plugins()}
        return self._all

    def __getitem__(self, name: str) -> MetricSpec:
        return self._specs()[name]

    def __iter__(self):
        return iter(self._specs())

    def __len__(self) -> int:
        return len(self._specs())

    def __contains__(self, name) -> bool:
        return name in BUILTIN_METRICS or name in self._specs()


METRICS: Mapping[str, MetricSpec] = _Metrics()


def require_metrics(names) -> None:
    """Raise :class:`UsageError` naming every unknown metric id (and, for a plugin that did not load, why)."""
    METRICS._specs()
    unknown = [m for m in names if m not in METRICS]
    if unknown:
        why = "".join(f"; {PLUGIN_ERRORS[m]}" for m in unknown if m in PLUGIN_ERRORS)
        near = "".join(closest(m, METRICS) for m in unknown if m not in PLUGIN_ERRORS)
        raise UsageError(f"unknown metric(s) {', '.join(unknown)}{near}{why}",
                         hint=None if near or why else "`nvs-eval protocols` lists the metric ids")


def closest(word: str, options) -> str:
    """``"; did you mean 'x'?"`` for the option nearest ``word``, or ``""`` when none is near.

    >>> closest("lpips_alx", ["psnr", "lpips_alex", "lpips_vgg"])
    "; did you mean 'lpips_alex'?"
    """
    import difflib

    near = difflib.get_close_matches(str(word), [str(o) for o in options], n=1, cutoff=0.6)
    return f"; did you mean {near[0]!r}?" if near else ""


# How per-view values are aggregated (nvs_eval.results.aggregate): the mean of per-view values per scene, then the
# mean over scenes; PSNR from the mean MSE of a scene's views (PSNR-type metrics; the others as view-mean); or all
# views pooled, so scenes weigh by their view counts.
AGGREGATIONS = {
    "view-mean": "mean of per-view values per scene, then the mean of the scene means",  # the default
    "pooled-mse": "PSNR of the mean MSE over a scene's views (other metrics: view-mean), then the mean over scenes",
    "scene-weighted": "mean over all views of the dataset pooled (scenes weighted by their view counts)",
}

DEFAULT_AGGREGATION = "view-mean"
DEFAULT_SIGNIFICANCE = 0.05  # the paired tests' level (report --significance, the tables' dagger)
STORE_NAME = "results.sqlite"  # the store's file name in an output folder
MASK_REQUIRED = (f"masked metrics need a mask for every view ({option('masks')} or "
                 f"{option('mask_from_gt_alpha')})")

# Per-pixel maps: every metric with a map, plus the plain absolute error.
MAP_LABELS: dict[str, str] = {"abs": "|render - GT|",
                               **{m: s.map_label for m, s in BUILTIN_METRICS.items() if s.map_label}}


def parse_metric_list(text: str | None, default: tuple[str, ...]) -> tuple[str, ...]:
    """Parse ``"psnr,ssim,lpips_vgg"`` into validated metric ids (``None`` gives ``default``).

    >>> parse_metric_list("psnr, lpips_vgg", ("psnr",))
    ('psnr', 'lpips_vgg')
    >>> parse_metric_list("psnr,fid", ("psnr",))
    Traceback (most recent call last):
    ...
    nvs_eval.errors.UsageError: unknown metric(s) fid; `nvs-eval protocols` lists the metric ids
    >>> parse_metric_list("psnr,lpips_alx", ("psnr",))
    Traceback (most recent call last):
    ...
    nvs_eval.errors.UsageError: unknown metric(s) lpips_alx; did you mean 'lpips_alex'?
    """
    if text is None:
        return default
    names = tuple(m.strip() for m in text.split(",") if m.strip())
    require_metrics(names)
    if not names:
        raise UsageError("empty metric list")
    return names
