"""The streaming run: views are decoded and hashed in background threads while the device computes.

Iteration is by ground-truth view: the view's ground truth is prepared once and every method's render of it is
scored against it in batches. On CUDA, small views (up to :data:`SMALL_VIEW_PIXELS`: feed-forward 256 x 256 targets,
the small scales of multi-scale Blender) are batched across views too, several views' renders in one call, each
against its own ground truth (:func:`with_batches` decides which, from the scene and the device type alone). At most
``prefetch`` views are in memory at once, never a whole dataset, and fewer when views are large (decoded views
waiting for the device stay under :data:`PREFETCH_BYTES`). With a store, a batch's rows are committed in one
transaction as soon as they are computed, and rows whose inputs, protocol and weights are unchanged are reused, not
recomputed.
"""

from __future__ import annotations

import os
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from functools import partial

import numpy as np
import torch

from ..conventions.registry import MASK_REQUIRED, METRICS
from ..data.images import image_sha256, read_alpha, read_header, read_images, read_mask
from ..data.pairing import PairedScene, ViewJob
from ..data.resize import resize_to
from ..errors import ImageReadError, PreconditionError, UsageError
from ..results.store import Fit, ResultsStore, Row
from ..util.version import __version__
from .evaluator import MAX_RENDERS_PIXELS, Evaluator, weights_entry

PREFETCH_BYTES = 512 << 20  # decoded views waiting for the device (at least one): 4 at 800x800, 1 at 4K
# Views up to this size are scored in batches spanning views: one view's renders are too few pixels to fill a
# forward pass (a 256 x 256 view of 3 methods is 0.2 Mpx; a GPU forward takes up to 1 Mpx, a CPU one 0.5 Mpx).
# Larger views fill a batch on their own and are scored one view at a time.
SMALL_VIEW_PIXELS = 1 << 18
MAX_BATCH_VIEWS = 64
# Where it pays. On the CPU it does not: 96 views of 256 x 256, PSNR, SSIM and LPIPS alex + vgg, end to end, ran at
# 0.86x the view-by-view speed (benchmarks/RESULTS.md; VGG's per-image cost grows with the batch on 2 cores). A GPU
# forward is filled by 1 Mpx, 16 such views; its gain there is not measured yet.
CROSS_VIEW_DEVICES = ("cuda",)


@dataclass
class LoadedView:
    job: ViewJob
    gt_sha: str
    render_sha: dict[str, str]
    reused: dict[str, dict[str, float]]  # method -> the stored values it keeps (all, or those not recomputed)
    stale: dict[str, str] = field(default_factory=dict)
    gt: np.ndarray | None = None
    renders: dict[str, np.ndarray] = field(default_factory=dict)
    gt_size: tuple[int, int] = (0, 0)  # the ground-truth file's width and height (before any --resize-gt)
    todo: dict[str, tuple[str, ...]] = field(default_factory=dict)  # method -> the metrics to compute
    gt_ids: dict[str, str] = field(default_factory=dict)  # metric -> the ground truth's identity for its rows
    mask: np.ndarray | None = None
    fits: dict[str, list] = field(default_factory=dict)  # method -> its render's appearance-fit parameters
    keep_maps: bool = False  # keep its renders' maps for the report (mapcache), into `maps`
    maps: dict[str, dict[str, np.ndarray]] = field(default_factory=dict)  # method -> its kept maps

    @property
    def nbytes(self) -> int:
        return sum(_nbytes(a) for a in (self.gt, self.mask, *self.renders.values()) if a is not None)


def _nbytes(a: np.ndarray | torch.Tensor) -> int:
    return a.nbytes if isinstance(a, np.ndarray) else a.numel() * a.element_size()


def _pinned(a: np.ndarray) -> np.ndarray | torch.Tensor:
    """An 8-bit image copied into page-locked memory, so its upload is queued behind the device's work instead of
    waiting for it (a copy from pageable memory blocks the host until the stream reaches it)."""
    if a.dtype != np.uint8:
        return a
    t = torch.empty(a.shape, dtype=torch.uint8, pin_memory=True)
    t.numpy()[...] = a
    return t


@dataclass
class RunStats:
    views: int = 0
    computed: int = 0
    reused: int = 0
    rows_written: int = 0
    stale: list[str] = field(default_factory=list)  # "dataset/scene/method/view: what changed", kept, not re-scored


