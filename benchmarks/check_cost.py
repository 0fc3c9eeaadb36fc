"""``nvs-eval check`` against one ``score`` of the same run (issue 23): a 300-image scene with 38 test views.

The dataset is laid out as Mip-NeRF 360 ships it (JPEG ``images/`` and the authors' ``images_2`` / ``images_4``),
the run as 3DGS writes it (``test/ours_30000/{gt,renders}/00000.png``). Two runs: ground truth identical to
``images_2`` (the cheap path: thumbnails, then one exact comparison per view) and ground truth resized by the
trainer from ``images/`` with PIL bicubic (every resampler tried on 3 views, the best checked on all).
"""

from __future__ import annotations

import shutil
import tempfile
import time
from pathlib import Path

import numpy as np


def _scene(root: Path, n: int, size: tuple[int, int]) -> list[str]:
    from PIL import Image

    w, h = size
    names = [f"DSC{8000 + i:05d}.JPG" for i in range(n)]
    rng = np.random.default_rng(0)
    for name in names:
        small = (rng.random((12, 16, 3)) * 255).astype(np.uint8)
        full = Image.fromarray(small).resize((w, h), Image.BICUBIC)
        for folder, f in (("images", 1), ("images_2", 2), ("images_4", 4)):
            (root / folder).mkdir(parents=True, exist_ok=True)
            (full if f == 1 else full.resize((w // f, h // f), Image.BOX)).save(root / folder / name, quality=95)
    return names


def _run(run: Path, scene: Path, names: list[str], resized: bool) -> None:
    from PIL import Image

    for k, name in enumerate(names[::8]):
        img = Image.open(scene / ("images" if resized else "images_2") / name).convert("RGB")
        if resized:
            img = img.resize((img.width // 2, img.height // 2), Image.BICUBIC)
        for sub in ("gt", "renders"):
            (run / "test" / "ours_30000" / sub).mkdir(parents=True, exist_ok=True)
            img.save(run / "test" / "ours_30000" / sub / f"{k:05d}.png")


def check_cost(n: int = 300, size: tuple[int, int] = (1244, 828)) -> list[str]:
    from nvs_eval.api import score_layout
    from nvs_eval.data.layouts import load_layout
    from nvs_eval.data.provenance import check_scene

    root = Path(tempfile.mkdtemp(prefix="nvs-eval-check-"))
    try:
        scene = root / "room"
        names = _scene(scene, n, size)
        lines = [f"`nvs-eval check` on a {n}-image scene ({size[0]}x{size[1]} JPEG images/, images_2, images_4), "
                 f"{len(names[::8])} test views, against one `score` of the same run (protocol 3dgs: PSNR, SSIM, "
                 "LPIPS-VGG; 1 method), cpu:", "", "| ground truth | check s | score s | check / score | verdict |",
                 "|---|---:|---:|---:|---|"]
        for label, resized in (("identical to images_2", False), ("resized from images/ by PIL bicubic", True)):
            run = root / f"run-{int(resized)}"
            _run(run, scene, names, resized)
            (s,) = load_layout(run, "3dgs")
            t = time.perf_counter()
            result = check_scene(s.gt, "mipnerf360", scene)
            t_check = time.perf_counter() - t
            t = time.perf_counter()
            score_layout(run, "3dgs", "3dgs", device="cpu", progress=False)
            t_score = time.perf_counter() - t
            why = result.gt["rule"] or result.gt["resampler"]
            verdict = "comparable" if result.comparable else f"not comparable ({why})"
            lines.append(f"| {label} | {t_check:.2f} | {t_score:.2f} | {t_check / t_score:.2f} | {verdict} |")
        return lines + [""]
    finally:
        shutil.rmtree(root)
