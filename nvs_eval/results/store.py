"""The results store: one SQLite file, one row per (dataset, scene, method, view, metric, protocol).

Rows carry the sha256 of the render and ground-truth files, the protocol's settings digest, the package version
and the weights' digests. A row is reused when all of those are unchanged, so re-running a benchmark only computes
what is new (an added method costs only that method). Each view's rows are committed in one transaction, so a run
killed at any point leaves only whole views behind. WAL mode and a busy timeout let several processes write one
store at once.

A store says what it is in its header: ``PRAGMA application_id`` is :data:`APPLICATION_ID`, ``PRAGMA user_version``
the :data:`SCHEMA_VERSION` it was written with. A store of a newer version, or another program's SQLite file, is
refused before anything is written to it. Every fault of SQLite or the disk is a :class:`StoreError` naming the
store (:mod:`nvs_eval.results.faults`).
"""

from __future__ import annotations

import functools
import json
import os
import sqlite3
import time
from dataclasses import dataclass, fields
from pathlib import Path
from typing import NamedTuple

import pandas as pd

from ..errors import StoreError
from ..util.atomic import private_temp
from .aggregate import RUN_SEP
from .faults import os_fault, store_fault


@dataclass(frozen=True)
class Row:
    """One stored value: where it belongs (the key), the value, and the identity of its inputs."""

    dataset: str
    scene: str
    method: str
    view: str
    metric: str
    protocol: str
    value: float
    render_sha256: str
    gt_sha256: str
    render_path: str
    gt_path: str
    protocol_key: str
    version: str
    weights: str


class Fit(NamedTuple):
    """The appearance fit a render was scored after (a protocol's ``appearance_fit``), one per render and protocol."""

    dataset: str
    scene: str
    method: str
    view: str
    protocol: str
    fit: str
    params: list
    render_sha256: str
    gt_sha256: str


# The result columns, written once: a row's fields, then when it was stored (COLUMNS, as frames show them: a
# method's run is part of its name, ``name#run=<run>``). The tables keep the run in a column of its own
# (TABLE_COLUMNS). A row is identified by KEY; it is reused only while INPUTS are unchanged.
COLUMNS = (*(f.name for f in fields(Row)), "created")
TABLE_COLUMNS = (*COLUMNS[:3], "run", *COLUMNS[3:])
KEY = ("dataset", "scene", "method", "run", "view", "metric", "protocol")
INPUTS = ("render_sha256", "gt_sha256", "protocol_key", "weights")
_TYPES = {"value": "REAL", "created": "REAL"}
_DEFS = ",\n    ".join(f"{c} {_TYPES.get(c, 'TEXT')} NOT NULL" for c in TABLE_COLUMNS)
# the method name and the run of a name written ``name#run=<run>`` (the stores before the run column: one name)
_SQL_METHOD = f"CASE WHEN instr(method, '{RUN_SEP}') > 0 THEN substr(method, 1, instr(method, '{RUN_SEP}') - 1) " \
              "ELSE method END"
_SQL_RUN = f"CASE WHEN instr(method, '{RUN_SEP}') > 0 THEN substr(method, instr(method, '{RUN_SEP}') + " \
           f"{len(RUN_SEP)}) ELSE '' END"
_SQL_JOINED = f"CASE WHEN run = '' THEN method ELSE method || '{RUN_SEP}' || run END AS method"

