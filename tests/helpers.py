"""Tiny on-disk fixtures for layout, pairing and CLI tests."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]


def img(path: Path, h: int = 36, w: int = 40, seed: int = 0, mode: str = "RGB") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    c = {"RGB": 3, "RGBA": 4, "L": 1, "LA": 2}[mode]
    arr = rng.integers(0, 256, (h, w, c), dtype=np.uint8)
    Image.fromarray(arr[..., 0] if c == 1 else arr, mode=None).save(path)
    return path


def folder(path: Path, names, seed: int = 0, **kw) -> Path:
    for i, n in enumerate(names):
        img(path / n, seed=seed + i, **kw)
    return path


def cli(*args: str, cwd: Path | None = None, env: dict | None = None,
        timeout: int = 600) -> subprocess.CompletedProcess:
    e = dict(os.environ)
    e.update(env or {})
    return subprocess.run([sys.executable, "-m", "nvs_eval", *args], capture_output=True, text=True, cwd=cwd, env=e,
                          timeout=timeout)


def bench(tmp_path: Path, views: int = 8, metrics: str = "psnr, ssim, lpips_alex", h: int = 64, w: int = 72) -> Path:
    """A two-method pairs benchmark (methods m1, m2; scene s1) and its config file ``bench.yaml``."""
    names = [f"{i:03d}.png" for i in range(views)]
    folder(tmp_path / "gt" / "s1", names, h=h, w=w)
    folder(tmp_path / "r" / "m1" / "s1", names, seed=50, h=h, w=w)
    folder(tmp_path / "r" / "m2" / "s1", names, seed=90, h=h, w=w)
    cfg = tmp_path / "bench.yaml"
    cfg.write_text(f"name: t\nprotocol: nvs-eval\nmetrics: [{metrics}]\ndatasets:\n"
                   '  - name: d\n    kind: pairs\n'
                   '    gt: "gt/{scene}"\n    scenes: [s1]\n    methods:\n      - {name: m1, path: "r/m1/{scene}"}\n'
                   '      - {name: m2, path: "r/m2/{scene}"}\n')
    return cfg
