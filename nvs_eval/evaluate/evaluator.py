"""The compute stage: an evaluator owns the device and the networks, and scores predictions of one view.

The ground-truth side of a view (quantisation, SSIM moments, LPIPS features) is prepared once by
:meth:`Evaluator.prepare` and reused for every method scored against it by :meth:`Evaluator.score`.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import Tensor

from ..conventions.protocols import Protocol
from ..conventions.registry import MASK_REQUIRED, METRICS, require_metrics
from ..errors import PreconditionError, UsageError
from ..metrics.appearance import fit_right_half, left_half, right_half
from ..metrics.color import color_correct
from ..metrics.dists import DISTS, DISTSFeatures
from ..metrics.lpips import LPIPS, LPIPSFeatures
from ..metrics.masked import check_mask
from ..metrics.ssim import TargetMoments
from ..metrics.validate import check_image_batch, validated
from .adapters import ADAPTERS, Adapter
from .precision import PRECISIONS


@contextlib.contextmanager
def _tf32_set(on: bool):
    old = (torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32)
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = on
    try:
        yield
    finally:
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = old


def weights_entry(summary: str, metric: str) -> str:
    """The part of a stored weights summary (:meth:`Evaluator.weights_summary`) that ``metric``'s value depends on:
    its network's entry and an opt-in precision for the LPIPS family, DISTS's weights, the FLIP implementation's
    version, nothing for PSNR and SSIM (no weights, and exact under every precision). Reuse compares this, so
    adding a metric never invalidates the stored others.

    >>> weights_entry("lpips_alex:a30f/df73;lpips_vgg:5706/a789;precision=bf16", "cc_lpips_vgg")
    'lpips_vgg:5706/a789;precision=bf16'
    >>> weights_entry("dists:5706/ab0a;flip:flip-evaluator==1.7;lpips_vgg:5706/a789;precision=bf16", "dists")
    'dists:5706/ab0a'
    >>> weights_entry("lpips_vgg:5706/a789", "psnr")
    ''
    """
    spec = METRICS.get(metric)
    if spec is None or spec.kind in ("psnr", "ssim"):
        return ""
    if spec.kind in ("dists", "flip", "plugin"):  # never under the LPIPS opt-in; a plugin's entry is its own id
        key = spec.name if spec.kind == "plugin" else spec.kind
        return ";".join(p for p in summary.split(";") if p.startswith(f"{key}:"))
    return ";".join(p for p in summary.split(";") if p.startswith(f"lpips_{spec.lpips_net}:") or
                    p.startswith("precision="))


def resolve_device(device: str | torch.device = "auto") -> torch.device:
    """``auto`` is the first CUDA device when there is one, else the CPU; ``cuda[:N]`` must exist."""
    if isinstance(device, torch.device):
        return device
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(device)
    except RuntimeError:
        raise UsageError(f"unknown device {device!r}; expected auto, cpu, cuda or cuda:N") from None
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise UsageError(f"device {device!r} asked for, but CUDA is not available on this machine")
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise UsageError(f"device {device!r} asked for, but only {torch.cuda.device_count()} CUDA device(s) exist")
    elif dev.type != "cpu":
        raise UsageError(f"unsupported device {device!r}; expected auto, cpu, cuda or cuda:N")
    return dev


def quantize(x: Tensor, mode: str, *, inplace: bool = False) -> Tensor:
    """8-bit quantisation: ``round`` is ``round(x * 255) / 255``, ``truncate`` is ``floor(x * 255) / 255``.
    One new tensor at most (``inplace=True``: none, ``x`` is overwritten), not one per operation."""
    if mode == "none":
        return x
    if mode not in ("round", "truncate"):
        raise ValueError(f"unknown quantisation {mode!r}")
    y = x.mul_(255.0) if inplace else x * 255.0
    (y.round_ if mode == "round" else y.floor_)()
    return y.div_(255.0)


def gpu_memory_cap(gb: float | None) -> int | None:
    """The device-memory cap in bytes: ``gb`` (gigabytes, 1e9), else the ``NVS_EVAL_GPU_MEMORY`` environment
    variable (``--gpu-memory`` sets it for every rank), else none."""
    if gb is None:
        env = os.environ.get("NVS_EVAL_GPU_MEMORY", "").strip()
        if not env:
            return None
        try:
            gb = float(env)
        except ValueError:
            raise UsageError(f"NVS_EVAL_GPU_MEMORY={env!r}: expected a number of gigabytes") from None
    if not gb > 0:
        raise UsageError(f"GPU memory cap {gb} GB: expected a positive number of gigabytes")
    return int(gb * 1e9)


def u8_table(device: torch.device) -> Tensor:
    """``k / 255`` for k = 0..255 in float32, computed as the decoder does (numpy float32 division)."""
    table = np.arange(256, dtype=np.uint8).astype(np.float32) / np.float32(255)
    return torch.from_numpy(table).to(device)


@dataclass
class Target:
    """The prepared ground-truth side of one view, or of several views of one size (a batch spanning views).

    Every tensor is batched along its first dimension, one entry per view. A target of one view broadcasts against
    any number of renders; a target of several is aligned one-to-one with the renders it scores (:meth:`take`
    gathers the views of a batch, :meth:`rows` cuts an aligned target as the renders are cut). A tiled target keeps
    no whole-image LPIPS features (they would not fit in memory); its tile features are computed once per tile when
    the predictions are scored.
    """

    image: Tensor
    moments: TargetMoments | None
    features: dict[str, LPIPSFeatures] = field(default_factory=dict)  # by LPIPS network
    dists: DISTSFeatures | None = None
    tiled: bool = False
    mask: Tensor | None = None  # (V, 1, H, W) in [0, 1] for the masked metrics
    ones: tuple[bool, ...] = ()  # per view: its mask is all ones (the masked metrics are then the plain ones)
    layer_weights: dict[str, list[Tensor]] = field(default_factory=dict)  # the mask at each LPIPS layer, by network
    index: tuple[int, ...] = ()  # per entry: the view it was taken from (empty: entry i is view i)
    width: int = 0  # under a protocol's crop: the renders' full width (the prepared tensors hold the scored half)
    fit_gt: Tensor | None = None  # under an appearance fit: the ground truth's left half, fitted against
    # when not None, the adapters put each plain metric's per-pixel maps of the renders they score here, (N, H', W')
    # by metric id, from what the score computed (mapcache: the maps the report shows, kept from scoring)
    spatial: dict[str, Tensor] | None = None

    @property
    def views(self) -> int:
        return self.image.shape[0]

    @property
    def mask_is_all_ones(self) -> bool:
        return bool(self.ones) and all(self.ones)

    def view_of(self, i: int) -> int:
        return self.index[i] if self.index else i

    def take(self, index) -> Target:
        """The entries at ``index`` (a view may repeat), gathered along every prepared tensor's batch dimension:
        entry ``i`` of the result is the ground truth of render ``i`` of a batch."""
        index = [int(i) for i in index]
        idx = torch.tensor(index, dtype=torch.long, device=self.image.device)
        t = self._map(lambda x: x.index_select(0, idx.to(x.device)))
        t.ones = tuple(self.ones[i] for i in index) if self.ones else ()
        t.index = tuple(self.view_of(i) for i in index)
        return t

    def rows(self, i: int, j: int) -> Target:
        """Entries ``i:j`` of a target aligned with a batch of renders (itself when it has one view: it
        broadcasts). A view of the tensors, no copy."""
        if self.views == 1:
            return self
        t = self._map(lambda x: x[i:j])
        t.ones, t.index = self.ones[i:j], tuple(self.view_of(k) for k in range(i, min(j, self.views)))
        return t

    def _map(self, f) -> Target:
        m = self.moments
        t = self._mapped(f, m)
        t.width, t.fit_gt = self.width, None if self.fit_gt is None else f(self.fit_gt)
        return t

    def _mapped(self, f, m) -> Target:
        return Target(
            f(self.image),
            None if m is None else TargetMoments(f(m.target), f(m.mu), f(m.sq), m.spec),
            {n: LPIPSFeatures(tuple(f(x) for x in ft.layers), ft.size) for n, ft in self.features.items()},
            None if self.dists is None else DISTSFeatures(tuple(f(x) for x in self.dists.layers),
                                                          tuple(f(x) for x in self.dists.sums)),
            self.tiled, None if self.mask is None else f(self.mask), self.ones,
            {n: [f(x) for x in w] for n, w in self.layer_weights.items()})


DEFAULT_TILE = 768
DEFAULT_TILE_ABOVE = 4 * 1024 * 1024  # pixels: on the CPU larger views are scored in tiles (4K yes, 1080p no)
# On CUDA, tiling is decided by device memory instead (a 4K view fits an H200 untiled; a capped or busy card tiles).
# Bytes per pixel of an untiled view, from the H200 probe (benchmarks/RESULTS.md, GPU probe): a batch-1 VGG16
# forward peaks at ~550-1200 B/px in float32 NCHW; each tapped layer is normalised beside it (~770 B/px at relu1_2);
# the ground truth keeps what each adapter prepares (``Adapter.gpu_bytes_per_pixel``: VGG's normalised features
# 488 B/px, SSIM's moments); each render in a batch holds its image, its quantised copy and SSIM's working maps.
GPU_TRANSIENT_BYTES = 1400
GPU_PER_RENDER_BYTES = 160
GPU_FIXED_BYTES = 512 << 20  # weights, cuDNN workspaces, the allocator's slack
# Images per LPIPS / DISTS forward on CUDA: cuDNN's float32 convolutions fill an H200 with one 800x800 image
# (batch 1: 28.8 TFLOP/s, batch 16: 30.3), and some batch sizes hit a slow algorithm (batch 4 at 800x800: 3.9
# TFLOP/s and a 34 GB workspace; measured, benchmarks/RESULTS.md), so the forward takes up to 1 Mpx at a time.
GPU_FORWARD_PIXELS = 1 << 20
# SSIM is formed in row bands (the same value; see ssim_with_moments). On the CPU always, in bands of ~256 kpx
# over the whole batch: the band's intermediate maps stay in cache, which more than halves SSIM's time (3 renders
# with the in-place map: 0.22 -> 0.09 s at 800x800, 1.15 -> 0.33 s at 1080p; docs/metrics.md). On CUDA only above
# tile_above, in ~1 Mpx bands per prediction, for memory.
SSIM_BAND_PIXELS_CPU = 1 << 18
SSIM_BAND_PIXELS = 1 << 20
MAX_RENDERS_PIXELS = 3 * 1024 * 1024  # renders of one view scored in one call (the runner's batches)


def ssim_band_rows(h: int, w: int, n: int, device_type: str, tile_above: int = DEFAULT_TILE_ABOVE) -> int | None:
    """Rows per SSIM band for ``n`` predictions of an ``h`` x ``w`` view (``None``: the whole image at once)."""
    if device_type == "cpu":
        return max(1, SSIM_BAND_PIXELS_CPU // (w * n))
    return max(1, SSIM_BAND_PIXELS // (w * n)) if h * w > tile_above else None


class Evaluator:
    """Scores renders against ground truth under one protocol, on one device.

    Args:
        protocol: the :class:`~nvs_eval.conventions.protocols.Protocol`.
        metrics: metric ids to compute (default: the protocol's).
        device: ``auto``, ``cpu``, ``cuda`` or ``cuda:N``.
        fetch_weights: fetch missing LPIPS backbones on first use.
        precision: ``float32`` (exact, default) or an opt-in faster LPIPS path (:data:`PRECISIONS`) whose results
            differ from the references; it is part of every stored row's signature, so never mixed with exact rows.
        tile, tile_above: views of more than ``tile_above`` pixels get their LPIPS computed in ``tile``-pixel tiles
            (bounded memory, same result: see :meth:`LPIPS.tiled_distance`).
    """

    def __init__(self, protocol: Protocol, metrics: tuple[str, ...] | None = None, device: str = "auto",
                 *, fetch_weights: bool = True, precision: str = "float32", tile: int = DEFAULT_TILE,
                 tile_above: int | None = None, gpu_memory: float | None = None):
        if precision not in PRECISIONS:
            raise UsageError(f"unknown precision {precision!r}; known: {', '.join(PRECISIONS)}")
        self.precision = precision
        self.tile, self.tile_above = tile, tile_above
        self.gpu_memory = gpu_memory_cap(gpu_memory)
        self._budget: int | None = None
        self._u8: Tensor | None = None
        self.protocol = protocol
        self.metrics = tuple(metrics or protocol.metrics)
        require_metrics(self.metrics)
        self.device = resolve_device(device)
        if precision in ("fp16", "tf32") and self.device.type != "cuda":
            raise UsageError(f"precision {precision} needs a CUDA device; on the CPU use bf16 (or the exact float32)")
        if self.device.type == "cuda" and self.device.index is None:
            self.device = torch.device("cuda", torch.cuda.current_device())
        if self.gpu_memory is not None and self.device.type == "cuda":  # a hard cap for this process, not a hint
            total = torch.cuda.get_device_properties(self.device).total_memory
            torch.cuda.set_per_process_memory_fraction(min(1.0, self.gpu_memory / total), self.device.index)
        kinds: dict[str, list[str]] = {}
        for m in self.metrics:
            kinds.setdefault(METRICS[m].kind, []).append(m)
        # one adapter per metric kind (nvs_eval.evaluate.adapters), built once: networks, weights, signatures
        self.adapters: dict[str, Adapter] = {k: ADAPTERS[k](self, tuple(ms), fetch=fetch_weights)
                                             for k, ms in kinds.items()}
        self.targets_prepared = 0
        self.predictions_scored = 0
        # the appearance-fit parameters of the renders of the last score() call (N, ...) float64; None without a fit
        self.fitted: Tensor | None = None

    @property
    def lpips(self) -> dict[str, LPIPS]:
        """The LPIPS network of each LPIPS metric (``lpips_vgg``, ``cc_lpips_vgg``, ... share one per backbone)."""
        a = self.adapters.get("lpips")
        return dict(a.by_metric) if a else {}

    @property
    def dists(self) -> DISTS | None:
        a = self.adapters.get("dists")
        return a.model if a else None

    def weights_summary(self) -> str:
        """A compact, stable string of every weight digest in use (stored with each result): one
        ``lpips_<net>:<backbone>/<linear>`` entry per network, ``dists:...``, ``flip:...``, a plugin's
        ``<metric>:<package>==<version>``, and ``precision=...`` for an opt-in precision. :func:`weights_entry`
        reads the part of it that one metric depends on."""
        entries = {k: v for a in self.adapters.values() for k, v in a.signature().items()}
        s = ";".join(f"{m}:{v}" for m, v in sorted(entries.items()))
        return s if self.precision == "float32" or "lpips" not in self.adapters else f"{s};precision={self.precision}"

    def _fast(self):
        """The opt-in precision for LPIPS's convolutions (a no-op for the exact float32 default): bf16 / fp16
        autocast, or TF32 switched on inside it. Only LPIPS runs in it; PSNR, SSIM and colour correction stay
        exact under every precision."""
        if self.precision in ("bf16", "fp16"):
            dtype = torch.bfloat16 if self.precision == "bf16" else torch.float16
            return torch.autocast(self.device.type, dtype=dtype)
        return _tf32_set(self.precision == "tf32") if self.precision == "tf32" else contextlib.nullcontext()

    def _tf32(self):
        """TF32 off for the duration of a call, whatever the process set (:meth:`_fast` turns it on for LPIPS
        under the ``tf32`` opt-in). PyTorch allows TF32 in cuDNN convolutions by default
        (``torch.backends.cudnn.allow_tf32 = True``), which on Ampere and later GPUs would silently make the exact
        float32 path inexact."""
        return _tf32_set(False)

    def lpips_batch(self, images: Tensor | int) -> int:
        """Images per LPIPS forward pass. On the CPU large batches are slower per image (measured: VGG16 at
        800x800 takes 2.5 s for one image, 3.1 s per image in a batch of two), so the batch is kept under
        0.5 Mpx; on CUDA under :data:`GPU_FORWARD_PIXELS` (one image fills the GPU; see there)."""
        budget = GPU_FORWARD_PIXELS if self.device.type == "cuda" else (1 << 19)  # an int argument is a square side
        pixels = images ** 2 if isinstance(images, int) else images.shape[-2] * images.shape[-1]
        return max(1, budget // pixels)

    @property
    def memory_budget(self) -> int | None:
        """Device bytes this evaluator plans for (CUDA only): the cap (``gpu_memory``), else 90% of what was free
        at the first view, decided once so that every view of a run is cut the same way."""
        if self.device.type != "cuda":
            return None
        if self._budget is None:
            free, total = torch.cuda.mem_get_info(self.device)
            free += torch.cuda.memory_reserved(self.device) - torch.cuda.memory_allocated(self.device)
            self._budget = int(0.9 * min(free, self.gpu_memory or total))
        return self._budget

    def untiled_bytes(self, h: int, w: int, n: int = 1) -> int:
        """Estimated peak device bytes to score ``n`` renders of an ``h`` x ``w`` view untiled."""
        retained = sum(a.gpu_bytes_per_pixel for a in self.adapters.values())
        return GPU_FIXED_BYTES + h * w * (GPU_TRANSIENT_BYTES + retained + n * GPU_PER_RENDER_BYTES)

    def _over_budget(self, h: int, w: int) -> bool:
        if self.tile_above is not None or self.device.type != "cuda":
            return h * w > (self.tile_above if self.tile_above is not None else DEFAULT_TILE_ABOVE)
        return self.untiled_bytes(h, w, max(1, MAX_RENDERS_PIXELS // (h * w))) > self.memory_budget

    def tiles(self, image: Tensor) -> bool:
        """Whether a view of this size is scored in tiles (LPIPS and DISTS are; PSNR and SSIM are cheap): on the
        CPU above ``tile_above`` pixels (4 Mpx), on CUDA when it would not fit :attr:`memory_budget` untiled."""
        return any(a.tiled for a in self.adapters.values()) and self._over_budget(image.shape[-2], image.shape[-1])

    def tile_side(self, halo: int) -> int:
        """The tile's core side: ``tile``, or less where a tile with its halo would not fit the CUDA budget."""
        if self.device.type != "cuda" or self.gpu_memory is None:
            return self.tile
        side = int((self.memory_budget / 2 / (GPU_TRANSIENT_BYTES + 500)) ** 0.5) - 2 * halo
        return max(16, min(self.tile, side // 16 * 16))

    def ssim_band(self, image: Tensor, n: int) -> int | None:
        """Rows per SSIM band for ``n`` predictions of this view, or ``None`` for the whole image."""
        h, w = image.shape[-2], image.shape[-1]
        if self.device.type == "cuda" and self.tile_above is None:
            return max(1, SSIM_BAND_PIXELS // (w * n)) if self._over_budget(h, w) else None
        return ssim_band_rows(h, w, n, self.device.type,
                              DEFAULT_TILE_ABOVE if self.tile_above is None else self.tile_above)

    def to_tensor(self, image: np.ndarray | Tensor) -> Tensor:
        """H x W x 3 float32 array -> (1, 3, H, W) float32 tensor on the device. An 8-bit array (or tensor,
        pinned by the loader) crosses to the device as bytes, a quarter of the float32 traffic, and is converted
        there by a table of ``k / 255`` computed exactly as the decoder computes it (float32 division), so the
        values are bit for bit those of the float32 path. On CUDA the result is NCHW-contiguous (cuDNN's float32
        convolutions are faster and need ~6x less workspace NCHW than channels-last; measured)."""
        t = image if isinstance(image, Tensor) else torch.from_numpy(np.ascontiguousarray(image))
        t = t.to(self.device, non_blocking=True).permute(2, 0, 1).unsqueeze(0)
        if t.dtype == torch.uint8:
            if self._u8 is None:
                self._u8 = u8_table(self.device)
            t = self._u8[t.int()]
        return t.contiguous() if self.device.type == "cuda" else t

    def _quantize(self, x: Tensor, which: str, *, inplace: bool = False) -> Tensor:
        applies = self.protocol.quantize_images == "both" or self.protocol.quantize_images == which
        return quantize(x, self.protocol.quantize, inplace=inplace) if applies else x

    def prepare(self, gt: Tensor, mask: Tensor | None = None) -> Target:
        """Quantise the ground truth and compute its SSIM moments and LPIPS features, once.

        Args:
            gt: the ground truth of V views of one size, (V, 3, H, W) float in [0, 1] on :attr:`device` (V = 1:
                one view, whose target broadcasts against any number of renders).
            mask: the views' masks, (1 or V, 1, H, W) in [0, 1], for the ``masked_*`` metrics.

        Returns:
            The :class:`Target` that :meth:`score` compares the predictions of these views with.

        Raises:
            ValueError: ``gt`` is not a finite RGB batch in [0, 1].
        """
        with self._tf32():
            return self._prepare(gt, mask)

    @torch.inference_mode()
    def _prepare(self, gt: Tensor, mask: Tensor | None = None) -> Target:
        """Quantise the ground truth and compute its SSIM moments and LPIPS features, once."""
        gt = self._quantize(check_image_batch(gt, "target"), "gt")
        with validated():  # checked once above: the kernels below do not synchronise again
            if self.protocol.crop == "none":
                return self._prepare_checked(gt, mask)
            target = self._prepare_checked(right_half(gt), None if mask is None else right_half(mask))
            target.width = gt.shape[-1]
            if self.protocol.appearance_fit != "none":
                target.fit_gt = left_half(gt)
            return target

    def _prepare_checked(self, gt: Tensor, mask: Tensor | None) -> Target:
        self.targets_prepared += gt.shape[0]
        target = Target(gt, None, tiled=self.tiles(gt))
        if any(METRICS[m].family == "masked" for m in self.metrics):
            if mask is None:
                raise UsageError(MASK_REQUIRED)
            if mask.shape[0] not in (1, gt.shape[0]):
                raise ValueError(f"Expected a mask batch of 1 or {gt.shape[0]}, got {mask.shape[0]}")
            target.mask = check_mask(mask.to(gt.device), gt).expand(gt.shape[0], -1, -1, -1)
            flat = target.mask.flatten(1)
            ones, empty = torch.stack([(flat == 1).all(1), flat.sum(1) == 0]).tolist()  # one read-back
            if any(empty):
                raise PreconditionError(f"the mask of view {empty.index(True)} of {len(empty)} selects no pixel "
                                        "(all zero)")
            target.ones = tuple(ones)
        for adapter in self.adapters.values():
            adapter.prepare(target)
        return target

    def score(self, preds: Tensor, target: Target, *, consume: bool = False,
              metrics: tuple[str, ...] | None = None, views=None) -> dict[str, Tensor]:
        """Every metric (or ``metrics``, a subset of the evaluator's) for a batch of predictions.

        The batch may span views: with a target of several views, ``views`` names each render's view (its index in
        the target), or, left out, render ``i`` is of view ``i``. Each render is scored against its own ground
        truth, and the values equal those of scoring each view on its own.

        Args:
            preds: N renders, (N, 3, H, W) float in [0, 1] on :attr:`device`.
            target: the ground truth from :meth:`prepare` (one view, or several).
            consume: the caller gives ``preds`` up: it may be quantised in place (one copy of a 4K batch fewer).
            metrics: compute only these (adding a metric to a stored benchmark computes only that metric).
            views: for a target of several views, each render's view (N indices).

        Returns:
            ``{metric: Tensor[N]}``, float64 on the CPU, one value per render.

        Raises:
            ValueError: ``preds`` is not a finite RGB batch in [0, 1] of the target's size, or ``views`` does not
                name a view of the target for each render.
            PreconditionError: the view is smaller than the SSIM window or LPIPS's receptive field.

        Example:
            >>> import torch
            >>> from nvs_eval.conventions.protocols import get_protocol
            >>> ev = Evaluator(get_protocol("nvs-eval"), ("psnr", "ssim"), device="cpu")
            >>> gt = torch.full((1, 3, 16, 16), 0.5)
            >>> scores = ev.score(torch.stack([gt[0], gt[0] + 0.1]), ev.prepare(gt))
            >>> [round(float(v), 3) for v in scores["psnr"]], round(float(scores["ssim"][0]), 3)
            ([inf, 20.0], 1.0)
        """
        with self._tf32():
            return self._score(preds, self._aligned(target, preds.shape[0], views), consume, metrics or self.metrics)

    @staticmethod
    def _aligned(target: Target, n: int, views) -> Target:
        """``target`` aligned with n renders: itself for one view (it broadcasts) or when render i is view i."""
        if views is None:
            if target.views not in (1, n):
                raise ValueError(f"a target of {target.views} views scores {n} renders only with `views`, the view "
                                 "of each render")
            return target
        views = [int(v) for v in views]
        if len(views) != n or any(not 0 <= v < target.views for v in views):
            raise ValueError(f"`views` must name one of the target's {target.views} views for each of the {n} "
                             f"renders, got {views}")
        if target.views == 1 or views == list(range(target.views)):
            return target
        return target.take(views)

    def _scored_part(self, preds: Tensor, target: Target) -> Tensor:
        """The part of the renders the protocol scores: all of them, or under a crop their right half (fitted to
        the ground truth on their left half under an appearance fit, whose parameters go to :attr:`fitted`)."""
        self.fitted = None
        if not target.width:
            return preds
        if preds.shape[-1] != target.width:
            raise ValueError(f"Expected predictions {target.width} pixels wide (the protocol scores their right "
                             f"half), got {tuple(preds.shape)}")
        if target.fit_gt is None:
            return right_half(preds)
        preds, self.fitted = fit_right_half(self.protocol.appearance_fit, preds, target.fit_gt)
        return preds

    @torch.inference_mode()
    def _score(self, preds: Tensor, target: Target, consume: bool, metrics: tuple[str, ...]) -> dict[str, Tensor]:
        preds = self._scored_part(check_image_batch(preds, "pred"), target)
        if preds.shape[1:] != target.image.shape[1:]:
            raise ValueError(f"Expected predictions of shape (N, {tuple(target.image.shape[1:])}), "
                             f"got {tuple(preds.shape)}")
        unknown = [m for m in metrics if m not in self.metrics]
        if unknown:
            raise UsageError(f"metric(s) {unknown} were not set up in this evaluator ({', '.join(self.metrics)})")
        with validated():  # checked once above: the kernels below do not synchronise again
            if target.tiled and target.views > 1:  # tiles hold one view's ground truth: one render at a time
                parts = [self._score_checked(preds[i : i + 1], target.rows(i, i + 1), False, metrics)
                         for i in range(preds.shape[0])]
                return {m: torch.cat([p[m] for p in parts]) for m in metrics}
            return self._score_checked(preds, target, consume, metrics)

    def _score_checked(self, preds: Tensor, target: Target, consume: bool, metrics: tuple[str, ...]):
        families = {METRICS[m].family for m in metrics}
        # multinerf colour-corrects the render before its quantisation (eval.py: rgb_cc, then np.round)
        corrected = self._quantize(color_correct(preds, target.image), "render") if "cc" in families else None
        preds = self._quantize(preds, "render", inplace=consume)
        if target.spatial is not None:
            target.spatial["abs"] = (preds - target.image).abs().mean(1)
        images = {"plain": preds, "cc": corrected, "masked": preds}
        out = {}
        for m in metrics:
            spec = METRICS[m]
            adapter = self.adapters[spec.kind]
            if spec.family == "masked":
                out[m] = self._score_masked(adapter, m, preds, target)
            else:
                out[m] = adapter.score(m, images[spec.family], target)
        self.predictions_scored += preds.shape[0]
        # one transfer to the host for the whole batch (on a GPU, one synchronisation, not one per metric)
        values = torch.stack([v.detach().to(self.device, torch.float64) for v in out.values()]).cpu() if out else None
        return {m: values[i] for i, m in enumerate(out)}

    @staticmethod
    def _score_masked(adapter: Adapter, metric: str, preds: Tensor, target: Target) -> Tensor:
        """A masked metric: under an all-ones mask the masked definitions coincide with the plain ones and are
        computed as such (bit for bit the plain value); a batch spanning views with and without such masks is
        split, so that every render's value is the one it has on its own."""
        ones = target.ones * preds.shape[0] if target.views == 1 else target.ones
        if all(ones):
            return adapter.score(metric, preds, target)
        if not any(ones):
            return adapter.score_masked(metric, preds, target)
        out = torch.empty(preds.shape[0], dtype=torch.float64, device=preds.device)
        for flag in (True, False):
            idx = [i for i, o in enumerate(ones) if o == flag]
            sub = torch.tensor(idx, device=preds.device)
            part = (adapter.score if flag else adapter.score_masked)(metric, preds[sub], target.take(idx))
            out[sub] = part.to(out.device, out.dtype)
        return out

    def score_pair(self, pred: Tensor, gt: Tensor) -> dict[str, Tensor]:
        """Score N independent pairs (each ground truth prepared separately)."""
        results = [self.score(pred[i : i + 1], self.prepare(gt[i : i + 1])) for i in range(pred.shape[0])]
        return {m: torch.cat([r[m] for r in results]) for m in self.metrics}

    def maps(self, pred: Tensor, target: Target) -> dict[str, Tensor]:
        """Per-pixel maps of one prediction against a prepared view, from the same kernels as the scores:
        ``abs`` error, ``ssim`` (1 - SSIM), each LPIPS metric and ``flip``, each (H', W')."""
        with self._tf32():
            return self._maps(pred, target)

    @torch.inference_mode()
    def _maps(self, pred: Tensor, target: Target) -> dict[str, Tensor]:
        if target.views != 1:
            raise ValueError(f"maps are drawn against one view; this target holds {target.views}")
        pred = self._quantize(self._scored_part(check_image_batch(pred, "pred"), target), "render")
        out = {"abs": (pred - target.image).abs().mean(1)[0]}
        for m in self.metrics:
            if METRICS[m].map_label and m not in out:
                mp = self.adapters[METRICS[m].kind].map(m, pred, target)
                if mp is not None:
                    out[m] = mp
        return {k: v.detach().float().cpu() for k, v in out.items()}