SCHEMA = f"""
CREATE TABLE IF NOT EXISTS results (
    {_DEFS},
    PRIMARY KEY ({', '.join(KEY)})
);
CREATE TABLE IF NOT EXISTS results_history (
    {_DEFS},
    superseded REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS protocols (
    key TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    settings TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS checks (
    dataset TEXT NOT NULL, scene TEXT NOT NULL, comparable INTEGER NOT NULL, result TEXT NOT NULL,
    checked_at REAL NOT NULL, PRIMARY KEY (dataset, scene));
CREATE TABLE IF NOT EXISTS coverage (
    dataset TEXT NOT NULL, scene TEXT NOT NULL, method TEXT NOT NULL, protocol TEXT NOT NULL,
    scored INTEGER NOT NULL, total INTEGER NOT NULL,
    PRIMARY KEY (dataset, scene, method, protocol)
);
CREATE TABLE IF NOT EXISTS gt_files (
    gt_sha256 TEXT PRIMARY KEY,
    width INTEGER NOT NULL,
    height INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS fits (
    dataset TEXT NOT NULL, scene TEXT NOT NULL, method TEXT NOT NULL, view TEXT NOT NULL, protocol TEXT NOT NULL,
    fit TEXT NOT NULL, params TEXT NOT NULL, render_sha256 TEXT NOT NULL, gt_sha256 TEXT NOT NULL,
    PRIMARY KEY (dataset, scene, method, view, protocol)
);
CREATE TABLE IF NOT EXISTS efficiency (
    dataset TEXT NOT NULL, scene TEXT NOT NULL, method TEXT NOT NULL, run TEXT NOT NULL, figure TEXT NOT NULL,
    value REAL NOT NULL, source TEXT NOT NULL, source_sha256 TEXT NOT NULL, detail TEXT NOT NULL,
    created REAL NOT NULL,
    PRIMARY KEY (dataset, scene, method, run, figure)
);
CREATE TABLE IF NOT EXISTS efficiency_history (
    dataset TEXT NOT NULL, scene TEXT NOT NULL, method TEXT NOT NULL, run TEXT NOT NULL, figure TEXT NOT NULL,
    value REAL NOT NULL, source TEXT NOT NULL, source_sha256 TEXT NOT NULL, detail TEXT NOT NULL,
    created REAL NOT NULL, superseded REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS auxiliary (
    dataset TEXT NOT NULL, scene TEXT NOT NULL, method TEXT NOT NULL,
    count INTEGER NOT NULL, suffixes TEXT NOT NULL,
    PRIMARY KEY (dataset, scene, method)
);
"""


# "nvse": what this file is, for `file(1)` and for telling a store from another program's SQLite file
APPLICATION_ID = 0x6E767365
# 1: the run column (stores of before it carry 0 and are upgraded in place); bumped with each change of layout
SCHEMA_VERSION = 1
_HEADER = f"PRAGMA application_id = {APPLICATION_ID}; PRAGMA user_version = {SCHEMA_VERSION};"


