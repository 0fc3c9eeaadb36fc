"""The main benchmark: nvs-eval against the reference pipelines at 800x800, 1080p and 4K (wall time, peak memory,
largest differences, a float64 column), LPIPS against the float32 GEMM peak per layer, SSIM against memory
bandwidth, peak memory against the number of views, and a per-stage profile."""

from __future__ import annotations

import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from common import _diffs, _fmt, best_of, make_workload, run_worker

HERE = Path(__file__).resolve().parent


def bench_workload(label: str, size, methods: int, views: int, repeats: int, device: str,
                   extras: bool) -> tuple[list[str], Path | None]:
    h, w = (size, size) if isinstance(size, int) else size
    n = methods * views
    tmp = Path(tempfile.mkdtemp(prefix="nvs-bench-"))
    make_workload(tmp, size, methods, views)
    runs: dict[str, list[dict]] = {}
    kinds = ["ref3dgs", "nvs-3dgs", "reftm", "nvs-nerfstudio"]
    for _ in range(repeats):  # alternating, so drift of the machine hits every pipeline alike
        for kind in kinds:
            runs.setdefault(kind, []).append(run_worker(kind, tmp, methods, device))
            print(f"  {label} {kind}: {runs[kind][-1]['seconds']:.1f} s", file=sys.stderr)
    f64 = run_worker("ref-f64", tmp, methods, "cpu")
    best = {k: min(v, key=lambda r: r["seconds"]) for k, v in runs.items()}
    mem = "peak GPU MB" if device == "cuda" else "peak RSS MB"
    lines = [f"### {label}: {methods} methods x {views} views at {w}x{h} ({n} pairs), best of {repeats}", "",
             f"| pipeline | wall s | views/s | {mem} | speed-up vs reference | max abs diff vs reference "
             "(float32) | max abs diff vs float64 |", "|---|---:|---:|---:|---:|---|---|"]
    for ref, ours, ssim64 in (("ref3dgs", "nvs-3dgs", "ssim_3dgs"), ("reftm", "nvs-nerfstudio", "ssim_tm")):
        rb, ob = best[ref], best[ours]
        to64 = {"psnr": "psnr", "ssim": ssim64}
        memv = (lambda r: r["gpu_mb"]) if device == "cuda" else (lambda r: r["maxrss_mb"])
        lines.append(f"| {ref} | {rb['seconds']:.2f} | {n / rb['seconds']:.3f} | {memv(rb):.0f} | 1.00 | | "
                     f"{_fmt({k: v for k, v in _diffs(rb, f64, to64).items() if k in to64})} |")
        lines.append(f"| {ours} | {ob['seconds']:.2f} | {n / ob['seconds']:.3f} | {memv(ob):.0f} | "
                     f"**{rb['seconds'] / ob['seconds']:.2f}** | {_fmt(_diffs(rb, ob))} | "
                     f"{_fmt({k: v for k, v in _diffs(ob, f64, to64).items() if k in to64})} |")
    lines.append("")
    if extras:
        lp = "bf16" if device == "cpu" else "tf32"
        fast = run_worker(f"nvs-3dgs:{lp}", tmp, methods, device)
        d = _diffs(best["nvs-3dgs"], fast)
        lines += [f"Opt-in `--precision {lp}` (nvs-3dgs): {fast['seconds']:.2f} s = "
                  f"{best['ref3dgs']['seconds'] / fast['seconds']:.2f}x the reference and "
                  f"{best['nvs-3dgs']['seconds'] / fast['seconds']:.2f}x exact nvs-eval; error against the exact path: "
                  f"max abs {_fmt(d)} (mean LPIPS of the exact path "
                  f"{np.mean([v['lpips_vgg'] for v in best['nvs-3dgs']['values'].values()]):.4f}).", ""]
    return lines, tmp


def memcpy_bandwidth(mib: int = 512) -> float:
    """GB/s of a ``mib`` MiB float32 copy (bytes read + bytes written), best of 5."""
    import torch

    a = torch.rand(mib << 18)
    b = torch.empty_like(a)
    seconds, _ = best_of(lambda: b.copy_(a), 5)
    return 2 * a.numel() * 4 / seconds / 1e9


def ssim_bandwidth(size: int, n: int = 3) -> dict:
    """nvs-eval's SSIM of n predictions against prepared target moments: seconds and the effective bandwidth over
    the bytes it must touch at least once (the predictions, the target and its two filtered moment maps)."""
    import torch

    from nvs_eval.compute.evaluator import ssim_band_rows
    from nvs_eval.metrics.ssim import SSIM_ZERO, ssim_with_moments, target_moments

    x, y = torch.rand(n, 3, size, size), torch.rand(1, 3, size, size)
    band = ssim_band_rows(size, size, n, "cpu")  # as the evaluator forms it
    with torch.inference_mode():
        mom = target_moments(y, SSIM_ZERO)
        best, _ = best_of(lambda: ssim_with_moments(x, mom, band=band), 3)
    nbytes = (x.numel() + 3 * y.numel()) * 4
    return {"seconds": best, "gbs": nbytes / best / 1e9, "mpx_s": n * size * size / best / 1e6}


