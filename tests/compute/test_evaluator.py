"""The streaming evaluator: ground-truth work once per view, results equal to per-pair computation."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from nvs_eval.api import score_scenes
from nvs_eval.compute.evaluator import (
    SSIM_BAND_PIXELS,
    SSIM_BAND_PIXELS_CPU,
    Evaluator,
    resolve_device,
    ssim_band_rows,
)
from nvs_eval.compute.runner import RunStats
from nvs_eval.conventions.protocols import get_protocol
from nvs_eval.data.layouts import pairs_scene
from nvs_eval.metrics import psnr, ssim
from nvs_eval.results.store import ResultsStore

from conftest import photo, to_nchw
from helpers import img


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
        img(tmp_path / "a" / "1.png", seed=99)  # a changed render is kept, not silently re-scored ...
        before = store.frame()
        n = evaluator.predictions_scored
        stats = RunStats()
        third = score_scenes([two], evaluator=evaluator, store=store, progress=False, stats=stats)
        assert evaluator.predictions_scored - n == 0
        assert stats.stale == [f"default/{two.name}/a/1: render changed since it was scored"]  # scene: gt/'s parent
        assert len(third) == 3 and store.frame().equals(before)
        n = evaluator.predictions_scored  # ... until --force: re-scored, the old rows move to the history
        score_scenes([two], evaluator=evaluator, store=store, progress=False, force=True)
        assert evaluator.predictions_scored - n == 1
        hist = store.history()
        assert len(hist) == len(evaluator.metrics) and set(hist["view"]) == {"1"} and set(hist["method"]) == {"a"}
        old = before[(before["method"] == "a") & (before["view"] == "1")].set_index("metric")["value"]
        assert hist.set_index("metric")["value"].equals(old)
        n = evaluator.predictions_scored
        score_scenes([two], evaluator=evaluator, store=store, progress=False, recompute=True)
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


@pytest.mark.parametrize("protocol", ["nvs-eval", "3dgs", "nerfstudio"])
def test_evaluator_tiles_large_views_with_the_same_scores(protocol):
    """Above ``tile_above`` pixels LPIPS runs in tiles and SSIM in row bands, and a consumed batch is quantised in
    place; every metric equals the untiled evaluator's, under each SSIM padding and quantisation convention."""
    gt = to_nchw(photo("astronaut", (300, 340)))
    preds = torch.cat([to_nchw(photo("astronaut", (300, 340), offset=(3, 5))), (gt * 0.9 + 0.05)])
    proto = get_protocol(protocol)
    metrics = tuple(dict.fromkeys(("psnr", "ssim", "lpips_alex", "lpips_vgg") + proto.metrics))
    whole = Evaluator(proto, metrics, "cpu")
    tiled = Evaluator(proto, metrics, "cpu", tile=128, tile_above=50_000)
    # the CPU bands every view (speed: cache-sized bands); CUDA only views above tile_above (memory)
    assert tiled.policy.ssim_band(gt, 2) == whole.policy.ssim_band(gt, 2) == SSIM_BAND_PIXELS_CPU // (340 * 2)
    assert ssim_band_rows(300, 340, 2, "cuda", 50_000) == SSIM_BAND_PIXELS // (340 * 2)
    assert ssim_band_rows(300, 340, 2, "cuda") is None
    tiled.policy.ssim_band = lambda image, n: 7  # bands of 7 rows: many bands, at both edges
    target = tiled.prepare(gt)
    assert target.tiled and "lpips" not in target.prepared and not whole.prepare(gt).tiled
    given = preds.clone()
    a, b = whole.score(preds, whole.prepare(gt)), tiled.score(given, target, consume=True)
    for m in a:
        assert (a[m] - b[m]).abs().max() <= 1e-6, m
    assert torch.equal(preds, given) == (proto.quantize == "none" or proto.quantize_images not in ("both", "render"))


