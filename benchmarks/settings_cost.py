"""The cost of the protocols beyond static scenes (issue 24), each beside a reference pipeline in the same run.

* In the wild: one view under ``nerfw`` (right half) raw and with each appearance fit, end to end through the
  evaluator (PSNR, SSIM, LPIPS-Alex and -VGG); the fit alone against NumPy's ``lstsq`` on the tall system (what a
  script would call) and multinerf's ``color_correct`` transcribed to NumPy.
* Dynamic: one DyCheck-sized view (480 x 360) under ``dycheck`` (six metrics) against nvs-eval's own masked
  family, and DyCheck's mSSIM against its SciPy transcription (``convolve2d`` per channel, as the JAX code runs).
* Feed-forward: cutting pixelSplat's targets from a chunk (JPEG decode, uint8, LANCZOS, crop, PNG) and scoring
  256 x 256 views under ``pixelsplat`` against pixelSplat's own metric code path (scikit-image SSIM in float32,
  the ``lpips`` package, PSNR in torch), when the ``lpips`` package is installed.
* Multi-scale: the per-scale table and mip-NeRF's Avg of 8 scenes x 200 views x 4 scales, 3 methods.
"""

from __future__ import annotations

import time

import numpy as np
import torch


def _photo(size: tuple[int, int], seed: int = 0) -> np.ndarray:
    from skimage import data
    from skimage.transform import resize

    img = resize(data.astronaut(), size, anti_aliasing=True).astype(np.float32)
    return np.round(img * 255).astype(np.float32) / 255


def _timed(fn, reps: int = 3) -> float:
    fn()
    best = 1e9
    for _ in range(reps):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return best