def _best_rate(fn, flop: float, reps: int = 5) -> float:
    """GFLOP/s of the fastest of ``reps`` calls (after one warm-up)."""
    return flop / best_of(fn, reps)[0] / 1e9


def float32_peak(sizes: tuple[int, ...] = (2048, 4096), pixels: int = 200) -> dict[str, float]:
    """The machine's float32 matrix-multiply rate, from both GEMM libraries torch uses on the CPU: MKL (``torch.mm``)
    and oneDNN (a 1x1 convolution is a plain GEMM there; it is oneDNN that runs LPIPS's convolutions). On this
    AMD CPU MKL's sgemm is the slower of the two, so a probe of ``torch.mm`` alone is not a ceiling for VGG."""
    import torch
    import torch.nn.functional as F

    out = {}
    with torch.inference_mode():
        for n in sizes:
            a, b = torch.randn(n, n), torch.randn(n, n)
            out[f"MKL sgemm (torch.mm {n}x{n}x{n})"] = _best_rate(lambda: torch.mm(a, b), 2 * n**3)
        x = torch.randn(1, 1024, pixels, pixels).contiguous(memory_format=torch.channels_last)
        w = torch.randn(1024, 1024, 1, 1).contiguous(memory_format=torch.channels_last)
        m = pixels * pixels
        out[f"oneDNN GEMM (1x1 conv, {m}x1024x1024)"] = _best_rate(lambda: F.conv2d(x, w), 2 * m * 1024 * 1024)
    return out


def lpips_fraction(size: int) -> dict:
    """LPIPS-VGG / -Alex feature extraction: GFLOP (of the convolutions), best of 3 seconds, and per layer of the
    backbone the seconds and the GFLOP/s of each convolution (forward hooks around each module)."""
    import torch

    from nvs_eval.metrics.lpips import build_lpips

    res = {}
    for net in ("vgg", "alex"):
        model, _ = build_lpips(net)
        x = torch.rand(1, 3, size, size)
        layers: dict[str, list] = {}
        starts: dict[str, float] = {}

        def pre(name):
            return lambda mod, inp: starts.__setitem__(name, time.perf_counter())

        def post(name):
            def hook(mod, inp, outp):
                dt = time.perf_counter() - starts[name]
                flop = 0.0
                if isinstance(mod, torch.nn.Conv2d):
                    kh, kw = mod.kernel_size
                    flop = 2 * mod.in_channels * kh * kw * outp.numel()
                layers.setdefault(name, [type(mod).__name__, flop, []])[2].append(dt)
            return hook

        mods = [m for s in model.slices for m in s]  # torchvision's `features`, in order
        hs = [m.register_forward_pre_hook(pre(f"features[{j}]")) for j, m in enumerate(mods)]
        hs += [m.register_forward_hook(post(f"features[{j}]")) for j, m in enumerate(mods)]
        with torch.inference_mode():
            model.features(x)
            for _ in range(3):
                model.features(x)
        for h in hs:
            h.remove()
        with torch.inference_mode():
            best, _ = best_of(lambda: model.features(x), 3)
        flop = sum(v[1] for v in layers.values())
        res[net] = {"gflop": flop / 1e9, "seconds": best, "gflops": flop / 1e9 / best,
                    "layers": [(k, v[0], v[1] / 1e9, min(v[2])) for k, v in layers.items()]}
    return res


def profile_views(root: Path, methods: int, views: int = 3) -> list[tuple[str, float]]:
    """Where nvs-eval's time goes per view (3dgs protocol, one thread of decode, sequential stages)."""
    import torch

    from nvs_eval.compute.evaluator import Evaluator
    from nvs_eval.conventions.protocols import get_protocol
    from nvs_eval.data.images import read_image
    from nvs_eval.metrics.ssim import ssim_with_moments, target_moments
    from nvs_eval.util.hashing import sha256_file

    ev = Evaluator(get_protocol("3dgs"), device="cpu")
    model = ev.adapters["lpips"].by_metric["lpips_vgg"]
    stages: dict[str, float] = {}

    def timed(name, fn):
        t = time.perf_counter()
        r = fn()
        stages[name] = stages.get(name, 0.0) + time.perf_counter() - t
        return r

    for f in sorted((root / "gt").iterdir())[:views]:
        files = [f] + [root / f"m{m}" / f.name for m in range(methods)]
        timed("sha256 of the files", lambda: [sha256_file(p) for p in files])
        imgs = timed("decode PNG to float32", lambda: [read_image(p) for p in files])
        gt = ev.to_tensor(imgs[0])
        preds = torch.cat([ev.to_tensor(i) for i in imgs[1:]])
        with torch.inference_mode():
            mom = timed("SSIM target moments (once per view)",
                        lambda: target_moments(gt, ev.protocol.ssim, band=ev.policy.ssim_band(gt, 1)))
            band = ev.policy.ssim_band(preds, preds.shape[0])  # as the evaluator forms them
            timed("SSIM of the renders", lambda: ssim_with_moments(preds, mom, band=band))
            timed("PSNR", lambda: (preds - gt).square().flatten(1).mean(1))
            ft = timed("LPIPS-vgg features of the ground truth (once per view)", lambda: model.features(gt))
            fp = timed("LPIPS-vgg features of the renders", lambda: model.features(preds))
            timed("LPIPS distance from features", lambda: model.distance(fp, ft))
    return [(k, v / views) for k, v in stages.items()]


