"""The compute stage: an evaluator owns the device and the networks, and scores predictions of one view.

The ground-truth side of a view (quantisation, SSIM moments, LPIPS features) is prepared once by
:meth:`Evaluator.prepare` and reused for every method scored against it by :meth:`Evaluator.score`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch
from torch import Tensor

from ..metrics.lpips import LPIPS, LPIPSFeatures, build_lpips
from ..metrics.psnr import psnr_from_mse
from ..metrics.registry import METRICS
from ..metrics.ssim import TargetMoments, ssim_with_moments, target_moments
from ..metrics.validate import check_image_batch
from ..protocols import Protocol


def resolve_device(device: str | torch.device = "auto") -> torch.device:
    """``auto`` is the first CUDA device when there is one, else the CPU; ``cuda[:N]`` must exist."""
    if isinstance(device, torch.device):
        return device
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(device)
    except RuntimeError:
        raise ValueError(f"unknown device {device!r}; expected auto, cpu, cuda or cuda:N") from None
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(f"device {device!r} asked for, but CUDA is not available on this machine")
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise ValueError(f"device {device!r} asked for, but only {torch.cuda.device_count()} CUDA device(s) exist")
    elif dev.type != "cpu":
        raise ValueError(f"unsupported device {device!r}; expected auto, cpu, cuda or cuda:N")
    return dev


def quantize(x: Tensor, mode: str) -> Tensor:
    """8-bit quantisation: ``round`` is ``round(x * 255) / 255``, ``truncate`` is ``floor(x * 255) / 255``."""
    if mode == "none":
        return x
    if mode == "round":
        return torch.round(x * 255.0) / 255.0
    if mode == "truncate":
        return torch.floor(x * 255.0) / 255.0
    raise ValueError(f"unknown quantisation {mode!r}")


@dataclass
class Target:
    """The prepared ground-truth side of one view."""

    image: Tensor
    moments: TargetMoments | None
    features: dict[str, LPIPSFeatures] = field(default_factory=dict)


class Evaluator:
    """Scores renders against ground truth under one protocol, on one device.

    Args:
        protocol: the :class:`~nvs_eval.protocols.Protocol`.
        metrics: metric ids to compute (default: the protocol's).
        device: ``auto``, ``cpu``, ``cuda`` or ``cuda:N``.
        fetch_weights: fetch missing LPIPS backbones on first use.
    """

    def __init__(self, protocol: Protocol, metrics: tuple[str, ...] | None = None, device: str = "auto",
                 *, fetch_weights: bool = True):
        self.protocol = protocol
        self.metrics = tuple(metrics or protocol.metrics)
        unknown = [m for m in self.metrics if m not in METRICS]
        if unknown:
            raise ValueError(f"unknown metric(s) {unknown}; known: {', '.join(METRICS)}")
        self.device = resolve_device(device)
        self.lpips: dict[str, LPIPS] = {}
        self.weights: dict[str, dict[str, str]] = {}
        for m in self.metrics:
            net = METRICS[m].lpips_net
            if net is not None:
                model, prov = build_lpips(net, protocol.lpips_input, fetch=fetch_weights, device=self.device)
                self.lpips[m] = model
                self.weights[m] = {"backbone": prov.backbone.digest, "backbone_source": prov.backbone.source,
                                   "lin_v0.1": prov.lin_sha256}
        self.targets_prepared = 0
        self.predictions_scored = 0

    def weights_summary(self) -> str:
        """A compact, stable string of every weight digest in use (stored with each result)."""
        return ";".join(f"{m}:{w['backbone'][:16]}/{w['lin_v0.1'][:16]}" for m, w in sorted(self.weights.items()))

    def to_tensor(self, image: np.ndarray) -> Tensor:
        """H x W x 3 float32 array -> (1, 3, H, W) tensor on the device."""
        t = torch.from_numpy(np.ascontiguousarray(image)).permute(2, 0, 1).unsqueeze(0)
        return t.to(self.device, non_blocking=True)

    def _quantize(self, x: Tensor, which: str) -> Tensor:
        applies = self.protocol.quantize_images == "both" or self.protocol.quantize_images == which
        return quantize(x, self.protocol.quantize) if applies else x

    @torch.inference_mode()
    def prepare(self, gt: Tensor) -> Target:
        """Quantise the ground truth and compute its SSIM moments and LPIPS features, once."""
        gt = self._quantize(check_image_batch(gt, "target"), "gt")
        if gt.shape[0] != 1:
            raise ValueError(f"Expected one ground-truth image, got a batch of {gt.shape[0]}")
        self.targets_prepared += 1
        target = Target(gt, target_moments(gt, self.protocol.ssim) if "ssim" in self.metrics else None)
        for m, model in self.lpips.items():
            target.features[m] = model.features(gt)
        return target

    @torch.inference_mode()
    def score(self, preds: Tensor, target: Target) -> dict[str, Tensor]:
        """Every metric for a batch of predictions of the prepared view: ``{metric: Tensor[N]}`` on the CPU."""
        preds = self._quantize(check_image_batch(preds, "pred"), "render")
        if preds.shape[1:] != target.image.shape[1:]:
            raise ValueError(f"Expected predictions of shape (N, {tuple(target.image.shape[1:])}), got {tuple(preds.shape)}")
        out: dict[str, Tensor] = {}
        for m in self.metrics:
            if m == "psnr":
                out[m] = psnr_from_mse((preds - target.image).square().flatten(1).mean(1))
            elif m == "ssim":
                out[m] = ssim_with_moments(preds, target.moments)
            else:
                model = self.lpips[m]
                out[m] = model.distance(model.features(preds), target.features[m])
        self.predictions_scored += preds.shape[0]
        return {m: v.detach().to("cpu", torch.float64) for m, v in out.items()}

    def score_pair(self, pred: Tensor, gt: Tensor) -> dict[str, Tensor]:
        """Score N independent pairs (each ground truth prepared separately)."""
        results = [self.score(pred[i : i + 1], self.prepare(gt[i : i + 1])) for i in range(pred.shape[0])]
        return {m: torch.cat([r[m] for r in results]) for m in self.metrics}

    @torch.inference_mode()
    def maps(self, pred: Tensor, target: Target) -> dict[str, Tensor]:
        """Per-pixel maps of one prediction against a prepared view, from the same kernels as the scores:
        ``abs`` error, ``ssim`` (1 - SSIM) and each LPIPS metric, each (H', W')."""
        pred = self._quantize(check_image_batch(pred, "pred"), "render")
        out = {"abs": (pred - target.image).abs().mean(1)[0]}
        if target.moments is not None:
            _, smap = ssim_with_moments(pred, target.moments, return_map=True)
            out["ssim"] = 1.0 - smap.mean(1)[0]
        for m, model in self.lpips.items():
            out[m] = model.distance(model.features(pred), target.features[m], spatial=True)[0]
        return {k: v.detach().float().cpu() for k, v in out.items()}
