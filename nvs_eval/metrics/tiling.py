"""Exact tiling for the network metrics (LPIPS, DISTS): views too large for whole-image activations are cut into
cores, each extended by a halo that covers the network's receptive field, so every feature inside a core sees
exactly the pixels it sees in the whole image; per-core sums then add up to the whole image's."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from torch import Tensor

from .validate import check_image_batch


@dataclass(frozen=True)
class Tile:
    """A core ``[y0, y1) x [x0, x1)`` and the region read for it, the core plus its halo ``[ty0, ty1) x [tx0, tx1)``,
    of an ``h`` x ``w`` image."""

    y0: int
    y1: int
    x0: int
    x1: int
    ty0: int
    ty1: int
    tx0: int
    tx1: int
    h: int
    w: int

    def read(self, x: Tensor) -> Tensor:
        """The region of an image (batch) the tile's features are computed from."""
        return x[..., self.ty0 : self.ty1, self.tx0 : self.tx1]

    def core(self, t: Tensor, stride: int) -> tuple[Tensor, tuple[int, int]]:
        """The core's part of a layer computed from :meth:`read` (a layer of ``stride``), and where that part sits
        in the whole image's layer (row, column)."""
        r0, c0 = (self.y0 - self.ty0) // stride, (self.x0 - self.tx0) // stride
        r1 = (self.y1 - self.ty0) // stride if self.y1 < self.h else t.shape[-2]
        c1 = (self.x1 - self.tx0) // stride if self.x1 < self.w else t.shape[-1]
        return t[..., r0:r1, c0:c1], (self.ty0 // stride + r0, self.tx0 // stride + c0)


def tiles(h: int, w: int, tile: int, halo: int) -> Iterator[Tile]:
    """The tiles of an ``h`` x ``w`` image, row by row, clipped to the image."""
    for y0 in range(0, h, tile):
        y1 = min(y0 + tile, h)
        for x0 in range(0, w, tile):
            x1 = min(x0 + tile, w)
            yield Tile(y0, y1, x0, x1, max(0, y0 - halo), min(h, y1 + halo), max(0, x0 - halo), min(w, x1 + halo),
                       h, w)


def check_tiled(preds: Tensor, target: Tensor, tile: int, align: int) -> tuple[Tensor, Tensor]:
    """Inputs of a tiled network metric: predictions against one target of their size, and a tile side that keeps
    every pooling grid aligned (a positive multiple of ``align``)."""
    if tile % align or tile <= 0:
        raise ValueError(f"Expected a tile size that is a positive multiple of {align}, got {tile}")
    preds, target = check_image_batch(preds, "pred"), check_image_batch(target, "target")
    if target.shape[0] != 1 or preds.shape[1:] != target.shape[1:]:
        raise ValueError(f"Expected one target of the predictions' size, got {tuple(target.shape)} for "
                         f"{tuple(preds.shape)}")
    return preds, target
