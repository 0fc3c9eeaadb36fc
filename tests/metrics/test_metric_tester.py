"""Every built-in metric through the one reference tester (tests/metric_tester.py): against the independent
implementation its adapter names (Adapter.reference), batch against single, CPU against CUDA, bad input, and the
map from the same kernel. Plugins go through the same tester in tests/test_plugin.py."""

from __future__ import annotations

import pytest

from nvs_eval.conventions.registry import BUILTIN_METRICS
from nvs_eval.metrics.weights import locate_backbone

from metric_tester import MetricTester

METRIC_IDS = [m for m, s in BUILTIN_METRICS.items() if s.lpips_net != "squeeze" or locate_backbone("squeeze")]


@pytest.fixture
def tester(request):
    metric = request.param
    spec = BUILTIN_METRICS[metric]
    return MetricTester(metric, atol=1e-6 if spec.kind == "flip" else 1e-5, mask=spec.family == "masked")


@pytest.mark.parametrize("tester", METRIC_IDS, indirect=True)
@pytest.mark.parametrize("check", ["reference", "batch_equals_single", "views", "bad_input", "map", "devices"])
def test_every_metric_through_the_reference_tester(tester, check):
    getattr(tester, f"check_{check}")()
