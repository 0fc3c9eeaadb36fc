"""The results store: runs in a column of their own, and stores written before that column upgraded in place with
nothing lost or recomputed."""

# The results tables as nvs-eval 0.1.0 wrote them up to 2026-12-03: a method's run was part of its name.
from __future__ import annotations

import sqlite3
import subprocess
import sys

import numpy as np
import pytest

from nvs_eval.results.store import ResultsStore, Row

from helpers import cli, folder

BEFORE_RUNS = """
CREATE TABLE results_v1 (
    dataset TEXT NOT NULL, scene TEXT NOT NULL, method TEXT NOT NULL, view TEXT NOT NULL, metric TEXT NOT NULL,
    protocol TEXT NOT NULL, value REAL NOT NULL, render_sha256 TEXT NOT NULL, gt_sha256 TEXT NOT NULL,
    render_path TEXT NOT NULL, gt_path TEXT NOT NULL, protocol_key TEXT NOT NULL, version TEXT NOT NULL,
    weights TEXT NOT NULL, created REAL NOT NULL,
    PRIMARY KEY (dataset, scene, method, view, metric, protocol)
);
CREATE TABLE results_history_v1 (
    dataset TEXT NOT NULL, scene TEXT NOT NULL, method TEXT NOT NULL, view TEXT NOT NULL, metric TEXT NOT NULL,
    protocol TEXT NOT NULL, value REAL NOT NULL, render_sha256 TEXT NOT NULL, gt_sha256 TEXT NOT NULL,
    render_path TEXT NOT NULL, gt_path TEXT NOT NULL, protocol_key TEXT NOT NULL, version TEXT NOT NULL,
    weights TEXT NOT NULL, created REAL NOT NULL, superseded REAL NOT NULL
);
"""
V1 = ("dataset, scene, method, view, metric, protocol, value, render_sha256, gt_sha256, render_path, gt_path, "
      "protocol_key, version, weights, created")
JOINED = "CASE WHEN run = '' THEN method ELSE method || '#run=' || run END"


def _downgrade(path) -> None:
    """Rewrite a store in the layout before the run column (as the previous version would have written it)."""
    con = sqlite3.connect(path)
    with con:
        con.executescript(BEFORE_RUNS)
        cols = V1.replace("method,", f"{JOINED},", 1)
        con.execute(f"INSERT INTO results_v1 SELECT {cols} FROM results")
        con.execute(f"INSERT INTO results_history_v1 SELECT {cols}, superseded FROM results_history")
        con.executescript("DROP TABLE results; DROP TABLE results_history; "
                          "ALTER TABLE results_v1 RENAME TO results; "
                          "ALTER TABLE results_history_v1 RENAME TO results_history;")
    con.close()


def _runs_benchmark(tmp_path):
    folder(tmp_path / "gt" / "a", ["0.png", "1.png", "2.png"])
    for k in range(3):
        folder(tmp_path / "r" / f"s{k}" / "a", ["0.png", "1.png", "2.png"], seed=10 * k + 5)
    folder(tmp_path / "solo" / "a", ["0.png", "1.png", "2.png"], seed=99)
    cfg = tmp_path / "c.yaml"
    cfg.write_text("name: t\nmetrics: [psnr, ssim]\ndatasets:\n  - name: d\n    kind: pairs\n    gt: 'gt/{scene}'\n"
                   "    scenes: [a]\n    methods:\n      - {name: m, path: 'r/{run}/{scene}', runs: [s0, s1, s2]}\n"
                   "      - {name: solo, path: 'solo/{scene}'}\n")
    return cfg


