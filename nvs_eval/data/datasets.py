"""Ground truth taken from a dataset's own files instead of a folder of saved ground-truth images.

* ``blender`` (NeRF-synthetic): test views are the ``frames`` of ``transforms_test.json`` in file order, each
  ``file_path`` + ``.png`` relative to the scene; RGBA, composited on white (the NeRF/3DGS convention for these
  scenes; ``--background`` changes it).
* ``blender-multiscale`` (mip-NeRF): the test files of ``metadata.json`` in order, four scales of each test view
  (:mod:`nvs_eval.data.multiscale`), RGBA composited on white.
* ``iphone`` (DyCheck): the frames of ``splits/val.json`` (the held-out cameras), ``rgb/<factor>x/<frame>.png``
  (``--images 1x`` / ``2x``; default ``extra.json``'s factor, as DyCheck reads it), with the co-visibility masks
  ``covisible/<factor>x/val/<frame>.png`` for the masked metrics (:data:`DATASET_KINDS` names the seven captures
  with held-out cameras DyCheck evaluates).
* ``llff``, ``mipnerf360``, ``tanksandtemples`` and ``deepblending`` (the last two as 3DGS's ``tandt_db`` release
  lays them out): the images of ``images`` (or ``images_2``/``images_4``/``images_8``) sorted by name; every 8th,
  starting with the first, is a test view (``llffhold = 8`` in NeRF, multinerf ``internal/datasets.py`` and 3DGS
  ``scene/dataset_readers.py``).

Each kind also records its standard split, its scenes and its published resolution, which ``nvs-eval check``
(:mod:`nvs_eval.data.provenance`) compares a run with.

Renders are paired with these test views by order: the k-th render (sorted by name) is the k-th test view.

Masks the dataset ships (used by the ``masked_*`` metrics when no ``--masks`` / ``--mask-from-gt-alpha`` is
given): for ``blender``, the test images' own alpha channels (the object); for ``llff`` and ``mipnerf360``, a
``masks/`` folder beside ``images/`` (``masks_N`` beside ``images_N``) with a mask per image, named as the image
(any image extension), used when it holds one for every test view.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ..entrypoints import OpenRegistry
from ..errors import LayoutError, PairingError, PluginError, option
from .auxiliary import split_auxiliary_by_name
from .discover import list_images
from .images import WHITE
from .multiscale import multiscale_test_views
from .scene import Scene, sign

LLFF_HOLD = 8


def blender_test_views(scene_dir: Path, images: str = "images") -> dict[str, Path]:
    """The test views of a NeRF-synthetic scene, in ``transforms_test.json`` order (``images`` is unused)."""
    path = scene_dir / "transforms_test.json"
    try:
        meta = json.loads(path.read_text())
        frames = meta["frames"]
        files = [scene_dir / (f["file_path"].removeprefix("./") + ("" if f["file_path"].endswith(".png") else ".png"))
                 for f in frames]
    except FileNotFoundError:
        raise LayoutError(f"{path}: not found; expected a Blender (NeRF-synthetic) scene") from None
    except (json.JSONDecodeError, KeyError, TypeError, AttributeError) as e:
        raise LayoutError(f"{path}: expected JSON with frames[].file_path ({type(e).__name__}: {e})") from None
    missing = [str(f) for f in files if not f.is_file()]
    if missing:
        raise PairingError(f"{path}: {len(missing)} test image(s) missing, e.g. {missing[0]}")
    return {f.relative_to(scene_dir).with_suffix("").as_posix(): f for f in files}


def held_out_views(scene_dir: Path, images: str = "images", hold: int = LLFF_HOLD) -> dict[str, Path]:
    """Every ``hold``-th image of ``scene_dir/images``, starting with the first (the LLFF hold-out)."""
    folder = scene_dir / images
    if not folder.is_dir():
        raise LayoutError(f"{folder}: not found; expected an LLFF / Mip-NeRF 360 scene with an {images}/ folder")
    allv = list_images(folder)
    return {k: p for i, (k, p) in enumerate(allv.items()) if i % hold == 0}


def iphone_factor(scene_dir: Path, images: str) -> str:
    """The iPhone image folder: the one named (``1x``, ``2x``), else ``<factor>x`` with the ``factor`` of the
    capture's ``extra.json`` as DyCheck reads it (dycheck/datasets/iphone.py, ``_load_extra_info``; 2 in its
    release, demo/datasets/iphone/paper-windmill/extra.json:14), else ``1x``."""
    if images != "images":
        return images
    extra = scene_dir / "extra.json"
    if not extra.is_file():
        return "1x"
    try:
        return f"{int(json.loads(extra.read_text())['factor'])}x"
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise LayoutError(f"not readable for the capture's factor ({type(e).__name__}: {e})", path=extra,
                          expected='a JSON object with "factor" (2 in DyCheck\'s release)',
                          hint=f"or name the image folder with {option('images')}1x / 2x") from None


def iphone_val_views(scene_dir: Path, images: str = "images") -> dict[str, Path]:
    """DyCheck's iPhone held-out views: the ``frame_names`` of ``splits/val.json`` (the frames of the cameras
    other than camera 0: dycheck/datasets/iphone.py:1012-1031, ``_create_splits``), as ``rgb/<factor>/<frame>.png``
    (iphone.py, ``load_rgba``). A capture filmed with one camera has no held-out views."""
    path = scene_dir / "splits" / "val.json"
    if not path.is_file() and (scene_dir / "rgb").is_dir():
        raise LayoutError("this iPhone capture has no held-out cameras (no splits/val.json): DyCheck evaluates "
                          "novel views only on the captures filmed with more than one camera", path=scene_dir)
    try:
        frames = json.loads(path.read_text())["frame_names"]
    except FileNotFoundError:
        raise LayoutError(f"{path}: not found; expected a DyCheck iPhone capture (rgb/1x, splits/val.json)") from None
    except (json.JSONDecodeError, KeyError, TypeError) as e:
        raise LayoutError(f"{path}: expected JSON with frame_names ({type(e).__name__}: {e})") from None
    if not frames:
        raise LayoutError("this iPhone capture has no held-out cameras (splits/val.json lists no frame)", path=path)
    folder = scene_dir / "rgb" / iphone_factor(scene_dir, images)
    files = {str(f): folder / f"{f}.png" for f in frames}
    missing = [str(p) for p in files.values() if not p.is_file()]
    if missing:
        raise PairingError(f"{path}: {len(missing)} held-out frame(s) missing, e.g. {missing[0]}")
    return files


def covisible_masks(scene_dir: Path, images: str, gt: dict[str, Path]) -> dict[str, Path] | None:
    """DyCheck's co-visibility masks, ``covisible/<factor>/val/<frame>.png`` (iphone.py, ``load_covisible``), for
    every held-out view, or ``None``."""
    folder = scene_dir / "covisible" / iphone_factor(scene_dir, images) / "val"
    found = {v: folder / f"{v}.png" for v in gt}
    missing = [p for p in found.values() if not p.is_file()]
    if not missing:
        return found
    if len(missing) < len(found):  # the masks are there, but not all of them: never scored without some
        raise PairingError(f"{len(missing)} of {len(found)} co-visibility masks missing, e.g. {missing[0].name}",
                           path=folder, expected="covisible/<factor>/val/<frame>.png for every held-out frame")
    return None


def alpha_masks(scene_dir: Path, images: str, gt: dict[str, Path]) -> str:
    """The test images' alpha channels are the masks (NeRF-synthetic's RGBA PNGs)."""
    return "alpha"


def folder_masks(scene_dir: Path, images: str, gt: dict[str, Path]) -> dict[str, Path] | None:
    """``masks[_N]/<image stem>.*`` for every test view, or ``None`` (no such folder, or one missing a view)."""
    folder = scene_dir / ("masks" + images.removeprefix("images"))
    if not folder.is_dir():
        return None
    found = list_images(folder)
    return {v: found[v] for v in gt} if all(v in found for v in gt) else None


@dataclass(frozen=True)
class DatasetKind:
    """A dataset whose test views are defined by its own files.

    ``standard_split``: the rule of its standard protocol (:mod:`nvs_eval.data.splits`); ``scenes``: the scenes a
    full average covers; ``published_images``: the image folder a scene's published numbers use (``None``: no
    resolution protocol), with ``resolution_source`` saying where that comes from.
    """

    name: str
    test_views: Callable[[Path, str], dict[str, Path]]
    background: tuple[float, float, float] | None
    description: str
    masks: Callable[[Path, str, dict[str, Path]], dict[str, Path] | str | None] | None = None
    standard_split: str = "every-8th"
    scenes: tuple[str, ...] = ()
    published_images: Callable[[str], str | None] | None = None
    resolution_source: str = ""
    plugin: str | None = None  # the package that provides it, name==version (nvs_eval.plugin.dataset)


# Mip-NeRF 360's published resolution: images_4 for the outdoor scenes, images_2 for the indoor ones (Barron et al.
# 2022, Sec. 5; NerfBaselines nerfbaselines/datasets/mipnerf360.py:20-30, ``_scenes360_res``).
MIPNERF360_IMAGES = {"bicycle": "images_4", "flowers": "images_4", "garden": "images_4", "stump": "images_4",
                     "treehill": "images_4", "bonsai": "images_2", "counter": "images_2", "kitchen": "images_2",
                     "room": "images_2"}


BUILTIN_DATASET_KINDS: dict[str, DatasetKind] = {
    "blender": DatasetKind("blender", blender_test_views, WHITE,
                           "NeRF-synthetic: transforms_test.json frames, RGBA composited on white", alpha_masks,
                           standard_split="test",
                           scenes=("chair", "drums", "ficus", "hotdog", "lego", "materials", "mic", "ship")),
    "llff": DatasetKind("llff", held_out_views, None, "LLFF: every 8th image of images[_N]/ (llffhold = 8)",
                        folder_masks, scenes=("fern", "flower", "fortress", "horns", "leaves", "orchids", "room",
                                              "trex"),
                        published_images=lambda scene: "images_8",
                        resolution_source="NeRF configs/<scene>.txt: factor = 8 (504x378)"),
    "mipnerf360": DatasetKind("mipnerf360", held_out_views, None,
                              "Mip-NeRF 360: every 8th image of images[_N]/ (llffhold = 8)", folder_masks,
                              scenes=tuple(MIPNERF360_IMAGES), published_images=MIPNERF360_IMAGES.get,
                              resolution_source="Mip-NeRF 360 (Barron et al. 2022): images_4 outdoors, images_2 "
                                                "indoors; NerfBaselines datasets/mipnerf360.py:20-30"),
    "tanksandtemples": DatasetKind("tanksandtemples", held_out_views, None,
                                   "Tanks and Temples as 3DGS uses it (tandt/<scene>): every 8th image of images/",
                                   folder_masks, scenes=("truck", "train"),
                                   published_images=lambda scene: "images",
                                   resolution_source="3DGS's tandt_db release, full resolution (images/)"),
    "deepblending": DatasetKind("deepblending", held_out_views, None,
                                "Deep Blending as 3DGS uses it (db/<scene>): every 8th image of images/",
                                folder_masks, scenes=("drjohnson", "playroom"),
                                published_images=lambda scene: "images",
                                resolution_source="3DGS's tandt_db release, full resolution (images/)"),
    "blender-multiscale": DatasetKind("blender-multiscale", multiscale_test_views, WHITE,
                                      "mip-NeRF multi-scale Blender: metadata.json test files (4 scales), RGBA on "
                                      "white", alpha_masks, standard_split="test",
                                      scenes=("chair", "drums", "ficus", "hotdog", "lego", "materials", "mic",
                                              "ship")),
    "iphone": DatasetKind("iphone", iphone_val_views, None,
                          "DyCheck iPhone: splits/val.json frames, rgb/<factor>x/<frame>.png, covisible masks",
                          covisible_masks, standard_split="val-json",
                          # the captures with held-out cameras (dycheck docs/BENCHMARK.md:200-223)
                          scenes=("apple", "block", "paper-windmill", "space-out", "spin", "teddy", "wheel"),
                          published_images=lambda scene: "2x",
                          resolution_source="DyCheck reads rgb/<factor>x with extra.json's factor (2 in its "
                                            "release); methods evaluating at 1x are not comparable with it"),
}


def _plugin_kind(item, package: str) -> tuple[str, DatasetKind]:
    from ..plugin import PluginDataset

    if not isinstance(item, PluginDataset):
        raise PluginError(f"expected nvs_eval.plugin.dataset(...), got {type(item).__name__}")
    return item.name, DatasetKind(item.name, item.test_views, item.background, item.description, item.masks,
                                  item.standard_split, item.scenes, plugin=package)


# The built-in kinds, then the installed packages' (entry-point group nvs_eval.datasets, loaded on first use).
DATASET_KINDS: OpenRegistry = OpenRegistry("nvs_eval.datasets", "dataset kind", BUILTIN_DATASET_KINDS, _plugin_kind)


def dataset_kind(kind: str) -> DatasetKind:
    if kind not in DATASET_KINDS:
        raise LayoutError(DATASET_KINDS.unknown(kind))
    return DATASET_KINDS[kind]


def dataset_test_views(kind: str, scene_dir: Path, images: str = "images") -> tuple[dict[str, Path], tuple | None]:
    """The dataset's test views (view id -> file, in order) and its fixed background (or ``None``)."""
    spec = dataset_kind(kind)
    return spec.test_views(Path(scene_dir), images), spec.background