def _gt_ids(job: ViewJob, gt_sha: str, metrics) -> dict[str, str]:
    """The identity of what each metric compares against: the ground truth's sha256, and for the masked family
    the mask's too (a changed mask marks only the masked rows as changed). A ground truth a plugin layout or dataset
    kind defined also names that package and version (:attr:`~nvs_eval.data.scene.Scene.signature`), so upgrading
    it marks the rows as changed."""
    if job.signature:
        gt_sha = f"{gt_sha}+source:{job.signature}"
    if not any(METRICS[m].family == "masked" for m in metrics):
        return dict.fromkeys(metrics, gt_sha)
    if job.mask is None and not job.mask_from_gt_alpha:
        raise UsageError(f"{job.gt}: {MASK_REQUIRED}")
    mask_id = f"{gt_sha}#alpha" if job.mask_from_gt_alpha else image_sha256(job.mask)
    return {m: f"{gt_sha}+mask:{mask_id}" if METRICS[m].family == "masked" else gt_sha for m in metrics}


def _load(job: ViewJob, *, background, metrics, existing, protocol_key: str, weights: str, force: bool,
          recompute: bool, resize_gt: str = "none", cuda: bool = False, keep_maps: bool = False) -> LoadedView:
    gt_sha = image_sha256(job.gt)
    render_sha = {m: image_sha256(p) for m, p in job.renders.items()}
    header = read_header(job.gt)
    lv = LoadedView(job, gt_sha, render_sha, {}, gt_size=(header.width, header.height), keep_maps=keep_maps)
    lv.gt_ids = _gt_ids(job, gt_sha, metrics)
    for method, rsha in render_sha.items():
        stored = {metric: existing.get((method, job.view, metric)) for metric in metrics}
        changed = {metric: _what_changed(s, (rsha, lv.gt_ids[metric], protocol_key, weights), metric)
                   for metric, s in stored.items() if s is not None}
        changed = {k: c for k, c in changed.items() if c}
        if changed and not force:
            lv.stale[method] = next(iter(changed.values()))  # kept as stored, not recomputed: needs --force
            continue
        keep = {} if recompute else {m: s[4] for m, s in stored.items() if s is not None and m not in changed}
        todo = tuple(m for m in metrics if m not in keep)
        lv.reused[method] = keep
        if todo:
            lv.todo[method] = todo
    if lv.todo:
        # for a GPU, 8-bit files stay bytes until the device (4x less to copy; converted there exactly)
        raw8 = cuda and resize_gt == "none"
        images = read_images({"": job.gt, **{m: job.renders[m] for m in lv.todo}}, background, raw8=raw8)
        if raw8:
            images = {k: _pinned(a) for k, a in images.items()}
        lv.gt = images.pop("")
        lv.renders = images
        if resize_gt != "none":
            lv.gt = resize_to(lv.gt, next(iter(lv.renders.values())).shape[:2], resize_gt, job.gt)
        if any(METRICS[m].family == "masked" for t in lv.todo.values() for m in t):
            size = lv.gt.shape[:2] if resize_gt == "none" else (header.height, header.width)
            lv.mask = read_alpha(job.gt, size) if job.mask_from_gt_alpha else read_mask(job.mask, size)
    return lv


def _what_changed(stored: tuple, now: tuple, metric: str) -> str | None:
    """What differs between a stored row's inputs ``(render, ground truth, protocol, weights)`` and now's. Weights
    are compared as far as ``metric`` depends on them (:func:`weights_entry`)."""
    stored = (*stored[:3], weights_entry(stored[3], metric))
    now = (*now[:3], weights_entry(now[3], metric))
    for name, a, b in zip(("render", "ground truth (or mask)", "protocol settings", "weights"), stored, now):
        if a != b:
            return f"{name} changed since it was scored"
    return None


def _progress(total: int, scene, enabled: bool | None):
    from ..progress import Progress

    where = scene.name if scene.dataset == "default" else f"{scene.dataset}/{scene.name}"
    return Progress(total, f"score {where}", "view", enabled=enabled)


