"""Named evaluation protocols: each pins every choice that changes a number, with the source it reproduces.

A protocol is data (a frozen dataclass). Every stored result names its protocol, and ``settings()`` writes out
every field, so a reader can tell exactly how a number was computed.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from typing import Literal, get_args

from ..data.images import WHITE
from ..entrypoints import OpenRegistry
from ..errors import OPTIONS, PluginError, UsageError, option
from ..metrics.lpips import InputMapping
from ..metrics.ssim import SSIM_VALID, SSIM_ZERO, SSIMSpec
from ..util.text import fill
from .registry import AGGREGATIONS, closest  # the (torch-free) registry
from .settings import SETTINGS, opt_ins

__all__ = ["AGGREGATIONS", "BUILTIN_PROTOCOLS", "PROTOCOLS", "setting_help", "Protocol", "get_protocol",
           "load_protocol_file", "protocol_caption", "protocol_from_settings", "protocol_yaml", "settings_table"]

Quantize = Literal["none", "round", "truncate"]
QuantizeImages = Literal["none", "render", "gt", "both"]


_CORE = ("name", "quantize", "quantize_images", "background", "ssim", "lpips_input", "metrics", "summary", "sources")


@dataclass(frozen=True, init=False)
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
        options: the declared settings (:data:`~nvs_eval.conventions.settings.SETTINGS`: ``resize_gt``,
            ``aggregation``, ``lpips_version``, ``crop``, ``appearance_fit``, ``mask_convention``, ``plugin``, each
            described where it is declared) that this protocol changes, ``(key, value)`` in declaration order. Each
            declared setting is also a keyword of the constructor and an attribute (its default where not in
            ``options``).
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
    options: tuple[tuple[str, str], ...] = ()

    def __init__(self, name: str, quantize: Quantize, quantize_images: QuantizeImages,
                 background: tuple[float, float, float] | str, ssim: SSIMSpec, lpips_input: InputMapping,
                 metrics: tuple[str, ...], summary: str, sources: tuple[str, ...],
                 options: tuple[tuple[str, str], ...] = (), **settings: str):
        for key, value in zip(_CORE, (name, quantize, quantize_images, background, ssim, lpips_input, metrics,
                                      summary, sources)):
            object.__setattr__(self, key, value)
        unknown = [k for k in settings if k not in SETTINGS]
        if unknown:
            raise UsageError(f"protocol {name!r}: unknown setting {unknown[0]!r}{closest(unknown[0], SETTINGS)}",
                             expected=f"one of {', '.join(SETTINGS)}")
        given = {**dict(options), **settings}
        object.__setattr__(self, "options", tuple((k, given[k]) for k, s in SETTINGS.items()
                                                  if k in given and given[k] != s.default))
        self._check_settings()

    def __getattr__(self, key: str):
        # a declared setting's value (only called when ``key`` is no field); anything else is no attribute
        setting = SETTINGS.get(key)
        if setting is None:
            raise AttributeError(f"{type(self).__name__!r} object has no attribute {key!r}")
        return dict(self.__dict__.get("options", ())).get(key, setting.default)

    def _check_settings(self) -> None:
        for key, setting in SETTINGS.items():
            value = getattr(self, key)
            if setting.choices is not None and value not in setting.values():
                raise UsageError(f"unknown {option(key) if key in OPTIONS else key} {value!r}",
                                 expected=f"one of {', '.join(setting.values())}")
            problem = setting.check(self) if setting.check else None
            if problem:
                raise UsageError(f"{option(key) if key in OPTIONS else key} {problem}", hint=setting.check_hint or None)

    def with_opt_ins(self, **values: str | None) -> Protocol:
        """This protocol with opt-in settings (``None``: unchanged; ``"none"``: back to the default), each
        carried in the name (``nerfw+appearance_fit=affine``) so that its rows are stored, tabulated and captioned
        apart from the plain protocol's."""
        protocol = self
        for key, value in values.items():
            if key not in SETTINGS or not SETTINGS[key].opt_in:
                raise UsageError(f"{key!r} is not a setting a protocol's name may carry",
                                 expected=f"one of {', '.join(s.name for s in opt_ins())}")
            if value is None or value == getattr(protocol, key):
                continue
            protocol = replace(protocol, name=_suffixed(protocol.name, key, value), **{key: value})
        return protocol

    def with_settings(self, **values: str | None) -> Protocol:
        """This protocol with declared settings changed (``None``: unchanged): opt-ins as :meth:`with_opt_ins`
        (carried in the name), the others (``aggregation``, a config's) under the same name."""
        values = {k: v for k, v in values.items() if v is not None}
        kept = {k: v for k, v in values.items() if not (k in SETTINGS and SETTINGS[k].opt_in)}
        protocol = self.with_opt_ins(**{k: v for k, v in values.items() if k not in kept})
        return replace(protocol, **kept) if kept else protocol

    def with_resize_gt(self, method: str | None) -> Protocol:
        """This protocol with the ground truth resized by ``method`` (``None`` or ``"none"``: unchanged), named
        ``3dgs+resize_gt=area`` (:meth:`with_opt_ins`)."""
        return self if method == "none" else self.with_opt_ins(resize_gt=method)

    def with_appearance_fit(self, fit: str | None) -> Protocol:
        """This protocol with a closed-form appearance fit (``"none"``: without one; ``None``: unchanged), named
        ``nerfw+appearance_fit=affine`` (:meth:`with_opt_ins`)."""
        return self.with_opt_ins(appearance_fit=fit)

    def caption(self) -> str:
        """The protocol's name and, where it scores part of each image or fits the render first, how: the text
        every table caption prints (each declared setting's ``caption``). A protocol that is no preset (a protocol
        file) also spells out every resolved setting, so the caption alone says how its numbers were computed."""
        parts = [] if self.is_preset() else [self.describe()]
        parts += [text for k, s in SETTINGS.items() if (text := s.caption_of(getattr(self, k)))]
        return self.name + (f" ({'; '.join(parts)})" if parts else "")

    def is_preset(self) -> bool:
        """Whether this is a built-in protocol (or one with a name's ``+key=value`` opt-ins), setting for setting."""
        try:
            return get_protocol(self.name).key() == self.key()
        except UsageError:
            return False

    def describe(self) -> str:
        """Every setting that changes a number, in one line.

        >>> print(PROTOCOLS["3dgs"].describe().replace("; ", ";\\n"))
        quantize round (both);
        background [1.0, 1.0, 1.0];
        SSIM gaussian 11/1.5, zero-same, population, data range 1.0;
        LPIPS v0.1 fed [0,1];
        resize_gt none;
        crop none;
        appearance_fit none;
        mask_convention normalized
        """
        s = self.ssim
        floor = f", variance floor {s.variance_floor:g}" if s.variance_floor is not None else ""
        return "; ".join([
            f"quantize {self.quantize} ({self.quantize_images})",
            f"background {self.background if isinstance(self.background, str) else list(self.background)}",
            f"SSIM {s.window} {s.size}/{s.sigma:g}, {s.padding}, {s.covariance}, data range {s.data_range}{floor}"
            + (", variances clamped at 0" if s.clamp_variance_only else "")
            + (", luma" if s.channels == "luma" else ""),
            f"LPIPS v{self.lpips_version} fed {self.lpips_input}",
            *(f"{k} {getattr(self, k)}" for k, setting in SETTINGS.items() if setting.in_describe)])

    def settings(self) -> dict:
        """Every setting as plain JSON-ready data (the form written beside results)."""
        d = {k: getattr(self, k) for k in _CORE}
        d["ssim"] = asdict(self.ssim)
        d.update((k, getattr(self, k)) for k in SETTINGS)
        d["background"] = self.background if isinstance(self.background, str) else list(self.background)
        d["metrics"] = list(self.metrics)
        d["sources"] = list(self.sources)
        return d

    def key(self) -> str:
        """A stable identity for the store: the name plus a digest of every setting."""
        import hashlib
        import json

        # a declared setting is left out at its default, so declaring one never changes a stored row's key; one
        # that never changes a per-view value (the aggregation) is never part of it
        settings = self.settings()
        if settings["ssim"]["channels"] == "rgb":
            del settings["ssim"]["channels"]
        left_out = {"summary", "sources", *(k for k, s in SETTINGS.items() if not s.in_key or settings[k] == s.default)}
        blob = json.dumps({k: v for k, v in settings.items() if k not in left_out}, sort_keys=True)
        digest = f"{self.name}@{hashlib.sha256(blob.encode()).hexdigest()[:12]}"
        return f"{digest}:{self.plugin}" if self.plugin else digest  # a plugin preset's package, readable in rows


