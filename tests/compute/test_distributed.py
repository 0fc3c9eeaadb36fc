"""torchrun on the CPU (gloo), real processes (issue 17): the merged store equals a single process's row for row;
a run killed mid-way resumes with another number of ranks; two configs share one results folder."""

from __future__ import annotations

import collections
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from helpers import ROOT, bench

COLS = ("dataset, scene, method, view, metric, protocol, value, render_sha256, gt_sha256, render_path, gt_path, "
        "protocol_key, weights, version")


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# Every run here (the single process too) scores the small views in batches of 2 spanning views: the 8 views are
# 4 batches to share among ranks, and a rank must score each batch as the single process does.
PATCHED = str(ROOT / "tests" / "patched_cli.py")
BATCHES = {"NVS_EVAL_TEST_BATCH_VIEWS": "2"}


def _torchrun(n: int, *args: str, script: str | None = None, env: dict | None = None, wait: bool = True):
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", str(n), "--master-addr", "127.0.0.1",
           "--master-port", str(_port())]
    cmd += [script or PATCHED]
    e = {**os.environ, **BATCHES, **(env or {}), "PYTHONPATH": str(ROOT)}
    if not wait:
        return subprocess.Popen([*cmd, *args], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=e,
                                start_new_session=True)
    return subprocess.run([*cmd, *args], capture_output=True, text=True, env=e, timeout=600)


def _single(*args: str) -> subprocess.CompletedProcess:
    """One process, batched as the ranks are."""
    return subprocess.run([sys.executable, PATCHED, *args], capture_output=True, text=True, timeout=600,
                          env={**os.environ, **BATCHES, "PYTHONPATH": str(ROOT)})


def _rows(db: Path) -> list[tuple]:
    con = sqlite3.connect(db)
    try:
        return sorted(con.execute(f"SELECT {COLS} FROM results"))
    finally:
        con.close()


def _shard_rows(out: Path) -> int:
    n = 0
    for p in (out / "shards").glob("*.sqlite"):
        try:
            con = sqlite3.connect(f"{p.as_uri()}?mode=ro", uri=True)
            n += con.execute("SELECT COUNT(*) FROM results").fetchone()[0]
            con.close()
        except sqlite3.Error:
            pass
    return n


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """A benchmark and its single-process store (one thread, as each rank below uses)."""
    root = tmp_path_factory.mktemp("dist")
    cfg = bench(root, views=8, metrics="psnr, ssim, lpips_alex")
    r = _single("evaluate", str(cfg), "--out", str(root / "single"), "--no-report", "--device", "cpu", "--threads", "1")
    assert r.returncode == 0, r.stderr
    return root, cfg, _rows(root / "single" / "results.sqlite")


def test_two_ranks_give_the_single_process_store_row_for_row(reference):
    root, cfg, single = reference
    r = _torchrun(2, "evaluate", str(cfg), "--out", str(root / "two"), "--no-report", "--device", "cpu",
                  "--threads", "1")
    assert r.returncode == 0, r.stdout + r.stderr
    assert _rows(root / "two" / "results.sqlite") == single  # values bit-identical, same hashes and paths
    assert not list((root / "two" / "shards").glob("*")), "shards are merged and removed"
    assert "8 views: 16 render(s) computed, 0 reused" in r.stderr


def test_a_run_killed_mid_way_resumes_with_another_number_of_ranks(reference):
    """SIGKILL to the whole torchrun job once some views are in the shards; then 3 ranks finish it, and 1 process
    again finds nothing to do. Every row is there once, with the single process's values."""
    root, cfg, single = reference
    out = root / "killed"
    job = _torchrun(2, "evaluate", str(cfg), "--out", str(out), "--no-report", "--device", "cpu", "--threads", "1",
                    env={"NVS_EVAL_TEST_VIEW_DELAY_S": "1.0"},
                    wait=False)
    deadline = time.monotonic() + 240
    while _shard_rows(out) < 6 and job.poll() is None and time.monotonic() < deadline:
        time.sleep(0.2)
    assert job.poll() is None, "the run finished before it could be killed"
    os.killpg(job.pid, signal.SIGKILL)
    job.wait(timeout=60)
    done = _shard_rows(out)
    assert 0 < done < len(single)
    r = _torchrun(3, "evaluate", str(cfg), "--out", str(out), "--no-report", "--device", "cpu", "--threads", "1")
    assert r.returncode == 0, r.stdout + r.stderr
    assert _rows(out / "results.sqlite") == single
    reused = int(r.stderr.split(" reused")[0].rsplit(", ", 1)[1])
    assert reused >= done // 3  # the killed run's finished views were kept (3 metrics a render)
    r = _single("evaluate", str(cfg), "--out", str(out), "--no-report", "--device", "cpu", "--threads", "1")
    assert r.returncode == 0 and "0 render(s) computed, 16 reused" in r.stderr
    assert _rows(out / "results.sqlite") == single


