"""Pairing renders with ground truth, and saying exactly what does not pair and why."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import PairingError, option
from ..errors import render as render_option
from .auxiliary import split_auxiliary
from .images import read_header
from .scene import Scene

# 3DGS (graphdeco-inria/gaussian-splatting utils/camera_utils.py, loadCam) rescales any image wider than
# 1,600 px to 1,600 px wide unless a --resolution is given; renders of such scenes come out at that width.
GS_MAX_WIDTH = 1600


@dataclass(frozen=True)
class ViewJob:
    """One ground-truth view and the renders (method -> file) to score against it."""

    view: str
    gt: Path
    renders: dict[str, Path]
    mask: Path | None = None  # for the masked metrics: a mask image, or
    mask_from_gt_alpha: bool = False  # the ground truth's alpha channel
    batch: int | None = None  # the batch of views it is scored in (nvs_eval.compute.runner.with_batches)
    signature: str = ""  # the plugin packages that defined its ground truth (Scene.signature): part of its identity


@dataclass(frozen=True)
class PairedScene:
    scene: Scene
    jobs: list[ViewJob]
    coverage: dict[str, tuple[int, int]]  # method -> (views scored, views in the ground truth)
    auxiliary: dict[str, dict[str, str]] = field(default_factory=dict)  # method -> {left-out file: suffix}

    def auxiliary_summary(self) -> dict[str, dict]:
        """``{method: {"count": n, "suffixes": [...]}}`` of the auxiliary files left out of scoring."""
        return {m: {"count": len(f), "suffixes": sorted(set(f.values()))} for m, f in self.auxiliary.items() if f}


def _preview(items: list[str], n: int = 5) -> str:
    more = f" and {len(items) - n} more" if len(items) > n else ""
    return ", ".join(items[:n]) + more


def likely_cause(render: tuple[int, int], gt: tuple[int, int]) -> str:
    """Words for the most likely cause of a size mismatch (``""`` when none can be guessed).

    >>> likely_cause((200, 150), (800, 600))
    'the ground truth looks 4x larger than the render: renders from images_4 scored against images?'
    """
    (rw, rh), (gw, gh) = render, gt
    for k in (2, 4, 8):
        for big, small, which in (((gw, gh), (rw, rh), "ground truth"), ((rw, rh), (gw, gh), "render")):
            if all(abs(b / s - k) <= 0.02 * k for b, s in zip(big, small)):
                other = "render" if which == "ground truth" else "ground truth"
                if which == "ground truth":
                    return (f"the ground truth looks {k}x larger than the {other}: renders from images_{k} scored "
                            "against images?")
                return f"the render looks {k}x larger than the {other}: ground truth from images_{k}?"
    if max(gw, gh) > GS_MAX_WIDTH and rw == GS_MAX_WIDTH and abs(rh - round(gh * GS_MAX_WIDTH / gw)) <= 1:
        return (f"3DGS rescales images wider than {GS_MAX_WIDTH} px to {GS_MAX_WIDTH} unless given a resolution: "
                "score against its gt/ folder")
    if max(gw, gh) > GS_MAX_WIDTH and max(rw, rh) <= GS_MAX_WIDTH:
        return (f"the ground truth's longest side is above {GS_MAX_WIDTH} px, which 3DGS rescales to "
                f"{GS_MAX_WIDTH} px wide by default")
    return ""


def _unpaired(scene: Scene, strict: bool, allow_missing: bool):
    """Split each method's auxiliary files off; list the problems that remain."""
    problems: list[str] = []
    coverage, auxiliary, renders_by_method = {}, {}, {}
    for method, renders in scene.renders.items():
        where = f" ({scene.folders[method]})" if method in scene.folders else ""
        renders, aux = split_auxiliary(renders, scene.gt)
        aux.update(scene.auxiliary.get(method, {}))
        renders_by_method[method], auxiliary[method] = renders, aux
        if aux and strict:
            names = [Path(p).name for p in aux]
            problems.append(f"{method}{where}: {len(aux)} auxiliary file(s) (--strict): {_preview(names)}")
        if not renders:
            problems.append(f"{method}{where}: no image files")
            continue
        missing = [v for v in scene.gt if v not in renders]
        extra = [v for v in renders if v not in scene.gt]
        if missing and len(missing) == len(scene.gt) and extra:  # nothing pairs: say how pairing works
            problems.append(f"method {method}{where}: no render pairs with a ground-truth view: views pair by file "
                            f"name without the extension, and the renders are named {_preview(extra)} where the "
                            f"ground truth is {_preview(missing)}")
            continue
        if missing and not allow_missing:
            problems.append(f"method {method}{where}: {len(missing)} view(s) have no render: {_preview(missing)} "
                            f"(to score the views that have one and report the coverage: {option('allow_missing')})")
        if extra:
            problems.append(f"method {method}{where}: {len(extra)} render(s) have no ground truth: "
                            f"{_preview(extra)}")
        coverage[method] = (len(scene.gt) - len(missing), len(scene.gt))
    return problems, coverage, auxiliary, renders_by_method


