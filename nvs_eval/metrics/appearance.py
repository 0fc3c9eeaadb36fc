"""Closed-form appearance fits for in-the-wild scenes (the protocol setting ``appearance_fit``).

Methods trained on photo collections (NeRF-W and its kin) model each image's exposure and white balance with an
appearance embedding. NerfBaselines' ``nerfw`` protocol (nerfbaselines/datasets/phototourism.py:132-193) lets a
method optimise the embedding of a test image on its left half, ``W - W // 2`` columns, and scores the right half,
columns ``W // 2`` onward. A method that cannot optimise an embedding can instead be given one of these fits, each
solved by least squares in float64 from the left half of the render to the left half of the ground truth, applied
to the right half of the render, and clipped to [0, 1]:

* ``gain-bias``: per channel, ``y_c = a_c x_c + b_c`` (6 parameters);
* ``affine``: a 3 x 4 colour matrix, ``y = M [x; 1]`` (12 parameters);
* ``color-correct``: multinerf's quadratic fit (google-research/multinerf ``internal/image.py`` ``color_correct``:
  5 iterations of a 10-term quadratic per channel over unsaturated pixels), each iteration's warp applied in turn
  (5 x 10 x 3 parameters; :func:`nvs_eval.metrics.color.color_correct_fit`).

Each least-squares problem is solved through its normal equations with the minimum-norm solution
(``torch.linalg.lstsq``, ``gelsd``), so a constant channel gives a well-defined fit.
"""

from __future__ import annotations

from typing import Literal, get_args

import torch
from torch import Tensor

from .color import apply_warps, color_correct_fit, lstsq, pixels, to_image

# the values of the protocol setting ``appearance_fit`` (nvs_eval.conventions.settings declares it)
AppearanceFit = Literal["none", "gain-bias", "affine", "color-correct"]
FITS = tuple(f for f in get_args(AppearanceFit) if f != "none")


def left_half(x: Tensor) -> Tensor:
    """The columns a method may fit its appearance on: the first ``W - W // 2``."""
    w = x.shape[-1]
    return x[..., : w - w // 2]


def right_half(x: Tensor) -> Tensor:
    """The columns that are scored: ``W // 2`` onward (NerfBaselines' ``[:, (w//2):]``)."""
    return x[..., x.shape[-1] // 2 :]


def fit(kind: str, render: Tensor, gt: Tensor) -> Tensor:
    """The parameters that map ``render`` (N, 3, H, W) to ``gt`` (1 or N, 3, H, W): float64, (N, 3, 2) for
    ``gain-bias`` (gain, bias per channel), (N, 3, 4) for ``affine``, (N, 5, 10, 3) for ``color-correct``."""
    n = render.shape[0]
    gt = gt.expand(n, -1, -1, -1)
    if kind == "color-correct":
        return color_correct_fit(render, gt)[1]
    x, y = pixels(render), pixels(gt)
    ones = torch.ones_like(x[..., :1])
    if kind == "gain-bias":
        per = [lstsq(torch.cat([x[..., c : c + 1], ones], -1), y[..., c : c + 1])[..., 0] for c in range(3)]
        return torch.stack(per, dim=1)  # (N, 3, 2)
    if kind == "affine":
        return lstsq(torch.cat([x, ones], -1), y).transpose(1, 2)  # (N, 3, 4)
    raise ValueError(f"unknown appearance fit {kind!r}; known: {', '.join(FITS)}")


def apply(kind: str, params: Tensor, render: Tensor) -> Tensor:
    """``render`` (N, 3, H, W) mapped by the fitted ``params`` and clipped to [0, 1], float32."""
    if kind == "color-correct":
        return apply_warps(render, params)
    x = pixels(render)
    p = params.to(x.device)
    if kind == "gain-bias":
        y = x * p[:, None, :, 0] + p[:, None, :, 1]
    elif kind == "affine":
        y = x @ p[..., :3].transpose(1, 2) + p[:, None, :, 3]
    else:
        raise ValueError(f"unknown appearance fit {kind!r}; known: {', '.join(FITS)}")
    return to_image(y.clamp(0, 1), render.shape)


def fit_right_half(kind: str, render: Tensor, gt_left: Tensor) -> tuple[Tensor, Tensor]:
    """Fit on the left half of ``render`` against ``gt_left`` (the ground truth's left half); return the fitted
    right half of ``render`` and the parameters.

    Example:
        >>> g = torch.Generator().manual_seed(0)
        >>> gt = torch.rand(1, 3, 8, 9, generator=g) * 0.5 + 0.2
        >>> render = (gt - 0.1) / 1.5                          # an exposure change the fit undoes
        >>> right, p = fit_right_half("gain-bias", render, left_half(gt))
        >>> right.shape, bool(torch.allclose(right, right_half(gt), atol=1e-6)), [round(v, 5) for v in p[0, 0].tolist()]
        (torch.Size([1, 3, 8, 5]), True, [1.5, 0.1])
    """
    params = fit(kind, left_half(render), gt_left)
    return apply(kind, params, right_half(render)), params
