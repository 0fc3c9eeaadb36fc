"""DyCheck's masked metrics (Gao et al., NeurIPS 2022: mPSNR, mSSIM, mLPIPS over the co-visible pixels).

Transcribed from KAIR-BAIR/dycheck ``dycheck/core/metrics/image.py`` (commit ddf77a4):

* mPSNR (``compute_psnr``, lines 30-47): ``-10 log10(masked_mean((x - y)^2, m))``, the mask-weighted mean over
  pixels and channels (``dycheck/nn/functional/common.py:28-52``, ``masked_mean``): nvs-eval's
  :func:`~nvs_eval.metrics.masked.masked_psnr`.
* mSSIM (``compute_ssim``, lines 50-140): SSIM by *partial convolution* (Liu et al., ECCV 2018). The 11-tap Gaussian
  (sigma 1.5) runs as two ``valid`` 1-D passes, along the width first; each pass filters ``z * m``, multiplies by
  ``11 / (sum of the mask under the taps)`` where that sum is non-zero (else 0), and hands on the mask ``!= 0`` as
  the next pass's mask (so a soft mask's values count in the first pass only). Variances are clipped at 0 and the
  covariance to ``sqrt(var_x var_y)`` (as dm_pix). The map is averaged over *every* valid position: a window with
  no mask pixel has all moments 0 and scores exactly 1, so mSSIM rises with the masked-out area. (nvs-eval's own
  ``masked_ssim`` is normalised convolution weighted by the mask, where such windows do not count.)
* mLPIPS (``get_compute_lpips``, lines 143-196): LPIPS-Alex v0.1 with ``spatial=True`` on ``x * m`` and ``y * m``
  mapped to [-1, 1] (``lpips.im2tensor(..., factor=1/2)``), its upsampled map averaged under the mask. The mask
  zeroes the inputs: the network sees black outside it.

With an all-ones mask these are DyCheck's ``psnr``, ``ssim`` and ``lpips``; its LPIPS is then the mean of the
upsampled spatial map, which differs slightly from the standard spatially averaged LPIPS.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from .masked import check_mask, layer_weights

SIZE, SIGMA, K1, K2 = 11, 1.5, 0.01, 0.03


def _taps(dtype, device) -> Tensor:
    x = torch.arange(SIZE, dtype=torch.float64) - SIZE // 2
    f = torch.exp(-0.5 * (x / SIGMA) ** 2)
    return (f / f.sum()).to(dtype=dtype, device=device)


def _partial_pass(z: Tensor, m: Tensor, taps: Tensor, along_width: bool) -> tuple[Tensor, Tensor]:
    """One separable pass: ``(w * (z m)) * K / (1 * m)`` where the mask count is non-zero, and that mask."""
    n, c, h, w = z.shape
    shape = (1, 1, 1, SIZE) if along_width else (1, 1, SIZE, 1)
    zf = F.conv2d((z * m).reshape(n * c, 1, h, w), taps.reshape(shape)).reshape(n, c, *_out(h, w, along_width))
    count = F.conv2d(m, torch.ones(shape, dtype=m.dtype, device=m.device))
    out = torch.where(count != 0, zf * SIZE / count, torch.zeros_like(zf))
    return out, (count != 0).to(z.dtype)


def _out(h: int, w: int, along_width: bool) -> tuple[int, int]:
    return (h, w - SIZE + 1) if along_width else (h - SIZE + 1, w)


def _filter(z: Tensor, m: Tensor, taps: Tensor) -> Tensor:
    return _partial_pass(*_partial_pass(z, m, taps, True), taps, False)[0]


def dycheck_ssim(pred: Tensor, target: Tensor, mask: Tensor) -> Tensor:
    """DyCheck's mSSIM of each render (``Tensor[N]``, float64): see the module.

    Example:
        >>> g = torch.Generator().manual_seed(0)
        >>> x = torch.rand(1, 3, 32, 32, generator=g)
        >>> m = torch.zeros(1, 1, 32, 32); m[..., :16] = 1                  # the left half is co-visible
        >>> y = x.clone(); y[..., 16:] = 0                                   # the right half is wrong
        >>> round(float(dycheck_ssim(x, y, m)), 6), round(float(dycheck_ssim(x, y, torch.ones_like(m))), 3)
        (1.0, 0.473)
    """
    mask = check_mask(mask, pred).to(torch.float64).expand(pred.shape[0], -1, -1, -1)  # soft values as DyCheck
    x, y = pred.to(torch.float64), target.to(torch.float64).expand_as(pred)
    taps = _taps(torch.float64, x.device)
    # the five moments in one pass: each channel is filtered on its own, so stacking them changes no value
    mu0, mu1, xx, yy, xy = _filter(torch.cat([x, y, x * x, y * y, x * y], 1), mask, taps).split(3, 1)
    s00 = (xx - mu0 * mu0).clamp_min(0)
    s11 = (yy - mu1 * mu1).clamp_min(0)
    s01 = xy - mu0 * mu1
    s01 = torch.sign(s01) * torch.minimum(torch.sqrt(s00 * s11), s01.abs())
    c1, c2 = K1**2, K2**2
    smap = (2 * mu0 * mu1 + c1) * (2 * s01 + c2) / ((mu0 * mu0 + mu1 * mu1 + c1) * (s00 + s11 + c2))
    return smap.flatten(1).mean(1)


def dycheck_lpips(pred: Tensor, target: Tensor, mask: Tensor, model) -> Tensor:
    """DyCheck's mLPIPS of each render (``Tensor[N]``, float64): see the module. ``model`` is the
    :class:`~nvs_eval.metrics.lpips.LPIPS` to use (DyCheck's: AlexNet, v0.1, inputs mapped to [-1, 1])."""
    return masked_input_lpips(pred, target, check_mask(mask, pred), model)


def masked_input_lpips(pred: Tensor, target: Tensor, mask: Tensor, model) -> Tensor:
    """:func:`dycheck_lpips` of a mask already checked: both inputs zeroed outside the mask, the upsampled spatial
    map averaged under it, from the mask carried back to each layer (the same sum, no full-resolution map)."""
    m = mask.to(pred.dtype).expand(pred.shape[0], -1, -1, -1)
    weights = [layer_weights(m, s) for s in model.tap_sizes(*target.shape[-2:])]
    d = model.distance(model.features(pred * m), model.features(target * m), weights=weights)
    return d / m.flatten(1).sum(1).to(d)
