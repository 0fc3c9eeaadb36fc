"""torchrun on this machine (real processes, gloo) and the merge of a million-row shard set."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import make_workload

HERE = Path(__file__).resolve().parent


def distributed_cost(views: int = 16, size: int = 512, merge_rows: int = 1_000_000) -> list[str]:
    """torchrun on this machine: 1 process x 2 threads, 1 x 1, and 2 ranks x 1 thread on the same benchmark
    (real processes, gloo); then the merge of a ``merge_rows``-row shard set (8 shards) into a store."""
    import socket

    from nvs_eval.compute.distributed import merge_shards
    from nvs_eval.results.store import ResultsStore, Row

    tmp = Path(tempfile.mkdtemp(prefix="nvs-dist-"))
    make_workload(tmp, size, 2, views)
    cfg = tmp / "bench.yaml"
    cfg.write_text("name: dist\nprotocol: 3dgs\ndatasets:\n  - name: d\n    kind: pairs\n    gt: gt\n    scenes: [s]\n"
                   "    methods:\n      - {name: m0, path: m0}\n      - {name: m1, path: m1}\n")
    for sub in ("gt", "m0", "m1"):  # pairs configs resolve {scene}; the workload has one flat scene
        (tmp / sub).rename(tmp / f"{sub}_")
        (tmp / sub).mkdir()
        (tmp / f"{sub}_").rename(tmp / sub / "s")
    cfg.write_text(cfg.read_text().replace("gt: gt", "gt: 'gt/{scene}'").replace("path: m0", "path: 'm0/{scene}'")
                   .replace("path: m1", "path: 'm1/{scene}'"))
    runs = {}
    for label, ranks, threads in (("1 process, 2 threads", 1, 2), ("1 process, 1 thread", 1, 1),
                                  ("torchrun: 2 ranks x 1 thread (gloo)", 2, 1)):
        out = tmp / f"out{ranks}{threads}"
        base = [sys.executable, "-m", "nvs_eval", "evaluate", str(cfg), "--out", str(out), "--no-report",
                "--device", "cpu", "--threads", str(threads)]
        if ranks > 1:
            with socket.socket() as sock:
                sock.bind(("127.0.0.1", 0))
                port = sock.getsockname()[1]
            base = [sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", str(ranks),
                    "--master-addr", "127.0.0.1", "--master-port", str(port), "-m", "nvs_eval", *base[3:]]
        t = time.perf_counter()
        subprocess.run(base, check=True, capture_output=True, env={**os.environ, "PYTHONPATH": str(HERE.parent)})
        runs[label] = time.perf_counter() - t
    # the merge: 8 shards holding merge_rows rows between them
    folder = tmp / "merge"
    shards = []
    per = merge_rows // 8
    for k in range(8):
        with ResultsStore(folder / "shards" / f"x-rank{k}-of-8.sqlite") as shard:
            shard.put([Row("d", f"s{k}", f"m{i % 10}", f"{i // 10:06d}", "psnr", "3dgs", 30.0 + (i % 97) / 97,
                           "a" * 64, "b" * 64, "/r.png", "/g.png", "3dgs@x", "0.1.0", "") for i in range(per)])
        shards.append(folder / "shards" / f"x-rank{k}-of-8.sqlite")
    with ResultsStore(folder / "results.sqlite") as store:
        t = time.perf_counter()
        merged = merge_shards(store, shards)
        t_merge = time.perf_counter() - t
    shutil.rmtree(tmp)
    one = runs["1 process, 2 threads"]
    lines = [f"{views} views of {size}x{size}, 2 methods, protocol 3dgs (PSNR, SSIM, LPIPS-VGG), cpu, wall time of "
             "the whole command (imports and network set-up included):", "", "| run | s | x 1 process, 2 threads |",
             "|---|---:|---:|"]
    lines += [f"| {k} | {v:.1f} | {one / v:.2f} |" for k, v in runs.items()]
    lines += ["", f"Merging {merged:,} rows from 8 shards into a store: {t_merge:.1f} s "
                  f"({merged / t_merge / 1e6:.2f} M rows/s).", ""]
    return lines
