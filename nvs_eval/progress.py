"""Progress for every command: a bar on a terminal, plain lines otherwise.

A bar (tqdm) redraws itself with carriage returns, which is right on a terminal and wrong in a log file or a CI
job's output (``explain: view 1/6explain: view 2/6...``). Where standard error is not a terminal, progress is
plain lines instead: one every ``every`` seconds while the work goes on (none for work shorter than that, so a
command that fails early still prints its one error line alone), and one when it is done.
"""

from __future__ import annotations

import sys
import time
from typing import TextIO


class Progress:
    """Progress of ``total`` steps of one piece of work, named ``desc``.

    Args:
        total: the number of steps.
        desc: what is being done, e.g. ``"score garden"``.
        unit: what a step is (``"view"``, ``"figure"``).
        enabled: ``None``: a bar on a terminal, plain lines otherwise; ``False``: nothing; ``True``: a bar.
        every: seconds between plain lines.
        file: where it goes (default standard error).

    Example:
        >>> import io
        >>> out = io.StringIO()
        >>> with Progress(3, "score garden", "view", every=0.0, file=out) as p:
        ...     p.update(3)
        >>> print(out.getvalue().splitlines()[-1].split(" (")[0])
        score garden: 3/3 views
    """

    def __init__(self, total: int, desc: str, unit: str = "step", *, enabled: bool | None = None,
                 every: float = 15.0, file: TextIO | None = None):
        self.total, self.desc, self.unit, self.every = total, desc, unit, every
        self.file = file or sys.stderr
        self.done, self.start = 0, time.monotonic()
        self._last = self.start
        terminal = enabled is True or (enabled is None and self.file.isatty())
        self.lines = enabled is None and not terminal
        self.bar = None
        if terminal:
            from tqdm import tqdm

            self.bar = tqdm(total=total, desc=desc, unit=unit, dynamic_ncols=True, leave=False, file=self.file)

    def update(self, n: int = 1) -> None:
        """``n`` more steps are done."""
        self.done += n
        if self.bar is not None:
            self.bar.update(n)
        elif self.lines and time.monotonic() - self._last >= self.every and self.done < self.total:
            self._line()

    def add(self, n: int = 1) -> None:
        """``n`` more steps to do (work whose size is learnt as it goes, such as a report's figures)."""
        self.total += n
        if self.bar is not None:
            self.bar.total = self.total
            self.bar.refresh()

    def set_description(self, desc: str) -> None:
        self.desc = desc
        if self.bar is not None:
            self.bar.set_description(desc)

    def _line(self) -> None:
        self._last = time.monotonic()
        plural = "" if self.total == 1 else "s"
        print(f"{self.desc}: {self.done}/{self.total} {self.unit}{plural} ({self._last - self.start:.0f} s)",
              file=self.file, flush=True)

    def close(self, ok: bool = True) -> None:
        """The end: the bar is cleared; in plain lines, the last line (only when the work finished)."""
        if self.bar is not None:
            self.bar.close()
        elif self.lines and ok and self.done and time.monotonic() - self.start >= self.every:
            self._line()

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, exc_type, *_) -> None:
        self.close(ok=exc_type is None)
