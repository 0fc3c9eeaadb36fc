"""Metric adapters: what the evaluator does with each metric kind, in one class per kind.

An adapter is built once per evaluator for the metric ids of its kind. It says which weights its values depend on
(:meth:`Adapter.signature`, stored with every row), prepares the ground-truth side of a view once
(:meth:`Adapter.prepare`), scores a batch of renders against it (:meth:`Adapter.score`; the masked family through
:meth:`Adapter.score_masked`), and draws its per-pixel map (:meth:`Adapter.map`). The evaluator itself has no
per-kind branches: a new kind is one adapter here and one :data:`ADAPTERS` entry, and a third-party metric is a
:class:`PluginAdapter` around a function (:mod:`nvs_eval.plugin`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

import torch
from torch import Tensor

from ..conventions.registry import METRICS, plugin_function
from ..errors import PluginError, PreconditionError
from ..metrics.dists import DISTSFeatures
from ..metrics.lpips import LPIPSFeatures
from ..metrics.masked import layer_weights, masked_mse, masked_ssim
from ..metrics.psnr import psnr_from_mse

if TYPE_CHECKING:
    from .evaluator import Evaluator, Target


class Adapter:
    """One metric kind. Subclasses set :attr:`kind` and override what their kind does.

    Attributes:
        tiled: whether views too large for the device are scored in tiles for this kind (the network metrics).
        gpu_bytes_per_pixel: device bytes per pixel its prepared ground truth keeps (the CUDA memory model).
    """

    kind: ClassVar[str] = ""
    tiled: ClassVar[bool] = False
    gpu_bytes_per_pixel: ClassVar[int] = 0

    def __init__(self, ev: Evaluator, metrics: tuple[str, ...], *, fetch: bool = True):
        self.ev, self.metrics = ev, metrics

    def signature(self) -> dict[str, str]:
        """Weights-summary entries ``{key: digest}`` its values depend on (none: exact, weight-free)."""
        return {}

    def prepare(self, target: Target) -> None:
        """Compute the ground-truth side of a view once (into ``target``)."""

    def score(self, metric: str, images: Tensor, target: Target) -> Tensor:
        """``Tensor[N]``: ``metric`` of N renders (already quantised, or colour-corrected) against the view."""
        raise NotImplementedError

    def score_masked(self, metric: str, preds: Tensor, target: Target) -> Tensor:
        raise NotImplementedError(f"{metric}: no masked variant")

    def map(self, metric: str, pred: Tensor, target: Target) -> Tensor | None:
        """Its per-pixel map of one render (``(H', W')``), or ``None`` for a kind without one."""
        return None


class PSNRAdapter(Adapter):
    kind = "psnr"

    def score(self, metric, images, target):
        return psnr_from_mse((images - target.image).square().flatten(1).mean(1))

    def score_masked(self, metric, preds, target):
        return psnr_from_mse(masked_mse(preds, target.image, target.mask))


class SSIMAdapter(Adapter):
    kind = "ssim"
    gpu_bytes_per_pixel = 80

    def prepare(self, target):
        from ..metrics.ssim import target_moments

        target.moments = target_moments(target.image, self.ev.protocol.ssim,
                                        band=self.ev.ssim_band(target.image, target.views))

    def score(self, metric, images, target):
        from ..metrics.ssim import ssim_with_moments

        # its buffers are ~10 maps per render: a few renders at a time, or bands of a large view
        band = self.ev.ssim_band(images, images.shape[0])
        step = images.shape[0] if band else max(1, (8 << 20) // (images.shape[-2] * images.shape[-1]))
        values = torch.cat([ssim_with_moments(images[i : i + step], target.rows(i, i + step).moments, band=band)
                            for i in range(0, images.shape[0], step)])
        if _keeps_map(target, metric):  # the map apart: the banded value is not to change when maps are kept
            target.spatial[metric] = 1.0 - ssim_with_moments(images, target.moments, return_map=True)[1].mean(1)
        return values

    def score_masked(self, metric, preds, target):
        from ..metrics.dycheck import dycheck_ssim

        step = max(1, (4 << 20) // (preds.shape[-2] * preds.shape[-1]))
        if self.ev.protocol.mask_convention == "dycheck":  # partial convolution (nvs_eval.metrics.dycheck)
            return torch.cat([dycheck_ssim(preds[i : i + step], (t := target.rows(i, i + step)).image, t.mask)
                              for i in range(0, preds.shape[0], step)])
        return torch.cat([masked_ssim(preds[i : i + step], (t := target.rows(i, i + step)).image, t.mask,
                                      self.ev.protocol.ssim) for i in range(0, preds.shape[0], step)])

    def map(self, metric, pred, target):
        from ..metrics.ssim import ssim_with_moments

        _, smap = ssim_with_moments(pred, target.moments, return_map=True)
        return 1.0 - smap.mean(1)[0]


class LPIPSAdapter(Adapter):
    """Every LPIPS metric (plain, colour-corrected, masked) of the evaluator: one network per backbone, shared."""

    kind = "lpips"
    tiled = True
    gpu_bytes_per_pixel = 500  # VGG's normalised features (AlexNet's are ~50; the larger is planned for)

    def __init__(self, ev, metrics, *, fetch=True):
        from ..metrics.lpips import build_lpips

        super().__init__(ev, metrics)
        self.nets = {}
        self.provenance = {}
        for m in metrics:
            net = METRICS[m].lpips_net
            if net not in self.nets:
                self.nets[net], self.provenance[net] = build_lpips(net, ev.protocol.lpips_input, fetch=fetch,
                                                                   device=ev.device,
                                                                   version=ev.protocol.lpips_version)
        self.by_metric = {m: self.nets[METRICS[m].lpips_net] for m in metrics}

    def signature(self):
        return {f"lpips_{n}": f"{p.backbone.digest[:16]}/{p.lin_sha256[:16]}" for n, p in self.provenance.items()}

    def prepare(self, target):
        if not target.tiled:
            step = self.ev.lpips_batch(target.image)
            with self.ev._fast():
                for net, model in self.nets.items():
                    parts = [model.features(target.image[i : i + step]) for i in range(0, target.views, step)]
                    target.features[net] = parts[0] if len(parts) == 1 else LPIPSFeatures(
                        tuple(torch.cat(x) for x in zip(*(p.layers for p in parts))), parts[0].size)

    def _features(self, model, target):
        return target.features[model.net] if model.net in target.features else model.features(target.image)

    def score(self, metric, images, target):
        from ..metrics.lpips import TILE_HALO

        model, ev = self.by_metric[metric], self.ev
        if ev.protocol.mask_convention == "dycheck":  # DyCheck's LPIPS: the upsampled map's mean, all-ones mask
            return self._dycheck(metric, images, target, masked=False)
        with ev._fast():
            if target.tiled and model.net != "squeeze":
                side = ev.tile_side(TILE_HALO[model.net])
                return model.tiled_distance(images, target.image, side, ev.lpips_batch(side + 2 * TILE_HALO[model.net]))
            step, values, maps = ev.lpips_batch(images), [], []
            for i in range(0, images.shape[0], step):
                fx, fy = model.features(images[i : i + step]), self._features(model, target.rows(i, i + step))
                values.append(model.distance(fx, fy))
                if _keeps_map(target, metric):  # the same features, distances kept per pixel
                    maps.append(model.distance(fx, fy, spatial=True).float())
            if maps:
                target.spatial[metric] = torch.cat(maps)
            return torch.cat(values)

    def score_masked(self, metric, preds, target):
        """The spatial map's weighted mean, as the mask carried back to each layer (no full-resolution map; exact
        in tiles too): ``sum_k sum(d_k * A_h^T m A_w) / sum(m)``, per view."""
        from ..metrics.lpips import TILE_HALO

        model, ev = self.by_metric[metric], self.ev
        if ev.protocol.mask_convention == "dycheck":
            return self._dycheck(metric, preds, target, masked=True)
        if model.net not in target.layer_weights:
            sizes = model.tap_sizes(*target.image.shape[-2:])
            target.layer_weights[model.net] = [layer_weights(target.mask, s) for s in sizes]
        with ev._fast():
            if target.tiled:
                if model.net == "squeeze":
                    raise PreconditionError(f"{metric}: LPIPS-squeeze cannot be tiled exactly (ceil-mode pooling) "
                                            "and this view is scored in tiles")
                side = ev.tile_side(TILE_HALO[model.net])
                return model.tiled_distance(preds, target.image, side, ev.lpips_batch(side + 2 * TILE_HALO[model.net]),
                                            target.layer_weights[model.net]) / _mask_total(target)
            step, out = ev.lpips_batch(preds), []
            for i in range(0, preds.shape[0], step):
                t = target.rows(i, i + step)
                d = model.distance(model.features(preds[i : i + step]), t.features[model.net],
                                   weights=t.layer_weights[model.net])
                out.append(d / _mask_total(t))
            return torch.cat(out)

    def _dycheck(self, metric, preds, target, *, masked: bool):
        """DyCheck's mLPIPS (nvs_eval.metrics.dycheck): both inputs zeroed outside each view's mask (all ones
        unless ``masked``), the spatial map upsampled as lpips' ``spatial=True`` does and averaged under the mask,
        computed from the mask carried back to each layer (:func:`layer_weights`: the same sum, without the
        full-resolution map)."""
        model, ev = self.by_metric[metric], self.ev
        if target.tiled:
            raise PreconditionError(f"{metric}: DyCheck's LPIPS is computed whole (no tiles), and this view is too "
                                    "large for the device")
        sizes = model.tap_sizes(*target.image.shape[-2:])
        out, step = [], ev.lpips_batch(preds)
        for i in range(0, preds.shape[0], step):
            t, x = target.rows(i, i + step), preds[i : i + step]
            m = t.mask.to(x.dtype).expand(x.shape[0], -1, -1, -1) if masked else torch.ones_like(x[:, :1])
            with ev._fast():  # all ones: the prepared ground-truth features are those of the unmasked image
                gt = model.features(t.image * m) if masked else self._features(model, t)
                d = model.distance(model.features(x * m), gt, weights=[layer_weights(m if masked else m[:1], s)
                                                                      for s in sizes])
            out.append(d / m.flatten(1).sum(1).to(d))
        return torch.cat(out)

    def map(self, metric, pred, target):
        if METRICS[metric].family != "plain":
            return None
        model = self.by_metric[metric]
        return model.distance(model.features(pred), self._features(model, target), spatial=True)[0]


def _keeps_map(target: Target, metric: str) -> bool:
    """Whether a score of ``metric`` also leaves its per-pixel maps in ``target.spatial`` (plain metrics only)."""
    return target.spatial is not None and METRICS[metric].family == "plain"


def _mask_total(target: Target) -> Tensor:
    """Each view's mask weight (float64), the masked LPIPS's denominator."""
    return target.mask.to(torch.float64).flatten(1).sum(1)


class DISTSAdapter(Adapter):
    kind = "dists"
    tiled = True
    gpu_bytes_per_pixel = 520

    def __init__(self, ev, metrics, *, fetch=True):
        from ..metrics.dists import build_dists

        super().__init__(ev, metrics)
        self.model, prov = build_dists(fetch=fetch, device=ev.device)
        self._signature = f"{prov.backbone.digest[:16]}/{prov.alphabeta.digest[:16]}"

    def signature(self):
        return {"dists": self._signature}

    def prepare(self, target):
        if not target.tiled:
            step = self.ev.lpips_batch(target.image)
            parts = [self.model.features(target.image[i : i + step]) for i in range(0, target.views, step)]
            target.dists = parts[0] if len(parts) == 1 else DISTSFeatures(
                tuple(torch.cat(x) for x in zip(*(p.layers for p in parts))),
                tuple(torch.cat(x) for x in zip(*(p.sums for p in parts))))

    def score(self, metric, images, target):
        from ..metrics.dists import TILE_HALO

        ev = self.ev
        if target.tiled:
            side = ev.tile_side(TILE_HALO)
            return self.model.tiled_distance(images, target.image, side, ev.lpips_batch(side + 2 * TILE_HALO))
        step = ev.lpips_batch(images)
        return torch.cat([self.model.distance(images[i : i + step], target.rows(i, i + step).dists)
                          for i in range(0, images.shape[0], step)])


class FLIPAdapter(Adapter):
    kind = "flip"

    def signature(self):
        from ..metrics.flip import flip_signature

        return {"flip": flip_signature()}

    def score(self, metric, images, target):
        from ..metrics.flip import flip

        if not _keeps_map(target, metric):
            return flip(images, target.image)
        values, target.spatial[metric] = flip(images, target.image, return_maps=True)
        return values

    def map(self, metric, pred, target):
        from ..metrics.flip import flip

        return flip(pred, target.image, return_maps=True)[1][0]


class PluginAdapter(Adapter):
    """Third-party per-image metrics (:func:`nvs_eval.plugin.metric`): ``fn(renders, ground_truth)`` with renders
    ``(N, 3, H, W)`` and the ground truth ``(1, 3, H, W)``, floats in [0, 1] (the protocol's quantisation applied)
    on the evaluator's device, returning ``(N,)``. Its signature is the plugin's package and version."""

    kind = "plugin"

    def signature(self):
        return {m: METRICS[m].plugin for m in self.metrics}

    def score(self, metric, images, target):
        """One call per view (the function's contract is N renders of one ground truth); the renders of a batch
        spanning views are grouped by their view."""
        if target.views == 1:
            return self._call(metric, images, target.image)
        groups: dict[int, list[int]] = {}
        for i in range(images.shape[0]):
            groups.setdefault(target.view_of(i), []).append(i)
        out = torch.empty(images.shape[0], dtype=torch.float64, device=images.device)
        for rows in groups.values():
            idx = torch.tensor(rows, device=images.device)
            out[idx] = self._call(metric, images[idx], target.image[rows[0] : rows[0] + 1])
        return out

    def _call(self, metric, images, gt):
        spec = METRICS[metric]
        try:
            out = plugin_function(metric)(images, gt)
        except PluginError:
            raise
        except Exception as e:  # noqa: BLE001 - the plugin's own failure, named as such
            raise PluginError(f"metric {metric!r} (plugin {spec.plugin}) failed: {type(e).__name__}: {e}") from e
        out = torch.as_tensor(out)
        if tuple(out.shape) != (images.shape[0],):
            raise PluginError(f"metric {metric!r} (plugin {spec.plugin}) returned shape {tuple(out.shape)} for "
                              f"{images.shape[0]} render(s); expected ({images.shape[0]},): one value per render")
        return out.to(images.device, torch.float64)


ADAPTERS: dict[str, type[Adapter]] = {a.kind: a for a in (PSNRAdapter, SSIMAdapter, LPIPSAdapter, DISTSAdapter,
                                                          FLIPAdapter, PluginAdapter)}
