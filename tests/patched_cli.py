"""``python tests/patched_cli.py ARGS``: the nvs-eval CLI with test-only behaviour patched in from the outside,
so the library carries no test hooks.

* ``NVS_EVAL_TEST_VIEW_DELAY_S``: sleep this long per view before each batch's computation (widens the window in
  which a kill lands mid-computation).
* ``NVS_EVAL_TEST_BATCH_VIEWS``: batches spanning views on the CPU too (the default keeps them to CUDA), at most
  this many small views each (a small scene then has several batches to share among ranks).
* ``NVS_EVAL_TEST_RAISE``: raise ``ValueError`` with this message from inside scoring (a bug, not bad input).
* ``NVS_EVAL_TEST_ENOSPC``: a file whose name ends with this is written as on a full disk (``fsync`` fails with
  ENOSPC and no file name, as the kernel reports it).
* ``NVS_EVAL_TEST_STORE_PAGES``: a results store may grow by this many pages (of 4096 bytes) in each connection, then
  SQLite answers ``SQLITE_FULL`` as on a full disk (``PRAGMA max_page_count``).
"""

import os
import sys
import time


def _patch() -> None:
    from nvs_eval.compute import runner

    delay = float(os.environ.get("NVS_EVAL_TEST_VIEW_DELAY_S", "0"))
    message = os.environ.get("NVS_EVAL_TEST_RAISE")
    compute = runner._compute_batch
    if os.environ.get("NVS_EVAL_TEST_BATCH_VIEWS"):
        runner.MAX_BATCH_VIEWS = int(os.environ["NVS_EVAL_TEST_BATCH_VIEWS"])
        runner.CROSS_VIEW_DEVICES = ("cpu", "cuda")

    def patched(evaluator, group):
        time.sleep(delay * sum(bool(lv.todo) for lv in group))
        if message:
            raise ValueError(message)
        return compute(evaluator, group)

    runner._compute_batch = patched
    full = os.environ.get("NVS_EVAL_TEST_ENOSPC")
    if full:
        import errno

        fsync = os.fsync

        def disk_full(fd):
            if os.readlink(f"/proc/self/fd/{fd}").endswith(full):
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
            return fsync(fd)

        os.fsync = disk_full
    pages = os.environ.get("NVS_EVAL_TEST_STORE_PAGES")
    if pages:
        _limit_store_pages(int(pages))


def _limit_store_pages(pages: int) -> None:
    import sqlite3

    connect = sqlite3.connect

    def limited(database, *args, **kwargs):
        conn = connect(database, *args, **kwargs)
        if str(database).endswith("results.sqlite"):
            now = conn.execute("PRAGMA page_count").fetchone()[0]
            conn.execute(f"PRAGMA max_page_count = {now + pages}")
        return conn

    sqlite3.connect = limited


if __name__ == "__main__":
    _patch()
    from nvs_eval.cli import main

    sys.exit(main(sys.argv[1:]))