def _wild_lines(size: tuple[int, int], reps: int) -> list[str]:
    from nvs_eval.compute.evaluator import Evaluator
    from nvs_eval.conventions.protocols import get_protocol
    from nvs_eval.metrics.appearance import fit

    gt = _photo(size)
    render = np.clip(gt * np.array([1.1, 0.95, 0.85], np.float32) + 0.03, 0, 1)
    x, y = (torch.from_numpy(a).permute(2, 0, 1)[None] for a in (render, gt))
    rows = ["| protocol | s per view | fit only, s | NumPy reference fit, s |", "|---|---:|---:|---:|"]
    w = size[1]
    xl, yl = render[:, : w - w // 2].reshape(-1, 3).astype(np.float64), gt[:, : w - w // 2].reshape(-1, 3).astype(
        np.float64)
    for kind in ("none", "gain-bias", "affine", "color-correct"):
        ev = Evaluator(get_protocol("nerfw").with_appearance_fit(kind), device="cpu")
        t_all = _timed(lambda: ev.score(x, ev.prepare(y)), reps)
        if kind == "none":
            rows.append(f"| nerfw | {t_all:.3f} | -- | -- |")
            continue
        t_fit = _timed(lambda: fit(kind, x[..., : w - w // 2], y[..., : w - w // 2]), reps)
        t_ref = _timed(lambda: _numpy_fit(kind, xl, yl), reps)
        rows.append(f"| nerfw+appearance_fit={kind} | {t_all:.3f} | {t_fit:.3f} | {t_ref:.3f} |")
    return [f"In the wild: one {size[1]}x{size[0]} view, nerfw (PSNR, SSIM, LPIPS-Alex, LPIPS-VGG on the right "
            f"half), cpu, best of {reps}:", "", *rows, ""]


def _numpy_fit(kind: str, x: np.ndarray, y: np.ndarray):
    ones = np.ones((len(x), 1))
    if kind == "gain-bias":
        return [np.linalg.lstsq(np.hstack([x[:, c : c + 1], ones]), y[:, c], rcond=None)[0] for c in range(3)]
    if kind == "affine":
        return np.linalg.lstsq(np.hstack([x, ones]), y, rcond=None)[0]
    eps = 0.5 / 255
    ok = lambda z: (z >= eps) & (z <= 1 - eps)  # noqa: E731
    mask0 = ok(x)
    for _ in range(5):  # multinerf internal/image.py color_correct
        a = np.concatenate([*[x[:, c : c + 1] * x[:, c:] for c in range(3)], x, ones], -1)
        warp = [np.linalg.lstsq(np.where((m := mask0[:, c] & ok(x[:, c]) & ok(y[:, c]))[:, None], a, 0),
                                np.where(m, y[:, c], 0), rcond=-1)[0] for c in range(3)]
        x = np.clip(a @ np.stack(warp, -1), 0, 1)
    return x


def _dycheck_lines(reps: int) -> list[str]:
    from scipy.signal import convolve2d

    from nvs_eval.compute.evaluator import Evaluator
    from nvs_eval.conventions.protocols import get_protocol
    from nvs_eval.metrics.dycheck import dycheck_ssim

    h, w = 360, 480
    gt = _photo((h, w))
    render = np.clip(gt + np.random.default_rng(0).normal(0, 0.03, gt.shape).astype(np.float32), 0, 1)
    yy, xx = np.mgrid[:h, :w]
    mask = ((((yy - 180) / 150) ** 2 + ((xx - 240) / 200) ** 2) < 1).astype(np.float32)
    x, y = (torch.from_numpy(a).permute(2, 0, 1)[None] for a in (render, gt))
    m = torch.from_numpy(mask)[None, None]
    rows = ["| scoring | s per view |", "|---|---:|"]
    for name, mc in (("dycheck (DyCheck's mPSNR, mSSIM, mLPIPS + plain)", "dycheck"),
                     ("the same six metrics, nvs-eval's normalised-convolution masked family", "normalized")):
        from dataclasses import replace

        ev = Evaluator(replace(get_protocol("dycheck"), mask_convention=mc), device="cpu")
        rows.append(f"| {name} | {_timed(lambda: ev.score(x, ev.prepare(y, m)), reps):.3f} |")
    f = np.exp(-0.5 * ((np.arange(11) - 5) / 1.5) ** 2)
    f /= f.sum()

    def scipy_ssim_filters():  # the five filtered moments of the transcription (the SSIM formula is negligible)
        for z in (render, gt, render * render, gt * gt, render * gt):
            for c in range(3):
                convolve2d(convolve2d(z[..., c] * mask, f[None, :], mode="valid"), f[:, None], mode="valid")
                convolve2d(convolve2d(mask, np.ones((1, 11)), mode="valid"), np.ones((11, 1)), mode="valid")

    rows.append(f"| mSSIM alone, nvs-eval (torch, float64) | {_timed(lambda: dycheck_ssim(x, y, m), reps):.3f} |")
    rows.append(f"| mSSIM alone, SciPy convolve2d transcription (float64) | {_timed(scipy_ssim_filters, reps):.3f} |")
    return [f"Dynamic: one {w}x{h} view (DyCheck's iPhone 2x) with an elliptical co-visibility mask, cpu, best of "
            f"{reps}:", "", *rows, ""]


def _pixelsplat_lines(views: int, reps: int) -> list[str]:
    import io
    import tempfile
    from pathlib import Path

    from PIL import Image

    from nvs_eval.compute.evaluator import Evaluator
    from nvs_eval.conventions.protocols import get_protocol
    from nvs_eval.data.pixelsplat import crop_shim

    frame = np.round(_photo((360, 640)) * 255).astype(np.uint8)
    buf = io.BytesIO()
    Image.fromarray(frame).save(buf, format="JPEG", quality=90)
    jpeg = buf.getvalue()
    tmp = Path(tempfile.mkdtemp(prefix="nvs-eval-ps-"))

    def cut():
        target = crop_shim(np.asarray(Image.open(io.BytesIO(jpeg)).convert("RGB")))
        Image.fromarray(target).save(tmp / "t.png")
        return target

    t_cut = _timed(cut, reps)
    gt = cut().astype(np.float32) / 255
    preds = np.clip(gt + np.random.default_rng(1).normal(0, 0.03, (views, *gt.shape)).astype(np.float32), 0, 1)
    x = torch.from_numpy(preds).permute(0, 3, 1, 2).contiguous()
    y = torch.from_numpy(gt).permute(2, 0, 1)[None]
    ev = Evaluator(get_protocol("pixelsplat"), device="cpu")
    t_ours = _timed(lambda: ev.score(x, ev.prepare(y)), reps) / views
    rows = ["| step | ms per view |", "|---|---:|", f"| cut one target from its JPEG (decode, uint8, LANCZOS 256x455, "
            f"crop, PNG) | {1000 * t_cut:.1f} |", f"| score under pixelsplat (PSNR, SSIM, LPIPS-VGG) | "
            f"{1000 * t_ours:.1f} |"]
    ref = _pixelsplat_reference(x, y)
    if ref is not None:
        rows.append(f"| pixelSplat's metrics.py path (scikit-image SSIM in float32, lpips package, torch PSNR) | "
                    f"{1000 * _timed(ref, reps) / views:.1f} |")
    return [f"Feed-forward: {views} target views of 256x256 against one target, cpu, best of {reps}:", "", *rows, ""]


def _pixelsplat_reference(x, y):
    try:
        import lpips
    except ImportError:
        return None
    import warnings

    import torchvision
    from skimage.metrics import structural_similarity

    from nvs_eval.metrics.weights import load_backbone

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = lpips.LPIPS(net="vgg", pretrained=True, pnet_rand=True, verbose=False)
    feats = torchvision.models.vgg16(weights=None).features
    feats.load_state_dict(load_backbone("vgg")[0])
    for k in range(1, model.net.N_slices + 1):
        sl = getattr(model.net, f"slice{k}")
        for name in list(sl._modules):
            sl._modules[name] = feats[int(name)]
    model.eval()
    gt = y.expand_as(x)

    @torch.no_grad()
    def run():
        -10 * ((gt.clip(0, 1) - x.clip(0, 1)) ** 2).mean((1, 2, 3)).log10()
        [structural_similarity(g.numpy(), p.numpy(), win_size=11, gaussian_weights=True, channel_axis=0,
                               data_range=1.0) for g, p in zip(gt, x)]
        model(gt, x, normalize=True)

    return run


def _scales_lines(images: int) -> list[str]:
    import pandas as pd

    from nvs_eval.report.table import build_tables

    rng = np.random.default_rng(0)
    rows = [{"dataset": "multiblender", "scene": f"s{s}", "method": f"m{m}", "view": f"images_test/{i:03d}_d{j}",
             "psnr": 30 + rng.normal(), "ssim": 0.95 + 0.01 * rng.random(), "lpips_vgg": 0.05 * rng.random()}
            for s in range(8) for m in range(3) for i in range(images) for j in range(4)]
    per_view = pd.DataFrame(rows)
    t = _timed(lambda: build_tables(per_view, "mipnerf360", ["psnr", "ssim", "lpips_vgg"], significance=None), 1)
    t_plain = _timed(lambda: build_tables(per_view.assign(view=per_view["view"].str.replace("_d", "-d")),
                                          "mipnerf360", ["psnr", "ssim", "lpips_vgg"], significance=None), 1)
    return [f"Multi-scale: the tables of 8 scenes x {images} views x 4 scales x 3 methods ({len(rows):,} rows), "
            "cpu:", "",
            "| tables | s |", "|---|---:|", f"| with the per-scale table and Avg | {t:.2f} |",
            f"| the same rows without scales in their ids | {t_plain:.2f} |", ""]


def settings_cost(size: tuple[int, int] = (768, 1024), views: int = 16, reps: int = 3,
                  scale_images: int = 200) -> list[str]:
    return [*_wild_lines(size, reps), *_dycheck_lines(reps), *_pixelsplat_lines(views, reps),
            *_scales_lines(scale_images)]
