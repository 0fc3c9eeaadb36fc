"""Benchmark harness: nvs-eval against the reference pipelines, in one run, interleaved.

Pipelines (each runs in its own subprocess so its peak RSS is its own; they alternate so machine drift cancels):

  a) ``ref3dgs``: the 3DGS ``metrics.py`` recipe: per-image loop, PIL + ``to_tensor``, 2-D 11x11 convolution SSIM with
     zero padding (``utils/loss_utils.py``), PSNR, LPIPS-VGG of the ``lpips`` package fed [0, 1] unmapped.
  b) ``reftm``: nerfstudio ``ns-eval`` style: torchmetrics functional SSIM and PSNR per image, LPIPS-alex with
     ``normalize=True``. torchmetrics' LPIPS class downloads torchvision's backbone at construction (impossible
     offline), so the ``lpips`` package's network, which torchmetrics wraps, is used with the same weights.
  c) ``nvs-eval`` under the matching protocol (``3dgs`` against a, ``nerfstudio`` against b), end to end from files.

Also, outside the timed runs: a float64 evaluation of both recipes' PSNR and SSIM (the exact value each float32
pipeline approximates), nvs-eval with the opt-in ``--precision bf16`` and its error against the exact path, peak
memory for 4x more views, the float32 GEMM peak (MKL and oneDNN) and memcpy bandwidth, LPIPS GFLOP/s as a
fraction of that peak (and per layer), SSIM throughput as a fraction of that bandwidth, and a per-stage profile of
nvs-eval's view loop.

Usage:  python benchmarks/run.py [--size 800] [--methods 3] [--views 24] [--hd-views 4] [--uhd-views 1]
                                 [--repeats 1] [--device cpu|cuda] [--out benchmarks/RESULTS.md]
        python benchmarks/run.py --smoke          # a few small views (what CI runs)
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
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
        from nvs_eval.conventions.protocols import get_protocol
        from nvs_eval.evaluate.evaluator import Evaluator

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
    r = subprocess.run([sys.executable, __file__, "--worker", kind, "--data", str(root), "--methods", str(methods),
                        "--device", device], capture_output=True, text=True)
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


def memcpy_bandwidth() -> float:
    """GB/s of a 512 MiB float32 copy (bytes read + bytes written), best of 5."""
    import torch

    a = torch.rand(128 << 20)
    b = torch.empty_like(a)
    seconds, _ = best_of(lambda: b.copy_(a), 5)
    return 2 * a.numel() * 4 / seconds / 1e9


def ssim_bandwidth(size: int, n: int = 3) -> dict:
    """nvs-eval's SSIM of n predictions against prepared target moments: seconds and the effective bandwidth over
    the bytes it must touch at least once (the predictions, the target and its two filtered moment maps)."""
    import torch

    from nvs_eval.evaluate.evaluator import ssim_band_rows
    from nvs_eval.metrics.ssim import SSIM_ZERO, ssim_with_moments, target_moments

    x, y = torch.rand(n, 3, size, size), torch.rand(1, 3, size, size)
    band = ssim_band_rows(size, size, n, "cpu")  # as the evaluator forms it
    with torch.inference_mode():
        mom = target_moments(y, SSIM_ZERO)
        best, _ = best_of(lambda: ssim_with_moments(x, mom, band=band), 3)
    nbytes = (x.numel() + 3 * y.numel()) * 4
    return {"seconds": best, "gbs": nbytes / best / 1e9, "mpx_s": n * size * size / best / 1e6}


def family_costs(size: int, n: int = 3, device: str = "cpu") -> list[str]:
    """Seconds per render of every metric family on one prepared view (best of 3), beside plain LPIPS-vgg: each
    metric alone, then the colour-corrected ones together (they share one colour correction per render)."""
    import numpy as np
    import torch
    from scipy.ndimage import gaussian_filter
    from skimage import data

    from nvs_eval.conventions.protocols import get_protocol
    from nvs_eval.conventions.registry import METRICS
    from nvs_eval.evaluate.evaluator import Evaluator

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
    ref = _reference_dists(ev.dists, ev.device)
    if ref is not None:  # the authors' DISTS, as its README calls it: both images through the network per pair
        with torch.no_grad():
            t = best_of(lambda: [ref(batch[i : i + 1], target.image) for i in range(n)], 3)[0] / n
        lines += ["", f"The authors' DISTS (`DISTS_pt.DISTS()(render, gt)`, both images through VGG per call) takes "
                      f"{t:.3f} s per render here: nvs-eval's `dists` ({cost['dists']:.3f} s, ground-truth features "
                      f"prepared once per view) is {t / cost['dists']:.2f}x faster."]
    return lines + [""]


def explain_cost(views: int, size: tuple[int, int] = (520, 779), device: str = "cpu") -> list[str]:
    """`nvs-eval explain`'s whole search against one `score --protocol nvs-eval` with every LPIPS network on this
    machine, on the same views (8-bit PNGs: crops of scikit-image photographs, the renders blurred and noisy)."""
    import numpy as np
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


def stats_cost(scenes: int = 9, views: int = 200, methods: int = 10, runs: int = 3) -> list[str]:
    """The statistics of a large synthetic store: every step a report runs, timed once each (seconds)."""
    import numpy as np
    import pandas as pd

    from nvs_eval.report.table import build_tables
    from nvs_eval.results.aggregate import dataset_summary, run_key, split_runs
    from nvs_eval.results.stats import bootstrap_ci, pairwise

    rng = np.random.default_rng(0)
    difficulty = rng.normal(0, 1.5, (scenes, views)) + np.arange(scenes)[:, None]
    rows = []
    for m in range(methods):
        for r in range(runs):
            vals = 25 + 0.1 * m + difficulty + rng.normal(0, 0.3, (scenes, views))
            for s_ in range(scenes):
                rows += [{"dataset": "d", "scene": f"s{s_}", "method": run_key(f"m{m}", f"r{r}"), "view": f"{v:03d}",
                          "psnr": float(vals[s_, v]), "ssim": float(0.8 + vals[s_, v] / 1000)} for v in range(views)]
    per_view = pd.DataFrame(rows)
    averaged = split_runs(per_view).groupby(["dataset", "scene", "method", "view"], as_index=False)[["psnr"]].mean()
    steps = {}

    def timed(name, fn):
        t = time.perf_counter()
        fn()
        steps[name] = time.perf_counter() - t

    timed("mean ± std over runs, all metrics (dataset_summary)", lambda: dataset_summary(per_view))
    timed(f"95% two-level bootstrap CI, {methods} methods at once, 10,000 resamples (one metric)",
          lambda: bootstrap_ci(averaged, "psnr"))
    timed(f"all {methods * (methods - 1) // 2} paired tests + bootstrap CIs + Holm (one metric)",
          lambda: pairwise(averaged, "psnr"))
    timed("the report's tables (2 metrics: ± over runs, † significance vs the best)",
          lambda: build_tables(per_view, "nvs-eval", ["psnr", "ssim"]))
    n = len(per_view)
    return [f"Statistics of a synthetic store: {scenes} scenes x {views} views x {methods} methods x {runs} runs "
            f"({n:,} per-view rows per metric), cpu, one process:", "",
            "| step | s |", "|---|---:|"] + [f"| {k} | {v:.2f} |" for k, v in steps.items()] + [""]


def distributed_cost(views: int = 16, size: int = 512, merge_rows: int = 1_000_000) -> list[str]:
    """torchrun on this machine: 1 process x 2 threads, 1 x 1, and 2 ranks x 1 thread on the same benchmark
    (real processes, gloo); then the merge of a ``merge_rows``-row shard set (8 shards) into a store."""
    import socket

    from nvs_eval.evaluate.distributed import merge_shards
    from nvs_eval.results.store import ResultsStore, Row

    tmp = Path(tempfile.mkdtemp(prefix="nvs-dist-"))
    make_workload(tmp, size, 2, views)
    cfg = tmp / "bench.yaml"
    cfg.write_text("name: dist\nprotocol: 3dgs\ndatasets:\n  - name: d\n    kind: pairs\n    gt: gt\n    scenes: [s]\n"
                   "    methods:\n      - {name: m0, path: m0}\n      - {name: m1, path: m1}\n")
    for sub in ("gt", "m0", "m1"):  # pairs configs resolve {scene}; the workload has one flat scene
        (tmp / sub).rename(tmp / f"{sub}_")
        (tmp / sub).mkdir()
        (tmp / f"{sub}_").rename(tmp / sub / "s")
    cfg.write_text(cfg.read_text().replace("gt: gt", "gt: 'gt/{scene}'").replace("path: m0", "path: 'm0/{scene}'")
                   .replace("path: m1", "path: 'm1/{scene}'"))
    runs = {}
    for label, ranks, threads in (("1 process, 2 threads", 1, 2), ("1 process, 1 thread", 1, 1),
                                  ("torchrun: 2 ranks x 1 thread (gloo)", 2, 1)):
        out = tmp / f"out{ranks}{threads}"
        base = [sys.executable, "-m", "nvs_eval", "evaluate", str(cfg), "--out", str(out), "--no-report",
                "--device", "cpu", "--threads", str(threads)]
        if ranks > 1:
            with socket.socket() as sock:
                sock.bind(("127.0.0.1", 0))
                port = sock.getsockname()[1]
            base = [sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", str(ranks),
                    "--master-addr", "127.0.0.1", "--master-port", str(port), "-m", "nvs_eval", *base[3:]]
        t = time.perf_counter()
        subprocess.run(base, check=True, capture_output=True, env={**os.environ, "PYTHONPATH": str(HERE.parent)})
        runs[label] = time.perf_counter() - t
    # the merge: 8 shards holding merge_rows rows between them
    folder = tmp / "merge"
    shards = []
    per = merge_rows // 8
    for k in range(8):
        with ResultsStore(folder / "shards" / f"x-rank{k}-of-8.sqlite") as shard:
            shard.put([Row("d", f"s{k}", f"m{i % 10}", f"{i // 10:06d}", "psnr", "3dgs", 30.0 + (i % 97) / 97,
                           "a" * 64, "b" * 64, "/r.png", "/g.png", "3dgs@x", "0.1.0", "") for i in range(per)])
        shards.append(folder / "shards" / f"x-rank{k}-of-8.sqlite")
    with ResultsStore(folder / "results.sqlite") as store:
        t = time.perf_counter()
        merged = merge_shards(store, shards)
        t_merge = time.perf_counter() - t
    shutil.rmtree(tmp)
    one = runs["1 process, 2 threads"]
    lines = [f"{views} views of {size}x{size}, 2 methods, protocol 3dgs (PSNR, SSIM, LPIPS-VGG), cpu, wall time of "
             "the whole command (imports and network set-up included):", "", "| run | s | x 1 process, 2 threads |",
             "|---|---:|---:|"]
    lines += [f"| {k} | {v:.1f} | {one / v:.2f} |" for k, v in runs.items()]
    lines += ["", f"Merging {merged:,} rows from 8 shards into a store: {t_merge:.1f} s "
                  f"({merged / t_merge / 1e6:.2f} M rows/s).", ""]
    return lines


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


def profile_views(root: Path, methods: int, views: int = 3) -> list[tuple[str, float]]:
    """Where nvs-eval's time goes per view (3dgs protocol, one thread of decode, sequential stages)."""
    import torch

    from nvs_eval.conventions.protocols import get_protocol
    from nvs_eval.data.images import read_image
    from nvs_eval.evaluate.evaluator import Evaluator
    from nvs_eval.hashing import sha256_file
    from nvs_eval.metrics.ssim import ssim_with_moments, target_moments

    ev = Evaluator(get_protocol("3dgs"), device="cpu")
    model = ev.lpips["lpips_vgg"]
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
                        lambda: target_moments(gt, ev.protocol.ssim, band=ev.ssim_band(gt, 1)))
            band = ev.ssim_band(preds, preds.shape[0])  # as the evaluator forms them
            timed("SSIM of the renders", lambda: ssim_with_moments(preds, mom, band=band))
            timed("PSNR", lambda: (preds - gt).square().flatten(1).mean(1))
            ft = timed("LPIPS-vgg features of the ground truth (once per view)", lambda: model.features(gt))
            fp = timed("LPIPS-vgg features of the renders", lambda: model.features(preds))
            timed("LPIPS distance from features", lambda: model.distance(fp, ft))
    return [(k, v / views) for k, v in stages.items()]


