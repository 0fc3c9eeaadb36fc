"""Moved to :mod:`nvs_eval.util.atomic` (the bottom layer, issue 34); kept so that code written against this path
still imports. Import from ``nvs_eval.util.atomic``."""

from ..util.atomic import atomic_output, atomic_write_bytes, atomic_write_text, private_temp

__all__ = ["atomic_output", "atomic_write_bytes", "atomic_write_text", "private_temp"]
