"""Text for a terminal: one wrapping rule for every listing and message the CLI prints."""

from __future__ import annotations

import textwrap

WIDTH = 100  # a terminal's columns: tables split into blocks and prose wraps within it


def fill(text: str, indent: str = "", subsequent: str = "  ", width: int = WIDTH) -> str:
    """``text`` wrapped to ``width`` columns, the first line indented by ``indent``, the others by ``subsequent``;
    never broken inside a word or at a hyphen (paths, flags and names stay whole).

    >>> print(fill("quantize " + "word " * 12, "  ", " " * 11, 40))
      quantize word word word word word word
               word word word word word word
    """
    return textwrap.fill(text, width, initial_indent=indent, subsequent_indent=subsequent, break_on_hyphens=False,
                         break_long_words=False)
