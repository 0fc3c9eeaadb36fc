"""Auxiliary outputs beside the renders (depth, normals, alpha, confidence): recognised, left out, recorded.

Many 3DGS forks write ``<view>_depth.png`` (or ``-normal``, ``_alpha``, ``.conf``, ...) next to each
``<view>.png`` in ``renders/``, or a ``renders/depth/`` sub-folder; the reference ``metrics.py`` pairs by the names
in ``gt/`` and never notices them. nvs-eval leaves such files out of scoring, but never silently: every scene
records how many were left out, and their suffixes, and ``--strict`` makes them an error.

A render file with no ground truth is *auxiliary* when

* its view id is a ground-truth view id, a separator (``_``, ``-`` or ``.``) and a suffix that starts with a
  letter (``0001_depth``, ``0001-normal``, ``0001.conf``; ``0001_2`` is not: a digit says it is another view), or
* it lies in a sub-folder (``depth/0001.png``) whose path below that folder is a ground-truth view id, and the
  folder is named like an auxiliary output (:data:`AUXILIARY_NAMES`) or the file is not an RGB image of the
  view's size (a 1-channel depth map, a 16-bit PNG of another size, ...).

Anything else without ground truth stays a pairing error.
"""

from __future__ import annotations

import re
from pathlib import Path

from .images import read_header

SEPARATORS = "_-."
AUXILIARY_NAMES = frozenset({
    "depth", "depths", "depth_vis", "normal", "normals", "alpha", "alphas", "acc", "accumulation", "opacity",
    "mask", "masks", "conf", "confidence", "uncertainty", "disp", "disparity", "distance", "semantic", "feature",
    "features", "vis", "error", "err",
})
_SUFFIX = re.compile(r"[A-Za-z][A-Za-z0-9_.\-]*")
_RGB_MODES = ("RGB", "RGBA", "P", "PA")  # PIL reports 16-bit RGB(A) PNGs as RGB(A) too


def auxiliary_suffix(render_id: str, views: dict[str, Path] | set[str]) -> str | None:
    """The suffix if ``render_id`` names an auxiliary output of one of ``views`` by its name, else ``None``.

    >>> auxiliary_suffix("00001_depth", {"00001", "00002"})
    'depth'
    >>> auxiliary_suffix("sub/00001-normal", {"sub/00001"})
    'normal'
    >>> auxiliary_suffix("00001_2", {"00001"}) is None
    True
    """
    head, _, name = render_id.rpartition("/")
    prefix = f"{head}/" if head else ""
    for i in range(len(name) - 1, 0, -1):  # the longest view id that the name extends wins
        if name[i] in SEPARATORS and f"{prefix}{name[:i]}" in views and _SUFFIX.fullmatch(name[i + 1 :]):
            return name[i + 1 :]
    return None


def _is_rgb_of_size(path: Path, size: tuple[int, int]) -> bool:
    try:
        h = read_header(path)
    except ValueError:  # not readable as an RGB image (e.g. a 1-channel .npy depth map): not a render
        return False
    return (h.width, h.height) == size and (h.mode in _RGB_MODES or h.mode.startswith("npy:"))


def folder_suffix(render_id: str, path: Path, gt: dict[str, Path]) -> str | None:
    """``"<folder>/"`` if ``render_id`` is ``<folder>/<view id>`` of a sub-folder of auxiliary outputs."""
    folder, sep, rest = render_id.partition("/")
    if not sep or rest not in gt:
        return None
    if folder.lower() in AUXILIARY_NAMES:
        return f"{folder}/"
    gt_head = read_header(gt[rest])
    if not _is_rgb_of_size(path, (gt_head.width, gt_head.height)):
        return f"{folder}/"
    return None


def split_auxiliary(renders: dict[str, Path], gt: dict[str, Path]) -> tuple[dict[str, Path], dict[str, str]]:
    """``(renders that are views or unpaired, {auxiliary file: suffix})`` for one method's renders."""
    kept: dict[str, Path] = {}
    aux: dict[str, str] = {}
    for rid, path in renders.items():
        if rid in gt:
            kept[rid] = path
            continue
        suffix = auxiliary_suffix(rid, gt) or folder_suffix(rid, path, gt)
        if suffix is None:
            kept[rid] = path
        else:
            aux[str(path)] = suffix
    return kept, aux


def split_auxiliary_by_name(renders: dict[str, Path]) -> tuple[dict[str, Path], dict[str, str]]:
    """For renders paired by order (dataset kinds): files named ``<another render's id><sep><suffix>``, or in an
    auxiliary-named sub-folder, are auxiliary."""
    ids = {r for r in renders if auxiliary_suffix(r, renders) is None and "/" not in r}
    kept, aux = {}, {}
    for rid, path in renders.items():
        folder = rid.partition("/")[0] if "/" in rid else None
        suffix = auxiliary_suffix(rid, ids) or (f"{folder}/" if folder and folder.lower() in AUXILIARY_NAMES else None)
        if suffix is None:
            kept[rid] = path
        else:
            aux[str(path)] = suffix
    return kept, aux
