"""Where ground truth comes from: one :data:`SOURCES` entry per kind of source, which config, API and CLI consult.

* ``folder``: a folder of ground-truth images beside the renders' folders (the ``pairs`` layout; ``--gt``,
  config ``gt:``).
* ``own``: the run's own ground truth, beside its renders (``gt/``, ``gt-rgb/``) or in its canvases (gsplat, ns-eval).
* ``dataset``: the held-out views of a dataset kind, for a layout that writes none (multinerf, dycheck;
  ``--dataset KIND --dataset-root DIR``, config ``gt_kind:`` and ``root:``).
* ``files``: a dataset kind itself (config ``kind: blender``): its own files are the ground truth, renders are
  paired by order.
* ``chunks``: pixelSplat's ``.torch`` chunks and the evaluation index (``--dataset-root DIR --eval-index FILE``,
  config ``root:`` and ``eval_index:``).

A layout names its entry (:attr:`nvs_eval.data.layouts.Layout.ground_truth`); a dataset kind uses ``files``. Each
entry says which keys of a config's dataset entry it reads (:attr:`GroundTruthKind.read`), checks their paths
(:attr:`GroundTruthKind.check`), builds a config's scenes (:attr:`GroundTruthKind.scenes`) and the object a
layout's loader takes its ground truth from (:attr:`GroundTruthKind.loader_source`). Nothing outside this module
branches on a layout's or a dataset kind's name to find its ground truth.

The config functions take the config module's checker (``fail``, ``typed``, ``choice``) and a dataset entry
(:class:`nvs_eval.config.DatasetConfig`) without importing them: this module sits below the config.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ..errors import LayoutError, UsageError
from .scene import Scene


@dataclass(frozen=True)
class GroundTruthKind:
    """A kind of ground-truth source.

    Attributes:
        name: its id (``chunks``), what :attr:`~nvs_eval.data.layouts.Layout.ground_truth` names.
        description: one line: where the ground truth is.
        read: ``read(checker, entry, key, kind, base) -> {"gt", "gt_kind", "root", "eval_index"}``: the config
            dataset entry's keys it needs, validated (an error names the key).
        check: ``check(checker, dataset, key, base)``: the paths those keys name exist.
        scenes: ``scenes(dataset, base, config_file) -> [Scene]``: the scenes of a config's dataset entry.
        all_scenes: a config may say ``scenes: all`` (the source lists its scenes).
    """

    name: str
    description: str
    read: Callable[..., dict]
    check: Callable[..., None]
    scenes: Callable[..., list[Scene]]
    all_scenes: bool = False


def _datasets():
    from .datasets import DATASET_KINDS

    return DATASET_KINDS


def _layouts():
    from .layouts import LAYOUTS

    return LAYOUTS


def source_of(kind: str) -> GroundTruthKind:
    """The ground-truth source of a config ``kind`` (a layout or a dataset kind)."""
    if kind in _datasets():
        return SOURCES["files"]
    layout = _layouts()[kind]
    if layout.ground_truth not in SOURCES or layout.ground_truth == "files":  # only a plugin's can be: it is named
        from ..errors import PluginError

        raise PluginError(f"layout {kind!r} ({layout.plugin or 'built in'}): ground_truth {layout.ground_truth!r} is "
                          f"not one of {', '.join(k for k in SOURCES if k != 'files')}")
    return SOURCES[layout.ground_truth]


# --- reading a config's dataset entry ------------------------------------------------------------------------


def _root(c, d: dict, k: str, kind: str, base: Path, what: str = "the folder holding one folder per scene") -> Path:
    if "root" not in d:
        raise c.fail(f"{k}.root", f"required for kind {kind}: {what}")
    return (base / c.typed(d["root"], f"{k}.root", str, "a string")).resolve()


def _gt_kind(c, d: dict, k: str, kind: str, base: Path, *, required: bool) -> dict:
    """``gt_kind`` (the dataset kind a layout's ground truth is, or is checked against) and its ``root``."""
    layout = _layouts()[kind]
    allowed = layout.gt_kinds or tuple(_datasets())
    if "gt_kind" not in d:
        if required:
            raise c.fail(f"{k}.gt_kind", f"required for kind {kind}: {' | '.join(allowed)} (its renders have no "
                                         "ground truth beside them)")
        return {}
    gt_kind = c.choice(d["gt_kind"], f"{k}.gt_kind", allowed, "dataset kind")
    return {"gt_kind": gt_kind, "root": _root(c, d, k, kind, base)}


def _read_folder(c, d: dict, k: str, kind: str, base: Path) -> dict:
    if "gt" not in d:
        raise c.fail(f"{k}.gt", f"required for kind {kind}: the ground-truth folder (may use {{scene}})")
    return {"gt": c.typed(d["gt"], f"{k}.gt", str, "a string"), **_gt_kind(c, d, k, kind, base, required=False)}


def _read_own(c, d: dict, k: str, kind: str, base: Path) -> dict:
    return _gt_kind(c, d, k, kind, base, required=False)


def _read_dataset(c, d: dict, k: str, kind: str, base: Path) -> dict:
    return _gt_kind(c, d, k, kind, base, required=True)


def _read_files(c, d: dict, k: str, kind: str, base: Path) -> dict:
    return {"root": _root(c, d, k, kind, base)}


def _read_chunks(c, d: dict, k: str, kind: str, base: Path) -> dict:
    root = _root(c, d, k, kind, base, "the dataset's root (test/index.json and the .torch chunks)")
    if "eval_index" not in d:
        raise c.fail(f"{k}.eval_index", f"required for kind {kind}: the evaluation index JSON the run used")
    eval_index = (base / c.typed(d["eval_index"], f"{k}.eval_index", str, "a string")).resolve()
    if not eval_index.is_file():
        raise c.fail(f"{k}.eval_index", f"{eval_index} does not exist")
    return {"root": root, "eval_index": eval_index}


# --- checking its paths --------------------------------------------------------------------------------------


def _check_scenes(c, ds, k: str, base: Path) -> None:
    """Every method's path, the masks, the ground-truth folder and the dataset's scene folder, per scene."""
    for s in ds.scenes:
        for m in ds.methods:
            p = ds.resolve(m.path, s, base)
            if not p.exists():
                where = f"{k}.methods[{m.index}]" + (f".runs ({m.run})" if m.run else ".path")
                raise c.fail(where, f"{p} does not exist (scene {s})")
        if ds.masks is not None and not ds.resolve(ds.masks, s, base).is_dir():
            raise c.fail(f"{k}.masks", f"{ds.resolve(ds.masks, s, base)} is not a folder (scene {s})")
        if ds.gt is not None and not ds.resolve(ds.gt, s, base).is_dir():
            raise c.fail(f"{k}.gt", f"{ds.resolve(ds.gt, s, base)} is not a folder (scene {s})")
        if ds.root is not None and not (ds.root / s).is_dir():
            raise c.fail(f"{k}.scenes", f"{ds.root / s} is not a folder")


def _check_chunks(c, ds, k: str, base: Path) -> None:
    """One run folder per method (the scenes inside it) and the dataset's index."""
    for m in ds.methods:
        if not ds.resolve(m.path, "", base).is_dir():
            raise c.fail(f"{k}.methods[{m.index}].path", f"{ds.resolve(m.path, '', base)} is not a folder")
    if not (ds.root / "test" / "index.json").is_file():
        raise c.fail(f"{k}.root", f"{ds.root / 'test' / 'index.json'} does not exist")


# --- a config's scenes ---------------------------------------------------------------------------------------


def _paths(ds, s: str, base: Path) -> dict[str, Path]:
    return {m.key: ds.resolve(m.path, s, base) for m in ds.methods}


def _folder_scenes(ds, base: Path, config: Path) -> list[Scene]:
    from .layouts import pairs_scene

    return [pairs_scene(list(_paths(ds, s, base).items()), ds.resolve(ds.gt, s, base), dataset=ds.name, scene=s)
            for s in ds.scenes]


def _files_scenes(ds, base: Path, config: Path) -> list[Scene]:
    from .datasets import dataset_scene

    scenes = []
    for s in ds.scenes:
        scene = dataset_scene(ds.kind, ds.root / s, _paths(ds, s, base), images=ds.images, dataset=ds.name)
        scene.name = s
        scene.source = (ds.kind, ds.root / s, ds.images, True)
        scenes.append(scene)
    return scenes


def _merged(found: list[Scene], dataset: str, name: str) -> Scene:
    """One scene of every method's own load of it (each method's run folder read on its own)."""
    scene = Scene(dataset, name, found[0].gt, {}, background=found[0].background, signature=found[0].signature)
    for f in found:
        scene.renders.update(f.renders)
        scene.auxiliary.update(f.auxiliary)
        scene.reported.update(f.reported)
        scene.folders.update(f.folders)
        scene.efficiency.update(f.efficiency)
        scene.notes += f.notes
    scene.masks = found[-1].masks
    return scene


def _one(scenes: list[Scene], path: Path, scene: str) -> Scene:
    if len(scenes) != 1:
        raise LayoutError(f"expected one scene (the config's {scene}), found {len(scenes)}: "
                          f"{', '.join(x.name for x in scenes)}", path=path,
                          hint="give each scene's own run folder as the method's path (it may use {scene})")
    return scenes[0]


def _layout_scenes(ds, base: Path, config: Path) -> list[Scene]:
    """A layout's scenes, per method and scene; with ``gt_kind`` the ground truth is that dataset's (a layout
    whose source is ``dataset``) or is checked against it (the others)."""
    from .layouts import GroundTruthSource, load_layout

    own = source_of(ds.kind).name == "dataset"
    scenes = []
    for s in ds.scenes:
        gt_source = GroundTruthSource(ds.gt_kind, ds.root / s, ds.images) if ds.gt_kind and own else None
        found = [_one(load_layout(p, ds.kind, iteration=ds.iteration, method=m, dataset=ds.name,
                                  gt_source=gt_source), p, s) for m, p in _paths(ds, s, base).items()]
        scene = _merged(found, ds.name, s)
        if ds.gt_kind:
            scene.source = (ds.gt_kind, ds.root / s, ds.images, own)
        scenes.append(scene)
    return scenes


def _chunk_scenes(ds, base: Path, config: Path) -> list[Scene]:
    """Every method's run folder holds its scenes (``scenes: all``, or those named)."""
    from .layouts import load_layout
    from .pixelsplat import ChunkSource

    source = ChunkSource(ds.root, ds.eval_index)
    by_name: dict[str, Scene] = {}
    for m in ds.methods:
        for found in load_layout(ds.resolve(m.path, "", base), ds.kind, method=m.key, dataset=ds.name,
                                 gt_source=source):
            if ds.scenes and found.name not in ds.scenes:
                continue
            scene = by_name.setdefault(found.name, found)
            if scene is not found:
                scene.renders.update(found.renders)
                scene.folders.update(found.folders)
    missing = [s for s in ds.scenes if s not in by_name]
    if missing:
        raise UsageError(f"{ds.name}: scene(s) {', '.join(missing)} not scored by any method", path=config,
                         hint="pixelSplat leaves some scenes out (printed as notes); name the scenes it rendered, "
                              "or scenes: all")
    return [by_name[k] for k in sorted(by_name)]


SOURCES: dict[str, GroundTruthKind] = {
    "folder": GroundTruthKind("folder", "a folder of ground-truth images (--gt; config gt:)", _read_folder,
                              _check_scenes, _folder_scenes),
    "own": GroundTruthKind("own", "the run's own ground truth, beside its renders or in its canvases", _read_own,
                           _check_scenes, _layout_scenes),
    "dataset": GroundTruthKind("dataset", "a dataset kind's held-out views (--dataset KIND --dataset-root DIR; "
                               "config gt_kind: and root:)", _read_dataset, _check_scenes, _layout_scenes),
    "files": GroundTruthKind("files", "the dataset's own files, renders paired by order (config kind: a dataset "
                             "kind, root:)", _read_files, _check_scenes, _files_scenes),
    "chunks": GroundTruthKind("chunks", "pixelSplat's .torch chunks and the evaluation index (--dataset-root DIR "
                              "--eval-index FILE; config root: and eval_index:)", _read_chunks, _check_chunks,
                              _chunk_scenes, all_scenes=True),
}


def loader_source(dataset: str | None, root: Path | None, images: str = "images", eval_index: Path | None = None):
    """What a layout's loader takes its ground truth from, given the command line's ``--dataset``,
    ``--dataset-root``, ``--images`` and ``--eval-index`` (``None``: the layout's own)."""
    if eval_index is not None:
        from .pixelsplat import ChunkSource

        return ChunkSource(Path(root), Path(eval_index))
    if dataset is not None:
        from .layouts import GroundTruthSource

        return GroundTruthSource(dataset, Path(root), images)
    return None