def test_low_precision_is_opt_in_measured_and_never_mixed_with_exact_rows():
    gt = to_nchw(photo("chelsea", (128, 160)))
    preds = to_nchw(photo("chelsea", (128, 160), offset=(2, 3)))
    proto = get_protocol("nvs-eval")
    exact = Evaluator(proto, ("psnr", "lpips_vgg"), "cpu")
    fast = Evaluator(proto, ("psnr", "lpips_vgg"), "cpu", precision="bf16")
    a, b = exact.score(preds, exact.prepare(gt)), fast.score(preds, fast.prepare(gt))
    assert torch.equal(a["psnr"], b["psnr"])  # only LPIPS's convolutions change precision
    err = float((a["lpips_vgg"] - b["lpips_vgg"]).abs().max())
    assert 0 < err < 2e-2, err  # it does change the number: that is why it is opt-in
    assert fast.weights_summary().endswith(";precision=bf16") and "precision" not in exact.weights_summary()
    with pytest.raises(ValueError, match="needs a CUDA device"):
        Evaluator(proto, ("lpips_vgg",), "cpu", precision="tf32")
    with pytest.raises(ValueError, match="unknown precision"):
        Evaluator(proto, ("psnr",), "cpu", precision="int8")


def test_large_views_are_read_ahead_one_at_a_time(tmp_path, evaluator, monkeypatch):
    """Decoded views waiting for the device stay under PREFETCH_BYTES (but one is always read ahead), so 4K
    views are not held four at a time; the results do not change."""
    from nvs_eval.compute import runner

    for i in range(6):
        img(tmp_path / "gt" / f"{i}.png", seed=i)
        img(tmp_path / "a" / f"{i}.png", seed=10 + i)
    scene = pairs_scene([("a", tmp_path / "a")], tmp_path / "gt")
    expected = score_scenes([scene], evaluator=evaluator, progress=False)
    started, done, outstanding = [], [], []
    real_load, real_compute = runner._load, runner._compute

    def load(*args, **kwargs):
        started.append(1)
        return real_load(*args, **kwargs)

    def compute(ev, lv):
        outstanding.append(len(started) - len(done))
        out = real_compute(ev, lv)
        done.append(1)
        return out

    monkeypatch.setattr(runner, "_load", load)
    monkeypatch.setattr(runner, "_compute", compute)
    monkeypatch.setattr(runner, "PREFETCH_BYTES", 1)  # every view is "large"
    got = score_scenes([scene], evaluator=evaluator, progress=False)
    assert len(outstanding) == 6 and max(outstanding) <= 2  # the view on the device and one read ahead
    assert got.equals(expected)


def test_the_exact_path_runs_with_tf32_off_whatever_the_process_set():
    """PyTorch allows TF32 in cuDNN by default; inside every float32 call the evaluator turns it off (and restores
    the process's flags after). The flags are read from inside the LPIPS convolution as it runs."""
    from nvs_eval.compute.evaluator import Evaluator
    from nvs_eval.conventions.protocols import get_protocol

    ev = Evaluator(get_protocol("nvs-eval"), ("lpips_alex",), device="cpu")
    seen = []
    ev.adapters["lpips"].by_metric["lpips_alex"].slices[0][0].register_forward_pre_hook(
        lambda *_: seen.append((torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32)))
    old = (torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32)
    torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = True
    try:
        x = torch.rand(1, 3, 64, 64, generator=torch.Generator().manual_seed(0))
        ev.score(x, ev.prepare(x))
        assert seen and set(seen) == {(False, False)}
        assert torch.backends.cudnn.allow_tf32 and torch.backends.cuda.matmul.allow_tf32  # restored
    finally:
        torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = old


