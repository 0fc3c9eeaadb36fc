"""Dynamic-scene runs evaluated on DyCheck's iPhone captures.

A run's renders of the held-out frames are ``results/rgb/<frame>.png`` (named by the frame names of the capture's
``splits/val.json``); DyCheck's own means, ``mean_metrics_dict.json`` (``dycheck/core/tasks/novel_view.py:230-238``:
``psnr``, ``ssim``, ``lpips`` and, with co-visibility masks, ``mpsnr``, ``mssim``, ``mlpips``), beside them or in
``results/``, are printed beside nvs-eval's, as gsplat's stats are. The ground truth and the co-visibility masks
come from the capture (the ``iphone`` dataset kind, :func:`nvs_eval.data.datasets.iphone_val_views`).
"""

from __future__ import annotations

from pathlib import Path

from ..errors import LayoutError, option
from .datasets import dataset_kind, dataset_test_views
from .discover import list_images, run_name
from .scene import Scene, read_reported

# DyCheck's mean_metrics_dict.json keys -> nvs-eval's metric ids under the dycheck protocol
REPORTED = {"psnr": "psnr", "ssim": "ssim", "lpips": "lpips_alex", "mpsnr": "masked_psnr", "mssim": "masked_ssim",
            "mlpips": "masked_lpips_alex"}


def _renders(path: Path) -> Path | None:
    for cand in (path / "results" / "rgb", path / "rgb"):
        if cand.is_dir() and any(f.suffix.lower() == ".png" for f in cand.iterdir()):
            return cand
    return None


def is_dycheck_run(path: Path) -> bool:
    return path.is_dir() and (path / "results" / "rgb").is_dir() and _renders(path) is not None


def _reported(folder: Path) -> tuple[dict[str, float], list[str]]:
    for f in (folder.parent / "mean_metrics_dict.json", folder.parent.parent / "mean_metrics_dict.json"):
        if f.is_file():
            return read_reported(f, REPORTED)
    return {}, []


def load_dycheck(path: Path, *, method: str | None = None, dataset: str = "default", gt_source=None,
                 **_) -> list[Scene]:
    """The run's renders paired by frame name with the held-out frames of its iPhone capture."""
    folder = _renders(path)
    if folder is None:
        raise LayoutError("no renders", path=path, expected="results/rgb/<frame>.png")
    if gt_source is None or getattr(gt_source, "kind", None) != "iphone":
        raise LayoutError("a DyCheck run holds no ground truth", path=path,
                          hint=f"name its capture with {option('dataset')} iphone {option('dataset_root')} "
                               "CAPTURE_FOLDER")
    root = gt_source.root
    gt, background = dataset_test_views("iphone", root, gt_source.images)
    renders = list_images(folder)
    name = method or run_name(path, skip=(root.name,))
    scene = Scene(dataset if dataset != "default" else "iphone", root.name, gt, {name: renders},
                  background=background, folders={"": root, name: folder})
    masks = dataset_kind("iphone").masks(root, gt_source.images, gt)
    if masks:
        scene.masks = masks
        scene.folders["masks"] = next(iter(masks.values())).parent
    reported, scene.notes = _reported(folder)
    if reported:
        scene.reported = {name: reported}
        scene.reported_doc = "docs/protocols.md (Dynamic scenes: dycheck)"
    return [scene]
