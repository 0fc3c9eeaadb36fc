"""The folder layouts people have, auto-detected into :class:`Scene` objects.

Each layout is one :data:`LAYOUTS` entry (name, detector, loader, description, ground-truth source); the CLI's
``--layout`` choices, the config's ``kind`` values and auto-detection all derive from it. Installed packages add
layouts through the entry-point group ``nvs_eval.layouts`` (:func:`nvs_eval.plugin.layout`, docs/plugins.md).

* ``pairs``: a renders folder per method and one ground-truth folder, paired by relative path without extension.
* ``3dgs``: a model folder holding ``test/ours_<iteration>/{renders,gt}`` (graphdeco-inria/gaussian-splatting
  ``render.py`` writes them; ``metrics.py`` reads them); a folder of such model folders is several scenes.
* ``nerfstudio``: ``ns-render dataset`` output, ``<output-path>/<split>/<rendered-output-name>/<image name>``
  with ``rgb`` and ``gt-rgb`` outputs (nerfstudio ``nerfstudio/scripts/render.py``, ``DatasetRender``).
* ``ns-eval``: ``ns-eval --render-output-path DIR`` output: ``{camera index:06d}-img.jpg`` per test view, a canvas
  of ground truth | render (nerfstudio ``pipelines/base_pipeline.py``,
  ``VanillaPipeline.get_average_eval_image_metrics``: ``Image.fromarray((val * 255).byte())...save(output_path /
  "{0:06d}-{1}.jpg")`` for each ``images_dict`` entry; nerfacto's ``get_image_metrics_and_images`` puts
  ``torch.cat([gt_rgb, predicted_rgb], dim=1)`` under ``img``, plus ``accumulation`` and ``depth``).
* ``nerfbaselines``: a predictions folder with ``color/`` and ``gt-color/`` (NerfBaselines
  ``nerfbaselines/evaluation.py``), or its ``.tar.gz`` form.
* ``gsplat``: a ``simple_trainer.py`` result folder: ``renders/{stage}_step{step}_{i:04d}.png`` canvases
  (ground truth | render along the width, ``(canvas * 255).astype(np.uint8)``) and
  ``stats/{stage}_step{step:04d}.json`` with the trainer's own means (nerfstudio-project/gsplat
  ``examples/simple_trainer.py``, ``Runner.eval``).
* ``multinerf``: multinerf / Zip-NeRF test renders without ground truth: ``test_preds/color_{idx:03d}.png``
  (google-research/multinerf ``eval.py``; also ``color_cc_``, ``distance_mean_``, ``distance_median_``,
  ``normals_``, ``acc_`` files and ``metric_{name}_{step}.txt``) or ``render/test_preds_step_{step}/color_{idx}.png``
  (``render.py``, index zero-padded to ``max(3, len(str(n - 1)))``), paired by index with the held-out views of a
  dataset (``--dataset KIND --dataset-root DIR``).
* ``mip-splatting``: ``test/ours_<iteration>/test_preds_<r>`` and ``gt_<r>`` (autonomousvision/mip-splatting
  ``render.py``), each resolution's views with their scale in the id (:mod:`nvs_eval.data.multiscale`).
* ``dycheck``: a dynamic-scene run's ``results/rgb/<frame>.png``, paired by frame name with the held-out frames of a
  DyCheck iPhone capture (``--dataset iphone --dataset-root CAPTURE``), its co-visibility masks for the masked
  metrics, and ``mean_metrics_dict.json`` printed beside (:mod:`nvs_eval.data.dycheck`).
* ``pixelsplat``: pixelSplat / MVSplat / DepthSplat ``test_step`` output, ``<scene>/color/{index:0>6}.png``, paired
  with the target views cut from the dataset's ``.torch`` chunks as their loader cuts them
  (:mod:`nvs_eval.data.pixelsplat`; ``--dataset-root DIR --eval-index FILE``).
"""

from __future__ import annotations

