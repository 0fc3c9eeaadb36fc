"""The metric registry: a literal dict of small specs. Reports rank with ``higher_is_better``."""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import UsageError


@dataclass(frozen=True)
class MetricSpec:
    """What a report needs to know about a metric id."""

    name: str
    label: str
    higher_is_better: bool
    precision: int
    lpips_net: str | None = None


METRICS: dict[str, MetricSpec] = {
    "psnr": MetricSpec("psnr", "PSNR", True, 2),
    "ssim": MetricSpec("ssim", "SSIM", True, 3),
    "lpips_alex": MetricSpec("lpips_alex", "LPIPS (Alex)", False, 3, lpips_net="alex"),
    "lpips_vgg": MetricSpec("lpips_vgg", "LPIPS (VGG)", False, 3, lpips_net="vgg"),
    "lpips_squeeze": MetricSpec("lpips_squeeze", "LPIPS (Squeeze)", False, 3, lpips_net="squeeze"),
}


def parse_metric_list(text: str | None, default: tuple[str, ...]) -> tuple[str, ...]:
    """Parse ``"psnr,ssim,lpips_vgg"`` into validated metric ids (``None`` gives ``default``)."""
    if text is None:
        return default
    names = tuple(m.strip() for m in text.split(",") if m.strip())
    unknown = [m for m in names if m not in METRICS]
    if unknown:
        raise UsageError(f"unknown metric(s) {', '.join(unknown)}; known: {', '.join(METRICS)}")
    if not names:
        raise UsageError("empty metric list")
    return names
