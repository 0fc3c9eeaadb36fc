"""Third-party metrics, layouts, dataset kinds and protocols: write them, register them, and nvs-eval uses them.

A package declares its entries under the entry-point groups ``nvs_eval.metrics``, ``nvs_eval.layouts``,
``nvs_eval.datasets`` and ``nvs_eval.protocols`` (in its ``pyproject.toml``)::

    [project.entry-points."nvs_eval.metrics"]
    my_mae = "my_package:my_mae"

where ``my_package.my_mae`` is the object :func:`metric` returns (or a list of them); :func:`layout`,
:func:`dataset` and :func:`protocol` make the objects of the other groups. Once the package is installed, ``my_mae``
is a metric id like ``psnr`` (``--metrics psnr,my_mae``, a config's ``metrics:``, the tables, the report and
``nvs-eval protocols``), a layout is a ``--layout`` choice, auto-detected, and a config ``kind:``, a dataset kind a
``--dataset`` choice and a config ``kind:``, a protocol a ``--protocol`` name. Every stored value carries the
package's name and version, so an upgraded plugin never mixes silently with stored rows. A plugin that fails to
import is reported and left out; the built-ins never depend on it (:mod:`nvs_eval.entrypoints`). Walk-through:
docs/plugins.md.

This module imports nothing heavy: a plugin's own module can import it at no cost.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from .errors import PluginError

_NAME = re.compile(r"^[a-z][a-z0-9_]*$")


@dataclass(frozen=True)
class PluginMetric:
    """A registered per-image metric (see :func:`metric`)."""

    name: str
    label: str
    higher_is_better: bool
    fn: Callable
    precision: int = 3
    about: str = ""


def metric(name: str, label: str, higher_is_better: bool, fn: Callable, *, precision: int = 3,
           about: str = "") -> PluginMetric:
    """Declare a per-image metric for the entry-point group ``nvs_eval.metrics``.

    Args:
        name: the metric id (lower case, digits and ``_``), as stored and given to ``--metrics``.
        label: the table header.
        higher_is_better: the direction reports rank by.
        fn: ``fn(renders, ground_truth) -> values``: renders ``(N, 3, H, W)`` and the view's ground truth
            ``(1, 3, H, W)``, float32 in [0, 1] on the evaluator's device (after the protocol's quantisation),
            returning one value per render, shape ``(N,)`` (a tensor or an array).
        precision: decimals printed in tables.
        about: one line for ``nvs-eval protocols``: what it computes and whose definition.

    Returns:
        The :class:`PluginMetric` to expose as the entry point's object.

    Raises:
        PluginError: a name that is not an id, or ``fn`` not callable.

    Example:
        >>> mae = metric("mae", "MAE", False, lambda r, g: (r - g).abs().flatten(1).mean(1))
        >>> mae.name, mae.higher_is_better
        ('mae', False)
        >>> metric("My MAE", "MAE", False, abs)
        Traceback (most recent call last):
        ...
        nvs_eval.errors.PluginError: metric name 'My MAE': expected lower case letters, digits and _, ...
    """
    if not isinstance(name, str) or not _NAME.match(name):
        raise PluginError(f"metric name {name!r}: expected lower case letters, digits and _, starting with a letter")
    if not callable(fn):
        raise PluginError(f"metric {name!r}: fn must be callable, got {type(fn).__name__}")
    return PluginMetric(name, str(label), bool(higher_is_better), fn, int(precision), str(about))


def _checked_name(what: str, name, pattern: re.Pattern = _NAME) -> str:
    if not isinstance(name, str) or not pattern.match(name):
        raise PluginError(f"{what} name {name!r}: expected lower case letters, digits, _ and - (as in 3dgs, "
                          "mip-splatting), starting with a letter or digit")
    return name


# layouts, dataset kinds and protocols may use - and start with a digit, as the built-ins do (mip-splatting, 3dgs)
_KIND = re.compile(r"^[a-z0-9][a-z0-9_-]*$")


@dataclass(frozen=True)
class PluginLayout:
    """A registered folder layout (see :func:`layout`)."""

    name: str
    description: str
    detect: Callable[[Path], bool]
    load: Callable[..., list]
    ground_truth: str = "own"
    gt_kinds: tuple[str, ...] = ()


def layout(name: str, description: str, detect: Callable[[Path], bool], load: Callable[..., list], *,
           ground_truth: str = "own", gt_kinds: tuple[str, ...] = ()) -> PluginLayout:
    """Declare a folder layout for the entry-point group ``nvs_eval.layouts``.

    Args:
        name: the layout's id (``--layout``, a config's ``kind:``).
        description: one line on what its folder holds (``--help``, the error for an unrecognised folder).
        detect: ``detect(path) -> bool``: whether ``path`` is a run in this layout (auto-detection tries the
            built-in layouts first).
        load: ``load(path, *, iteration, method, dataset, gt_source) -> list[Scene]``
            (:class:`nvs_eval.data.scene.Scene`): its scenes, each ground-truth view and each method's render
            keyed by view id; ``method`` (or, when ``None``, a name the layout chooses) names the renders,
            ``dataset`` is the dataset name to give the scenes.
        ground_truth: where its ground truth comes from, a :data:`nvs_eval.data.sources.SOURCES` entry: ``own``
            (beside the renders, the default), ``dataset`` (a dataset kind's files: ``gt_source`` is a
            :class:`~nvs_eval.data.layouts.GroundTruthSource`) or ``chunks``.
        gt_kinds: with ``dataset``, the dataset kinds it accepts (empty: any).

    Example:
        >>> toy = layout("toy-tool", "toy-tool output: preds/ and truth/", lambda p: False, lambda p, **kw: [])
        >>> toy.name, toy.ground_truth
        ('toy-tool', 'own')
    """
    _checked_name("layout", name, _KIND)
    if not callable(detect) or not callable(load):
        raise PluginError(f"layout {name!r}: detect and load must be callable")
    return PluginLayout(name, str(description), detect, load, str(ground_truth), tuple(gt_kinds))


@dataclass(frozen=True)
class PluginDataset:
    """A registered dataset kind (see :func:`dataset`)."""

    name: str
    description: str
    test_views: Callable[[Path, str], dict]
    background: tuple[float, float, float] | None = None
    masks: Callable | None = None
    scenes: tuple[str, ...] = ()
    standard_split: str = "every-8th"


def dataset(name: str, description: str, test_views: Callable[[Path, str], dict], *,
            background: tuple[float, float, float] | None = None, masks: Callable | None = None,
            scenes: tuple[str, ...] = (), standard_split: str = "every-8th") -> PluginDataset:
    """Declare a dataset kind (ground truth read from a dataset's own files) for the group ``nvs_eval.datasets``.

    Args:
        name: the kind's id (``--dataset``, a config's ``kind:`` or ``gt_kind:``).
        description: one line: which files are its test views.
        test_views: ``test_views(scene_dir, images) -> {view id: image file}`` in test-view order (``images``:
            the image folder the user named, default ``"images"``); renders are paired with them by order.
        background: RGB in [0, 1] its RGBA images are composited on, or ``None``.
        masks: ``masks(scene_dir, images, views) -> {view id: mask file} | "alpha" | None``: the masks it ships.
        scenes: the scenes a full average covers (``--scene`` names one of them).
        standard_split: the rule of its standard split (:mod:`nvs_eval.data.splits`).

    Example:
        >>> toy = dataset("toy-set", "test.txt lists the test views", lambda scene, images: {})
        >>> toy.name, toy.background
        ('toy-set', None)
    """
    _checked_name("dataset kind", name, _KIND)
    if not callable(test_views):
        raise PluginError(f"dataset kind {name!r}: test_views must be callable")
    return PluginDataset(name, str(description), test_views, background, masks, tuple(scenes), standard_split)


@dataclass(frozen=True)
class PluginProtocol:
    """A registered protocol preset (see :func:`protocol`)."""

    name: str
    base: str
    source: str
    settings: dict = field(default_factory=dict)


def protocol(name: str, base: str = "nvs-eval", source: str = "", **settings) -> PluginProtocol:
    """Declare a protocol preset for the entry-point group ``nvs_eval.protocols``: a built-in preset ``base`` with
    some settings changed, exactly as a protocol YAML's keys (docs/protocols.md), validated the same way.

    Args:
        name: the protocol's name (``--protocol``, a config's ``protocol:``, tables and the store).
        base: the preset it starts from.
        source: the reference code or paper it reproduces (``nvs-eval protocols`` prints it).
        **settings: the settings it changes (``quantize="truncate"``, ``ssim={"padding": "same"}``, ``summary=...``).

    Example:
        >>> p = protocol("my-3dgs", base="3dgs", source="my paper, eval.py", quantize="truncate")
        >>> p.base, p.settings
        ('3dgs', {'quantize': 'truncate'})
    """
    _checked_name("protocol", name, _KIND)
    if "name" in settings or "base" in settings:
        raise PluginError(f"protocol {name!r}: name and base are arguments, not settings")
    return PluginProtocol(name, str(base), str(source), dict(settings))
