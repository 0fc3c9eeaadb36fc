"""``python tests/patched_cli.py ARGS``: the nvs-eval CLI with test-only behaviour patched in from the outside,
so the library carries no test hooks.

* ``NVS_EVAL_TEST_VIEW_DELAY_S``: sleep this long before each view's computation (widens the window in which a
  kill lands mid-computation).
* ``NVS_EVAL_TEST_RAISE``: raise ``ValueError`` with this message from inside scoring (a bug, not bad input).
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


if __name__ == "__main__":
    _patch()
    from nvs_eval.cli import main

    sys.exit(main(sys.argv[1:]))
