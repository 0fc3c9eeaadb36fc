"""Pure metric kernels on float NCHW images in [0, 1]: one value per image, maps from the same kernels.

Every kernel has one signature style::

    kernel(pred, target[, mask][, spec], *, options) -> Tensor[N]

``pred`` is N renders ``(N, 3, H, W)`` and ``target`` their ground truth of the same shape, float in [0, 1];
``mask`` (masked kernels) is ``(1 or N, 1, H, W)`` in [0, 1]; ``spec`` is the kernel's settings
(:class:`SSIMSpec`); a per-pixel map comes from the same kernel with ``return_map=True`` (``return_maps=True``
for FLIP). No kernel reduces over the batch: aggregation is :mod:`nvs_eval.results`'s.
The network metrics are modules built once by ``build_lpips`` / ``build_dists`` (which load and check their
weights) and called the same way, ``model(pred, target) -> Tensor[N]``.

=================  ==========================================================================================
PSNR               :func:`psnr`, :func:`mse`, :func:`psnr_from_mse`
SSIM               :func:`ssim`; prepared ground truth: :func:`target_moments`, :func:`ssim_with_moments`
LPIPS              :class:`LPIPS` (``model(pred, target, spatial=False)``), :func:`build_lpips`
DISTS              :class:`DISTS` (``model(pred, target)``), :func:`build_dists`
FLIP               :func:`flip` (NVIDIA's flip-evaluator, LDR, 67 pixels per degree)
masked             :func:`masked_psnr`, :func:`masked_mse`, :func:`masked_ssim` (``spec`` after the mask),
                   :func:`masked_lpips` (``model`` after the mask)
DyCheck            :func:`dycheck_ssim` (partial convolution), :func:`dycheck_lpips` (``model`` after the mask);
                   its mPSNR is :func:`masked_psnr`
colour correction  :func:`color_correct` (multinerf; ``cc_*`` metrics score the corrected render)
=================  ==========================================================================================
"""

from ..conventions.registry import METRICS, MetricSpec
from .color import color_correct
from .dists import DISTS, build_dists
from .dycheck import dycheck_lpips, dycheck_ssim
from .flip import flip
from .lpips import LPIPS, build_lpips
from .masked import masked_lpips, masked_mse, masked_psnr, masked_ssim
from .psnr import mse, psnr, psnr_from_mse
from .ssim import (
    SSIM_REFLECT,
    SSIM_SKIMAGE_DEFAULT,
    SSIM_VALID,
    SSIM_ZERO,
    SSIMSpec,
    ssim,
    ssim_with_moments,
    target_moments,
)

__all__ = [
    "LPIPS", "build_lpips", "mse", "psnr", "METRICS", "MetricSpec", "SSIMSpec", "ssim", "ssim_with_moments",
    "target_moments", "SSIM_VALID", "SSIM_ZERO", "SSIM_REFLECT", "SSIM_SKIMAGE_DEFAULT",
    "psnr_from_mse", "DISTS", "build_dists", "flip", "masked_mse", "masked_psnr", "masked_ssim", "dycheck_ssim",
    "color_correct", "masked_lpips", "dycheck_lpips",
]
