"""The compute stage: an evaluator owns the device and the networks, and scores predictions of one view.

The ground-truth side of a view (quantisation, SSIM moments, LPIPS features) is prepared once by
:meth:`Evaluator.prepare` and reused for every method scored against it by :meth:`Evaluator.score`. What each
metric kind computes is its adapter's (:mod:`nvs_eval.compute.adapters`); the evaluator knows no kind by name.
"""

from __future__ import annotations

from collections import defaultdict

import numpy as np
import torch
from torch import Tensor

from ..conventions.protocols import Protocol
from ..conventions.registry import MASK_REQUIRED, METRICS, require_metrics
from ..errors import PreconditionError, UsageError
from ..metrics.appearance import fit_right_half, left_half, right_half
from ..metrics.color import color_correct
from ..metrics.masked import check_mask
from ..metrics.validate import check_image_batch, validated
from .adapters import Adapter, adapter_class, weights_entry
from .context import (  # noqa: F401 - the tiling and batching constants, importable from here as before
    DEFAULT_TILE,
    DEFAULT_TILE_ABOVE,
    GPU_FIXED_BYTES,
    GPU_FORWARD_PIXELS,
    GPU_PER_RENDER_BYTES,
    GPU_TRANSIENT_BYTES,
    MAX_RENDERS_PIXELS,
    SSIM_BAND_PIXELS,
    SSIM_BAND_PIXELS_CPU,
    Context,
    Policy,
    gpu_memory_cap,
    ssim_band_rows,
    tf32_set,
)
from .precision import PRECISIONS
from .target import Target

__all__ = ["Evaluator", "Target", "weights_entry", "resolve_device", "quantize", "gpu_memory_cap", "u8_table"]


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


def u8_table(device: torch.device) -> Tensor:
    """``k / 255`` for k = 0..255 in float32, computed as the decoder does (numpy float32 division)."""
    table = np.arange(256, dtype=np.uint8).astype(np.float32) / np.float32(255)
    return torch.from_numpy(table).to(device)


def _device(device: str, precision: str, cap: int | None) -> torch.device:
    """The evaluator's device (an explicit CUDA index), checked against the precision, with the memory cap set."""
    dev = resolve_device(device)
    if precision in ("fp16", "tf32") and dev.type != "cuda":
        raise UsageError(f"precision {precision} needs a CUDA device; on the CPU use bf16 (or the exact float32)")
    if dev.type == "cuda" and dev.index is None:
        dev = torch.device("cuda", torch.cuda.current_device())
    if cap is not None and dev.type == "cuda":  # a hard cap for this process, not a hint
        total = torch.cuda.get_device_properties(dev).total_memory
        torch.cuda.set_per_process_memory_fraction(min(1.0, cap / total), dev.index)
    return dev


def _checked_mask(mask: Tensor | None, gt: Tensor) -> tuple[Tensor, tuple[bool, ...]]:
    """The views' masks for the masked metrics, one per view, and per view whether it is all ones."""
    if mask is None:
        raise UsageError(MASK_REQUIRED)
    if mask.shape[0] not in (1, gt.shape[0]):
        raise ValueError(f"Expected a mask batch of 1 or {gt.shape[0]}, got {mask.shape[0]}")
    mask = check_mask(mask.to(gt.device), gt).expand(gt.shape[0], -1, -1, -1)
    flat = mask.flatten(1)
    ones, empty = torch.stack([(flat == 1).all(1), flat.sum(1) == 0]).tolist()  # one read-back
    if any(empty):
        raise PreconditionError(f"the mask of view {empty.index(True)} of {len(empty)} selects no pixel (all zero)")
    return mask, tuple(ones)


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
        gpu_memory: a CUDA memory cap in gigabytes (:func:`gpu_memory_cap`).

    Attributes:
        context: what the adapters are given (:class:`~nvs_eval.compute.context.Context`); ``policy``: its tiling
            and batching (:class:`~nvs_eval.compute.context.Policy`).
        adapters: one :class:`~nvs_eval.compute.adapters.Adapter` per metric kind in use, by kind.
    """

    def __init__(self, protocol: Protocol, metrics: tuple[str, ...] | None = None, device: str = "auto",
                 *, fetch_weights: bool = True, precision: str = "float32", tile: int = DEFAULT_TILE,
                 tile_above: int | None = None, gpu_memory: float | None = None):
        if precision not in PRECISIONS:
            raise UsageError(f"unknown precision {precision!r}; known: {', '.join(PRECISIONS)}")
        self.protocol, self.precision = protocol, precision
        self.metrics = tuple(metrics or protocol.metrics)
        require_metrics(self.metrics)
        cap = gpu_memory_cap(gpu_memory)
        self.device = _device(device, precision, cap)
        self._u8: Tensor | None = None
        by_kind: dict[str, list[str]] = defaultdict(list)
        for m in self.metrics:
            by_kind[METRICS[m].kind].append(m)
        classes = {k: adapter_class(k, ms[0]) for k, ms in by_kind.items()}
        self.policy = Policy(self.device, tile=tile, tile_above=tile_above, gpu_memory=cap,
                             retained_bytes=sum(c.gpu_bytes_per_pixel for c in classes.values()),
                             tiled=any(c.tiled for c in classes.values()))
        self.context = Context(self.device, protocol, self.policy, precision, fetch_weights)
        # one adapter per metric kind, built once: networks, weights, signatures
        self.adapters: dict[str, Adapter] = {k: c(self.context, tuple(by_kind[k])) for k, c in classes.items()}
        self.targets_prepared = 0
        self.predictions_scored = 0
        # the appearance-fit parameters of the renders of the last score() call (N, ...) float64; None without a fit
        self.fitted: Tensor | None = None

    def weights_summary(self) -> str:
        """A compact, stable string of every weight digest in use (stored with each result): each adapter's
        ``key:digest`` entries (``lpips_<net>:<backbone>/<linear>``, ``dists:...``, ``flip:...``, a plugin's
        ``<metric>:<package>==<version>``), sorted, and ``precision=...`` for an opt-in precision when a
        precision-sensitive kind is in use. :func:`weights_entry` reads the part of it that one metric depends on."""
        entries = {k: v for a in self.adapters.values() for k, v in a.checked_signature().items()}
        s = ";".join(f"{m}:{v}" for m, v in sorted(entries.items()))
        sensitive = any(a.precision_sensitive for a in self.adapters.values())
        return s if self.precision == "float32" or not sensitive else f"{s};precision={self.precision}"

    @staticmethod
    def _tf32():
        """TF32 off for the duration of a call, whatever the process set (the context's ``fast()`` turns it on for
        LPIPS under the ``tf32`` opt-in). PyTorch allows TF32 in cuDNN convolutions by default
        (``torch.backends.cudnn.allow_tf32 = True``), which on Ampere and later GPUs would silently make the exact
        float32 path inexact."""
        return tf32_set(False)

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
        target = Target(gt, tiled=self.policy.tiles(gt))
        if any(METRICS[m].family == "masked" for m in self.metrics):
            target.mask, target.ones = _checked_mask(mask, gt)
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
            return self._score(preds, target.aligned(preds.shape[0], views), consume, metrics or self.metrics)

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