def test_two_configs_share_one_results_folder_without_clashing(reference):
    root, cfg, single = reference
    other = root / "other.yaml"
    other.write_text(cfg.read_text().replace("  - name: d\n", "  - name: e\n"))
    out = root / "shared"
    jobs = [_torchrun(2, "evaluate", str(c), "--out", str(out), "--no-report", "--device", "cpu", "--threads", "1",
                      "--force", wait=False) for c in (cfg, other)]
    for j in jobs:
        assert j.wait(timeout=600) == 0, j.stdout.read().decode()[-3000:]
    rows = _rows(out / "results.sqlite")
    assert [r for r in rows if r[0] == "d"] == single
    assert len([r for r in rows if r[0] == "e"]) == len(single)


def test_the_split_is_whole_views_once_each_and_balanced_by_pixels(tmp_path, monkeypatch):
    from nvs_eval.api import pair_scenes
    from nvs_eval.compute import runner
    from nvs_eval.compute.distributed import assign
    from nvs_eval.data.layouts import pairs_scene

    from helpers import folder

    names = [f"{i:02d}.png" for i in range(10)]
    for k, (h, w) in enumerate(((40, 48), (80, 96))):  # two scenes, one with 4x the pixels
        folder(tmp_path / f"gt{k}", names, h=h, w=w)
        for m in ("a", "b"):
            folder(tmp_path / m / f"s{k}", names, seed=3, h=h, w=w)
    scenes = [pairs_scene([(m, tmp_path / m / f"s{k}") for m in ("a", "b")], tmp_path / f"gt{k}", scene=f"s{k}")
              for k in range(2)]
    paired = pair_scenes(scenes)
    monkeypatch.setattr(runner, "MAX_BATCH_VIEWS", 3)  # batches spanning views are handed out whole
    whole = collections.defaultdict(set)  # (scene, batch) -> its views
    for p in paired:
        for j in runner.with_batches(p.jobs, "cuda"):
            whole[p.scene.name, j.batch].add(j.view)
    assert sorted(len(v) for v in whole.values()) == [1, 1, 3, 3, 3, 3, 3, 3]
    seen = collections.defaultdict(set)
    for r in range(3):
        for p in assign(paired, r, 3, device="cuda"):
            for j in p.jobs:
                assert (p.scene.name, j.batch) not in seen or seen[p.scene.name, j.batch] == {r}
                seen[p.scene.name, j.batch] = {r}
                whole[p.scene.name, j.batch].discard(j.view)
    assert not any(whole.values())  # every view of every batch, each batch on one rank
    monkeypatch.setattr(runner, "MAX_BATCH_VIEWS", 1)  # view by view: the balance by pixels
    for world in (1, 2, 3):
        shares = [assign(paired, r, world) for r in range(world)]
        assert shares == [assign(paired, r, world) for r in range(world)]  # deterministic
        units = [(p.scene.name, j.view, tuple(sorted(j.renders))) for share in shares for p in share for j in p.jobs]
        assert sorted(units) == sorted((p.scene.name, j.view, ("a", "b")) for p in paired for j in p.jobs)
        load = [sum(1 if p.scene.name == "s0" else 4 for p in s for j in p.jobs) for s in shares]
        assert max(load) - min(load) <= 4  # within one large view
    stored = {("default", "s1", m, f"{i:02d}") for m in ("a", "b") for i in range(10)}  # s1 is all in the store
    todo = [sum(len(p.jobs) for p in assign(paired, r, 3, stored) if p.scene.name == "s0") for r in range(3)]
    assert sorted(todo) == [3, 3, 4]  # the work still to do (s0) is what is balanced, not the stored views' checks


def test_rank_zero_sums_every_ranks_progress(tmp_path):
    from types import SimpleNamespace

    from nvs_eval.compute.distributed import Context, Progress, remove_progress

    stats = [SimpleNamespace(views=0) for _ in range(3)]
    bars = [Progress(tmp_path, "t", Context(r, 3, r), stats[r], total=30, show=False) for r in range(3)]
    for r, n in enumerate((4, 7, 2)):
        stats[r].views = n
    for b in bars[1:]:
        b.close()
    bars[0].close()
    assert bars[0].done() == 13
    remove_progress(tmp_path, "t")
    assert not list((tmp_path / "shards").glob("*"))


def test_slurm_style_launch_reads_its_ranks_from_the_slurm_environment(reference):
    """Two plain processes with srun's variables (SLURM_PROCID, SLURM_NTASKS, SLURM_LOCALID) and MASTER_ADDR /
    MASTER_PORT exported, as the sbatch example in docs/cluster.md does."""
    root, cfg, single = reference
    port = str(_port())
    procs = []
    for rank in range(2):
        env = {k: v for k, v in os.environ.items() if k not in ("RANK", "WORLD_SIZE", "LOCAL_RANK")}
        env.update(SLURM_PROCID=str(rank), SLURM_NTASKS="2", SLURM_LOCALID=str(rank), MASTER_ADDR="127.0.0.1",
                   MASTER_PORT=port, PYTHONPATH=str(ROOT), **BATCHES)
        procs.append(subprocess.Popen([sys.executable, PATCHED, "evaluate", str(cfg), "--out",
                                       str(root / "slurm"), "--no-report", "--device", "cpu", "--threads", "1"],
                                      env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE))
    outs = [p.communicate(timeout=600) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], [o[1].decode()[-2000:] for o in outs]
    assert _rows(root / "slurm" / "results.sqlite") == single
    assert "8 views: 16 render(s) computed" in outs[0][1].decode() and outs[1][1].decode() == ""
