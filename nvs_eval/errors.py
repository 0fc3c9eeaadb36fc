"""Error types. Every user-facing failure is one of these, so the CLI can print one line and exit 2."""

from __future__ import annotations


class NvsEvalError(Exception):
    """Base class of the errors a user can fix (bad input, bad config, missing weights)."""


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


class WeightsError(NvsEvalError, RuntimeError):
    """Network weights are missing, fail their checksum, or are not safe to load."""


class StoreError(NvsEvalError, RuntimeError):
    """The results store refuses an operation (e.g. overwriting results without --force)."""


class PluginError(NvsEvalError, RuntimeError):
    """A third-party metric (:mod:`nvs_eval.plugin`) is malformed or failed; the message names the plugin."""
