"""``nvs-eval``: each command is a short module imported only when it runs, so ``--help`` is instant.

User errors print one line on stderr and exit with code 2; anything else is a bug in nvs-eval: one line saying so,
exit code 1 (``--debug`` prints the traceback of either first; the line and the exit status stay the same).
``check`` exits 3 when its verdict is "not comparable".
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys
import traceback

COMMANDS = {
    "score": "score folders of renders against ground truth (or an auto-detected layout)",
    "evaluate": "run a benchmark YAML into the results store, then write the report",
    "demo": "build a small benchmark from scikit-image's photographs, evaluate it and write the report",
    "report": "write tables (LaTeX, Markdown, CSV) and the HTML report from a results store",
    "heatmap": "error heatmap / LPIPS spatial map of one render against its ground truth",
    "check": "is a run comparable with the dataset's standard protocol? (views, split, ground-truth provenance)",
    "explain": "find the evaluation convention that reproduces given numbers (a paper's, a tool's)",
    "protocols": "list the evaluation protocols with every setting and its source",
    "baselines": "list the published results that reports can print beside yours, with their sources",
    "weights": "show where each network weight comes from; fetch what is missing",
    "recover": "read the rows of a damaged results store back into a new store in its place",
}


STORING = ("evaluate", "demo")  # the commands that write a results store as they go

# Exit statuses: 0 done, 1 a bug in nvs-eval, 2 a user error (one line), 3 ``check``'s verdict "not comparable"
# (distinct from both, so a CI job or a paper's build can stop on it), 130 interrupted.
NOT_COMPARABLE = 3


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="nvs-eval", description="Evaluate novel-view synthesis renders.")
    parser.add_argument("--debug", action="store_true", help="show tracebacks for errors")
    parser.add_argument("--version", action="version", version=f"nvs-eval {_version()}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    parser.commands = {}
    for name, help_text in COMMANDS.items():
        p = parser.commands[name] = sub.add_parser(name, help=help_text, description=help_text)
        importlib.import_module(f"nvs_eval.cli.{name}_cmd").add_arguments(p)
        # after the command too (``nvs-eval score ... --debug``); SUPPRESS keeps a --debug given before it
        p.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help="show tracebacks for errors")
    return parser


def _version() -> str:
    from ..util.version import __version__

    return __version__


def _stdout_closed() -> bool:
    """Whether standard output is a pipe whose reader has gone (``| head``), as opposed to any other broken pipe."""
    import select

    try:
        poll = select.poll()
        poll.register(sys.stdout.fileno(), select.POLLOUT)
        return any(ev & (select.POLLERR | select.POLLHUP) for _, ev in poll.poll(0))
    except (OSError, ValueError, AttributeError):
        return False


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.debug else logging.WARNING, format="%(message)s")
    module = importlib.import_module(f"nvs_eval.cli.{args.command}_cmd")
    from ..errors import NvsEvalError

    try:
        from ._common import apply_gpu_memory, check_paths, warn_plugins

        check_paths(parser.commands[args.command], args)
        warn_plugins(args)
        apply_gpu_memory(args)
        status = int(module.run(args) or 0)
        sys.stdout.flush()  # a closed pipe shows here, not in the interpreter's last flush
        return status
    except BrokenPipeError as e:  # `nvs-eval protocols | head`: the reader left; not an error of the command
        if not _stdout_closed():
            print(f"nvs-eval: error: {e}", file=sys.stderr)
            return 2
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # what is still buffered goes nowhere
        return 0
    except KeyboardInterrupt:
        print("nvs-eval: interrupted; everything computed so far is stored; run the same command again to resume",
              file=sys.stderr)
        return 130
    except (NvsEvalError, OSError) as e:
        if args.debug:  # the traceback, then the same line and exit status as without --debug
            traceback.print_exc()
        if isinstance(e, OSError) and e.filename:  # a full disk, a read-only folder: one line naming the file
            from ..results.faults import os_fault

            e = os_fault(e, e.filename or "", store_kept=args.command in (*STORING, "report"))
        print(f"nvs-eval: error: {e.render('cli') if isinstance(e, NvsEvalError) else e}", file=sys.stderr)
        if isinstance(e, OSError) and args.command in STORING:
            print("nvs-eval: every view scored before this error is in the results store; fix the cause and run "
                  "the same command again: stored rows are reused, not recomputed", file=sys.stderr)
        return 2
    except Exception as e:  # noqa: BLE001 - anything else is a bug in nvs-eval, not the user's input
        if args.debug:
            traceback.print_exc()
        print(f"nvs-eval: internal error, please report it with the output of --debug: {type(e).__name__}: {e}",
              file=sys.stderr)
        return 1


def entry() -> None:
    sys.exit(main())
