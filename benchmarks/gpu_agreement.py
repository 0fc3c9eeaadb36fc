"""CPU against CUDA: every metric of every protocol on real photographs, and TF32 kept out of the exact path.

Run by ``benchmarks/gpu_check.sh``; prints a Markdown section and exits 1 when a float32 CUDA value is further from
the CPU's than the tolerance (1e-5 for PSNR and SSIM, 1e-4 for LPIPS).

PyTorch allows TF32 in cuDNN convolutions by default (``torch.backends.cudnn.allow_tf32 = True``), which on Ampere
and later GPUs would make LPIPS's float32 convolutions inexact. The evaluator turns TF32 off for the duration of
every call unless ``precision="tf32"`` is asked for; this script checks the flags as the convolutions see them.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from nvs_eval.compute.evaluator import Evaluator  # noqa: E402
from nvs_eval.conventions.protocols import PROTOCOLS  # noqa: E402
from nvs_eval.conventions.registry import METRICS  # noqa: E402
from nvs_eval.metrics.weights import dists_cached_path, locate_backbone  # noqa: E402

TOLERANCE = {"psnr": 1e-5, "ssim": 1e-5, "lpips": 1e-4, "dists": 1e-4}


def photographs(size=(384, 512)) -> list[tuple[str, np.ndarray, np.ndarray]]:
    """(name, render, ground truth) float32 H x W x 3 from scikit-image's photographs with NVS-like damage."""
    from scipy.ndimage import gaussian_filter
    from skimage import data

    rng = np.random.default_rng(0)
    out = []
    for name in ("astronaut", "coffee", "chelsea"):
        img = getattr(data, name)()[..., :3].astype(np.float32) / 255
        gt = np.ascontiguousarray(img[: size[0], : size[1]])  # the photographs are at least 300 x 451
        renders = {"blur": gaussian_filter(gt, (1.2, 1.2, 0)),
                   "noise": np.clip(gt + rng.normal(0, 0.03, gt.shape), 0, 1),
                   "shift": np.roll(gt, (1, 2), axis=(0, 1))}
        out += [(f"{name}-{k}", r.astype(np.float32), gt) for k, r in renders.items()]
    return out


def scores(protocol, metrics, device, precision, pairs):
    ev = Evaluator(protocol, metrics, device, precision=precision)
    flags = []
    for model in ev.adapters["lpips"].by_metric.values():  # what the convolutions see, recorded as they run
        model.slices[0][0].register_forward_pre_hook(
            lambda *_: flags.append((torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32)))
    out = {m: [] for m in ev.metrics}
    for _, render, gt in pairs:
        target = ev.prepare(ev.to_tensor(gt))
        values = ev.score(ev.to_tensor(render), target)
        for m in ev.metrics:
            out[m].append(float(values[m][0]))
    return {m: np.array(v) for m, v in out.items()}, flags


def main() -> int:
    if not torch.cuda.is_available():
        print("no CUDA device: nothing to compare")
        return 3
    default_tf32 = torch.backends.cudnn.allow_tf32
    pairs = photographs()
    nets = [m for m, s in METRICS.items()  # the plain family (the masked one needs masks; colour correction is
            if s.kind == "lpips" and s.family == "plain" and locate_backbone(s.lpips_net) is not None]  # exact)
    if dists_cached_path().is_file() and locate_backbone("vgg") is not None:
        nets.append("dists")  # DISTS runs on the device too (FLIP does not: NVIDIA's package is CPU code)
    lines = [f"CPU against CUDA ({torch.cuda.get_device_name()}, torch {torch.__version__}), {len(pairs)} pairs of "
             f"{pairs[0][2].shape[1]}x{pairs[0][2].shape[0]} from scikit-image's photographs (blur, noise, shift). "
             f"PyTorch's default here: `torch.backends.cudnn.allow_tf32 = {default_tf32}`.", "",
             "| protocol | metric | largest \\|CPU - CUDA\\| (float32) | tolerance | within | with the tf32 opt-in |",
             "|---|---|---:|---:|---|---:|"]
    failures = 0
    for name, protocol in PROTOCOLS.items():
        metrics = tuple(dict.fromkeys([*protocol.metrics, *nets]))
        metrics = tuple(m for m in metrics if METRICS[m].kind not in ("lpips", "dists") or m in nets)
        cpu, _ = scores(protocol, metrics, "cpu", "float32", pairs)
        cuda, flags = scores(protocol, metrics, "cuda", "float32", pairs)
        tf32, tf32_flags = scores(protocol, metrics, "cuda", "tf32", pairs)
        if flags and any(any(f) for f in flags):
            print(f"{name}: TF32 was ON inside the exact float32 path: {set(flags)}", file=sys.stderr)
            failures += 1
        if tf32_flags and not all(all(f) for f in tf32_flags):
            print(f"{name}: the tf32 opt-in did not turn TF32 on: {set(tf32_flags)}", file=sys.stderr)
            failures += 1
        for m in metrics:
            d = float(np.max(np.abs(cpu[m] - cuda[m])))
            t = float(np.max(np.abs(cpu[m] - tf32[m])))
            tol = TOLERANCE[METRICS[m].kind]
            ok = d <= tol
            failures += not ok
            lines.append(f"| {name} | {m} | {d:.2e} | {tol:.0e} | {'yes' if ok else '**no**'} | {t:.2e} |")
    lines += ["", "TF32 flags as the LPIPS convolutions saw them: off in every float32 call, on in every tf32 call"
              + (" (checked)." if not failures else " (see the errors above).")]
    print("\n".join(lines))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
