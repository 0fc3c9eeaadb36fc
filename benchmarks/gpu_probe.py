"""What exact float32 (TF32 off) convolution can do on this GPU: the ceilings, and LPIPS's backbones under each
cuDNN set-up, layer by layer (CUDA events). Random data and random weights: timing only, plus the error of each
set-up's output against a float64 forward (so a fast algorithm that is not exact float32 shows itself).

Usage (on a CUDA machine):  python benchmarks/gpu_probe.py [--out FILE.md]
Prints a Markdown section; HOPPER-style notes on reading it are in benchmarks/GPU_NOTES.md.
"""

from __future__ import annotations

import argparse
import time

import torch
import torchvision
from gpu import events_ms  # benchmarks/gpu.py: one CUDA-event timer for both

VGG_TAPS = (4, 9, 16, 23, 30)  # LPIPS-VGG taps relu1_2 .. relu5_3 (the stack up to index 30)
ALEX_TAPS = (2, 5, 8, 10, 12)


def conv_flops(stack: torch.nn.Sequential, h: int, w: int) -> list[float]:
    """Multiply-add FLOPs (2 per MAC) of each module of ``stack`` for one h x w image."""
    out = []
    for m in stack:
        if isinstance(m, torch.nn.Conv2d):
            k = m.kernel_size[0]
            h = (h + 2 * m.padding[0] - k) // m.stride[0] + 1
            w = (w + 2 * m.padding[1] - k) // m.stride[1] + 1
            out.append(2.0 * h * w * m.out_channels * m.in_channels * k * k)
        elif isinstance(m, torch.nn.MaxPool2d):
            k, s = m.kernel_size, m.stride
            h, w = (h - k) // s + 1, (w - k) // s + 1
            out.append(0.0)
        else:
            out.append(0.0)
    return out


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--out")
    p.add_argument("--quick", action="store_true")
    args = p.parse_args()
    lines: list[str] = []
    say = lambda s="": (print(s, flush=True), lines.append(s))
    dev = torch.device("cuda")
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = False
    props = torch.cuda.get_device_properties(dev)
    say(f"## GPU probe: {props.name}, {props.multi_processor_count} SMs, torch {torch.__version__}, "
        f"cuDNN {torch.backends.cudnn.version()}")
    say()
    # ceilings
    n = 8192
    a, b = torch.randn(n, n, device=dev), torch.randn(n, n, device=dev)
    t = events_ms(lambda: a @ b, reps=5)
    fp32_peak = 2 * n**3 / t / 1e9
    x = torch.empty(1 << 30, dtype=torch.uint8, device=dev).random_()
    y = torch.empty_like(x)
    t = events_ms(lambda: y.copy_(x), reps=5)
    bw = 2 * x.numel() / t / 1e6  # bytes per ms / 1e6 = GB/s
    say(f"Ceilings: float32 GEMM 8192^3 (TF32 off) {fp32_peak:.1f} TFLOP/s; device copy {bw:.0f} GB/s (read+write).")
    say()
    vgg = torchvision.models.vgg16(weights=None).features[:30].to(dev).eval()
    alex = torchvision.models.alexnet(weights=None).features[:12].to(dev).eval()
    flops_vgg = sum(conv_flops(vgg, 800, 800))
    say(f"VGG16 conv1_1..conv5_3 at 800x800: {flops_vgg / 1e9:.1f} GFLOP per image.")
    say()
    say("| net | size | batch | layout | cudnn.benchmark | ms / image | TFLOP/s | x FP32 GEMM | peak MB "
        "| rel err vs f64 |")
    say("|---|---|---:|---|---|---:|---:|---:|---:|---:|")
    xin_small = torch.rand(2, 3, 256, 256, device=dev)
    ref64 = {}
    for name, net in (("vgg", vgg), ("alex", alex)):
        ref64[name] = net.double()(xin_small.double()).float()
        net.float()
    configs = []
    sizes = [(800, 800)] if args.quick else [(800, 800), (1080, 1920), (2160, 3840)]
    for (h, w) in sizes:
        batches = {(800, 800): (1, 4, 8, 16), (1080, 1920): (1, 4), (2160, 3840): (1,)}[(h, w)]
        for bsz in batches:
            for cl in (False, True):
                for bench in (False, True):
                    configs.append(("vgg", h, w, bsz, cl, bench))
        configs.append(("alex", h, w, batches[-1], False, True))
        configs.append(("alex", h, w, batches[-1], True, True))
    best = {}
    for name, h, w, bsz, cl, bench in configs:
        net = vgg if name == "vgg" else alex
        torch.backends.cudnn.benchmark = bench
        fmt = torch.channels_last if cl else torch.contiguous_format
        net = net.to(memory_format=fmt)
        xin = torch.rand(bsz, 3, h, w, device=dev).contiguous(memory_format=fmt)
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()
        with torch.inference_mode():
            t = events_ms(lambda: net(xin), reps=3 if h > 1000 else 5)
            err = float((net(xin_small.contiguous(memory_format=fmt)) - ref64[name]).norm() / ref64[name].norm())
        peak = torch.cuda.max_memory_allocated() / 2**20
        fl = sum(conv_flops(net, h, w)) * bsz
        tf = fl / t / 1e9
        say(f"| {name} | {w}x{h} | {bsz} | {'NHWC' if cl else 'NCHW'} | {bench} | {t / bsz:.2f} | {tf:.1f} | "
            f"{tf / fp32_peak:.2f} | {peak:.0f} | {err:.1e} |")
        key = (name, h, w)
        if key not in best or t / bsz < best[key][0]:
            best[key] = (t / bsz, bsz, cl, bench)
    say()
    # per layer, for the best VGG set-up at 800x800
    _, bsz, cl, bench = best[("vgg", 800, 800)]
    torch.backends.cudnn.benchmark = bench
    fmt = torch.channels_last if cl else torch.contiguous_format
    net = vgg.to(memory_format=fmt)
    h = torch.rand(bsz, 3, 800, 800, device=dev).contiguous(memory_format=fmt)
    fl = conv_flops(net, 800, 800)
    say(f"Per layer, VGG16 at 800x800, batch {bsz}, {'NHWC' if cl else 'NCHW'}, benchmark={bench} (CUDA events):")
    say()
    say("| layer | ms | TFLOP/s | x FP32 GEMM |")
    say("|---|---:|---:|---:|")
    total_t = total_f = 0.0
    with torch.inference_mode():
        for i, m in enumerate(net):
            if not isinstance(m, torch.nn.Conv2d):
                h = m(h)
                continue
            inp = h
            t = events_ms(lambda m=m, inp=inp: m(inp), reps=5)
            h = m(inp)
            total_t += t
            total_f += fl[i] * bsz
            say(f"| features[{i}] {m.in_channels}->{m.out_channels} | {t:.2f} | {fl[i] * bsz / t / 1e9:.1f} | "
                f"{fl[i] * bsz / t / 1e9 / fp32_peak:.2f} |")
    say(f"| convolutions together | {total_t:.2f} | {total_f / total_t / 1e9:.1f} | "
        f"{total_f / total_t / 1e9 / fp32_peak:.2f} |")
    say()
    # the cost of a host sync per tensor (the validation the evaluator does per view)
    z = torch.rand(16, 3, 800, 800, device=dev)
    torch.cuda.synchronize()
    t0 = time.perf_counter()
    for _ in range(50):
        bool(torch.isfinite(z).all()), float(z.min()), float(z.max())
    torch.cuda.synchronize()
    t1 = time.perf_counter()
    for _ in range(50):
        torch.stack([z.amin(), z.amax(), torch.isnan(z).any().float()]).tolist()
    torch.cuda.synchronize()
    t2 = time.perf_counter()
    say(f"Validation of a 16x3x800x800 batch: three host reads {1e3 * (t1 - t0) / 50:.2f} ms, one combined "
        f"{1e3 * (t2 - t1) / 50:.2f} ms.")
    if args.out:
        with open(args.out, "w") as f:
            f.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
