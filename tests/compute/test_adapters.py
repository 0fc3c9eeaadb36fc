"""Metric adapters own their kind: the stored-signature rule each declares, pinned byte for byte for every built-in
metric (so existing stores are reused, never recomputed), and a new kind added as one adapter class."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import ClassVar

import numpy as np
import pytest

from nvs_eval.api import score_scenes
from nvs_eval.compute import adapters, references
from nvs_eval.compute.adapters import Adapter, register_adapter
from nvs_eval.compute.evaluator import Evaluator, weights_entry
from nvs_eval.compute.runner import RunStats
from nvs_eval.conventions.protocols import get_protocol
from nvs_eval.conventions.registry import BUILTIN_METRICS, METRICS, MetricSpec
from nvs_eval.data.layouts import pairs_scene
from nvs_eval.errors import PluginError, UsageError
from nvs_eval.metrics.flip import flip_signature
from nvs_eval.results.store import ResultsStore

from helpers import img

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


class _WeightedMAE(Adapter):
    """A built-in-style kind in one class: a weight read from a file times the mean absolute error."""

    kind = "weighted_mae"
    path: ClassVar[Path]  # the weight file, set by the test

    def __init__(self, ctx, metrics):
        super().__init__(ctx, metrics)
        self.weight = float(self.path.read_text())
        self.digest = hashlib.sha256(self.path.read_bytes()).hexdigest()[:16]

    @classmethod
    def signature_keys(cls, spec):
        return ("weighted_mae",)

    def signature(self):
        return {"weighted_mae": self.digest}

    def reference(self, metric):
        return lambda pred, gt: self.weight * float(np.abs(pred - gt).mean())

    def score(self, metric, images, target):
        return self.weight * (images - target.image).abs().flatten(1).mean(1)


@pytest.fixture
def new_kind(tmp_path, monkeypatch):
    """``wmae``, a metric of the new kind, registered as a built-in is (its adapter and its spec), and undone."""
    monkeypatch.setattr(adapters, "ADAPTERS", dict(adapters.ADAPTERS))
    register_adapter(_WeightedMAE)
    spec = MetricSpec("wmae", "wMAE", False, 4, "weighted_mae")
    monkeypatch.setitem(BUILTIN_METRICS, "wmae", spec)
    monkeypatch.setattr(METRICS, "_all", {**METRICS._specs(), "wmae": spec})
    monkeypatch.setattr(_WeightedMAE, "path", tmp_path / "wmae.txt", raising=False)
    _WeightedMAE.path.write_text("2.0")
    return _WeightedMAE.path


def test_a_new_kind_is_one_adapter_class_and_a_changed_weight_file_is_not_reused(tmp_path, new_kind):
    for i in range(2):
        img(tmp_path / "gt" / f"{i}.png", seed=i)
        img(tmp_path / "a" / f"{i}.png", seed=10 + i)
    scene = pairs_scene([("a", tmp_path / "a")], tmp_path / "gt")
    metrics = ("psnr", "wmae")
    with ResultsStore(tmp_path / "out" / "results.sqlite") as store:
        ev = Evaluator(get_protocol("nvs-eval"), metrics, "cpu")
        first = score_scenes([scene], evaluator=ev, store=store, progress=False)
        summary = ev.weights_summary()
        new_kind.write_text("3.0")  # a changed weight file: its digest is in the stored signature
        ev = Evaluator(get_protocol("nvs-eval"), metrics, "cpu")
        assert weights_entry(summary, "wmae") != weights_entry(ev.weights_summary(), "wmae") != ""
        assert weights_entry(summary, "psnr") == weights_entry(ev.weights_summary(), "psnr")  # others untouched
        stats = RunStats()
        score_scenes([scene], evaluator=ev, store=store, progress=False, stats=stats)
        assert ev.predictions_scored == 0  # not reused silently: kept and listed as changed ...
        assert sorted(stats.stale) == [f"default/{scene.name}/a/{i}: weights changed since it was scored"
                                       for i in range(2)]
        again = score_scenes([scene], evaluator=ev, store=store, progress=False, force=True)  # ... re-scored
        assert ev.predictions_scored == 2
    np.testing.assert_allclose(again["wmae"].to_numpy(), first["wmae"].to_numpy() * 1.5, rtol=1e-6)
    assert again["psnr"].equals(first["psnr"])


def test_the_new_kind_goes_through_the_reference_tester(new_kind):
    from metric_tester import MetricTester

    tester = MetricTester("wmae")
    tester.check_reference()
    tester.check_views()


def test_an_adapter_must_declare_its_signature_rule_and_its_reference(monkeypatch):
    monkeypatch.setattr(adapters, "ADAPTERS", dict(adapters.ADAPTERS))

    class NoRule(Adapter):
        kind = "no_rule"

        def reference(self, metric):
            return references.psnr

    class NoReference(Adapter):
        kind = "no_reference"

        @classmethod
        def signature_keys(cls, spec):
            return ()

    with pytest.raises(TypeError, match="must declare signature_keys"):
        register_adapter(NoRule)
    with pytest.raises(TypeError, match="must declare reference"):
        register_adapter(NoReference)
    with pytest.raises(TypeError, match="already has an adapter"):
        register_adapter(type("Again", (adapters.PSNRAdapter,), {}))


def test_a_signature_that_its_rule_does_not_cover_is_refused(new_kind, monkeypatch):
    """A digest that no metric's rule names would let a changed file be reused: the evaluator refuses it."""
    monkeypatch.setattr(_WeightedMAE, "signature", lambda self: {"wmae_weights": self.digest})
    with pytest.raises(TypeError, match="must agree"):
        Evaluator(get_protocol("nvs-eval"), ("wmae",), "cpu").weights_summary()


def test_every_metric_kind_has_an_adapter_and_an_unknown_kind_is_named(monkeypatch):
    assert {s.kind for s in BUILTIN_METRICS.values()} | {"plugin"} == set(adapters.ADAPTERS)
    spec = MetricSpec("odd", "Odd", False, 3, "no_such_kind")
    monkeypatch.setattr(METRICS, "_all", {**METRICS._specs(), "odd": spec})
    with pytest.raises(UsageError, match="metric 'odd' has kind 'no_such_kind', which no adapter registers"):
        Evaluator(get_protocol("nvs-eval"), ("odd",), "cpu")


def test_the_tester_errors_for_a_metric_whose_kind_has_no_reference(new_kind, monkeypatch):
    """A kind that gives the tester no reference fails the reference check; it is never skipped."""
    from metric_tester import MetricTester

    def none(self, metric):
        raise PluginError(f"{metric}: no reference")

    monkeypatch.setattr(_WeightedMAE, "reference", none)
    with pytest.raises(PluginError, match="wmae: no reference"):
        MetricTester("wmae", protocol="3dgs").check_reference()  # a protocol no other test built it under
