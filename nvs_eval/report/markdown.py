"""Markdown and CSV rendering of :class:`~nvs_eval.report.table.Table`."""

from __future__ import annotations

import csv
import io

from .table import Table, arrow

_MD_SPECIALS = "\\`*_[]<>|"


def escape_md(text: str) -> str:
    return "".join("\\" + ch if ch in _MD_SPECIALS else ch for ch in str(text))


def render_markdown(table: Table) -> str:
    arrows = {"up": "↑", "down": "↓"}
    head = [escape_md(table.row_header)] + [f"{escape_md(c.label)} {arrows[arrow(c.metric)]}" for c in table.columns]
    lines = [f"**{escape_md(table.title)}**", "", "| " + " | ".join(head) + " |",
             "|" + "|".join(["---"] + ["---:"] * len(table.columns)) + "|"]
    for i, (name, row) in enumerate(zip(table.rows, table.cells)):
        cells = [(f"**{c.text}**" if c.rank == 1 else c.text) + (f" {c.spread}" if c.spread else "")
                 + ("†" if c.tied else "") for c in row]
        name = escape_md(name)
        if table.is_published(i):  # published baselines, in italics
            name, cells = f"*{name}*", [f"*{c}*" if c != "--" else c for c in cells]
        lines.append("| " + " | ".join([name] + cells) + " |")
    lines += ["", f"_{escape_md(table.caption)}_"]
    return "\n".join(lines) + "\n"


def render_csv(table: Table) -> str:
    """Full precision values (not the rounded display)."""
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow([table.row_header] + [f"{c.label} ({c.metric})" for c in table.columns])
    for name, row in zip(table.rows, table.cells):
        w.writerow([name] + [repr(c.value) for c in row])
    return buf.getvalue()