def _peak_lines(args) -> list[str]:
    """GEMM peak probes around the LPIPS timing, LPIPS as a fraction of the peak, and VGG per layer (the smoke run
    probes with small operands: it checks the harness, and its figures are not results)."""
    probe = ((256,), 32) if args.smoke else ((2048, 4096), 200)
    before, bw = float32_peak(*probe), memcpy_bandwidth(16 if args.smoke else 512)
    lp = lpips_fraction(args.size)
    after = float32_peak(*probe)  # again after LPIPS, so drift of this shared machine shows
    probes = {k: max(before[k], after[k]) for k in before}
    peak = max(probes.values())
    lines = ["float32 GEMM probes (best of 5 each, measured before and after the LPIPS timing, the higher "
             "kept): " + "; ".join(f"{k}: {before[k]:.0f} / {after[k]:.0f} GFLOP/s" for k in probes)
             + f". Peak used below: **{peak:.0f} GFLOP/s**. memcpy bandwidth ({16 if args.smoke else 512} MiB, "
             f"read + write, best of 5): {bw:.1f} GB/s", ""]
    for net, r in lp.items():
        conv_s = sum(t for _, kind, _, t in r["layers"] if kind == "Conv2d")
        lines.append(f"- LPIPS-{net} features at {args.size}x{args.size}: {r['gflop']:.1f} GFLOP in "
                     f"{r['seconds']:.2f} s (best of 3) = {r['gflops']:.1f} GFLOP/s, "
                     f"**{100 * r['gflops'] / peak:.0f}%**"
                     f" of the GEMM peak; its convolutions alone {r['gflop'] / conv_s:.0f} GFLOP/s "
                     f"({100 * r['gflop'] / conv_s / peak:.0f}%), "
                     f"{100 * conv_s / sum(t for *_, t in r['layers']):.0f}%"
                     " of the backbone's time")
    lines += ["", f"LPIPS-vgg backbone per layer at {args.size}x{args.size} (forward hooks, best of 3):", "",
              "| layer | module | GFLOP | ms | GFLOP/s | % of GEMM peak |", "|---|---|---:|---:|---:|---:|"]
    for k, kind, gf, t in lp["vgg"]["layers"]:
        rate = f"{gf / t:.0f} | {100 * gf / t / peak:.0f}%" if gf else " | "
        lines.append(f"| {k} | {kind} | {gf:.1f} | {1e3 * t:.1f} | {rate} |")
    sb = ssim_bandwidth(args.size)
    return lines + ["", f"- SSIM (3 renders against prepared moments, in the evaluator's CPU bands) at "
                    f"{args.size}x{args.size}: "
                    f"{sb['seconds'] * 1e3:.1f} ms = {sb['mpx_s']:.0f} Mpx/s; over the bytes it must read once that "
                    f"is {sb['gbs']:.1f} GB/s, **{100 * sb['gbs'] / bw:.0f}%** of the memcpy bandwidth", ""]


def _memory_lines(args) -> list[str]:
    """Peak memory against the number of views: the same images, 4x as many (the smoke run measures one count: it
    checks the harness)."""

    small = Path(tempfile.mkdtemp(prefix="nvs-bench-mem-"))
    mem = []
    for v in (args.views,) if args.smoke else (max(2, args.views // 4), args.views):
        shutil.rmtree(small, ignore_errors=True)
        make_workload(small, min(args.size, 256), args.methods, v)
        mem.append((v, run_worker("nvs-3dgs", small, args.methods)["maxrss_mb"],
                    run_worker("ref3dgs", small, args.methods)["maxrss_mb"]))
    shutil.rmtree(small)
    return [f"Peak RSS against the number of views ({args.methods} methods at {min(args.size, 256)}px): "
            + "; ".join(f"{v} views: nvs-eval {a:.0f} MB, 3DGS recipe {b:.0f} MB" for v, a, b in mem), ""]


def _profile_lines(root: Path, methods: int) -> list[str]:
    return (["Per-view profile of nvs-eval's stages (3dgs protocol, main workload, sequential, mean of 3 views):",
             "", "| stage | s per view |", "|---|---:|"]
            + [f"| {k} | {v:.3f} |" for k, v in profile_views(root, methods)] + [""])
