"""The streaming evaluator: ground-truth work once per view, results equal to per-pair computation."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from conftest import photo, to_nchw
from helpers import img

from nvs_eval.api import score_scenes
from nvs_eval.data.layouts import pairs_scene
from nvs_eval.evaluate.evaluator import Evaluator, resolve_device
from nvs_eval.metrics import psnr, ssim
from nvs_eval.protocols import get_protocol
from nvs_eval.results.store import ResultsStore


@pytest.fixture(scope="module")
def evaluator():
    return Evaluator(get_protocol("nvs-eval"), device="cpu")


def test_ground_truth_is_prepared_once_per_view_however_many_methods(tmp_path, evaluator):
    names = [f"{i}.png" for i in range(3)]
    for i, n in enumerate(names):
        img(tmp_path / "gt" / n, seed=i)
        for m in range(4):
            img(tmp_path / f"m{m}" / n, seed=100 * m + i)
    scene = pairs_scene([(f"m{m}", tmp_path / f"m{m}") for m in range(4)], tmp_path / "gt")
    before_t, before_p = evaluator.targets_prepared, evaluator.predictions_scored
    df = score_scenes([scene], evaluator=evaluator, progress=False)
    assert evaluator.targets_prepared - before_t == 3
    assert evaluator.predictions_scored - before_p == 12
    assert len(df) == 12


def test_batched_results_equal_per_pair_computation(evaluator):
    gt = to_nchw(photo("astronaut", (64, 80), (50, 100)))
    preds = torch.stack([(gt[0] * s).clamp(0, 1) for s in (0.9, 1.0, 1.1)])
    target = evaluator.prepare(gt)
    batched = evaluator.score(preds, target)
    for i in range(3):
        single = evaluator.score_pair(preds[i : i + 1], gt)
        for m in evaluator.metrics:
            assert float(batched[m][i]) == pytest.approx(float(single[m][0]), abs=1e-6, nan_ok=False) or \
                (np.isinf(float(batched[m][i])) and np.isinf(float(single[m][0])))
    assert float(batched["psnr"][0]) == pytest.approx(float(psnr(preds[:1], gt)), abs=1e-5)
    assert float(batched["ssim"][2]) == pytest.approx(float(ssim(preds[2:], gt)), abs=1e-6)
    assert np.isinf(float(batched["psnr"][1]))


def test_reused_rows_are_not_recomputed_and_added_methods_cost_only_themselves(tmp_path, evaluator):
    for i in range(2):
        img(tmp_path / "gt" / f"{i}.png", seed=i)
        img(tmp_path / "a" / f"{i}.png", seed=10 + i)
        img(tmp_path / "b" / f"{i}.png", seed=20 + i)
    with ResultsStore(tmp_path / "out" / "results.sqlite") as store:
        one = pairs_scene([("a", tmp_path / "a")], tmp_path / "gt")
        first = score_scenes([one], evaluator=evaluator, store=store, progress=False)
        n = evaluator.predictions_scored
        two = pairs_scene([("a", tmp_path / "a"), ("b", tmp_path / "b")], tmp_path / "gt")
        second = score_scenes([two], evaluator=evaluator, store=store, progress=False)
        assert evaluator.predictions_scored - n == 2  # only method b
        a_again = second[second["method"] == "a"].reset_index(drop=True)
        assert a_again[list(evaluator.metrics)].equals(first[list(evaluator.metrics)])
        img(tmp_path / "a" / "1.png", seed=99)  # a changed render is recomputed
        n = evaluator.predictions_scored
        score_scenes([two], evaluator=evaluator, store=store, progress=False)
        assert evaluator.predictions_scored - n == 1
        n = evaluator.predictions_scored
        score_scenes([two], evaluator=evaluator, store=store, progress=False, force=True)
        assert evaluator.predictions_scored - n == 4
        assert len(store.frame()) == 2 * 2 * len(evaluator.metrics)
        assert store.integrity_ok()


def test_device_resolution_is_explicit():
    assert resolve_device("cpu").type == "cpu"
    with pytest.raises(ValueError, match="unknown device"):
        resolve_device("tpu:0")
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="CUDA is not available"):
            resolve_device("cuda:0")
