"""Recover the rows of a damaged results store into a new one (``nvs-eval recover``).

A store cut short by a copy, or with pages overwritten, makes SQLite stop a query at the first damaged page. The
``sqlite3`` shell's ``.recover`` reads past them, but not every build has it: Debian's sqlite3 3.40.1 (the one
Python links here) answers ``SQL logic error`` even on a healthy file. This module needs nothing beyond Python's
``sqlite3``. For each table it collects the rowids that any of its b-trees still lists (the table itself, scanned
until the damage, and each index, which holds every row's rowid), then reads each row alone, so one damaged page
costs the rows on it, not the rest of the table. The new store is written under a temporary name and linked into
place only when whole; the damaged file is kept beside it, never changed.

Every recovered row keeps its value, input hashes and time, so a re-run reuses it and scores only what was lost
(tests/results/test_store_faults.py::test_nvs_eval_recover_keeps_every_readable_row_and_the_rerun_scores_the_rest).
"""

from __future__ import annotations

import os
import sqlite3
from dataclasses import dataclass
from pathlib import Path

from ..errors import StoreError
from ..util.atomic import private_temp


@dataclass(frozen=True)
class Recovered:
    """What :func:`recover` read back from one table: ``rows`` copied, ``unreadable`` rowids listed by an index
    whose row could not be read, and whether a scan stopped at a damaged page (``partial``: more rows may be lost
    than ``unreadable`` says)."""

    table: str
    rows: int
    unreadable: int
    partial: bool


def recover(damaged: Path | str, out: Path | str) -> list[Recovered]:
    """Copy every row SQLite can still read from the store at ``damaged`` into a new store at ``out``.

    Raises:
        StoreError: ``out`` exists, or nothing of ``damaged`` can be read (its first page, which lists the tables,
            is gone).
    """
    damaged, out = Path(damaged), Path(out)
    if out.exists():
        raise StoreError("exists; recovering never overwrites a store", path=out,
                         hint="move it aside or choose another name")
    wal = Path(f"{damaged}-wal")
    # immutable: no -shm is made beside the damaged file; but a write-ahead log with content holds committed rows,
    # which only a plain read-only open applies
    mode = "ro" if wal.is_file() and wal.stat().st_size else "ro&immutable=1"
    src = sqlite3.connect(f"{damaged.resolve().as_uri()}?mode={mode}", uri=True, isolation_level=None)
    # SQLite refuses a file shorter than its header says (a copy cut short) unless the schema is writable: the
    # connection only reads, this is the switch the sqlite3 shell's .recover sets for the same reason
    src.execute("PRAGMA writable_schema = ON")
    try:
        try:
            schema = src.execute("SELECT type, name, tbl_name, sql FROM sqlite_master WHERE sql IS NOT NULL "
                                 "ORDER BY type = 'index'").fetchall()
            header = [src.execute(f"PRAGMA {p}").fetchone()[0] for p in ("application_id", "user_version")]
        except sqlite3.DatabaseError as e:
            raise StoreError(f"nothing can be recovered: the page that lists its tables is unreadable ({e})",
                             path=damaged, hint="score again into a new results folder") from e
        tmp = private_temp(out.parent, out.name, ".recovering")
        try:
            report = _copy(src, tmp, schema, header)
            os.link(tmp, out)
        finally:
            tmp.unlink(missing_ok=True)
    finally:
        src.close()
    return report


def _copy(src: sqlite3.Connection, tmp: Path, schema: list, header: list) -> list[Recovered]:
    """The tables and indexes of ``schema`` created in ``tmp``, each table's readable rows copied into it."""
    dst = sqlite3.connect(tmp, isolation_level=None)
    try:
        dst.execute("BEGIN")
        for _, _, _, sql in schema:
            dst.execute(sql)
        report = [_copy_table(src, dst, name) for kind, name, _, _ in schema if kind == "table"]
        _recount_coverage(dst)
        dst.execute(f"PRAGMA application_id = {int(header[0])}")
        dst.execute(f"PRAGMA user_version = {int(header[1])}")
        dst.execute("COMMIT")
    finally:
        dst.close()
    return report


