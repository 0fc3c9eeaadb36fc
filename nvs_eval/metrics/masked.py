"""Masked metrics: PSNR, SSIM and LPIPS over the pixels a mask selects, with soft weights.

Zeroing the pixels outside a mask and averaging over the whole image (the common shortcut) inflates PSNR, lets
SSIM windows straddle the mask edge, and makes LPIPS measure the fill. Here a mask ``m`` in [0, 1] (1 = evaluate,
grey = soft weight) weights every pixel:

* ``masked_psnr = 10 log10(1 / (sum m (x - y)^2 / (3 sum m)))``: the MSE over the masked pixels only.
* ``masked_ssim``: SSIM whose local moments are mask-weighted, by normalised convolution (Knutsson and Westin,
  CVPR 1993): with the protocol's window ``w``, ``mu_x = w * (m x) / w * m``, ``E[x^2] = w * (m x^2) / w * m`` and
  so on for ``y``, ``y^2`` and ``x y``, then the protocol's SSIM formula on those moments; the map is averaged with
  weight ``m`` (map pixels whose window holds less than :data:`MIN_WINDOW_WEIGHT` of mask weight get weight 0).
  Padding follows the protocol: the image is padded as the protocol pads it (zeros or reflection) and the mask is
  padded by reflection (``reflect-same``) or edge replication (``zero-same``), so an all-ones mask gives exactly
  the protocol's unmasked SSIM, and a mask touching the border weights the padded pixels as the border pixels are.
* ``masked_lpips``: the LPIPS spatial map (each layer's distance upsampled to the image bilinearly, as the
  ``lpips`` package's ``spatial=True`` does) averaged with weight ``m``. A network's receptive field reaches across
  the mask edge, so unlike PSNR and SSIM, masked LPIPS still sees some pixels just outside the mask. It is
  computed without the full-resolution map, from the mask carried back to each layer (:func:`layer_weights`).

docs/metrics.md compares these with the two common wrong variants on a real example.
"""

from __future__ import annotations

from dataclasses import replace

import torch
import torch.nn.functional as F
from torch import Tensor

from ..errors import PreconditionError
from .ssim import SSIMSpec, _check_size, combine_moments, data_range, map_size, window_filter
from .validate import check_image_batch

MIN_WINDOW_WEIGHT = 1e-6  # below this much mask weight in a window, its SSIM value is left out


def check_mask(mask: Tensor, like: Tensor, name: str = "mask") -> Tensor:
    """``mask`` as (1 or N, 1, H, W) float in [0, 1] on ``like``'s device; raises if it selects nothing."""
    if mask.ndim != 4 or mask.shape[1] != 1 or mask.shape[-2:] != like.shape[-2:]:
        raise ValueError(f"Expected `{name}` of shape (N, 1, {like.shape[-2]}, {like.shape[-1]}), got "
                         f"{tuple(mask.shape)}")
    if not torch.isfinite(mask).all() or float(mask.min()) < 0 or float(mask.max()) > 1:
        raise ValueError(f"Expected `{name}` with finite values in [0, 1]")
    if float(mask.sum()) == 0.0:
        raise PreconditionError(f"the {name} selects no pixel (all zero)")
    return mask.to(like.dtype)


def masked_mse(pred: Tensor, target: Tensor, mask: Tensor) -> Tensor:
    """``sum m (x - y)^2 / (3 sum m)`` per image (``Tensor[N]``); ``mask`` broadcasts over the channels."""
    mask = check_mask(mask, pred)
    err = ((pred - target).square() * mask).flatten(1).sum(1)
    return err / (pred.shape[1] * mask.expand(pred.shape[0], -1, -1, -1).flatten(1).sum(1))


def masked_psnr(pred: Tensor, target: Tensor, mask: Tensor) -> Tensor:
    """PSNR over the masked pixels: ``10 log10(1 / masked MSE)`` (``+inf`` when they are identical there).

    Example:
        >>> x = torch.zeros(1, 3, 4, 4); y = x.clone(); y[..., :, 2:] = 0.5   # the right half differs
        >>> m = torch.zeros(1, 1, 4, 4); m[..., :, :2] = 1                     # evaluate the left half only
        >>> masked_psnr(x, y, m), masked_psnr(x, y, torch.ones(1, 1, 4, 4))
        (tensor([inf]), tensor([9.0309]))
    """
    pred, target = check_image_batch(pred, "pred"), check_image_batch(target, "target")
    return -10.0 * torch.log10(masked_mse(pred, target, mask))


def _pad_mode(spec: SSIMSpec) -> str | None:
    return {"valid": None, "reflect-same": "reflect", "zero-same": "replicate"}[spec.padding]


def filter_mask(mask: Tensor, spec: SSIMSpec) -> Tensor:
    """``w * m`` with the mask padded as the module docstring says (reflect, edge-replicate, or none)."""
    mode = _pad_mode(spec)
    if mode is None:
        return window_filter(mask, spec)
    p = spec.border
    return window_filter(F.pad(mask, (p, p, p, p), mode=mode), replace(spec, padding="valid"))


