"""The results store under faults (results/faults.py): a full disk, a read-only folder, a lock held too long, a
damaged file, another program's database, a newer schema. Each is one line naming the file, exit 2, never an
"internal error"; nothing stored before is lost, and the rerun once the fault is gone reuses every stored row."""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from nvs_eval.errors import StoreError
from nvs_eval.results.store import APPLICATION_ID, SCHEMA_VERSION, Fit, ResultsStore, Row

from helpers import ROOT, bench, cli, folder

PATCHED_CLI = [sys.executable, str(ROOT / "tests" / "patched_cli.py")]
BIG = "x" * 20000  # a value that needs overflow pages: it cannot fit in a page the store already has


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _one_error_line(r: subprocess.CompletedProcess, store: Path, says: str) -> str:
    """The run failed with exit 2 and one line on stderr that names ``store`` and says ``says``."""
    assert r.returncode == 2, r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1, r.stderr
    assert lines[0].startswith(f"nvs-eval: error: {store}: "), lines[0]
    assert says in lines[0], lines[0]
    assert "internal error" not in r.stderr and "Traceback" not in r.stderr
    return lines[0]


def _stored(store: Path) -> dict[tuple, float]:
    """``(method, view, metric) -> created`` of every stored row."""
    con = sqlite3.connect(store)
    try:
        return {tuple(r[:3]): r[3] for r in con.execute("SELECT method, view, metric, created FROM results")}
    finally:
        con.close()


@pytest.fixture(scope="module")
def evaluated(tmp_path_factory):
    """A benchmark (methods m1, m2, 3 views each) evaluated once into ``out``; a third method m3 ready in
    ``bench3.yaml``. Each test copies it."""
    base = tmp_path_factory.mktemp("evaluated")
    cfg = bench(base, 3, metrics="psnr, ssim", h=40, w=48)
    folder(base / "r" / "m3" / "s1", [f"{i:03d}.png" for i in range(3)], seed=130, h=40, w=48)
    text = cfg.read_text()
    (base / "bench3.yaml").write_text(text + '      - {name: m3, path: "r/m3/{scene}"}\n')
    r = cli("evaluate", str(cfg), "--out", str(base / "out"), "--no-report", "--device", "cpu")
    assert r.returncode == 0, r.stderr
    return base


@pytest.fixture
def work(evaluated, tmp_path):
    """A copy of the evaluated benchmark: ``(config with m1 and m2, config with m3 too, results folder)``."""
    dst = tmp_path / "w"
    shutil.copytree(evaluated, dst)
    return dst / "bench.yaml", dst / "bench3.yaml", dst / "out"


def _evaluate(cfg: Path, out: Path, patched: dict | None = None) -> subprocess.CompletedProcess:
    args = ["evaluate", str(cfg), "--out", str(out), "--no-report", "--device", "cpu"]
    if patched:
        return subprocess.run([*PATCHED_CLI, *args], capture_output=True, text=True, env={**os.environ, **patched})
    return cli(*args)


def _reuses_all(cfg: Path, out: Path, before: dict[tuple, float], views: int = 3, methods: int = 2) -> None:
    """The rerun reuses every row stored before (same ``created``) and computes only the renders not stored."""
    stored_renders = len({k[:2] for k in before})
    r = _evaluate(cfg, out)
    assert r.returncode == 0, r.stderr
    total = views * methods
    assert f"{total - stored_renders} render(s) computed, {stored_renders} reused" in r.stderr
    after = _stored(out / "results.sqlite")
    assert all(after[k] == t for k, t in before.items())  # nothing stored was recomputed
    assert len(after) == total * 2  # psnr, ssim


# --- damaged or foreign files, a newer schema: refused, never written to ------------------------------------------

def test_a_store_of_random_bytes_is_named_and_left_as_it_is(work):
    cfg, _, out = work
    store = out / "results.sqlite"
    good = store.read_bytes()
    before = _stored(store)
    store.write_bytes(os.urandom(8192))
    digest = _digest(store)
    line = _one_error_line(_evaluate(cfg, out), store, "not an SQLite database: its first bytes are")
    assert "move it aside" in line
    assert _digest(store) == digest  # never overwritten
    r = cli("report", "--results", str(out), "--out", str(out.parent / "rep"), "--no-figures")
    line = _one_error_line(r, store, "not an SQLite database")  # a report is told what to do too
    assert line.endswith("and score again: `score` and `evaluate` start a new store there, and `report` reads it")
    store.write_bytes(good)  # the fault removed: the right file is back
    _reuses_all(cfg, out, before)


