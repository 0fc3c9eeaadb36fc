"""What every benchmark shares: the workload (scikit-image photographs with NVS-like damage), the reference
pipelines' worker (the 3DGS recipe, the ns-eval style pipeline, nvs-eval under the matching protocol, a float64
evaluation), timing (best of N after a warm-up), peak memory and the machine line."""

from __future__ import annotations

import json
import os
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent


def make_workload(root: Path, size: int | tuple[int, int], methods: int, views: int) -> None:
    """Views cut from scikit-image photographs (upscaled to ``size`` = side or (height, width)), renders with
    blur, noise and a shift (a "floater"-free stand-in for NVS errors)."""
    from PIL import Image
    from scipy.ndimage import gaussian_filter
    from skimage import data, transform

    h, w = (size, size) if isinstance(size, int) else size
    photos = [data.astronaut(), data.coffee(), data.chelsea(), data.rocket()]
    rng = np.random.default_rng(0)
    for v in range(views):
        src = photos[v % len(photos)][..., :3].astype(np.float32) / 255
        scale = max(h / src.shape[0], w / src.shape[1]) * 1.2
        big = transform.rescale(src, scale, channel_axis=2, order=1, anti_aliasing=False).astype(np.float32)
        y = int(rng.integers(0, big.shape[0] - h - 8))
        x = int(rng.integers(0, big.shape[1] - w - 8))
        gt = big[y : y + h, x : x + w]
        (root / "gt").mkdir(parents=True, exist_ok=True)
        Image.fromarray((gt * 255).round().astype(np.uint8)).save(root / "gt" / f"{v:04d}.png")
        for m in range(methods):
            if m % 3 == 0:
                r = gaussian_filter(gt, (1.0 + 0.3 * m, 1.0 + 0.3 * m, 0))
            elif m % 3 == 1:
                r = gt + rng.normal(0, 0.03, gt.shape).astype(np.float32)
            else:
                r = big[y + 1 : y + 1 + h, x + 2 : x + 2 + w]
            (root / f"m{m}").mkdir(parents=True, exist_ok=True)
            Image.fromarray((np.clip(r, 0, 1) * 255).round().astype(np.uint8)).save(root / f"m{m}" / f"{v:04d}.png")


def _ref_lpips(net: str):
    import warnings

    import lpips
    import torchvision

    from nvs_eval.metrics.weights import load_backbone

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = lpips.LPIPS(net=net, pretrained=True, pnet_rand=True, verbose=False)
    feats = {"alex": torchvision.models.alexnet, "vgg": torchvision.models.vgg16}[net](weights=None).features
    feats.load_state_dict(load_backbone(net)[0])
    for k in range(1, ref.net.N_slices + 1):
        sl = getattr(ref.net, f"slice{k}")
        for name in list(sl._modules):
            sl._modules[name] = feats[int(name)]
    return ref.eval()


def _ssim_3dgs(r, t, dtype):
    """The 3DGS ``utils/loss_utils.py`` SSIM: 2-D 11x11 Gaussian (sigma 1.5), zero padding 5, groups=3."""
    import torch
    import torch.nn.functional as F

    g = torch.exp(-((torch.arange(11, dtype=dtype) - 5) ** 2) / 4.5)
    g = g / g.sum()
    w2 = (g[:, None] @ g[None, :]).expand(3, 1, 11, 11).contiguous().to(r.device)
    r, t = r.to(dtype), t.to(dtype)

    def conv(z):
        return F.conv2d(z, w2, padding=5, groups=3)

    mu1, mu2 = conv(r), conv(t)
    s1, s2, s12 = conv(r * r) - mu1**2, conv(t * t) - mu2**2, conv(r * t) - mu1 * mu2
    smap = ((2 * mu1 * mu2 + 1e-4) * (2 * s12 + 9e-4)) / ((mu1**2 + mu2**2 + 1e-4) * (s1 + s2 + 9e-4))
    return float(smap.mean())


def _psnr(r, t, dtype):
    import torch

    mse = ((r.to(dtype) - t.to(dtype)) ** 2).view(1, -1).mean(1)
    return float(20 * torch.log10(1.0 / torch.sqrt(mse)))


