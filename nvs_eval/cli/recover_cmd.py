"""``nvs-eval recover RESULTS``: the rows of a damaged results store, read back into a new store in its place; the
damaged file is kept beside it (nvs_eval.results.recover)."""

from __future__ import annotations

import argparse


def add_arguments(p: argparse.ArgumentParser) -> None:
    from ._common import path_argument

    path_argument(p, "results", help="the results folder (or its results.sqlite) whose store is damaged")


def run(args: argparse.Namespace) -> int:
    from ..results.recover import recover_in_place
    from ..results.store import ResultsStore

    moved, report = recover_in_place(args.results)
    for r in report:
        lost = f", {r.unreadable} listed but unreadable" if r.unreadable else ""
        more = "; a scan stopped at a damaged page, so rows may be lost" if r.partial else ""
        print(f"{r.table}: {r.rows} row(s) recovered{lost}{more}")
    with ResultsStore(moved.store) as store:
        incomplete = store.incomplete()
    came_back = {r.table: r.rows for r in report}
    if came_back.get("results") and not came_back.get("coverage"):
        print("the coverage table was lost: which views are missing cannot be listed")
    elif incomplete:
        print(f"scenes and methods with views lost ({len(incomplete)}; a view whose rows did not all come back "
              "counts as lost):")
        for line in incomplete:
            print(f"  {line}")
    print(f"recovered into {moved.store}; the damaged file is kept as {moved.damaged}.\n"
          "Run the same score/evaluate command again: every recovered row is reused and only what was lost is "
          "scored again.")
    return 0
