"""Batches spanning views (issue 25): small views scored view by view against in batches of several views.

A feed-forward benchmark scores thousands of 256 x 256 target views, each with one or two methods' renders: one
view's renders are far too few pixels to fill a forward pass. The runner batches consecutive views of one small
size (``nvs_eval.compute.runner.with_batches``, on CUDA by default); this measures the same scene end to end
(decode, hash, score) with ``MAX_BATCH_VIEWS = 1`` (view by view) and with batches spanning views switched on for
the device measured, interleaved, best of N, and checks that the values agree.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from pathlib import Path

import numpy as np
from common import make_workload


def cross_view_cost(views: int = 96, methods: int = 1, side: int = 256, repeats: int = 3,
                    device: str = "cpu", metrics=("psnr", "ssim", "lpips_alex", "lpips_vgg")) -> list[str]:
    import torch

    from nvs_eval.api import score_scenes
    from nvs_eval.compute import runner
    from nvs_eval.compute.evaluator import Evaluator
    from nvs_eval.conventions.protocols import get_protocol
    from nvs_eval.data.layouts import pairs_scene

    root = Path(tempfile.mkdtemp(prefix="nvs-eval-xview-"))
    try:
        make_workload(root, side, methods, views)
        scene = pairs_scene([(f"m{m}", root / f"m{m}") for m in range(methods)], root / "gt")
        ev = Evaluator(get_protocol("nvs-eval"), metrics, device)
        default, devices = runner.MAX_BATCH_VIEWS, runner.CROSS_VIEW_DEVICES
        runner.CROSS_VIEW_DEVICES = (device,)  # measured here on any device (the default keeps it to CUDA)
        times: dict[str, list[float]] = {"view by view": [], "batches spanning views": []}
        values = {}
        for _ in range(repeats + 1):  # the first round warms up (weights, allocator, thread pools)
            for label, cap in (("view by view", 1), ("batches spanning views", default)):
                runner.MAX_BATCH_VIEWS = cap
                if device == "cuda":
                    torch.cuda.synchronize()
                t = time.perf_counter()
                values[label] = score_scenes([scene], evaluator=ev, progress=False)
                times[label].append(time.perf_counter() - t)
        runner.MAX_BATCH_VIEWS, runner.CROSS_VIEW_DEVICES = default, devices
        cols = list(metrics)
        diff = float(np.abs(values["view by view"][cols].to_numpy() - values["batches spanning views"][cols]
                            .to_numpy()).max())
        best = {k: min(v[1:]) for k, v in times.items()}
        pairs = views * methods
        lines = [f"Batches spanning views: {views} views of {side}x{side}, {methods} method(s), "
                 f"{', '.join(metrics)}, {device}, end to end from files (best of {repeats}, interleaved):", "",
                 "| scoring | s | ms per pair | pairs/s |", "|---|---:|---:|---:|"]
        lines += [f"| {k} | {v:.2f} | {1000 * v / pairs:.1f} | {pairs / v:.1f} |" for k, v in best.items()]
        ratio = best["view by view"] / best["batches spanning views"]
        lines += ["", f"Speed-up from batching views: {ratio:.2f}x; largest difference between the two: {diff:.1e} "
                  "(float32 rounding of other convolution blockings).", ""]
        return lines
    finally:
        shutil.rmtree(root)


def forward_batch_cost(side: int = 256, images: int = 8, repeats: int = 3, device: str = "cpu") -> list[str]:
    """LPIPS features per image at batch 1, 2, 4, 8 (best of ``repeats``): why batching views pays or not."""
    import torch

    from nvs_eval.metrics.lpips import build_lpips

    lines = [f"LPIPS features of {side}x{side} images, ms per image by batch size ({device}, best of {repeats}):", "",
             "| network | " + " | ".join(f"batch {b}" for b in (1, 2, 4, 8)) + " |", "|---|---:|---:|---:|---:|"]
    for net in ("alex", "vgg"):
        model, _ = build_lpips(net, device=device)
        x = torch.rand(images, 3, side, side, generator=torch.Generator().manual_seed(0)).to(device)
        row = []
        with torch.inference_mode():
            for b in (1, 2, 4, 8):
                model.features(x[:b])
                best = float("inf")
                for _ in range(repeats):
                    if device == "cuda":
                        torch.cuda.synchronize()
                    t = time.perf_counter()
                    for i in range(0, images, b):
                        model.features(x[i : i + b])
                    if device == "cuda":
                        torch.cuda.synchronize()
                    best = min(best, (time.perf_counter() - t) / images)
                row.append(f"{1000 * best:.1f}")
        lines.append(f"| {net} | " + " | ".join(row) + " |")
    return lines + [""]
