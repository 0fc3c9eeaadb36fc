"""Metric adapters: everything nvs-eval knows about a metric kind, in one class per kind.

An adapter is built once per evaluator for the metric ids of its kind, from a small
:class:`~nvs_eval.compute.context.Context` (device, protocol, precision, tiling and batching policy, the
evaluator's networks), never from the evaluator itself. It declares:

* its stored-signature rule: :meth:`Adapter.signature_keys`, the entries of a stored weights summary a metric's
  value depends on (compared before a stored row is reused, :func:`weights_entry`), and :meth:`Adapter.signature`,
  the digests of the weights it loaded under those keys; the two are checked against each other, so a kind whose
  weights could change unnoticed cannot be built;
* its reference implementation for the reference tester (:meth:`Adapter.reference`, ``tests/metric_tester.py``).

It prepares the ground-truth side of a view once (:meth:`Adapter.prepare`, into ``target.prepared``), scores a
batch of renders against it (:meth:`Adapter.score`; the masked family through :meth:`Adapter.score_masked`), and
draws its per-pixel map (:meth:`Adapter.map`). A new kind is its kernel in :mod:`nvs_eval.metrics` and one class
here under :func:`register_adapter`, the only list of kinds (a metric's ``kind`` names one); a third-party metric
is a :class:`PluginAdapter` around a function (:mod:`nvs_eval.plugin`).
"""

from __future__ import annotations

import re
from typing import ClassVar

import torch
from torch import Tensor

from ..conventions.registry import METRICS, MetricSpec, plugin_function
from ..errors import PluginError, PreconditionError, UsageError
from ..metrics.dists import DISTSFeatures
from ..metrics.lpips import LPIPSFeatures
from ..metrics.masked import layer_weights, masked_mse, masked_ssim
from ..metrics.psnr import psnr_from_mse
from . import references
from .context import Context
from .references import Reference
from .target import Target

ADAPTERS: dict[str, type[Adapter]] = {}  # kind -> adapter class, filled by register_adapter


def register_adapter(cls: type[Adapter]) -> type[Adapter]:
    """Register ``cls`` as the adapter of its :attr:`~Adapter.kind` (a class decorator). It must declare its
    stored-signature rule (:meth:`~Adapter.signature_keys`) and its reference (:meth:`~Adapter.reference`)."""
    if not re.fullmatch(r"[a-z][a-z0-9_]*", cls.kind or ""):
        raise TypeError(f"{cls.__name__}.kind must be an id (lower case, digits, _), got {cls.kind!r}")
    if cls.kind in ADAPTERS and ADAPTERS[cls.kind] is not cls:
        raise TypeError(f"metric kind {cls.kind!r} already has an adapter, {ADAPTERS[cls.kind].__name__}")
    for method in ("signature_keys", "reference"):
        if not any(method in vars(k) for k in cls.__mro__ if k is not Adapter):
            raise TypeError(f"{cls.__name__} (kind {cls.kind!r}) must declare {method}: "
                            f"{getattr(Adapter, method).__doc__.splitlines()[0]}")
    ADAPTERS[cls.kind] = cls
    return cls


def adapter_class(kind: str, metric: str = "") -> type[Adapter]:
    """The adapter registered for ``kind`` (``metric``: the metric id that asked, for the message)."""
    try:
        return ADAPTERS[kind]
    except KeyError:
        who = f"metric {metric!r} has kind {kind!r}" if metric else f"metric kind {kind!r}"
        raise UsageError(f"{who}, which no adapter registers (known kinds: {', '.join(ADAPTERS)}); a kind is "
                         "registered with nvs_eval.compute.adapters.register_adapter") from None