def with_batches(jobs: list[ViewJob], device: str = "cuda") -> list[ViewJob]:
    """The jobs, each with the batch of views it is scored in: on a device of :data:`CROSS_VIEW_DEVICES`,
    consecutive views of one small size (at most :data:`SMALL_VIEW_PIXELS`) share a batch while their renders stay
    under ``MAX_RENDERS_PIXELS`` (and :data:`MAX_BATCH_VIEWS`); a larger view, or any view elsewhere, is a batch of
    its own. It depends on the scene's jobs and the device type only, not on a shard or on what is stored: every
    process of a ``torchrun`` split scores a view in the batch a single process does
    (:func:`nvs_eval.compute.distributed.assign` hands out whole batches), so the numbers are identical."""
    if device not in CROSS_VIEW_DEVICES:
        return [replace(job, batch=i) for i, job in enumerate(jobs)]
    out, batch, size, pixels, count = [], -1, None, 0, 0
    for job in jobs:
        h = read_header(job.gt)
        px = h.width * h.height
        cost = px * max(1, len(job.renders))
        small = px <= SMALL_VIEW_PIXELS
        if not (small and size == (h.width, h.height) and pixels + cost <= MAX_RENDERS_PIXELS
                and count < MAX_BATCH_VIEWS):
            batch, pixels, count = batch + 1, 0, 0
        size = (h.width, h.height) if small else None
        pixels, count = pixels + cost, count + 1
        out.append(replace(job, batch=batch))
    return out


def run_scene(paired: PairedScene, evaluator: Evaluator, store: ResultsStore | None = None, *, force: bool = False,
              recompute: bool = False, workers: int | None = None, prefetch: int = 4, progress: bool | None = None,
              stats: RunStats | None = None, keep_maps: bool = True) -> list[dict]:
    """Score one paired scene; returns one dict per (method, view) with every metric (computed or reused).

    A stored row is reused when its render, ground truth, protocol settings and weights are unchanged. A stored
    row whose inputs changed is never replaced silently: without ``force`` it is kept and listed in
    ``stats.stale``; with ``force`` it is re-scored and the old row moves to the store's history table.
    ``recompute`` re-scores unchanged rows too. ``workers``: decoding threads (default :func:`decode_workers`).
    ``keep_maps``: with a store, keep the maps of each render scored for the report (:mod:`.mapcache`).
    """
    scene = paired.scene
    existing = _register(paired, evaluator, store)
    stats = stats if stats is not None else RunStats()
    out: list[dict] = []
    load = partial(_load, background=scene.background or evaluator.protocol.background, metrics=evaluator.metrics,
                   existing=existing, protocol_key=evaluator.protocol.key(), weights=evaluator.weights_summary(),
                   force=force, recompute=recompute, resize_gt=evaluator.protocol.resize_gt,
                   cuda=evaluator.device.type == "cuda", keep_maps=keep_maps and store is not None)
    workers = decode_workers(evaluator.device) if workers is None else workers
    jobs = paired.jobs if all(j.batch is not None for j in paired.jobs) else \
        with_batches(paired.jobs, evaluator.device.type)
    kept = _map_keeper(evaluator, store) if keep_maps else None
    with _progress(len(jobs), scene, progress) as bar:
        for group in _batched(_prefetched(jobs, load, workers, prefetch)):
            new = _compute_batch(evaluator, group)
            rows = [_rows(scene, evaluator, lv, new.get(lv.job.view, {})) for lv in group]
            if store is not None and any(rows):
                # a batch's rows in one transaction: a batch is stored whole or not at all, so a resumed run
                # scores a batch with the views a fresh run scores it with (the same numbers, bit for bit)
                store.put([r for view_rows in rows for r in view_rows], _fits(scene, evaluator, group))
                for lv, view_rows in zip(group, rows):
                    if view_rows:
                        store.put_gt_size(lv.gt_sha, *lv.gt_size)
            if kept is not None:
                kept(group)
            for lv, view_rows in zip(group, rows):
                out += _record(scene, lv, new.get(lv.job.view, {}), len(view_rows) if store is not None else 0, stats)
                bar.update(1)
    return out


def _record(scene, lv: LoadedView, new: dict, written: int, stats: RunStats) -> list[dict]:
    """Count a view; its result dicts, computed and reused."""
    computed = len(lv.todo)
    values = {m: {**lv.reused.get(m, {}), **new.get(m, {})} for m in (*lv.reused, *new)}
    stats.stale += [f"{scene.dataset}/{scene.name}/{m}/{lv.job.view}: {why}" for m, why in lv.stale.items()]
    stats.views += 1
    stats.computed += computed
    stats.reused += len(lv.reused) - computed
    stats.rows_written += written
    return [{"dataset": scene.dataset, "scene": scene.name, "method": m, "view": lv.job.view, **vals}
            for m, vals in values.items()]