import re
import tarfile
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ..entrypoints import OpenRegistry
from ..errors import LayoutError, PluginError, option
from .datasets import dataset_test_views
from .discover import GENERIC_FOLDERS, list_images, ours_iterations, run_name, tool_scene
from .discover import choose_iteration as _choose
from .discover import runs_at as _runs
from .dycheck import is_dycheck_run, load_dycheck
from .efficiency import (
    find_nerfbaselines_results,
    find_ns_eval_output,
    gsplat_figures,
    nerfbaselines_figures,
    ns_eval_figures,
    threedgs_figures,
)
from .images import CanvasHalf
from .multiscale import is_mipsplatting, load_mipsplatting
from .pixelsplat import ChunkSource, is_pixelsplat_run, load_pixelsplat
from .scene import Scene, read_reported, sign

__all__ = ["BUILTIN_LAYOUTS", "LAYOUTS", "Layout", "Scene", "detect_layout", "load_layout", "pairs_scene"]


@dataclass(frozen=True)
class GroundTruthSource:
    """Where a layout without ground truth (multinerf) takes it from: a dataset kind and its scene folder."""

    kind: str
    root: Path
    images: str = "images"


# --- 3DGS ----------------------------------------------------------------------------------------------------


def _iterations(model: Path) -> dict[int, Path]:
    return ours_iterations(model, lambda d: (d / "renders").is_dir() and (d / "gt").is_dir())


def is_3dgs_model(path: Path) -> bool:
    return bool(_iterations(path))


def _is_3dgs(path: Path) -> bool:
    return bool(_runs(path, _iterations))


def load_3dgs(path: Path, *, iteration: int | None = None, method: str | None = None, dataset: str = "default",
              gt_source: GroundTruthSource | None = None) -> list[Scene]:
    """One scene per model folder. The method is the run's folder name (one model folder: its own; a folder of
    model folders: that folder's), never metrics.py's ``ours_<iteration>`` (the iteration is in :attr:`Scene.origin`);
    the scene is the one the model was trained on (``cfg_args``' ``source_path``), else the model folder's name."""
    models = _runs(path, _iterations)
    if not models:
        raise LayoutError(f"{path}: no 3DGS model folder (expected test/ours_<iteration>/renders and gt)")
    scenes = []
    for model in models:
        its = _iterations(model)
        chosen = _choose(its, iteration, model, "test/ours_{}")
        d = its[chosen]
        scene = tool_scene(model) or model.name
        name = method or run_name(model if model == path else path, skip=(scene,) if model != path else ())
        figures, notes = threedgs_figures(model, chosen)
        scenes.append(Scene(dataset, scene, list_images(d / "gt"), {name: list_images(d / "renders")},
                            folders={"": d / "gt", name: d / "renders"}, notes=notes, efficiency={name: figures},
                            origin={name: f"iteration {chosen} ({model.name}/test/ours_{chosen})"}))
    return scenes


# --- nerfstudio ----------------------------------------------------------------------------------------------


def _nerfstudio_root(path: Path) -> Path | None:
    for cand in (path / "test", path):
        if (cand / "rgb").is_dir() and (cand / "gt-rgb").is_dir():
            return cand
    return None


def load_nerfstudio(path: Path, *, method: str | None = None, dataset: str = "default", **_) -> list[Scene]:
    root = _nerfstudio_root(path)
    if root is None:
        raise LayoutError(f"{path}: not ns-render dataset output (expected [test/]rgb and [test/]gt-rgb folders)")
    name = method or run_name(path)
    figures, notes = _ns_eval_output(path)
    return [Scene(dataset, path.name, list_images(root / "gt-rgb"), {name: list_images(root / "rgb")},
                  folders={"": root / "gt-rgb", name: root / "rgb"}, origin={name: "ns-render dataset output"},
                  efficiency={name: figures}, notes=notes)]


def _ns_eval_output(path: Path) -> tuple[list, list[str]]:
    """The figures of ns-eval's ``output.json`` in ``path`` or the folder above (none when there is none)."""
    found = find_ns_eval_output(path)
    return ns_eval_figures(found) if found is not None else ([], [])


_NS_EVAL = re.compile(r"(\d{6})-(\w+)\.(jpg|jpeg|png)")


def _ns_eval_files(path: Path) -> dict[str, dict[str, Path]]:
    """``{key: {camera index: file}}`` of the files ns-eval wrote into ``path``."""
    out: dict[str, dict[str, Path]] = {}
    if path.is_dir():
        for f in sorted(path.iterdir()):
            m = _NS_EVAL.fullmatch(f.name)
            if m and f.is_file():
                out.setdefault(m.group(2), {})[m.group(1)] = f
    return out


