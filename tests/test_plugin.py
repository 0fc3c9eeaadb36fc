"""Third-party metrics, layouts, dataset kinds and protocols through the entry-point groups ``nvs_eval.metrics``,
``nvs_eval.layouts``, ``nvs_eval.datasets`` and ``nvs_eval.protocols``, with real installed packages.

Three packages under tests/plugins are installed with pip into a folder on ``PYTHONPATH`` (as a user's
``pip install`` would put them on ``sys.path``): ``nvs-eval-toy`` (a mean-absolute-error metric and one that
returns the wrong shape), ``nvs-eval-toytool`` (a made-up tool's folder layout, a dataset kind and a protocol preset)
and ``nvs-eval-broken`` (a metric and a layout whose module fails to import). Nothing in nvs_eval is touched: they go
through score, evaluate, the store, the report and ``protocols`` like the built-ins.
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
                        str(src / "nvs-eval-toy"), str(src / "nvs-eval-toytool"), str(src / "nvs-eval-broken")],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert (target / "nvs_eval_toy-0.1.0.dist-info" / "entry_points.txt").is_file()
    return {"PYTHONPATH": os.pathsep.join([str(target), str(ROOT)]), "target": str(target)}


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


def test_protocols_lists_the_plugin_metric_and_preset_with_their_package(site):
    r = cli("protocols", env=site)
    assert r.returncode == 0, r.stderr
    line = next(ln for ln in r.stdout.splitlines() if ln.strip().startswith("toy_mae"))
    assert "Toy MAE" in line and "lower is better" in line and "mean absolute error" in line
    block = r.stdout.split("toy-3dgs  (")[1].split("\n\n")[0]
    assert "quantize         truncate" in block and "plugin           nvs-eval-toytool==0.3.0" in block
    assert "source           toytool eval.py (uint8 cast)" in block
    warnings = [ln for ln in r.stderr.splitlines() if ln.startswith("nvs-eval: warning:")]
    assert len(warnings) == 1 and "broken_protocol" in warnings[0]  # a preset that did not load is said, once


def test_a_plugin_protocol_may_be_named_like_the_builtins():
    from nvs_eval.errors import PluginError
    from nvs_eval.plugin import protocol

    assert protocol("3dgs-mapped", base="3dgs", source="x", lpips_input="[-1,1]").name == "3dgs-mapped"
    with pytest.raises(PluginError, match="starting with a letter or digit"):
        protocol("-x", base="3dgs", source="x")


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


def _toytool_run(run: Path, seed: int) -> Path:
    """A run of the made-up tool (tests/plugins/nvs-eval-toytool): toytool.json, eval/<view>_{pred,true}.png."""
    for i in range(3):
        img(run / "eval" / f"{i:03d}_true.png", h=12, w=16, seed=i)
        img(run / "eval" / f"{i:03d}_pred.png", h=12, w=16, seed=seed + i)
    (run / "toytool.json").write_text("{}")
    return run


def _psnr(path_a: Path, path_b: Path) -> float:
    a, b = (np.asarray(Image.open(p), np.float64) / 255 for p in (path_a, path_b))
    return float(10 * np.log10(1 / ((a - b) ** 2).mean()))


def test_a_plugin_layout_and_protocol_score_like_builtins_and_a_broken_layout_breaks_nothing(tmp_path, site):
    run = _toytool_run(tmp_path / "run", 30)
    out = tmp_path / "s.json"
    r = cli("score", str(run), "--protocol", "toy-3dgs", "--metrics", "psnr", "--json", str(out), "--device", "cpu",
            env=site)  # the layout is detected, as a built-in's is
    assert r.returncode == 0, r.stderr
    doc = json.loads(out.read_text())
    assert doc["protocol"]["name"] == "toy-3dgs" and doc["protocol"]["quantize"] == "truncate"
    assert doc["protocol"]["plugin"] == "nvs-eval-toytool==0.3.0" and doc["protocol"]["ssim"]["padding"] == "zero-same"
    for v in doc["views"]:
        want = _psnr(run / "eval" / f"{v['view']}_pred.png", run / "eval" / f"{v['view']}_true.png")
        assert v["method"] == "run" and abs(v["psnr"] - want) < 1e-4
    warnings = [ln for ln in r.stderr.splitlines() if "nvs-eval-broken==0.2.0" in ln]
    assert len(warnings) == 1, r.stderr  # one line for the package, naming its metric and its layout
    assert "broken_metric" in warnings[0] and "broken_layout" in warnings[0] and "ModuleNotFoundError" in warnings[0]
    r = cli("score", str(run), "--layout", "broken_layout", env=site)  # asked for by name: the reason, once
    assert r.returncode == 2 and "invalid choice" not in r.stderr, r.stderr
    assert "argument --layout: layout 'broken_layout' is not available" in r.stderr
    assert r.stderr.count("ModuleNotFoundError") == 1 and "nvs-eval-broken==0.2.0" in r.stderr


_CONFIG = """
protocol: toy-3dgs
metrics: [psnr]
datasets:
  - {name: tools, kind: toytool, scenes: [s1], methods: [{name: mine, path: "runs/{scene}"}]}
  - {name: toys, kind: toyset, root: data, scenes: [s1], methods: [{name: mine, path: "r/{scene}"}]}
