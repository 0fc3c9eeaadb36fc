"""Listing image files under a folder: views keyed by relative path without extension."""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from pathlib import Path

from ..errors import LayoutError, PairingError
from .images import is_image_file


def view_id(root: Path, path: Path) -> str:
    """``sub/0001.png`` under ``root`` -> ``"sub/0001"`` (POSIX separators)."""
    return path.relative_to(root).with_suffix("").as_posix()


def list_images(root: Path) -> dict[str, Path]:
    """All image files under ``root`` keyed by view id, sorted.

    Raises:
        LayoutError: ``root`` is not a folder, or contains a symlink loop.
        PairingError: two files share a view id (``0001.png`` and ``0001.jpg``).
    """
    root = Path(root)
    if not root.is_dir():
        raise LayoutError(f"{root}: not a folder")
    found: dict[str, Path] = {}
    seen_dirs: set[str] = set()
    for dirpath, dirnames, filenames in os.walk(root, followlinks=True):
        real = os.path.realpath(dirpath)
        if real in seen_dirs:
            raise LayoutError(f"{dirpath}: symlink loop (this folder was already visited as {real})")
        seen_dirs.add(real)
        dirnames.sort()
        for name in sorted(filenames):
            p = Path(dirpath) / name
            if name.startswith(".") or not is_image_file(p):
                continue
            vid = view_id(root, p)
            if vid in found:
                raise PairingError(f"{root}: duplicate view '{vid}': {found[vid].name} and {p.name}; keep one of them")
            found[vid] = p
    return dict(sorted(found.items()))


def ours_iterations(model: Path, complete: Callable[[Path], bool]) -> dict[int, Path]:
    """``{iteration: folder}`` of a 3DGS-style model's ``test/ours_<iteration>`` folders for which ``complete``
    holds (3DGS: ``renders/`` and ``gt/``; Mip-Splatting: ``test_preds_<r>`` and ``gt_<r>``)."""
    test, out = model / "test", {}
    if test.is_dir():
        for d in test.iterdir():
            m = re.fullmatch(r"ours_(\d+)", d.name)
            if m and d.is_dir() and complete(d):
                out[int(m.group(1))] = d
    return out


def choose_iteration(found: dict[int, object], iteration: int | None, where: Path, what: str):
    """``iteration`` if ``found`` has it (else an error naming the available ones); ``None``: the latest."""
    if iteration is None:
        return max(found)
    if iteration not in found:
        raise LayoutError(f"{where}: no {what.format(iteration)}; available iterations: {sorted(found)}")
    return iteration


def runs_at(path: Path, found) -> list[Path]:
    """``path`` itself when it is one run (``found(path)`` is non-empty), else its sub-folders that are: a folder
    of model or result folders is several scenes."""
    if not path.is_dir():
        return []
    return [path] if found(path) else sorted(d for d in path.iterdir() if d.is_dir() and found(d))


# Folder names a tool gives every run alike (its output folder, a split, an iteration's predictions): never a run's
# own name, so a run is named by the first folder above them.
GENERIC_FOLDERS = re.compile(r"(test|tests|outputs?|results?|renders?|eval|predictions(-\d+)?(\.tar\.gz)?|"
                             r"test_preds(_step_\d+)?)", re.IGNORECASE)


def run_name(path: Path, skip: tuple[str, ...] = ()) -> str:
    """The name a run is known by: its folder's name, or the first folder above it whose name is neither
    :data:`GENERIC_FOLDERS` nor in ``skip`` (e.g. the scene, or the dataset pixelSplat names its output after).

    >>> run_name(Path("/work/outputs/mvsplat/re10k"), skip=("re10k",)), run_name(Path("/runs/3f2a9c1e-7"))
    ('mvsplat', '3f2a9c1e-7')
    """
    path = Path(path).absolute()
    for p in (path, *path.parents):
        if p.name and not GENERIC_FOLDERS.fullmatch(p.name) and p.name not in skip:
            return p.name
    return path.name or "run"


def tool_scene(run: Path) -> str | None:
    """The scene a training tool recorded for a run, where it records one: 3DGS's ``cfg_args`` (``source_path='...'``,
    graphdeco-inria/gaussian-splatting ``train.py``, ``prepare_output_and_logger``) or gsplat's ``cfg.yml``
    (``data_dir: ...``, ``examples/simple_trainer.py``): the last folder of the dataset path it trained on."""
    for name, pattern in (("cfg_args", r"source_path=(['\"])(.*?)\1"),
                          ("cfg.yml", r"^data_dir:\s*(['\"]?)(.+?)\1\s*$")):
        f = Path(run) / name
        if f.is_file():
            try:
                m = re.search(pattern, f.read_text(encoding="utf-8", errors="replace"), re.M)
            except OSError:
                return None
            if m and m.group(2).strip():
                return Path(m.group(2).strip().rstrip("/\\")).name or None
    return None
