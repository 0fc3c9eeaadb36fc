"""Named evaluation protocols: each pins every choice that changes a number, with the source it reproduces.

A protocol is data (a frozen dataclass). Every stored result names its protocol, and ``settings()`` writes out
every field, so a reader can tell exactly how a number was computed.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Literal

from .errors import UsageError
from .metrics.ssim import SSIM_VALID, SSIM_ZERO, SSIMSpec

Quantize = Literal["none", "round", "truncate"]


@dataclass(frozen=True)
class Protocol:
    """An evaluation convention.

    Attributes:
        name: registry id.
        quantize: 8-bit quantisation applied before metrics: ``none``, ``round`` (``round(x*255)/255``) or
            ``truncate`` (``floor(x*255)/255``, i.e. ``(x*255).astype(uint8)``).
        quantize_images: which images are quantised: ``render``, ``both`` or ``none``.
        background: RGB in [0, 1] that images with an alpha channel are composited on.
        ssim: the SSIM variant.
        lpips_input: ``[-1,1]`` (map [0, 1] images to [-1, 1] first, as the LPIPS reference expects) or
            ``[0,1]`` (feed them unchanged, as the 3DGS evaluation does).
        metrics: the metric ids this protocol reports.
        summary: one line on what it reproduces.
        sources: files of the reference code the convention is read from.
    """

    name: str
    quantize: Quantize
    quantize_images: Literal["none", "render", "both"]
    background: tuple[float, float, float]
    ssim: SSIMSpec
    lpips_input: Literal["[-1,1]", "[0,1]"]
    metrics: tuple[str, ...]
    summary: str
    sources: tuple[str, ...]

    def settings(self) -> dict:
        """Every setting as plain JSON-ready data (the form written beside results)."""
        d = asdict(self)
        d["background"] = list(self.background)
        d["metrics"] = list(self.metrics)
        d["sources"] = list(self.sources)
        return d

    def key(self) -> str:
        """A stable identity for the store: the name plus a digest of every setting."""
        import hashlib
        import json

        blob = json.dumps({k: v for k, v in self.settings().items() if k not in ("summary", "sources")}, sort_keys=True)
        return f"{self.name}@{hashlib.sha256(blob.encode()).hexdigest()[:12]}"


WHITE = (1.0, 1.0, 1.0)
BLACK = (0.0, 0.0, 0.0)

PROTOCOLS: dict[str, Protocol] = {
    "nvs-eval": Protocol(
        name="nvs-eval",
        quantize="none",
        quantize_images="none",
        background=WHITE,
        ssim=SSIM_VALID,
        lpips_input="[-1,1]",
        metrics=("psnr", "ssim", "lpips_alex", "lpips_vgg"),
        summary="Default: images as encoded in their files; SSIM as defined (Gaussian 11/1.5, valid); LPIPS as defined.",
        sources=("Wang et al. 2004, IEEE TIP 13(4) (SSIM)", "Zhang et al. 2018, CVPR; richzhang/PerceptualSimilarity lpips/lpips.py"),
    ),
    "mipnerf360": Protocol(
        name="mipnerf360",
        quantize="round",
        quantize_images="render",
        background=WHITE,
        ssim=SSIMSpec(padding="valid", variance_floor=0.0),
        lpips_input="[-1,1]",
        metrics=("psnr", "ssim", "lpips_vgg"),
        summary="mip-NeRF 360 / multinerf: render rounded to 8 bits (eval_quantize_metrics), dm_pix SSIM, LPIPS-VGG.",
        sources=("google-research/multinerf eval.py (np.round(rgb * 255) / 255)", "google-research/multinerf internal/image.py (dm_pix.ssim)"),
    ),
    "3dgs": Protocol(
        name="3dgs",
        quantize="round",
        quantize_images="both",
        background=WHITE,
        ssim=SSIM_ZERO,
        lpips_input="[0,1]",
        metrics=("psnr", "ssim", "lpips_vgg"),
        summary="3D Gaussian Splatting metrics.py: PNG round trip, SSIM with zero padding, LPIPS-VGG fed [0,1] unmapped.",
        sources=("graphdeco-inria/gaussian-splatting metrics.py", "graphdeco-inria/gaussian-splatting utils/loss_utils.py",
                 "graphdeco-inria/gaussian-splatting lpipsPyTorch/modules/lpips.py"),
    ),
    "nerfbaselines": Protocol(
        name="nerfbaselines",
        quantize="truncate",
        quantize_images="both",
        background=WHITE,
        ssim=SSIMSpec(padding="valid", variance_floor=float.fromhex("0x1p-46")),
        lpips_input="[-1,1]",
        metrics=("psnr", "ssim", "lpips_alex", "lpips_vgg"),
        summary="NerfBaselines: both images truncated to uint8, dm_pix SSIM (variance floor eps²), LPIPS alex and vgg.",
        sources=("nerfbaselines/nerfbaselines nerfbaselines/evaluation.py (image_to_srgb(..., np.uint8))",
                 "nerfbaselines/nerfbaselines nerfbaselines/metrics.py (dmpix_ssim, lpips)"),
    ),
    "nerfstudio": Protocol(
        name="nerfstudio",
        quantize="none",
        quantize_images="none",
        background=WHITE,
        ssim=SSIMSpec(padding="reflect-same", data_range=None, clamp_variance_only=True),
        lpips_input="[-1,1]",
        metrics=("psnr", "ssim", "lpips_alex"),
        summary="nerfstudio ns-eval (nerfacto): float images, torchmetrics SSIM defaults, LPIPS-alex with normalize=True.",
        sources=("nerfstudio-project/nerfstudio nerfstudio/models/nerfacto.py (get_image_metrics_and_images)",
                 "Lightning-AI/torchmetrics src/torchmetrics/functional/image/ssim.py"),
    ),
}

DEFAULT_PROTOCOL = "nvs-eval"


def get_protocol(name: str | None) -> Protocol:
    """Look up a protocol by name (``None`` gives the default)."""
    name = DEFAULT_PROTOCOL if name is None else name
    try:
        return PROTOCOLS[name]
    except KeyError:
        raise UsageError(f"unknown protocol {name!r}; known: {', '.join(PROTOCOLS)}") from None