def test_runs_are_a_column_and_the_summary_prints_mean_and_std_over_them(tmp_path):
    cfg = _runs_benchmark(tmp_path)
    out = tmp_path / "out"
    r = cli("evaluate", str(cfg), "--out", str(out), "--no-report", "--device", "cpu")
    assert r.returncode == 0, r.stderr
    con = sqlite3.connect(out / "results.sqlite")
    runs = sorted(set(con.execute("SELECT method, run FROM results")))
    assert runs == [("m", "s0"), ("m", "s1"), ("m", "s2"), ("solo", "")]
    per_run = [float(np.mean([v for (v,) in con.execute(
        "SELECT value FROM results WHERE method = 'm' AND run = ? AND metric = 'psnr'", (f"s{k}",))]))
        for k in range(3)]
    con.close()
    line = next(ln for ln in r.stdout.splitlines() if ln.split()[:2] == ["d", "m"])
    assert f"{np.mean(per_run):.4f} ± {np.std(per_run, ddof=1):.4f}" in line and line.split()[-1] == "3"
    assert "#run=" not in r.stdout


def test_a_store_written_before_the_run_column_is_upgraded_in_place_with_nothing_lost_or_recomputed(tmp_path):
    cfg = _runs_benchmark(tmp_path)
    out = tmp_path / "out"
    assert cli("evaluate", str(cfg), "--out", str(out), "--no-report", "--device", "cpu").returncode == 0
    with ResultsStore(out / "results.sqlite") as store:  # one superseded row, so history is migrated too
        old = store.frame().iloc[0]
        store.put([Row(**{**{k: old[k] for k in Row.__dataclass_fields__}, "value": 1.0, "render_sha256": "x" * 64})])
        before, history = store.frame(), store.history()
    _downgrade(out / "results.sqlite")
    con = sqlite3.connect(out / "results.sqlite")
    assert "run" not in {c[1] for c in con.execute("PRAGMA table_info(results)")}
    con.close()
    with ResultsStore(out / "results.sqlite") as store:
        assert store.frame().equals(before) and store.history().equals(history)
        assert store.conn.execute("SELECT COUNT(*) FROM results WHERE run = 's1'").fetchone()[0] == 6
    r = cli("evaluate", str(cfg), "--out", str(out), "--no-report", "--device", "cpu", "--force")
    assert r.returncode == 0, r.stderr
    assert "1 render(s) computed, 11 reused" in r.stderr  # only the row changed above; nothing else recomputed


_DIE_AFTER_CONNECT = """
import os, sqlite3, sys
real = sqlite3.connect
def connect(*a, **k):
    conn = real(*a, **k)
    os._exit(9)  # killed right after SQLite created the file, before any table exists
sqlite3.connect = connect
from nvs_eval.results.store import ResultsStore
ResultsStore(sys.argv[1])
"""


def test_a_store_killed_while_being_created_never_exists_without_its_tables(tmp_path):
    db = tmp_path / "out" / "results.sqlite"
    p = subprocess.run([sys.executable, "-c", _DIE_AFTER_CONNECT, str(db)], capture_output=True, text=True)
    assert p.returncode == 9
    if db.exists():  # if anything is at the final path, it is a whole store
        con = sqlite3.connect(db)
        try:
            tables = {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        finally:
            con.close()
        assert {"results", "protocols", "coverage"} <= tables
    from nvs_eval.api import read_results
    from nvs_eval.results.store import ResultsStore

    ResultsStore(db).close()  # the next run creates it and reads it back
    assert read_results(db).empty


def test_a_schema_less_store_left_by_an_older_version_is_repaired_on_open(tmp_path):
    from nvs_eval.api import read_results

    db = tmp_path / "results.sqlite"
    sqlite3.connect(db).close()  # what a kill between connect and CREATE TABLE left behind
    assert read_results(db).empty


def test_a_store_being_created_by_another_process_does_not_make_the_folder_foreign(tmp_path):
    from nvs_eval.results.export import check_output_folder

    (tmp_path / ".results.sqlite.k2j3.new").write_bytes(b"")  # another process is building the store
    check_output_folder(tmp_path, "results.sqlite", force=False)
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(Exception, match="not an nvs-eval output folder"):
        check_output_folder(tmp_path, "results.sqlite", force=False)
