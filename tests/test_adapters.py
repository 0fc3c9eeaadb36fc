"""Metric adapters own their kind: the stored-signature rule each declares, pinned byte for byte for every built-in
metric (so existing stores are reused, never recomputed), and a new kind added as one adapter class."""

from __future__ import annotations

import pytest

from nvs_eval.conventions.protocols import get_protocol
from nvs_eval.conventions.registry import BUILTIN_METRICS
from nvs_eval.evaluate.evaluator import Evaluator, weights_entry
from nvs_eval.metrics.flip import flip_signature

_DISTS = "dists:57067929041a66b3/ab0a3bc45e278102"
_ALEX = "lpips_alex:a30fbdab968bd47f/df73285e35b22355"
_VGG = "lpips_vgg:57067929041a66b3/a78928a0af1e5f0f"
_SQUEEZE = "lpips_squeeze:aaaa/bbbb"
_SUMMARY = f"{_DISTS};flip:flip-evaluator==1.7;{_ALEX};{_VGG};precision=bf16;{_SQUEEZE}"
# Each built-in metric's part of a stored weights summary, as the store compared it when these rows were written.
PINNED = {
    "psnr": "", "ssim": "", "cc_psnr": "", "cc_ssim": "", "masked_psnr": "", "masked_ssim": "",
    "lpips_alex": f"{_ALEX};precision=bf16", "cc_lpips_alex": f"{_ALEX};precision=bf16",
    "masked_lpips_alex": f"{_ALEX};precision=bf16",
    "lpips_vgg": f"{_VGG};precision=bf16", "cc_lpips_vgg": f"{_VGG};precision=bf16",
    "masked_lpips_vgg": f"{_VGG};precision=bf16",
    "lpips_squeeze": f"precision=bf16;{_SQUEEZE}",
    "dists": _DISTS, "flip": "flip:flip-evaluator==1.7",
}


def test_every_builtin_metric_is_pinned():
    assert set(PINNED) == set(BUILTIN_METRICS)


@pytest.mark.parametrize("metric", list(PINNED))
def test_the_stored_signature_rule_of_every_builtin_metric_is_unchanged(metric):
    assert weights_entry(_SUMMARY, metric) == PINNED[metric]


@pytest.mark.parametrize("precision", ["float32", "bf16"])
def test_the_weights_summary_of_the_builtin_metrics_is_unchanged(precision):
    metrics = tuple(m for m in BUILTIN_METRICS if m != "lpips_squeeze")  # its weights are the user's
    ev = Evaluator(get_protocol("nvs-eval"), metrics, "cpu", precision=precision)
    want = f"{_DISTS};flip:{flip_signature()};{_ALEX};{_VGG}" + ("" if precision == "float32" else ";precision=bf16")
    assert ev.weights_summary() == want
    assert Evaluator(get_protocol("nvs-eval"), ("psnr", "ssim", "flip"), "cpu",
                     precision=precision).weights_summary() == f"flip:{flip_signature()}"
