"""What a new user tripped over (issue 18), each pinned by a test that failed before the fix."""

from __future__ import annotations

import os
import re
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
import tomllib

from helpers import ROOT, bench, cli, folder, img

PATCHED_CLI = [sys.executable, str(ROOT / "tests" / "patched_cli.py")]


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


def test_run_summary_counts_what_was_computed_and_reused(tmp_path):
    cfg = _bench(tmp_path, views=3)
    first = cli("evaluate", str(cfg), "--out", str(tmp_path / "out"), "--no-report", "--device", "cpu")
    assert first.returncode == 0, first.stderr
    assert "3 views: 6 render(s) computed, 0 reused" in first.stderr
    again = cli("evaluate", str(cfg), "--out", str(tmp_path / "out"), "--no-report", "--device", "cpu")
    assert "3 views: 0 render(s) computed, 6 reused" in again.stderr


_DIE_AFTER_CONNECT = """
import os, sqlite3, sys
real = sqlite3.connect
def connect(*a, **k):
    conn = real(*a, **k)
    os._exit(9)  # killed right after SQLite created the file, before any table exists
sqlite3.connect = connect
from nvs_eval.results.store import ResultsStore
ResultsStore(sys.argv[1])
"""


def test_a_store_killed_while_being_created_never_exists_without_its_tables(tmp_path):
    db = tmp_path / "out" / "results.sqlite"
    p = subprocess.run([sys.executable, "-c", _DIE_AFTER_CONNECT, str(db)], capture_output=True, text=True)
    assert p.returncode == 9
    if db.exists():  # if anything is at the final path, it is a whole store
        con = sqlite3.connect(db)
        try:
            tables = {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        finally:
            con.close()
        assert {"results", "protocols", "coverage"} <= tables
    from nvs_eval.api import read_results
    from nvs_eval.results.store import ResultsStore

    ResultsStore(db).close()  # the next run creates it and reads it back
    assert read_results(db).empty


def test_a_schema_less_store_left_by_an_older_version_is_repaired_on_open(tmp_path):
    from nvs_eval.api import read_results

    db = tmp_path / "results.sqlite"
    sqlite3.connect(db).close()  # what a kill between connect and CREATE TABLE left behind
    assert read_results(db).empty


def test_a_bug_inside_scoring_is_reported_as_a_bug_not_as_a_bad_file(tmp_path):
    folder(tmp_path / "gt", ["0.png"])
    folder(tmp_path / "a", ["0.png"], seed=3)
    env = dict(os.environ, NVS_EVAL_TEST_RAISE="shapes (3,) and (4,) not aligned")
    r = subprocess.run([*PATCHED_CLI, "score", str(tmp_path / "a"), "--gt", str(tmp_path / "gt"), "--metrics",
                        "psnr", "--device", "cpu"], capture_output=True, text=True, env=env)
    assert r.returncode == 1, r.stderr
    assert "internal error, please report" in r.stderr and "not aligned" in r.stderr and "Traceback" not in r.stderr
    r = subprocess.run([*PATCHED_CLI, "--debug", "score", str(tmp_path / "a"), "--gt", str(tmp_path / "gt"),
                        "--metrics", "psnr", "--device", "cpu"], capture_output=True, text=True, env=env)
    assert r.returncode == 1 and "Traceback" in r.stderr


def test_an_image_smaller_than_the_ssim_window_is_the_users_file(tmp_path):
    img(tmp_path / "gt" / "0.png", 8, 8)
    img(tmp_path / "a" / "0.png", 8, 8, seed=4)
    r = cli("score", str(tmp_path / "a"), "--gt", str(tmp_path / "gt"), "--metrics", "ssim", "--device", "cpu")
    assert r.returncode == 2 and "0.png: cannot be scored" in r.stderr and "11x11" in r.stderr


_DIST = {"PIL": "pillow", "yaml": "pyyaml", "png": "pypng", "skimage": "scikit-image",
         "flip_evaluator": "flip-evaluator"}


def _third_party_imports() -> set[str]:
    import ast

    found = set()
    for path in (ROOT / "nvs_eval").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                found |= {a.name.split(".")[0] for a in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                found.add(node.module.split(".")[0])
    return found - set(sys.stdlib_module_names) - {"nvs_eval"}


def test_every_import_is_a_declared_dependency_and_every_dependency_is_used():
    meta = tomllib.loads((ROOT / "pyproject.toml").read_text())
    declared = {re.split(r"[<>=!~\[ ]", d)[0].lower() for d in meta["project"]["dependencies"]}
    imported = {_DIST.get(m, m).lower() for m in _third_party_imports()}
    source = "\n".join(p.read_text() for p in (ROOT / "nvs_eval").rglob("*.py"))
    data_only = {d for d in declared - imported if f'find_spec("{d}")' in source}  # read for its files
    assert imported <= declared, f"imported but not declared: {sorted(imported - declared)}"
    assert declared - imported == data_only, f"declared but never used: {sorted(declared - imported - data_only)}"
    for package, patterns in meta.get("tool", {}).get("setuptools", {}).get("package-data", {}).items():
        base = ROOT / package.replace(".", "/")
        assert all(list(base.glob(p)) for p in patterns), f"package-data {package}: {patterns} matches nothing"


def test_hdr_renders_are_refused_with_a_reason_not_found_missing(tmp_path):
    img(tmp_path / "gt" / "0.png")
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "0.exr").write_bytes(b"v/1\x01" + b"\0" * 64)
    r = cli("score", str(tmp_path / "a"), "--gt", str(tmp_path / "gt"), "--metrics", "psnr", "--device", "cpu")
    assert r.returncode == 2 and "0.exr: high-dynamic-range images (.exr) are not scored" in r.stderr


def test_the_package_is_found_from_the_top_and_stays_lazy():
    code = ("import sys, nvs_eval; assert 'torch' not in sys.modules; "
            "f = nvs_eval.score_folders; assert callable(f) and callable(nvs_eval.psnr) and "
            "callable(nvs_eval.build_lpips) and 'torch' in sys.modules; print(sorted(nvs_eval.__all__)[:3])")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr


def test_help_does_not_import_torch():
    code = ("import sys; from nvs_eval.cli import build_parser; build_parser(); "
            "assert 'torch' not in sys.modules, 'torch imported by --help'")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr


def test_ruff_is_clean():
    r = subprocess.run([sys.executable, "-m", "ruff", "check", "--output-format", "concise", "nvs_eval", "tests",
                        "benchmarks"], capture_output=True, text=True, cwd=ROOT)
    assert r.returncode == 0, r.stdout + r.stderr


def test_a_store_being_created_by_another_process_does_not_make_the_folder_foreign(tmp_path):
    from nvs_eval.results.export import check_output_folder

    (tmp_path / ".results.sqlite.k2j3.new").write_bytes(b"")  # another process is building the store
    check_output_folder(tmp_path, "results.sqlite", force=False)
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(Exception, match="not an nvs-eval output folder"):
        check_output_folder(tmp_path, "results.sqlite", force=False)
