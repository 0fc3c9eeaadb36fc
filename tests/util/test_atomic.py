"""Files written whole or not at all, with the mode a plain open() gives under the umask (util/atomic.py)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from helpers import bench, cli, folder


@pytest.fixture
def umask_022():
    old = os.umask(0o022)
    yield
    os.umask(old)


def _bench(tmp_path: Path, views: int = 3) -> Path:
    return bench(tmp_path, views, metrics="psnr, ssim", h=40, w=48)


def test_every_written_file_gets_the_umask_mode_not_0600(tmp_path, umask_022):
    from nvs_eval.api import evaluate
    from nvs_eval.report import write_report

    res = evaluate(_bench(tmp_path), tmp_path / "out", device="cpu", progress=False)
    write_report(res.store, tmp_path / "report", figures=False)
    files = [p for p in (tmp_path / "out").rglob("*") if p.is_file()]
    files += [p for p in (tmp_path / "report").rglob("*") if p.is_file()]
    assert len(files) > 8
    modes = {str(p.relative_to(tmp_path)): oct(p.stat().st_mode & 0o777) for p in files}
    assert set(modes.values()) == {oct(0o644)}, modes


def test_score_json_gets_the_umask_mode(tmp_path, umask_022):
    folder(tmp_path / "gt", ["0.png"])
    folder(tmp_path / "a", ["0.png"], seed=3)
    r = cli("score", str(tmp_path / "a"), "--gt", str(tmp_path / "gt"), "--metrics", "psnr", "--json",
            str(tmp_path / "s.json"), "--device", "cpu")
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "s.json").stat().st_mode & 0o777 == 0o644
