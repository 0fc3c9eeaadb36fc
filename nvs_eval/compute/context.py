"""What a metric adapter is given: the device, the protocol, the precision, the tiling and batching policy and the
evaluator's prepared networks, in one small :class:`Context` (never the evaluator itself).

The policy decides, from the device and its memory, how many images go through a network at once
(:meth:`Policy.forward_batch`), whether a view is scored in tiles (:meth:`Policy.tiles`) and how large they are
(:meth:`Policy.tile_side`), and in how many rows SSIM is formed (:meth:`Policy.ssim_band`). Every choice gives the
same value; only speed and memory differ.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor

from ..conventions.protocols import Protocol
from ..errors import UsageError

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


@contextlib.contextmanager
def tf32_set(on: bool):
    """TF32 in cuDNN and matmuls switched to ``on`` for the duration, then restored."""
    old = (torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32)
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = on
    try:
        yield
    finally:
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = old


class Policy:
    """Tiling and batching on one device, for a set of adapters.

    Args:
        device: the device scored on.
        tile, tile_above: views of more than ``tile_above`` pixels (default: 4 Mpx on the CPU; on CUDA, what does
            not fit :attr:`memory_budget`) have their network metrics computed in ``tile``-pixel tiles.
        gpu_memory: the CUDA memory cap in bytes (:func:`gpu_memory_cap`), or ``None``.
        retained_bytes: device bytes per pixel the prepared ground truth keeps (the adapters' sum).
        tiled: whether any adapter scores in tiles (PSNR and SSIM alone never tile).
    """

    def __init__(self, device: torch.device, *, tile: int = DEFAULT_TILE, tile_above: int | None = None,
                 gpu_memory: int | None = None, retained_bytes: int = 0, tiled: bool = False):
        self.device, self.tile, self.tile_above, self.gpu_memory = device, tile, tile_above, gpu_memory
        self.retained_bytes, self.tiled = retained_bytes, tiled
        self._budget: int | None = None

    def forward_batch(self, images: Tensor | int) -> int:
        """Images per network forward pass. On the CPU large batches are slower per image (measured: VGG16 at
        800x800 takes 2.5 s for one image, 3.1 s per image in a batch of two), so the batch is kept under
        0.5 Mpx; on CUDA under :data:`GPU_FORWARD_PIXELS` (one image fills the GPU; see there)."""
        budget = GPU_FORWARD_PIXELS if self.device.type == "cuda" else (1 << 19)  # an int argument is a square side
        pixels = images ** 2 if isinstance(images, int) else images.shape[-2] * images.shape[-1]
        return max(1, budget // pixels)

    @property
    def memory_budget(self) -> int | None:
        """Device bytes planned for (CUDA only): the cap (``gpu_memory``), else 90% of what was free at the first
        view, decided once so that every view of a run is cut the same way."""
        if self.device.type != "cuda":
            return None
        if self._budget is None:
            free, total = torch.cuda.mem_get_info(self.device)
            free += torch.cuda.memory_reserved(self.device) - torch.cuda.memory_allocated(self.device)
            self._budget = int(0.9 * min(free, self.gpu_memory or total))
        return self._budget

    def untiled_bytes(self, h: int, w: int, n: int = 1) -> int:
        """Estimated peak device bytes to score ``n`` renders of an ``h`` x ``w`` view untiled."""
        return GPU_FIXED_BYTES + h * w * (GPU_TRANSIENT_BYTES + self.retained_bytes + n * GPU_PER_RENDER_BYTES)

    def over_budget(self, h: int, w: int) -> bool:
        if self.tile_above is not None or self.device.type != "cuda":
            return h * w > (self.tile_above if self.tile_above is not None else DEFAULT_TILE_ABOVE)
        return self.untiled_bytes(h, w, max(1, MAX_RENDERS_PIXELS // (h * w))) > self.memory_budget

    def tiles(self, image: Tensor) -> bool:
        """Whether a view of this size is scored in tiles (the network metrics are; PSNR and SSIM are cheap): on
        the CPU above ``tile_above`` pixels (4 Mpx), on CUDA when it would not fit :attr:`memory_budget`."""
        return self.tiled and self.over_budget(image.shape[-2], image.shape[-1])

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
            return max(1, SSIM_BAND_PIXELS // (w * n)) if self.over_budget(h, w) else None
        return ssim_band_rows(h, w, n, self.device.type,
                              DEFAULT_TILE_ABOVE if self.tile_above is None else self.tile_above)


@dataclass
class Context:
    """What an adapter is given (:class:`nvs_eval.compute.adapters.Adapter`).

    Attributes:
        device: the device scored on.
        protocol: the :class:`~nvs_eval.conventions.protocols.Protocol` (SSIM settings, LPIPS input, masks, ...).
        precision: ``float32`` or an opt-in precision (:data:`nvs_eval.compute.precision.PRECISIONS`), which only
            the adapters that declare ``precision_sensitive`` run under (:meth:`fast`).
        policy: tiling and batching (:class:`Policy`).
        fetch: whether missing weights may be fetched on first use.
        networks: the networks built for this evaluator, by key (:meth:`network`): built once, shared by adapters.
    """

    device: torch.device
    protocol: Protocol
    policy: Policy
    precision: str = "float32"
    fetch: bool = True
    networks: dict[Any, Any] = field(default_factory=dict)

    def fast(self):
        """The opt-in precision for a network's convolutions (a no-op for the exact float32 default): bf16 / fp16
        autocast, or TF32 switched on inside it. PSNR, SSIM and colour correction stay exact under every
        precision: only precision-sensitive adapters run their networks in it."""
        if self.precision in ("bf16", "fp16"):
            dtype = torch.bfloat16 if self.precision == "bf16" else torch.float16
            return torch.autocast(self.device.type, dtype=dtype)
        return tf32_set(True) if self.precision == "tf32" else contextlib.nullcontext()

    def network(self, key, build: Callable[[], Any]):
        """The network ``key`` of this evaluator, built by ``build()`` on first use and kept."""
        if key not in self.networks:
            self.networks[key] = build()
        return self.networks[key]
