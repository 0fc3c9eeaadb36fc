"""``nvs_eval.metrics`` exports every kernel, flat, in one signature style: ``kernel(pred, target[, mask][, spec])
-> Tensor[N]`` (the package docstring)."""

from __future__ import annotations

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
                 "target_moments", "ssim_with_moments", "METRICS", "MetricSpec", "SSIMSpec"):
        assert name in metrics.__all__ and getattr(metrics, name) is not None, name
