"""DISTS (Ding, Ma, Wang and Simoncelli, "Image Quality Assessment: Unifying Structure and Texture Similarity",
TPAMI 2020), layer for layer as the authors' PyTorch code (``DISTS_pytorch/DISTS_pt.py`` in
github.com/dingkeyan93/DISTS, shipped on PyPI as ``dists-pytorch`` 0.1).

* Backbone: torchvision's ImageNet VGG16 ``features`` (``DISTS_pt.py`` line 30), each of its four max-pools
  (indices 4, 9, 16, 23) replaced by an L2 pooling (lines 11-25): square, a depthwise 3x3 Hann filter
  ``[.5, 1, .5]^T [.5, 1, .5] / 4`` with stride 2 and padding 1, then ``sqrt(. + 1e-12)``.
* Input: images in [0, 1], normalised with ImageNet's mean and std (lines 54-55 and 68). Not LPIPS's input:
  LPIPS's scaling layer holds the same normalisation rounded to three decimals (``(2x - 1 + 0.030) / 0.458``
  against ``(x - 0.485) / 0.229``), so the two networks' features differ from the first layer on and DISTS
  cannot reuse LPIPS-VGG's (tests/test_dists.py measures the difference).
* Six feature sets: the image itself and relu1_2, relu2_2, relu3_3, relu4_3, relu5_3 (lines 67-79). For each
  channel: the global means, variances and covariance of the two images' features, then (lines 90-107)
  ``S1 = (2 mx my + c1) / (mx² + my² + c1)`` (texture), ``S2 = (2 cov + c2) / (vx + vy + c2)`` (structure),
  ``c1 = c2 = 1e-6``, and ``DISTS = 1 - sum(alpha S1 + beta S2)`` with the published alpha and beta normalised
  by their total.

The images are scored at the size given, as the reference's ``prepare_image(resize=False)`` default does.
Moments are accumulated in float64 (the reference averages in float32), which is what lets large views be
scored in tiles with the same result: each tile carries :data:`TILE_HALO` pixels of context on its inner sides,
which covers the receptive field's reach (105 px at relu5_3 with the 3x3 L2 pools).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..errors import PreconditionError
from .backbones import features as backbone_features
from .lpips import conv_memory_format
from .tiling import check_tiled, tiles
from .validate import check_image_batch, check_pair
from .weights import WeightsInfo, load_backbone, load_dists

STAGES = ((0, 4), (5, 9), (10, 16), (17, 23), (24, 30))  # torchvision VGG16 `features` slices between the pools
CHANNELS = (3, 64, 128, 256, 512, 512)
STRIDES = (1, 1, 2, 4, 8, 16)
TILE_ALIGN = 16
TILE_HALO = 112
C1 = C2 = 1e-6
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
MIN_SIDE = 16


class L2Pool(nn.Module):
    """``sqrt(hann3x3 * x² + 1e-12)`` with stride 2, channel by channel (the reference's ``L2pooling``)."""

    def __init__(self, channels: int):
        super().__init__()
        a = np.hanning(5)[1:-1]
        g = torch.tensor(a[:, None] * a[None, :], dtype=torch.float32)
        self.register_buffer("filter", (g / g.sum())[None, None].repeat(channels, 1, 1, 1))

    def forward(self, x: Tensor) -> Tensor:
        return (F.conv2d(x * x, self.filter, stride=2, padding=1, groups=x.shape[1]) + 1e-12).sqrt()


@dataclass(frozen=True)
class DISTSFeatures:
    """The six feature sets of one image batch (the image itself first), and each layer's per-channel
    ``[sum y, sum y²]`` (computed once for a prepared target)."""

    layers: tuple[Tensor, ...]
    sums: tuple[Tensor, ...] = ()


SUM_ROWS = 1 << 16  # positions per float32 partial sum; the partial sums are accumulated in float64


def _positions(t: Tensor) -> Tensor:
    """(N, C, H, W) -> (N, H*W, C): a free view of channels-last features, whose channels are innermost."""
    return t.permute(0, 2, 3, 1).reshape(t.shape[0], -1, t.shape[1])


def _sums(x: Tensor, y: Tensor | None = None) -> Tensor:
    """Per channel ``[sum x, sum x²]`` (and ``sum x y``) over the positions, (N, C, 2 or 3) float64: float32
    partial sums over :data:`SUM_ROWS` positions (torch's pairwise summation), accumulated in float64. On the CPU
    that is ~25x faster than summing in float64 directly (0.01 s against 0.27 s for 64 x 512 x 512, the first
    layer's size), the same value to ~1e-7 relative."""
    xs, ys = _positions(x), (_positions(y) if y is not None else None)
    out = torch.zeros(xs.shape[0], xs.shape[2], 2 if y is None else 3, dtype=torch.float64, device=x.device)
    for i in range(0, xs.shape[1], SUM_ROWS):
        a = xs[:, i : i + SUM_ROWS]
        out[..., 0] += a.sum(1).double()
        out[..., 1] += (a * a).sum(1).double()
        if ys is not None:
            out[..., 2] += (a * ys[:, i : i + SUM_ROWS]).sum(1).double()
    return out


def _moments(fx: Tensor, fy: Tensor, fy_sums: Tensor | None = None) -> Tensor:
    """Per channel ``[sum x, sum y, sum x², sum y², sum xy]`` over space, float64, (N, C, 5)."""
    px = _sums(fx, fy)
    py = (_sums(fy) if fy_sums is None else fy_sums).expand(px.shape[0], -1, -1)
    return torch.stack([px[..., 0], py[..., 0], px[..., 1], py[..., 1], px[..., 2]], dim=-1)


class DISTS(nn.Module):
    """DISTS with a frozen VGG16 backbone (L2-pooled) and the published alpha/beta.

    Args:
        backbone: torchvision's VGG16 ``features`` state dict.
        alphabeta: ``{"alpha", "beta"}``, each (1, 1475, 1, 1), as ``DISTS_pytorch/weights.pt`` holds them.
    """

    def __init__(self, backbone: dict, alphabeta: dict):
        super().__init__()
        with torch.device("meta"):
            vgg = backbone_features("vgg")
        vgg.load_state_dict({k: v.detach().clone() for k, v in backbone.items()}, strict=True, assign=True)
        stages = []
        for i, (a, b) in enumerate(STAGES):
            mods = ([L2Pool(CHANNELS[i])] if i else []) + [vgg[j] for j in range(a, b)]
            stages.append(nn.Sequential(*mods))
        self.stages = nn.ModuleList(stages)
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1))
        alpha, beta = (alphabeta[k].detach().double().reshape(-1) for k in ("alpha", "beta"))
        total = alpha.sum() + beta.sum()
        self.register_buffer("alpha", alpha / total)  # float64: the weighting is done on float64 moments
        self.register_buffer("beta", beta / total)
        for p in self.parameters():
            p.requires_grad_(False)
        self.eval()

    def train(self, mode: bool = True) -> DISTS:  # noqa: D102 - no dropout, no batch norm
        return super().train(False)

    def _layers(self, x: Tensor) -> Iterator[Tensor]:
        x = check_image_batch(x, "input")
        if min(x.shape[-2:]) < MIN_SIDE:
            raise PreconditionError(f"DISTS needs images of at least {MIN_SIDE} pixels a side, got "
                                    f"{x.shape[-1]}x{x.shape[-2]}")
        x = x.float()
        yield x
        h = ((x - self.mean) / self.std).contiguous(memory_format=conv_memory_format(x.device))
        for stage in self.stages:
            h = stage(h)
            yield h

    def features(self, x: Tensor) -> DISTSFeatures:
        """The six feature sets of images in [0, 1], with their per-channel sums (for a target)."""
        layers = tuple(self._layers(x))
        return DISTSFeatures(layers, tuple(_sums(t) for t in layers))

    def score_moments(self, moments: list[Tensor], counts: list[int]) -> Tensor:
        """DISTS from per-layer moment sums ((N, C, 5) each, see :func:`_moments`) and position counts."""
        s1, s2 = [], []
        for m, n in zip(moments, counts):
            mx, my, xx, yy, xy = (m[..., i] / n for i in range(5))
            vx, vy, cov = xx - mx * mx, yy - my * my, xy - mx * my
            s1.append((2 * mx * my + C1) / (mx * mx + my * my + C1))
            s2.append((2 * cov + C2) / (vx + vy + C2))
        return 1.0 - (torch.cat(s1, 1) @ self.alpha + torch.cat(s2, 1) @ self.beta)

    def distance(self, preds: Tensor, target: DISTSFeatures) -> Tensor:
        """DISTS of ``preds`` (N images in [0, 1]) against prepared target features (batch 1), ``Tensor[N]``
        (float64). The predictions' layers are reduced as the backbone produces them."""
        moments = [_moments(a, b, s) for a, b, s in zip(self._layers(preds), target.layers, target.sums)]
        return self.score_moments(moments, [a.shape[-2] * a.shape[-1] for a in target.layers])

    def tiled_distance(self, preds: Tensor, target: Tensor, tile: int = 768, chunk: int = 1) -> Tensor:
        """DISTS of ``preds`` against one ``target`` computed tile by tile (bounded memory): every feature of a
        tile's core sees exactly the pixels it sees in the whole image, and the cores' moment sums add up to the
        whole image's. Equal to :meth:`distance` up to float summation order."""
        preds, target = check_tiled(preds, target, tile, TILE_ALIGN)
        H, W = target.shape[-2:]
        moments = [torch.zeros(preds.shape[0], c, 5, dtype=torch.float64, device=preds.device) for c in CHANNELS]
        counts = [0] * len(CHANNELS)
        for t in tiles(H, W, tile, TILE_HALO):
            ft = tuple(self._layers(t.read(target)))
            for i in range(0, preds.shape[0], chunk):
                fp = self._layers(t.read(preds[i : i + chunk]))
                for k, (a, b, s) in enumerate(zip(fp, ft, STRIDES)):
                    (ca, _), (cb, _) = t.core(a, s), t.core(b, s)
                    moments[k][i : i + chunk] += _moments(ca, cb)
                    if i == 0:
                        counts[k] += ca.shape[-2] * ca.shape[-1]
        return self.score_moments(moments, counts)

    def forward(self, pred: Tensor, target: Tensor) -> Tensor:
        """DISTS per image pair (``Tensor[N]``, float64)."""
        pred, target = check_pair(pred, target)
        return torch.cat([self.distance(pred[i : i + 1], self.features(target[i : i + 1]))
                          for i in range(pred.shape[0])])


@dataclass(frozen=True)
class DISTSProvenance:
    backbone: WeightsInfo
    alphabeta: WeightsInfo


def build_dists(*, fetch: bool = True, device: torch.device | str = "cpu") -> tuple[DISTS, DISTSProvenance]:
    """Build DISTS once (VGG16 backbone and alpha/beta located, verified and, on first use, fetched).

    Example:
        >>> import torch
        >>> model, provenance = build_dists()
        >>> x = torch.rand(1, 3, 64, 64, generator=torch.Generator().manual_seed(0))
        >>> abs(float(model(x, x)[0])) < 1e-6, bool(model(x, x.flip(-1))[0] > 0.05)
        (True, True)
    """
    backbone, binfo = load_backbone("vgg", fetch=fetch)
    alphabeta, ainfo = load_dists(fetch=fetch)
    model = DISTS(backbone, alphabeta).to(device)
    model = model.to(memory_format=conv_memory_format(torch.device(device)))
    return model, DISTSProvenance(binfo, ainfo)
