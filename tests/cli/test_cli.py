"""The CLI end to end in subprocesses: output shapes, one-line errors with exit code 2, kill and resume."""

from __future__ import annotations

import io
import json
import os
import random
import shutil
import signal
import sqlite3
import subprocess
import sys
import time

import pytest

from helpers import ROOT, bench, cli, folder, img

PATCHED_CLI = [sys.executable, str(ROOT / "tests" / "patched_cli.py")]  # nvs-eval with test-only patches



@pytest.fixture
def two_methods(tmp_path):
    folder(tmp_path / "gt", ["0001.png", "0002.png"])
    folder(tmp_path / "a", ["0001.png", "0002.png"], seed=10)
    folder(tmp_path / "b", ["0001.jpg", "0002.jpg"], seed=20)
    return tmp_path


def test_score_json_has_exactly_the_documented_shape(two_methods):
    out = two_methods / "s.json"
    r = cli("score", str(two_methods / "a"), f"bee={two_methods / 'b'}", "--gt", str(two_methods / "gt"),
            "--metrics", "psnr,ssim,lpips_alex", "--json", str(out), "--device", "cpu")
    assert r.returncode == 0, r.stderr
    doc = json.loads(out.read_text())
    assert list(doc) == ["protocol", "metrics", "views", "mean", "auxiliary", "reported", "runs", "efficiency"]
    assert doc["auxiliary"] == {} and doc["reported"] == [] and doc["runs"] == {} and doc["efficiency"] == []
    assert doc["protocol"]["name"] == "nvs-eval" and "ssim" in doc["protocol"] and "quantize" in doc["protocol"]
    assert doc["metrics"] == ["psnr", "ssim", "lpips_alex"]
    assert len(doc["views"]) == 4
    for v in doc["views"]:
        assert list(v) == ["method", "view", "psnr", "ssim", "lpips_alex"]
        assert all(isinstance(v[m], float) for m in doc["metrics"])
    assert {v["view"] for v in doc["views"]} == {"0001", "0002"}
    assert set(doc["mean"]) == {"a", "bee"} and list(doc["mean"]["a"]) == ["psnr", "ssim", "lpips_alex"]
    assert "bee" in r.stdout and "PSNR" in r.stdout
    again = cli("score", str(two_methods / "a"), "--gt", str(two_methods / "gt"), "--json", str(out))
    assert again.returncode == 2 and "already exists; pass --force" in again.stderr


@pytest.mark.parametrize("setup,needle", [
    (lambda p: (p / "a" / "0002.png").unlink(), "1 view(s) have no render: 0002"),
    (lambda p: img(p / "a" / "0003.png"), "1 render(s) have no ground truth: 0003"),
    (lambda p: (p / "a" / "0001.png").write_bytes(b""), "0001.png: empty file (0 bytes)"),
    (lambda p: (p / "a" / "0001.png").write_text("not an image"), "0001.png: not a readable image"),
    (lambda p: (p / "a" / "0001.png").write_bytes((p / "gt" / "0001.png").read_bytes()[:200]),
     "0001.png: not a readable image"),
    (lambda p: img(p / "a" / "0001.png", 20, 40), "render 0001.png is 40x20 but ground truth 0001.png is 40x36"),
])
def test_bad_inputs_give_exit_code_2_and_one_line_naming_the_file(two_methods, setup, needle):
    setup(two_methods)
    r = cli("score", str(two_methods / "a"), "--gt", str(two_methods / "gt"), "--metrics", "psnr,ssim",
            "--device", "cpu")
    assert r.returncode == 2, (r.stdout, r.stderr)
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and needle in lines[0] and "Traceback" not in r.stderr
    assert r.stdout == ""


def test_protocols_command_prints_every_protocol_with_sources():
    r = cli("protocols")
    assert r.returncode == 0
    for name in ("nvs-eval", "mipnerf360", "3dgs", "nerfbaselines", "nerfstudio"):
        assert f"\n{name}  (" in "\n" + r.stdout
    assert "gaussian-splatting metrics.py" in r.stdout and "padding=zero-same" in r.stdout
    assert max(map(len, r.stdout.splitlines())) <= 100  # wrapped to a terminal, continuation under the value


