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
    """``python -m nvs_eval ARGS`` in a new process, its exit status and output captured.

    The process is forked from a server that has already imported torch and the other heavy libraries (not
    nvs_eval, which each command imports afresh, as a new interpreter would): the same command in its own process,
    with its own environment, working directory, exit status and output files, without paying ~2.5 s of library
    imports each time (about 200 commands in the suite). A command whose environment changes where Python looks
    for modules (``PYTHONPATH``: the plugin tests' installed packages) runs in a new interpreter, as does every
    command when ``NVS_EVAL_TEST_SUBPROCESS=1``. tests/test_packaging.py runs the real ``nvs-eval`` and ``python -m
    nvs_eval`` too."""
    e = dict(os.environ)
    e.update(env or {})
    command = [sys.executable, "-m", "nvs_eval", *args]
    if any(k.startswith("PYTHON") for k in env or {}) or os.environ.get("NVS_EVAL_TEST_SUBPROCESS") == "1":
        return subprocess.run(command, capture_output=True, text=True, cwd=cwd, env=e, timeout=timeout)
    import tempfile

    with tempfile.TemporaryDirectory(prefix="nvs-eval-cli-") as tmp:
        out, err = Path(tmp) / "stdout", Path(tmp) / "stderr"
        p = _forkserver().Process(target=_run_in_child, args=(list(args), e, str(cwd) if cwd else None, out, err))
        p.start()
        p.join(timeout)
        if p.exitcode is None:
            p.kill()
            p.join()
            raise subprocess.TimeoutExpired(command, timeout, out.read_bytes(), err.read_bytes())
        return subprocess.CompletedProcess(command, p.exitcode, out.read_text(errors="replace"),
                                           err.read_text(errors="replace"))


_PRELOAD = ["torch", "torchvision", "numpy", "pandas", "scipy.ndimage", "PIL.Image", "yaml", "matplotlib"]
_CONTEXT = []


def _forkserver():
    """The multiprocessing context whose server preloads :data:`_PRELOAD` (started on the first command)."""
    if not _CONTEXT:
        import multiprocessing

        ctx = multiprocessing.get_context("forkserver")
        ctx.set_forkserver_preload(_PRELOAD)
        _CONTEXT.append(ctx)
    return _CONTEXT[0]


def _run_in_child(args: list[str], env: dict, cwd: str | None, out: Path, err: Path) -> None:
    """What ``python -m nvs_eval ARGS`` does, in the forked child: its environment, folder, and standard streams
    on files (file descriptors 1 and 2 themselves, so what a library or a subprocess writes is captured too)."""
    os.environ.clear()
    os.environ.update(env)
    if cwd:
        os.chdir(cwd)
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    for fd, path in ((1, out), (2, err)):
        os.dup2(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), fd)
    sys.argv = [str(ROOT / "nvs_eval" / "__main__.py"), *args]
    try:
        from nvs_eval.cli import main

        code = main(args)
    except SystemExit as e:  # argparse's usage errors
        code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
    sys.exit(code)


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