def weights_entry(summary: str, metric: str) -> str:
    """The part of a stored weights summary (:meth:`Evaluator.weights_summary`) that ``metric``'s value depends on,
    by its adapter's rule: the entries under its :meth:`~Adapter.signature_keys` (the LPIPS family: its network's;
    DISTS's weights; the FLIP implementation's version; a plugin's package; none for PSNR and SSIM), and the
    opt-in ``precision=`` for a precision-sensitive kind. Reuse compares this, so adding a metric never invalidates
    the stored others.

    >>> weights_entry("lpips_alex:a30f/df73;lpips_vgg:5706/a789;precision=bf16", "cc_lpips_vgg")
    'lpips_vgg:5706/a789;precision=bf16'
    >>> weights_entry("dists:5706/ab0a;flip:flip-evaluator==1.7;lpips_vgg:5706/a789;precision=bf16", "dists")
    'dists:5706/ab0a'
    >>> weights_entry("lpips_vgg:5706/a789", "psnr")
    ''
    """
    spec = METRICS.get(metric)
    if spec is None:  # a metric no longer installed: nothing to compare
        return ""
    cls = adapter_class(spec.kind, metric)
    keys = set(cls.signature_keys(spec)) | ({"precision"} if cls.precision_sensitive else set())
    return ";".join(p for p in summary.split(";") if re.split("[:=]", p, maxsplit=1)[0] in keys)


class Adapter:
    """One metric kind. Subclasses set :attr:`kind`, declare :meth:`signature_keys` and :meth:`reference`, and
    override what their kind does; :func:`register_adapter` makes the kind known.

    Attributes:
        tiled: whether views too large for the device are scored in tiles for this kind (the network metrics).
        gpu_bytes_per_pixel: device bytes per pixel its prepared ground truth keeps (the CUDA memory model).
        precision_sensitive: its networks run under the opt-in precision (:meth:`Context.fast`), so its stored
            values depend on the precision too.
    """

    kind: ClassVar[str] = ""
    tiled: ClassVar[bool] = False
    gpu_bytes_per_pixel: ClassVar[int] = 0
    precision_sensitive: ClassVar[bool] = False

    def __init__(self, ctx: Context, metrics: tuple[str, ...]):
        self.ctx, self.metrics = ctx, metrics

    @classmethod
    def signature_keys(cls, spec: MetricSpec) -> tuple[str, ...]:
        """The weights-summary keys a value of metric ``spec`` depends on (``()``: exact and weight-free)."""
        raise NotImplementedError

    def signature(self) -> dict[str, str]:
        """``{key: digest}`` of the weights (or implementation version) its metrics' values depend on, under the
        keys :meth:`signature_keys` names; stored with every row."""
        return {}

    def checked_signature(self) -> dict[str, str]:
        """:meth:`signature`, checked against :meth:`signature_keys`: a digest no metric depends on, or a key
        without its digest, would let a changed weight file be reused unnoticed."""
        entries = self.signature()
        keys = {k for m in self.metrics for k in self.signature_keys(METRICS[m])}
        if set(entries) != keys:
            raise TypeError(f"{type(self).__name__} (kind {self.kind!r}): its signature() gives {sorted(entries)} "
                            f"but signature_keys() names {sorted(keys)} for {', '.join(self.metrics)}; they must "
                            "agree, or a changed weight file would be reused")
        return entries

    def reference(self, metric: str) -> Reference:
        """An independent implementation of ``metric`` under the context's protocol, for the reference tester
        (``(render, ground truth)`` float64 H x W x 3 -> value; the families are applied around it)."""
        raise NotImplementedError

    def prepare(self, target: Target) -> None:
        """Compute the ground-truth side of a view once (into ``target.prepared``)."""

    def score(self, metric: str, images: Tensor, target: Target) -> Tensor:
        """``Tensor[N]``: ``metric`` of N renders (already quantised, or colour-corrected) against the view."""
        raise NotImplementedError

    def score_masked(self, metric: str, preds: Tensor, target: Target) -> Tensor:
        raise NotImplementedError(f"{metric}: no masked variant")

    def map(self, metric: str, pred: Tensor, target: Target) -> Tensor | None:
        """Its per-pixel map of one render (``(H', W')``), or ``None`` for a kind without one."""
        return None