def worker(kind: str, root: Path, methods: int, device: str = "cpu") -> dict:
    import torch

    out: dict = {}
    views = sorted((root / "gt").iterdir())
    t0 = time.perf_counter()
    if kind in ("ref3dgs", "reftm", "ref-f64"):
        import torchvision.transforms.functional as tf
        from PIL import Image

        def load(path):
            return tf.to_tensor(Image.open(path)).unsqueeze(0)[:, :3].to(device)

        net = _ref_lpips("vgg" if kind == "ref3dgs" else "alex").to(device) if kind != "ref-f64" else None
        if device == "cuda":
            torch.cuda.synchronize()
        t0 = time.perf_counter()  # network construction is not timed for anyone
        for m in range(methods):
            if kind == "ref3dgs":  # metrics.py's readImages: the method's renders and ground truths, all loaded first
                pairs = [(f, load(root / f"m{m}" / f.name), load(f)) for f in views]
            else:
                pairs = ((f, load(root / f"m{m}" / f.name), load(f)) for f in views)
            for f, r, t in pairs:
                with torch.no_grad():
                    if kind == "ref3dgs":
                        out[f"m{m}/{f.stem}"] = {"psnr": _psnr(r, t, torch.float32),
                                                 "ssim": _ssim_3dgs(r, t, torch.float32),
                                                 "lpips_vgg": float(net(r, t, normalize=False))}
                    elif kind == "reftm":
                        from torchmetrics.functional.image import structural_similarity_index_measure as tm_ssim

                        out[f"m{m}/{f.stem}"] = {"psnr": _psnr(r, t, torch.float32), "ssim": float(tm_ssim(r, t)),
                                                 "lpips_alex": float(net(r, t, normalize=True))}
                    else:  # float64: what the float32 recipes approximate (PSNR and SSIM; LPIPS agrees to ~1e-8)
                        from torchmetrics.functional.image import structural_similarity_index_measure as tm_ssim

                        vals = {"psnr": _psnr(r, t, torch.float64), "ssim_3dgs": _ssim_3dgs(r, t, torch.float64)}
                        if r.shape[-2] * r.shape[-1] <= 4 << 20:  # torchmetrics f64 wants ~40 GB at 3840x2160
                            vals["ssim_tm"] = float(tm_ssim(r.double(), t.double()))
                        out[f"m{m}/{f.stem}"] = vals
            del pairs
    else:
        from nvs_eval.api import score_folders
        from nvs_eval.compute.evaluator import Evaluator
        from nvs_eval.conventions.protocols import get_protocol

        name, _, precision = kind.partition(":")
        protocol = get_protocol("3dgs" if name == "nvs-3dgs" else "nerfstudio")
        ev = Evaluator(protocol, device=device, precision=precision or "float32")
        t0 = time.perf_counter()
        df = score_folders({f"m{m}": root / f"m{m}" for m in range(methods)}, root / "gt", protocol, evaluator=ev,
                           progress=False)
        for r in df.to_dict("records"):
            out[f"{r['method']}/{r['view']}"] = {k: float(r[k]) for k in protocol.metrics}
    if device == "cuda":
        torch.cuda.synchronize()
    seconds = time.perf_counter() - t0
    gpu_mb = torch.cuda.max_memory_allocated() / 2**20 if device == "cuda" else None
    return {"kind": kind, "seconds": seconds, "values": out, "gpu_mb": gpu_mb, "maxrss_mb": peak_rss_mb()}


def peak_rss_mb() -> float:
    """This process's peak RSS (VmHWM: reset by exec, unlike getrusage's ru_maxrss, which a child inherits)."""
    try:
        for line in open("/proc/self/status"):
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_worker(kind: str, root: Path, methods: int, device: str = "cpu") -> dict:
    r = subprocess.run([sys.executable, str(HERE / "run.py"), "--worker", kind, "--data", str(root),
                        "--methods", str(methods), "--device", device], capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError(f"{kind} failed: {r.stderr[-2000:]}")
    return json.loads(r.stdout.strip().splitlines()[-1])


def best_of(fn, reps: int):
    """(seconds of the fastest of ``reps`` calls of ``fn`` after one warm-up call, the last call's result)."""
    out = fn()
    best = 1e9
    for _ in range(reps):
        t = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t)
    return best, out


def machine(device: str) -> str:
    import torch

    cpu = "unknown CPU"
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    dev = torch.cuda.get_device_name() if device == "cuda" else "cpu"
    return (f"{cpu}, {os.cpu_count()} cores visible, torch {torch.__version__} ({torch.get_num_threads()} threads), "
            f"device {dev}, Python {platform.python_version()}")


def _diffs(a: dict, b: dict, pairs=None) -> dict[str, float]:
    """Largest |a - b| per metric over every view (``pairs`` maps a's metric names to b's)."""
    out: dict[str, float] = {}
    for key, vals in a["values"].items():
        for metric, v in vals.items():
            other = (pairs or {}).get(metric, metric)
            if other in b["values"][key]:
                out[metric] = max(out.get(metric, 0.0), abs(v - b["values"][key][other]))
    return out


def _fmt(d: dict[str, float]) -> str:
    return ", ".join(f"{k} {v:.1e}" for k, v in d.items())
