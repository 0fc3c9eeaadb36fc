"""Named evaluation protocols: each pins every choice that changes a number, with the source it reproduces.

A protocol is data (a frozen dataclass). Every stored result names its protocol, and ``settings()`` writes out
every field, so a reader can tell exactly how a number was computed.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from typing import Literal, get_args

from ..data.images import WHITE
from ..errors import UsageError, option
from ..metrics.lpips import InputMapping, LpipsVersion
from ..metrics.ssim import SSIM_VALID, SSIM_ZERO, SSIMSpec
from .registry import AGGREGATIONS, DEFAULT_AGGREGATION  # the aggregation choices live in the (torch-free) registry

__all__ = ["AGGREGATIONS", "PROTOCOLS", "Protocol", "get_protocol", "load_protocol_file", "protocol_from_settings",
           "protocol_yaml"]

Quantize = Literal["none", "round", "truncate"]
QuantizeImages = Literal["none", "render", "gt", "both"]


@dataclass(frozen=True)
class Protocol:
    """An evaluation convention.

    Attributes:
        name: registry id.
        quantize: 8-bit quantisation applied before metrics: ``none``, ``round`` (``round(x*255)/255``) or
            ``truncate`` (``floor(x*255)/255``, i.e. ``(x*255).astype(uint8)``).
        quantize_images: which images are quantised: ``render``, ``gt``, ``both`` or ``none``.
        background: RGB in [0, 1] that images with an alpha channel are composited on, or ``"stored"``: their
            colour channels as stored, the alpha ignored.
        ssim: the SSIM variant.
        lpips_input: ``[-1,1]`` (map [0, 1] images to [-1, 1] first, as the LPIPS reference expects) or
            ``[0,1]`` (feed them unchanged, as the 3DGS evaluation does).
        metrics: the metric ids this protocol reports.
        summary: one line on what it reproduces.
        sources: files of the reference code the convention is read from.
        resize_gt: ``none`` (the default: sizes must match) or how the ground truth is resized to the render's
            size (:data:`nvs_eval.data.resize.RESIZE_METHODS`), an explicit opt-in that changes every number.
        aggregation: how per-view values become a scene's and a dataset's number (:data:`AGGREGATIONS`). It
            never changes a per-view value, so it is not part of :meth:`key`.
        lpips_version: the LPIPS linear layers, ``"0.1"`` (every built-in protocol) or ``"0.0"`` (the lpips
            package's first release: its own layers and no scaling layer; YAML ``lpips_version: '0.0'``).
    """

    name: str
    quantize: Quantize
    quantize_images: QuantizeImages
    background: tuple[float, float, float] | str
    ssim: SSIMSpec
    lpips_input: InputMapping
    metrics: tuple[str, ...]
    summary: str
    sources: tuple[str, ...]
    resize_gt: str = "none"
    aggregation: str = DEFAULT_AGGREGATION
    lpips_version: LpipsVersion = "0.1"

    def __post_init__(self) -> None:
        from ..data.resize import RESIZE_METHODS

        if self.resize_gt != "none" and self.resize_gt not in RESIZE_METHODS:
            raise UsageError(f"unknown {option('resize_gt')} {self.resize_gt!r}",
                             expected=f"one of {', '.join(RESIZE_METHODS)}")
        if self.lpips_version not in get_args(LpipsVersion):
            raise UsageError(f"unknown lpips_version {self.lpips_version!r}",
                             expected=f"one of {', '.join(get_args(LpipsVersion))}")
        if self.aggregation not in AGGREGATIONS:
            raise UsageError(f"unknown aggregation {self.aggregation!r}; known: {', '.join(AGGREGATIONS)}")

    def with_resize_gt(self, method: str | None) -> Protocol:
        """This protocol with the ground truth resized by ``method`` (``None`` or ``"none"``: unchanged).

        The opt-in changes every number, so it changes the name too (``3dgs+resize_gt=area``): its rows are
        stored, tabulated and captioned apart from the plain protocol's.
        """
        if method in (None, "none") or method == self.resize_gt:
            return self
        return replace(self, name=f"{self.name.split('+')[0]}{RESIZE_SEP}{method}", resize_gt=method)

    def settings(self) -> dict:
        """Every setting as plain JSON-ready data (the form written beside results)."""
        d = asdict(self)
        d["background"] = self.background if isinstance(self.background, str) else list(self.background)
        d["metrics"] = list(self.metrics)
        d["sources"] = list(self.sources)
        return d

    def key(self) -> str:
        """A stable identity for the store: the name plus a digest of every setting."""
        import hashlib
        import json

        # settings added later are left out at their default, so adding one never changes a stored row's key;
        # the aggregation never changes a per-view value, so it is never part of it
        defaults = {"resize_gt": "none", "lpips_version": "0.1"}
        settings = self.settings()
        if settings["ssim"]["channels"] == "rgb":
            del settings["ssim"]["channels"]
        blob = json.dumps({k: v for k, v in settings.items()
                           if k not in ("summary", "sources", "aggregation") and defaults.get(k, object()) != v},
                          sort_keys=True)
        return f"{self.name}@{hashlib.sha256(blob.encode()).hexdigest()[:12]}"


RESIZE_SEP = "+resize_gt="

PROTOCOLS: dict[str, Protocol] = {
    "nvs-eval": Protocol(
        name="nvs-eval",
        quantize="none",
        quantize_images="none",
        background=WHITE,
        ssim=SSIM_VALID,
        lpips_input="[-1,1]",
        metrics=("psnr", "ssim", "lpips_alex", "lpips_vgg"),
        summary="Default: images as encoded in their files; SSIM as defined (Gaussian 11/1.5, valid); "
                "LPIPS as defined.",
        sources=("Wang et al. 2004, IEEE TIP 13(4) (SSIM)",
                 "Zhang et al. 2018, CVPR; richzhang/PerceptualSimilarity lpips/lpips.py"),
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
        sources=("google-research/multinerf eval.py (np.round(rgb * 255) / 255)",
                 "google-research/multinerf internal/image.py (dm_pix.ssim)"),
    ),
    "3dgs": Protocol(
        name="3dgs",
        quantize="round",
        quantize_images="both",
        background=WHITE,
        ssim=SSIM_ZERO,
        lpips_input="[0,1]",
        metrics=("psnr", "ssim", "lpips_vgg"),
        summary="3D Gaussian Splatting metrics.py: PNG round trip, SSIM with zero padding, "
                "LPIPS-VGG fed [0,1] unmapped.",
        sources=("graphdeco-inria/gaussian-splatting metrics.py",
                 "graphdeco-inria/gaussian-splatting utils/loss_utils.py",
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
        summary="nerfstudio ns-eval (nerfacto): float images, torchmetrics SSIM defaults, "
                "LPIPS-alex with normalize=True.",
        sources=("nerfstudio-project/nerfstudio nerfstudio/models/nerfacto.py (get_image_metrics_and_images)",
                 "Lightning-AI/torchmetrics src/torchmetrics/functional/image/ssim.py"),
    ),
    "gsplat": Protocol(
        name="gsplat",
        quantize="none",
        quantize_images="none",
        background=WHITE,
        ssim=SSIMSpec(padding="reflect-same", data_range=1.0, clamp_variance_only=True),
        lpips_input="[-1,1]",
        metrics=("psnr", "ssim", "lpips_alex"),
        summary="gsplat simple_trainer.py (default lpips_net=alex): float renders, torchmetrics PSNR/SSIM with "
                "data_range=1.0, LPIPS-alex with normalize=True.",
        sources=("nerfstudio-project/gsplat examples/simple_trainer.py (Runner.__init__: "
                 "StructuralSimilarityIndexMeasure(data_range=1.0), PeakSignalNoiseRatio(data_range=1.0), "
                 "LearnedPerceptualImagePatchSimilarity(net_type='alex', normalize=True); Runner.eval)",
                 "Lightning-AI/torchmetrics src/torchmetrics/functional/image/ssim.py"),
    ),
}
PROTOCOLS["gsplat-vgg"] = replace(  # the same trainer with --lpips-net vgg
    PROTOCOLS["gsplat"], name="gsplat-vgg", lpips_input="[0,1]", metrics=("psnr", "ssim", "lpips_vgg"),
    summary="gsplat simple_trainer.py with --lpips-net vgg: as gsplat, but LPIPS-VGG with normalize=False "
            "(fed [0,1] unmapped, 'equivalent with the 3DGS official repo').",
    sources=("nerfstudio-project/gsplat examples/simple_trainer.py (Runner.__init__: "
             "LearnedPerceptualImagePatchSimilarity(net_type='vgg', normalize=False))",
             "Lightning-AI/torchmetrics src/torchmetrics/functional/image/ssim.py"))

DEFAULT_PROTOCOL = "nvs-eval"


def protocol_from_settings(d: dict, source: str = "protocol") -> Protocol:
    """A :class:`Protocol` from its :meth:`Protocol.settings` form (a YAML or JSON document): every field is
    validated, and an error names ``source`` and the key.

    >>> protocol_from_settings(PROTOCOLS["3dgs"].settings()).key() == PROTOCOLS["3dgs"].key()  # same rows
    True
    >>> protocol_from_settings({**PROTOCOLS["3dgs"].settings(), "quantize": "sometimes"}, "p.yaml")
    Traceback (most recent call last):
    ...
    nvs_eval.errors.UsageError: p.yaml: quantize: 'sometimes' is not one of none, round, truncate
    """
    from dataclasses import fields

    from .registry import METRICS

    if not isinstance(d, dict):
        raise UsageError(f"{source}: expected a mapping of protocol settings, got {type(d).__name__}")
    known = {f.name for f in fields(Protocol)}
    unknown = sorted(set(d) - known)
    if unknown:
        raise UsageError(f"{source}: unknown protocol setting(s) {', '.join(unknown)}; "
                         f"known: {', '.join(sorted(known))}")
    missing = [k for k in ("name", "quantize", "quantize_images", "background", "ssim", "lpips_input", "metrics")
               if k not in d]
    if missing:
        raise UsageError(f"{source}: missing protocol setting(s) {', '.join(missing)}")
    # YAML reads an unquoted 0.0 / 0.1 as a number: the version is its decimal text
    d = {**d, "lpips_version": str(d.get("lpips_version", "0.1"))}
    checks = {"quantize": get_args(Quantize), "quantize_images": get_args(QuantizeImages),
              "lpips_input": get_args(InputMapping), "lpips_version": get_args(LpipsVersion)}
    for k, allowed in checks.items():
        if d[k] not in allowed:
            raise UsageError(f"{source}: {k}: {d[k]!r} is not one of {', '.join(allowed)}")
    bg = d["background"]
    if bg != "stored" and not (isinstance(bg, (list, tuple)) and len(bg) == 3 and
                               all(isinstance(v, (int, float)) and 0 <= v <= 1 for v in bg)):
        raise UsageError(f"{source}: background: expected three numbers in [0, 1] or 'stored', got {bg!r}")
    metrics = d["metrics"]
    if not isinstance(metrics, (list, tuple)) or not metrics or any(m not in METRICS for m in metrics):
        raise UsageError(f"{source}: metrics: expected a list of metric ids from {', '.join(METRICS)}, got {metrics!r}")
    spec = _ssim_from_settings(d["ssim"], source)
    return Protocol(name=str(d["name"]), quantize=d["quantize"], quantize_images=d["quantize_images"],
                    background=bg if bg == "stored" else tuple(float(v) for v in bg), ssim=spec,
                    lpips_input=d["lpips_input"],
                    metrics=tuple(metrics), summary=str(d.get("summary", f"custom protocol from {source}")),
                    sources=tuple(d.get("sources", ())), resize_gt=d.get("resize_gt", "none"),
                    aggregation=d.get("aggregation", DEFAULT_AGGREGATION),
                    lpips_version=d["lpips_version"])


def _ssim_from_settings(d, source: str) -> SSIMSpec:
    from dataclasses import fields

    ssim_fields = {f.name for f in fields(SSIMSpec)}
    if not isinstance(d, dict) or set(d) - ssim_fields:
        raise UsageError(f"{source}: ssim: expected a mapping with keys from {', '.join(sorted(ssim_fields))}")
    try:
        return SSIMSpec(**d)
    except (TypeError, ValueError) as e:
        raise UsageError(f"{source}: ssim: {e}") from None


def load_protocol_file(path) -> Protocol:
    """A custom protocol from a YAML (or JSON) file in the :meth:`Protocol.settings` form, as
    ``nvs-eval explain`` writes it."""
    from pathlib import Path

    import yaml

    path = Path(path)
    try:
        doc = yaml.safe_load(path.read_text())
    except FileNotFoundError:
        raise UsageError(f"{path}: protocol file not found") from None
    except yaml.YAMLError as e:
        raise UsageError(f"{path}: not valid YAML ({e})") from None
    return protocol_from_settings(doc, str(path))


def protocol_yaml(protocol: Protocol) -> str:
    """The protocol as a YAML document :func:`load_protocol_file` reads back to an equal protocol."""
    import yaml

    return yaml.safe_dump(protocol.settings(), sort_keys=False, default_flow_style=None, width=120)


def get_protocol(name: str | None) -> Protocol:
    """Look up a protocol by name (``None`` gives the default), or load one from a ``.yaml`` / ``.yml`` file."""
    name = DEFAULT_PROTOCOL if name is None else name
    if name.endswith((".yaml", ".yml", ".json")) and name not in PROTOCOLS:
        return load_protocol_file(name)
    base, sep, resize = name.partition(RESIZE_SEP)
    if sep:
        return get_protocol(base).with_resize_gt(resize)
    try:
        return PROTOCOLS[name]
    except KeyError:
        raise UsageError(f"unknown protocol {name!r}; known: {', '.join(PROTOCOLS)}, or a protocol YAML file "
                         "(nvs-eval protocols FILE.yaml checks one)") from None

