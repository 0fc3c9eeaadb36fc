"""Winograd convolution written with PyTorch operations, against oneDNN's direct convolution, on VGG16's 3x3 layer
shapes at 800x800 (one image): time and largest error relative to the largest output, against float64.

Not part of nvs-eval and not run by CI: it is the measurement behind "fewer FLOPs via Winograd does not pay here"
in benchmarks/RESULTS.md. F(m x m, 3x3) cuts each output tile's multiplies from 9 m² to (m + 2)², but its input
and output transforms are elementwise passes over data (m + 2)² / m² times the activations' size.

Usage: python benchmarks/winograd_probe.py
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from common import best_of  # benchmarks/common.py: this script runs from benchmarks/, beside it

# Lavin & Gray (2016) transforms: F(2x2,3x3) and F(4x4,3x3)
BT2 = [[1, 0, -1, 0], [0, 1, 1, 0], [0, -1, 1, 0], [0, 1, 0, -1]]
G2 = [[1, 0, 0], [0.5, 0.5, 0.5], [0.5, -0.5, 0.5], [0, 0, 1]]
AT2 = [[1, 1, 1, 0], [0, 1, -1, -1]]
BT4 = [[4, 0, -5, 0, 1, 0], [0, -4, -4, 1, 1, 0], [0, 4, -4, -1, 1, 0], [0, -2, -1, 2, 1, 0], [0, 2, -1, -2, 1, 0],
       [0, 4, 0, -5, 0, 1]]
G4 = [[1 / 4, 0, 0], [-1 / 6, -1 / 6, -1 / 6], [-1 / 6, 1 / 6, -1 / 6], [1 / 24, 1 / 12, 1 / 6],
      [1 / 24, -1 / 12, 1 / 6], [0, 0, 1]]
AT4 = [[1, 1, 1, 1, 1, 0], [0, 1, -1, 2, -2, 0], [0, 1, 1, 4, 4, 0], [0, 1, -1, 8, -8, 1]]
# VGG16's 3x3 layers at 800x800 input (one of each shape): in, out channels, side
LAYERS = [(64, 64, 800), (128, 128, 400), (256, 256, 200), (512, 512, 100), (512, 512, 50)]


def winograd(x, w, b, bt, g, at):
    """3x3 convolution, padding 1, of x (N, C, H, W) by w (O, C, 3, 3) with bias b, as F(m x m, 3x3)."""
    bt, g, at = (torch.tensor(t, dtype=x.dtype) for t in (bt, g, at))
    m, a = at.shape[0], bt.shape[0]
    n, c, h, wd = x.shape
    th, tw = -(-h // m), -(-wd // m)
    xp = F.pad(x, (1, tw * m + 1 - wd, 1, th * m + 1 - h))
    tiles = xp.permute(0, 2, 3, 1).unfold(1, a, m).unfold(2, a, m)  # N, th, tw, C, a, a
    v = torch.einsum("ij,ntwcjk,lk->ilntwc", bt, tiles, bt).reshape(a * a, n * th * tw, c)
    u = torch.einsum("ij,ocjk,lk->ilco", g, w, g).reshape(a * a, c, -1)
    mm = torch.bmm(v, u).view(a, a, n, th, tw, -1)
    y = torch.einsum("ij,jkntwo,lk->ntiwlo", at, mm, at).reshape(n, th * m, tw * m, -1)[:, :h, :wd]
    return y.permute(0, 3, 1, 2) + b.view(1, -1, 1, 1)


def main() -> None:
    torch.manual_seed(0)
    print("| layer (in, out, side) | GFLOP | direct ms | F(2x2,3x3) ms | F(4x4,3x3) ms "
          "| rel. error direct / F(2) / F(4) |")
    print("|---|---:|---:|---:|---:|---|")
    with torch.inference_mode():
        for c, o, s in LAYERS:
            x = torch.randn(1, c, s, s).abs().contiguous(memory_format=torch.channels_last)
            w, b = torch.randn(o, c, 3, 3) * 0.05, torch.randn(o) * 0.1
            wcl = w.contiguous(memory_format=torch.channels_last)
            ref = F.conv2d(x.double(), w.double(), b.double(), padding=1)
            runs = [best_of(lambda: F.conv2d(x, wcl, b, padding=1), 2),
                    best_of(lambda: winograd(x, w, b, BT2, G2, AT2), 2),
                    best_of(lambda: winograd(x, w, b, BT4, G4, AT4), 2)]
            errs = [float((y.double() - ref).abs().max() / ref.abs().max()) for _, y in runs]
            print(f"| {c}, {o}, {s} | {2 * c * o * 9 * s * s / 1e9:.1f} | "
                  + " | ".join(f"{1e3 * t:.0f}" for t, _ in runs) + " | " + " / ".join(f"{e:.1e}" for e in errs) + " |")


if __name__ == "__main__":
    main()