def _best_rate(fn, flop: float, reps: int = 5) -> float:
    """GFLOP/s of the fastest of ``reps`` calls (after one warm-up)."""
    return flop / best_of(fn, reps)[0] / 1e9


def float32_peak() -> dict[str, float]:
    """The machine's float32 matrix-multiply rate, from both GEMM libraries torch uses on the CPU: MKL (``torch.mm``)
    and oneDNN (a 1x1 convolution is a plain GEMM there; it is oneDNN that runs LPIPS's convolutions). On this
    AMD CPU MKL's sgemm is the slower of the two, so a probe of ``torch.mm`` alone is not a ceiling for VGG."""
    import torch
    import torch.nn.functional as F

    out = {}
    with torch.inference_mode():
        for n in (2048, 4096):
            a, b = torch.randn(n, n), torch.randn(n, n)
            out[f"MKL sgemm (torch.mm {n}x{n}x{n})"] = _best_rate(lambda: torch.mm(a, b), 2 * n**3)
        x = torch.randn(1, 1024, 200, 200).contiguous(memory_format=torch.channels_last)
        w = torch.randn(1024, 1024, 1, 1).contiguous(memory_format=torch.channels_last)
        out["oneDNN GEMM (1x1 conv, 40000x1024x1024)"] = _best_rate(lambda: F.conv2d(x, w), 2 * 40000 * 1024 * 1024)
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


