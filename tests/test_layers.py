"""The package's imports follow its layers: no import circle between modules, and no module imports from a layer
above its own. The layers are written once, in docs/architecture.md's "Layers" table, which this test reads.

Every ``import`` of every module counts, the ones inside functions too (a lazy import is still a dependency).
"""

from __future__ import annotations

import ast
import functools
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "nvs_eval"

def layers() -> dict[str, int]:
    """``{part: layer}`` from docs/architecture.md: each row ``| n | `part`, `part` | ... |``, bottom first."""
    text = (ROOT / "docs" / "architecture.md").read_text()
    section = text.split("\n## Layers\n", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("| ")][1:]  # the header row left out
    out = {}
    for row in rows:
        cells = [c.strip() for c in row.strip("|").split("|")]
        out.update((part, int(cells[0])) for part in re.findall(r"`([^`]+)`", cells[1]))
    return out


def _name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


# circles allowed for now (none): an entry here must exist, so a circle removed takes its entry with it
KNOWN_CIRCLES: list[set[str]] = []


@functools.cache
def import_graph() -> dict[str, set[str]]:
    """``{module: modules of nvs_eval it imports}``, relative imports resolved, ``from pkg import module`` to the
    module, anything else to the module that defines the name."""
    modules = {_name(p): p for p in PACKAGE.rglob("*.py")}
    graph = {}
    for name, path in modules.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        targets = set()
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                targets |= {a.name for a in node.names}
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    up = package.split(".")[: len(package.split(".")) - node.level + 1]
                    base = ".".join(up + ([node.module] if node.module else []))
                targets |= {f"{base}.{a.name}" if f"{base}.{a.name}" in modules else base for a in node.names}
        graph[name] = {_owner(t, modules) for t in targets if t.split(".")[0] == "nvs_eval"} - {name}
    return graph


def _owner(target: str, modules) -> str:
    while target not in modules:
        target = target.rpartition(".")[0]
    return target


def layer_of(module: str, table: dict[str, int]) -> int:
    parts = module.split(".")
    part = parts[1] if len(parts) > 1 else "__init__"
    assert part in table, f"{module}: no layer in docs/architecture.md's Layers table for {part!r}"
    return table[part]


def circles(graph: dict[str, set[str]]) -> list[set[str]]:
    """The strongly connected components of more than one module (Tarjan)."""
    index, low, stack, on, out = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = set()
            while True:
                w = stack.pop()
                on.discard(w)
                comp.add(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(comp)

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def upward_imports(graph: dict[str, set[str]], table: dict[str, int]) -> list[str]:
    return sorted(f"{m} (layer {layer_of(m, table)}) imports {t} (layer {layer_of(t, table)})"
                  for m, targets in graph.items() for t in targets if layer_of(t, table) > layer_of(m, table))


def test_every_module_has_a_layer_and_imports_none_above_it():
    upward = upward_imports(import_graph(), layers())
    assert not upward, "\n".join(upward)


def test_no_import_circle_between_modules():
    found = circles(import_graph())
    assert [c for c in found if c not in KNOWN_CIRCLES] == [], f"import circles: {[sorted(c) for c in found]}"
    assert all(c in found for c in KNOWN_CIRCLES), "a known circle is gone: delete it from KNOWN_CIRCLES"


def test_the_import_reader_sees_function_level_and_relative_imports():
    graph = import_graph()
    assert "nvs_eval.util.atomic" in graph["nvs_eval.data.pixelsplat"]  # inside a function, relative
    assert "nvs_eval.errors" in graph["nvs_eval.util.atomic"]
    assert circles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [{"a", "b", "c"}]
    before = {"nvs_eval.metrics.weights": {"nvs_eval.data.hashing"}, "nvs_eval.data.hashing": set()}  # issue 34
    assert upward_imports(before, layers()) == [
        "nvs_eval.metrics.weights (layer 4) imports nvs_eval.data.hashing (layer 5)"]