def _retry_locked(fn, seconds: float = 600.0):
    """``fn()``, retried every 50 ms while SQLite says the database is locked or busy (up to ``seconds``)."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            return fn()
        except sqlite3.OperationalError as e:
            if not ("locked" in str(e) or "busy" in str(e)) or time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def _create_atomically(path: Path) -> None:
    """Build a new store (schema, WAL mode) under a temporary name, then link it into place.

    A process killed at any point leaves either no ``path`` or a complete store, never a file without its tables
    (SQLite creates the file on ``connect``, before any table exists). ``os.link`` fails if another process got
    there first, and then its store is used.
    """
    tmp = str(private_temp(path.parent, path.name, ".new"))
    try:
        conn = sqlite3.connect(tmp, isolation_level=None)
        try:
            conn.execute("PRAGMA journal_mode = WAL")
            conn.executescript(f"BEGIN; {SCHEMA} {_HEADER} COMMIT;")
        finally:
            conn.close()
        try:
            os.link(tmp, path)
        except FileExistsError:
            pass
    finally:
        for leftover in (tmp, tmp + "-wal", tmp + "-shm"):
            if os.path.exists(leftover):
                os.unlink(leftover)


def _add_run_column(c: sqlite3.Connection) -> None:
    """Upgrade a store written before the ``run`` column, in place and in the caller's transaction: each row's
    ``name#run=<run>`` method becomes the method ``name`` and the run ``<run>``; every value, hash, time and
    history row is kept (a re-run then reuses them all). A no-op on a current store."""
    tables = (("results", f"PRIMARY KEY ({', '.join(KEY)})", []),
              ("results_history", "superseded REAL NOT NULL", ["superseded"]))
    for table, extra, more in tables:
        if "run" in {r[1] for r in c.execute(f"PRAGMA table_info({table})")}:
            continue
        new = [*TABLE_COLUMNS, *more]
        picked = [_SQL_METHOD if col == "method" else _SQL_RUN if col == "run" else col for col in new]
        c.execute(f"ALTER TABLE {table} RENAME TO {table}_before_runs")
        c.execute(f"CREATE TABLE {table} ({_DEFS}, {extra})")
        c.execute(f"INSERT INTO {table} ({', '.join(new)}) SELECT {', '.join(picked)} FROM {table}_before_runs")
        c.execute(f"DROP TABLE {table}_before_runs")


def _row_values(r: Row, now: float) -> tuple:
    method, _, run = r.method.partition(RUN_SEP)
    return tuple(method if c == "method" else run if c == "run" else now if c == "created" else getattr(r, c)
                 for c in TABLE_COLUMNS)


def _faults(doing: str):
    """A method whose SQLite and disk faults become a :class:`StoreError` naming the store (``doing``: "reading" or
    "writing", as the message says it)."""
    def deco(fn):
        @functools.wraps(fn)
        def guarded(self, *args, **kwargs):
            try:
                return fn(self, *args, **kwargs)
            except StoreError:
                raise
            except (sqlite3.Error, pd.errors.DatabaseError, OSError) as e:
                fault = store_fault(e, self.path, doing, self.timeout)
                if fault is e:
                    raise
                raise fault from e
        return guarded
    return deco


_TABLES = {stmt.split("EXISTS")[1].split("(")[0].strip() for stmt in SCHEMA.split(";") if stmt.strip()}


class ResultsStore:
    """A SQLite results store at ``path`` (created on first use).

    Raises:
        StoreError: the file is not a store of this version (damaged, not a database, another program's database,
            a newer schema), or SQLite or the disk failed (full, read-only, locked too long); any method raises it
            the same way. Nothing is written to a file that is refused.
    """

    def __init__(self, path: Path | str, timeout: float = 120.0, *, read_only: bool = False):
        self.path, self.timeout, self.conn = Path(path), timeout, None
        try:
            self._open(read_only)
        except BaseException:
            if self.conn is not None:
                self.conn.close()
            raise

    @_faults("writing")
    def _open(self, read_only: bool) -> None:
        if read_only:  # a distributed rank reading the merged store: no schema, no pragma, no write of any kind
            self.conn = sqlite3.connect(f"{self.path.resolve().as_uri()}?mode=ro", uri=True, timeout=self.timeout,
                                        isolation_level=None)
            self._needs_upgrade()  # (a store from before the run column stays as it is until a writer opens it)
            return
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            if not self.path.exists():
                _create_atomically(self.path)
        except OSError as e:
            raise os_fault(e, self.path) from e
        self.conn = sqlite3.connect(self.path, timeout=self.timeout, isolation_level=None)
        self.conn.execute(f"PRAGMA busy_timeout = {int(self.timeout * 1000)}")
        upgrade = self._needs_upgrade()  # reads only: a refused file is never written to
        # Switching a new file to WAL takes an exclusive lock, and SQLite can answer "locked" at once, without
        # its busy handler, while another process is creating or recovering the same file: retried like writes.
        _retry_locked(lambda: self.conn.execute("PRAGMA journal_mode = WAL"))
        self.conn.execute("PRAGMA synchronous = NORMAL")
        if upgrade:  # a store made by an older version, or by hand, gets any table it lacks, and its header
            self._write(lambda c: ([c.execute(stmt) for stmt in SCHEMA.split(";") if stmt.strip()],
                                   _add_run_column(c), [c.execute(p) for p in _HEADER.split(";") if p.strip()]))

    def _needs_upgrade(self) -> bool:
        """Whether this store is older than :data:`SCHEMA_VERSION` (or lacks a table); refuses another program's
        database and a store of a newer nvs-eval."""
        app = self.conn.execute("PRAGMA application_id").fetchone()[0]
        version = self.conn.execute("PRAGMA user_version").fetchone()[0]
        tables = {r[0] for r in self.conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        if app not in (0, APPLICATION_ID) or (app == 0 and tables and "results" not in tables):
            listed = ", ".join(sorted(tables)[:6]) + (", ..." if len(tables) > 6 else "")
            raise StoreError(f"an SQLite database of another program (application_id {app:#x}, tables: {listed}); "
                             "it was left as it is", path=self.path, expected="an nvs-eval results store",
                             hint="point at the results.sqlite that nvs-eval wrote, or move this file aside")
        if version > SCHEMA_VERSION:
            from ..util.version import __version__

            raise StoreError(f"written by a newer nvs-eval: its schema version is {version}, and this nvs-eval "
                             f"({__version__}) knows versions up to {SCHEMA_VERSION}; it was left as it is, never "
                             "converted down", path=self.path,
                             hint="upgrade nvs-eval to read or extend it (or use another results folder)")
        if app != APPLICATION_ID or version < SCHEMA_VERSION or not _TABLES <= tables:
            return True
        return any("run" not in {r[1] for r in self.conn.execute(f"PRAGMA table_info({t})")}
                   for t in ("results", "results_history"))  # a store changed by hand or by an older version

    def _write(self, fn):
        """Run ``fn(conn)`` in an immediate transaction (retried while another writer holds the lock). If it fails,
        its error is the one raised: SQLite may have rolled the transaction back already (it does on a full disk),
        and a failed ``ROLLBACK`` never hides the cause."""
        _retry_locked(lambda: self.conn.execute("BEGIN IMMEDIATE"), self.timeout * 5)
        try:
            out = fn(self.conn)
            self.conn.execute("COMMIT")
            return out
        except BaseException:
            if self.conn.in_transaction:
                try:
                    self.conn.execute("ROLLBACK")
                except sqlite3.Error:  # the first error is the one to report; closing rolls back in any case
                    pass
            raise

    @property
    @_faults("reading")
    def method_sql(self) -> str:
        """The SQL for the method as frames name it (``name#run=<run>``), for queries of the results table; also
        right on a store from before the run column that is open read-only (not upgraded)."""
        cols = {r[1] for r in self.conn.execute("PRAGMA table_info(results)")}
        return _SQL_JOINED if "run" in cols else "method"

    @_faults("writing")
    def close(self) -> None:  # the WAL checkpoint, where there is one to do
        self.conn.close()

    def __enter__(self) -> ResultsStore:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    @_faults("writing")
    def register_protocol(self, key: str, name: str, settings: dict) -> None:
        self._write(lambda c: c.execute("INSERT OR IGNORE INTO protocols VALUES (?, ?, ?)",
                                        (key, name, json.dumps(settings, sort_keys=True))))

    @_faults("reading")
    def existing(self, dataset: str, scene: str, protocol: str) -> dict[tuple[str, str, str], tuple]:
        """``(method, view, metric) -> (render_sha256, gt_sha256, protocol_key, weights, value)`` already stored."""
        cur = self.conn.execute(
            f"SELECT {_SQL_JOINED}, view, metric, render_sha256, gt_sha256, protocol_key, weights, value FROM results "
            "WHERE dataset = ? AND scene = ? AND protocol = ?", (dataset, scene, protocol))
        return {(r[0], r[1], r[2]): tuple(r[3:]) for r in cur}

    @_faults("writing")
    def put(self, rows: list[Row], fits: list[Fit] = ()) -> None:
        """Insert rows atomically (one transaction). A row that replaces a stored one computed from other inputs
        moves the stored one to ``results_history`` (with the time it was superseded) in the same transaction, so
        no value is ever lost. ``fits``: the appearance fits of these rows' renders, written in the same
        transaction (a view's values are never stored without the fit they were scored after)."""
        now = time.time()
        data = [_row_values(r, now) for r in rows]
        keys = [(now, *(v for v, c in zip(d, TABLE_COLUMNS) if c in KEY), *(getattr(r, k) for k in INPUTS))
                for r, d in zip(rows, data)]
        cols = ", ".join(TABLE_COLUMNS)
        same = " AND ".join(f"{k} = ?" for k in KEY)
        changed = " OR ".join(f"{k} != ?" for k in INPUTS)

        def write(c):
            c.executemany(f"INSERT INTO results_history ({cols}, superseded) SELECT {cols}, ? FROM results "
                          f"WHERE {same} AND ({changed})", keys)
            c.executemany(f"INSERT OR REPLACE INTO results ({cols}) VALUES ({', '.join('?' * len(TABLE_COLUMNS))})",
                          data)
            c.executemany("INSERT OR REPLACE INTO fits VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                          [(*f[:6], json.dumps(f.params), *f[7:]) for f in fits])

        self._write(write)

    @_faults("reading")
    def fits(self) -> pd.DataFrame:
        """The appearance fit of every render scored under a protocol with ``appearance_fit``: ``dataset, scene,
        method, view, protocol, fit, params`` (the fitted parameters, nested lists: :func:`nvs_eval.metrics.
        appearance.fit`), and the sha256 of the render and ground truth they were fitted on."""
        try:
            df = pd.read_sql_query("SELECT * FROM fits ORDER BY dataset, scene, method, view, protocol", self.conn)
        except (sqlite3.OperationalError, pd.errors.DatabaseError):  # a read-only store of an earlier version
            return pd.DataFrame(columns=Fit._fields)
        df["params"] = [json.loads(v) for v in df["params"]]
        return df

    @_faults("writing")
    def merge_from(self, shard: Path | str) -> int:
        """Merge another store (a distributed rank's shard) into this one in one transaction, with :meth:`put`'s
        rule: a row replacing a stored one computed from other inputs moves the stored one to ``results_history``.
        Rows keep their ``created`` time. Returns the number of result rows merged."""
        cols = ", ".join(TABLE_COLUMNS)
        same = " AND ".join(f"r.{k} = x.{k}" for k in KEY)
        changed = " OR ".join(f"r.{k} != x.{k}" for k in INPUTS)
        ResultsStore(shard).close()  # a shard a killed run of an older version left is upgraded first
        self.conn.execute("ATTACH DATABASE ? AS shard", (str(shard),))
        try:
            def write(c):
                n = c.execute("SELECT COUNT(*) FROM shard.results").fetchone()[0]
                c.execute(f"INSERT INTO results_history ({cols}, superseded) SELECT "
                          f"{', '.join('r.' + k for k in TABLE_COLUMNS)}, ? FROM results r "
                          f"JOIN shard.results x ON {same} "
                          f"WHERE {changed}", (time.time(),))
                c.execute(f"INSERT OR REPLACE INTO results ({cols}) SELECT {cols} FROM shard.results")
                c.execute(f"INSERT INTO results_history ({cols}, superseded) SELECT {cols}, superseded "
                          "FROM shard.results_history")
                c.execute("INSERT OR IGNORE INTO protocols SELECT key, name, settings FROM shard.protocols")
                c.execute("INSERT OR REPLACE INTO coverage SELECT dataset, scene, method, protocol, scored, total "
                          "FROM shard.coverage")
                c.execute("INSERT OR IGNORE INTO gt_files SELECT gt_sha256, width, height FROM shard.gt_files")
                c.execute("INSERT OR REPLACE INTO auxiliary SELECT dataset, scene, method, count, suffixes "
                          "FROM shard.auxiliary")
                c.execute("INSERT OR REPLACE INTO fits SELECT * FROM shard.fits")
                return n

            n = self._write(write)
        except BaseException:
            try:
                self.conn.execute("DETACH DATABASE shard")
            except sqlite3.Error:  # the first error is the one to report
                pass
            raise
        self.conn.execute("DETACH DATABASE shard")
        return n

    @_faults("reading")
    def history(self) -> pd.DataFrame:
        """Every superseded row, with the time it was replaced."""
        cols = ", ".join(_SQL_JOINED if c == "method" else c for c in COLUMNS)
        return pd.read_sql_query(f"SELECT {cols}, superseded FROM results_history "
                                 "ORDER BY dataset, scene, method, view, metric, superseded", self.conn)

    @_faults("writing")
    def set_coverage(self, dataset: str, scene: str, method: str, protocol: str, scored: int, total: int) -> None:
        self._write(lambda c: c.execute("INSERT OR REPLACE INTO coverage VALUES (?, ?, ?, ?, ?, ?)",
                                        (dataset, scene, method, protocol, scored, total)))

    @_faults("writing")
    def put_gt_size(self, gt_sha256: str, width: int, height: int) -> None:
        """Record a ground-truth file's size in pixels (as decoded from the file, before any ``resize_gt``)."""
        self._write(lambda c: c.execute("INSERT OR IGNORE INTO gt_files VALUES (?, ?, ?)", (gt_sha256, width, height)))

    @_faults("reading")
    def gt_sizes(self) -> pd.DataFrame:
        """``gt_sha256, width, height`` of every ground-truth file scored."""
        return pd.read_sql_query("SELECT * FROM gt_files ORDER BY gt_sha256", self.conn)

    @_faults("writing")
    def put_check(self, dataset: str, scene: str, result: dict) -> None:
        """Store a scene's ``nvs-eval check`` (:meth:`nvs_eval.data.provenance.CheckResult.to_json`); the latest
        check of a scene replaces the one before."""
        self._write(lambda c: c.execute("INSERT OR REPLACE INTO checks VALUES (?, ?, ?, ?, ?)",
                                        (dataset, scene, int(bool(result["comparable"])), json.dumps(result),
                                         time.time())))

    @_faults("reading")
    def checks(self) -> dict[tuple[str, str], dict]:
        """``{(dataset, scene): check}`` of every checked scene (none in a store written before checks existed)."""
        try:
            rows = self.conn.execute("SELECT dataset, scene, result FROM checks").fetchall()
        except sqlite3.OperationalError:  # a read-only store of an earlier version: no checks table
            return {}
        return {(d, sc): json.loads(r) for d, sc, r in rows}

    @_faults("writing")
    def set_auxiliary(self, dataset: str, scene: str, method: str, files: dict[str, str]) -> None:
        """Record the auxiliary files (depth, normals, ...) left out of a method's scoring: ``{file: suffix}``."""
        suffixes = sorted(set(files.values()))
        self._write(lambda c: c.execute("INSERT OR REPLACE INTO auxiliary VALUES (?, ?, ?, ?, ?)",
                                        (dataset, scene, method, len(files), ",".join(suffixes))))

    @_faults("writing")
    def put_efficiency(self, dataset: str, scene: str, method: str, figures: list) -> int:
        """Store a method's efficiency figures on a scene (:class:`nvs_eval.data.efficiency.Figure`; ``method``
        may be ``name#run=<run>``), in one transaction. A figure read again from an unchanged file (same sha256
        and value) keeps its row; one read from another file, or with another value, replaces it and the stored
        row moves to ``efficiency_history`` (as :meth:`put` does for metric rows). Returns the rows written."""
        name, _, run = method.partition(RUN_SEP)
        now = time.time()
        cols = ("dataset, scene, method, run, figure, value, source, source_sha256, detail, created")
        key = "dataset = ? AND scene = ? AND method = ? AND run = ? AND figure = ?"

        def write(c):
            n = 0
            for f in figures:
                k = (dataset, scene, name, run, f.figure)
                old = c.execute(f"SELECT source_sha256, value FROM efficiency WHERE {key}", k).fetchone()
                if old == (f.sha256, f.value):
                    continue
                if old is not None:
                    c.execute(f"INSERT INTO efficiency_history ({cols}, superseded) SELECT {cols}, ? FROM efficiency "
                              f"WHERE {key}", (now, *k))
                c.execute(f"INSERT OR REPLACE INTO efficiency ({cols}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                          (*k, f.value, f.source, f.sha256, f.detail, now))
                n += 1
            return n

        return self._write(write)

    @_faults("reading")
    def efficiency(self) -> pd.DataFrame:
        """Every stored efficiency figure: ``dataset, scene, method, run, figure, value, source, source_sha256,
        detail, created`` (none in a read-only store written before figures existed)."""
        try:
            return pd.read_sql_query("SELECT * FROM efficiency ORDER BY dataset, scene, method, run, figure",
                                     self.conn)
        except (sqlite3.OperationalError, pd.errors.DatabaseError):
            return pd.DataFrame(columns=["dataset", "scene", "method", "run", "figure", "value", "source",
                                         "source_sha256", "detail", "created"])

    @_faults("reading")
    def efficiency_history(self) -> pd.DataFrame:
        """Every superseded efficiency figure, with the time it was replaced."""
        return pd.read_sql_query("SELECT * FROM efficiency_history ORDER BY dataset, scene, method, run, figure, "
                                 "superseded", self.conn)

    @_faults("reading")
    def auxiliary(self) -> pd.DataFrame:
        """``dataset, scene, method, count, suffixes`` of the auxiliary files left out of scoring."""
        return pd.read_sql_query("SELECT * FROM auxiliary ORDER BY dataset, scene, method", self.conn)

    @_faults("reading")
    def frame(self, protocol: str | None = None) -> pd.DataFrame:
        """Every stored value as a tidy DataFrame (one row per view and metric)."""
        q = f"SELECT {', '.join(_SQL_JOINED if c == 'method' else c for c in COLUMNS)} FROM results"
        args: tuple = ()
        if protocol is not None:
            q += " WHERE protocol = ?"
            args = (protocol,)
        return pd.read_sql_query(q + " ORDER BY dataset, scene, method, view, metric", self.conn, params=args)

    @_faults("reading")
    def wide(self, protocol: str | None = None) -> pd.DataFrame:
        """One row per dataset/scene/method/view, one column per metric."""
        df = self.frame(protocol)
        if df.empty:
            return pd.DataFrame(columns=["dataset", "scene", "method", "view", "protocol"])
        wide = df.pivot_table(index=["protocol", "dataset", "scene", "method", "view"], columns="metric",
                              values="value", aggfunc="first").reset_index()
        wide.columns.name = None
        return wide

    @_faults("reading")
    def protocols(self) -> dict[str, dict]:
        return {k: json.loads(s) for k, _, s in self.conn.execute("SELECT key, name, settings FROM protocols")}

    @_faults("reading")
    def coverage(self) -> pd.DataFrame:
        return pd.read_sql_query("SELECT * FROM coverage ORDER BY dataset, scene, method", self.conn)

    def incomplete(self, protocol: str | None = None) -> list[str]:
        """``"dataset/scene method (protocol): m of n views missing"`` for every method that has fewer views scored
        than its scene has (a run interrupted, a folder missing renders, rows lost to a damaged store)."""
        cov = self.coverage()
        cov = cov[(cov["scored"] < cov["total"]) & ((cov["protocol"] == protocol) if protocol else True)]
        return [f"{r.dataset}/{r.scene} {r.method} ({r.protocol}): {r.total - r.scored} of {r.total} views missing"
                for r in cov.itertuples()]

    @_faults("reading")
    def integrity_ok(self) -> bool:
        return self.conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
