"""Third-party metrics through the entry-point group ``nvs_eval.metrics``, with real installed packages.

Two packages under tests/plugins are installed with pip into a folder on ``PYTHONPATH`` (as a user's
``pip install`` would put them on ``sys.path``): ``nvs-eval-toy`` (a mean-absolute-error metric and one that
returns the wrong shape) and ``nvs-eval-broken`` (whose module fails to import). Nothing in nvs_eval is touched:
the metrics go through score, the store, the report and ``protocols`` like the built-ins.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from helpers import ROOT, bench, cli, img

PLUGINS = Path(__file__).resolve().parent / "plugins"


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> dict:
    """The two plugin packages installed (pip, no network) into one folder; the environment that sees them."""
    tmp = tmp_path_factory.mktemp("plugins")
    src, target = tmp / "src", tmp / "site"
    shutil.copytree(PLUGINS, src)  # pip builds in the source tree: keep the repository clean
    r = subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation",
                        "--no-index", "--disable-pip-version-check", "--target", str(target),
                        str(src / "nvs-eval-toy"), str(src / "nvs-eval-broken")], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert (target / "nvs_eval_toy-0.1.0.dist-info" / "entry_points.txt").is_file()
    return {"PYTHONPATH": os.pathsep.join([str(target), str(ROOT)])}


@pytest.fixture
def pair(tmp_path) -> Path:
    for i in range(3):
        img(tmp_path / "gt" / f"{i:03d}.png", seed=i)
        img(tmp_path / "r" / f"{i:03d}.png", seed=20 + i)
    return tmp_path


def _mae(path_a: Path, path_b: Path) -> float:
    a, b = (np.asarray(Image.open(p), np.float64) / 255 for p in (path_a, path_b))
    return float(np.abs(a - b).mean())


def test_a_plugin_metric_is_scored_like_a_builtin_and_a_broken_one_breaks_nothing(pair, site):
    out = pair / "scores.json"
    r = cli("score", str(pair / "r"), "--gt", str(pair / "gt"), "--metrics", "psnr,toy_mae", "--json", str(out),
            "--device", "cpu", env=site)
    assert r.returncode == 0, r.stderr
    assert "nvs_eval_broken" in r.stderr and "was not loaded" in r.stderr  # said once, as a warning
    doc = json.loads(out.read_text())
    assert doc["metrics"] == ["psnr", "toy_mae"]
    for v in doc["views"]:
        want = _mae(pair / "r" / f"{v['view']}.png", pair / "gt" / f"{v['view']}.png")
        assert abs(v["toy_mae"] - want) < 1e-6
    assert "Toy MAE" in r.stdout


def test_protocols_lists_the_plugin_metric_with_its_package(site):
    r = cli("protocols", env=site)
    assert r.returncode == 0, r.stderr
    line = next(ln for ln in r.stdout.splitlines() if ln.strip().startswith("toy_mae"))
    assert "Toy MAE" in line and "lower is better" in line and "mean absolute error" in line


def test_a_plugin_metric_is_stored_with_its_version_reused_and_reported(tmp_path, site):
    cfg = bench(tmp_path, views=3, metrics="psnr, toy_mae")
    out = tmp_path / "out"
    r = cli("evaluate", str(cfg), "--out", str(out), "--no-report", "--device", "cpu", env=site)
    assert r.returncode == 0, r.stderr
    with sqlite3.connect(out / "results.sqlite") as db:
        rows = db.execute("SELECT value, weights FROM results WHERE metric = 'toy_mae'").fetchall()
    assert len(rows) == 6 and all("toy_mae:nvs-eval-toy==0.1.0" in w for _, w in rows)
    again = cli("evaluate", str(cfg), "--out", str(out), "--no-report", "--device", "cpu", env=site)
    assert again.returncode == 0 and "0 render(s) computed, 6 reused" in again.stderr
    rep = cli("report", "--results", str(out), "--out", str(tmp_path / "rep"), "--format", "md", "--no-figures",
              env=site)
    assert rep.returncode == 0, rep.stderr
    assert "Toy MAE" in (tmp_path / "rep" / "tables.md").read_text()


def test_a_plugin_returning_the_wrong_shape_is_named(pair, site):
    r = cli("score", str(pair / "r"), "--gt", str(pair / "gt"), "--metrics", "toy_bad_shape", "--device", "cpu",
            env=site)
    assert r.returncode == 2
    assert "toy_bad_shape" in r.stderr and "nvs-eval-toy==0.1.0" in r.stderr and "returned shape (1, 2)" in r.stderr


def test_asking_for_a_plugin_that_did_not_load_says_why(pair, site):
    r = cli("score", str(pair / "r"), "--gt", str(pair / "gt"), "--metrics", "broken_metric", env=site)
    assert r.returncode == 2
    assert "broken_metric" in r.stderr and "ModuleNotFoundError" in r.stderr and "nvs-eval-broken==0.2.0" in r.stderr
    assert r.stderr.count("ModuleNotFoundError") == 1, r.stderr  # an error, not also a warning with the same text


def test_without_plugins_installed_the_names_are_unknown(pair):
    r = cli("score", str(pair / "r"), "--gt", str(pair / "gt"), "--metrics", "toy_mae")
    assert r.returncode == 2 and "unknown metric(s) toy_mae" in r.stderr


def test_a_plugin_metric_passes_the_reference_tester(site):
    """The same tester as every built-in (tests/metric_tester.py), in a process that sees the installed plugin:
    against a NumPy transcription of the mean absolute error, batch against single, bad input, CPU against CUDA."""
    code = ("import numpy as np\n"
            "from metric_tester import MetricTester\n"
            "t = MetricTester('toy_mae', lambda p, g: float(np.abs(p - g).mean()), atol=1e-6)\n"
            "t.run_all()\n"
            "print('tester passed')\n")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([site["PYTHONPATH"], str(Path(__file__).parent)])}
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=600)
    assert r.returncode == 0 and "tester passed" in r.stdout, r.stderr[-3000:]
