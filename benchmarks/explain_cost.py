"""`nvs-eval explain`'s whole search against one `score` of the same views."""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent


def explain_cost(views: int, size: tuple[int, int] = (520, 779), device: str = "cpu") -> list[str]:
    """`nvs-eval explain`'s whole search against one `score --protocol nvs-eval` with every LPIPS network on this
    machine, on the same views (8-bit PNGs: crops of scikit-image photographs, the renders blurred and noisy)."""
    import torch
    from PIL import Image
    from scipy.ndimage import gaussian_filter
    from skimage import data, transform

    from nvs_eval.api import score_folders
    from nvs_eval.cli.explain_cmd import _pairs
    from nvs_eval.explain import compute, explain, parse_targets
    from nvs_eval.metrics.weights import locate_backbone

    tmp = Path(tempfile.mkdtemp(prefix="nvs-explain-"))
    rng = np.random.default_rng(0)
    h, w = size
    photos = [transform.resize(getattr(data, n)()[..., :3], (2 * h, 2 * w), anti_aliasing=True)
              for n in ("astronaut", "coffee", "chelsea", "rocket")]
    for i in range(views):
        img = photos[i % 4]
        y, x = rng.integers(0, h), rng.integers(0, w)
        gt = (img[y : y + h, x : x + w] * 255).round().astype(np.uint8)
        r = np.clip(gaussian_filter(gt / 255.0, (1.0, 1.0, 0)) + rng.normal(0, 0.02, gt.shape), 0, 1)
        for folder, arr in (("gt", gt), ("r", (r * 255).round().astype(np.uint8))):
            (tmp / folder).mkdir(exist_ok=True)
            Image.fromarray(arr).save(tmp / folder / f"{i:05d}.png")
    nets = [n for n in ("alex", "vgg", "squeeze") if n != "squeeze" or locate_backbone("squeeze") is not None]
    metrics = ("psnr", "ssim", *(f"lpips_{n}" for n in nets))
    t = time.perf_counter()
    df = score_folders({"r": tmp / "r"}, tmp / "gt", "nvs-eval", metrics, device=device, progress=False)
    t_score = time.perf_counter() - t
    args = argparse.Namespace(renders=[str(tmp / "r")], gt=str(tmp / "gt"), layout=None, iteration=None,
                              dataset=None, dataset_root=None, images="images", method=None)
    t = time.perf_counter()
    pairs = _pairs(args)
    t_decode = time.perf_counter() - t
    search = compute(pairs, device=device)
    t_compute = time.perf_counter() - t
    targets = parse_targets(",".join(f"{m}={df[m].mean():.4f}" for m in ("psnr", "ssim", "lpips_vgg")))
    result = explain(search, targets)
    t_all = time.perf_counter() - t
    shutil.rmtree(tmp)
    best = result["matches"][0] if result["matches"] else None
    return [f"`nvs-eval explain` on {views} views of {w}x{h} (8-bit PNGs) against one `score --protocol nvs-eval "
            f"--metrics {','.join(metrics)}` of the same views, {device}, {torch.get_num_threads()} threads:", "",
            "| step | s | x one score |", "|---|---:|---:|",
            f"| score, all LPIPS networks ({', '.join(nets)}) | {t_score:.1f} | 1.00 |",
            f"| explain: decode every image once | {t_decode:.1f} | {t_decode / t_score:.2f} |",
            f"| explain: every metric variant of every view ({len(search.values)} quantisation settings, "
            f"{len(search.ssim_specs)} SSIM, {2 * len(nets)} LPIPS) | {t_compute - t_decode:.1f} | "
            f"{(t_compute - t_decode) / t_score:.2f} |",
            f"| explain: ranking the combinations | {t_all - t_compute:.1f} | {(t_all - t_compute) / t_score:.2f} |",
            f"| **explain, whole search** | **{t_all:.1f}** | **{t_all / t_score:.2f}** |", "",
            f"Targets: the score's own means to 4 decimals; {result['match_count']} combinations reproduce them, the "
            f"first: {best['nearest_preset'] if best else 'none'} "
            f"{'(the preset itself)' if best and not best['differs_from_preset'] else ''}.", ""]
