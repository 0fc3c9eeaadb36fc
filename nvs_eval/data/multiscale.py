"""Multi-scale test sets: mip-NeRF's multi-scale Blender and Mip-Splatting's multi-scale test renders.

* ``blender-multiscale`` (a dataset kind): google/mipnerf ``scripts/convert_blender_data.py`` turns each Blender
  scene into ``images_{split}/{i:03d}_d{j}.png`` for ``j`` in 0..3, each level the previous one box-filtered 2 x 2
  (``down2``) and written with ``np.uint8(img * 255)``, listed in that order under ``metadata.json``'s
  ``[split]["file_path"]`` (with ``width``, ``height``, ``label`` = ``j`` and ``lossmult`` = ``4^j``). The test views
  are the test split's files in that order, RGBA composited on white as mip-NeRF's loader does; their ids end in
  ``_d<j>``, which is how reports know their scale (:mod:`nvs_eval.results.scales`). mip-NeRF's ``eval.py`` writes
  ``test_preds/color_{idx:03d}.png`` in the same order (the ``multinerf`` layout reads them with
  ``--dataset blender-multiscale``).
* ``mip-splatting`` (a layout): autonomousvision/mip-splatting ``render.py:24-35`` writes
  ``<model>/test/ours_<iteration>/test_preds_<r>/{idx:05d}.png`` and ``gt_<r>/`` for ``-r <r>``. Several ``r``
  (the Mip-NeRF 360 single-scale-train / multi-scale-test runs: ``-r 8, 4, 2, 1``) give view ids ``r<r>/<idx>``;
  one folder holding several sizes (multi-scale Blender, ``-r -1``) gives ``<idx>_d<j>`` with ``j`` read from the
  ground truth's width against the largest.
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

from ..errors import LayoutError, PairingError
from .discover import choose_iteration, list_images, ours_iterations, run_name, runs_at
from .efficiency import threedgs_figures
from .images import read_header
from .scene import Scene

_PREDS = re.compile(r"test_preds_(-?\d+)")


def multiscale_test_views(scene_dir: Path, images: str = "images") -> dict[str, Path]:
    """The test views of a mip-NeRF multi-scale Blender scene, in ``metadata.json`` order (``images`` unused)."""
    path = scene_dir / "metadata.json"
    try:
        files = json.loads(path.read_text())["test"]["file_path"]
    except FileNotFoundError:
        raise LayoutError(f"{path}: not found; expected a multi-scale Blender scene (google/mipnerf "
                          "scripts/convert_blender_data.py)") from None
    except (json.JSONDecodeError, KeyError, TypeError) as e:
        raise LayoutError(f"{path}: expected JSON with test.file_path ({type(e).__name__}: {e})") from None
    views = {Path(f).with_suffix("").as_posix(): scene_dir / f for f in files}
    missing = [str(p) for p in views.values() if not p.is_file()]
    if missing:
        raise PairingError(f"{path}: {len(missing)} test image(s) missing, e.g. {missing[0]}")
    return views


def _complete(d: Path) -> bool:
    """Some ``test_preds_<r>`` with its ``gt_<r>``."""
    return any((m := _PREDS.fullmatch(x.name)) and (d / f"gt_{m.group(1)}").is_dir() for x in d.iterdir())


def _iterations(model: Path) -> dict[int, Path]:
    return ours_iterations(model, _complete)


def is_mipsplatting(path: Path) -> bool:
    return bool(runs_at(path, _iterations))


def _levels(gt: dict[str, Path]) -> dict[str, int] | None:
    """Each view's level ``j`` (its width is ``1 / 2^j`` of the largest), or ``None`` if they are one size or not
    so related."""
    widths = {v: read_header(p).width for v, p in gt.items()}
    top = max(widths.values())
    levels = {v: round(math.log2(top / w)) for v, w in widths.items()}
    if len(set(levels.values())) < 2 or any(top != w * 2 ** j for (v, w), j in zip(widths.items(), levels.values())):
        return None
    return levels


def _scene(model: Path, d: Path, name: str, dataset: str) -> Scene:
    found = {int(m.group(1)): x for x in d.iterdir() if (m := _PREDS.fullmatch(x.name))}
    gt, renders = {}, {}
    for r, preds in sorted(found.items()):
        prefix = f"r{max(r, 1)}/" if len(found) > 1 else ""
        gt.update({prefix + v: p for v, p in list_images(d / f"gt_{r}").items()})
        renders.update({prefix + v: p for v, p in list_images(preds).items()})
    levels = _levels(gt) if len(found) == 1 else None
    if levels:
        gt = {f"{v}_d{levels[v]}": p for v, p in gt.items()}
        renders = {f"{v}_d{levels[v]}" if v in levels else v: p for v, p in renders.items()}
    return Scene(dataset, model.name, gt, {name: renders}, folders={"": d, name: d})


def load_mipsplatting(path: Path, *, iteration: int | None = None, method: str | None = None,
                      dataset: str = "default", **_) -> list[Scene]:
    """One scene per model folder, every ``test_preds_<r>`` against its ``gt_<r>``."""
    models = runs_at(path, _iterations)
    if not models:
        raise LayoutError("no Mip-Splatting model folder", path=path,
                          expected="test/ours_<iteration>/test_preds_<r> and gt_<r>")
    scenes = []
    for model in models:
        its = _iterations(model)
        chosen = choose_iteration(its, iteration, model, "test/ours_{}")
        name = method or run_name(model if model == path else path)
        scene = _scene(model, its[chosen], name, dataset)
        scene.origin = {name: f"iteration {chosen} ({model.name}/test/ours_{chosen})"}
        figures, notes = threedgs_figures(model, chosen)  # a 3DGS fork: the same point_cloud/iteration_<N>/ PLY
        scene.efficiency, scene.notes = {name: figures}, [*scene.notes, *notes]
        scenes.append(scene)
    return scenes