def _suffixes() -> tuple[str, ...]:
    """The settings a name may carry as ``name+key=value``, in the order a name spells them."""
    return tuple(s.name for s in opt_ins())


def _suffixed(name: str, key: str, value: str) -> str:
    """``name`` with ``+key=value`` set (replacing an earlier value of that key, dropped for ``none``; suffixes in
    :data:`SETTINGS` order).

    >>> _suffixed("nerfw+appearance_fit=affine", "appearance_fit", "none"), _suffixed("3dgs", "resize_gt", "area")
    ('nerfw', '3dgs+resize_gt=area')
    """
    base, *parts = name.split("+")
    kept = dict(p.split("=", 1) for p in parts)
    kept[key] = value
    kept = {k: v for k, v in kept.items() if v != "none"}
    return base + "".join(f"+{k}={kept[k]}" for k in _suffixes() if k in kept)

BUILTIN_PROTOCOLS: dict[str, Protocol] = {
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
BUILTIN_PROTOCOLS["nerfw"] = replace(  # in the wild: the appearance optimised on the left half, the right half scored
    BUILTIN_PROTOCOLS["nerfbaselines"], name="nerfw", crop="right-half",
    summary="NerfBaselines nerfw (Photo Tourism): the method optimises its appearance on the left half of each test "
            "image; both images truncated to uint8 and scored on the right half (columns W//2 onward).",
    sources=("nerfbaselines/nerfbaselines nerfbaselines/datasets/phototourism.py:132-153 (horizontal_half_dataset: "
             "left half W - W//2 columns)",
             "nerfbaselines/nerfbaselines nerfbaselines/datasets/phototourism.py:183-193 "
             "(NerfWEvaluationProtocol.evaluate: image_to_srgb(..., np.uint8), compute_metrics on [:, w//2:])",
             "nerfbaselines/nerfbaselines nerfbaselines/metrics.py (dmpix_ssim, lpips)"))
BUILTIN_PROTOCOLS["dycheck"] = Protocol(  # dynamic scenes: DyCheck's iPhone benchmark and the methods that report on it
    name="dycheck",
    quantize="truncate",
    quantize_images="both",
    background=WHITE,
    ssim=SSIMSpec(padding="valid", variance_floor=0.0),
    lpips_input="[-1,1]",
    metrics=("psnr", "ssim", "lpips_alex", "masked_psnr", "masked_ssim", "masked_lpips_alex"),
    summary="DyCheck (iPhone): both images truncated to uint8; masked_* are mPSNR / mSSIM (partial convolution) / "
            "mLPIPS (Alex, inputs zeroed outside the co-visible mask) over the co-visible pixels; the plain metrics "
            "are the same functions with an all-ones mask.",
    sources=("KAIR-BAIR/dycheck dycheck/core/metrics/image.py:30-196 (compute_psnr, compute_ssim, get_compute_lpips)",
             "KAIR-BAIR/dycheck dycheck/core/tasks/novel_view.py:172-203 (to_quantized_float32, covisible masks)",
             "KAIR-BAIR/dycheck dycheck/nn/functional/common.py:28-52 (masked_mean)"),
    mask_convention="dycheck",
)
BUILTIN_PROTOCOLS["pixelsplat"] = Protocol(  # feed-forward NVS: pixelSplat, MVSplat and DepthSplat share this file
    name="pixelsplat",
    quantize="none",
    quantize_images="none",
    background=WHITE,
    ssim=SSIMSpec(padding="valid", covariance="sample"),
    lpips_input="[-1,1]",
    metrics=("psnr", "ssim", "lpips_vgg"),
    summary="pixelSplat / MVSplat / DepthSplat: PSNR of images clipped to [0, 1]; scikit-image SSIM (win_size=11, "
            "gaussian_weights=True, data_range=1.0, its default sample covariance); LPIPS-VGG with normalize=True; "
            "per target view, then per scene, then the mean over scenes.",
    sources=("dcharatan/pixelsplat src/evaluation/metrics.py:11-19 (compute_psnr: clip(0, 1)), :27-33 "
             "(compute_lpips: LPIPS(net='vgg'), normalize=True), :36-53 (compute_ssim: structural_similarity)",
             "dcharatan/pixelsplat src/evaluation/metric_computer.py (per scene: the mean over its target views)",
             "scikit-image skimage/metrics/_structural_similarity.py (cov_norm = NP / (NP - 1), crop (win_size-1)//2)"),
)
BUILTIN_PROTOCOLS["gsplat-vgg"] = replace(  # the same trainer with --lpips-net vgg
    BUILTIN_PROTOCOLS["gsplat"], name="gsplat-vgg", lpips_input="[0,1]", metrics=("psnr", "ssim", "lpips_vgg"),
    summary="gsplat simple_trainer.py with --lpips-net vgg: as gsplat, but LPIPS-VGG with normalize=False "
            "(fed [0,1] unmapped, 'equivalent with the 3DGS official repo').",
    sources=("nerfstudio-project/gsplat examples/simple_trainer.py (Runner.__init__: "
             "LearnedPerceptualImagePatchSimilarity(net_type='vgg', normalize=False))",
             "Lightning-AI/torchmetrics src/torchmetrics/functional/image/ssim.py"))

DEFAULT_PROTOCOL = "nvs-eval"


def _plugin_protocol(item, package: str) -> tuple[str, Protocol]:
    """A :func:`nvs_eval.plugin.protocol` preset: its ``base`` with its settings, validated as a protocol YAML's."""
    from ..plugin import PluginProtocol

    if not isinstance(item, PluginProtocol):
        raise PluginError(f"expected nvs_eval.plugin.protocol(...), got {type(item).__name__}")
    if item.base not in BUILTIN_PROTOCOLS:
        raise PluginError(f"protocol {item.name!r}: base {item.base!r} is not a built-in preset "
                          f"({', '.join(BUILTIN_PROTOCOLS)})")
    doc = {"base": item.base, "name": item.name, **item.settings, "plugin": package}
    if item.source:
        doc["sources"] = [*BUILTIN_PROTOCOLS[item.base].sources, item.source]
    return item.name, protocol_from_settings(doc, f"protocol {item.name!r} of {package}")


# The built-in presets, then the installed packages' (entry-point group nvs_eval.protocols, loaded on first use).
PROTOCOLS: OpenRegistry = OpenRegistry("nvs_eval.protocols", "protocol", BUILTIN_PROTOCOLS, _plugin_protocol)


# Every key of a protocol YAML, what it sets and its values; each is optional: an absent key takes its value from
# ``base:`` (a preset) or, without one, from the default protocol. docs/protocols.md's table is made from this
# (:func:`settings_table`; a test checks the page against it).
_CORE_HELP = {
    "base": "a preset whose settings this file starts from (only the keys given are changed)",
    "name": "the protocol's name in tables, captions and the store (default: the file's name)",
    "quantize": "8-bit quantisation before the metrics: none, round, truncate",
    "quantize_images": "which images are quantised: none, render, gt, both",
    "background": "RGB in [0, 1] that alpha is composited on (e.g. [1, 1, 1]), or 'stored'",
    "ssim": "a mapping of SSIM settings, each optional (the table below)",
    "lpips_input": "how [0, 1] images reach LPIPS: '[-1,1]' (mapped, as the reference expects) or '[0,1]' (unmapped)",
    "metrics": "the metric ids the protocol reports (`nvs-eval protocols` lists them)",
}
_DESCRIPTION_HELP = {
    "summary": "one line on what it reproduces (printed by `nvs-eval protocols`)",
    "sources": "a list of the reference files it reproduces",
}


def setting_help() -> dict[str, str]:
    """Every key of a protocol YAML and what it sets: the core ones, then each declared setting
    (:data:`~nvs_eval.conventions.settings.SETTINGS`)."""
    return {**_CORE_HELP, **{k: s.help_text() for k, s in SETTINGS.items()}, **_DESCRIPTION_HELP}


def protocol_from_settings(d: dict, source: str = "protocol", default_name: str | None = None) -> Protocol:
    """A :class:`Protocol` from a YAML or JSON document: every key of :func:`setting_help` is optional, taken from
    the preset named by ``base:`` (or the default protocol) where absent; every field is validated, and an error
    names ``source`` and the key (with the closest valid key or value for a typo).

    >>> protocol_from_settings(PROTOCOLS["3dgs"].settings()).key() == PROTOCOLS["3dgs"].key()  # same rows
    True
    >>> p = protocol_from_settings({"base": "3dgs", "lpips_version": "0.0"}, "v00.yaml", "v00")
    >>> (p.name, p.quantize, p.lpips_input, p.lpips_version)
    ('v00', 'round', '[0,1]', '0.0')
    >>> protocol_from_settings({**PROTOCOLS["3dgs"].settings(), "quantize": "sometimes"}, "p.yaml")
    Traceback (most recent call last):
    ...
    nvs_eval.errors.UsageError: p.yaml: quantize: 'sometimes' is not one of none, round, truncate
    """
    if not isinstance(d, dict):
        raise UsageError(f"{source}: expected a mapping of protocol settings, got {type(d).__name__}")
    keys = setting_help()
    for k in d:
        if k not in keys:
            raise UsageError(f"{source}: unknown protocol setting {k!r}{closest(k, keys)}",
                             hint="docs/protocols.md lists every key")
    base = _base(d, source)
    given = {k: v for k, v in d.items() if k != "base"}
    merged = {**base.settings(), **given, "ssim": {**base.settings()["ssim"], **_ssim_mapping(d, source)}}
    if "name" not in given:
        merged["name"] = default_name or f"{base.name}-custom"
    if "sources" not in given and "base" not in d:
        merged["sources"] = []
    if "summary" not in given:
        changed = ", ".join(f"{k} {v}" for k, v in given.items() if k not in ("name", "sources", "plugin"))
        merged["summary"] = f"{base.name} with {changed}" if "base" in d else f"custom protocol from {source}"
    d = _checked_choices(merged, source)
    bg = d["background"]
    if bg != "stored" and not (isinstance(bg, (list, tuple)) and len(bg) == 3 and
                               all(isinstance(v, (int, float)) and 0 <= v <= 1 for v in bg)):
        raise UsageError(f"{source}: background: expected three numbers in [0, 1] or 'stored', got {bg!r}")
    metrics = _checked_metrics(d["metrics"], source)
    return Protocol(name=str(d["name"]), quantize=d["quantize"], quantize_images=d["quantize_images"],
                    background=bg if bg == "stored" else tuple(float(v) for v in bg),
                    ssim=_ssim_from_settings(d["ssim"], source), lpips_input=d["lpips_input"], metrics=metrics,
                    summary=str(d["summary"]), sources=tuple(d.get("sources", ())),
                    **{k: d[k] for k in SETTINGS})


def _base(d: dict, source: str) -> Protocol:
    name = d.get("base")
    if name is None:
        return PROTOCOLS[DEFAULT_PROTOCOL]
    if name not in PROTOCOLS:
        raise UsageError(f"{source}: base: unknown preset {name!r}{closest(name, list(PROTOCOLS))}",
                         expected=f"one of {', '.join(PROTOCOLS)}")
    return PROTOCOLS[name]


def _ssim_mapping(d: dict, source: str) -> dict:
    from dataclasses import fields

    ssim = d.get("ssim", {})
    if not isinstance(ssim, dict):
        raise UsageError(f"{source}: ssim: expected a mapping of SSIM settings, got {ssim!r}")
    names = [f.name for f in fields(SSIMSpec)]
    for k in ssim:
        if k not in names:
            raise UsageError(f"{source}: ssim: unknown key {k!r}{closest(k, names)}",
                             expected=f"keys from {', '.join(names)}")
    return ssim


def _checked_metrics(metrics, source: str) -> tuple[str, ...]:
    from .registry import METRICS

    if not isinstance(metrics, (list, tuple)) or not metrics:
        raise UsageError(f"{source}: metrics: expected a list of metric ids, got {metrics!r}")
    for m in metrics:
        if m not in METRICS:
            raise UsageError(f"{source}: metrics: unknown metric {m!r}{closest(m, METRICS)}",
                             hint="`nvs-eval protocols` lists the metric ids")
    return tuple(metrics)


def settings_table() -> str:
    """The Markdown table of every protocol YAML key: what it sets and its default (docs/protocols.md)."""
    default = PROTOCOLS[DEFAULT_PROTOCOL].settings()
    rows = ["| key | what it sets | default |", "|---|---|---|"]
    for k, what in setting_help().items():
        value = {"base": "none (the default protocol, nvs-eval)", "name": "the file's name",
                 "summary": "says what it changes", "sources": "none",
                 "plugin": "none (a built-in preset or a file)"}.get(k, default.get(k))
        if k == "ssim":
            value = "Gaussian 11/1.5, valid"
        rows.append(f"| `{k}` | {what} | {_cell(value)} |")
    rows += ["", "| `ssim:` key | default |", "|---|---|"]
    rows += [f"| `{k}` | {_cell(v)} |" for k, v in default["ssim"].items()]
    return "\n".join(rows)


def _cell(value) -> str:
    return f"`{value}`" if not isinstance(value, str) or not value.startswith(("none (", "the ", "says")) else value


# the core settings with a fixed set of values, each checked against its Literal (declared settings: their values)
_CHOICES = {"quantize": Quantize, "quantize_images": QuantizeImages, "lpips_input": InputMapping}


def _checked_choices(d: dict, source: str) -> dict:
    """``d`` with the declared settings at their defaults where absent, every choice checked."""
    d = {**{k: s.default for k, s in SETTINGS.items()}, **d}
    # YAML reads an unquoted 0.0 / 0.1 as a number: a declared setting's value is its text
    d.update((k, str(d[k])) for k in SETTINGS if isinstance(d[k], (int, float)))
    d.update((k, "" if d[k] is None else str(d[k])) for k, s in SETTINGS.items() if s.choices is None)
    choices = {**{k: get_args(t) for k, t in _CHOICES.items()},
               **{k: s.values() for k, s in SETTINGS.items() if s.choices is not None}}
    for k, allowed in choices.items():
        if d[k] not in allowed:
            raise UsageError(f"{source}: {k}: {d[k]!r} is not one of {', '.join(allowed)}")
    return d


def _ssim_from_settings(d: dict, source: str) -> SSIMSpec:
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
    return protocol_from_settings(doc, str(path), default_name=path.stem)


def protocol_yaml(protocol: Protocol) -> str:
    """The protocol as a YAML document :func:`load_protocol_file` reads back to an equal protocol."""
    import yaml

    return yaml.safe_dump(protocol.settings(), sort_keys=False, default_flow_style=None, width=120)


def get_protocol(name: str | None) -> Protocol:
    """Look up a protocol by name (``None`` gives the default), or load one from a ``.yaml`` / ``.yml`` file."""
    name = DEFAULT_PROTOCOL if name is None else name
    if name.endswith((".yaml", ".yml", ".json")) and name not in PROTOCOLS:
        return load_protocol_file(name)
    base, *parts = name.split("+")
    if parts and base in PROTOCOLS:
        protocol = PROTOCOLS[base]
        for part in parts:
            key, sep, value = part.partition("=")
            if not sep or key not in _suffixes():
                raise UsageError(f"protocol {name!r}: {part!r} is not a setting a name may carry",
                                 expected=f"{base}+KEY=VALUE with KEY one of {', '.join(_suffixes())}")
            protocol = protocol.with_opt_ins(**{key: value})
        return protocol
    try:
        return PROTOCOLS[name]
    except KeyError:
        if name in PROTOCOLS.errors:
            raise UsageError(PROTOCOLS.unknown(name)) from None
        near = closest(name, PROTOCOLS) or closest(name.lower(), PROTOCOLS)
        raise UsageError(f"unknown protocol {name!r}{near}; known: {', '.join(PROTOCOLS)}, or a protocol YAML file "
                         "(nvs-eval protocols FILE.yaml checks one)") from None



def protocol_caption(name: str) -> str:
    """:meth:`Protocol.caption` of a stored protocol name (a custom protocol's name as it is)."""
    try:
        return get_protocol(name).caption()
    except UsageError:
        return name


def protocols_listing(file=None, as_json: bool = False) -> str:
    """What ``nvs-eval protocols`` prints: every preset (or the protocol YAML ``file``) with every setting it
    pins, each declared setting where the protocol changes it, and its sources; then, for the presets, every
    metric id. ``as_json``: the settings of each as JSON."""
    import json

    protocols = {"file": load_protocol_file(file)} if file else PROTOCOLS
    if as_json:
        return json.dumps({k: p.settings() for k, p in protocols.items()}, indent=1) + "\n"
    lines = []
    for p in protocols.values():
        s = p.settings()
        rows = [(key, s[key]) for key in ("quantize", "quantize_images", "background", "lpips_input", "metrics")]
        rows += [(k, s[k]) for k, setting in SETTINGS.items()
                 if setting.listed == "changed" and s[k] != setting.default]
        rows.append(("ssim", ", ".join(f"{k}={v}" for k, v in s["ssim"].items())))
        rows += [("source", src) for src in p.sources]
        rows += [(k, s[k]) for k, setting in SETTINGS.items() if setting.listed == "always"]
        lines += [f"{p.name}  ({p.key()})", fill(p.summary, "  ", "  ")]
        lines += [fill(f"{key:16s} {value}", "  ", " " * 19) for key, value in rows]
        lines.append("")
    if not file:
        lines += _metrics_listing()
    return "\n".join(lines) + "\n"


def _metrics_listing() -> list[str]:
    from .registry import METRICS

    lines = ["metrics  (any protocol computes any of them: --metrics, or a config's metrics:)"]
    for m, spec in METRICS.items():
        arrow = "higher is better" if spec.higher_is_better else "lower is better"
        lines.append(fill(f"{m:20s} {spec.label:20s} {arrow:17s} {spec.about}", "  ", " " * 64))
    return lines