def _batched(views):
    """Consecutive loaded views of one batch (:func:`with_batches`), together."""
    group: list[LoadedView] = []
    for lv in views:
        if group and lv.job.batch != group[-1].job.batch:
            yield group
            group = []
        group.append(lv)
    if group:
        yield group


def decode_workers(device: torch.device) -> int:
    """Decoding threads: 2 beside CPU compute (which takes the cores); for a GPU, enough cores to feed it (PNG
    decodes at ~60-70 Mpx/s per core, and one 800x800 render takes ~18 ms of an H200's float32 LPIPS-VGG), at most
    8 and never more than the cores this process may use."""
    if device.type != "cuda":
        return 2
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 2)
    return max(2, min(8, cores - 1))


def _register(paired: PairedScene, evaluator: Evaluator, store: ResultsStore | None) -> dict:
    """Record the protocol, coverage and left-out auxiliary files; return the rows already stored."""
    if store is None:
        return {}
    scene, protocol = paired.scene, evaluator.protocol
    store.register_protocol(protocol.key(), protocol.name, protocol.settings())
    for method, (scored, total) in paired.coverage.items():
        store.set_coverage(scene.dataset, scene.name, method, protocol.name, scored, total)
    for method, files in paired.auxiliary.items():
        store.set_auxiliary(scene.dataset, scene.name, method, files)
    return store.existing(scene.dataset, scene.name, protocol.name)


