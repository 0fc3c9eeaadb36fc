"""The GPU benchmark: nvs-eval's exact float32 path against the 3DGS ``metrics.py`` recipe on one CUDA device.

Pipelines (each in its own subprocess, interleaved size by size; ``run.py``'s workers do the scoring):

  * ``ref3dgs``: the recipe (``run.py``'s ``ref3dgs``: per-image loop, PIL, 2-D SSIM, the ``lpips`` package's
    VGG fed [0, 1]) with TF32 off, the precision nvs-eval's exact path computes at;
  * ``ref3dgs@defaults``: the same recipe at PyTorch's defaults, where cuDNN convolutions may use TF32;
  * ``nvs-3dgs``: ``score_folders`` under the ``3dgs`` protocol from the files, exact float32 (TF32 off);
  * ``nvs-3dgs:tf32`` / ``:bf16`` / ``:fp16``: the opt-in precisions, with their error against the exact path.

Each worker scores three workloads of one size in one warm process: one view (warm-up: cuDNN's set-up, weights
on the device), a small set and a large one. The marginal cost per pair is the difference of the two timed sets
divided by the difference of their pair counts, so start-up cancels; the whole command's wall time (the
subprocess, imports included) is printed beside it. Then LPIPS-VGG per layer with CUDA events against the float32
peak (the datasheet's and a measured float32 GEMM's), and a per-stage profile of one view.

Usage:  python benchmarks/gpu.py [--quick] [--out FILE.md]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import common  # noqa: E402  (benchmarks/common.py: workloads and the pipelines' workers)

# (label, (h, w), views in the small and the large timed set); 3 methods each
SIZES = [("800x800", (800, 800), 8, 48), ("1080p", (1080, 1920), 4, 12), ("4K", (2160, 3840), 1, 3)]
UHD_SHORT = [("4K", (2160, 3840), 1, 2)]  # `--sizes 4K-short`: what a short device lease affords
QUICK = [("800x800", (800, 800), 4, 12), ("1080p", (1080, 1920), 1, 3)]
SMOKE = [("smoke", (64, 96), 1, 2)]  # `--smoke --device cpu`: checks the harness on a machine without a GPU
DEVICE = "cuda"
METHODS = 3
H200_FP32_TFLOPS = 66.9  # the datasheet's FP32 (non-tensor) rate of the H100/H200 SXM


def _sync() -> None:
    import torch

    if DEVICE == "cuda":
        torch.cuda.synchronize()


def worker(kind: str, roots: list[str], methods: int) -> dict:
    import torch

    base, _, setting = kind.partition("@")
    if base.startswith("ref"):  # the recipe runs at whatever the process allows
        torch.backends.cudnn.allow_tf32 = setting == "defaults"
        torch.backends.cuda.matmul.allow_tf32 = False  # PyTorch's default for matmuls
    out = []
    for root in roots:
        if DEVICE == "cuda":
            torch.cuda.reset_peak_memory_stats()
        r = common.worker(base, Path(root), methods, DEVICE)
        out.append({"seconds": r["seconds"], "gpu_mb": r["gpu_mb"] or 0.0, "values": r["values"]})
    return {"kind": kind, "runs": out}


def run_worker(kind: str, roots: list[Path], methods: int) -> dict:
    t = time.perf_counter()
    r = subprocess.run([sys.executable, __file__, "--worker", kind, "--roots", ",".join(map(str, roots)),
                        "--methods", str(methods), "--device", DEVICE], capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError(f"{kind} failed: {r.stderr[-3000:]}")
    res = json.loads(r.stdout.strip().splitlines()[-1])
    res["whole"] = time.perf_counter() - t
    return res


def _max_diff(a: dict, b: dict) -> dict[str, float]:
    out: dict[str, float] = {}
    for key, vals in a.items():
        for m, v in vals.items():
            if m in b.get(key, {}):
                out[m] = max(out.get(m, 0.0), abs(v - b[key][m]))
    return out


def bench_size(label: str, size: tuple[int, int], small: int, large: int, kinds: list[str]) -> tuple[list[str], dict]:
    tmp = Path(tempfile.mkdtemp(prefix=f"nvs-gpu-{label}-"))
    roots = []
    for name, views in (("warm", 1), ("small", small), ("large", large)):
        common.make_workload(tmp / name, size, METHODS, views)
        roots.append(tmp / name)
    res = {}
    for kind in kinds:
        res[kind] = run_worker(kind, roots, METHODS)
        print(f"  {label} {kind}: whole {res[kind]['whole']:.1f} s", file=sys.stderr, flush=True)
    dp = METHODS * (large - small)
    per = {k: (r["runs"][2]["seconds"] - r["runs"][1]["seconds"]) / dp for k, r in res.items()}
    h, w = size
    lines = [f"### {label}: {METHODS} methods x {large} views at {w}x{h} ({METHODS * large} pairs; marginal cost "
             f"from {METHODS * small} and {METHODS * large} pairs in one warm process)", "",
             "| pipeline | whole command s | large set s | marginal ms per pair | pairs/s | peak GPU MB | "
             "x recipe, TF32 off (per pair) | x recipe, PyTorch defaults (per pair) | max abs diff vs recipe |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---|"]
    ref = res["ref3dgs"]["runs"][2]["values"]
    for k, r in res.items():
        vs_off = f"{per['ref3dgs'] / per[k]:.2f}"
        vs_def = f"{per['ref3dgs@defaults'] / per[k]:.2f}" if "ref3dgs@defaults" in per else "not run"
        bold = (lambda s: f"**{s}**") if k.startswith("nvs") else (lambda s: s)
        diff = _max_diff(r["runs"][2]["values"], ref) if k != "ref3dgs" else {}
        lines.append(f"| {k} | {r['whole']:.1f} | {r['runs'][2]['seconds']:.2f} | {1e3 * per[k]:.1f} | "
                     f"{1 / per[k]:.1f} | {max(x['gpu_mb'] for x in r['runs']):.0f} | {bold(vs_off)} | "
                     f"{bold(vs_def)} | {', '.join(f'{m} {v:.1e}' for m, v in diff.items())} |")
    lines.append("")
    return lines, {"tmp": tmp, "res": res, "per": per}


def precision_lines(tmp: Path, exact: dict) -> list[str]:
    """The opt-in precisions on the 800x800 workload beside the exact path (its run above): time and error."""
    roots = [tmp / "warm", tmp / "small", tmp / "large"]
    ex = exact["runs"][2]
    lines = ["Opt-in precisions (800x800 large set, `score_folders`, same process shape):", "",
             "| precision | large set s | x exact | max abs error vs exact (psnr, ssim, lpips_vgg) |",
             "|---|---:|---:|---|"]
    lines.append(f"| float32 (exact) | {ex['seconds']:.2f} | 1.00 | |")
    for p in ("tf32", "bf16", "fp16"):
        r = run_worker(f"nvs-3dgs:{p}", roots, METHODS)["runs"][2]
        d = _max_diff(r["values"], ex["values"])
        lines.append(f"| {p} | {r['seconds']:.2f} | {ex['seconds'] / r['seconds']:.2f} | "
                     f"{', '.join(f'{m} {v:.1e}' for m, v in d.items())} |")
    mean = np.mean([v["lpips_vgg"] for v in ex["values"].values()])
    return lines + ["", f"(Mean LPIPS-VGG of the exact path: {mean:.4f}.)", ""]


def events_ms(fn, reps: int = 5, warm: int = 2) -> float:
    """Median milliseconds of ``fn`` over ``reps`` calls, by CUDA events, after ``warm`` calls."""
    import torch

    for _ in range(warm):
        fn()
    times = []
    for _ in range(reps):
        a, b = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        a.record()
        fn()
        b.record()
        b.synchronize()
        times.append(a.elapsed_time(b))
    return statistics.median(times)


def gemm_tflops() -> float:
    """A float32 8192^3 matrix product with TF32 off: the measured float32 ceiling (TFLOP/s, median of 5)."""
    import torch

    torch.backends.cuda.matmul.allow_tf32 = False
    a, b = torch.randn(8192, 8192, device="cuda"), torch.randn(8192, 8192, device="cuda")
    return 2 * 8192**3 / events_ms(lambda: a @ b) / 1e9


def layer_lines(image: np.ndarray) -> list[str]:
    """LPIPS-VGG (exact float32, as the evaluator runs it) per layer with CUDA events, at 800x800, batch 1."""
    import torch

    from nvs_eval.metrics.lpips import build_lpips

    peak = gemm_tflops()
    model, _ = build_lpips("vgg", "[0,1]", device="cuda")
    torch.backends.cudnn.allow_tf32 = False
    x = torch.from_numpy(image).permute(2, 0, 1)[None].contiguous().cuda()
    mods = [m for s in model.slices for m in s]
    ev: dict[int, list] = {}

    def pre(j):
        return lambda mod, inp: ev.setdefault(j, []).append([torch.cuda.Event(enable_timing=True)]) or \
            ev[j][-1][0].record()

    def post(j):
        def hook(mod, inp, outp):
            e = torch.cuda.Event(enable_timing=True)
            e.record()
            ev[j][-1].append(e)
        return hook

    with torch.inference_mode():
        whole = events_ms(lambda: model.features(x))
        hs = [m.register_forward_pre_hook(pre(j)) for j, m in enumerate(mods)]
        hs += [m.register_forward_hook(post(j)) for j, m in enumerate(mods)]
        shapes = {}
        for _ in range(5):
            h = x
            for j, m in enumerate(mods):  # the backbone alone, module by module, as LPIPS runs it
                h = m(h)
                shapes[j] = tuple(h.shape)
        torch.cuda.synchronize()
        for hk in hs:
            hk.remove()
    flop = {j: (2 * m.in_channels * m.kernel_size[0] * m.kernel_size[1] * np.prod(shapes[j]))
            for j, m in enumerate(mods) if isinstance(m, torch.nn.Conv2d)}
    ms = {j: statistics.median(a.elapsed_time(b) for a, b in ev[j][1:]) for j in flop}
    total_flop = sum(flop.values())
    lines = [f"LPIPS-VGG (exact float32, NCHW, batch 1) at {x.shape[-1]}x{x.shape[-2]}, per layer with CUDA events "
             f"(median of 5). float32 peaks: the datasheet's {H200_FP32_TFLOPS} TFLOP/s; a float32 8192^3 GEMM "
             f"measured here (TF32 off) {peak:.1f} TFLOP/s.", "",
             "| layer | GFLOP | ms | TFLOP/s | % of datasheet FP32 | % of measured GEMM |",
             "|---|---:|---:|---:|---:|---:|"]
    for j in flop:
        r = flop[j] / ms[j] / 1e9
        lines.append(f"| features[{j}] {mods[j].in_channels}->{mods[j].out_channels} | {flop[j] / 1e9:.1f} | "
                     f"{ms[j]:.2f} | {r:.1f} | {100 * r / H200_FP32_TFLOPS:.0f}% | {100 * r / peak:.0f}% |")
    conv_ms = sum(ms.values())
    r_conv, r_whole = total_flop / conv_ms / 1e9, total_flop / whole / 1e9
    lines += [f"| **convolutions together** | {total_flop / 1e9:.1f} | {conv_ms:.2f} | **{r_conv:.1f}** | "
              f"**{100 * r_conv / H200_FP32_TFLOPS:.0f}%** | **{100 * r_conv / peak:.0f}%** |",
              f"| **whole LPIPS features (ReLUs, pools, the five normalisations)** | {total_flop / 1e9:.1f} | "
              f"{whole:.2f} | **{r_whole:.1f}** | **{100 * r_whole / H200_FP32_TFLOPS:.0f}%** | "
              f"**{100 * r_whole / peak:.0f}%** |", ""]
    return lines


def profile_lines(root: Path, views: int = 3) -> list[str]:
    """Where one view's time goes, stage by stage, synchronised after each (sequential: the runner overlaps
    decoding and hashing with the device). The 3dgs protocol's metrics plus DISTS and FLIP, 3 renders per view;
    LPIPS is split into the backbone alone and the rest (the five normalisations and the distance), and SSIM's
    separable filter is timed as it runs (one depthwise convolution over every plane) and as a batch of
    single-plane convolutions, the alternative."""
    import torch
    import torch.nn.functional as F

    from nvs_eval.compute.evaluator import Evaluator
    from nvs_eval.conventions.protocols import get_protocol
    from nvs_eval.data.images import read_image
    from nvs_eval.metrics.ssim import window_1d
    from nvs_eval.metrics.validate import check_image_batch
    from nvs_eval.results.store import ResultsStore, Row
    from nvs_eval.util.hashing import sha256_file

    ev = Evaluator(get_protocol("3dgs"), ("psnr", "ssim", "lpips_vgg", "dists", "flip"), device=DEVICE)
    model = ev.adapters["lpips"].by_metric["lpips_vgg"]
    stages: dict[str, float] = {}
    store = ResultsStore(Path(tempfile.mkdtemp()) / "results.sqlite")

    def timed(name, fn):
        _sync()
        t = time.perf_counter()
        r = fn()
        _sync()
        stages[name] = stages.get(name, 0.0) + time.perf_counter() - t
        return r

    def backbone(x):  # with TF32 off, as the evaluator runs it (PyTorch's default would allow it in cuDNN)
        with torch.inference_mode(), ev._tf32():
            for i in range(x.shape[0]):
                h = (x[i : i + 1] - model.shift) / model.scale
                for sl in model.slices:
                    h = sl(h)

    win = window_1d(ev.protocol.ssim, torch.float32, ev.device)

    def filt(x, grouped: bool):
        n, (h, w) = x.shape[0] * x.shape[1], x.shape[-2:]
        with torch.inference_mode():
            for _ in range(3):  # x, x^2, x*y: the three maps SSIM filters per render
                if grouped:
                    k = win.view(1, 1, -1, 1).expand(n, 1, -1, 1)
                    y = F.conv2d(x.reshape(1, n, h, w), k, groups=n)
                    F.conv2d(y, k.transpose(2, 3), groups=n)
                else:
                    k = win.view(1, 1, -1, 1)
                    y = F.conv2d(x.reshape(n, 1, h, w), k)
                    F.conv2d(y, k.transpose(2, 3))

    files_all = sorted((root / "gt").iterdir())
    for k, f in enumerate([files_all[0]] + files_all[:views]):  # the first is a warm-up, not counted
        if k == 1:
            stages.clear()
        files = [f] + [root / f"m{m}" / f.name for m in range(METHODS)]
        timed("sha256 of the files", lambda: [sha256_file(p) for p in files])
        imgs = timed("decode PNG (8-bit, kept as bytes)", lambda: [read_image(p, raw8=True) for p in files])
        gt, preds = timed("upload and convert on the device",
                          lambda: (ev.to_tensor(imgs[0]), torch.cat([ev.to_tensor(i) for i in imgs[1:]])))
        timed("validation (one reduction per batch)",
              lambda: (check_image_batch(gt, "t"), check_image_batch(preds, "p")))
        target = timed("prepare the view (SSIM moments, LPIPS and DISTS features)", lambda: ev.prepare(gt))
        vals = {}
        for m in ("psnr", "ssim", "lpips_vgg", "dists", "flip"):
            vals.update(timed(f"{m} of the renders", lambda m=m: ev.score(preds, target, metrics=(m,))))
        timed("  within lpips_vgg: the VGG backbone alone, one render at a time", lambda: backbone(preds))
        timed("  within ssim: the separable filter as run (depthwise over every plane)", lambda: filt(preds, True))
        timed("  alternative: the same filter as single-plane convolutions", lambda: filt(preds, False))
        rows = [Row("d", f"s{k}", f"m{j}", f.stem, m, "3dgs", float(v[j]), "a" * 64, "b" * 64, "r", "g", "k", "0",
                    "w") for m, v in vals.items() for j in range(METHODS)]
        timed("store writes (one transaction)", lambda: store.put(rows))
    store.close()
    h, w = imgs[0].shape[:2]
    return ([f"Per-view stages, one {w}x{h} view with {METHODS} renders, each stage synchronised (sequential; the "
             f"runner overlaps decoding and hashing with the device), mean of {views} views (indented rows are "
             "parts of the row above, timed again on their own):", "",
             "| stage | ms per view |", "|---|---:|"]
            + [f"| {k} | {1e3 * v / views:.1f} |" for k, v in stages.items()] + [""])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--smoke", action="store_true")
    ap.add_argument("--device", default="cuda", choices=["cuda", "cpu"])
    ap.add_argument("--out")
    ap.add_argument("--worker")
    ap.add_argument("--roots")
    ap.add_argument("--methods", type=int, default=METHODS)
    ap.add_argument("--sizes", default=None, help="comma-separated size labels to run (800x800, 1080p, 4K)")
    ap.add_argument("--skip", default="", help="comma-separated sections to skip: sizes,precisions,layers,profile")
    args = ap.parse_args()
    global DEVICE
    DEVICE = args.device
    if args.worker:
        print(json.dumps(worker(args.worker, args.roots.split(","), args.methods)))
        return

    def flush(lines: list[str]) -> None:
        print("\n".join(lines), flush=True)
        if args.out:
            with open(args.out, "a") as f:
                f.write("\n".join(lines) + "\n")

    flush([f"## {time.strftime('%Y-%m-%d %H:%M')}: `python benchmarks/gpu.py {' '.join(sys.argv[1:])}`", "",
           f"Machine: {common.machine(DEVICE)}", ""])
    skip = set(args.skip.split(","))
    if "profile" not in skip:  # the cheap, most telling sections first
        for size in ([(64, 96)] if args.smoke else [(1080, 1920), (800, 800)]):
            root = Path(tempfile.mkdtemp())
            common.make_workload(root, size, METHODS, 2 if args.smoke else 4)
            flush(profile_lines(root, 1 if args.smoke else 3))
    if "layers" not in skip and DEVICE == "cuda":
        from skimage import data, transform

        img = transform.resize(data.astronaut()[..., :3], (800, 800), anti_aliasing=True).astype(np.float32)
        flush(layer_lines(img))
    first = None
    sizes = SMOKE if args.smoke else QUICK if args.quick else SIZES
    if args.sizes:
        sizes = [s for s in SIZES if s[0] in args.sizes.split(",")] + (UHD_SHORT if "4K-short" in args.sizes else [])
    if "sizes" not in skip:
        for label, size, small, large in sizes:
            kinds = ["ref3dgs", "nvs-3dgs"] + (["ref3dgs@defaults"] if label != "4K" else [])
            lines, info = bench_size(label, size, small, large, kinds)
            flush(lines)
            first = first or (info if label == "800x800" else None)
    if first is not None and "precisions" not in skip and DEVICE == "cuda":
        flush(precision_lines(first["tmp"], first["res"]["nvs-3dgs"]))


if __name__ == "__main__":
    main()
