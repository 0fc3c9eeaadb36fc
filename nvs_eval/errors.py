"""Error types. Every user-facing failure is one of these, so the CLI can print one line and exit 2.

An error is structured: its message, and where known the file it is about (``path``), what was expected there
(``expected``) and what to do (``hint``). Lower layers never spell a command-line flag. Where a message names an
option, it names it with :func:`option` (``option("force")``), and each front end spells it its own way: the CLI as
a flag (``--force``, :func:`render` with ``"cli"``), the Python API as a keyword argument (``force=True``, the
default ``str``). One table, :data:`OPTIONS`, holds both spellings.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Literal

# option -> (its command-line spelling, its Python API spelling)
OPTIONS: dict[str, tuple[str, str]] = {
    "force": ("--force", "force=True"),
    "masks": ("--masks DIR", "masks= (a folder with one mask image per view)"),
    "mask_from_gt_alpha": ("--mask-from-gt-alpha", "mask_from_gt_alpha=True"),
    "gt": ("--gt", "gt="),
    "out": ("--out", "out="),
    "protocol": ("--protocol", "protocol="),
    "resize_gt": ("--resize-gt", "the protocol's resize_gt"),
    "appearance_fit": ("--appearance-fit", "the protocol's appearance_fit"),
    "target": ("--target", "targets="),
    "target_method": ("--target-method", "method="),
    "allow_different_sets": ("--allow-different-sets", "allow_different_sets=True"),
    "dataset": ("--dataset", "dataset="),
    "dataset_root": ("--dataset-root", "dataset_root="),
    "eval_index": ("--eval-index", "eval_index="),
    "images": ("--images ", "images="),
    "baselines": ("--baselines", "baselines="),
    "paired": ("--paired", "paired=True"),
    "json": ("--json", "a score JSON"),
    "scene": ("--scene ", "scene="),
    "allow_missing": ("--allow-missing", "allow_missing=True"),
}

_MARK = re.compile(r"\x00([a-z_]+)\x00")


def option(name: str) -> str:
    """An option named in an error message, spelled by the front end that prints it (see the module)."""
    if name not in OPTIONS:
        raise KeyError(f"unknown option {name!r}; add it to nvs_eval.errors.OPTIONS")
    return f"\x00{name}\x00"


def render(text: str, front: Literal["cli", "api"] = "api") -> str:
    """``text`` with each :func:`option` spelled for ``front``."""
    k = 0 if front == "cli" else 1
    return _MARK.sub(lambda m: OPTIONS[m.group(1)][k], text)


class NvsEvalError(Exception):
    """Base class of the errors a user can fix (bad input, bad config, missing weights).

    Args:
        message: what went wrong (options named with :func:`option`).
        path: the file or folder it is about, when there is one (printed first).
        expected: what was expected there.
        hint: the likely cause or what to do.
    """

    def __init__(self, message: str = "", *, path: str | Path | None = None, expected: str | None = None,
                 hint: str | None = None):
        self.message, self.path, self.expected, self.hint = message, path, expected, hint
        super().__init__(message)

    def render(self, front: Literal["cli", "api"] = "api") -> str:
        """The whole message, options spelled for ``front``."""
        parts = [f"{self.path}: {self.message}" if self.path is not None else self.message]
        if self.expected:
            parts.append(f"expected {self.expected}")
        if self.hint:
            parts.append(self.hint)
        return render("; ".join(p for p in parts if p), front)

    def __str__(self) -> str:
        return self.render("api")

    def __reduce__(self):  # its fields survive pickling (a worker's error crossing to the main process)
        return _rebuild, (type(self), self.message, self.path, self.expected, self.hint)


def _rebuild(cls, message, path, expected, hint):
    return cls(message, path=path, expected=expected, hint=hint)


class PreconditionError(ValueError):
    """A metric kernel's documented precondition on its input is not met (an image smaller than the SSIM window
    or than LPIPS's receptive field). The kernels raise it; the runner names the file. Any other ``ValueError``
    from inside scoring is a bug, reported as one."""


class UsageError(NvsEvalError, ValueError):
    """A command-line option or API argument names something that does not exist (device, metric, protocol)."""


class ImageReadError(NvsEvalError, ValueError):
    """An image file could not be read or is not acceptable (names the file and the problem)."""


class PairingError(NvsEvalError, ValueError):
    """Renders and ground truth do not pair: missing views, extra renders, size mismatches."""


class LayoutError(NvsEvalError, ValueError):
    """A folder does not look like any known layout, or not like the one asked for."""


class ConfigError(NvsEvalError, ValueError):
    """A benchmark YAML file is invalid (names the file and the key)."""


class EfficiencyError(NvsEvalError, ValueError):
    """A file a training tool wrote its efficiency figures in (stats JSON, PLY header, a figures CSV) is broken."""


class WeightsError(NvsEvalError, RuntimeError):
    """Network weights are missing, fail their checksum, or are not safe to load."""


class StoreError(NvsEvalError, RuntimeError):
    """The results store refuses an operation (e.g. overwriting results without --force)."""


class PluginError(NvsEvalError, RuntimeError):
    """A third-party metric (:mod:`nvs_eval.plugin`) is malformed or failed; the message names the plugin."""
