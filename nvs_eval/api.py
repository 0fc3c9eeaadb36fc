"""The Python API (the CLI is a thin layer over it): score folders or a benchmark, get pandas DataFrames.

>>> from nvs_eval.api import score_folders                        # doctest: +SKIP
>>> df = score_folders({"mine": "renders/"}, "gt/", protocol="3dgs")  # doctest: +SKIP
>>> df.groupby("method")[["psnr", "ssim", "lpips_vgg"]].mean()     # doctest: +SKIP
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from .config import BenchmarkConfig, load_config
from .data.datasets import dataset_scene
from .data.layouts import Scene, load_layout, pairs_scene
from .data.pairing import pair_scene
from .errors import StoreError
from .evaluate.evaluator import Evaluator
from .evaluate.runner import RunStats, run_scene
from .protocols import Protocol, get_protocol
from .results.export import check_output_folder, write_exports
from .results.store import ResultsStore


def _frame(rows: list[dict], metrics: tuple[str, ...]) -> pd.DataFrame:
    cols = ["dataset", "scene", "method", "view", *metrics]
    return pd.DataFrame(rows, columns=cols)


def score_scenes(scenes: list[Scene], protocol: str | Protocol | None = None, metrics: tuple[str, ...] | None = None,
                 *, device: str = "auto", allow_missing: bool = False, store: ResultsStore | None = None,
                 force: bool = False, recompute: bool = False, evaluator: Evaluator | None = None,
                 progress: bool | None = None, stats: RunStats | None = None, precision: str = "float32") -> pd.DataFrame:
    """Pair and score scenes; one row per dataset/scene/method/view, one column per metric.

    With a ``store``: unchanged stored rows are reused; rows whose inputs changed are kept and listed in
    ``stats.stale`` unless ``force`` (then re-scored, the old rows kept in the history table); ``recompute``
    re-scores everything. Stale rows are not in the returned frame.
    """
    proto = protocol if isinstance(protocol, Protocol) else get_protocol(protocol)
    paired = [pair_scene(s, allow_missing=allow_missing) for s in scenes]  # every pairing error before any compute
    evaluator = evaluator or Evaluator(proto, metrics, device, precision=precision)
    rows: list[dict] = []
    for p in paired:
        rows += run_scene(p, evaluator, store, force=force, recompute=recompute, progress=progress, stats=stats)
    return _frame(rows, evaluator.metrics)


def score_folders(renders: dict[str, str | Path], gt: str | Path, protocol: str | Protocol | None = None,
                  metrics: tuple[str, ...] | None = None, **kwargs) -> pd.DataFrame:
    """Score each method's folder of renders against one ground-truth folder (paired by relative path)."""
    scene = pairs_scene([(m, Path(p)) for m, p in renders.items()], Path(gt))
    return score_scenes([scene], protocol, metrics, **kwargs)


def score_layout(path: str | Path, layout: str | None = None, protocol: str | Protocol | None = None,
                 metrics: tuple[str, ...] | None = None, *, iteration: int | None = None, **kwargs) -> pd.DataFrame:
    """Score a folder in a known layout (3dgs, nerfstudio, nerfbaselines), auto-detected by default."""
    return score_scenes(load_layout(Path(path), layout, iteration=iteration), protocol, metrics, **kwargs)


def scenes_from_config(cfg: BenchmarkConfig) -> list[Scene]:
    """Every scene a benchmark config describes, with each method's renders."""
    scenes = []
    for ds in cfg.datasets:
        for s in ds.scenes:
            paths = {m.name: ds.resolve(m.path, s, cfg.base) for m in ds.methods}
            if ds.kind == "pairs":
                scene = pairs_scene(list(paths.items()), ds.resolve(ds.gt, s, cfg.base), dataset=ds.name, scene=s)
            elif ds.kind in ("blender", "llff", "mipnerf360"):
                scene = dataset_scene(ds.kind, ds.root / s, paths, images=ds.images, dataset=ds.name)
                scene.name = s
            else:
                scene = None
                for method, p in paths.items():
                    (found,) = load_layout(p, ds.kind, iteration=ds.iteration, method=method, dataset=ds.name)
                    if scene is None:
                        scene = Scene(ds.name, s, found.gt, {})
                    scene.renders[method] = next(iter(found.renders.values()))
            scenes.append(scene)
    return scenes


@dataclass
class EvaluationResult:
    per_view: pd.DataFrame
    store: Path
    out: Path
    stats: RunStats
    protocol: Protocol


def evaluate(config: str | Path | BenchmarkConfig, out: str | Path | None = None, *, device: str = "auto",
             force: bool = False, recompute: bool = False, progress: bool | None = None,
             precision: str = "float32") -> EvaluationResult:
    """Run a whole benchmark into ``<out>/results.sqlite`` and write the exports beside it.

    Rows already in the store with unchanged inputs, protocol and weights are reused. Stored rows whose inputs
    changed since they were scored are never replaced silently: the run scores everything else, keeps them, and
    raises :class:`StoreError` naming them (before the exports are rewritten); ``force`` re-scores them, moving
    the old rows to the store's ``results_history``. ``recompute`` re-scores unchanged rows too.
    ``out`` must be absent, empty, or an earlier results folder of nvs-eval (one with ``results.sqlite``).
    """
    cfg = config if isinstance(config, BenchmarkConfig) else load_config(config)
    out = Path(out) if out is not None else cfg.base / "out" / cfg.name
    check_output_folder(out, "results.sqlite", force)
    proto = get_protocol(cfg.protocol)
    scenes = scenes_from_config(cfg)
    stats = RunStats()
    with ResultsStore(out / "results.sqlite") as store:
        score_scenes(scenes, proto, cfg.metrics, device=device, store=store, force=force, recompute=recompute,
                     progress=progress, precision=precision, stats=stats, allow_missing=any(d.allow_missing for d in cfg.datasets))
        if stats.stale:
            more = f" (and {len(stats.stale) - 1} more)" if len(stats.stale) > 1 else ""
            raise StoreError(f"{store.path}: {len(stats.stale)} stored result(s) have inputs that changed: "
                             f"{stats.stale[0]}{more}; they were kept, not re-scored (everything else is stored); "
                             "run again with --force to re-score them (old values stay in results_history)")
        per_view = read_results(store, proto.name, {(s.dataset, s.name) for s in scenes})
    write_exports(per_view, out, proto.settings())
    return EvaluationResult(per_view, out / "results.sqlite", out, stats, proto)


def read_results(store: ResultsStore | str | Path, protocol: str | None = None,
                 scenes: set[tuple[str, str]] | None = None) -> pd.DataFrame:
    """The store as one DataFrame: one row per dataset/scene/method/view, one column per metric."""
    if not isinstance(store, ResultsStore):
        path = Path(store)
        if path.is_dir():
            path = path / "results.sqlite"
        if not path.is_file():
            raise StoreError(f"{path}: no results store here (run `nvs-eval evaluate` first)")
        with ResultsStore(path) as s:
            return read_results(s, protocol, scenes)
    df = store.wide(protocol)
    if scenes is not None and not df.empty:
        df = df[[(d, s) in scenes for d, s in zip(df["dataset"], df["scene"])]].reset_index(drop=True)
    return df
