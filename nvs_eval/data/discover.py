"""Listing image files under a folder: views keyed by relative path without extension."""

from __future__ import annotations

import os
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
