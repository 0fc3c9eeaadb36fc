"""The metric families' cost per render (DISTS and FLIP beside LPIPS-VGG, the authors' DISTS in the same run)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from common import best_of

HERE = Path(__file__).resolve().parent


def family_costs(size: int, n: int = 3, device: str = "cpu") -> list[str]:
    """Seconds per render of every metric family on one prepared view (best of 3), beside plain LPIPS-vgg: each
    metric alone, then the colour-corrected ones together (they share one colour correction per render)."""
    import torch
    from scipy.ndimage import gaussian_filter
    from skimage import data

    from nvs_eval.compute.evaluator import Evaluator
    from nvs_eval.conventions.protocols import get_protocol
    from nvs_eval.conventions.registry import METRICS

    gt = np.asarray(data.astronaut()[:size, :size, :3], np.float32) / 255
    rng = np.random.default_rng(0)
    renders = [np.clip(gaussian_filter(gt, (1 + k, 1 + k, 0)) * (1.1 - 0.1 * k) + rng.normal(0, 0.02, gt.shape), 0, 1)
               for k in range(n)]
    yy, xx = np.mgrid[: gt.shape[0], : gt.shape[1]]
    mask = ((yy - gt.shape[0] / 2) ** 2 + (xx - gt.shape[1] / 2) ** 2 < (gt.shape[0] / 3) ** 2).astype(np.float32)
    metrics = tuple(m for m, s in METRICS.items() if s.lpips_net in (None, "vgg"))
    ev = Evaluator(get_protocol("nvs-eval"), metrics, device)
    to = lambda a: ev.to_tensor(a.astype(np.float32))
    target = ev.prepare(to(gt), torch.from_numpy(mask)[None, None].to(ev.device))
    batch = torch.cat([to(r) for r in renders])
    lines = [f"Metric families at {gt.shape[1]}x{gt.shape[0]}, {n} renders against one prepared view (its SSIM "
             f"moments and LPIPS features computed once), seconds per render, best of 3 ({device}):", "",
             "| metric | s per render | x LPIPS-vgg |", "|---|---:|---:|"]
    cost = {m: best_of(lambda m=m: ev.score(batch, target, metrics=(m,)), 3)[0] / n for m in metrics}
    cc = tuple(m for m in metrics if METRICS[m].family == "cc")
    cost["cc_* together"] = best_of(lambda: ev.score(batch, target, metrics=cc), 3)[0] / n
    lines += [f"| {m} | {t:.3f} | {t / cost['lpips_vgg']:.2f} |" for m, t in cost.items()]
    ref = _reference_dists(ev.adapters["dists"].model, ev.device)
    if ref is not None:  # the authors' DISTS, as its README calls it: both images through the network per pair
        with torch.no_grad():
            t = best_of(lambda: [ref(batch[i : i + 1], target.image) for i in range(n)], 3)[0] / n
        lines += ["", f"The authors' DISTS (`DISTS_pt.DISTS()(render, gt)`, both images through VGG per call) takes "
                      f"{t:.3f} s per render here: nvs-eval's `dists` ({cost['dists']:.3f} s, ground-truth features "
                      f"prepared once per view) is {t / cost['dists']:.2f}x faster."]
    return lines + [""]


def _reference_dists(ours, device):
    """The authors' DISTS module with our VGG16 tensors (its own loader would download them), or None."""
    try:
        import types

        import torchvision
        from DISTS_pytorch import DISTS_pt
    except ImportError:
        return None
    from nvs_eval.metrics.weights import load_backbone

    backbone = load_backbone("vgg")[0]

    def vgg16(pretrained=True):
        model = torchvision.models.vgg16(weights=None)
        model.features.load_state_dict(backbone)
        return model

    real, DISTS_pt.models = DISTS_pt.models, types.SimpleNamespace(vgg16=vgg16)
    try:
        return DISTS_pt.DISTS().eval().to(device)
    finally:
        DISTS_pt.models = real