def load_ns_eval(path: Path, *, method: str | None = None, dataset: str = "default", **_) -> list[Scene]:
    files = _ns_eval_files(path)
    if "img" not in files:
        raise LayoutError(f"{path}: not ns-eval --render-output-path output (expected NNNNNN-img.jpg canvases)")
    name = method or run_name(path)
    canvases = files.pop("img")
    aux = {str(f): key for key, fs in files.items() for f in fs.values()}
    figures, notes = _ns_eval_output(path)
    return [Scene(dataset, path.name, {v: CanvasHalf(f, "left") for v, f in canvases.items()},
                  {name: {v: CanvasHalf(f, "right") for v, f in canvases.items()}},
                  folders={"": path, name: path}, auxiliary={name: aux}, efficiency={name: figures},
                  notes=notes + ["ns-eval canvases are 8-bit JPEG (truncated, then lossy-compressed): scores differ "
                                 "from the float values ns-eval printed; render with `ns-render dataset` for exact "
                                 "files"])]


# --- NerfBaselines -------------------------------------------------------------------------------------------


def _open_nerfbaselines(path: Path) -> Path:
    if path.is_file() and path.name.endswith(".tar.gz"):
        tmp = Path(tempfile.mkdtemp(prefix="nvs-eval-nb-"))
        with tarfile.open(path, "r:gz") as tar:
            tar.extractall(tmp, filter="data")
        inner = [tmp] + [d for d in tmp.iterdir() if d.is_dir()]
        for d in inner:
            if (d / "color").is_dir() and (d / "gt-color").is_dir():
                return d
        raise LayoutError(f"{path}: archive holds no color/ and gt-color/ folders")
    return path


def _is_nerfbaselines(path: Path) -> bool:
    return (path.is_file() and path.name.endswith(".tar.gz")) or (
        path.is_dir() and (path / "color").is_dir() and (path / "gt-color").is_dir())


def load_nerfbaselines(path: Path, *, method: str | None = None, dataset: str = "default", **_) -> list[Scene]:
    root = _open_nerfbaselines(path)
    if not ((root / "color").is_dir() and (root / "gt-color").is_dir()):
        raise LayoutError(f"{path}: not a NerfBaselines predictions folder (expected color/ and gt-color/)")
    name = path.name[: -len(".tar.gz")] if path.name.endswith(".tar.gz") else path.name
    method = method or run_name(path)
    if GENERIC_FOLDERS.fullmatch(path.name):  # predictions-30000(.tar.gz): the scene is the folder above it
        name = run_name(path)
    results = find_nerfbaselines_results(path)
    figures, notes = nerfbaselines_figures(results) if results is not None else ([], [])
    return [Scene(dataset, name, list_images(root / "gt-color"), {method: list_images(root / "color")},
                  folders={"": root / "gt-color", method: root / "color"}, efficiency={method: figures}, notes=notes)]


# --- gsplat --------------------------------------------------------------------------------------------------

_GSPLAT = re.compile(r"([a-z]+)_step(\d+)_(\d{4,})\.png")


def _gsplat_steps(result: Path, stage: str = "val") -> dict[int, dict[str, Path]]:
    """``{step: {view id: canvas}}`` of ``result/renders/{stage}_step{step}_{i:04d}.png``."""
    out: dict[int, dict[str, Path]] = {}
    renders = result / "renders"
    if renders.is_dir():
        for f in sorted(renders.iterdir()):
            m = _GSPLAT.fullmatch(f.name)
            if m and m.group(1) == stage:
                out.setdefault(int(m.group(2)), {})[m.group(3)] = f
    return out


def _is_gsplat(path: Path) -> bool:
    return bool(_runs(path, _gsplat_steps))


def _gsplat_reported(result: Path, step: int) -> tuple[dict[str, float], list[str]]:
    """The trainer's own means from ``stats/val_step{step:04d}.json`` (``{}`` if absent), and a note if that file
    cannot be read."""
    for name in (f"val_step{step:04d}.json", f"val_step{step}.json"):
        f = result / "stats" / name
        if f.is_file():
            return read_reported(f, {k: k for k in ("psnr", "ssim", "lpips")})
    return {}, []


