"""``nvs_eval.metrics`` exports every kernel, flat, in one signature style: ``kernel(pred, target[, mask][, spec])
-> Tensor[N]`` (the package docstring)."""

from __future__ import annotations

import pytest
import torch

import nvs_eval.metrics as metrics


def test_every_kernel_is_exported_in_one_signature_style():
    g = torch.Generator().manual_seed(0)
    target = torch.rand(1, 3, 40, 44, generator=g).expand(2, -1, -1, -1)
    pred = (target + 0.05 * torch.randn(2, 3, 40, 44, generator=g)).clamp(0, 1)
    mask = torch.ones(1, 1, 40, 44)
    values = {
        "psnr": metrics.psnr(pred, target), "ssim": metrics.ssim(pred, target),
        "masked_psnr": metrics.masked_psnr(pred, target, mask),
        "masked_ssim": metrics.masked_ssim(pred, target, mask, metrics.SSIM_VALID),
        "dycheck_ssim": metrics.dycheck_ssim(pred, target, mask), "flip": metrics.flip(pred, target),
    }
    for name, v in values.items():
        assert tuple(v.shape) == (2,), name  # one value per render, never reduced over the batch
    assert torch.allclose(values["masked_psnr"].double(), values["psnr"].double(), atol=1e-4)  # all-ones mask
    assert torch.allclose(values["masked_ssim"].double(), values["ssim"].double(), atol=1e-6)
    for name in ("LPIPS", "build_lpips", "DISTS", "build_dists", "color_correct", "masked_mse", "psnr_from_mse",
                 "target_moments", "ssim_with_moments", "SSIMSpec"):
        assert name in metrics.__all__ and getattr(metrics, name) is not None, name
    # the registry is a layer above the kernels (docs/architecture.md, tests/test_layers.py): not re-exported here
    assert "METRICS" not in metrics.__all__ and "MetricSpec" not in metrics.__all__


@pytest.mark.parametrize("protocol,kernel", [("nvs-eval", "masked_lpips"), ("dycheck", "dycheck_lpips")])
def test_the_masked_lpips_kernels_give_the_evaluators_values(protocol, kernel):
    from nvs_eval.compute.evaluator import Evaluator
    from nvs_eval.conventions.protocols import get_protocol

    g = torch.Generator().manual_seed(1)
    target = torch.randint(0, 256, (1, 3, 48, 56), generator=g) / 255.0  # 8-bit values: any quantisation keeps them
    pred = ((target + torch.randint(-20, 21, (2, 3, 48, 56), generator=g) / 255.0).clamp(0, 1) * 255).round() / 255
    yy, xx = torch.meshgrid(torch.arange(48), torch.arange(56), indexing="ij")
    mask = (((yy - 24) ** 2 + (xx - 28) ** 2) < 400).float()[None, None]
    ev = Evaluator(get_protocol(protocol), ("masked_lpips_alex",), "cpu")
    want = ev.score(pred, ev.prepare(target, mask))["masked_lpips_alex"]
    model = ev.adapters["lpips"].by_metric["masked_lpips_alex"]
    got = getattr(metrics, kernel)(pred, target.expand(2, -1, -1, -1), mask, model)
    assert tuple(got.shape) == (2,)
    torch.testing.assert_close(got.double(), want, rtol=0, atol=1e-6)