def _recount_coverage(dst: sqlite3.Connection) -> None:
    """Each method's count of scored views lowered to the views whose rows all came back (every metric the method
    has on that scene), so a report of the recovered store says "k of n views" where rows were lost, and
    ``recover`` can name them (a re-run scores them again)."""
    tables = {r[0] for r in dst.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    if not {"coverage", "results"} <= tables or "run" not in {r[1] for r in dst.execute("PRAGMA table_info(results)")}:
        return
    from .aggregate import RUN_SEP

    def rows(r: str) -> str:
        joined = f"CASE WHEN {r}.run = '' THEN {r}.method ELSE {r}.method || '{RUN_SEP}' || {r}.run END"
        return (f"FROM results {r} WHERE {r}.dataset = coverage.dataset AND {r}.scene = coverage.scene AND "
                f"{r}.protocol = coverage.protocol AND {joined} = coverage.method")

    dst.execute(f"UPDATE coverage SET scored = min(scored, (SELECT count(*) FROM (SELECT r.view {rows('r')} GROUP BY "
                f"r.view HAVING count(DISTINCT r.metric) = (SELECT count(DISTINCT a.metric) {rows('a')}))))")


def _copy_table(src: sqlite3.Connection, dst: sqlite3.Connection, table: str) -> Recovered:
    rowids, partial = set(), False
    try:  # the primary keys' automatic indexes too (they have no SQL in sqlite_master)
        indexes = [r[1] for r in src.execute(f'PRAGMA index_list("{table}")')]
    except sqlite3.DatabaseError:
        indexes = []
    scans = [f'SELECT rowid FROM "{table}"', *(f'SELECT rowid FROM "{table}" INDEXED BY "{i}"' for i in indexes)]
    for scan in scans:
        try:
            for (rowid,) in src.execute(scan):
                rowids.add(rowid)
        except sqlite3.DatabaseError:
            partial = True  # the scan stopped at a damaged page: the other b-trees may list what it missed
    columns = [r[1] for r in src.execute(f'PRAGMA table_info("{table}")')]  # from the schema, read at the start
    names = ", ".join(f'"{c}"' for c in columns)
    insert = f'INSERT OR IGNORE INTO "{table}" ({names}) VALUES ({", ".join("?" * len(columns))})'
    rows = unreadable = 0
    for rowid in sorted(rowids):
        try:
            row = src.execute(f'SELECT {names} FROM "{table}" WHERE rowid = ?', (rowid,)).fetchone()
        except sqlite3.DatabaseError:
            unreadable += 1
            continue
        if row is not None:
            rows += dst.execute(insert, row).rowcount
    return Recovered(table, rows, unreadable, partial)


@dataclass(frozen=True)
class Moved:
    store: Path  # the recovered store, where the damaged one was
    damaged: Path  # the damaged file, kept


def recover_in_place(path: Path | str) -> tuple[Moved, list[Recovered]]:
    """Recover the store at ``path`` (a results folder or its store file): the recovered store takes its name,
    the damaged file (and its write-ahead log, if any) is kept as ``<name>.damaged``.

    Raises:
        StoreError: no store at ``path``, or a ``<name>.damaged`` already there (a recovery of before: never
            overwritten).
    """
    from ..conventions.registry import STORE_NAME

    store = Path(path)
    store = store / STORE_NAME if store.is_dir() else store
    damaged = store.with_name(store.name + ".damaged")
    if not store.is_file():
        raise StoreError("no results store here", path=store, hint="name the results folder that scoring wrote")
    if damaged.exists():
        raise StoreError(f"{damaged.name} is already beside it (a recovery of before); it is never overwritten",
                         path=store, hint=f"move {damaged.name} elsewhere and run the same command")
    new = store.with_name(store.name + ".recovered")
    report = recover(store, new)
    for suffix in ("", "-wal", "-shm"):  # the log goes with the file it belongs to
        if Path(f"{store}{suffix}").exists():
            os.rename(f"{store}{suffix}", f"{damaged}{suffix}")
    os.rename(new, store)
    return Moved(store, damaged), report
