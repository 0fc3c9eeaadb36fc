"""The compute stage: an evaluator owns the device and the networks, and scores predictions of one view.

The ground-truth side of a view (quantisation, SSIM moments, LPIPS features) is prepared once by
:meth:`Evaluator.prepare` and reused for every method scored against it by :meth:`Evaluator.score`.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import Tensor

from ..errors import PreconditionError, UsageError
from ..metrics.color import color_correct
from ..metrics.dists import DISTS, DISTSFeatures, build_dists
from ..metrics.dists import TILE_HALO as DISTS_TILE_HALO
from ..metrics.flip import flip, flip_signature
from ..metrics.lpips import LPIPS, TILE_HALO, LPIPSFeatures, build_lpips
from ..metrics.masked import check_mask, layer_weights, masked_mse, masked_ssim
from ..metrics.psnr import psnr_from_mse
from ..metrics.ssim import TargetMoments, ssim_with_moments, target_moments
from ..metrics.validate import check_image_batch
from ..protocols import Protocol
from ..registry import METRICS
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
    if spec.kind in ("dists", "flip"):  # exact under every precision (they never run under the LPIPS opt-in)
        return ";".join(p for p in summary.split(";") if p.startswith(f"{spec.kind}:"))
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


@dataclass
class Target:
    """The prepared ground-truth side of one view. A tiled target keeps no whole-image LPIPS features (they
    would not fit in memory); its tile features are computed once per tile when the predictions are scored."""

    image: Tensor
    moments: TargetMoments | None
    features: dict[str, LPIPSFeatures] = field(default_factory=dict)  # by LPIPS network
    dists: DISTSFeatures | None = None
    tiled: bool = False
    mask: Tensor | None = None  # (1, 1, H, W) in [0, 1] for the masked metrics
    mask_is_all_ones: bool = False
    layer_weights: dict[str, list[Tensor]] = field(default_factory=dict)  # the mask at each LPIPS layer, by network


DEFAULT_TILE = 768
DEFAULT_TILE_ABOVE = 4 * 1024 * 1024  # pixels: larger views are scored in tiles (4K yes, 1080p no)
# SSIM is formed in row bands (the same value; see ssim_with_moments). On the CPU always, in bands of ~256 kpx
# over the whole batch: the band's intermediate maps stay in cache, which more than halves SSIM's time (3 renders
# with the in-place map: 0.22 -> 0.09 s at 800x800, 1.15 -> 0.33 s at 1080p; docs/metrics.md). On CUDA only above
# tile_above, in ~1 Mpx bands per prediction, for memory.
SSIM_BAND_PIXELS_CPU = 1 << 18
SSIM_BAND_PIXELS = 1 << 20


def ssim_band_rows(h: int, w: int, n: int, device_type: str, tile_above: int = DEFAULT_TILE_ABOVE) -> int | None:
    """Rows per SSIM band for ``n`` predictions of an ``h`` x ``w`` view (``None``: the whole image at once)."""
    if device_type == "cpu":
        return max(1, SSIM_BAND_PIXELS_CPU // (w * n))
    return max(1, SSIM_BAND_PIXELS // (w * n)) if h * w > tile_above else None


class Evaluator:
    """Scores renders against ground truth under one protocol, on one device.

    Args:
        protocol: the :class:`~nvs_eval.protocols.Protocol`.
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
                 tile_above: int = DEFAULT_TILE_ABOVE):
        if precision not in PRECISIONS:
            raise UsageError(f"unknown precision {precision!r}; known: {', '.join(PRECISIONS)}")
        self.precision = precision
        self.tile, self.tile_above = tile, tile_above
        self.protocol = protocol
        self.metrics = tuple(metrics or protocol.metrics)
        unknown = [m for m in self.metrics if m not in METRICS]
        if unknown:
            raise UsageError(f"unknown metric(s) {unknown}; known: {', '.join(METRICS)}")
        self.device = resolve_device(device)
        if precision in ("fp16", "tf32") and self.device.type != "cuda":
            raise UsageError(f"precision {precision} needs a CUDA device; on the CPU use bf16 (or the exact float32)")
        self.nets: dict[str, LPIPS] = {}  # one network per backbone, shared by lpips_*, cc_lpips_*, masked_lpips_*
        self.weights: dict[str, dict[str, str]] = {}
        for m in self.metrics:
            net = METRICS[m].lpips_net
            if METRICS[m].kind == "lpips" and net not in self.nets:
                model, prov = build_lpips(net, protocol.lpips_input, fetch=fetch_weights, device=self.device)
                self.nets[net] = model
                self.weights[f"lpips_{net}"] = {"backbone": prov.backbone.digest,
                                                "backbone_source": prov.backbone.source, "lin_v0.1": prov.lin_sha256}
        self.lpips: dict[str, LPIPS] = {m: self.nets[METRICS[m].lpips_net] for m in self.metrics
                                        if METRICS[m].kind == "lpips"}
        self.dists: DISTS | None = None
        self.signatures: dict[str, str] = {}  # the non-LPIPS entries of the weights summary
        if any(METRICS[m].kind == "dists" for m in self.metrics):
            self.dists, prov = build_dists(fetch=fetch_weights, device=self.device)
            self.signatures["dists"] = f"{prov.backbone.digest[:16]}/{prov.alphabeta.digest[:16]}"
        if any(METRICS[m].kind == "flip" for m in self.metrics):
            self.signatures["flip"] = flip_signature()
        self.targets_prepared = 0
        self.predictions_scored = 0

    def weights_summary(self) -> str:
        """A compact, stable string of every weight digest in use (stored with each result): one
        ``lpips_<net>:<backbone>/<linear>`` entry per network, and ``precision=...`` for an opt-in precision.
        :func:`weights_entry` reads the part of it that one metric depends on."""
        entries = {m: f"{w['backbone'][:16]}/{w['lin_v0.1'][:16]}" for m, w in self.weights.items()}
        s = ";".join(f"{m}:{v}" for m, v in sorted({**entries, **self.signatures}.items()))
        return s if self.precision == "float32" or not self.nets else f"{s};precision={self.precision}"

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
        0.5 Mpx; on CUDA under 8 Mpx."""
        budget = (8 << 20) if self.device.type == "cuda" else (1 << 19)  # an int argument is a square side
        pixels = images ** 2 if isinstance(images, int) else images.shape[-2] * images.shape[-1]
        return max(1, budget // pixels)

    def tiles(self, image: Tensor) -> bool:
        """Whether a view of this size is scored in tiles (LPIPS and DISTS are; PSNR and SSIM are cheap)."""
        return bool(self.lpips or self.dists) and image.shape[-2] * image.shape[-1] > self.tile_above

    def ssim_band(self, image: Tensor, n: int) -> int | None:
        """Rows per SSIM band for ``n`` predictions of this view, or ``None`` for the whole image."""
        return ssim_band_rows(image.shape[-2], image.shape[-1], n, self.device.type, self.tile_above)

    def to_tensor(self, image: np.ndarray) -> Tensor:
        """H x W x 3 float32 array -> (1, 3, H, W) tensor on the device."""
        t = torch.from_numpy(np.ascontiguousarray(image)).permute(2, 0, 1).unsqueeze(0)
        return t.to(self.device, non_blocking=True)

    def _quantize(self, x: Tensor, which: str, *, inplace: bool = False) -> Tensor:
        applies = self.protocol.quantize_images == "both" or self.protocol.quantize_images == which
        return quantize(x, self.protocol.quantize, inplace=inplace) if applies else x

    def prepare(self, gt: Tensor, mask: Tensor | None = None) -> Target:
        """Quantise the ground truth and compute its SSIM moments and LPIPS features, once.

        Args:
            gt: one ground-truth image, (1, 3, H, W) float in [0, 1] on :attr:`device`.
            mask: the view's mask, (1, 1, H, W) in [0, 1], for the ``masked_*`` metrics.

        Returns:
            The :class:`Target` that :meth:`score` compares every prediction of this view with.

        Raises:
            ValueError: ``gt`` is not one finite RGB image in [0, 1].
        """
        with self._tf32():
            return self._prepare(gt, mask)

    @torch.inference_mode()
    def _prepare(self, gt: Tensor, mask: Tensor | None = None) -> Target:
        """Quantise the ground truth and compute its SSIM moments and LPIPS features, once."""
        gt = self._quantize(check_image_batch(gt, "target"), "gt")
        if gt.shape[0] != 1:
            raise ValueError(f"Expected one ground-truth image, got a batch of {gt.shape[0]}")
        self.targets_prepared += 1
        band = self.ssim_band(gt, 1)
        needs_moments = any(METRICS[m].kind == "ssim" for m in self.metrics)
        target = Target(gt, target_moments(gt, self.protocol.ssim, band=band) if needs_moments else None,
                        tiled=self.tiles(gt))
        if any(METRICS[m].family == "masked" for m in self.metrics):
            if mask is None:
                raise UsageError("masked metrics need a mask for every view (--masks DIR or --mask-from-gt-alpha)")
            target.mask = check_mask(mask.to(gt.device), gt)
            target.mask_is_all_ones = bool((target.mask == 1).all())
        if not target.tiled:
            with self._fast():
                for net, model in self.nets.items():
                    target.features[net] = model.features(gt)
            if self.dists is not None:
                target.dists = self.dists.features(gt)
        return target

    def score(self, preds: Tensor, target: Target, *, consume: bool = False,
              metrics: tuple[str, ...] | None = None) -> dict[str, Tensor]:
        """Every metric (or ``metrics``, a subset of the evaluator's) for a batch of predictions of one view.

        Args:
            preds: N renders of the view, (N, 3, H, W) float in [0, 1] on :attr:`device`.
            target: the view's ground truth from :meth:`prepare`.
            consume: the caller gives ``preds`` up: it may be quantised in place (one copy of a 4K batch fewer).
            metrics: compute only these (adding a metric to a stored benchmark computes only that metric).

        Returns:
            ``{metric: Tensor[N]}``, float64 on the CPU, one value per render.

        Raises:
            ValueError: ``preds`` is not a finite RGB batch in [0, 1] of the target's size.
            PreconditionError: the view is smaller than the SSIM window or LPIPS's receptive field.

        Example:
            >>> import torch
            >>> from nvs_eval.protocols import get_protocol
            >>> ev = Evaluator(get_protocol("nvs-eval"), ("psnr", "ssim"), device="cpu")
            >>> gt = torch.full((1, 3, 16, 16), 0.5)
            >>> scores = ev.score(torch.stack([gt[0], gt[0] + 0.1]), ev.prepare(gt))
            >>> [round(float(v), 3) for v in scores["psnr"]], round(float(scores["ssim"][0]), 3)
            ([inf, 20.0], 1.0)
        """
        with self._tf32():
            return self._score(preds, target, consume, metrics or self.metrics)

    @torch.inference_mode()
    def _score(self, preds: Tensor, target: Target, consume: bool, metrics: tuple[str, ...]) -> dict[str, Tensor]:
        preds = check_image_batch(preds, "pred")
        if preds.shape[1:] != target.image.shape[1:]:
            raise ValueError(f"Expected predictions of shape (N, {tuple(target.image.shape[1:])}), "
                             f"got {tuple(preds.shape)}")
        unknown = [m for m in metrics if m not in self.metrics]
        if unknown:
            raise UsageError(f"metric(s) {unknown} were not set up in this evaluator ({', '.join(self.metrics)})")
        families = {METRICS[m].family for m in metrics}
        # multinerf colour-corrects the render before its quantisation (eval.py: rgb_cc, then np.round)
        corrected = self._quantize(color_correct(preds, target.image), "render") if "cc" in families else None
        preds = self._quantize(preds, "render", inplace=consume)
        images = {"plain": preds, "cc": corrected, "masked": preds}
        kernels = {"psnr": self._psnr, "ssim": self._ssim, "lpips": self._lpips, "dists": self._dists,
                   "flip": self._flip}
        out = {}
        for m in metrics:
            spec = METRICS[m]
            if spec.family == "masked" and not target.mask_is_all_ones:
                out[m] = self._masked(m, preds, target)
            else:  # an all-ones mask: the masked definitions coincide with the plain ones, computed as such
                out[m] = kernels[spec.kind](m, images[spec.family], target)
        self.predictions_scored += preds.shape[0]
        return {m: v.detach().to("cpu", torch.float64) for m, v in out.items()}

    def _masked(self, metric: str, preds: Tensor, target: Target) -> Tensor:
        kind = METRICS[metric].kind
        if kind == "psnr":
            return psnr_from_mse(masked_mse(preds, target.image, target.mask))
        if kind == "ssim":
            step = max(1, (4 << 20) // (preds.shape[-2] * preds.shape[-1]))
            return torch.cat([masked_ssim(preds[i : i + step], target.image, target.mask, self.protocol.ssim)
                              for i in range(0, preds.shape[0], step)])
        # the spatial map's weighted mean, as the mask carried back to each layer (no full-resolution map; exact in
        # tiles too): sum_k sum(d_k * A_h^T m A_w) / sum(m)
        model = self.lpips[metric]
        if model.net not in target.layer_weights:
            sizes = model.tap_sizes(*target.image.shape[-2:])
            target.layer_weights[model.net] = [layer_weights(target.mask, s) for s in sizes]
        weights, total = target.layer_weights[model.net], target.mask.to(torch.float64).sum()
        with self._fast():
            if target.tiled:
                if model.net == "squeeze":
                    raise PreconditionError(f"{metric}: LPIPS-squeeze cannot be tiled exactly (ceil-mode pooling) "
                                            f"and views above {self.tile_above} pixels are scored in tiles")
                return model.tiled_distance(preds, target.image, self.tile,
                                            self.lpips_batch(self.tile + 2 * TILE_HALO[model.net]), weights) / total
            ft = target.features[model.net]
            step = self.lpips_batch(preds)
            return torch.cat([model.distance(model.features(preds[i : i + step]), ft, weights=weights) / total
                              for i in range(0, preds.shape[0], step)])

    def _psnr(self, metric: str, preds: Tensor, target: Target) -> Tensor:
        return psnr_from_mse((preds - target.image).square().flatten(1).mean(1))

    def _ssim(self, metric: str, preds: Tensor, target: Target) -> Tensor:
        # its buffers are ~10 maps per render: a few renders at a time, or bands of a large view
        band = self.ssim_band(preds, preds.shape[0])
        step = preds.shape[0] if band else max(1, (8 << 20) // (preds.shape[-2] * preds.shape[-1]))
        return torch.cat([ssim_with_moments(preds[i : i + step], target.moments, band=band)
                          for i in range(0, preds.shape[0], step)])

    def _lpips(self, metric: str, preds: Tensor, target: Target) -> Tensor:
        model = self.lpips[metric]
        with self._fast():
            if target.tiled and model.net != "squeeze":
                return model.tiled_distance(preds, target.image, self.tile,
                                            self.lpips_batch(self.tile + 2 * TILE_HALO[model.net]))
            ft = target.features[model.net] if model.net in target.features else model.features(target.image)
            step = self.lpips_batch(preds)
            return torch.cat([model.distance(model.features(preds[i : i + step]), ft)
                              for i in range(0, preds.shape[0], step)])

    def _dists(self, metric: str, preds: Tensor, target: Target) -> Tensor:
        if target.tiled:
            return self.dists.tiled_distance(preds, target.image, self.tile,
                                             self.lpips_batch(self.tile + 2 * DISTS_TILE_HALO))
        step = self.lpips_batch(preds)
        return torch.cat([self.dists.distance(preds[i : i + step], target.dists)
                          for i in range(0, preds.shape[0], step)])

    def _flip(self, metric: str, preds: Tensor, target: Target) -> Tensor:
        return flip(preds, target.image)

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
        pred = self._quantize(check_image_batch(pred, "pred"), "render")
        out = {"abs": (pred - target.image).abs().mean(1)[0]}
        if target.moments is not None:
            _, smap = ssim_with_moments(pred, target.moments, return_map=True)
            out["ssim"] = 1.0 - smap.mean(1)[0]
        for m, model in self.lpips.items():
            if METRICS[m].family != "plain":
                continue
            ft = target.features[model.net] if model.net in target.features else model.features(target.image)
            out[m] = model.distance(model.features(pred), ft, spatial=True)[0]
        if "flip" in self.metrics:
            out["flip"] = flip(pred, target.image, return_maps=True)[1][0]
        return {k: v.detach().float().cpu() for k, v in out.items()}