def _parse_args() -> argparse.Namespace:
    ap = argparse.ArgumentParser()
    ap.add_argument("--size", type=int, default=800)
    ap.add_argument("--methods", type=int, default=3)
    ap.add_argument("--views", type=int, default=24)
    ap.add_argument("--hd-views", type=int, default=4, help="views of the 1920x1080 scene (0 skips it)")
    ap.add_argument("--uhd-views", type=int, default=1, help="views at 3840x2160 (0 skips them)")
    ap.add_argument("--repeats", type=int, default=1)
    ap.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    ap.add_argument("--smoke", action="store_true", help="tiny workload: checks the harness, measures nothing")
    ap.add_argument("--only", choices=["families", "explain", "stats", "distributed"], default=None,
                    help="run one section only")
    ap.add_argument("--explain-views", type=int, default=35, help="views for the explain section (779x520)")
    ap.add_argument("--out", default=None, help="append the results to this Markdown file")
    ap.add_argument("--worker", default=None)
    ap.add_argument("--data", default=None)
    args = ap.parse_args()
    if args.smoke:
        args.size, args.methods, args.views, args.hd_views, args.uhd_views = 64, 2, 2, 0, 0
    return args


def _peak_lines(args) -> list[str]:
    """GEMM peak probes around the LPIPS timing, LPIPS as a fraction of the peak, and VGG per layer."""
    before, bw = float32_peak(), memcpy_bandwidth()
    lp = lpips_fraction(args.size)
    after = float32_peak()  # again after LPIPS, so drift of this shared machine shows
    probes = {k: max(before[k], after[k]) for k in before}
    peak = max(probes.values())
    lines = ["float32 GEMM probes (best of 5 each, measured before and after the LPIPS timing, the higher "
             "kept): " + "; ".join(f"{k}: {before[k]:.0f} / {after[k]:.0f} GFLOP/s" for k in probes)
             + f". Peak used below: **{peak:.0f} GFLOP/s**. memcpy bandwidth (512 MiB, read + write, best of "
             f"5): {bw:.1f} GB/s", ""]
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
    """Peak memory against the number of views: the same images, 4x as many."""
    import shutil

    small = Path(tempfile.mkdtemp(prefix="nvs-bench-mem-"))
    mem = []
    for v in (max(2, args.views // 4), args.views):
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


def main() -> None:
    import shutil

    args = _parse_args()
    if args.worker:
        print(json.dumps(worker(args.worker, Path(args.data), args.methods, args.device)))
        return

    def flush(new: list[str]) -> None:  # each section is written as soon as it is measured
        print("\n".join(new))
        if args.out:
            with open(args.out, "a") as f:
                f.write("\n".join(new) + "\n")

    flush([f"## {time.strftime('%Y-%m-%d %H:%M')}: `{' '.join(['python benchmarks/run.py'] + sys.argv[1:])}`", "",
           f"Machine: {machine(args.device)}", ""])
    if args.only == "families" or args.smoke:
        flush(family_costs(args.size, device=args.device))
        if args.only:
            return
    if args.only == "distributed":
        flush(distributed_cost())
        return
    if args.only == "stats" or args.smoke:
        flush(stats_cost(*((2, 10, 3, 2) if args.smoke else ())))
        if args.only:
            return
    if args.only == "explain" or args.smoke:
        flush(explain_cost(2 if args.smoke else args.explain_views, device=args.device))
        if args.only:
            return
    main_lines, main_root = bench_workload("main", args.size, args.methods, args.views, args.repeats, args.device,
                                           extras=True)
    flush(main_lines)
    for label, size, views in (("1080p scene", (1080, 1920), args.hd_views), ("4K view", (2160, 3840), args.uhd_views)):
        if views:
            more, root = bench_workload(label, size, args.methods, views, 1, args.device, extras=False)
            flush(more)
            shutil.rmtree(root)
    tail = []
    if args.device == "cpu":
        tail = _peak_lines(args) + _memory_lines(args) + _profile_lines(main_root, args.methods)
    shutil.rmtree(main_root)
    flush(tail + [""])


if __name__ == "__main__":
    main()