"""

# evaluate and report (in one process: one start-up), then the same package one version up: every row is kept and
# named as changed, none reused
_EVALUATE_AND_UPGRADE = """
import sys
from nvs_eval.api import evaluate
from pathlib import Path
from nvs_eval.errors import StoreError
from nvs_eval.report import write_report
cfg, out, meta, rep = sys.argv[1:]
res = evaluate(cfg, out, device="cpu")
print("rows", len(res.per_view), "computed", res.stats.computed)
write_report(out, rep, ("md",), figures=False)
Path(meta).write_text(Path(meta).read_text().replace("Version: 0.3.0", "Version: 0.3.1"))
from nvs_eval.conventions.protocols import PROTOCOLS
from nvs_eval.data.datasets import DATASET_KINDS
from nvs_eval.data.layouts import LAYOUTS
for registry in (PROTOCOLS, DATASET_KINDS, LAYOUTS):
    registry._all = None  # as a new process would read them
try:
    evaluate(cfg, out, device="cpu")
except StoreError as e:
    print("upgraded:", e)
"""


def test_a_plugin_layout_dataset_and_protocol_are_evaluated_stored_with_their_version_and_reported(tmp_path, site):
    _toytool_run(tmp_path / "runs" / "s1", 40)
    data = tmp_path / "data" / "s1"
    for i, name in enumerate(("b.png", "a.png", "c.png", "unused.png")):
        img(data / "images" / name, h=12, w=16, seed=60 + i)
    for i in range(3):
        img(tmp_path / "r" / "s1" / f"{i:02d}.png", h=12, w=16, seed=70 + i)
    (data / "test.txt").write_text("b.png\na.png\nc.png\n")  # renders pair with these by order
    (tmp_path / "bench.yaml").write_text(_CONFIG)
    site_copy = tmp_path / "site"  # upgraded in place below: a copy, the other tests keep 0.3.0
    shutil.copytree(site["target"], site_copy)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(site_copy), str(ROOT)])}
    meta = site_copy / "nvs_eval_toytool-0.3.0.dist-info" / "METADATA"
    r = subprocess.run([sys.executable, "-c", _EVALUATE_AND_UPGRADE, str(tmp_path / "bench.yaml"),
                        str(tmp_path / "out"), str(meta), str(tmp_path / "rep")], capture_output=True, text=True,
                       env=env, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    assert "rows 6 computed 6" in r.stdout
    upgraded = r.stdout.split("upgraded: ")[1]  # the ground truth the plugin defines is what changed first
    assert "6 stored result(s) have inputs that changed" in upgraded and "ground truth" in upgraded, upgraded
    with sqlite3.connect(tmp_path / "out" / "results.sqlite") as db:
        rows = db.execute("SELECT dataset, view, value, gt_sha256, protocol, protocol_key, render_path, gt_path "
                          "FROM results").fetchall()
    assert len(rows) == 6 and {r[4] for r in rows} == {"toy-3dgs"}
    assert all(r[5].endswith(":nvs-eval-toytool==0.3.0") for r in rows)  # kept as scored, before the upgrade
    source = {"tools": "layout toytool: nvs-eval-toytool==0.3.0", "toys": "dataset toyset: nvs-eval-toytool==0.3.0"}
    for dataset, _, value, gt_id, *_, render, gt in rows:
        assert gt_id.endswith(f"+source:{source[dataset]}")
        assert abs(value - _psnr(Path(render), Path(gt))) < 1e-4
    paired = {Path(r[6]).name: Path(r[7]).name for r in rows if r[0] == "toys"}
    assert paired == {"00.png": "b.png", "01.png": "a.png", "02.png": "c.png"}
    tables = (tmp_path / "rep" / "tables.md").read_text()
    assert "toy-3dgs" in tables and "tools" in tables and "toys" in tables


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


class _EntryPoint:
    """An installed entry point as importlib.metadata gives it: a name, its target, its package, and load()."""

    def __init__(self, name: str, obj, package: str = "pkg-a"):
        self.name, self.value, self._obj = name, f"{package.replace('-', '_')}:{name}", obj
        self.dist = type("Dist", (), {"name": package, "version": "1.0"})()

    def load(self):
        if isinstance(self._obj, Exception):
            raise self._obj
        return self._obj


def test_an_open_registry_loads_lazily_and_leaves_out_each_broken_entry_named_once(monkeypatch):
    import importlib.metadata

    from nvs_eval import entrypoints
    from nvs_eval.entrypoints import OpenRegistry, package_warnings

    eps = [_EntryPoint("good", {"good": 1}), _EntryPoint("builtin", {"builtin": 2}),
           _EntryPoint("twice", [{"x": 3}, {"x": 4}]), _EntryPoint("wrong", "not a mapping"),
           _EntryPoint("gone", ModuleNotFoundError("No module named 'dep'"), package="pkg-b")]
    calls = []
    monkeypatch.setattr(importlib.metadata, "entry_points", lambda group: calls.append(group) or eps)
    monkeypatch.setattr(entrypoints, "FAILED", [])

    def convert(obj: dict, package: str) -> tuple:
        ((name, value),) = obj.items()
        return name, (value, package)

    reg = OpenRegistry("nvs_eval.things", "thing", {"builtin": (0, None)}, convert)
    assert reg["builtin"] == (0, None) and "builtin" in reg and calls == []  # the built-ins need no scan
    assert dict(reg) == {"builtin": (0, None), "good": (1, "pkg-a==1.0")} and calls == ["nvs_eval.things"]
    assert set(reg.errors) == {"builtin", "twice", "wrong", "gone"}
    assert "is already taken" in reg.errors["builtin"] and "'x' is already taken" in reg.errors["twice"]
    assert "thing 'gone' is not available" in reg.unknown("gone") and "did you mean 'good'" in reg.unknown("goo")
    lines = package_warnings()
    assert len(lines) == 2 and "pkg-b==1.0" in lines[1] and "ModuleNotFoundError" in lines[1]
    assert package_warnings({"gone"}) == lines[:1]  # asked for: said by the error, not also as a warning
