"""The Python API (the CLI is a thin layer over it): score folders or a benchmark, get pandas DataFrames.

``score_folders({"mine": "renders/"}, "gt/", protocol="3dgs")`` scores plain folders; ``score_layout(path)`` any
known layout; ``evaluate("configs/x.yaml", "out/")`` a whole benchmark into a results store; ``read_results``
reads a store back. Each is also importable from the top: ``import nvs_eval; nvs_eval.score_folders(...)``.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from .compute.evaluator import Evaluator
from .compute.runner import RunStats, run_scene
from .config import BenchmarkConfig, load_config
from .conventions.protocols import Protocol, get_protocol
from .conventions.registry import METRICS, STORE_NAME
from .data.discover import list_images
from .data.efficiency import read_figure_table
from .data.layouts import GroundTruthSource, load_layout, pairs_scene
from .data.pairing import PairedScene, pair_scene
from .data.pixelsplat import ChunkSource
from .data.scene import Scene
from .errors import StoreError, UsageError, option
from .results.export import check_output_folder, write_exports
from .results.store import ResultsStore


def _frame(rows: list[dict], metrics: tuple[str, ...]) -> pd.DataFrame:
    cols = ["dataset", "scene", "method", "view", *metrics]
    return pd.DataFrame(rows, columns=cols)


def pair_scenes(scenes: list[Scene], *, allow_missing: bool = False, strict: bool = False,
                resize_gt: bool = False) -> list[PairedScene]:
    """Pair every scene before anything is computed, so every pairing error comes first.

    Args:
        scenes: from :func:`~nvs_eval.data.layouts.load_layout`, :func:`~nvs_eval.data.layouts.pairs_scene`, ...
        allow_missing: score the views that have renders; coverage records the rest.
        strict: auxiliary files (``<view>_depth.png``, ...) are an error instead of being left out.
        resize_gt: the protocol resizes the ground truth, so sizes may differ.

    Raises:
        PairingError: what does not pair, and why (see :func:`~nvs_eval.data.pairing.pair_scene`).
    """
    return [pair_scene(s, allow_missing=allow_missing, strict=strict, resize_gt=resize_gt) for s in scenes]


def score_paired(paired: list[PairedScene], protocol: str | Protocol | None = None,
                 metrics: tuple[str, ...] | None = None, *, device: str = "auto", store: ResultsStore | None = None,
                 force: bool = False, recompute: bool = False, evaluator: Evaluator | None = None,
                 progress: bool | None = None, stats: RunStats | None = None,
                 precision: str = "float32") -> pd.DataFrame:
    """Score paired scenes; one row per dataset/scene/method/view, one column per metric (see :func:`score_scenes`)."""
    proto = protocol if isinstance(protocol, Protocol) else get_protocol(protocol)
    _check_masks(paired, evaluator.metrics if evaluator else (metrics or proto.metrics))
    evaluator = evaluator or Evaluator(proto, metrics, device, precision=precision)
    rows: list[dict] = []
    for p in paired:
        rows += run_scene(p, evaluator, store, force=force, recompute=recompute, progress=progress, stats=stats)
    return _frame(rows, evaluator.metrics)


def _check_masks(paired: list[PairedScene], metrics) -> None:
    masked = [m for m in metrics if m in METRICS and METRICS[m].family == "masked"]
    if masked:
        for p in paired:
            if not p.scene.masks and not p.scene.mask_from_gt_alpha:
                raise UsageError(f"scene {p.scene.name}: {', '.join(masked)} need masks: give {option('masks')} (a "
                                 f"mask image per view, paired by view id) or {option('mask_from_gt_alpha')} (config: "
                                 "masks: / mask_from_gt_alpha:)")


def attach_masks(scenes: list[Scene], masks: str | Path | None = None, *, from_gt_alpha: bool = False) -> None:
    """Give ``scenes`` their masks: ``masks`` is a folder of mask images paired by view id (with several scenes,
    one sub-folder per scene name), or the ground truth's alpha channels with ``from_gt_alpha``. Given neither,
    a scene keeps the masks its dataset ships (:mod:`nvs_eval.data.datasets`)."""
    for scene in scenes:
        if masks is None and not from_gt_alpha:
            continue
        scene.mask_from_gt_alpha = from_gt_alpha
        scene.masks, scene.folders = {}, {k: v for k, v in scene.folders.items() if k != "masks"}
        if masks is not None:
            folder = Path(masks) if len(scenes) == 1 else Path(masks) / scene.name
            scene.masks = list_images(folder)
            scene.folders["masks"] = folder


def score_scenes(scenes: list[Scene], protocol: str | Protocol | None = None, metrics: tuple[str, ...] | None = None,
                 *, device: str = "auto", allow_missing: bool = False, strict: bool = False,
                 store: ResultsStore | None = None, force: bool = False, recompute: bool = False,
                 evaluator: Evaluator | None = None, progress: bool | None = None, stats: RunStats | None = None,
                 precision: str = "float32") -> pd.DataFrame:
    """Pair and score scenes; one row per dataset/scene/method/view, one column per metric.

    With a ``store``: unchanged stored rows are reused; rows whose inputs changed are kept and listed in
    ``stats.stale`` unless ``force`` (then re-scored, the old rows kept in the history table); ``recompute``
    re-scores everything. Stale rows are not in the returned frame.
    """
    proto = protocol if isinstance(protocol, Protocol) else get_protocol(protocol)
    paired = pair_scenes(scenes, allow_missing=allow_missing, strict=strict, resize_gt=proto.resize_gt != "none")
    return score_paired(paired, proto, metrics, device=device, store=store, force=force, recompute=recompute,
                        evaluator=evaluator, progress=progress, stats=stats, precision=precision)


def score_folders(renders: dict[str, str | Path], gt: str | Path, protocol: str | Protocol | None = None,
                  metrics: tuple[str, ...] | None = None, *, device: str = "auto", allow_missing: bool = False,
                  strict: bool = False, precision: str = "float32", progress: bool | None = None,
                  evaluator: Evaluator | None = None) -> pd.DataFrame:
    """Score each method's folder of renders against one ground-truth folder (paired by relative path).

    Args:
        renders: method name -> folder of renders.
        gt: the ground-truth folder.
        protocol: a protocol name (``nvs-eval protocols``) or :class:`~nvs_eval.conventions.protocols.Protocol`.
        metrics: metric ids (default: the protocol's).
        device: ``auto``, ``cpu``, ``cuda`` or ``cuda:N``.
        allow_missing, strict: see :func:`pair_scenes`.
        precision: ``float32`` (exact) or an opt-in faster LPIPS path.
        progress: show a progress bar (default: when stderr is a terminal).
        evaluator: an :class:`~nvs_eval.compute.evaluator.Evaluator` built earlier, to reuse its networks
            (then ``protocol``, ``metrics``, ``device`` and ``precision`` are the evaluator's).

    Returns:
        One row per method and view, one column per metric.

    Raises:
        PairingError, ImageReadError: naming the file and the problem.

    Example:
        >>> import tempfile, numpy as np
        >>> from PIL import Image
        >>> root = Path(tempfile.mkdtemp())
        >>> for folder, value in (("gt", 100), ("mine", 110)):
        ...     (root / folder).mkdir()
        ...     Image.fromarray(np.full((32, 32, 3), value, np.uint8)).save(root / folder / "0001.png")
        >>> df = score_folders({"mine": root / "mine"}, root / "gt", metrics=("psnr",), device="cpu")
        >>> round(float(df.loc[0, "psnr"]), 4)
        28.1308
    """
    scene = pairs_scene([(m, Path(p)) for m, p in renders.items()], Path(gt))
    return score_scenes([scene], evaluator.protocol if evaluator else protocol, metrics, device=device,
                        allow_missing=allow_missing, strict=strict, precision=precision, progress=progress,
                        evaluator=evaluator)


def score_layout(path: str | Path, layout: str | None = None, protocol: str | Protocol | None = None,
                 metrics: tuple[str, ...] | None = None, *, iteration: int | None = None, device: str = "auto",
                 allow_missing: bool = False, strict: bool = False, precision: str = "float32",
                 gt_source: GroundTruthSource | ChunkSource | None = None,
                 progress: bool | None = None) -> pd.DataFrame:
    """Score a folder in a known layout (``nvs_eval.data.layouts.LAYOUTS``), auto-detected by default.
    ``gt_source``: where a layout without ground truth takes it from (multinerf: a dataset scene; pixelsplat: the
    dataset's chunks and the evaluation index)."""
    scenes = load_layout(Path(path), layout, iteration=iteration, gt_source=gt_source)
    return score_scenes(scenes, protocol, metrics, device=device, allow_missing=allow_missing, strict=strict,
                        precision=precision, progress=progress)


def check_of(scene: Scene):
    """``nvs-eval check`` of a scene whose dataset is known (:attr:`Scene.source`), or ``None``: a
    :class:`~nvs_eval.data.provenance.CheckResult`."""
    from .data.provenance import check_scene, own_files_check

    if scene.source is None:
        return None
    kind, root, images, own = scene.source
    if own:
        return own_files_check(kind, root, images, scene.gt, scene.name)
    return check_scene(scene.gt, kind, root, scene.name)


def _known_scene(kind: str, scene: str | None) -> None:
    """A scene named by the user (``--scene``) must be one of the dataset's: a typo is a user error, not a verdict."""
    from .conventions.registry import closest
    from .data.datasets import DATASET_KINDS

    spec = DATASET_KINDS.get(kind)
    if scene is not None and spec is not None and spec.scenes and scene not in spec.scenes:
        raise UsageError(f"{option('scene')}{scene}: not one of the {len(spec.scenes)} {kind} scenes "
                         f"({', '.join(spec.scenes)}){closest(scene, spec.scenes)}")


def name_dataset_scenes(scenes: list[Scene], kind: str, root: Path, images: str = "images",
                        scene: str | None = None) -> None:
    """Scenes scored against a dataset (``score --dataset KIND --dataset-root ROOT``) are named as the dataset's
    scene and checked against it: one scene is ``ROOT`` itself (named ``scene`` or ``ROOT``'s folder name, never the
    run folder's), several are ``ROOT/<scene>``. The check is trivially the dataset's own files for a layout that
    reads them (multinerf), by pixels otherwise."""
    root = Path(root)
    _known_scene(kind, scene)
    for s in scenes:
        folder = root if len(scenes) == 1 else root / s.name
        if len(scenes) == 1:
            s.name = scene or root.resolve().name
        s.source = (kind, folder, images, s.folders.get("") == root)


def check_scenes(scenes: list[Scene], kind: str, root: Path, scene: str | None = None) -> list:
    """Check each scene's ground truth against the dataset ``kind`` at ``root``: the scene folder itself for one
    scene, else the folder of scene folders (one per scene, named as the scene).

    The dataset scene, whose published protocol the verdict is about, is ``scene`` or the scene folder's own name,
    never the run folder's (3DGS names its model folders by UUID).
    """
    from .data.provenance import check_scene

    root = Path(root)
    _known_scene(kind, scene)
    if len(scenes) == 1:
        return [check_scene(scenes[0].gt, kind, root, scene or root.resolve().name)]
    return [check_scene(s.gt, kind, root / s.name, s.name) for s in scenes]


def store_checks(store: ResultsStore, scenes: list[Scene]) -> list:
    """Run and store the check of every scene with a known dataset (kept per scene beside its rows)."""
    out = []
    for scene in scenes:
        result = check_of(scene)
        if result is not None:
            store.put_check(scene.dataset, scene.name, result.to_json())
            out.append(result)
    return out


def store_efficiency(store: ResultsStore, scenes: list[Scene]) -> int:
    """Store every method's efficiency figures (:attr:`Scene.efficiency`) beside its rows; returns the rows
    written (unchanged figures are kept, not rewritten)."""
    return sum(store.put_efficiency(s.dataset, s.name, method, figures)
               for s in scenes for method, figures in s.efficiency.items() if figures)


def scenes_from_config(cfg: BenchmarkConfig) -> list[Scene]:
    """Every scene a benchmark config describes, with each method's renders (and masks): each dataset entry's
    ground-truth source (:func:`nvs_eval.data.sources.source_of`) builds its scenes."""
    from .data.sources import source_of

    scenes = []
    for ds in cfg.datasets:
        mine = source_of(ds.kind).scenes(ds, cfg.base, cfg.source)
        for scene in mine:
            attach_masks([scene], ds.resolve(ds.masks, scene.name, cfg.base) if ds.masks else None,
                         from_gt_alpha=ds.mask_from_gt_alpha)
        if ds.efficiency is not None:
            add_figure_table(mine, read_figure_table(ds.efficiency))
        scenes += mine
    return scenes


def scenes_from_paths(renders: list[tuple[str | None, Path]], *, gt: str | Path | None = None,
                      layout: str | None = None, iteration: int | None = None, dataset: str | None = None,
                      dataset_root: str | Path | None = None, eval_index: str | Path | None = None,
                      images: str = "images", scene: str | None = None) -> list[Scene]:
    """The scenes of runs given by path, as ``score`` and ``explain`` take them.

    Args:
        renders: ``(method, path)``: with ``gt``, one renders folder per method; without, a run folder in a layout
            (``method`` ``None``: the layout names it).
        gt: a ground-truth folder (the ``pairs`` layout).
        layout: the runs' layout (default: detected).
        iteration: which iteration or step of a run.
        dataset, dataset_root: a dataset kind and its scene folder: the ground truth of a layout that has none
            (multinerf), else what the ground truth is checked against (as ``nvs-eval check`` does).
        eval_index: with ``dataset_root`` (the chunks' root), pixelSplat's evaluation index.
        images: the dataset's image folder (``images_4``).
        scene: the dataset scene (default: ``dataset_root``'s folder name).

    Raises:
        UsageError: options that do not go together.
    """
    from .data.sources import loader_source

    _check_sources(gt, layout, dataset, dataset_root, eval_index)
    if gt is not None:
        scenes = [pairs_scene([(m or Path(p).resolve().name, Path(p)) for m, p in renders], Path(gt))]
    else:
        source = loader_source(dataset, dataset_root, images, eval_index)
        scenes = [s for m, p in renders
                  for s in load_layout(Path(p), layout, iteration=iteration, method=m, gt_source=source)]
    if dataset is not None:  # named as the dataset's scenes, their ground truth checked against it
        name_dataset_scenes(scenes, dataset, Path(dataset_root), images, scene)
    return scenes


def _check_sources(gt, layout, dataset, dataset_root, eval_index) -> None:
    from .data.layouts import LAYOUTS
    from .data.sources import source_of

    if layout is not None and layout not in LAYOUTS:
        raise UsageError(LAYOUTS.unknown(layout))
    if gt is not None and layout is not None and source_of(layout).name != "folder":
        raise UsageError(f"{option('gt')} is for the pairs layout; the {layout} layout brings its own ground truth")
    if eval_index is not None:
        if dataset_root is None or dataset is not None:
            raise UsageError(f"{option('eval_index')} goes with {option('dataset_root')} (the chunks' root), "
                             f"without {option('dataset')}")
    elif (dataset is None) != (dataset_root is None):
        raise UsageError(f"{option('dataset_root')} goes with {option('dataset')} KIND (a dataset's own files) or "
                         f"with {option('eval_index')} INDEX.json (pixelSplat's chunks)" if dataset is None else
                         f"{option('dataset')} and {option('dataset_root')} go together")


def add_figure_table(scenes: list[Scene], table: dict, dataset: str | None = None) -> None:
    """Add the figures of a CSV (:func:`nvs_eval.data.efficiency.read_figure_table`) to the scenes' methods,
    each row to the scene and method it names (a method's runs: ``name#run=<run>`` or ``name``, which then
    applies to each of its runs). A row naming no scene or method scored is an error naming it."""
    from .errors import EfficiencyError
    from .results.aggregate import RUN_SEP

    mine = [s for s in scenes if dataset is None or s.dataset == dataset]
    for (method, scene_name), figures in table.items():
        hits = [(s, m) for s in mine if s.name == scene_name
                for m in s.renders if m == method or m.partition(RUN_SEP)[0] == method]
        if not hits:
            known = sorted({f"{m.partition(RUN_SEP)[0]} on {s.name}" for s in mine for m in s.renders})
            raise EfficiencyError(f"a row names {method} on {scene_name}, which was not scored",
                                  path=figures[0].source, expected=f"one of: {', '.join(known)}")
        for s, m in hits:
            have = {f.figure for f in s.efficiency.get(m, [])}
            s.efficiency.setdefault(m, []).extend(f for f in figures if f.figure not in have)


@dataclass
class EvaluationResult:
    per_view: pd.DataFrame
    store: Path
    out: Path
    stats: RunStats
    protocol: Protocol
    paired: list[PairedScene]
    rank: int = 0  # under torchrun / Slurm: this process's rank (only rank 0 holds the merged results)


def evaluate(config: str | Path | BenchmarkConfig, out: str | Path | None = None, *, device: str = "auto",
             force: bool = False, recompute: bool = False, progress: bool | None = None,
             precision: str = "float32") -> EvaluationResult:
    """Run a whole benchmark into ``<out>/results.sqlite`` and write the exports beside it.

    Under ``torchrun`` (or Slurm's ``srun``) every process takes a share of the views and writes its own shard;
    rank 0 merges them (:mod:`nvs_eval.compute.distributed`), and only its result holds the merged values.

    Rows already in the store with unchanged inputs, protocol and weights are reused. Stored rows whose inputs
    changed since they were scored are never replaced silently: the run scores everything else, keeps them, and
    raises :class:`StoreError` naming them (before the exports are rewritten); ``force`` re-scores them, moving
    the old rows to the store's ``results_history``. ``recompute`` re-scores unchanged rows too.
    ``out`` must be absent, empty, or an earlier results folder of nvs-eval (one with ``results.sqlite``).
    """
    cfg = config if isinstance(config, BenchmarkConfig) else load_config(config)
    out = Path(out) if out is not None else cfg.base / "out" / cfg.name
    check_output_folder(out, STORE_NAME, force)
    proto = get_protocol(cfg.protocol).with_settings(**dict(cfg.settings))
    from .compute import distributed

    ctx = distributed.context_from_env()
    if ctx is not None:
        return _evaluate_distributed(cfg, out, proto, ctx, device=device, force=force, recompute=recompute,
                                     progress=progress, precision=precision)
    scenes = scenes_from_config(cfg)
    stats = RunStats()
    paired = pair_scenes(scenes, allow_missing=any(d.allow_missing for d in cfg.datasets), strict=cfg.strict,
                         resize_gt=proto.resize_gt != "none")
    with ResultsStore(out / STORE_NAME) as store:
        # shards a killed distributed run of this config left behind hold finished work: merged first, kept
        distributed.merge_shards(store, distributed.leftover_shards(out, distributed.config_tag(cfg.source)))
        score_paired(paired, proto, cfg.metrics, device=device, store=store, force=force, recompute=recompute,
                     progress=progress, precision=precision, stats=stats)
        store_checks(store, scenes)
        store_efficiency(store, scenes)
        if stats.stale:
            raise _stale_error(store.path, stats.stale)
        per_view = read_results(store, proto.name, {(s.dataset, s.name) for s in scenes})
    write_exports(per_view, out, proto.settings())
    return EvaluationResult(per_view, out / STORE_NAME, out, stats, proto, paired)


def _stale_error(path: Path, stale: list[str]) -> StoreError:
    more = f" (and {len(stale) - 1} more)" if len(stale) > 1 else ""
    return StoreError(f"{len(stale)} stored result(s) have inputs that changed: {stale[0]}{more}; they were kept, "
                      "not re-scored (everything else is stored)", path=path,
                      hint=f"run again with {option('force')} to re-score them (old values stay in results_history)")


def _evaluate_distributed(cfg: BenchmarkConfig, out: Path, proto: Protocol, ctx, *, device: str, force: bool,
                          recompute: bool, progress: bool | None, precision: str) -> EvaluationResult:
    """:func:`evaluate` as one rank of a distributed job (see :mod:`nvs_eval.compute.distributed`)."""
    from .compute import distributed as D

    dev = D.init(ctx, device)
    tag = D.config_tag(cfg.source)
    merged = out / STORE_NAME
    try:
        if ctx.main:  # first what a killed run left behind, so every rank sees it as stored
            check_output_folder(out, STORE_NAME, force)
            with ResultsStore(merged) as store:
                D.merge_shards(store, D.leftover_shards(out, tag))
        D.barrier()
        scenes = scenes_from_config(cfg)
        paired = pair_scenes(scenes, allow_missing=any(d.allow_missing for d in cfg.datasets), strict=cfg.strict,
                             resize_gt=proto.resize_gt != "none")
        stats = RunStats()
        show = progress if progress is not None else sys.stderr.isatty()
        bar = D.Progress(out, tag, ctx, stats, sum(len(p.jobs) for p in paired), bool(show))
        try:
            with ResultsStore(merged, read_only=True) as read:
                stored = D.stored_renders(read, proto.name, tuple(cfg.metrics or proto.metrics))
                mine = D.assign(paired, ctx.rank, ctx.world, stored, dev.split(":")[0])
                if mine:
                    with ResultsStore(D.shard_path(out, tag, ctx)) as shard:
                        score_paired(mine, proto, cfg.metrics, device=dev, store=D.ShardStore(read, shard),
                                     force=force, recompute=recompute, progress=False, precision=precision,
                                     stats=stats)
        finally:
            bar.close()
        every = D.gather(stats)  # also the barrier: every rank is done writing its shard
        if not ctx.main:
            return EvaluationResult(pd.DataFrame(), merged, out, stats, proto, mine, ctx.rank)
        total = RunStats(views=sum(s.views for s in every), computed=sum(s.computed for s in every),
                         reused=sum(s.reused for s in every), rows_written=sum(s.rows_written for s in every),
                         stale=[x for s in every for x in s.stale])
        with ResultsStore(merged) as store:
            D.merge_shards(store, D.leftover_shards(out, tag))
            D.remove_progress(out, tag)
            store_checks(store, scenes)
            store_efficiency(store, scenes)
            if total.stale:
                raise _stale_error(store.path, total.stale)
            per_view = read_results(store, proto.name, {(s.dataset, s.name) for s in scenes})
        write_exports(per_view, out, proto.settings())
        return EvaluationResult(per_view, merged, out, total, proto, paired, ctx.rank)
    finally:
        D.finish()


def read_results(store: ResultsStore | str | Path, protocol: str | None = None,
                 scenes: set[tuple[str, str]] | None = None) -> pd.DataFrame:
    """The store as one DataFrame: one row per dataset/scene/method/view, one column per metric.

    Args:
        store: a results folder, its ``results.sqlite``, or an open :class:`ResultsStore`.
        protocol: only this protocol's rows (default: all, with a ``protocol`` column).
        scenes: only these ``(dataset, scene)`` pairs.

    Raises:
        StoreError: no store at that path.

    Example:
        >>> import tempfile
        >>> read_results(Path(tempfile.mkdtemp()) / "nowhere")
        Traceback (most recent call last):
        ...
        nvs_eval.errors.StoreError: .../nowhere: no results store here (run `nvs-eval evaluate` first)
    """
    if not isinstance(store, ResultsStore):
        path = Path(store)
        if path.is_dir():
            path = path / STORE_NAME
        if not path.is_file():
            raise StoreError(f"{path}: no results store here (run `nvs-eval evaluate` first)")
        with ResultsStore(path) as s:
            return read_results(s, protocol, scenes)
    df = store.wide(protocol)
    if scenes is not None and not df.empty:
        df = df[[(d, s) in scenes for d, s in zip(df["dataset"], df["scene"])]].reset_index(drop=True)
    return df