def test_a_store_cut_short_is_named_damaged_with_how_to_recover_it(work):
    cfg, _, out = work
    store = out / "results.sqlite"
    good = store.read_bytes()
    before = _stored(store)
    store.write_bytes(good[: len(good) // 2])  # a copy cut short
    digest = _digest(store)
    line = _one_error_line(_evaluate(cfg, out), store,
                           "the store is damaged (SQLite: database disk image is malformed)")
    assert "`nvs-eval recover " in line
    assert _digest(store) == digest
    r = cli("report", "--results", str(out), "--out", str(out.parent / "rep"), "--no-figures")
    line = _one_error_line(r, store, "the store is damaged")  # reading it too
    assert line.endswith("`report` reads the recovered rows")
    store.write_bytes(good)
    _reuses_all(cfg, out, before)


def test_an_sqlite_file_of_another_program_is_refused_and_left_as_it_is(work):
    cfg, _, out = work
    store = out / "results.sqlite"
    store.unlink()
    con = sqlite3.connect(store)
    con.execute("CREATE TABLE moz_places (id INTEGER PRIMARY KEY, url TEXT)")
    con.commit()
    con.close()
    digest = _digest(store)
    line = _one_error_line(_evaluate(cfg, out), store, "an SQLite database of another program")
    assert "moz_places" in line
    assert _digest(store) == digest
    assert {r[0] for r in sqlite3.connect(store).execute("SELECT name FROM sqlite_master")} == {"moz_places"}


def test_a_store_of_a_newer_schema_is_refused_naming_both_versions_and_never_written(work):
    cfg, cfg3, out = work
    store = out / "results.sqlite"
    before = _stored(store)
    con = sqlite3.connect(store)
    assert con.execute("PRAGMA application_id").fetchone()[0] == APPLICATION_ID
    assert con.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    con.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    con.close()
    digest = _digest(store)
    line = _one_error_line(_evaluate(cfg3, out), store, f"its schema version is {SCHEMA_VERSION + 1}")
    assert f"knows versions up to {SCHEMA_VERSION}" in line and "upgrade nvs-eval" in line
    _one_error_line(cli("report", "--results", str(out), "--out", str(out.parent / "rep"), "--no-figures"), store,
                    "written by a newer nvs-eval")
    with pytest.raises(StoreError, match="written by a newer nvs-eval"):
        ResultsStore(store, read_only=True)
    assert _digest(store) == digest  # never upgraded downwards, never written
    con = sqlite3.connect(store)
    con.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
    con.close()
    _reuses_all(cfg, out, before)


# --- a full disk ---------------------------------------------------------------------------------------------------

def test_a_store_filling_mid_run_keeps_every_view_before_and_the_rerun_computes_only_the_rest(work):
    """``max_page_count`` lets the store grow by no page: m3's first view still fits in the pages the store has,
    a later one does not (SQLITE_FULL, which SQLite answers by rolling the transaction back itself)."""
    _, cfg3, out = work
    store = out / "results.sqlite"
    r = _evaluate(cfg3, out, {"NVS_EVAL_TEST_STORE_PAGES": "0"})
    line = _one_error_line(r, store, "no space left while writing it (SQLite: database or disk is full)")
    assert "everything stored before is safe; free space and run the same command" in line
    assert "rollback" not in line
    before = _stored(store)
    assert {"m1", "m2"} <= {k[0] for k in before}
    assert sqlite3.connect(store).execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    _reuses_all(cfg3, out, before, methods=3)


def _can_mount() -> str | None:
    if os.geteuid() != 0 or shutil.which("mount") is None:
        return "mounting a small file system needs root and mount(8)"
    return None


@contextlib.contextmanager
def _tmpfs(where: Path, size: str):
    where.mkdir(parents=True, exist_ok=True)
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(where)], capture_output=True)
    if r.returncode:
        pytest.skip(f"cannot mount a tmpfs here: {r.stderr.decode().strip()}")
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], check=True)


