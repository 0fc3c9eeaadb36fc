"""Benchmark harness: nvs-eval against the reference pipelines, in one run, interleaved.

Pipelines (each runs in its own subprocess so its peak RSS is its own; they alternate so machine drift cancels):

  a) ``ref3dgs``: the 3DGS ``metrics.py`` recipe: per-image loop, PIL + ``to_tensor``, 2-D 11x11 convolution SSIM with
     zero padding (``utils/loss_utils.py``), PSNR, LPIPS-VGG of the ``lpips`` package fed [0, 1] unmapped.
  b) ``reftm``: nerfstudio ``ns-eval`` style: torchmetrics functional SSIM and PSNR per image, LPIPS-alex with
     ``normalize=True``. torchmetrics' LPIPS class downloads torchvision's backbone at construction (impossible
     offline), so the ``lpips`` package's network, which torchmetrics wraps, is used with the same weights.
  c) ``nvs-eval`` under the matching protocol (``3dgs`` against a, ``nerfstudio`` against b), end to end from files.

Usage:  python benchmarks/run.py [--size 800] [--methods 3] [--views 24] [--repeats 1] [--out benchmarks/RESULTS.md]
        python benchmarks/run.py --smoke          # a few small views (what CI may run)
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent


def make_workload(root: Path, size: int, methods: int, views: int) -> None:
    """Views cut from scikit-image photographs (upscaled to ``size``), renders with blur/noise/shift."""
    from PIL import Image
    from scipy.ndimage import gaussian_filter
    from skimage import data, transform

    photos = [data.astronaut(), data.coffee(), data.chelsea(), data.rocket()]
    rng = np.random.default_rng(0)
    for v in range(views):
        src = photos[v % len(photos)][..., :3].astype(np.float32) / 255
        scale = size / min(src.shape[:2]) * 1.2
        big = transform.rescale(src, scale, channel_axis=2, order=1, anti_aliasing=False).astype(np.float32)
        y = int(rng.integers(0, big.shape[0] - size - 8))
        x = int(rng.integers(0, big.shape[1] - size - 8))
        gt = big[y : y + size, x : x + size]
        (root / "gt").mkdir(parents=True, exist_ok=True)
        Image.fromarray((gt * 255).round().astype(np.uint8)).save(root / "gt" / f"{v:04d}.png")
        for m in range(methods):
            if m % 3 == 0:
                r = gaussian_filter(gt, (1.0 + 0.3 * m, 1.0 + 0.3 * m, 0))
            elif m % 3 == 1:
                r = gt + rng.normal(0, 0.03, gt.shape).astype(np.float32)
            else:
                r = big[y + 1 : y + 1 + size, x + 2 : x + 2 + size]
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


def worker(kind: str, root: Path, methods: int) -> dict:
    import torch

    out: dict = {}
    t0 = time.perf_counter()
    if kind in ("ref3dgs", "reftm"):
        import torch.nn.functional as F
        import torchvision.transforms.functional as tf
        from PIL import Image

        net = _ref_lpips("vgg" if kind == "ref3dgs" else "alex")
        t0 = time.perf_counter()  # network construction is not timed for anyone
        g = torch.exp(-((torch.arange(11, dtype=torch.float32) - 5) ** 2) / 4.5)
        g = g / g.sum()
        w2 = (g[:, None] @ g[None, :]).expand(3, 1, 11, 11).contiguous()
        for m in range(methods):
            for f in sorted((root / "gt").iterdir()):
                r = tf.to_tensor(Image.open(root / f"m{m}" / f.name)).unsqueeze(0)[:, :3]
                t = tf.to_tensor(Image.open(f)).unsqueeze(0)[:, :3]
                with torch.no_grad():
                    mse = ((r - t) ** 2).view(1, -1).mean(1)
                    psnr = float(20 * torch.log10(1.0 / torch.sqrt(mse)))
                    if kind == "ref3dgs":
                        conv = lambda z: F.conv2d(z, w2, padding=5, groups=3)  # noqa: E731
                        mu1, mu2 = conv(r), conv(t)
                        s1, s2, s12 = conv(r * r) - mu1**2, conv(t * t) - mu2**2, conv(r * t) - mu1 * mu2
                        smap = ((2 * mu1 * mu2 + 1e-4) * (2 * s12 + 9e-4)) / ((mu1**2 + mu2**2 + 1e-4) * (s1 + s2 + 9e-4))
                        ssim = float(smap.mean())
                        lp = float(net(r, t, normalize=False))
                        out[f"m{m}/{f.stem}"] = {"psnr": psnr, "ssim": ssim, "lpips_vgg": lp}
                    else:
                        from torchmetrics.functional.image import structural_similarity_index_measure as tm_ssim

                        ssim = float(tm_ssim(r, t))
                        lp = float(net(r, t, normalize=True))
                        out[f"m{m}/{f.stem}"] = {"psnr": psnr, "ssim": ssim, "lpips_alex": lp}
    else:
        from nvs_eval.api import score_folders
        from nvs_eval.evaluate.evaluator import Evaluator
        from nvs_eval.protocols import get_protocol

        protocol = get_protocol("3dgs" if kind == "nvs-3dgs" else "nerfstudio")
        ev = Evaluator(protocol, device="cpu")
        t0 = time.perf_counter()
        df = score_folders({f"m{m}": root / f"m{m}" for m in range(methods)}, root / "gt", protocol, evaluator=ev,
                           progress=False)
        for r in df.to_dict("records"):
            out[f"{r['method']}/{r['view']}"] = {k: float(r[k]) for k in protocol.metrics}
    seconds = time.perf_counter() - t0
    return {"kind": kind, "seconds": seconds, "values": out, "maxrss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def run_worker(kind: str, root: Path, methods: int) -> dict:
    r = subprocess.run([sys.executable, __file__, "--worker", kind, "--data", str(root), "--methods", str(methods)],
                       capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError(f"{kind} failed: {r.stderr[-2000:]}")
    return json.loads(r.stdout.strip().splitlines()[-1])


def matmul_peak() -> float:
    import torch

    a, b = torch.randn(4096, 4096), torch.randn(4096, 4096)
    torch.mm(a, b)
    best = 0.0
    for _ in range(3):
        t = time.perf_counter()
        torch.mm(a, b)
        best = max(best, 2 * 4096**3 / (time.perf_counter() - t) / 1e9)
    return best


def lpips_fraction(size: int) -> dict:
    """LPIPS-VGG / -Alex feature extraction GFLOP/s as a fraction of the measured matmul peak."""
    import torch

    from nvs_eval.metrics.lpips import build_lpips

    res = {}
    for net in ("vgg", "alex"):
        model, _ = build_lpips(net)
        x = torch.rand(1, 3, size, size)
        flops = 0

        def hook(mod, inp, outp):
            nonlocal flops
            if isinstance(mod, torch.nn.Conv2d):
                flops += 2 * mod.in_channels * mod.out_channels * mod.kernel_size[0] * mod.kernel_size[1] * outp.numel() // mod.out_channels

        hs = [m.register_forward_hook(hook) for m in model.modules() if isinstance(m, torch.nn.Conv2d)]
        with torch.inference_mode():
            model.features(x)
        for h in hs:
            h.remove()
        with torch.inference_mode():
            t = time.perf_counter()
            model.features(x)
            dt = time.perf_counter() - t
        res[net] = {"gflop": flops / 1e9, "seconds": dt, "gflops": flops / 1e9 / dt}
    return res


def machine() -> str:
    import torch

    cpu = "unknown CPU"
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return (f"{cpu}, {os.cpu_count()} cores visible, torch {torch.__version__} ({torch.get_num_threads()} threads), "
            f"device cpu, Python {platform.python_version()}")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--size", type=int, default=800)
    ap.add_argument("--methods", type=int, default=3)
    ap.add_argument("--views", type=int, default=24)
    ap.add_argument("--repeats", type=int, default=1)
    ap.add_argument("--smoke", action="store_true")
    ap.add_argument("--out", default=None)
    ap.add_argument("--worker", default=None)
    ap.add_argument("--data", default=None)
    args = ap.parse_args()
    if args.worker:
        print(json.dumps(worker(args.worker, Path(args.data), args.methods)))
        return
    if args.smoke:
        args.size, args.methods, args.views = 96, 2, 2
    with tempfile.TemporaryDirectory(prefix="nvs-bench-") as tmp:
        root = Path(tmp)
        make_workload(root, args.size, args.methods, args.views)
        runs: dict[str, list[dict]] = {}
        for _ in range(args.repeats):
            for kind in ("ref3dgs", "nvs-3dgs", "reftm", "nvs-nerfstudio"):
                runs.setdefault(kind, []).append(run_worker(kind, root, args.methods))
    n = args.methods * args.views
    lines = [f"## {args.methods} methods x {args.views} views at {args.size}x{args.size} ({n} pairs), "
             f"{args.repeats} repeat(s)", "", f"Machine: {machine()}", "",
             "| pipeline | wall s (best) | views/s | peak RSS MB | speed-up vs reference | max abs diff vs reference |",
             "|---|---:|---:|---:|---:|---|"]
    for ref, ours in (("ref3dgs", "nvs-3dgs"), ("reftm", "nvs-nerfstudio")):
        rb = min(runs[ref], key=lambda r: r["seconds"])
        ob = min(runs[ours], key=lambda r: r["seconds"])
        diffs = {}
        for key, vals in rb["values"].items():
            for metric, v in vals.items():
                diffs[metric] = max(diffs.get(metric, 0.0), abs(v - ob["values"][key][metric]))
        lines.append(f"| {ref} | {rb['seconds']:.2f} | {n / rb['seconds']:.2f} | {rb['maxrss_mb']:.0f} | 1.00 | |")
        lines.append(f"| {ours} | {ob['seconds']:.2f} | {n / ob['seconds']:.2f} | {ob['maxrss_mb']:.0f} | "
                     f"{rb['seconds'] / ob['seconds']:.2f} | " + ", ".join(f"{k} {v:.2e}" for k, v in diffs.items()) + " |")
    peak = matmul_peak()
    lines += ["", f"float32 matmul peak (4096x4096, best of 3): {peak:.1f} GFLOP/s", ""]
    for net, r in lpips_fraction(args.size).items():
        lines.append(f"- LPIPS-{net} features at {args.size}x{args.size}: {r['gflop']:.1f} GFLOP in {r['seconds']:.2f} s = "
                     f"{r['gflops']:.1f} GFLOP/s, {100 * r['gflops'] / peak:.0f}% of the matmul peak")
    text = "\n".join(lines) + "\n"
    print(text)
    if args.out:
        with open(args.out, "a") as f:
            f.write(text + "\n")


if __name__ == "__main__":
    main()
