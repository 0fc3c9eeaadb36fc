"""Pure metric kernels on float NCHW images in [0, 1]: one value per image, maps from the same kernels."""

from .lpips import LPIPS, build_lpips
from .psnr import mse, psnr
from .ssim import (
    SSIM_REFLECT,
    SSIM_SKIMAGE_DEFAULT,
    SSIM_VALID,
    SSIM_ZERO,
    SSIMSpec,
    ssim,
    ssim_with_moments,
    target_moments,
)

__all__ = [
    "LPIPS", "build_lpips", "mse", "psnr", "SSIMSpec", "ssim", "ssim_with_moments",
    "target_moments", "SSIM_VALID", "SSIM_ZERO", "SSIM_REFLECT", "SSIM_SKIMAGE_DEFAULT",
]