def test_small_views_are_scored_in_batches_spanning_views_with_the_numbers_of_one_view_at_a_time(tmp_path,
                                                                                                  monkeypatch):
    """Views of one small size share a call to the evaluator (each render against its own ground truth and mask);
    the values equal those of scoring each view on its own, and a batch's rows are stored together."""
    from dataclasses import replace

    from PIL import Image

    from nvs_eval.compute import runner

    sizes = [(40, 48)] * 4 + [(52, 60)] * 3  # two sizes: two batches
    masks = {}
    for i, (h, w) in enumerate(sizes):
        img(tmp_path / "gt" / f"{i}.png", h, w, seed=i)
        for k, m in enumerate("ab"):
            img(tmp_path / m / f"{i}.png", h, w, seed=20 * (k + 1) + i)
        yy, xx = np.mgrid[:h, :w]
        mask = np.full((h, w), 255, np.uint8) if i in (0, 5) else ((xx < w // 2 + i) * 255).astype(np.uint8)
        Image.fromarray(mask).save(tmp_path / f"mask{i}.png")
        masks[str(i)] = tmp_path / f"mask{i}.png"
    scene = replace(pairs_scene([(m, tmp_path / m) for m in "ab"], tmp_path / "gt"), masks=masks)
    metrics = ("psnr", "ssim", "lpips_alex", "masked_psnr", "masked_ssim", "masked_lpips_alex")
    ev = Evaluator(get_protocol("nvs-eval"), metrics, "cpu")
    monkeypatch.setattr(runner, "CROSS_VIEW_DEVICES", ("cpu", "cuda"))  # CUDA only by default (it pays there)
    calls, real = [], Evaluator.score

    def score(self, preds, target, **kw):
        calls.append((preds.shape[0], target.views))
        return real(self, preds, target, **kw)

    monkeypatch.setattr(Evaluator, "score", score)
    with ResultsStore(tmp_path / "batched.sqlite") as store:
        batched = score_scenes([scene], evaluator=ev, progress=False, store=store)
    assert calls == [(8, 4), (6, 3)]  # one call per batch: its 2 renders of each view against the views
    calls.clear()
    monkeypatch.setattr(runner, "MAX_BATCH_VIEWS", 1)
    alone = score_scenes([scene], evaluator=ev, progress=False)
    assert calls == [(2, 1)] * 7
    assert batched[["method", "view"]].equals(alone[["method", "view"]])
    np.testing.assert_allclose(batched[list(metrics)].to_numpy(), alone[list(metrics)].to_numpy(), rtol=0, atol=1e-6)
    # the all-ones masks (views 0 and 5) give the plain values, the others their own masked ones
    plain = batched.set_index(["method", "view"])
    assert (plain.loc[(slice(None), ["0", "5"]), "masked_psnr"] ==
            plain.loc[(slice(None), ["0", "5"]), "psnr"]).all()
    assert (plain.loc[(slice(None), ["1", "2", "6"]), "masked_psnr"] !=
            plain.loc[(slice(None), ["1", "2", "6"]), "psnr"]).all()


def test_the_batches_of_a_scene_depend_on_its_views_only(tmp_path, monkeypatch):
    """Consecutive small views of one size share a batch up to the pixel and view caps; a size change or a large
    view starts a new one. The same jobs give the same batches, whatever is stored or sharded."""
    from nvs_eval.compute import runner
    from nvs_eval.data.pairing import ViewJob

    def job(i, h, w, n=3):
        gt = img(tmp_path / f"gt{i}.png", h, w, seed=i)
        return ViewJob(str(i), gt, {f"m{k}": gt for k in range(n)})

    jobs = [job(0, 256, 256), job(1, 256, 256), job(2, 128, 128), job(3, 128, 128), job(4, 600, 600),
            job(5, 128, 128), job(6, 128, 128)]
    assert [j.batch for j in runner.with_batches(jobs, "cuda")] == [0, 0, 1, 1, 2, 3, 3]
    assert runner.with_batches(jobs, "cuda") == runner.with_batches(jobs, "cuda")
    assert [j.batch for j in runner.with_batches(jobs, "cpu")] == list(range(7))  # measured slower there
    monkeypatch.setattr(runner, "MAX_RENDERS_PIXELS", 3 * 256 * 256)  # one 256x256 view of 3 renders per batch
    assert [j.batch for j in runner.with_batches(jobs, "cuda")] == [0, 1, 2, 2, 3, 4, 4]