def dataset_scene(kind: str, scene_dir: Path, renders: dict[str, Path], *, images: str = "images",
                  dataset: str = "default", allow_count_mismatch: bool = False) -> Scene:
    """A scene whose ground truth comes from the dataset, renders (method -> folder) paired by test-view order.

    Auxiliary files in a renders folder (``<render>_depth.png``, ``depth/...``) are left out before counting."""
    scene_dir = Path(scene_dir)
    gt, background = dataset_test_views(kind, scene_dir, images)
    views = list(gt)
    by_view: dict[str, dict[str, Path]] = {}
    auxiliary: dict[str, dict[str, str]] = {}
    for method, folder in renders.items():
        kept, auxiliary[method] = split_auxiliary_by_name(list_images(Path(folder)))
        files = list(kept.values())
        if len(files) != len(views) and not allow_count_mismatch:
            raise PairingError(
                f"{folder}: {len(files)} render(s) but {scene_dir / 'transforms_test.json'} lists "
                f"{len(views)} test view(s)" if kind == "blender" else
                f"{folder}: {len(files)} render(s) but {scene_dir} has {len(views)} test view(s) "
                f"({dataset_kind(kind).description})"
            )
        by_view[method] = dict(zip(views, files))
    scene = Scene(dataset, scene_dir.name, gt, by_view, background=background, auxiliary=auxiliary,
                  folders={"": scene_dir, **{m: Path(f) for m, f in renders.items()}})
    masks = dataset_kind(kind).masks(scene_dir, images, gt) if dataset_kind(kind).masks else None
    if masks == "alpha":
        scene.mask_from_gt_alpha = True
    elif masks:
        scene.masks = masks
        scene.folders["masks"] = next(iter(masks.values())).parent
    return sign([scene], f"dataset {kind}", dataset_kind(kind).plugin)[0]
