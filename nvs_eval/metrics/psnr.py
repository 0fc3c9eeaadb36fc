"""Peak signal-to-noise ratio, one value per image."""

from __future__ import annotations

import torch
from torch import Tensor

from .validate import check_pair


def mse(pred: Tensor, target: Tensor) -> Tensor:
    """Mean squared error per image: ``Tensor[N]``."""
    pred, target = check_pair(pred, target)
    return (pred - target).square().flatten(1).mean(1)


def psnr(pred: Tensor, target: Tensor) -> Tensor:
    """PSNR per image, ``10 * log10(1 / MSE)`` for images in [0, 1] (``Tensor[N]``).

    Args:
        pred: renders, (N, 3, H, W) float in [0, 1].
        target: ground truth of the same shape.

    Returns:
        ``Tensor[N]``, in dB.

    Raises:
        ValueError: shapes differ, or values are non-finite or outside [0, 1] (nothing is clamped).

    Identical images give ``+inf``; aggregation keeps them and reports a mean of ``inf`` (see
    ``nvs_eval.results.aggregate``), it never caps PSNR at an arbitrary value. This is the mean of per-image PSNR
    convention of the 3DGS, multinerf, NerfBaselines and nerfstudio evaluations, never PSNR of pooled MSE.

    Example:
        >>> import torch
        >>> a = torch.zeros(1, 3, 4, 4); b = torch.full((1, 3, 4, 4), 0.1)
        >>> psnr(a, b)
        tensor([20.])
    """
    return psnr_from_mse(mse(pred, target))


def psnr_from_mse(err: Tensor) -> Tensor:
    """PSNR from per-image MSE values (``inf`` where the MSE is zero)."""
    return -10.0 * torch.log10(err)
