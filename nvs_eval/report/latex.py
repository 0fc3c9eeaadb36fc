"""LaTeX (booktabs) rendering of :class:`~nvs_eval.report.table.Table`. Needs ``\\usepackage{booktabs}`` and
``\\usepackage{graphicx}`` (:data:`PACKAGES`): a tabular wider than the column (the 10-metric summary) is shrunk to
``\\linewidth`` by ``\\resizebox``, one that fits is left at its size."""

from __future__ import annotations

from .table import Table, arrow

PACKAGES = ("booktabs", "graphicx")
# graphicx's \resizebox evaluates its width after boxing its argument, with \width its natural width: this
# shrinks only what would overflow (TeX's ``Overfull \hbox``) and never enlarges a narrow table
_FIT = r"\resizebox{\ifdim\width>\linewidth\linewidth\else\width\fi}{!}{%"

_SPECIALS = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_", "{": r"\{",
             "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}", "<": r"\textless{}",
             ">": r"\textgreater{}"}


def escape(text: str) -> str:
    """Escape every LaTeX special character (names from the file system are untrusted)."""
    return "".join(_SPECIALS.get(ch, ch) for ch in str(text))


def _cell(cell) -> str:
    text = escape(cell.text)
    text = rf"\textbf{{{text}}}" if cell.rank == 1 else rf"\underline{{{text}}}" if cell.rank == 2 else text
    if cell.spread:  # "± 0.12": the std over runs
        text += r" {\scriptsize$\pm$" + escape(cell.spread.removeprefix("±")) + "}"
    return text + (r"$^\dagger$" if cell.tied else "")


def render_latex(table: Table) -> str:
    arrows = {"up": r"$\uparrow$", "down": r"$\downarrow$"}
    header = [escape(table.row_header)] + [f"{escape(c.label)} {arrows[arrow(c.metric)]}" for c in table.columns]
    if all(c.metric == table.columns[0].metric for c in table.columns) and len(table.columns) > 1:
        header = [escape(table.row_header)] + [escape(c.label) for c in table.columns]
        caption_metric = f" ({arrows[arrow(table.columns[0].metric)]} better)"
    else:
        caption_metric = ""
    lines = [r"\begin{table}[t]", r"\centering", rf"\caption{{{escape(table.caption)}{caption_metric}}}",
             rf"\label{{tab:{escape(table.key).replace(chr(92), '')}}}",
             _FIT, r"\begin{tabular}{l" + "r" * len(table.columns) + "}", r"\toprule", " & ".join(header) + r" \\",
             r"\midrule"]
    for i, (name, row) in enumerate(zip(table.rows, table.cells)):
        cells = [escape(name)] + [_cell(c) for c in row]
        if table.is_published(i):  # published baselines: italic, after a rule
            cells = [rf"\textit{{{c}}}" for c in cells]
            if not table.is_published(i - 1):
                lines.append(r"\midrule")
        lines.append(" & ".join(cells) + r" \\")
    lines += [r"\bottomrule", r"\end{tabular}}", r"\end{table}"]
    return "\n".join(lines) + "\n"


def render_document(tables: list[Table]) -> str:
    """A minimal standalone document holding the tables (what the tests compile with pdflatex)."""
    body = "\n".join(render_latex(t) for t in tables)
    packages = "".join(f"\\usepackage{{{p}}}\n" for p in PACKAGES)
    return "\\documentclass{article}\n" + packages + "\\begin{document}\n" + body + "\\end{document}\n"