def _fill(folder: Path) -> Path:
    """Fill the file system holding ``folder`` until it says ENOSPC."""
    filler = folder / "filler"
    try:
        with open(filler, "wb") as f:
            while True:
                f.write(b"\0" * 4096)
                f.flush()
    except OSError:
        pass
    return filler


@pytest.mark.skipif(_can_mount() is not None, reason=str(_can_mount()))
def test_a_real_full_file_system_names_the_store_and_the_rerun_reuses_every_row(work, tmp_path):
    _, cfg3, out = work
    with _tmpfs(tmp_path / "small", "2m") as small:
        shutil.copytree(out, small / "out")
        store = small / "out" / "results.sqlite"
        before = _stored(store)
        filler = _fill(small)
        r = _evaluate(cfg3, small / "out")
        _one_error_line(r, store, "no space left while writing it")
        filler.unlink()  # the fault removed (reading the store with sqlite3 needs space for its -shm file too)
        kept = _stored(store)
        assert all(kept[k] == t for k, t in before.items())
        _reuses_all(cfg3, small / "out", kept, methods=3)


# --- a read-only folder --------------------------------------------------------------------------------------------

@contextlib.contextmanager
def _read_only(folder: Path):
    """``folder`` read-only: its mode for a user, a read-only bind mount for root (whom modes do not stop)."""
    if os.geteuid() != 0:
        folder.chmod(0o555)
        try:
            yield
        finally:
            folder.chmod(0o755)
        return
    if _can_mount():
        pytest.skip(_can_mount())
    r = subprocess.run(["mount", "--bind", str(folder), str(folder)], capture_output=True)
    if r.returncode:
        pytest.skip(f"cannot bind-mount here: {r.stderr.decode().strip()}")
    try:
        subprocess.run(["mount", "-o", "remount,bind,ro", str(folder)], check=True, capture_output=True)
        yield
    finally:
        subprocess.run(["umount", str(folder)], check=True)


def test_a_read_only_results_folder_is_named_with_why_and_the_rerun_reuses_every_row(work):
    cfg, cfg3, out = work
    store = out / "results.sqlite"
    before = _stored(store)
    digest = _digest(store)
    with _read_only(out):
        line = _one_error_line(_evaluate(cfg3, out), store, "cannot write it: ")
        assert "read-only" in line or "not writable" in line
    assert _digest(store) == digest
    _reuses_all(cfg, out, before)


def test_a_report_into_a_read_only_folder_names_the_file_and_leaves_the_store_untouched(work):
    _, _, out = work
    store = out / "results.sqlite"
    digest = _digest(store)
    rep = out.parent / "rep"
    rep.mkdir()
    with _read_only(rep):
        r = cli("report", "--results", str(out), "--out", str(rep), "--no-figures")
    assert r.returncode == 2, r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"nvs-eval: error: {rep}"), r.stderr
    assert "cannot write it" in lines[0] and "the results store is untouched" in lines[0]
    assert _digest(store) == digest


def test_a_report_on_a_full_disk_names_the_file_and_leaves_the_store_untouched(work):
    _, _, out = work
    store = out / "results.sqlite"
    digest = _digest(store)
    rep = out.parent / "rep"
    r = subprocess.run([*PATCHED_CLI, "report", "--results", str(out), "--out", str(rep), "--no-figures"],
                       capture_output=True, text=True, env={**os.environ, "NVS_EVAL_TEST_ENOSPC": ".csv"})
    assert r.returncode == 2, r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"nvs-eval: error: {rep}") and ".csv: " in lines[0], r.stderr
    assert "no space left while writing it" in lines[0] and "the results store is untouched" in lines[0]
    assert not list(rep.rglob("*.tmp*"))  # no half-written file left
    assert _digest(store) == digest


# --- each write path, through the library ------------------------------------------------------------------------

def _row(method: str = "m", sha: str = "a" * 64, path: str = "r.png") -> Row:
    return Row("d", "s", method, "v", "psnr", "p", 1.0, sha, "b" * 64, path, "g.png", "k", "0", "w")


