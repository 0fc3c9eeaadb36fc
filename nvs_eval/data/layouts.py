"""The folder layouts people have, auto-detected into :class:`Scene` objects.

* ``pairs``: a renders folder per method and one ground-truth folder, paired by relative path without extension.
* ``3dgs``: a model folder holding ``test/ours_<iteration>/{renders,gt}`` (graphdeco-inria/gaussian-splatting
  ``render.py`` writes them; ``metrics.py`` reads them); a folder of such model folders is several scenes.
* ``nerfstudio``: ``ns-render dataset`` output, ``<output-path>/<split>/<rendered-output-name>/<image name>``
  with ``rgb`` and ``gt-rgb`` outputs (nerfstudio ``nerfstudio/scripts/render.py``, ``DatasetRender``).
* ``nerfbaselines``: a predictions folder with ``color/`` and ``gt-color/`` (NerfBaselines
  ``nerfbaselines/evaluation.py``), or its ``.tar.gz`` form.
"""

from __future__ import annotations

import re
import tarfile
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import LayoutError
from .discover import list_images

LAYOUTS = ("pairs", "3dgs", "nerfstudio", "nerfbaselines")


@dataclass
class Scene:
    """One scene: ground-truth views and, per method, its renders (both keyed by view id, in view order)."""

    dataset: str
    name: str
    gt: dict[str, Path]
    renders: dict[str, dict[str, Path]]
    background: tuple[float, float, float] | None = None
    notes: list[str] = field(default_factory=list)
    folders: dict[str, Path] = field(default_factory=dict)  # where the ground truth ("") and each method were listed


def _iterations(model: Path) -> dict[int, Path]:
    test = model / "test"
    out = {}
    if test.is_dir():
        for d in test.iterdir():
            m = re.fullmatch(r"ours_(\d+)", d.name)
            if m and (d / "renders").is_dir() and (d / "gt").is_dir():
                out[int(m.group(1))] = d
    return out


def is_3dgs_model(path: Path) -> bool:
    return bool(_iterations(path))


def load_3dgs(path: Path, iteration: int | None = None, dataset: str = "default") -> list[Scene]:
    """One scene per model folder; the method is named ``ours_<iteration>`` as metrics.py names it."""
    models = [path] if is_3dgs_model(path) else sorted(d for d in path.iterdir() if d.is_dir() and is_3dgs_model(d))
    if not models:
        raise LayoutError(f"{path}: no 3DGS model folder (expected test/ours_<iteration>/renders and gt)")
    scenes = []
    for model in models:
        its = _iterations(model)
        if iteration is None:
            chosen = max(its)
        elif iteration in its:
            chosen = iteration
        else:
            raise LayoutError(f"{model}: no test/ours_{iteration}; available iterations: {sorted(its)}")
        d = its[chosen]
        scenes.append(Scene(dataset, model.name, list_images(d / "gt"), {f"ours_{chosen}": list_images(d / "renders")},
                            folders={"": d / "gt", f"ours_{chosen}": d / "renders"}))
    return scenes


def _nerfstudio_root(path: Path) -> Path | None:
    for cand in (path / "test", path):
        if (cand / "rgb").is_dir() and (cand / "gt-rgb").is_dir():
            return cand
    return None


def load_nerfstudio(path: Path, method: str | None = None, dataset: str = "default") -> list[Scene]:
    root = _nerfstudio_root(path)
    if root is None:
        raise LayoutError(f"{path}: not ns-render dataset output (expected [test/]rgb and [test/]gt-rgb folders)")
    return [Scene(dataset, path.name, list_images(root / "gt-rgb"), {method or "nerfstudio": list_images(root / "rgb")},
                  folders={"": root / "gt-rgb", method or "nerfstudio": root / "rgb"})]


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


def load_nerfbaselines(path: Path, method: str | None = None, dataset: str = "default") -> list[Scene]:
    root = _open_nerfbaselines(path)
    if not ((root / "color").is_dir() and (root / "gt-color").is_dir()):
        raise LayoutError(f"{path}: not a NerfBaselines predictions folder (expected color/ and gt-color/)")
    name = path.name[: -len(".tar.gz")] if path.name.endswith(".tar.gz") else path.name
    return [Scene(dataset, name, list_images(root / "gt-color"), {method or "nerfbaselines": list_images(root / "color")},
                  folders={"": root / "gt-color", method or "nerfbaselines": root / "color"})]


def detect_layout(path: Path) -> str:
    """Name the layout of ``path`` or raise a :class:`LayoutError` that says what was looked for."""
    path = Path(path)
    if not path.exists():
        raise LayoutError(f"{path}: no such file or folder")
    if path.is_file() and path.name.endswith(".tar.gz"):
        return "nerfbaselines"
    if not path.is_dir():
        raise LayoutError(f"{path}: expected a folder")
    if is_3dgs_model(path) or any(d.is_dir() and is_3dgs_model(d) for d in path.iterdir()):
        return "3dgs"
    if _nerfstudio_root(path) is not None:
        return "nerfstudio"
    if (path / "color").is_dir() and (path / "gt-color").is_dir():
        return "nerfbaselines"
    raise LayoutError(
        f"{path}: layout not recognised; expected a 3DGS model folder (test/ours_N/renders, gt), ns-render output "
        "([test/]rgb, gt-rgb), NerfBaselines predictions (color/, gt-color/), or give --gt for plain folders"
    )


def load_layout(path: Path, layout: str | None = None, *, iteration: int | None = None,
                method: str | None = None, dataset: str = "default") -> list[Scene]:
    """Scenes found at ``path`` under ``layout`` (auto-detected when ``None``)."""
    path = Path(path)
    layout = layout or detect_layout(path)
    if layout == "3dgs":
        return load_3dgs(path, iteration, dataset)
    if layout == "nerfstudio":
        return load_nerfstudio(path, method, dataset)
    if layout == "nerfbaselines":
        return load_nerfbaselines(path, method, dataset)
    if layout == "pairs":
        raise LayoutError(f"{path}: the pairs layout needs a ground-truth folder (--gt)")
    raise LayoutError(f"unknown layout {layout!r}; known: {', '.join(LAYOUTS)}")


def pairs_scene(renders: list[tuple[str, Path]], gt: Path, *, dataset: str = "default", scene: str | None = None) -> Scene:
    """A scene from plain folders: each ``(method, folder)`` against one ground-truth folder."""
    gt = Path(gt)
    names = [m for m, _ in renders]
    dupes = sorted({m for m in names if names.count(m) > 1})
    if dupes:
        raise LayoutError(f"method name(s) given twice: {', '.join(dupes)}; name them with name=path")
    return Scene(dataset, scene or gt.resolve().name, list_images(gt), {m: list_images(Path(p)) for m, p in renders},
                 folders={"": gt, **{m: Path(p) for m, p in renders}})