def test_weights_command_reports_sources():
    r = cli("weights")
    assert r.returncode == 0 and "linear v0.1  ok" in r.stdout


def _bench(tmp_path, views=8):
    return bench(tmp_path, views)


def _rows(db):
    con = sqlite3.connect(db)
    try:
        assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        rows = con.execute("SELECT method, view, metric, created FROM results").fetchall()
    finally:
        con.close()
    keys = [(m, v, k) for m, v, k, _ in rows]
    assert len(keys) == len(set(keys))
    return {(m, v, k): c for m, v, k, c in rows}


KILLS = 20  # docs/reliability.md reports this count


def _complete_views(rows: dict, metrics=3) -> None:
    """Every (method, view) in the store has all its metrics: a killed run leaves whole views only."""
    per = {}
    for m, v, _ in rows:
        per[(m, v)] = per.get((m, v), 0) + 1
    assert all(n == metrics for n in per.values()), per


@pytest.mark.slow
def test_sigkill_at_random_points_then_rerun_completes_without_recomputing(tmp_path):
    cfg = _bench(tmp_path, views=48)
    out = tmp_path / "out"
    # widen the window in which views are being computed; batches of 4 views (each stored whole or not at all)
    env = dict(os.environ, NVS_EVAL_TEST_VIEW_DELAY_S="0.1", NVS_EVAL_TEST_BATCH_VIEWS="4")
    rng = random.Random(20261123)
    db = out / "results.sqlite"
    kills, runs, before = 0, 0, {}
    while kills < KILLS and runs < 3 * KILLS:
        runs += 1
        p = subprocess.Popen([*PATCHED_CLI, "evaluate", str(cfg), "--out", str(out), "--no-report",
                              "--device", "cpu"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        # a random point: during start-up, between views, mid-transaction (writes are ~0.1 s apart)
        time.sleep(rng.uniform(0.3, 3.5))
        if p.poll() is None:
            p.send_signal(signal.SIGKILL)
            kills += 1
        p.wait()
        if db.exists():
            rows = _rows(db)  # integrity_check and no duplicate key
            _complete_views(rows)
            assert all(rows.get(k) == c for k, c in before.items()), "a stored row was lost or recomputed"
            before = rows
        if len(before) == 48 * 2 * 3:  # all done before we could kill it: start over on a fresh store
            shutil.rmtree(out)
            before = {}
    assert kills == KILLS, (kills, runs)
    r = cli("evaluate", str(cfg), "--out", str(out), "--no-report", "--device", "cpu")
    assert r.returncode == 0, r.stderr
    after = _rows(db)
    assert len(after) == 48 * 2 * 3
    assert all(after[k] == c for k, c in before.items())  # stored rows were not recomputed
    assert f"{len(before) // 3} reused" in r.stderr


def test_sigint_stops_cleanly_and_says_how_to_resume(tmp_path):
    cfg = _bench(tmp_path, views=6)
    out = tmp_path / "out"
    env = dict(os.environ, NVS_EVAL_TEST_VIEW_DELAY_S="0.5", NVS_EVAL_TEST_BATCH_VIEWS="1")  # a view at a time
    p = subprocess.Popen([*PATCHED_CLI, "evaluate", str(cfg), "--out", str(out), "--no-report",
                          "--device", "cpu"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 120
    while time.time() < deadline and not ((out / "results.sqlite").exists() and _count(out / "results.sqlite") >= 6):
        time.sleep(0.2)
    p.send_signal(signal.SIGINT)
    _, err = p.communicate(timeout=60)
    assert p.returncode == 130
    assert "interrupted" in err and "run the same command again to resume" in err and "Traceback" not in err
    assert _count(out / "results.sqlite") >= 6


def _count(db):
    con = sqlite3.connect(db, timeout=30)
    try:
        return con.execute("SELECT COUNT(*) FROM results").fetchone()[0]
    except sqlite3.OperationalError:
        return 0
    finally:
        con.close()


def test_config_errors_name_the_file_and_key(tmp_path):
    cfg = _bench(tmp_path)
    cfg.write_text(cfg.read_text().replace("protocol: nvs-eval", "protocol: nvs-eval\ncolour: red"))
    r = cli("evaluate", str(cfg))
    assert r.returncode == 2 and "bench.yaml: colour: unknown key" in r.stderr
    cfg.write_text(_bench(tmp_path).read_text().replace("scenes: [s1]", "scenes: s1"))
    r = cli("evaluate", str(cfg))
    assert r.returncode == 2 and "datasets[0].scenes: expected a list of strings" in r.stderr
    cfg.write_text(_bench(tmp_path).read_text().replace("r/m2/", "r/missing/"))
    r = cli("evaluate", str(cfg))
    assert r.returncode == 2 and "datasets[0].methods[1].path:" in r.stderr and "does not exist" in r.stderr


@pytest.mark.parametrize("overlap", [True, False], ids=["same-work", "disjoint-work"])
def test_two_evaluate_processes_on_one_store_lose_and_duplicate_nothing(tmp_path, overlap):
    cfg = _bench(tmp_path, views=6)
    cfgs = [cfg, cfg]
    if not overlap:  # one process scores m1, the other m2, into the same store
        text = cfg.read_text()
        m1, m2 = '      - {name: m1, path: "r/m1/{scene}"}\n', '      - {name: m2, path: "r/m2/{scene}"}\n'
        cfgs = [tmp_path / "a.yaml", tmp_path / "b.yaml"]
        cfgs[0].write_text(text.replace(m2, ""))
        cfgs[1].write_text(text.replace(m1, ""))
    out = tmp_path / "out"
    env = dict(os.environ, NVS_EVAL_TEST_VIEW_DELAY_S="0.05")
    procs = [subprocess.Popen([*PATCHED_CLI, "evaluate", str(c), "--out", str(out), "--no-report",
                               "--device", "cpu"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for c in cfgs]
    errs = [p.communicate(timeout=300)[1] for p in procs]
    assert [p.returncode for p in procs] == [0, 0], errs
    assert not any("locked" in e for e in errs)
    rows = _rows(out / "results.sqlite")
    assert len(rows) == 6 * 2 * 3
    _complete_views(rows)


def _open_store(path, barrier):
    from nvs_eval.results.store import ResultsStore

    barrier.wait()
    ResultsStore(path).close()  # an exception exits the process with code 1 (its traceback on stderr)


def test_processes_creating_one_store_at_the_same_instant_all_succeed(tmp_path):
    """Six processes open (and so create) one new store at once, 25 times. SQLite can answer "database is locked"
    without waiting while another process switches the new file to WAL; before the store retried that step, about
    one file in eight failed here (4 of 30), which is how two `evaluate` runs started together could fail."""
    import multiprocessing

    ctx = multiprocessing.get_context("fork")
    for i in range(25):
        barrier = ctx.Barrier(6)
        procs = [ctx.Process(target=_open_store, args=(tmp_path / f"{i}.sqlite", barrier)) for _ in range(6)]
        for p in procs:
            p.start()
        for p in procs:
            p.join(timeout=120)
        assert [p.exitcode for p in procs] == [0] * 6, f"store {i}: a process failed (traceback above)"


def test_changed_inputs_are_never_overwritten_without_force(tmp_path):
    cfg = _bench(tmp_path, views=3)
    out = tmp_path / "out"
    assert cli("evaluate", str(cfg), "--out", str(out), "--no-report", "--device", "cpu").returncode == 0
    summary = (out / "summary.csv").read_text()
    before = _rows(out / "results.sqlite")
    img(tmp_path / "r" / "m1" / "s1" / "001.png", 64, 72, seed=777)  # a re-render of one view
    r = cli("evaluate", str(cfg), "--out", str(out), "--no-report", "--device", "cpu")
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert "1 stored result(s) have inputs that changed: d/s1/m1/001: render changed since it was scored" in r.stderr
    assert "--force" in r.stderr
    assert _rows(out / "results.sqlite") == before and (out / "summary.csv").read_text() == summary
    r = cli("evaluate", str(cfg), "--out", str(out), "--no-report", "--device", "cpu", "--force")
    assert r.returncode == 0, r.stderr
    after = _rows(out / "results.sqlite")
    changed = {k for k in after if after[k] != before[k]}
    assert changed == {("m1", "001", m) for m in ("psnr", "ssim", "lpips_alex")}
    con = sqlite3.connect(out / "results.sqlite")
    hist = con.execute("SELECT method, view, metric, created FROM results_history").fetchall()
    con.close()
    assert {(m, v, k): c for m, v, k, c in hist} == {k: before[k] for k in changed}  # the old values are kept


def test_outputs_are_not_overwritten_without_force(tmp_path):
    cfg = _bench(tmp_path, views=2)
    foreign = tmp_path / "mine"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("my own file")
    r = cli("evaluate", str(cfg), "--out", str(foreign), "--no-report", "--device", "cpu")
    assert r.returncode == 2 and "not an nvs-eval output folder" in r.stderr
    assert not (foreign / "results.sqlite").exists()
    out = tmp_path / "out"
    assert cli("evaluate", str(cfg), "--out", str(out), "--no-report", "--device", "cpu").returncode == 0
    r = cli("report", "--results", str(out), "--out", str(foreign), "--format", "md", "--no-figures")
    assert r.returncode == 2 and "not an nvs-eval output folder" in r.stderr and not (foreign / "tables.md").exists()
    rep = tmp_path / "rep"
    assert cli("report", "--results", str(out), "--out", str(rep), "--format", "md", "--no-figures").returncode == 0
    assert cli("report", "--results", str(out), "--out", str(rep), "--format", "md", "--no-figures").returncode == 0
    other = tmp_path / "other"
    assert cli("evaluate", str(cfg), "--out", str(other), "--no-report", "--device", "cpu").returncode == 0
    r = cli("report", "--results", str(other), "--out", str(rep), "--format", "md", "--no-figures")
    assert r.returncode == 2 and "holds a report of another store" in r.stderr
    r = cli("report", "--results", str(other), "--out", str(rep), "--format", "md", "--no-figures", "--force")
    assert r.returncode == 0 and (rep / ".nvs-eval-report").read_text().strip() == "../other/results.sqlite"
    # a results folder copied whole (store and report inside it) keeps its report: the marker is relative
    inside = tmp_path / "out" / "report"
    assert cli("report", "--results", str(out), "--out", str(inside), "--format", "md", "--no-figures").returncode == 0
    shutil.copytree(out, tmp_path / "copy")
    r = cli("report", "--results", str(tmp_path / "copy"), "--out", str(tmp_path / "copy" / "report"), "--format",
            "md", "--no-figures")
    assert r.returncode == 0, r.stderr
    assert str(tmp_path) not in (tmp_path / "copy" / "report" / ".nvs-eval-report").read_text()
    a, g = tmp_path / "r" / "m1" / "s1" / "000.png", tmp_path / "gt" / "s1" / "000.png"
    fig = tmp_path / "fig.png"
    fig.write_bytes(b"keep me")
    r = cli("heatmap", str(a), str(g), "--metric", "abs", "--out", str(fig), "--device", "cpu")
    assert r.returncode == 2 and "already exists; pass --force" in r.stderr and fig.read_bytes() == b"keep me"
    r = cli("heatmap", str(a), str(g), "--metric", "abs", "--out", str(fig), "--device", "cpu", "--force")
    assert r.returncode == 0 and fig.read_bytes()[:4] == b"\x89PNG"
    assert not [p for p in tmp_path.iterdir() if ".tmp" in p.name]  # no temporary file left behind


def test_precision_is_an_explicit_opt_in(two_methods):
    base = ["score", str(two_methods / "a"), "--gt", str(two_methods / "gt"), "--metrics", "psnr,lpips_alex",
            "--device", "cpu"]
    exact, fast = two_methods / "exact.json", two_methods / "fast.json"
    assert cli(*base, "--json", str(exact)).returncode == 0
    r = cli(*base, "--json", str(fast), "--precision", "bf16")
    assert r.returncode == 0, r.stderr
    e, f = (json.loads(p.read_text())["views"] for p in (exact, fast))
    assert [v["psnr"] for v in e] == [v["psnr"] for v in f]
    assert max(abs(a["lpips_alex"] - b["lpips_alex"]) for a, b in zip(e, f)) < 2e-2
    r = cli(*base, "--precision", "tf32")
    assert r.returncode == 2 and r.stderr.strip() == (
        "nvs-eval: error: precision tf32 needs a CUDA device; on the CPU use bf16 (or the exact float32)")


def test_a_full_disk_names_the_file_and_says_the_scored_views_are_safe(tmp_path):
    """``evaluate`` whose exports hit a full disk: the error names the file being written and says that the store
    holds every scored view; once space is back the same command reuses them all."""
    cfg = bench(tmp_path, views=3, metrics="psnr, ssim")
    out = tmp_path / "out"
    base = ["evaluate", str(cfg), "--out", str(out), "--no-report", "--device", "cpu"]
    env = {**os.environ, "NVS_EVAL_TEST_ENOSPC": ".json"}
    r = subprocess.run([*PATCHED_CLI, *base], capture_output=True, text=True, env=env)
    assert r.returncode == 2
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("nvs-eval: error: ") and ".json: no space left while writing it " \
        "(No space left on device)" in lines[0], r.stderr
    assert "the results store is untouched and keeps every scored view" in lines[0]
    again = cli(*base)
    assert again.returncode == 0 and "0 render(s) computed, 6 reused" in again.stderr


def test_run_summary_counts_what_was_computed_and_reused(tmp_path):
    cfg = _bench(tmp_path, views=3)
    first = cli("evaluate", str(cfg), "--out", str(tmp_path / "out"), "--no-report", "--device", "cpu")
    assert first.returncode == 0, first.stderr
    assert "3 views: 6 render(s) computed, 0 reused" in first.stderr
    again = cli("evaluate", str(cfg), "--out", str(tmp_path / "out"), "--no-report", "--device", "cpu")
    assert "3 views: 0 render(s) computed, 6 reused" in again.stderr


def test_a_bug_inside_scoring_is_reported_as_a_bug_not_as_a_bad_file(tmp_path):
    folder(tmp_path / "gt", ["0.png"])
    folder(tmp_path / "a", ["0.png"], seed=3)
    env = dict(os.environ, NVS_EVAL_TEST_RAISE="shapes (3,) and (4,) not aligned")
    r = subprocess.run([*PATCHED_CLI, "score", str(tmp_path / "a"), "--gt", str(tmp_path / "gt"), "--metrics",
                        "psnr", "--device", "cpu"], capture_output=True, text=True, env=env)
    assert r.returncode == 1, r.stderr
    assert "internal error, please report" in r.stderr and "not aligned" in r.stderr and "Traceback" not in r.stderr
    r = subprocess.run([*PATCHED_CLI, "--debug", "score", str(tmp_path / "a"), "--gt", str(tmp_path / "gt"),
                        "--metrics", "psnr", "--device", "cpu"], capture_output=True, text=True, env=env)
    assert r.returncode == 1 and "Traceback" in r.stderr and "internal error, please report" in r.stderr
    # a user error keeps its exit status 2 under --debug (scripts tell the two apart by it); the traceback comes first
    r = cli("score", str(tmp_path / "nowhere"), "--gt", str(tmp_path / "gt"), "--debug")
    assert r.returncode == 2 and "Traceback" in r.stderr and r.stderr.rstrip().splitlines()[-1].startswith(
        "nvs-eval: error:")


def test_a_method_lacking_a_scene_is_a_second_entry_and_every_summary_says_so(tmp_path):
    """README's route for a method that lacks a whole scene: a second dataset entry of the same name. The CLI
    summary gains a scenes column, and the report's tables name the short row and leave it unranked (this config
    crashed the tables once: one full method, one short)."""
    names = [f"{i}.png" for i in range(3)]
    for s in ("s1", "s2"):
        folder(tmp_path / "gt" / s, names)
        folder(tmp_path / "r" / "a" / s, names, seed=40)
    folder(tmp_path / "r" / "b" / "s1", names, seed=80)
    entry = '  - name: d\n    kind: pairs\n    gt: "gt/{{scene}}"\n    scenes: [{}]\n    methods:\n' \
            '      - {{name: {}, path: "r/{}/{{scene}}"}}\n'
    (tmp_path / "b.yaml").write_text("name: t\nprotocol: nvs-eval\nmetrics: [psnr]\ndatasets:\n"
                                     + entry.format("s1, s2", "a", "a") + entry.format("s1", "b", "b"))
    r = cli("evaluate", str(tmp_path / "b.yaml"), "--out", str(tmp_path / "o"), "--device", "cpu", "--no-report")
    assert r.returncode == 0, r.stderr
    rows = [line.split() for line in r.stdout.splitlines() if line.startswith("d ")]
    assert [row[-3:] for row in rows] == [["2", "of", "2"], ["1", "of", "2"]], r.stdout
    r = cli("report", "--results", str(tmp_path / "o"), "--out", str(tmp_path / "rep"), "--format", "md")
    assert r.returncode == 0, r.stderr
    assert "| b (1 of 2 scenes) |" in (tmp_path / "rep" / "tables.md").read_text()


def test_debug_is_taken_before_or_after_the_command():
    """The cold try put ``--debug`` last, where argparse refused it; now it works on either side."""
    from nvs_eval.cli import build_parser

    parser = build_parser()
    for argv, want in ((["score", "a", "--gt", "b"], False), (["--debug", "score", "a", "--gt", "b"], True),
                       (["score", "a", "--gt", "b", "--debug"], True), (["report", "--debug"], True)):
        assert parser.parse_args(argv).debug is want, argv


def test_an_image_smaller_than_the_ssim_window_is_the_users_file(tmp_path):
    img(tmp_path / "gt" / "0.png", 8, 8)
    img(tmp_path / "a" / "0.png", 8, 8, seed=4)
    r = cli("score", str(tmp_path / "a"), "--gt", str(tmp_path / "gt"), "--metrics", "ssim", "--device", "cpu")
    assert r.returncode == 2 and "0.png: cannot be scored" in r.stderr and "11x11" in r.stderr


def test_hdr_renders_are_refused_with_a_reason_not_found_missing(tmp_path):
    img(tmp_path / "gt" / "0.png")
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "0.exr").write_bytes(b"v/1\x01" + b"\0" * 64)
    r = cli("score", str(tmp_path / "a"), "--gt", str(tmp_path / "gt"), "--metrics", "psnr", "--device", "cpu")
    assert r.returncode == 2 and "0.exr: high-dynamic-range images (.exr) are not scored" in r.stderr


@pytest.mark.parametrize("args,needle", [
    (["score", "{p}/a", "--dataset", "mipnerf360", "--dataset-root", "{p}/nope"],
     "--dataset-root {p}/nope: no such folder"),
    (["score", "{p}/a", "--gt", "{p}/nope"], "--gt {p}/nope: no such folder"),
    (["score", "{p}/a", "--gt", "{p}/gt", "--masks", "{p}/nope"], "--masks {p}/nope: no such folder"),
    (["check", "{p}/a", "--gt", "{p}/gt", "--dataset", "mipnerf360", "--dataset-root", "{p}/nope"],
     "--dataset-root {p}/nope: no such folder"),
    (["check", "{p}/a", "--gt", "{p}/gt/0001.png", "--dataset", "mipnerf360", "--dataset-root", "{p}"],
     "--gt {p}/gt/0001.png: not a folder"),
    (["heatmap", "{p}/a/0001.png", "{p}/gt/nope.png", "--out", "{p}/h.png"], "GT {p}/gt/nope.png: no such file"),
    (["report", "--results", "{p}/nope", "--out", "{p}/rep"], "--results {p}/nope: no such"),
    (["evaluate", "{p}/nope.yaml", "--out", "{p}/out"], "{p}/nope.yaml: no such file"),
])
def test_a_missing_path_argument_is_named_before_any_work(two_methods, args, needle):
    """Every path argument is checked before anything is scored or written: one line naming the argument and
    the path as missing (never a table first, never a message about what would have been inside it)."""
    p = str(two_methods)
    r = cli(*[a.format(p=p) for a in args])
    assert r.returncode == 2, (r.stdout, r.stderr)
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and needle.format(p=p) in lines[0] and "nothing was done" in lines[0], r.stderr
    assert r.stdout == "" and not any((two_methods / x).exists() for x in ("h.png", "rep", "out"))


def test_terminal_tables_and_captions_fit_100_columns(two_methods):
    """Ten metrics over runs (``mean ± std`` cells) would make one 200-column line: the table continues in blocks
    that repeat the key column, and the protocol caption wraps."""
    import pandas as pd

    from nvs_eval.cli._common import print_table

    metrics = ["psnr", "ssim", "lpips_alex", "lpips_vgg", "masked_psnr", "dists", "flip"]
    rows = [{"dataset": "d", "scene": "s", "method": f"m#run={r}", "view": v,
             **dict.fromkeys(metrics, 0.5 + r / 10 + v / 100)} for r in range(3) for v in range(2)]
    buf = io.StringIO()
    print_table(pd.DataFrame(rows), metrics, file=buf)
    lines = buf.getvalue().splitlines()
    assert max(map(len, lines)) <= 100 and lines.count("") >= 1, buf.getvalue()
    blocks = buf.getvalue().split("\n\n")
    assert all(b.splitlines()[1].startswith("m ") for b in blocks)  # the method repeated in every block
    assert all(label in buf.getvalue() for label in ("PSNR", "DISTS", "FLIP", "views", "runs"))
    r = cli("score", str(two_methods / "a"), str(two_methods / "b"), "--gt", str(two_methods / "gt"),
            "--protocol", "nerfbaselines", "--metrics", "psnr,ssim,lpips_alex", "--device", "cpu")
    assert r.returncode == 0, r.stderr
    assert max(map(len, r.stdout.splitlines())) <= 100, r.stdout


def test_a_reader_that_stops_early_is_no_error_and_loses_no_file(tmp_path):
    """``nvs-eval protocols | head -1`` exits 0 without a 'Broken pipe' error; ``baselines --per-view --json`` writes
    its file before printing, and refuses to overwrite it without --force."""
    for args in (["protocols"], ["baselines", "blender", "--per-view", "--method", "zipnerf", "--scene", "lego",
                                 "--json", str(tmp_path / "lego.json")]):
        p = subprocess.Popen([sys.executable, "-m", "nvs_eval", *args], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
        p.stdout.readline()
        p.stdout.close()  # the reader leaves, as `head -1` does
        err = p.stderr.read()
        assert p.wait(timeout=120) == 0 and "Broken pipe" not in err, err
    assert json.loads((tmp_path / "lego.json").read_text())["rows"]
    again = cli("baselines", "blender", "--per-view", "--method", "zipnerf", "--scene", "lego", "--json",
                str(tmp_path / "lego.json"))
    assert again.returncode == 2 and "already exists; pass --force" in again.stderr


def test_allow_missing_prints_the_coverage_beside_the_table(two_methods):
    (two_methods / "a" / "0002.png").unlink()
    r = cli("score", str(two_methods / "a"), "--gt", str(two_methods / "gt"), "--metrics", "psnr", "--device", "cpu",
            "--allow-missing")
    assert r.returncode == 0, r.stderr
    assert "coverage: a: 1 of 2 views have a render (--allow-missing); its means are over those 1" in r.stdout

