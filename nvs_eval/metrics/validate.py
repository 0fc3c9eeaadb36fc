"""The one input validator every kernel calls. It always runs (no ``assert``)."""

from __future__ import annotations

import contextlib
import math
import threading

import torch
from torch import Tensor

_TRUSTED = threading.local()


@contextlib.contextmanager
def validated():
    """Inside this block, the kernels skip their own range check of inputs the caller has just checked (the
    evaluator checks each batch once; on a GPU every range check is a synchronisation). Shape and type checks
    still run. Per thread."""
    old = getattr(_TRUSTED, "on", False)
    _TRUSTED.on = True
    try:
        yield
    finally:
        _TRUSTED.on = old


def check_image_batch(x: Tensor, name: str, *, check_range: bool = True) -> Tensor:
    """Check that ``x`` is a float NCHW RGB batch with finite values in [0, 1].

    Half-precision inputs are promoted to float32 (they are computed in float32, never in fp16).
    Returns the (possibly promoted) tensor.
    """
    if not isinstance(x, Tensor):
        raise TypeError(f"Expected `{name}` to be a torch.Tensor, got {type(x).__name__}")
    if x.ndim != 4:
        raise ValueError(f"Expected `{name}` to have NCHW shape (4 dimensions), got shape {tuple(x.shape)}")
    if x.shape[1] != 3:
        raise ValueError(f"Expected `{name}` to have 3 channels (RGB) in dimension 1, got shape {tuple(x.shape)}")
    if not x.is_floating_point():
        raise TypeError(f"Expected `{name}` to be a floating point tensor in [0, 1], got dtype {x.dtype}")
    if x.dtype in (torch.float16, torch.bfloat16):
        x = x.float()
    if x.numel() == 0:
        raise ValueError(f"Expected `{name}` to be non-empty, got shape {tuple(x.shape)}")
    if check_range and not getattr(_TRUSTED, "on", False):
        # one pass and one read back to the host (on a GPU, one synchronisation per batch, not three): the
        # minimum and maximum propagate NaN, and an infinity is one of them
        with torch.no_grad():
            lo, hi = torch.stack(torch.aminmax(x.detach())).tolist()
        if not (math.isfinite(lo) and math.isfinite(hi)):
            raise ValueError(f"Expected `{name}` to be finite, but it contains NaN or Inf")
        if lo < 0.0 or hi > 1.0:
            raise ValueError(f"Expected `{name}` to be in [0, 1], got values in [{lo:.6g}, {hi:.6g}]")
    return x


def check_pair(pred: Tensor, target: Tensor) -> tuple[Tensor, Tensor]:
    """Validate a prediction/target pair: each a valid batch, same shape, same device, same dtype."""
    pred = check_image_batch(pred, "pred")
    target = check_image_batch(target, "target")
    if pred.shape != target.shape:
        raise ValueError(
            f"Expected `pred` and `target` to have the same shape, got {tuple(pred.shape)} and {tuple(target.shape)}"
        )
    if pred.device != target.device:
        raise ValueError(f"Expected `pred` and `target` on the same device, got {pred.device} and {target.device}")
    if pred.dtype != target.dtype:
        dtype = torch.promote_types(pred.dtype, target.dtype)
        pred, target = pred.to(dtype), target.to(dtype)
    return pred, target