def _size_problems(scene: Scene, renders_by_method: dict[str, dict[str, Path]],
                   resize_gt: bool) -> list[tuple[str, str, tuple[int, int], tuple[int, int]]]:
    """``(method, view, render size, ground-truth size)`` of every pair whose sizes differ; with ``resize_gt``, of
    every view whose renders differ among themselves (the ground truth is resized to one size)."""
    sizes: dict[Path, tuple[int, int]] = {}

    def size(p: Path) -> tuple[int, int]:
        if p not in sizes:
            h = read_header(p)
            sizes[p] = (h.width, h.height)
        return sizes[p]

    problems = []
    for view, gt in scene.gt.items():
        render_sizes = {m: size(r[view]) for m, r in renders_by_method.items() if view in r}
        if resize_gt:
            if len(set(render_sizes.values())) > 1:
                (m0, a0), *rest = render_sizes.items()
                m1, a1 = next((m, a) for m, a in rest if a != a0)
                problems.append((m1, view, a1, a0, m0))
            continue
        problems += [(m, view, a, size(gt)) for m, a in render_sizes.items() if a != size(gt)]
    return problems


def _size_fix(gt: Path, render: tuple[int, int], truth: tuple[int, int]) -> str:
    """The option that fixes a size mismatch: the dataset's image folder at the render's size when the ground
    truth comes from one (``images_N``), else the protocol's opt-in resize."""
    m = re.fullmatch(r"images(?:_(\d+))?", Path(getattr(gt, "canvas", gt)).parent.name)
    ratio = truth[0] / render[0]
    if m:
        factor = int(m.group(1) or 1) * ratio
        if factor >= 1 and abs(factor - round(factor)) < 0.02 and round(factor) in (1, 2, 4, 8, 16):
            folder = "images" if round(factor) == 1 else f"images_{round(factor)}"
            return f"{option('images')}{folder}"
    return f"{option('resize_gt')} METHOD (a protocol opt-in)"


def size_mismatch_message(scene: Scene, problems: list[tuple], n_views: int, resize_gt: bool) -> str:
    """One sentence for every size mismatch of a scene, whatever their number (under 300 characters): how many
    views, the first example with both sizes, the likely cause and the fix."""
    method, view, a, b, *other = problems[0]
    views = len({p[1] for p in problems})
    if resize_gt:
        return (f"scene {scene.name}: the renders of {views} of {n_views} view(s) differ in size among methods, so "
                f"the ground truth cannot be resized to one size, e.g. {view}: {method} {a[0]}x{a[1]}, {other[0]} "
                f"{b[0]}x{b[1]}")
    render, gt = scene.renders[method][view], scene.gt[view]
    head = (f"scene {scene.name}: {views} of {n_views} view(s) differ in size from the ground truth, e.g. "
            f"{method}: render {render.name} is {a[0]}x{a[1]} but ground truth {gt.name} is {b[0]}x{b[1]}")
    cause, fix = likely_cause(a, b), _size_fix(gt, a, b)
    because = f" ({cause})" if cause else ""
    for text in (f"{head}{because}; fix: {fix}", f"{head}; fix: {fix}", f"{head}{because}", head):
        if len(render_option(text, "cli")) <= 300:
            return text
    return head[:297] + "..."


def pair_scene(scene: Scene, *, allow_missing: bool = False, check_sizes: bool = True, strict: bool = False,
               resize_gt: bool = False) -> PairedScene:
    """Check that every ground-truth view has a render of the same size for every method.

    Auxiliary files (``<view>_depth.png``, ``depth/<view>.png``, ...; see :mod:`nvs_eval.data.auxiliary`) are
    left out and recorded in ``auxiliary``; with ``strict`` they are an error.

    Raises:
        PairingError: listing, per method, the views without a render, the renders without ground truth and the
            pairs whose sizes differ (both sizes named, with the likely cause where one can be guessed). With
            ``allow_missing`` views without a render are allowed and counted in ``coverage``; extra renders and
            size mismatches are still errors. With ``resize_gt`` (an opt-in of the protocol) sizes may differ.
    """
    if not scene.gt:
        where = f"{scene.folders['']}: " if "" in scene.folders else ""
        raise PairingError(f"scene {scene.name}: {where}no ground-truth image files found")
    problems, coverage, auxiliary, renders = _unpaired(scene, strict, allow_missing)
    if problems:
        raise PairingError(f"scene {scene.name}: " + "; ".join(problems))
    if check_sizes:
        problems = _size_problems(scene, renders, resize_gt)
        if problems:
            raise PairingError(size_mismatch_message(scene, problems, len(scene.gt), resize_gt))
    jobs = [ViewJob(v, gt, {m: r[v] for m, r in renders.items() if v in r}, scene.masks.get(v),
                    scene.mask_from_gt_alpha, signature=scene.signature) for v, gt in scene.gt.items()]
    jobs = [j for j in jobs if j.renders]
    if scene.masks:
        missing = [j.view for j in jobs if j.mask is None]
        if missing:
            where = f" in {scene.folders['masks']}" if "masks" in scene.folders else ""
            raise PairingError(f"scene {scene.name}: {len(missing)} view(s) have no mask{where}: {_preview(missing)}")
    return PairedScene(scene, jobs, coverage, auxiliary)
