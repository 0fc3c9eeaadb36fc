"""One reference tester for every metric, built-in or plugin, in the spirit of torchmetrics' ``MetricTester``.

Every metric id goes through the evaluator, as a run scores it, and is checked the same way:

* against its reference on real photographs: the independent implementation its adapter names
  (:meth:`nvs_eval.compute.adapters.Adapter.reference`; the colour-corrected family: of the render corrected by
  multinerf's ``color_correct`` in NumPy first; the masked family, under an all-ones mask, is the plain metric), or
  the one given by the caller (a plugin's). A metric without one fails this check: it is never skipped;
* a batch of renders scores what each render scores alone (batch composition never changes a value), and a
  batch spanning views (each render with its own ground truth and mask) what each view scores alone;
* CPU against CUDA, where a GPU is present;
* bad input (wrong dtype, shape, range, non-finite values) raises a ``TypeError`` / ``ValueError`` naming it;
* a metric with a per-pixel map: the map comes from the same kernel (equal renders give a zero map, and the map's
  mean tracks the value).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pytest
import torch

from nvs_eval.compute import references
from nvs_eval.compute.evaluator import Evaluator
from nvs_eval.conventions.protocols import get_protocol
from nvs_eval.conventions.registry import METRICS

from conftest import photo_pairs, to_nchw

Reference = Callable[[np.ndarray, np.ndarray], float]  # (render, ground truth) float64 H x W x 3 -> value


@functools.cache
def _evaluator(protocol: str, metric: str, device: str) -> Evaluator:
    """One evaluator per metric and device for all checks (building one loads its network's weights)."""
    return Evaluator(get_protocol(protocol), (metric,), device)


@functools.cache
def _adapter_reference(protocol: str, metric: str) -> Reference:
    """The reference the metric's adapter names (built once: it may load a network)."""
    return _evaluator(protocol, metric, "cpu").adapters[METRICS[metric].kind].reference(metric)


@functools.cache
def _cc_pairs(size: tuple[int, int]) -> tuple:
    """The photographs' pairs for the colour-corrected family. Colour correction maps an affine colour change
    exactly onto the ground truth, where PSNR is at float rounding and no tolerance decides it, so a little noise
    is added to every render first: each value is then well conditioned."""
    rng = np.random.default_rng(0)
    return tuple((n, np.clip(p + rng.normal(0, 0.01, p.shape), 0, 1), g) for n, p, g in photo_pairs(size))


@functools.cache
def _cc_corrected(size: tuple[int, int]) -> tuple:
    """The first photograph's five distortions with each render's NumPy-corrected copy (multinerf's color_correct,
    computed once for the whole family; test_masked_color checks the correction itself on all three photographs)."""
    return tuple((n, p, g, references.color_correct(p, g)) for n, p, g in _cc_pairs(size)[:5])


@dataclass
class MetricTester:
    metric: str
    reference: Reference | None = None
    atol: float = 1e-5
    protocol: str = "nvs-eval"
    size: tuple[int, int] = (96, 128)
    mask: bool = False

    def evaluator(self, device: str = "cpu") -> Evaluator:
        return _evaluator(self.protocol, self.metric, device)

    def _score(self, ev: Evaluator, preds: list[np.ndarray], gt: np.ndarray) -> np.ndarray:
        mask = torch.ones(1, 1, *gt.shape[:2]) if self.mask else None
        target = ev.prepare(to_nchw(gt).to(ev.device), None if mask is None else mask.to(ev.device))
        batch = torch.cat([to_nchw(p) for p in preds]).to(ev.device)
        return ev.score(batch, target)[self.metric].numpy()

    def pairs(self):
        if METRICS[self.metric].family == "cc":
            return list(_cc_pairs(self.size))
        return photo_pairs(self.size)

    def reference_for(self) -> Reference:
        """The caller's reference, else the one the metric's adapter names (an error when it has none)."""
        return self.reference if self.reference is not None else _adapter_reference(self.protocol, self.metric)

    def check_reference(self) -> None:
        """Each photograph and distortion, against the reference, to ``atol`` (the colour-corrected family: the
        adapter's reference of the render corrected in NumPy, on one photograph's five distortions)."""
        ev, reference = self.evaluator(), self.reference_for()
        cc = self.reference is None and METRICS[self.metric].family == "cc"
        for name, pred, gt, corrected in _cc_corrected(self.size) if cc else [(*p, p[1]) for p in self.pairs()]:
            got = float(self._score(ev, [pred], gt)[0])
            want = float(reference(corrected, gt))
            assert abs(got - want) <= self.atol, (self.metric, name, got, want)

    def check_batch_equals_single(self) -> None:
        """Five renders of one view scored together equal each scored alone."""
        ev = self.evaluator()
        pairs = self.pairs()[:5]
        gt = pairs[0][2]
        preds = [p for _, p, g in pairs if g is gt]
        together = self._score(ev, preds, gt)
        alone = np.array([self._score(ev, [p], gt)[0] for p in preds])
        np.testing.assert_allclose(together, alone, rtol=0, atol=1e-6 * max(1.0, np.abs(alone).max()))

    def _views(self):
        """Three views (three photographs) with two renders each, and masks: all ones, a disc, the left half."""
        by_gt: dict[int, tuple[np.ndarray, list[np.ndarray]]] = {}
        for _, pred, gt in self.pairs():
            by_gt.setdefault(id(gt), (gt, []))[1].append(pred)
        views = [(gt, preds[:2]) for gt, preds in list(by_gt.values())[:3]]
        h, w = self.size
        yy, xx = np.mgrid[:h, :w]
        disc = ((yy - h / 2) ** 2 + (xx - w / 2) ** 2 < (h / 3) ** 2).astype(np.float32)
        masks = [np.ones((h, w), np.float32), disc, (xx < w // 2).astype(np.float32)]
        return views, masks

    def check_views(self) -> None:
        """A batch spanning views (renders shuffled, a view repeated, masks differing per view) scores what each
        view scores alone."""
        ev = self.evaluator()
        views, masks = self._views()
        gts = torch.cat([to_nchw(gt) for gt, _ in views])
        mask = torch.from_numpy(np.stack(masks))[:, None] if self.mask else None
        order = [(v, r) for r in (1, 0) for v in (2, 0, 1)]  # render r of view v, views interleaved
        target = ev.prepare(gts, mask)
        batch = torch.cat([to_nchw(views[v][1][r]) for v, r in order])
        together = ev.score(batch, target, views=[v for v, _ in order])[self.metric].numpy()
        alone = []
        for v, r in order:
            one = ev.prepare(gts[v : v + 1], None if mask is None else mask[v : v + 1])
            alone.append(float(ev.score(to_nchw(views[v][1][r]), one)[self.metric][0]))
        np.testing.assert_allclose(together, alone, rtol=0, atol=1e-6 * max(1.0, np.abs(alone).max()))
        aligned = ev.score(torch.cat([to_nchw(views[v][1][0]) for v in range(3)]), target)[self.metric].numpy()
        np.testing.assert_allclose(aligned, [alone[order.index((v, 0))] for v in range(3)], rtol=0,
                                   atol=1e-6 * max(1.0, np.abs(alone).max()))
        if self.mask:  # the masks matter, so the equality above shows each view's own mask was used
            plain = ev.prepare(gts[2:3], torch.ones(1, 1, *self.size))
            assert float(ev.score(to_nchw(views[2][1][1]), plain)[self.metric][0]) != alone[order.index((2, 1))]

    def check_devices(self) -> None:
        if not torch.cuda.is_available():
            pytest.skip("CUDA is not available on this machine")
        tol = {"psnr": 1e-5, "ssim": 1e-5}.get(METRICS[self.metric].kind, 1e-4)
        cpu, gpu = self.evaluator("cpu"), self.evaluator("cuda")
        for _, pred, gt in self.pairs()[:3]:
            a, b = self._score(cpu, [pred], gt), self._score(gpu, [pred], gt)
            assert abs(float(a[0]) - float(b[0])) <= tol, (self.metric, a, b)

    def check_bad_input(self) -> None:
        ev = self.evaluator()
        _, pred, gt = self.pairs()[0]
        target = ev.prepare(to_nchw(gt), torch.ones(1, 1, *gt.shape[:2]) if self.mask else None)
        x = to_nchw(pred)
        bad = {"an int tensor": (x * 255).to(torch.uint8), "one channel": x[:, :1], "no batch": x[0],
               "above 1": x + 1.5, "NaN": x.clone().index_fill_(3, torch.tensor([0]), float("nan")),
               "another size": x[..., :-8]}
        for what, y in bad.items():
            with pytest.raises((TypeError, ValueError)) as err:
                ev.score(y, target)
            assert "pred" in str(err.value), (self.metric, what, err.value)

    def check_map(self) -> None:
        """A metric with a map: zero for the ground truth itself, larger where the render is worse."""
        if not METRICS[self.metric].map_label:
            pytest.skip(f"{self.metric} has no per-pixel map")
        ev = self.evaluator()
        _, pred, gt = self.pairs()[0]
        target = ev.prepare(to_nchw(gt))
        same = ev.maps(to_nchw(gt), target)[self.metric]
        worse = ev.maps(to_nchw(np.clip(pred + 0.1, 0, 1)), target)[self.metric]
        better = ev.maps(to_nchw(pred), target)[self.metric]
        assert float(same.abs().max()) < 1e-5
        assert float(worse.mean()) > float(better.mean()) > 0

    def run_all(self) -> None:
        for check in (self.check_reference, self.check_batch_equals_single, self.check_views, self.check_bad_input,
                      self.check_map, self.check_devices):
            try:
                check()
            except pytest.skip.Exception:
                pass