def _gsplat_note(result: Path) -> list[str]:
    cfg = result / "cfg.yml"
    if cfg.is_file():
        m = re.search(r"^lpips_net:\s*(\w+)\s*$", cfg.read_text(errors="replace"), re.M)
        if m:
            net = m.group(1)
            return [f"{cfg}: lpips_net={net}: the trainer's own LPIPS is reproduced by --protocol "
                    + ("gsplat-vgg" if net == "vgg" else "gsplat")]
    return []


def load_gsplat(path: Path, *, iteration: int | None = None, method: str | None = None, dataset: str = "default",
                **_) -> list[Scene]:
    """One scene per result folder; each canvas's left half is the ground truth, the right half the render."""
    results = _runs(path, _gsplat_steps)
    if not results:
        raise LayoutError(f"{path}: no gsplat result folder (expected renders/val_step<step>_<i:04d>.png)")
    scenes = []
    for result in results:
        steps = _gsplat_steps(result)
        step = _choose(steps, iteration, result, "renders/val_step{}_*.png")
        scene = tool_scene(result) or result.name
        name = method or run_name(result if result == path else path, skip=(scene,) if result != path else ())
        canvases = steps[step]
        reported, unread = _gsplat_reported(result, step)
        figures, missing = gsplat_figures(result, step)
        scenes.append(Scene(dataset, scene, {v: CanvasHalf(f, "left") for v, f in canvases.items()},
                            {name: {v: CanvasHalf(f, "right") for v, f in canvases.items()}},
                            folders={"": result / "renders", name: result / "renders"}, efficiency={name: figures},
                            reported={name: reported} if reported else {},
                            notes=_gsplat_note(result) + unread + missing,
                            origin={name: f"step {step} ({result.name}/renders/val_step{step}_*.png)"}))
    return scenes


# --- multinerf -----------------------------------------------------------------------------------------------

_COLOR = re.compile(r"color_(\d{3,})\.png")
_MULTINERF_AUX = re.compile(r"(color_cc|distance_mean|distance_median|normals|acc)_(\d{3,})\.(png|tiff)")


def _multinerf_dirs(path: Path) -> dict[int, Path]:
    """``{step: folder}`` of multinerf test renders at ``path`` (-1 for eval.py's unnumbered ``test_preds``)."""
    out: dict[int, Path] = {}
    for cand in (path, path / "render"):
        if not cand.is_dir():
            continue
        for d in [cand, *sorted(x for x in cand.iterdir() if x.is_dir())]:
            m = re.fullmatch(r"test_preds(?:_step_(\d+))?", d.name)
            if (m or d == path) and any(_COLOR.fullmatch(f.name) for f in d.iterdir()):
                out[int(m.group(1)) if m and m.group(1) else -1] = d
    return out


def _multinerf_reported(folder: Path) -> dict[str, float]:
    """Means of eval.py's ``metric_{psnr,ssim}_{step}.txt`` (space-separated per-view values)."""
    out = {}
    for f in sorted(folder.glob("metric_*_*.txt")):
        m = re.fullmatch(r"metric_(psnr|ssim)_(\d+)\.txt", f.name)
        if m:
            vals = [float(x) for x in f.read_text().split()]
            if vals:
                out[m.group(1)] = sum(vals) / len(vals)
    return out


