"""nvs-eval: evaluation of novel-view synthesis renders under named, reproducible protocols.

Data flows load (``nvs_eval.data``) -> pair -> compute (``nvs_eval.metrics``, ``nvs_eval.compute``) ->
aggregate and store (``nvs_eval.results``) -> report (``nvs_eval.report``).

Everything a notebook needs is importable from here, and imported on first use (PEP 562), so ``import nvs_eval``
and ``nvs-eval --help`` stay instant::

    import nvs_eval
    df = nvs_eval.score_folders({"mine": "renders/"}, "gt/", protocol="3dgs")
    lpips = nvs_eval.build_lpips("vgg")[0]         # build once, reuse; also a training loss
"""

from __future__ import annotations

import importlib

from .util.version import __version__

_EXPORTS = {
    # the API (nvs_eval.api)
    "score_folders": "api", "score_layout": "api", "score_scenes": "api", "evaluate": "api",
    "read_results": "api", "pair_scenes": "api",
    # kernels (nvs_eval.metrics)
    "psnr": "metrics.psnr", "mse": "metrics.psnr", "ssim": "metrics.ssim", "SSIMSpec": "metrics.ssim",
    "build_lpips": "metrics.lpips", "LPIPS": "metrics.lpips", "METRICS": "conventions.registry",
    # protocols, the evaluator, loaders, reports
    "PROTOCOLS": "conventions.protocols", "Protocol": "conventions.protocols",
    "get_protocol": "conventions.protocols",
    "Evaluator": "compute.evaluator", "read_image": "data.images", "load_layout": "data.layouts",
    "LAYOUTS": "data.layouts", "write_report": "report",
}
__all__ = ["__version__", *_EXPORTS]


def __getattr__(name: str):
    if name in _EXPORTS:
        return getattr(importlib.import_module(f".{_EXPORTS[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)
