"""Open registries: the built-in entries, then the installed packages' (entry points), loaded on first use.

Metrics, layouts, dataset kinds and protocols are each one :class:`OpenRegistry` (docs/plugins.md). A package
declares its entries under the registry's entry-point group (``nvs_eval.metrics``, ``nvs_eval.layouts``,
``nvs_eval.datasets``, ``nvs_eval.protocols``) with the helpers of :mod:`nvs_eval.plugin`. The guarantees are the
same for every group:

* **lazy**: nothing is imported until the registry is first read beyond its built-ins;
* **isolated**: a package whose module fails to import, or whose object is not what the group expects, or whose
  name is taken, is left out and recorded in :data:`FAILED` (one warning line per package, printed by the CLI);
  the built-ins and the other packages are unaffected;
* **versioned**: every entry a package adds carries ``<package>==<version>``, which goes into the stored
  signature of each value it affects, so an upgraded package never reuses stored rows silently.

``NVS_EVAL_NO_PLUGINS=1`` loads no package. This module imports nothing heavy.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Failed:
    """An entry point that was not loaded: its group, name, package (``name==version``) and why."""

    group: str
    name: str
    package: str
    value: str
    why: str

    def message(self) -> str:
        return f"plugin {self.name!r} ({self.package}, entry point {self.value}) was not loaded: {self.why}"


FAILED: list[Failed] = []  # every entry point of every group that did not load, in load order


def _package(ep) -> str:
    dist = getattr(ep, "dist", None)
    return f"{dist.name}=={dist.version}" if dist is not None else ep.value


class OpenRegistry(Mapping):
    """``name -> entry``: ``builtins`` first, then every installed package's entries of ``group``.

    Args:
        group: the entry-point group (``nvs_eval.layouts``).
        what: what an entry is, for messages (``layout``).
        builtins: the built-in entries (the registry never replaces one).
        convert: ``convert(obj, package) -> (name, entry)``: checks one object an entry point exposes and turns it
            into an entry carrying ``package``; raises (any exception) when the object is not one.
    """

    def __init__(self, group: str, what: str, builtins: dict[str, Any], convert: Callable[[Any, str], tuple]):
        self.group, self.what, self.builtins, self._convert = group, what, builtins, convert
        self._all: dict[str, Any] | None = None
        self.errors: dict[str, str] = {}  # entry-point name -> why it did not load

    def _load(self) -> dict[str, Any]:
        if self._all is not None:
            return self._all
        self._all = dict(self.builtins)
        if os.environ.get("NVS_EVAL_NO_PLUGINS"):
            return self._all
        from importlib.metadata import entry_points

        for ep in entry_points(group=self.group):
            package = _package(ep)
            try:
                obj = ep.load()
                found = [self._convert(item, package) for item in (obj if isinstance(obj, (list, tuple)) else [obj])]
                names = [name for name, _ in found]
                taken = [n for i, n in enumerate(names) if n in self._all or n in names[:i]]
                if taken:
                    raise ValueError(f"{self.what} name {taken[0]!r} is already taken")
                self._all.update(found)
            except Exception as e:  # noqa: BLE001 - a broken plugin must never break the built-ins
                fail = Failed(self.group, ep.name, package, ep.value, f"{type(e).__name__}: {e}")
                FAILED.append(fail)
                self.errors[ep.name] = fail.message()
        return self._all

    def __getitem__(self, name: str):
        if name in self.builtins:
            return self.builtins[name]
        return self._load()[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._load())

    def __len__(self) -> int:
        return len(self._load())

    def __contains__(self, name) -> bool:
        return name in self.builtins or name in self._load()

    def unknown(self, name: str) -> str:
        """Why ``name`` is not an entry: ``"unknown layout 'x'; known: ..."``, with why a plugin of that name did
        not load, or the closest name."""
        import difflib

        self._load()
        if name in self.errors:
            return f"{self.what} {name!r} is not available: {self.errors[name]}"
        near = difflib.get_close_matches(str(name), list(self), n=1, cutoff=0.6)
        return f"unknown {self.what} {name!r}" + (f"; did you mean {near[0]!r}?" if near else
                                                   f"; known: {', '.join(self)}")


def package_warnings(requested: set[str] = frozenset()) -> list[str]:
    """One line per installed package with entry points that did not load (every group together), leaving out a
    package one of whose names the command asked for (the error that stops it says the same)."""
    by_package: dict[str, list[Failed]] = {}
    for f in FAILED:
        by_package.setdefault(f.package, []).append(f)
    lines = []
    for package, fails in by_package.items():
        if any(f.name in requested for f in fails):
            continue
        names = ", ".join(f"{f.name}: {f.group.removeprefix('nvs_eval.')}, {f.value}" for f in fails)
        lines.append(f"plugin package {package} was not loaded ({names}): {fails[0].why}; "
                     "the built-ins and other plugins are unaffected")
    return lines
