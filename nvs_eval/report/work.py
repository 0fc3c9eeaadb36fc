"""The report's work around its pages: figures drawn in a pool of processes, progress, and the maps kept from scoring.

``with ReportWork(store_path, pages=n):`` around the writing of the pages makes it the current work: then
:func:`draw` hands a figure to a process pool sized to the cores (``spawn``, so it is safe wherever it runs; one core
draws in this process, serially), :func:`page_written` counts a page, and :func:`view_maps` reads a view's maps from
those kept beside the store at scoring time (:mod:`nvs_eval.compute.mapcache`), computing them only when they are
missing, and saying so once. Leaving the block waits for every figure and raises the first error a figure met.
Outside such a block the three functions work alone: figures drawn at once, no progress, maps computed.

A figure function is deterministic and writes one file, so drawn in a pool or serially the files are the same, byte
for byte (tests/report/test_report.py checks it).
"""

from __future__ import annotations

import multiprocessing
import os
import sys
from concurrent.futures import Future, ProcessPoolExecutor
from contextvars import ContextVar
from pathlib import Path

_CURRENT: ContextVar[ReportWork | None] = ContextVar("nvs_eval_report_work", default=None)
MAX_WORKERS = 8


def figure_workers() -> int:
    """Processes that draw figures: the cores this process may use, at most :data:`MAX_WORKERS`."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return max(1, min(MAX_WORKERS, cores))


class ReportWork:
    """One report's figures, progress and kept maps (see the module's docstring).

    Args:
        store_path: the results store whose kept maps (``maps/`` beside it) the report reads; ``None``: none.
        pages: the pages the report writes.
        figures: the figures it plans to draw (the progress's total is pages + figures from the start; a figure
            beyond the plan adds one to it, and a plan not reached is taken off the total at the end).
        workers: drawing processes (default :func:`figure_workers`); 1 draws serially in this process.
        progress: ``None``: a bar on a terminal, plain lines otherwise; ``False``: none.
    """

    def __init__(self, store_path: Path | str | None = None, *, pages: int = 0, figures: int = 0,
                 workers: int | None = None, progress: bool | None = None):
        from ..compute.mapcache import MapCache
        from ..progress import Progress

        self.workers = figure_workers() if workers is None else max(1, workers)
        self.cache = MapCache.beside(store_path) if store_path is not None else None
        self.progress = Progress(pages + figures, "report (pages and figures)", "item", enabled=progress)
        self.planned = figures  # figures of the total not drawn yet
        self.pool: ProcessPoolExecutor | None = None
        self.pending: list[Future] = []
        self.computed_views = 0  # views whose maps were not kept and were computed again
        self._token = None

    def draw(self, fn, *args, **kwargs) -> None:
        if self.planned > 0:
            self.planned -= 1
        else:
            self.progress.add(1)
        if self.workers == 1:
            fn(*args, **kwargs)
            self.progress.update(1)
            return
        if self.pool is None:
            self.pool = ProcessPoolExecutor(self.workers, mp_context=multiprocessing.get_context("spawn"))
        self.pending.append(self.pool.submit(fn, *args, **kwargs))
        self._collect(wait=False)
        while len(self.pending) > 2 * self.workers:  # a figure's images wait in memory until it is drawn: few
            self.pending.pop(0).result()
            self.progress.update(1)

    def _collect(self, wait: bool) -> None:
        """Count the figures drawn (all of them with ``wait``); a figure's error is raised here."""
        keep = []
        for f in self.pending:
            if wait or f.done():
                f.result()
                self.progress.update(1)
            else:
                keep.append(f)
        self.pending = keep

    def view_maps(self, evaluator, gt_ref, refs: dict):
        from ..compute.maps import view_maps

        gt, renders, maps, kept = view_maps(evaluator, gt_ref, refs, self.cache)
        if not kept:
            if not self.computed_views:
                where = self.cache.folder if self.cache is not None else "the store"
                print(f"report: the maps of a view shown were not kept at scoring (not in {where}: an older store, "
                      "or the folder was deleted, or an input changed since); computing them", file=sys.stderr)
            self.computed_views += 1
        return gt, renders, maps

    def __enter__(self) -> ReportWork:
        self._token = _CURRENT.set(self)
        return self

    def __exit__(self, exc_type, *_) -> None:
        _CURRENT.reset(self._token)
        try:
            if exc_type is None:
                self._collect(wait=True)
                self.progress.add(-self.planned)  # views whose images were missing drew nothing
        finally:
            if self.pool is not None:
                self.pool.shutdown(wait=True, cancel_futures=True)
            self.progress.close(ok=exc_type is None)


def draw(fn, *args, **kwargs) -> None:
    """``fn(*args, **kwargs)``, a figure function, in the current report's pool (at once outside one)."""
    work = _CURRENT.get()
    if work is None:
        fn(*args, **kwargs)
    else:
        work.draw(fn, *args, **kwargs)


def page_written() -> None:
    """One more page of the current report is written (for its progress)."""
    work = _CURRENT.get()
    if work is not None:
        work.progress.update(1)


def view_maps(evaluator, gt_ref, refs: dict):
    """A shown view's ``(gt, {method: render}, {method: {map: array}})``: its maps kept from scoring when the
    current report's store has them, else computed (:func:`nvs_eval.compute.maps.view_maps`)."""
    work = _CURRENT.get()
    if work is not None:
        return work.view_maps(evaluator, gt_ref, refs)
    from ..compute.maps import view_maps as compute

    return compute(evaluator, gt_ref, refs)[:3]
