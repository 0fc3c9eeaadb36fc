"""Every built-in metric through the one reference tester (tests/metric_tester.py): against an independent
implementation where one applies here (the others are checked against theirs in their own modules), batch against
single, CPU against CUDA, bad input, and the map from the same kernel. Plugins go through the same tester in
tests/test_plugin.py."""

from __future__ import annotations

import numpy as np
import pytest
from skimage.metrics import structural_similarity

from nvs_eval.conventions.registry import BUILTIN_METRICS
from nvs_eval.metrics.weights import locate_backbone

from conftest import to_nchw
from metric_tester import MetricTester

METRIC_IDS = [m for m, s in BUILTIN_METRICS.items() if s.lpips_net != "squeeze" or locate_backbone("squeeze")]


def _psnr(pred, gt):
    return 10 * np.log10(1.0 / np.mean((pred - gt) ** 2))


def _ssim(pred, gt):  # Wang et al.'s Gaussian 11/1.5, population covariance: nvs-eval's default protocol
    return structural_similarity(gt, pred, channel_axis=2, data_range=1.0, gaussian_weights=True, sigma=1.5,
                                 use_sample_covariance=False)


def _flip(pred, gt):
    import flip_evaluator

    _, mean, _ = flip_evaluator.evaluate(np.ascontiguousarray(gt, np.float32), np.ascontiguousarray(pred, np.float32),
                                         "LDR", inputsRGB=True, applyMagma=False, computeMeanError=True,
                                         parameters={"ppd": 67.02064514160156})
    return float(mean)


@pytest.fixture
def tester(request, reference_lpips, reference_dists):
    metric = request.param
    spec = BUILTIN_METRICS[metric]
    refs = {"psnr": _psnr, "ssim": _ssim, "flip": _flip}
    if spec.kind == "lpips" and spec.lpips_net in reference_lpips:
        net = reference_lpips[spec.lpips_net]
        refs["lpips"] = lambda p, g: float(net(to_nchw(p), to_nchw(g), normalize=True).detach())
    refs["dists"] = lambda p, g: float(reference_dists(to_nchw(p), to_nchw(g), batch_average=True).detach())
    # the masked family with an all-ones mask is the plain metric; colour correction has its own reference module
    reference = None if spec.family == "cc" else refs.get(spec.kind)
    atol = {"psnr": 1e-5, "ssim": 1e-5}.get(spec.kind, 1e-5 if spec.kind != "flip" else 1e-6)
    return MetricTester(metric, reference, atol, mask=spec.family == "masked")


@pytest.mark.parametrize("tester", METRIC_IDS, indirect=True)
@pytest.mark.parametrize("check", ["reference", "batch_equals_single", "views", "bad_input", "map", "devices"])
def test_every_metric_through_the_reference_tester(tester, check):
    getattr(tester, f"check_{check}")()
