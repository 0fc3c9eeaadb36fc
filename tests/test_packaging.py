"""The package as a user installs and imports it: declared dependencies, a lazy top level, an instant --help, ruff."""

from __future__ import annotations

import re
import subprocess
import sys

import tomllib

from helpers import ROOT

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


def test_nvs_eval_evaluate_is_the_function_whatever_was_imported_before():
    """The compute stage is the subpackage ``nvs_eval.compute``: a subpackage named ``evaluate`` would replace the
    top-level ``nvs_eval.evaluate(config, out)`` function as soon as anything imported it (README's example after
    ``score_folders``)."""
    code = ("import nvs_eval; nvs_eval.score_folders; import nvs_eval.compute.runner; "
            "from nvs_eval import evaluate; assert callable(evaluate) and evaluate is nvs_eval.evaluate and "
            "evaluate.__module__ == 'nvs_eval.api', evaluate")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr


def test_the_installed_command_and_python_m_score_in_a_new_interpreter(tmp_path):
    """The tests' ``cli`` forks each command from a server that imported torch already; the two ways a user runs
    nvs-eval, the installed ``nvs-eval`` script and ``python -m nvs_eval``, each start a new interpreter here and
    score a pair end to end."""
    from pathlib import Path

    from helpers import folder

    names = ["000.png", "001.png"]
    folder(tmp_path / "gt", names, seed=1)
    folder(tmp_path / "r", names, seed=1)  # identical: PSNR inf, SSIM 1
    script = Path(sys.executable).parent / "nvs-eval"
    for command in ([str(script)], [sys.executable, "-m", "nvs_eval"]):
        r = subprocess.run([*command, "score", str(tmp_path / "r"), "--gt", str(tmp_path / "gt"), "--metrics",
                            "psnr,ssim", "--device", "cpu"], capture_output=True, text=True)
        assert r.returncode == 0, r.stderr
        assert re.search(r"^r\s+inf\s+1\.0+\s+2$", r.stdout, re.M), r.stdout
