"""Report: one table model (``table``) rendered as LaTeX, Markdown, CSV and HTML, figures, and the static HTML
report (``pages``) written from a results store."""

from .pages import FORMATS, REPORT_MARKER, write_report

__all__ = ["FORMATS", "REPORT_MARKER", "write_report"]
