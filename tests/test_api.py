"""The Python API (nvs_eval/api.py) as a script uses it: the same numbers as the CLI, an evaluator reused across
calls, read_results over the store, and the lazy top level."""

from __future__ import annotations

import json

import numpy as np

import nvs_eval
from nvs_eval.api import evaluate, read_results, score_folders
from nvs_eval.compute.evaluator import Evaluator

from helpers import bench, cli, folder


def test_score_folders_equals_the_cli_and_a_reused_evaluator_equals_a_fresh_one(tmp_path):
    folder(tmp_path / "gt", ["0.png", "1.png"])
    folder(tmp_path / "r", ["0.png", "1.png"], seed=7)
    df = score_folders({"r": tmp_path / "r"}, tmp_path / "gt", "3dgs", device="cpu", progress=False)
    r = cli("score", f"r={tmp_path / 'r'}", "--gt", str(tmp_path / "gt"), "--protocol", "3dgs", "--device", "cpu",
            "--json", str(tmp_path / "s.json"))
    assert r.returncode == 0, r.stderr
    views = json.loads((tmp_path / "s.json").read_text())["views"]
    for m in ("psnr", "ssim", "lpips_vgg"):
        assert np.array_equal(df[m].to_numpy(), np.array([v[m] for v in views]))
    ev = Evaluator(nvs_eval.get_protocol("3dgs"), device="cpu")
    again = [score_folders({"r": tmp_path / "r"}, tmp_path / "gt", evaluator=ev, progress=False) for _ in range(2)]
    cols = ["psnr", "ssim", "lpips_vgg"]
    assert again[0].equals(again[1]) and again[0][cols].equals(df[cols])
    assert ev.targets_prepared == 4  # two views, prepared once per call


def test_evaluate_and_read_results_give_one_row_per_view_with_every_metric(tmp_path):
    cfg = bench(tmp_path, views=3, metrics="psnr, ssim")
    res = evaluate(cfg, tmp_path / "out", device="cpu", progress=False)
    df = read_results(tmp_path / "out")
    assert len(df) == 6 and {"psnr", "ssim", "protocol"} <= set(df.columns)
    assert sorted(df["method"].unique()) == ["m1", "m2"]
    merged = res.per_view.merge(df, on=["dataset", "scene", "method", "view"], suffixes=("", "_stored"))
    assert np.array_equal(merged["psnr"], merged["psnr_stored"])
    assert read_results(tmp_path / "out", scenes={("d", "nowhere")}).empty


def test_the_top_level_names_resolve_lazily_to_their_stages():
    assert nvs_eval.get_protocol.__module__ == "nvs_eval.conventions.protocols"
    assert nvs_eval.Evaluator.__module__ == "nvs_eval.compute.evaluator"
    assert "psnr" in nvs_eval.METRICS and set(dir(nvs_eval)) >= {"score_folders", "evaluate", "read_results"}