def _prefetched(jobs: list[ViewJob], load, workers: int, prefetch: int):
    """Yield each job's :class:`LoadedView` in order, decoding ahead in threads: at most ``prefetch`` views, and
    fewer when views are large (decoded views waiting for the device stay under :data:`PREFETCH_BYTES`)."""
    pending: deque[Future] = deque()
    it = iter(jobs)
    view_bytes = 0  # the largest decoded view so far; until one is seen, only one view is read ahead
    with ThreadPoolExecutor(max_workers=max(1, workers), thread_name_prefix="nvs-eval-load") as pool:
        def refill():
            ahead = min(prefetch, PREFETCH_BYTES // view_bytes) if view_bytes else 1
            while len(pending) < max(1, ahead):
                job = next(it, None)
                if job is None:
                    return
                pending.append(pool.submit(load, job))

        refill()
        while pending:
            lv = pending.popleft().result()
            view_bytes = max(view_bytes, lv.nbytes)
            refill()
            yield lv


def _rows(scene, evaluator: Evaluator, lv: LoadedView, computed: dict[str, dict[str, float]]) -> list[Row]:
    """The store rows of the view's newly computed values (reused ones are already stored)."""
    protocol = evaluator.protocol
    weights, pkey = evaluator.weights_summary(), protocol.key()
    return [Row(dataset=scene.dataset, scene=scene.name, method=method, view=lv.job.view, metric=metric,
                protocol=protocol.name, value=float(v), render_sha256=lv.render_sha[method],
                gt_sha256=lv.gt_ids[metric], render_path=str(lv.job.renders[method]), gt_path=str(lv.job.gt),
                protocol_key=pkey, version=__version__, weights=weights)
            for method, vals in computed.items() for metric, v in vals.items()]


def _map_keeper(evaluator: Evaluator, store: ResultsStore | None):
    """A function that writes a batch's kept maps beside ``store`` (``None`` without a store)."""
    if store is None:
        return None
    from .mapcache import MapCache, map_key, map_kinds, maps_signature

    cache, signature = MapCache.beside(store.path), maps_signature(evaluator)
    kinds = set(map_kinds(evaluator.metrics))

    def keep(group: list[LoadedView]) -> None:
        for lv in group:
            for method, maps in lv.maps.items():
                if set(maps) == kinds:  # only some metrics scored (one added since): the kept file stays as it is
                    cache.put(map_key(lv.render_sha[method], lv.gt_sha, signature), maps)
            lv.maps = {}

    return keep


def _compute_batch(evaluator: Evaluator, group: list[LoadedView]) -> dict[str, dict[str, dict[str, float]]]:
    """New values of a batch of views, ``{view: {method: {metric: value}}}``: the views still to score, one call of
    :func:`_compute` per size (sizes differ only under ``resize_gt``) and mask presence."""
    parts: dict[tuple, list[LoadedView]] = {}
    for lv in group:
        if lv.todo:
            parts.setdefault((lv.gt.shape, lv.mask is None), []).append(lv)
    return {view: values for views in parts.values() for view, values in _compute_named(evaluator, views).items()}


def _compute_named(evaluator: Evaluator, views: list[LoadedView]) -> dict[str, dict[str, dict[str, float]]]:
    """:func:`_compute`, with a kernel's precondition failure (an image too small for SSIM or LPIPS: the views of a
    batch share their size) turned into an error naming the file. Any other exception is a bug and propagates as
    itself."""
    try:
        return _compute(evaluator, views)
    except PreconditionError as e:
        raise ImageReadError(f"{views[0].job.gt}: cannot be scored: {e}") from e


def _compute(evaluator: Evaluator, views: list[LoadedView]) -> dict[str, dict[str, dict[str, float]]]:
    """Score loaded views of one size (one view, or a batch spanning views): one target for all, every render
    against its own view, methods batched by the metrics they need (all of them, or only those added since they
    were stored), up to ``MAX_RENDERS_PIXELS`` a call (all renders in one call for a tiled view, whose memory is
    bounded per tile). Decoded arrays are released as soon as they are on the device (or in a batch). With
    ``LoadedView.keep_maps``, a view scored whole and alone also keeps each render's maps (reduced, :mod:`.mapcache`) in
    ``LoadedView.maps``; a tiled view or a batch spanning views keeps none (the report computes those)."""
    h, w = views[0].gt.shape[:2]
    keep_maps = len(views) == 1 and views[0].keep_maps
    masks = None if views[0].mask is None else torch.stack([torch.from_numpy(lv.mask) for lv in views])[:, None]
    gts = [evaluator.to_tensor(lv.gt) for lv in views]
    target = evaluator.prepare(gts[0] if len(gts) == 1 else torch.cat(gts), masks)  # one view: no copy
    for lv in views:
        lv.gt = lv.mask = None
    groups: dict[tuple[str, ...], list[tuple[int, str]]] = {}
    for i, lv in enumerate(views):
        for method, metrics in lv.todo.items():
            groups.setdefault(metrics, []).append((i, method))
    result: dict[str, dict[str, dict[str, float]]] = {lv.job.view: {} for lv in views}
    for metrics, entries in groups.items():
        per_batch = len(entries) if target.tiled else max(1, MAX_RENDERS_PIXELS // (h * w))
        for k in range(0, len(entries), per_batch):
            chunk = entries[k : k + per_batch]
            batch = torch.cat([evaluator.to_tensor(views[i].renders.pop(m)) for i, m in chunk])
            target.spatial = {} if keep_maps and not target.tiled else None
            scores = evaluator.score(batch, target, consume=True, metrics=metrics, views=[i for i, _ in chunk])
            for j, (i, m) in enumerate(chunk):
                result[views[i].job.view][m] = {metric: float(scores[metric][j]) for metric in metrics}
                if evaluator.fitted is not None:
                    views[i].fits[m] = evaluator.fitted[j].tolist()
                if target.spatial:
                    views[i].maps[m] = _kept_maps(target.spatial, j, metrics)
            target.spatial = None
    return result


def _kept_maps(spatial: dict, j: int, metrics) -> dict[str, np.ndarray]:
    """Render ``j``'s maps of a scored batch, reduced for the report (:func:`.mapcache.reduce_map`)."""
    from .mapcache import map_kinds, reduce_map

    return {k: reduce_map(spatial[k][j].cpu()) for k in map_kinds(metrics) if k in spatial}


def _fits(scene, evaluator: Evaluator, group: list[LoadedView]) -> list[Fit]:
    """The appearance fits of a batch's newly scored renders, stored with their rows."""
    protocol = evaluator.protocol
    return [Fit(scene.dataset, scene.name, method, lv.job.view, protocol.name, protocol.appearance_fit, params,
                lv.render_sha[method], lv.gt_sha) for lv in group for method, params in lv.fits.items()]