def mask_on_map(mask: Tensor, spec: SSIMSpec) -> Tensor:
    """The mask at the SSIM map's pixels (the centre crop for ``valid``)."""
    if spec.padding != "valid":
        return mask
    p = spec.border
    return mask[..., p : mask.shape[-2] - p, p : mask.shape[-1] - p]


def masked_ssim(pred: Tensor, target: Tensor, mask: Tensor, spec: SSIMSpec, *, return_map: bool = False):
    """SSIM with mask-weighted local moments, averaged with weight ``m`` (``Tensor[N]``; see the module).

    Args:
        pred, target: (N, 3, H, W) float in [0, 1] (``target`` may have batch 1).
        mask: (1 or N, 1, H, W) in [0, 1].
        spec: the protocol's SSIM.
        return_map: also return the map (0 where the window holds no mask weight) and its weights.
    """
    pred, target = check_image_batch(pred, "pred"), check_image_batch(target, "target")
    _check_size(pred, spec)
    if spec.channels != "rgb":
        raise ValueError(f"masked_ssim is defined on the RGB channels; the protocol's SSIM uses {spec.channels}")
    mask = check_mask(mask, pred)
    n = pred.shape[0]
    target = target.expand_as(pred)
    m = mask.expand(n, -1, -1, -1)
    fm = filter_mask(m, spec)  # (N, 1, H', W')
    stack = torch.cat([m * pred, m * target, m * pred * pred, m * target * target, m * pred * target], dim=0)
    moments = window_filter(stack, spec) / fm.repeat(5, 1, 1, 1).clamp_min(MIN_WINDOW_WEIGHT)
    mu_x, mu_y, xx, yy, xy = moments.split(n)
    smap = combine_moments(mu_x, mu_y, xx, yy, xy, data_range(pred, target, spec), spec)
    weight = mask_on_map(m, spec) * (fm > MIN_WINDOW_WEIGHT)
    smap = torch.where(weight > 0, smap, torch.zeros_like(smap))
    total = weight.flatten(1).sum(1) * pred.shape[1]
    value = (smap * weight).flatten(1).sum(1) / total
    return (value, smap, weight) if return_map else value


def _bilinear_taps(out_size: int, in_size: int, device) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """For each output index of a bilinear upsampling (``align_corners=False``, size given), its two source
    indices and their weights, as PyTorch's ``upsample_bilinear2d`` computes them (``area_pixel_compute_scale``,
    ``area_pixel_compute_source_index``: ``src = (i + 0.5) * in / out - 0.5``, clamped at 0)."""
    scale = torch.tensor(in_size / out_size, dtype=torch.float32)
    src = ((torch.arange(out_size, dtype=torch.float32) + 0.5) * scale - 0.5).clamp_min(0)
    i0 = src.floor().long().clamp_max(in_size - 1)
    lam = (src - i0.float()).clamp(0, 1)
    i1 = torch.where(i0 < in_size - 1, i0 + 1, i0)
    return i0.to(device), i1.to(device), (1 - lam).double().to(device), lam.double().to(device)


def layer_weights(mask: Tensor, size: tuple[int, int]) -> Tensor:
    """The mask carried back through a bilinear upsampling from ``size`` to the image: ``A_h^T m A_w``, where
    ``A`` upsamples a ``size`` map to the image as ``F.interpolate(..., mode="bilinear", align_corners=False)``
    does. So ``sum(m * upsample(d)) == sum(layer_weights(m) * d)`` for any layer map ``d``: the masked LPIPS
    needs no full-resolution map (and tiles exactly). (1 or N, 1, H, W) -> (1 or N, h, w), float64."""
    h, w = size
    H, W = mask.shape[-2:]
    m = mask[:, 0].to(torch.float64)
    i0, i1, l0, l1 = _bilinear_taps(H, h, m.device)
    rows = torch.zeros(m.shape[0], h, W, dtype=torch.float64, device=m.device)
    rows.index_add_(1, i0, m * l0[:, None]).index_add_(1, i1, m * l1[:, None])
    i0, i1, l0, l1 = _bilinear_taps(W, w, m.device)
    out = torch.zeros(m.shape[0], h, w, dtype=torch.float64, device=m.device)
    return out.index_add_(2, i0, rows * l0).index_add_(2, i1, rows * l1)


def masked_lpips(pred: Tensor, target: Tensor, mask: Tensor, model) -> Tensor:
    """LPIPS's spatial map, upsampled to the image (as the ``lpips`` package's ``spatial=True``), averaged with the
    mask's weights: ``sum(m * upsample(d)) / sum(m)`` per render (``Tensor[N]``, float64), computed from the mask
    carried back to each layer (:func:`layer_weights`), without the full-resolution map. ``model`` is an
    :class:`~nvs_eval.metrics.lpips.LPIPS`; the evaluator computes the same sum from the prepared ground truth."""
    mask = check_mask(mask, target)
    weights = [layer_weights(mask, s) for s in model.tap_sizes(*target.shape[-2:])]
    d = model.distance(model.features(pred), model.features(target), weights=weights)
    return d / mask.to(torch.float64).flatten(1).sum(1)


__all__ = ["check_mask", "filter_mask", "map_size", "mask_on_map", "masked_mse", "masked_psnr", "masked_ssim",
           "masked_lpips", "layer_weights", "MIN_WINDOW_WEIGHT"]
