"""Ground truth taken from a dataset's own files instead of a folder of saved ground-truth images.

* ``blender`` (NeRF-synthetic): test views are the ``frames`` of ``transforms_test.json`` in file order, each
  ``file_path`` + ``.png`` relative to the scene; RGBA, composited on white (the NeRF/3DGS convention for these
  scenes; ``--background`` changes it).
* ``llff`` and ``mipnerf360``: the images of ``images`` (or ``images_2``/``images_4``/``images_8``) sorted by
  name; every 8th, starting with the first, is a test view (``llffhold = 8`` in NeRF, multinerf
  ``internal/datasets.py`` and 3DGS ``scene/dataset_readers.py``).

Renders are paired with these test views by order: the k-th render (sorted by name) is the k-th test view.
"""

from __future__ import annotations

import json
from pathlib import Path

from ..errors import LayoutError, PairingError
from .discover import list_images
from .layouts import Scene

DATASET_KINDS = ("blender", "llff", "mipnerf360")
LLFF_HOLD = 8


def blender_test_views(scene_dir: Path) -> dict[str, Path]:
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
    folder = scene_dir / images
    if not folder.is_dir():
        raise LayoutError(f"{folder}: not found; expected an LLFF / Mip-NeRF 360 scene with an {images}/ folder")
    allv = list_images(folder)
    return {k: p for i, (k, p) in enumerate(allv.items()) if i % hold == 0}


def dataset_scene(kind: str, scene_dir: Path, renders: dict[str, Path], *, images: str = "images",
                  dataset: str = "default", allow_count_mismatch: bool = False) -> Scene:
    """A scene whose ground truth comes from the dataset, renders (method -> folder) paired by test-view order."""
    scene_dir = Path(scene_dir)
    if kind == "blender":
        gt, background = blender_test_views(scene_dir), (1.0, 1.0, 1.0)
    elif kind in ("llff", "mipnerf360"):
        gt, background = held_out_views(scene_dir, images), None
    else:
        raise LayoutError(f"unknown dataset kind {kind!r}; known: {', '.join(DATASET_KINDS)}")
    views = list(gt)
    by_view: dict[str, dict[str, Path]] = {}
    for method, folder in renders.items():
        files = list(list_images(Path(folder)).values())
        if len(files) != len(views) and not allow_count_mismatch:
            raise PairingError(
                f"{folder}: {len(files)} render(s) but {scene_dir} has {len(views)} test view(s) "
                f"({kind}, every {LLFF_HOLD}th image)" if kind != "blender" else
                f"{folder}: {len(files)} render(s) but {scene_dir / 'transforms_test.json'} lists {len(views)} test view(s)"
            )
        by_view[method] = dict(zip(views, files))
    return Scene(dataset, scene_dir.name, gt, by_view, background=background)
