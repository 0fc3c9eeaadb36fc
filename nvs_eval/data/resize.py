"""The explicit opt-in ``--resize-gt``: resize a ground-truth image to its render's size.

nvs-eval never resizes by default (a size mismatch is a pairing error that names the likely cause). Papers that
evaluate at a reduced resolution resize the ground truth with some program, and each gives other numbers, so the
method is part of the protocol (``Protocol.resize_gt``) and of every stored row's signature:

* ``area``: box filter over each output pixel's footprint (``torch.nn.functional.interpolate(mode="area")``,
  i.e. adaptive average pooling; exact block means for integer factors, like ``cv2.INTER_AREA``).
* ``bicubic-pil``: Pillow's ``Image.resize(size, Image.BICUBIC)``, the default resampling of ``Image.resize``
  that 3DGS (``utils/general_utils.py`` ``PILtoTorch``) and most PIL-based loaders use.
* ``lanczos-pil``: Pillow's ``Image.LANCZOS`` (the usual choice of scripts that make ``images_N`` folders).
* ``antialias-torch``: ``torch.nn.functional.interpolate(mode="bilinear", antialias=True, align_corners=False)``.

The Pillow filters run where those loaders run them: on the 8-bit image when the decoded file is 8-bit (every
value a multiple of 1/255), so their rounding to 8 bits is reproduced; otherwise on each float channel (mode F).
Resizing happens after alpha compositing.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import ImageReadError

RESIZE_METHODS = {
    "area": "box filter (torch interpolate mode=area)",
    "bicubic-pil": "Pillow Image.resize BICUBIC (3DGS PILtoTorch's default), in 8 bits for 8-bit files",
    "lanczos-pil": "Pillow Image.resize LANCZOS, in 8 bits for 8-bit files",
    "antialias-torch": "torch interpolate bilinear, antialias=True",
}


def _is_8bit(x: np.ndarray) -> bool:
    return bool(np.array_equal((np.round(x * 255.0) / 255.0).astype(np.float32), x))


def _pil(x: np.ndarray, size: tuple[int, int], resample) -> np.ndarray:
    from PIL import Image

    h, w = size
    if _is_8bit(x):
        u8 = np.round(x * 255.0).astype(np.uint8)
        return np.asarray(Image.fromarray(u8).resize((w, h), resample), dtype=np.float32) / np.float32(255.0)
    planes = [np.asarray(Image.fromarray(np.ascontiguousarray(x[..., c]), mode="F").resize((w, h), resample))
              for c in range(x.shape[2])]
    return np.stack(planes, axis=-1).astype(np.float32)


def _torch(x: np.ndarray, size: tuple[int, int], **kw) -> np.ndarray:
    import torch
    import torch.nn.functional as F

    t = torch.from_numpy(np.ascontiguousarray(x)).permute(2, 0, 1)[None]
    out = F.interpolate(t, size=size, **kw)[0].permute(1, 2, 0)
    return np.ascontiguousarray(out.numpy(), dtype=np.float32)


def resize_to(x: np.ndarray, size: tuple[int, int], method: str, path: Path | str = "image") -> np.ndarray:
    """Resize an H x W x 3 float32 image in [0, 1] to ``size`` = (height, width) with ``method``.

    Values stay in [0, 1]: bicubic and Lanczos overshoot at edges in float, and the overshoot is clipped (as the
    8-bit path clips it), which the protocol states.

    >>> resize_to(np.ones((8, 8, 3), np.float32), (4, 4), "area").shape
    (4, 4, 3)
    """
    from PIL import Image

    if x.shape[:2] == tuple(size):
        return x
    if method == "area":
        out = _torch(x, size, mode="area")
    elif method == "antialias-torch":
        out = _torch(x, size, mode="bilinear", antialias=True, align_corners=False)
    elif method == "bicubic-pil":
        out = _pil(x, size, Image.BICUBIC)
    elif method == "lanczos-pil":
        out = _pil(x, size, Image.LANCZOS)
    else:
        raise ImageReadError(f"{path}: unknown resize method {method!r}; known: {', '.join(RESIZE_METHODS)}")
    return np.clip(out, 0.0, 1.0, out=out)
