"""``python tests/patched_cli.py ARGS``: the nvs-eval CLI with test-only behaviour patched in from the outside,
so the library carries no test hooks.

* ``NVS_EVAL_TEST_VIEW_DELAY_S``: sleep this long before each view's computation (widens the window in which a
  kill lands mid-computation).
* ``NVS_EVAL_TEST_RAISE``: raise ``ValueError`` with this message from inside scoring (a bug, not bad input).
* ``NVS_EVAL_TEST_ENOSPC``: a file whose name ends with this is written as on a full disk (``fsync`` fails with
  ENOSPC and no file name, as the kernel reports it).
"""

import os
import sys
import time


def _patch() -> None:
    from nvs_eval.evaluate import runner

    delay = float(os.environ.get("NVS_EVAL_TEST_VIEW_DELAY_S", "0"))
    message = os.environ.get("NVS_EVAL_TEST_RAISE")
    compute = runner._compute

    def patched(evaluator, lv):
        time.sleep(delay)
        if message:
            raise ValueError(message)
        return compute(evaluator, lv)

    runner._compute = patched
    full = os.environ.get("NVS_EVAL_TEST_ENOSPC")
    if full:
        import errno

        fsync = os.fsync

        def disk_full(fd):
            if os.readlink(f"/proc/self/fd/{fd}").endswith(full):
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
            return fsync(fd)

        os.fsync = disk_full


if __name__ == "__main__":
    _patch()
    from nvs_eval.cli import main

    sys.exit(main(sys.argv[1:]))
