"""Moved to :mod:`nvs_eval.util.hashing` (the bottom layer, issue 34); kept so that code written against this path
still imports. Import from ``nvs_eval.util.hashing``."""

from ..util.hashing import sha256_file

__all__ = ["sha256_file"]