def load_multinerf(path: Path, *, iteration: int | None = None, method: str | None = None, dataset: str = "default",
                   gt_source: GroundTruthSource | None = None, **_) -> list[Scene]:
    """``color_<idx>.png`` paired with the ``idx``-th held-out view of ``gt_source``'s dataset."""
    dirs = _multinerf_dirs(path)
    if not dirs:
        raise LayoutError(f"{path}: no multinerf test renders (expected test_preds/color_NNN.png or "
                          "render/test_preds_step_N/color_NNN.png)")
    if gt_source is None:
        raise LayoutError("multinerf writes no ground truth", path=path,
                          hint=f"name the dataset it was trained on with {option('dataset')} blender|llff|mipnerf360 "
                               f"{option('dataset_root')} SCENE_FOLDER (and {option('images')}images_4 ...)")
    folder = dirs[_choose(dirs, iteration, path, "render/test_preds_step_{}")]
    gt, background = dataset_test_views(gt_source.kind, gt_source.root, gt_source.images)
    views = list(gt)
    renders, aux, extra = {}, {}, []
    for f in sorted(folder.iterdir()):
        m = _COLOR.fullmatch(f.name)
        if m:
            idx = int(m.group(1))
            if idx < len(views):
                renders[views[idx]] = f
            else:
                extra.append(f.name)
        elif _MULTINERF_AUX.fullmatch(f.name):
            aux[str(f)] = _MULTINERF_AUX.fullmatch(f.name).group(1)
    if extra:
        raise LayoutError(f"{folder}: {len(extra)} render(s) have an index beyond the {len(views)} test view(s) of "
                          f"{gt_source.root} ({gt_source.kind}, {gt_source.images}): {', '.join(extra[:5])}; "
                          "is it the dataset the model was trained on?")
    name = method or run_name(path)
    reported = _multinerf_reported(folder)
    return [Scene(dataset, gt_source.root.name, gt, {name: renders}, background=background,
                  folders={"": gt_source.root, name: folder}, auxiliary={name: aux},
                  reported={name: reported} if reported else {},
                  origin={name: f"{folder.relative_to(path) if folder != path else folder.name}/color_NNN.png"})]


# --- the registry --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Layout:
    """A folder layout: ``detect(path)`` says whether ``path`` is one; ``load(path, ...)`` reads its scenes.

    ``ground_truth``: where its ground truth comes from, a :data:`nvs_eval.data.sources.SOURCES` entry: ``own``
    (beside its renders or in its canvases), ``folder`` (a ``--gt`` folder), ``dataset`` (a dataset kind's scene,
    :class:`GroundTruthSource`; ``gt_kinds`` limits which, empty: any) or ``chunks`` (pixelSplat's dataset chunks
    and evaluation index, :class:`~nvs_eval.data.pixelsplat.ChunkSource`). ``plugin``: the package that provides
    it, ``name==version`` (:func:`nvs_eval.plugin.layout`), part of the stored signature of every row it pairs."""

    name: str
    description: str
    detect: Callable[[Path], bool] | None
    load: Callable[..., list[Scene]] | None
    ground_truth: str = "own"
    gt_kinds: tuple[str, ...] = ()
    plugin: str | None = None


def _is_multinerf(path: Path) -> bool:
    return path.is_dir() and bool(_multinerf_dirs(path))


BUILTIN_LAYOUTS: dict[str, Layout] = {
    "pairs": Layout("pairs", "plain folders: one renders folder per method and a --gt folder", None, None,
                    ground_truth="folder"),
    "3dgs": Layout("3dgs", "3DGS model folder(s): test/ours_<iteration>/{renders,gt}", _is_3dgs, load_3dgs),
    "nerfstudio": Layout("nerfstudio", "ns-render dataset output: [test/]rgb and [test/]gt-rgb",
                         lambda p: _nerfstudio_root(p) is not None, load_nerfstudio),
    "ns-eval": Layout("ns-eval", "ns-eval --render-output-path: NNNNNN-img.jpg canvases (ground truth | render)",
                      lambda p: "img" in _ns_eval_files(p), load_ns_eval),
    "nerfbaselines": Layout("nerfbaselines", "NerfBaselines predictions: color/ and gt-color/ (or .tar.gz)",
                            _is_nerfbaselines, load_nerfbaselines),
    "gsplat": Layout("gsplat", "gsplat simple_trainer result: renders/val_step<N>_<i>.png canvases, stats/",
                     _is_gsplat, load_gsplat),
    "multinerf": Layout("multinerf", "multinerf / Zip-NeRF test_preds[_step_N]/color_NNN.png (needs --dataset)",
                        _is_multinerf, load_multinerf, ground_truth="dataset"),
    "mip-splatting": Layout("mip-splatting", "Mip-Splatting model folder(s): test/ours_<iteration>/test_preds_<r> "
                            "and gt_<r> (one per resolution)", is_mipsplatting, load_mipsplatting),
    "dycheck": Layout("dycheck", "a dynamic-scene run on a DyCheck iPhone capture: results/rgb/<frame>.png "
                      "(needs --dataset iphone)", is_dycheck_run, load_dycheck, ground_truth="dataset",
                      gt_kinds=("iphone",)),
    "pixelsplat": Layout("pixelsplat", "pixelSplat / MVSplat / DepthSplat test output: <scene>/color/NNNNNN.png "
                         "(ground truth from the dataset's .torch chunks and the evaluation index)",
                         is_pixelsplat_run, load_pixelsplat, ground_truth="chunks"),
}