WRITES = {
    "results": lambda s: s.put([_row(path=BIG)]),
    "history": lambda s: s.put([_row("old", sha="c" * 64)]),  # moves the stored big row to results_history
    "fits": lambda s: s.put([_row("f")], [Fit("d", "s", "f", "v", "p", "affine", [[0.5] * 3000], "a", "b")]),
    "coverage": lambda s: s.set_coverage("d", "s", BIG, "p", 1, 2),
    "checks": lambda s: s.put_check("d", "s", {"comparable": True, "notes": BIG}),
    "protocols": lambda s: s.register_protocol("k2", "p2", {"notes": BIG}),
    "auxiliary": lambda s: s.set_auxiliary("d", "s", "m", {f"f{i}": f".{BIG[:400]}{i}" for i in range(60)}),
    "gt_files": lambda s: [s.put_gt_size(f"{i:064d}", 1, 1) for i in range(400)],
}


@pytest.mark.parametrize("what", sorted(WRITES))
def test_every_write_path_on_a_full_store_is_a_named_error_and_keeps_what_was_stored(tmp_path, what):
    db = tmp_path / "results.sqlite"
    with ResultsStore(db) as s:
        s.put([_row("old", path=BIG)])
        before = s.frame()
    with ResultsStore(db) as s:
        pages = s.conn.execute("PRAGMA page_count").fetchone()[0]
        s.conn.execute(f"PRAGMA max_page_count = {pages}")
        with pytest.raises(StoreError) as err:
            WRITES[what](s)
        assert str(err.value).startswith(f"{db}: no space left while writing it (SQLite: database or disk is full)")
        assert not s.conn.in_transaction
        assert s.frame().equals(before)
    with ResultsStore(db) as s:  # space is back: the same write goes through
        WRITES[what](s)
        assert s.integrity_ok()


def test_the_schema_upgrade_on_a_full_disk_is_a_named_error_and_the_old_store_is_kept(tmp_path, monkeypatch):
    db = tmp_path / "results.sqlite"
    with ResultsStore(db) as s:
        s.put([_row(f"m#run={i}", path=BIG[:3000]) for i in range(3)])
        before = s.frame()
    con = sqlite3.connect(db)  # as the version before the run column and the schema version left it
    con.executescript("ALTER TABLE results RENAME TO r2; "
                      "CREATE TABLE results AS SELECT dataset, scene, "
                      "CASE WHEN run = '' THEN method ELSE method || '#run=' || run END AS method, view, metric, "
                      "protocol, value, render_sha256, gt_sha256, render_path, gt_path, protocol_key, version, "
                      "weights, created FROM r2; DROP TABLE r2; PRAGMA user_version = 0; PRAGMA application_id = 0; "
                      "VACUUM;")
    con.close()
    digest = _digest(db)
    real = sqlite3.connect

    def full(database, *args, **kwargs):
        conn = real(database, *args, **kwargs)
        conn.execute(f"PRAGMA max_page_count = {conn.execute('PRAGMA page_count').fetchone()[0]}")
        return conn

    monkeypatch.setattr(sqlite3, "connect", full)
    with pytest.raises(StoreError, match="no space left while writing it"):
        ResultsStore(db)
    monkeypatch.setattr(sqlite3, "connect", real)
    assert _digest(db) == digest
    with ResultsStore(db) as s:
        assert s.frame().equals(before)


def test_creating_a_store_on_a_full_disk_is_a_named_error_and_leaves_nothing(tmp_path, monkeypatch):
    real = sqlite3.connect

    def full(database, *args, **kwargs):
        conn = real(database, *args, **kwargs)
        conn.execute("PRAGMA max_page_count = 1")
        return conn

    monkeypatch.setattr(sqlite3, "connect", full)
    db = tmp_path / "results.sqlite"
    with pytest.raises(StoreError, match="no space left while writing it"):
        ResultsStore(db)
    assert not db.exists() and list(tmp_path.iterdir()) == []


def test_a_failed_rollback_never_hides_the_first_error(tmp_path):
    """SQLite rolls a transaction back itself on some errors (a full disk); the store's own ROLLBACK then fails
    with "no transaction is active", which once replaced the cause."""
    with ResultsStore(tmp_path / "results.sqlite") as s:
        def fails(c):
            c.execute("ROLLBACK")  # what SQLite did already
            raise ZeroDivisionError("the first error")

        with pytest.raises(ZeroDivisionError, match="the first error"):
            s._write(fails)
        s.put([_row()])  # and the store goes on
        assert len(s.frame()) == 1


