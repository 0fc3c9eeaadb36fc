"""Colour correction before scoring: multinerf's ``color_correct``, batched in torch, for the ``cc_*`` metrics.

For in-the-wild captures with per-image exposure or white balance, mip-NeRF 360 / multinerf (google-research/
multinerf ``internal/image.py``, ``color_correct(img, ref, num_iters=5, eps=0.5 / 255)``, used by ``eval.py`` for
its ``metric_cc_*`` values) warps the render to the ground truth before scoring: per output channel, a least-squares
fit of a quadratic expansion of the render's colour (the 6 products ``x_c x_d`` for ``c <= d``, the 3 channels
and a bias) to the ground truth's channel, over the pixels that are unsaturated (in ``[eps, 1 - eps]``) in the
original render, in the current estimate and in the ground truth; the warp is applied, clipped to [0, 1], and
the fit is repeated ``num_iters`` times from the corrected image. multinerf casts both images to float64 first
("to ensure high precision for color correction") and solves with ``np.linalg.lstsq``.

Here the same steps run in float64 on the images' device, all images of a batch at once. Each least-squares
problem is solved through its 10 x 10 normal equations with the minimum-norm solution (``torch.linalg.lstsq``,
``gelsd``) on the CPU, which is the same solution as ``lstsq`` of the tall system; the result is float32, as the
rest of the pipeline.
"""

from __future__ import annotations

import torch
from torch import Tensor

EPS = 0.5 / 255
NUM_ITERS = 5


def _expand(x: Tensor) -> Tensor:
    """(N, P, 3) -> (N, P, 10): ``x_c x_d`` for ``c <= d`` in multinerf's order, then ``x``, then 1 (the terms of
    :func:`_expand_channels`, pixel-major)."""
    return _expand_channels(x.transpose(1, 2)).transpose(1, 2).contiguous()


def _channels(img: Tensor) -> Tensor:
    """(N, 3, H, W) -> its pixels channel-major, (N, 3, P) float64 and contiguous."""
    return img.detach().to(torch.float64).flatten(2).contiguous()


def _expand_channels(x: Tensor) -> Tensor:
    """(N, 3, P) -> (N, 10, P): ``x_c x_d`` for ``c <= d`` in multinerf's order, then ``x``, then 1."""
    quad = [x[:, c : c + 1] * x[:, c:] for c in range(x.shape[1])]
    return torch.cat([*quad, x, torch.ones_like(x[:, :1])], dim=1)


def pixels(img: Tensor) -> Tensor:
    """(N, 3, H, W) -> its pixels (N, P, 3) in float64, the form every colour fit works on."""
    return img.detach().to(torch.float64).flatten(2).transpose(1, 2)


def to_image(x: Tensor, shape: torch.Size) -> Tensor:
    """Pixels (N, P, 3) back to an image of ``shape`` (N, 3, H, W), float32."""
    return x.transpose(1, 2).reshape(shape).to(torch.float32)


def lstsq(design: Tensor, target: Tensor) -> Tensor:
    """Least squares ``design @ p = target`` per image, (N, P, K), (N, P, C) -> (N, K, C): through the K x K normal
    equations, minimum-norm (``gelsd``) on the CPU, returned on ``design``'s device."""
    return _solve(design.transpose(1, 2) @ design, design.transpose(1, 2) @ target)


def _solve(gram: Tensor, rhs: Tensor) -> Tensor:
    """The minimum-norm solution of normal equations ``gram @ p = rhs``, (N, K, K), (N, K, C) -> (N, K, C), solved
    on the CPU (``gelsd``) and returned on ``gram``'s device."""
    return torch.linalg.lstsq(gram.cpu(), rhs.cpu(), driver="gelsd").solution.to(gram.device)


def _unclipped(z: Tensor, eps: float) -> Tensor:
    return (z >= eps) & (z <= 1 - eps)


def color_correct(img: Tensor, ref: Tensor, num_iters: int = NUM_ITERS, eps: float = EPS) -> Tensor:
    """Warp each image of ``img`` (N, 3, H, W) to match the colours of ``ref`` (1 or N, 3, H, W).

    Returns:
        The corrected images, float32, same shape as ``img``, in [0, 1].

    Example:
        >>> g = torch.Generator().manual_seed(0)
        >>> ref = torch.rand(1, 3, 32, 32, generator=g) * 0.8 + 0.1
        >>> img = (ref * 0.7 + 0.05).clamp(0, 1)                  # an exposure change
        >>> float((color_correct(img, ref) - ref).abs().max()) < 1e-5
        True
    """
    corrected, _ = color_correct_fit(img, ref, num_iters, eps)
    return to_image(corrected, img.shape)


def color_correct_fit(img: Tensor, ref: Tensor, num_iters: int = NUM_ITERS, eps: float = EPS) -> tuple[Tensor, Tensor]:
    """multinerf's fit: the corrected pixels, (N, P, 3) float64, and the warp of each iteration, (N, num_iters,
    10, 3) float64 (:func:`apply_warps` applies them to other pixels of the same images).

    The pixels are held channel-major, (N, C, P), so every product and sum runs over contiguous memory: the same
    arithmetic as the pixel-major form, about 8x faster on the CPU (benchmarks/RESULTS.md)."""
    n, c = img.shape[:2]
    x = _channels(img)  # (N, 3, P)
    y = _channels(ref).expand(n, -1, -1)
    ok = _unclipped(x, eps) & _unclipped(y, eps)  # unclipped in the original render and in the reference
    warps = []
    for _ in range(num_iters):
        a = _expand_channels(x)  # (N, 10, P)
        keep = (ok & _unclipped(x, eps)).to(a.dtype)
        warp = []
        for ch in range(c):
            design = a * keep[:, ch : ch + 1]  # the pixels used for this channel; the others are zero rows
            warp.append(_solve(design @ design.transpose(1, 2), design @ y[:, ch : ch + 1].transpose(1, 2)))
        warps.append(torch.cat(warp, dim=-1))  # (N, 10, 3)
        x = (warps[-1].transpose(1, 2) @ a).clamp(0, 1)  # (N, 3, P)
    return x.transpose(1, 2), torch.stack(warps, dim=1)


def apply_warps(img: Tensor, warps: Tensor) -> Tensor:
    """The warps of :func:`color_correct_fit` applied in turn to ``img`` (N, 3, H, W), each clipped to [0, 1] as
    the fit clipped its own pixels; float32 (N, 3, H, W)."""
    x = pixels(img)
    for i in range(warps.shape[1]):
        x = (_expand(x) @ warps[:, i].to(x.device)).clamp(0, 1)
    return to_image(x, img.shape)
