"""The declared protocol settings: each one once, with its values, default, caption text and source.

A protocol's core fields (quantisation, background, SSIM, LPIPS input, metrics) are the columns every preset
fills in. The settings here are the ones added since, each a small :class:`Setting`: :class:`Protocol
<nvs_eval.conventions.protocols.Protocol>` takes it as a keyword, validates it, leaves it out of the store's key
at its default (so declaring one never changes a stored row), and everything that shows a protocol reads it from
here: protocol YAML and config validation, ``nvs-eval protocols``, the table captions, docs/protocols.md's table,
and, for an opt-in (``+name=value`` in a protocol's name), a config's top-level key and the CLI's flag.

Importable without torch (the CLI builds its flags from it); the values that live beside their kernels are read
when a value is checked.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal, get_args


def _resize_methods() -> tuple[str, ...]:
    from ..data.resize import RESIZE_METHODS

    return ("none", *RESIZE_METHODS)


def _aggregations() -> tuple[str, ...]:
    from .registry import AGGREGATIONS

    return tuple(AGGREGATIONS)


def _lpips_versions() -> tuple[str, ...]:
    from ..metrics.lpips import LpipsVersion

    return get_args(LpipsVersion)


def _appearance_fits() -> tuple[str, ...]:
    from ..metrics.appearance import AppearanceFit

    return get_args(AppearanceFit)


def _fit_needs_the_right_half(p) -> str | None:
    if p.appearance_fit != "none" and p.crop != "right-half":
        return (f"{p.appearance_fit!r} is fitted on the left half of each image and scored on the right half, so it "
                f"needs crop: right-half (protocol {p.name!r} has crop: {p.crop})")
    return None


@dataclass(frozen=True)
class Setting:
    """One protocol setting beyond the core fields.

    Attributes:
        name: the key (a :class:`Protocol` keyword and attribute, a protocol YAML key).
        default: the value every preset has unless it says otherwise; at it the setting is left out of the
            store's key and out of ``nvs-eval protocols``' listing.
        choices: the values it may take, or a function giving them (read when a value is checked, so values that
            live beside a kernel do not import torch here); ``None``: any text.
        help: what it sets, in one line (docs/protocols.md's table of protocol YAML keys); ``{values}`` is
            replaced by its values.
        caption: printed in every table caption when not at the default (``{value}`` is replaced); empty: the
            caption does not mention it (the name or ``describe()`` already does).
        source: the reference code (file:line) of the convention it reproduces, where it reproduces one.
        opt_in: a protocol's name may carry it (``3dgs+resize_gt=area``), a config may set it at its top level and
            the CLI has a flag for it (``cli_help``).
        in_config: a benchmark config may set it at its top level (every opt-in, and ``aggregation``).
        noun: what a config's error calls a value (``unknown resize method 'x'``); default: the name in words.
        in_key: whether it changes a per-view value, so is part of the store's key (aggregation is not).
        in_describe: whether :meth:`Protocol.describe` lists it on its own (``lpips_version`` is in the LPIPS item).
        listed: ``changed``: ``nvs-eval protocols`` prints it where a protocol changes it; ``always``: after the
            sources, for every protocol.
        check: a rule across settings: the problem with a protocol, or ``None``.
        check_hint: what to do when ``check`` finds a problem.
        cli_help: the help of its CLI flag (opt-ins).
    """

    name: str
    default: str
    choices: tuple[str, ...] | Callable[[], tuple[str, ...]] | None
    help: str
    caption: str = ""
    source: str = ""
    opt_in: bool = False
    in_config: bool = False
    noun: str = ""
    in_key: bool = True
    in_describe: bool = True
    listed: Literal["changed", "always"] = "changed"
    check: Callable[[object], str | None] | None = None
    check_hint: str = ""
    cli_help: str = ""

    def values(self) -> tuple[str, ...]:
        """The values it may take (empty: any text)."""
        return self.choices() if callable(self.choices) else self.choices or ()

    def help_text(self) -> str:
        """``help`` with its values filled in."""
        return self.help.format(values=", ".join(self.values()))

    def caption_of(self, value: str) -> str:
        """Its part of a table caption at ``value`` (empty at the default or without caption text)."""
        return self.caption.format(value=value) if self.caption and value != self.default else ""


# resize_gt: ``none`` (sizes must match) or how the ground truth is resized to the render's size
#   (nvs_eval.data.resize.RESIZE_METHODS), an explicit opt-in that changes every number.
# aggregation: how per-view values become a scene's and a dataset's number (registry.AGGREGATIONS); it never
#   changes a per-view value, so it is not part of a protocol's key.
# lpips_version: the LPIPS linear layers, "0.1" (every built-in protocol) or "0.0" (the lpips package's first
#   release: its own layers and no scaling layer; YAML ``lpips_version: '0.0'``).
# crop: ``none`` or ``right-half``: score only columns W // 2 onward of render and ground truth, as NerfBaselines'
#   nerfw protocol does (the method optimised its appearance on the left half, W - W // 2 columns; with odd W the
#   middle column is in both).
# appearance_fit: ``none`` or a closed-form fit for methods that cannot optimise an appearance embedding
#   (nvs_eval.metrics.appearance), fitted on the left half, applied to the right half, clipped to [0, 1].
# mask_convention: ``normalized`` (nvs-eval's masked family: mask-weighted normalised convolution) or ``dycheck``
#   (DyCheck's mPSNR / mSSIM / mLPIPS, nvs_eval.metrics.dycheck; its plain LPIPS is then the upsampled map's mean).
SETTINGS: dict[str, Setting] = {s.name: s for s in (
    Setting("resize_gt", "none", _resize_methods,
            "none, or how the ground truth is resized to the render's size (an opt-in)",
            opt_in=True, in_config=True, noun="resize method",
            cli_help="opt-in: resize the ground truth to the render size with this method (docs/protocols.md lists "
                     "them; part of the protocol, shown with every table; default: never resize, a size mismatch is "
                     "an error)"),
    Setting("aggregation", "view-mean", _aggregations,
            "how views become scene and dataset values: {values}",
            in_config=True, in_key=False, in_describe=False, listed="always"),
    Setting("lpips_version", "0.1", _lpips_versions,
            "LPIPS linear layers: '0.1' or '0.0' (the lpips package's first release)", in_describe=False,
            source="richzhang/PerceptualSimilarity lpips/__init__.py and lpips/weights/v0.0, v0.1"),
    Setting("crop", "none", ("none", "right-half"),
            "none, or right-half (score columns W//2 onward, as NerfBaselines' nerfw)",
            caption="scored on the right half of each image (columns W//2 onward)",
            source="nerfbaselines/nerfbaselines nerfbaselines/datasets/phototourism.py:183-193"),
    Setting("appearance_fit", "none", _appearance_fits,
            "{values} (fitted on the left half; needs crop: right-half)",
            caption="render fitted by {value} on the left half, applied to the right half and clipped to [0, 1]",
            source="google-research/multinerf internal/image.py (color_correct); nerfbaselines/nerfbaselines "
                   "nerfbaselines/datasets/phototourism.py:132-153 (the left half)",
            opt_in=True, in_config=True, check=_fit_needs_the_right_half,
            check_hint="use the nerfw protocol, or a protocol YAML with crop: right-half",
            cli_help="opt-in for protocols that score the right half (nerfw): fit the render to the ground truth on "
                     "the left half by least squares and apply it to the right half (docs/protocols.md lists the "
                     "fits; part of the protocol's name, shown with every table)"),
    Setting("mask_convention", "normalized", ("normalized", "dycheck"),
            "the masked family: normalized (nvs-eval's) or dycheck (DyCheck's mPSNR/mSSIM/mLPIPS)",
            source="KAIR-BAIR/dycheck dycheck/core/metrics/image.py:30-196"),
    # plugin: the package a preset comes from (nvs_eval.plugin.protocol), name==version; in the key as well, so an
    #   upgraded package never reuses stored rows silently
    Setting("plugin", "", None,
            "the package a plugin preset comes from, name==version (set by nvs_eval.plugin.protocol)",
            in_describe=False),
)}


def config_settings() -> tuple[Setting, ...]:
    """The settings a benchmark config may set at its top level."""
    return tuple(s for s in SETTINGS.values() if s.in_config)


def opt_ins() -> tuple[Setting, ...]:
    """The settings a protocol's name, a config's top level and a CLI flag may set."""
    return tuple(s for s in SETTINGS.values() if s.opt_in)
