"""Per-pixel maps, in the compute stage: the report's figures and ``nvs-eval heatmap`` both take them from here,
and here they come from the metric kernels themselves (:meth:`Evaluator.maps`), on images decoded exactly as they
were scored (the protocol's background, the ground truth resized when the protocol says so)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..conventions.protocols import Protocol, get_protocol
from ..conventions.registry import METRICS
from ..data.images import read_image, read_images
from ..data.resize import resize_to
from ..errors import PairingError
from .evaluator import Evaluator
from .mapcache import MapCache, map_key, map_kinds, maps_signature, reduce_map


def map_evaluator(protocol: Protocol | str, metrics, device: str = "cpu") -> Evaluator:
    """An evaluator for the maps of ``metrics``: the plain kernels only (the masked and colour-corrected families
    have no maps of their own). Build it once per report."""
    protocol = get_protocol(protocol) if isinstance(protocol, str) else protocol
    plain = tuple(m for m in metrics if METRICS[m].family == "plain" and METRICS[m].plugin is None)
    return Evaluator(protocol, plain, device)


def view_maps(evaluator: Evaluator, gt_ref, refs: dict, cache: MapCache | None = None
              ) -> tuple[np.ndarray, dict, dict, bool]:
    """Decode one view (its ground truth and each method's render) and its maps against the ground truth, as the
    report shows them (reduced, :func:`.mapcache.reduce_map`): ``(gt, {method: render}, {method: {map: array}},
    kept)``. With ``cache`` (the maps kept from scoring, :mod:`.mapcache`), every method's maps are read from it
    when it holds them under the files' current hashes (``kept`` is then ``True``); otherwise they are computed
    from the metric kernels, the ground truth prepared once."""
    protocol = evaluator.protocol
    images = read_images({"": gt_ref, **refs}, protocol.background)
    gt = images.pop("")
    if protocol.resize_gt != "none":
        gt = resize_to(gt, next(iter(images.values())).shape[:2], protocol.resize_gt, gt_ref)
    kept = _kept(evaluator, gt_ref, refs, cache) if cache is not None else None
    if kept is not None:
        return gt, images, kept, True
    target = evaluator.prepare(evaluator.to_tensor(gt))
    maps = {m: {k: reduce_map(t) for k, t in evaluator.maps(evaluator.to_tensor(r), target).items()}
            for m, r in images.items()}
    return gt, images, maps, False


def _kept(evaluator: Evaluator, gt_ref, refs: dict, cache: MapCache) -> dict | None:
    """Every method's kept maps of the view, or ``None`` when any is missing."""
    from ..data.images import image_sha256

    signature, kinds, gt_sha = maps_signature(evaluator), map_kinds(evaluator.metrics), image_sha256(gt_ref)
    out = {}
    for m, ref in refs.items():
        found = cache.get(map_key(image_sha256(ref), gt_sha, signature), kinds)
        if found is None:
            return None
        out[m] = found
    return out


def pair_map(render: Path, gt: Path, metric: str, protocol: Protocol | str | None = None,
             device: str = "cpu") -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One pair's ``metric`` map at image resolution: ``(render, gt, map)``. SSIM's 'valid' map is smaller than
    the image; it is centred in a map of NaN where SSIM is undefined, never stretched.

    Raises:
        PairingError: the render and the ground truth differ in size (the message names both files).
    """
    protocol = get_protocol(protocol) if not isinstance(protocol, Protocol) else protocol
    r, g = read_image(render, protocol.background), read_image(gt, protocol.background)
    if r.shape != g.shape:
        raise PairingError(f"{render} is {r.shape[1]}x{r.shape[0]} but {gt} is {g.shape[1]}x{g.shape[0]}")
    ev = Evaluator(protocol, ("ssim",) if metric == "abs" else (metric,), device)
    m = ev.maps(ev.to_tensor(r), ev.prepare(ev.to_tensor(g)))[metric].numpy().astype(np.float32)
    if m.shape != r.shape[:2]:
        b = (r.shape[0] - m.shape[0]) // 2
        full = np.full(r.shape[:2], np.nan, np.float32)
        full[b : b + m.shape[0], b : b + m.shape[1]] = m
        m = full
    return r, g, m