def _plugin_layout(item, package: str) -> tuple[str, Layout]:
    from ..plugin import PluginLayout

    if not isinstance(item, PluginLayout):  # (its ground_truth is checked where it is used: sources.source_of)
        raise PluginError(f"expected nvs_eval.plugin.layout(...), got {type(item).__name__}")
    return item.name, Layout(item.name, item.description, item.detect, item.load, item.ground_truth, item.gt_kinds,
                             plugin=package)


# The built-in layouts, then the installed packages' (entry-point group nvs_eval.layouts, loaded on first use).
LAYOUTS: OpenRegistry = OpenRegistry("nvs_eval.layouts", "layout", BUILTIN_LAYOUTS, _plugin_layout)


def detect_layout(path: Path) -> str:
    """Name the layout of ``path`` or raise a :class:`LayoutError` that says what was looked for."""
    path = Path(path)
    if not path.exists():
        raise LayoutError(f"{path}: no such file or folder")
    if not path.is_dir() and not _is_nerfbaselines(path):
        raise LayoutError(f"{path}: expected a folder")
    for name, layout in LAYOUTS.items():
        if layout.detect is not None and layout.detect(path):
            return name
    expected = "; ".join(f"{n} ({spec.description})" for n, spec in LAYOUTS.items() if spec.detect)
    raise LayoutError("layout not recognised", path=path, expected=f"one of: {expected}",
                      hint=f"or give {option('gt')} for plain folders")


def load_layout(path: Path, layout: str | None = None, *, iteration: int | None = None, method: str | None = None,
                dataset: str = "default", gt_source: GroundTruthSource | ChunkSource | None = None) -> list[Scene]:
    """Scenes found at ``path`` under ``layout`` (auto-detected when ``None``)."""
    path = Path(path)
    layout = layout or detect_layout(path)
    if layout not in LAYOUTS:
        raise LayoutError(LAYOUTS.unknown(layout))
    spec = LAYOUTS[layout]
    if spec.load is None:
        raise LayoutError(f"the {layout} layout needs a ground-truth folder ({option('gt')})", path=path)
    scenes = spec.load(path, iteration=iteration, method=method, dataset=dataset, gt_source=gt_source)
    if isinstance(gt_source, GroundTruthSource):  # a plugin dataset kind's views are this ground truth
        from .datasets import dataset_kind

        sign(scenes, f"dataset {gt_source.kind}", dataset_kind(gt_source.kind).plugin)
    return sign(scenes, f"layout {layout}", spec.plugin)


GT_FOLDERS = ("gt", "gt-rgb", "gt_rgb", "gt-color", "ground_truth", "groundtruth", "ground-truth",
              # a dataset's own image folders: the scene is the folder above (garden/images_4)
              "images", "images_2", "images_4", "images_8", "images_16", "rgb")


def pairs_scene(renders: list[tuple[str, Path]], gt: Path, *, dataset: str = "default",
                scene: str | None = None) -> Scene:
    """A scene from plain folders: each ``(method, folder)`` against one ground-truth folder."""
    gt = Path(gt)
    names = [m for m, _ in renders]
    dupes = sorted({m for m in names if names.count(m) > 1})
    if dupes:
        raise LayoutError(f"method name(s) given twice: {', '.join(dupes)}; name them with name=path")
    scene = scene or run_name(gt.resolve(), skip=GT_FOLDERS)  # gt/ or test/gt: the folder above names the scene
    return Scene(dataset, scene, list_images(gt), {m: list_images(Path(p)) for m, p in renders},
                 folders={"": gt, **{m: Path(p) for m, p in renders}})
