"""Structural similarity (Wang et al. 2004) with every convention in use pinned by an :class:`SSIMSpec`.

The variants differ only in how the local moments are filtered and how the border is treated:

* ``valid``: Gaussian window 11, sigma 1.5, no padding (the map is 10 pixels smaller in each dimension).
  The original SSIM paper, scikit-image with ``gaussian_weights=True``, dm_pix (mip-NeRF 360 / multinerf
  ``internal/image.py``) and NerfBaselines ``metrics.py``.
* ``zero-same``: the same window with zero padding of 5, as in the 3DGS ``utils/loss_utils.py``.
* ``reflect-same``: reflect padding of 5, as in torchmetrics >= 1.4.2
  (``functional/image/ssim.py``), used by nerfstudio's ``ns-eval``.
* ``skimage-default``: scikit-image's defaults (7x7 uniform window, sample covariance, valid crop).

The Gaussian is applied as two 1-D passes, and the five moments (x, y, x², y², xy) are filtered in one batched
pass. The target's two moments can be computed once (:func:`target_moments`) and reused for every prediction
scored against it (:func:`ssim_with_moments`). Both also work in bands of rows (``band=``), each band reading
only the input rows its window reaches, with the border made explicit where it meets the image edge, so a 4K view
needs the memory of a band instead of ~10 maps of the whole image.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, get_args

import torch
import torch.nn.functional as F
from torch import Tensor

from ..errors import PreconditionError
from .validate import check_image_batch, check_pair

Padding = Literal["valid", "zero-same", "reflect-same"]
Window = Literal["gaussian", "uniform"]
Covariance = Literal["population", "sample"]
Channels = Literal["rgb", "luma"]


@dataclass(frozen=True)
class SSIMSpec:
    """Everything that changes an SSIM number.

    Attributes:
        window: ``"gaussian"`` or ``"uniform"``.
        size: window side in pixels (odd).
        sigma: Gaussian standard deviation (ignored for a uniform window).
        padding: ``"valid"`` (crop the border), ``"zero-same"`` or ``"reflect-same"``.
        covariance: ``"population"`` (divide by the window weight, 1) or ``"sample"`` (times n / (n - 1)).
        k1, k2: stabilising constants.
        data_range: dynamic range L (1 for images in [0, 1]); ``None`` infers it per pair as
            ``max(pred.max() - pred.min(), target.max() - target.min())`` like torchmetrics' default.
        variance_floor: clamp variances below at this value and clip the covariance to
            ``sqrt(var_x * var_y)`` (dm_pix); ``None`` leaves moments as computed.
        clamp_variance_only: clamp only the two variances at 0 (torchmetrics), leaving the covariance alone.
        channels: ``"rgb"`` (the mean over the three channels' maps) or ``"luma"`` (SSIM of the BT.601 luma
            ``Y = 0.299 R + 0.587 G + 0.114 B``, as MATLAB's ``rgb2gray`` feeds the SSIM authors' ``ssim_index``).
    """

    window: Window = "gaussian"
    size: int = 11
    sigma: float = 1.5
    padding: Padding = "valid"
    covariance: Covariance = "population"
    k1: float = 0.01
    k2: float = 0.03
    data_range: float | None = 1.0
    variance_floor: float | None = None
    clamp_variance_only: bool = False
    channels: Channels = "rgb"

    def __post_init__(self) -> None:
        if self.size < 1 or self.size % 2 == 0:
            raise ValueError(f"Expected an odd positive SSIM window size, got {self.size}")
        if self.window == "gaussian" and self.sigma <= 0:
            raise ValueError(f"Expected a positive SSIM sigma, got {self.sigma}")
        if self.padding not in get_args(Padding):
            raise ValueError(f"Expected SSIM padding valid, zero-same or reflect-same, got {self.padding!r}")
        if self.channels not in get_args(Channels):
            raise ValueError(f"Expected SSIM channels rgb or luma, got {self.channels!r}")

    @property
    def border(self) -> int:
        """Pixels lost on each side of the map (``valid``) or padded (``same``)."""
        return self.size // 2


SSIM_VALID = SSIMSpec()
SSIM_ZERO = SSIMSpec(padding="zero-same")
SSIM_REFLECT = SSIMSpec(padding="reflect-same")
SSIM_SKIMAGE_DEFAULT = SSIMSpec(window="uniform", size=7, covariance="sample")


LUMA_BT601 = (0.299, 0.587, 0.114)


def to_channels(x: Tensor, spec: SSIMSpec) -> Tensor:
    """The image as SSIM sees it: unchanged (``rgb``) or its BT.601 luma, (N, 1, H, W) (``luma``)."""
    if spec.channels == "rgb":
        return x
    w = torch.tensor(LUMA_BT601, dtype=x.dtype, device=x.device).view(1, 3, 1, 1)
    return (x * w).sum(1, keepdim=True)


def window_1d(spec: SSIMSpec, dtype: torch.dtype = torch.float64, device: torch.device | str = "cpu") -> Tensor:
    """The normalised 1-D window whose outer product is the 2-D SSIM window."""
    if spec.window == "uniform":
        w = torch.ones(spec.size, dtype=torch.float64)
    else:
        x = torch.arange(spec.size, dtype=torch.float64) - spec.size // 2
        w = torch.exp(-(x**2) / (2.0 * spec.sigma**2))
    return (w / w.sum()).to(dtype=dtype, device=device)


def _check_size(x: Tensor, spec: SSIMSpec) -> None:
    h, w = x.shape[-2:]
    if h < spec.size or w < spec.size:
        raise PreconditionError(f"Expected images of at least {spec.size}x{spec.size} pixels for SSIM, got {h}x{w}")


def map_size(n: int, spec: SSIMSpec) -> int:
    """Rows (or columns) of the SSIM map of an image ``n`` rows (or columns) across."""
    return n - 2 * spec.border if spec.padding == "valid" else n


def window_filter(x: Tensor, spec: SSIMSpec, *, bordered: bool = False) -> Tensor:
    """Separable window filter of a (B, C, H, W) stack, with the spec's border handling. ``bordered``: ``x`` is a
    band from :func:`_border_rows` whose vertical border is already there (filtered vertically valid)."""
    b, c, h, w = x.shape
    k, p = spec.size, spec.border
    if not bordered:
        _check_size(x, spec)
    win = window_1d(spec, x.dtype, x.device)
    # Every (image, channel) plane is one channel of a depthwise convolution. On the CPU, channels-last makes
    # oneDNN vectorise across the planes: 27 planes of 800x800 filter in 0.15 s instead of 4.1 s as a batch of
    # single-channel images (one thread; the values are bit for bit the same).
    n = b * c
    flat = x.reshape(1, n, h, w)
    if x.device.type == "cpu":
        flat = flat.contiguous(memory_format=torch.channels_last)
    vpad = 0 if bordered else p
    if spec.padding == "reflect-same":
        flat = F.pad(flat, (p, p, vpad, vpad), mode="reflect")
        vpad = hpad = 0
    elif spec.padding == "zero-same":
        hpad = p
    else:
        vpad = hpad = 0
    out = F.conv2d(flat, win.view(1, 1, k, 1).expand(n, 1, k, 1), padding=(vpad, 0), groups=n)
    out = F.conv2d(out, win.view(1, 1, 1, k).expand(n, 1, 1, k), padding=(0, hpad), groups=n)
    return out.reshape(b, c, out.shape[-2], out.shape[-1])


def _border_rows(x: Tensor, spec: SSIMSpec, r0: int, r1: int) -> Tensor:
    """The input rows that map rows ``[r0, r1)`` read, with the spec's vertical border (zero or reflected rows)
    made explicit where the band reaches the image edge. Elementwise products of bands equal bands of products,
    so moments can be formed band by band."""
    p = spec.border
    if spec.padding == "valid":
        return x[..., r0 : r1 + 2 * p, :]
    h = x.shape[-2]
    a, b = max(0, r0 - p), min(h, r1 + p)
    top, bottom = p - (r0 - a), p - (b - r1)
    parts = []
    if top:
        parts.append(x.new_zeros(*x.shape[:-2], top, x.shape[-1]) if spec.padding == "zero-same"
                     else x[..., 1 : top + 1, :].flip(-2))
    parts.append(x[..., a:b, :])
    if bottom:
        parts.append(x.new_zeros(*x.shape[:-2], bottom, x.shape[-1]) if spec.padding == "zero-same"
                     else x[..., h - 1 - bottom : h - 1, :].flip(-2))
    return torch.cat(parts, dim=-2) if len(parts) > 1 else parts[0]


def _bands(height: int, band: int | None):
    if band is not None and band < 1:
        raise ValueError(f"Expected a positive SSIM band height, got {band}")
    step = band or height
    return [(r0, min(height, r0 + step)) for r0 in range(0, height, step)]


@dataclass(frozen=True)
class TargetMoments:
    """The filtered target moments E[y] and E[y²], reusable for every prediction of the same view."""

    target: Tensor
    mu: Tensor
    sq: Tensor
    spec: SSIMSpec


def target_moments(target: Tensor, spec: SSIMSpec = SSIM_VALID, *, band: int | None = None) -> TargetMoments:
    """Filter the target's two moments once. With ``band``, ``band`` map rows at a time: the working memory is
    that of a band, not of the image (for 4K views)."""
    target = to_channels(check_image_batch(target, "target"), spec)
    _check_size(target, spec)
    hm = map_size(target.shape[-2], spec)
    if band is None or band >= hm:
        both = window_filter(torch.cat([target, target * target], dim=0), spec)
        mu, sq = both.split(target.shape[0])
        return TargetMoments(target, mu, sq, spec)
    shape = (*target.shape[:-2], hm, map_size(target.shape[-1], spec))
    mu, sq = target.new_empty(shape), target.new_empty(shape)
    for r0, r1 in _bands(hm, band):
        t = _border_rows(target, spec, r0, r1)
        mu[..., r0:r1, :], sq[..., r0:r1, :] = window_filter(torch.cat([t, t * t], dim=0), spec, bordered=True).split(
            target.shape[0])
    return TargetMoments(target, mu, sq, spec)


def data_range(pred: Tensor, target: Tensor, spec: SSIMSpec) -> Tensor | float:
    """The SSIM constants' range ``L``: the spec's fixed value, or (``data_range=None``, torchmetrics' default) the
    larger of the two images' value spans, per image."""
    if spec.data_range is not None:
        return float(spec.data_range)
    span = lambda t: t.flatten(1).amax(1) - t.flatten(1).amin(1)  # noqa: E731
    return torch.maximum(span(pred), span(target)).view(-1, 1, 1, 1)


def combine_moments(mu_x: Tensor, mu_y: Tensor, xx: Tensor, yy: Tensor, xy: Tensor, rng, spec: SSIMSpec) -> Tensor:
    """The SSIM map from filtered moments. ``mu_x``, ``xx`` and ``xy`` are the caller's fresh filter outputs and
    are overwritten (the map is built in their memory, halving the passes over it); the target's ``mu_y`` and
    ``yy`` are only read. Every operation and its order is that of the textbook formula, so the values are the
    same bit for bit as computing it out of place."""
    mxy = mu_x * mu_y
    mxx = mu_x.mul_(mu_x)
    myy = mu_y * mu_y
    var_x = xx.sub_(mxx)
    var_y = yy - myy
    cov = xy.sub_(mxy)
    if spec.covariance == "sample":
        n = spec.size * spec.size
        scale = n / (n - 1.0)
        var_x.mul_(scale), var_y.mul_(scale), cov.mul_(scale)
    if spec.variance_floor is not None:
        var_x.clamp_min_(spec.variance_floor), var_y.clamp_min_(spec.variance_floor)
        cov = torch.sign(cov) * torch.minimum(torch.sqrt(var_x * var_y), cov.abs())
    elif spec.clamp_variance_only:
        var_x.clamp_min_(0.0), var_y.clamp_min_(0.0)
    c1 = (spec.k1 * rng) ** 2
    c2 = (spec.k2 * rng) ** 2
    num = mxy.mul_(2).add_(c1).mul_(cov.mul_(2).add_(c2))
    return num.div_(mxx.add_(myy).add_(c1).mul_(var_x.add_(var_y).add_(c2)))


def ssim_with_moments(pred: Tensor, moments: TargetMoments, *, return_map: bool = False, band: int | None = None):
    """SSIM of each prediction against a target whose moments were filtered by :func:`target_moments`.

    ``pred`` may hold N predictions of one target (the target batch is 1 and broadcasts) or the same
    batch size as the target. With ``band``, the map is formed ``band`` rows at a time and never held whole:
    bounded memory for large images, and on the CPU about twice as fast at any size, because a band's ~10
    intermediate maps stay in cache. The bands are summed in float64, so the value equals the unbanded mean up to
    float32 rounding. ``return_map`` needs the whole map and cannot be banded.
    """
    spec = moments.spec
    target = moments.target
    pred = to_channels(check_image_batch(pred, "pred"), spec)
    if pred.shape[1:] != target.shape[1:]:
        raise ValueError(f"Expected `pred` of shape (N, {tuple(target.shape[1:])}), got {tuple(pred.shape)}")
    if target.shape[0] not in (1, pred.shape[0]):
        raise ValueError(f"Expected a target batch of 1 or {pred.shape[0]}, got {target.shape[0]}")
    pred = pred.to(target.dtype)
    rng = data_range(pred, target.expand_as(pred), spec)
    hm = moments.mu.shape[-2]
    if band is None or band >= hm:
        filt = window_filter(torch.cat([pred, pred * pred, pred * target], dim=0), spec)
        mu_x, xx, xy = filt.split(pred.shape[0])
        smap = combine_moments(mu_x, moments.mu, xx, moments.sq, xy, rng, spec)
        value = smap.flatten(1).mean(1)
        return (value, smap) if return_map else value
    if return_map:
        raise ValueError("return_map=True needs the whole SSIM map; call without `band`")
    total = torch.zeros(pred.shape[0], dtype=torch.float64, device=pred.device)
    for r0, r1 in _bands(hm, band):
        p, t = _border_rows(pred, spec, r0, r1), _border_rows(target, spec, r0, r1)
        mu_x, xx, xy = window_filter(torch.cat([p, p * p, p * t], dim=0), spec, bordered=True).split(pred.shape[0])
        smap = combine_moments(mu_x, moments.mu[..., r0:r1, :], xx, moments.sq[..., r0:r1, :], xy, rng, spec)
        # float64 accumulation; the map is strided (channels innermost, from the filter), and torch reduces such a
        # layout ~15x slower than a contiguous copy of it (3 ms against 0.2 ms for a 1080p band of 3 renders)
        total += smap.contiguous().sum(dim=(1, 2, 3), dtype=torch.float64)
    return (total / (moments.mu[0].numel())).to(pred.dtype)


def ssim(pred: Tensor, target: Tensor, spec: SSIMSpec = SSIM_VALID, *, return_map: bool = False):
    """SSIM per image (``Tensor[N]``), optionally with its per-pixel, per-channel map.

    All five moments are filtered in one batched separable pass. With ``padding="valid"`` the map is
    ``(H - size + 1) x (W - size + 1)``; otherwise it is ``H x W``. The value is the mean of the map over
    channels and pixels (the convention of every reference cited in the module docstring).

    Args:
        pred: renders, (N, 3, H, W) float in [0, 1].
        target: ground truth of the same shape.
        spec: window, padding, covariance and constants (:class:`SSIMSpec`; a protocol pins one).
        return_map: also return the (N, 3, H', W') map.

    Returns:
        ``Tensor[N]``, or ``(Tensor[N], map)`` with ``return_map``.

    Raises:
        ValueError: shapes differ, or values are non-finite or outside [0, 1].
        PreconditionError: the images are smaller than the window.

    Example:
        >>> import torch
        >>> x = torch.linspace(0, 1, 3 * 16 * 16).reshape(1, 3, 16, 16)
        >>> ssim(x, x)
        tensor([1.])
        >>> value, smap = ssim(x, (x * 0.9).clamp(0, 1), return_map=True)
        >>> round(float(value), 4), tuple(smap.shape)
        (0.9908, (1, 3, 6, 6))
    """
    pred, target = check_pair(pred, target)
    pred, target = to_channels(pred, spec), to_channels(target, spec)
    n = pred.shape[0]
    filt = window_filter(torch.cat([pred, target, pred * pred, target * target, pred * target], dim=0), spec)
    mu_x, mu_y, xx, yy, xy = filt.split(n)
    smap = combine_moments(mu_x, mu_y, xx, yy, xy, data_range(pred, target, spec), spec)
    value = smap.flatten(1).mean(1)
    return (value, smap) if return_map else value
