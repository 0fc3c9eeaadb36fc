"""A static, offline HTML report: ``index.html`` + per-scene pages + ``stats.html`` + assets (no CDN, no server).

The markup lives in Jinja2 templates (``templates/``, autoescaped: every name a user chose is escaped, and JSON for
the viewer goes through ``|tojson``); the stylesheet and script are static files (``static/``) copied into the
report's ``assets/``. Python builds each page's context; the template lays it out. Tables are sortable (click a
header); each scene page has an image viewer that switches between the ground truth, each method's render and its
heatmaps, or slides between any two of them.
"""

from __future__ import annotations

import re
import shutil
from importlib.resources import files
from pathlib import Path

from ..results.atomic import atomic_output, atomic_write_text
from .table import Table, arrow

ASSETS = ("report.css", "report.js")
_ARROWS = {"up": "\u2191", "down": "\u2193"}


def environment():
    """The templates' environment: autoescaping on for every template, undefined names an error."""
    import jinja2

    return jinja2.Environment(loader=jinja2.PackageLoader("nvs_eval.report", "templates"), autoescape=True,
                              undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True)


def render(env, name: str, **context) -> str:
    """Template ``name`` filled with ``context``."""
    return env.get_template(name).render(**context)


def write_page(env, path: Path, name: str, **context) -> Path:
    """Template ``name`` rendered into ``path`` (whole or not at all)."""
    atomic_write_text(path, render(env, name, **context))
    return path


def _num(v: float) -> str:
    return repr(float(v))


def table_context(table: Table, caption: str | None = None) -> dict:
    """A ranked table as the ``ranked_table`` macro reads it; ``caption`` replaces the table's own (the index
    page states what a group of tables shares once, and per table only what differs)."""
    rows = []
    for i, (name, row) in enumerate(zip(table.rows, table.cells)):
        cells = [{"cls": ("", "best", "second")[c.rank], "v": _num(c.value), "text": c.text, "small": c.spread,
                  "tied": c.tied} for c in row]
        rows.append({"name": name, "published": table.is_published(i), "cells": cells})
    return {"title": table.title, "key": table.key, "row_header": table.row_header,
            "head": [f"{c.label} {_ARROWS[arrow(c.metric)]}" for c in table.columns], "rows": rows,
            "caption": table.caption if caption is None else caption}


def table_html(table: Table, env=None) -> str:
    """One ranked table as an HTML fragment (title, sortable table, caption)."""
    return render(env or environment(), "table.html", t=table_context(table))


def write_assets(out: Path) -> None:
    """The stylesheet and script, copied from the package into ``out/assets``."""
    static = files("nvs_eval.report") / "static"
    for name in ASSETS:
        with atomic_output(out / "assets" / name) as tmp, (static / name).open("rb") as src, open(tmp, "wb") as dst:
            shutil.copyfileobj(src, dst)


def sentences(text: str) -> list[str]:
    """A caption cut into its sentences (at a full stop followed by a space).

    >>> sentences("Protocol p. Ground truth at 4x3. ± is the spread.")
    ['Protocol p.', 'Ground truth at 4x3.', '± is the spread.']
    """
    return [s for s in re.split(r"(?<=\.)\s+", text.strip()) if s]


def shared_caption(captions: list[str]) -> tuple[str, list[str]]:
    """What every caption says (its sentences in the first caption's order) and, per caption, only the rest.

    >>> shared_caption(["PSNR per scene. Aggregation a.", "SSIM per scene. Aggregation a."])
    ('Aggregation a.', ['PSNR per scene.', 'SSIM per scene.'])
    """
    if len(captions) < 2:
        return "", list(captions)
    cut = [sentences(c) for c in captions]
    common = [s for s in cut[0] if all(s in other for other in cut[1:])]
    return " ".join(common), [" ".join(s for s in c if s not in common) for c in cut]


def table_groups(tables: list[Table]) -> list[dict]:
    """The index page's tables grouped by dataset (the title before its ``:``): the group's shared caption once,
    each table with only what its caption adds, the group's first table (its summary) apart from the rest."""
    groups: dict[str, list[Table]] = {}
    for t in tables:
        groups.setdefault(t.title.split(":", 1)[0] if ":" in t.title else t.title, []).append(t)
    out = []
    for name, ts in groups.items():
        common, own = shared_caption([t.caption for t in ts])
        ctx = [table_context(t, c) for t, c in zip(ts, own)]
        out.append({"name": name, "caption": common, "lead": ctx[:1], "rest": ctx[1:]})
    return out