_HOLD_LOCK = """
import sqlite3, sys, time
con = sqlite3.connect(sys.argv[1], isolation_level=None)
con.execute("BEGIN IMMEDIATE")
print("locked", flush=True)
time.sleep(60)
"""


def test_a_lock_held_beyond_the_timeout_names_the_store_and_the_process_holding_it(tmp_path):
    db = tmp_path / "results.sqlite"
    ResultsStore(db).close()
    holder = subprocess.Popen([sys.executable, "-c", _HOLD_LOCK, str(db)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        with ResultsStore(db, timeout=0.2) as s:
            start = time.monotonic()
            with pytest.raises(StoreError) as err:
                s.put([_row()])
            assert time.monotonic() - start < 10
        msg = str(err.value)
        assert msg.startswith(f"{db}: still locked by another writer after waiting 0.2 s")
        if Path("/proc").is_dir():
            assert f"pid {holder.pid} " in msg
    finally:
        holder.kill()
        holder.wait()
    with ResultsStore(db) as s:
        s.put([_row()])
        assert len(s.frame()) == 1



def test_recover_and_report_name_the_views_whose_rows_were_lost(work):
    """Rows lost from the middle of the results (here deleted, as a damaged page loses them) while the coverage
    table survived: recover lowers each method's count to the views whose rows all came back and names them, and
    the report says on standard error that its tables average fewer views."""
    cfg, _, out = work
    store = out / "results.sqlite"
    con = sqlite3.connect(store)
    con.execute("DELETE FROM results WHERE method = 'm2' AND metric = 'ssim' AND view = (SELECT min(view) FROM "
                "results)")
    con.commit()
    con.close()
    r = cli("recover", str(out))
    assert r.returncode == 0, r.stderr
    assert "scenes and methods with views lost (1;" in r.stdout and "m2 (" in r.stdout
    assert ": 1 of 3 views missing" in r.stdout
    rep = cli("report", "--results", str(out), "--out", str(out / "rep"), "--format", "md", "--no-figures")
    assert rep.returncode == 0 and "report: incomplete: 1 method(s)" in rep.stderr
    assert "1 of 3 views missing" in rep.stderr and "Coverage" not in rep.stderr  # no index was written


@pytest.mark.parametrize("cut", [0.75, 0.5])
def test_nvs_eval_recover_keeps_every_readable_row_and_the_rerun_scores_the_rest(work, cut):
    """The command the damaged-store error names, run as printed: the readable rows come back with their values
    and times, the damaged file is kept, and the re-run reuses every recovered row and scores only the rest."""
    cfg, _, out = work
    store = out / "results.sqlite"
    good = store.read_bytes()
    before = _stored(store)
    store.write_bytes(good[: int(len(good) * cut)])  # a copy cut short, mid-page
    line = _one_error_line(_evaluate(cfg, out), store, "the store is damaged")
    command = next(c for c in line.split("`") if c.startswith("nvs-eval recover "))
    r = cli(*command.split()[1:])
    assert r.returncode == 0, r.stderr
    assert (out / "results.sqlite.damaged").read_bytes() == good[: int(len(good) * cut)]  # kept as it was
    recovered = _stored(store)
    assert recovered and len(recovered) <= len(before)
    assert all(before[k] == t for k, t in recovered.items())  # same rows, same times
    said = dict(line.split(": ", 1) for line in r.stdout.splitlines() if line.startswith("results: "))
    assert said["results"].startswith(f"{len(recovered)} row(s) recovered")
    con = sqlite3.connect(store)
    scored = {(m, s): n for m, s, n in con.execute("SELECT method, scene, scored FROM coverage")}
    views = {(m, s): len({v for mm, v, _ in recovered if mm == m}) for m, s in scored}
    con.close()
    assert scored == views  # the coverage says what came back, not what was scored before
    if not scored:  # the coverage table was on a lost page: recover says that it cannot name what is missing
        assert "which views are missing cannot be listed" in r.stdout
    _reuses_all(cfg, out, recovered)
    again = cli(*command.split()[1:])  # a second recovery never overwrites the kept damaged file
    assert again.returncode == 2 and "results.sqlite.damaged is already beside it" in again.stderr
