"""Pairing renders with ground truth, and saying exactly what does not pair."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..errors import PairingError
from .images import read_header
from .layouts import Scene


@dataclass(frozen=True)
class ViewJob:
    """One ground-truth view and the renders (method -> file) to score against it."""

    view: str
    gt: Path
    renders: dict[str, Path]


@dataclass(frozen=True)
class PairedScene:
    scene: Scene
    jobs: list[ViewJob]
    coverage: dict[str, tuple[int, int]]  # method -> (views scored, views in the ground truth)


def _preview(items: list[str], n: int = 5) -> str:
    more = f" and {len(items) - n} more" if len(items) > n else ""
    return ", ".join(items[:n]) + more


def pair_scene(scene: Scene, *, allow_missing: bool = False, check_sizes: bool = True) -> PairedScene:
    """Check that every ground-truth view has a render of the same size for every method.

    Raises:
        PairingError: listing, per method, the views without a render, the renders without ground truth and the
            pairs whose sizes differ (both sizes named). With ``allow_missing`` views without a render are
            allowed and counted in ``coverage``; extra renders and size mismatches are still errors.
    """
    problems: list[str] = []
    if not scene.gt:
        where = f"{scene.folders['']}: " if "" in scene.folders else ""
        raise PairingError(f"scene {scene.name}: {where}no ground-truth image files found")
    coverage = {}
    for method, renders in scene.renders.items():
        where = f" ({scene.folders[method]})" if method in scene.folders else ""
        if not renders:
            problems.append(f"{method}{where}: no image files")
            continue
        missing = [v for v in scene.gt if v not in renders]
        extra = [v for v in renders if v not in scene.gt]
        if missing and not allow_missing:
            problems.append(f"{method}{where}: {len(missing)} view(s) have no render: {_preview(missing)}")
        if extra:
            problems.append(f"{method}{where}: {len(extra)} render(s) have no ground truth: {_preview(extra)}")
        coverage[method] = (len(scene.gt) - len(missing), len(scene.gt))
    if problems:
        raise PairingError(f"scene {scene.name}: " + "; ".join(problems))
    if check_sizes:
        sizes: dict[Path, tuple[int, int]] = {}

        def size(p: Path) -> tuple[int, int]:
            if p not in sizes:
                h = read_header(p)
                sizes[p] = (h.width, h.height)
            return sizes[p]

        for view, gt in scene.gt.items():
            for method, renders in scene.renders.items():
                if view in renders:
                    a, b = size(renders[view]), size(gt)
                    if a != b:
                        problems.append(f"{method}/{view}: render {renders[view].name} is {a[0]}x{a[1]} "
                                        f"but ground truth {gt.name} is {b[0]}x{b[1]}")
        if problems:
            raise PairingError(f"scene {scene.name}: size mismatch (nothing is resized): " + "; ".join(problems[:10])
                               + (f"; and {len(problems) - 10} more" if len(problems) > 10 else ""))
    jobs = [ViewJob(v, gt, {m: r[v] for m, r in scene.renders.items() if v in r}) for v, gt in scene.gt.items()]
    return PairedScene(scene, [j for j in jobs if j.renders], coverage)

