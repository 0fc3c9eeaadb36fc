"""ꟻLIP (Andersson, Nilsson, Akenine-Möller, Oskarsson, Åström and Fairchild, "FLIP: A Difference Evaluator for
Alternating Images", HPG 2020): LDR-FLIP through NVIDIA's own implementation, the PyPI package
``flip-evaluator`` (github.com/NVlabs/flip, ``src/python``: ``flip_evaluator.evaluate(reference, test, "LDR")``).

Standard viewing conditions, the package's defaults: a 0.7 m wide 3840-pixel monitor seen from 0.7 m, i.e.
67.02 pixels per degree. Inputs are sRGB images in [0, 1] (``inputsRGB=True``); the ground truth is the
reference. The value is the package's mean FLIP error, the map its per-pixel error in [0, 1] (no colour map).

The package computes on the CPU (C++ with OpenMP) from NumPy arrays, so on a CUDA evaluator the images are
copied to the host for this metric. Its version is part of every stored FLIP value's signature
(:func:`flip_signature`), so a different implementation never mixes silently with stored rows.
"""

from __future__ import annotations

import importlib.metadata

import numpy as np
import torch
from torch import Tensor

from ..errors import PreconditionError, WeightsError
from .validate import check_image_batch

PPD = 67.02064514160156  # the package's default: 0.7 m distance, 3840 px, 0.7 m wide


def _package():
    try:
        import flip_evaluator
    except ImportError:
        raise WeightsError("the flip metric needs NVIDIA's flip-evaluator package: pip install 'flip-evaluator>=1.7'") \
            from None
    return flip_evaluator


def flip_signature() -> str:
    """``flip-evaluator==<version>``: what a stored FLIP value was computed with."""
    _package()
    return f"flip-evaluator=={importlib.metadata.version('flip-evaluator')}"


def _hwc(x: Tensor) -> np.ndarray:
    return np.ascontiguousarray(x.detach().to("cpu", torch.float32).permute(1, 2, 0).numpy())


def flip(preds: Tensor, target: Tensor, *, return_maps: bool = False):
    """LDR-FLIP of each prediction against one target: ``Tensor[N]`` (float64), and the (N, H, W) maps.

    Args:
        preds: (N, 3, H, W) sRGB in [0, 1].
        target: (1, 3, H, W) or (N, 3, H, W), the reference.
        return_maps: also return the per-pixel error maps.

    Example:
        >>> import torch
        >>> x = torch.rand(1, 3, 32, 32, generator=torch.Generator().manual_seed(0))
        >>> [round(float(v), 4) for v in flip(torch.cat([x, 1 - x]), x)]
        [0.0, 0.524]
    """
    fe = _package()
    preds, target = check_image_batch(preds, "pred"), check_image_batch(target, "target")
    if target.shape[0] not in (1, preds.shape[0]) or preds.shape[1:] != target.shape[1:]:
        raise ValueError(f"Expected a target of batch 1 or {preds.shape[0]} and the predictions' size, got "
                         f"{tuple(target.shape)} for {tuple(preds.shape)}")
    if min(preds.shape[-2:]) < 2:
        raise PreconditionError(f"FLIP needs images of at least 2 pixels a side, got {tuple(preds.shape[-2:])}")
    values, maps = [], []
    ref = _hwc(target[0])
    for i in range(preds.shape[0]):
        if target.shape[0] > 1 and i:
            ref = _hwc(target[i])
        emap, mean, _ = fe.evaluate(ref, _hwc(preds[i]), "LDR", inputsRGB=True, applyMagma=False,
                                    computeMeanError=True, parameters={"ppd": PPD})
        values.append(float(mean))
        if return_maps:
            maps.append(torch.from_numpy(np.asarray(emap, dtype=np.float32)[..., 0].copy()))
    out = torch.tensor(values, dtype=torch.float64)
    return (out, torch.stack(maps)) if return_maps else out
