"""Third-party metrics: write a function, register it, and nvs-eval scores, stores, aggregates and reports it.

A package declares its metrics under the entry-point group ``nvs_eval.metrics`` (in its ``pyproject.toml``)::

    [project.entry-points."nvs_eval.metrics"]
    my_mae = "my_package:my_mae"

where ``my_package.my_mae`` is the object :func:`metric` returns (or a list of them). Once the package is
installed, ``my_mae`` is a metric id like ``psnr``: ``--metrics psnr,my_mae``, a config's ``metrics:``, the
tables, the report and ``nvs-eval protocols``. Every stored value carries the package's name and version, so an
upgraded plugin never mixes silently with stored rows. A plugin that fails to import is reported and left out; the
built-in metrics never depend on it. Walk-through: docs/plugins.md.

This module imports nothing heavy: a plugin's own module can import it at no cost.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

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