@register_adapter
class PSNRAdapter(Adapter):
    kind = "psnr"

    @classmethod
    def signature_keys(cls, spec):
        return ()

    def reference(self, metric):
        return references.psnr

    def score(self, metric, images, target):
        return psnr_from_mse((images - target.image).square().flatten(1).mean(1))

    def score_masked(self, metric, preds, target):
        return psnr_from_mse(masked_mse(preds, target.image, target.mask))


@register_adapter
class SSIMAdapter(Adapter):
    kind = "ssim"
    gpu_bytes_per_pixel = 80

    @classmethod
    def signature_keys(cls, spec):
        return ()

    def reference(self, metric):
        return references.ssim(self.ctx.protocol.ssim)

    def prepare(self, target):
        from ..metrics.ssim import target_moments

        target.prepared["ssim"] = target_moments(target.image, self.ctx.protocol.ssim,
                                                 band=self.ctx.policy.ssim_band(target.image, target.views))

    def score(self, metric, images, target):
        from ..metrics.ssim import ssim_with_moments

        # its buffers are ~10 maps per render: a few renders at a time, or bands of a large view
        band = self.ctx.policy.ssim_band(images, images.shape[0])
        step = images.shape[0] if band else max(1, (8 << 20) // (images.shape[-2] * images.shape[-1]))
        values = torch.cat([ssim_with_moments(images[i : i + step], target.rows(i, i + step).prepared["ssim"],
                                              band=band) for i in range(0, images.shape[0], step)])
        if _keeps_map(target, metric):  # the map apart: the banded value is not to change when maps are kept
            smap = ssim_with_moments(images, target.prepared["ssim"], return_map=True)[1]
            target.spatial[metric] = 1.0 - smap.mean(1)
        return values

    def score_masked(self, metric, preds, target):
        from ..metrics.dycheck import dycheck_ssim

        step, protocol = max(1, (4 << 20) // (preds.shape[-2] * preds.shape[-1])), self.ctx.protocol
        if protocol.mask_convention == "dycheck":  # partial convolution (nvs_eval.metrics.dycheck)
            return torch.cat([dycheck_ssim(preds[i : i + step], (t := target.rows(i, i + step)).image, t.mask)
                              for i in range(0, preds.shape[0], step)])
        return torch.cat([masked_ssim(preds[i : i + step], (t := target.rows(i, i + step)).image, t.mask,
                                      protocol.ssim) for i in range(0, preds.shape[0], step)])

    def map(self, metric, pred, target):
        from ..metrics.ssim import ssim_with_moments

        _, smap = ssim_with_moments(pred, target.prepared["ssim"], return_map=True)
        return 1.0 - smap.mean(1)[0]


def _cat_features(parts: list[LPIPSFeatures]) -> LPIPSFeatures:
    return parts[0] if len(parts) == 1 else LPIPSFeatures(tuple(torch.cat(x) for x in zip(*(p.layers for p in parts))),
                                                          parts[0].size)


@register_adapter
class LPIPSAdapter(Adapter):
    """Every LPIPS metric (plain, colour-corrected, masked) of the evaluator: one network per backbone, shared.
    Its prepared ground truth: ``target.prepared["lpips"]``, the features by backbone, and ``"lpips_weights"``,
    the mask carried back to each layer, by backbone (the masked family)."""

    kind = "lpips"
    tiled = True
    gpu_bytes_per_pixel = 500  # VGG's normalised features (AlexNet's are ~50; the larger is planned for)
    precision_sensitive = True

    def __init__(self, ctx, metrics):
        from ..metrics.lpips import build_lpips

        super().__init__(ctx, metrics)
        self.nets, self.provenance = {}, {}
        p = ctx.protocol
        for m in metrics:
            net = METRICS[m].lpips_net
            self.nets[net], self.provenance[net] = ctx.network(
                ("lpips", net, p.lpips_input, p.lpips_version),
                lambda net=net: build_lpips(net, p.lpips_input, fetch=ctx.fetch, device=ctx.device,
                                            version=p.lpips_version))
        self.by_metric = {m: self.nets[METRICS[m].lpips_net] for m in metrics}

    @classmethod
    def signature_keys(cls, spec):
        return (f"lpips_{spec.lpips_net}",)

    def signature(self):
        return {f"lpips_{n}": f"{p.backbone.digest[:16]}/{p.lin_sha256[:16]}" for n, p in self.provenance.items()}

    def reference(self, metric):
        p = self.ctx.protocol
        return references.lpips(METRICS[metric].lpips_net, p.lpips_version, p.lpips_input)

    def prepare(self, target):
        if not target.tiled:
            step, features = self.ctx.policy.forward_batch(target.image), {}
            with self.ctx.fast():
                for net, model in self.nets.items():
                    features[net] = _cat_features([model.features(target.image[i : i + step])
                                                   for i in range(0, target.views, step)])
            target.prepared["lpips"] = features

    def _features(self, model, target):
        features = target.prepared.get("lpips", {})
        return features[model.net] if model.net in features else model.features(target.image)

    def _tiled(self, model, images, target, weights=None):
        from ..metrics.lpips import TILE_HALO

        policy = self.ctx.policy
        side = policy.tile_side(TILE_HALO[model.net])
        return model.tiled_distance(images, target.image, side, policy.forward_batch(side + 2 * TILE_HALO[model.net]),
                                    weights)

    def score(self, metric, images, target):
        model = self.by_metric[metric]
        if self.ctx.protocol.mask_convention == "dycheck":  # DyCheck's LPIPS: the upsampled map's mean, all-ones mask
            return self._dycheck(metric, images, target, masked=False)
        with self.ctx.fast():
            if target.tiled and model.net != "squeeze":
                return self._tiled(model, images, target)
            step, values, maps = self.ctx.policy.forward_batch(images), [], []
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
        model = self.by_metric[metric]
        if self.ctx.protocol.mask_convention == "dycheck":
            return self._dycheck(metric, preds, target, masked=True)
        weights = target.prepared.setdefault("lpips_weights", {})
        if model.net not in weights:
            weights[model.net] = [layer_weights(target.mask, s) for s in model.tap_sizes(*target.image.shape[-2:])]
        with self.ctx.fast():
            if target.tiled:
                if model.net == "squeeze":
                    raise PreconditionError(f"{metric}: LPIPS-squeeze cannot be tiled exactly (ceil-mode pooling) "
                                            "and this view is scored in tiles")
                return self._tiled(model, preds, target, weights[model.net]) / _mask_total(target)
            step, out = self.ctx.policy.forward_batch(preds), []
            for i in range(0, preds.shape[0], step):
                t = target.rows(i, i + step)
                d = model.distance(model.features(preds[i : i + step]), t.prepared["lpips"][model.net],
                                   weights=t.prepared["lpips_weights"][model.net])
                out.append(d / _mask_total(t))
            return torch.cat(out)

    def _dycheck(self, metric, preds, target, *, masked: bool):
        """DyCheck's mLPIPS (nvs_eval.metrics.dycheck): both inputs zeroed outside each view's mask (all ones
        unless ``masked``), the spatial map upsampled as lpips' ``spatial=True`` does and averaged under the mask,
        computed from the mask carried back to each layer (:func:`layer_weights`: the same sum, without the
        full-resolution map)."""
        model = self.by_metric[metric]
        if target.tiled:
            raise PreconditionError(f"{metric}: DyCheck's LPIPS is computed whole (no tiles), and this view is too "
                                    "large for the device")
        from ..metrics.dycheck import masked_input_lpips

        sizes = model.tap_sizes(*target.image.shape[-2:])
        out, step = [], self.ctx.policy.forward_batch(preds)
        for i in range(0, preds.shape[0], step):
            t, x = target.rows(i, i + step), preds[i : i + step]
            with self.ctx.fast():
                if masked:  # the kernel itself (nvs_eval.metrics.dycheck.dycheck_lpips)
                    out.append(masked_input_lpips(x, t.image, t.mask, model))
                    continue
                m = torch.ones_like(x[:, :1])  # all ones: the prepared features are those of the unmasked image
                d = model.distance(model.features(x), self._features(model, t),
                                   weights=[layer_weights(m[:1], s) for s in sizes])
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


@register_adapter
class DISTSAdapter(Adapter):
    """DISTS (:mod:`nvs_eval.metrics.dists`); its prepared ground truth: ``target.prepared["dists"]``."""

    kind = "dists"
    tiled = True
    gpu_bytes_per_pixel = 520

    def __init__(self, ctx, metrics):
        from ..metrics.dists import build_dists

        super().__init__(ctx, metrics)
        self.model, prov = ctx.network(("dists",), lambda: build_dists(fetch=ctx.fetch, device=ctx.device))
        self._signature = f"{prov.backbone.digest[:16]}/{prov.alphabeta.digest[:16]}"

    @classmethod
    def signature_keys(cls, spec):
        return ("dists",)

    def signature(self):
        return {"dists": self._signature}

    def reference(self, metric):
        return references.dists()

    def prepare(self, target):
        if not target.tiled:
            step = self.ctx.policy.forward_batch(target.image)
            parts = [self.model.features(target.image[i : i + step]) for i in range(0, target.views, step)]
            target.prepared["dists"] = parts[0] if len(parts) == 1 else DISTSFeatures(
                tuple(torch.cat(x) for x in zip(*(p.layers for p in parts))),
                tuple(torch.cat(x) for x in zip(*(p.sums for p in parts))))

    def score(self, metric, images, target):
        from ..metrics.dists import TILE_HALO

        policy = self.ctx.policy
        if target.tiled:
            side = policy.tile_side(TILE_HALO)
            return self.model.tiled_distance(images, target.image, side, policy.forward_batch(side + 2 * TILE_HALO))
        step = policy.forward_batch(images)
        return torch.cat([self.model.distance(images[i : i + step], target.rows(i, i + step).prepared["dists"])
                          for i in range(0, images.shape[0], step)])


@register_adapter
class FLIPAdapter(Adapter):
    kind = "flip"

    @classmethod
    def signature_keys(cls, spec):
        return ("flip",)

    def signature(self):
        from ..metrics.flip import flip_signature

        return {"flip": flip_signature()}

    def reference(self, metric):
        return references.flip

    def score(self, metric, images, target):
        from ..metrics.flip import flip

        if not _keeps_map(target, metric):
            return flip(images, target.image)
        values, target.spatial[metric] = flip(images, target.image, return_maps=True)
        return values

    def map(self, metric, pred, target):
        from ..metrics.flip import flip

        return flip(pred, target.image, return_maps=True)[1][0]


@register_adapter
class PluginAdapter(Adapter):
    """Third-party per-image metrics (:func:`nvs_eval.plugin.metric`): ``fn(renders, ground_truth)`` with renders
    ``(N, 3, H, W)`` and the ground truth ``(1, 3, H, W)``, floats in [0, 1] (the protocol's quantisation applied)
    on the evaluator's device, returning ``(N,)``. Its signature is the plugin's package and version."""

    kind = "plugin"

    @classmethod
    def signature_keys(cls, spec):
        return (spec.name,)

    def signature(self):
        return {m: METRICS[m].plugin for m in self.metrics}

    def reference(self, metric):
        raise PluginError(f"metric {metric!r} (plugin {METRICS[metric].plugin}) has no reference in nvs-eval: give "
                          "the tester the plugin's own (MetricTester(..., reference=...))")

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
