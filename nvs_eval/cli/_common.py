"""Arguments and output shared by several commands. Choices come from the registries (light modules only, so
``--help`` stays instant)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..util.text import WIDTH  # the width terminal tables and captions keep to (wider tables continue in blocks)


def path_argument(p: argparse.ArgumentParser, *names: str, must_be: str = "path", **kw) -> argparse.Action:
    """An argument naming a file or folder that must exist (``must_be``: ``"file"``, ``"folder"`` or ``"path"``).
    :func:`check_paths` checks every such argument before the command does any work, so a missing
    ``--dataset-root`` is named as missing at once, not after the scoring it would have followed."""
    action = p.add_argument(*names, **kw)
    action.must_be = must_be
    return action


def check_paths(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """Raise one :class:`~nvs_eval.errors.UsageError` naming every path argument of ``parser`` (made with
    :func:`path_argument`) that does not exist, or is a file where a folder is expected (or the reverse)."""
    from pathlib import Path

    from ..errors import UsageError

    problems = []
    for action in parser._actions:
        must_be, value = getattr(action, "must_be", None), getattr(args, action.dest, None)
        if must_be is None or value is None:
            continue
        name = action.option_strings[0] if action.option_strings else action.dest.upper()
        for v in value if isinstance(value, list) else [value]:
            path = Path(v)
            if not path.exists():
                problems.append(f"{name} {v}: no such {'file or folder' if must_be == 'path' else must_be}")
            elif must_be == "folder" and not path.is_dir() or must_be == "file" and not path.is_file():
                problems.append(f"{name} {v}: not a {must_be}")
    if problems:
        raise UsageError("; ".join(problems), hint="nothing was done" if len(problems) == 1 else
                         f"{len(problems)} path arguments are wrong; nothing was done")


def add_protocol_args(p: argparse.ArgumentParser) -> None:
    from ..conventions.settings import opt_ins

    p.add_argument("--protocol", default=None, help="evaluation protocol (see `nvs-eval protocols`; default nvs-eval)")
    p.add_argument("--metrics", default=None, help="comma-separated metric ids, e.g. psnr,ssim,lpips_alex,lpips_vgg")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N (default auto)")
    for setting in opt_ins():  # a flag per declared opt-in (--resize-gt, --appearance-fit); the protocol checks it
        p.add_argument(f"--{setting.name.replace('_', '-')}", default=None, metavar=setting.name.upper(),
                       help=setting.cli_help)
    add_precision_arg(p)


def protocol_from_args(args: argparse.Namespace):
    """The protocol ``--protocol`` names with the opt-in flags applied."""
    from ..conventions.protocols import get_protocol
    from ..conventions.settings import opt_ins

    return get_protocol(args.protocol).with_opt_ins(**{s.name: getattr(args, s.name) for s in opt_ins()})


def add_precision_arg(p: argparse.ArgumentParser) -> None:
    from ..compute.precision import PRECISIONS

    p.add_argument("--precision", default="float32", choices=list(PRECISIONS),
                   help="float32 (exact, default); bf16 / fp16 / tf32 run LPIPS faster with different numbers "
                        "(opt-in; see benchmarks/RESULTS.md for the measured error)")
    p.add_argument("--gpu-memory", type=float, default=None, metavar="GB",
                   help="cap this process's CUDA memory at GB gigabytes (a hard cap: views that would not fit are "
                        "scored in tiles, with the same values; default: 90%% of what is free)")


def apply_gpu_memory(args: argparse.Namespace) -> None:
    """``--gpu-memory`` reaches every evaluator of the process (and of a torchrun rank) through the environment."""
    import os

    if getattr(args, "gpu_memory", None) is not None:
        from ..compute.evaluator import gpu_memory_cap

        try:
            gpu_memory_cap(args.gpu_memory)
        except ValueError as e:
            raise type(e)(f"--gpu-memory {args.gpu_memory:g}: {e}") from None
        os.environ["NVS_EVAL_GPU_MEMORY"] = str(args.gpu_memory)


def print_table(df, metrics, by=("method",), file=None) -> None:
    """A plain-text table of means. A method with several runs (``name#run=<run>``) is one row, ``mean ± std``
    over its runs' means (sample std), as the report's tables print it; ``views`` counts one run's views. Where a
    method lacks some of its dataset's scenes, a ``scenes`` column says ``k of n`` (its means cover fewer)."""
    from ..conventions.registry import METRICS
    from ..results.aggregate import over_runs, split_runs

    file = file or sys.stdout
    mean, std, runs, views = over_runs(df, metrics, by)
    several = bool((runs > 1).any())
    scenes = {}
    if "dataset" in by and "scene" in df.columns:
        have, d = split_runs(df).groupby(list(by))["scene"].nunique(), list(by).index("dataset")
        total = df.groupby("dataset")["scene"].nunique()
        if any(n < total[k[d]] for k, n in have.items()):
            scenes = {k: f"{n} of {total[k[d]]}" for k, n in have.items()}
    head = [*by, *[METRICS[m].label for m in metrics], "views", *(["scenes"] if scenes else []),
            *(["runs"] if several else [])]
    rows = []
    for k in mean.index:
        cells = []
        for m in metrics:
            v = f"{mean.at[k, m]:.{METRICS[m].precision + 2}f}"
            cells.append(f"{v} ± {std.at[k, m]:.{METRICS[m].precision + 2}f}" if runs[k] > 1 else v)
        key = k if isinstance(k, tuple) else (k,)
        rows.append([*key, *cells, str(views[k]), *([scenes[k]] if scenes else []),
                     *([str(runs[k])] if several else [])])
    _print_rows(head, rows, file, keys=len(by))


def print_side_by_side(frames: dict, metrics, by=("method",), file=None) -> None:
    """Means of the same views under several protocols (``{label: per-view frame}``), each metric's columns side
    by side: ``PSNR (raw)  PSNR (affine)  ...``."""
    from ..conventions.registry import METRICS
    from ..results.aggregate import over_runs

    means = {label: over_runs(df, metrics, by)[0] for label, df in frames.items()}
    first = next(iter(means.values()))
    head = [*by, *[f"{METRICS[m].label} ({label})" for m in metrics for label in means]]
    rows = [[*(k if isinstance(k, tuple) else (k,)),
             *[f"{means[label].at[k, m]:.{METRICS[m].precision + 2}f}" for m in metrics for label in means]]
            for k in first.index]
    _print_rows(head, rows, file or sys.stdout, keys=len(by))


def wrap(text: str, width: int = WIDTH) -> str:
    """A caption or note wrapped to ``width`` columns, continuation lines indented.

    >>> print(wrap("protocol: " + "word " * 30, 40))
    protocol: word word word word word word
      word word word word word word word word
      word word word word word word word word
      word word word word word word word word
    """
    from ..util.text import fill

    return fill(text, width=width)


def _print_rows(head, rows, file, keys: int = 1, width: int = WIDTH) -> None:
    """Columns padded to their widths; the value columns after the first ``keys`` key columns are split into
    blocks that each fit ``width`` (the key columns repeated in each block, a blank line between blocks)."""
    widths = [max(len(str(x)) for x in col) for col in zip(head, *rows)]
    key_width = sum(widths[:keys]) + 2 * keys
    blocks, block, used = [], [], key_width
    for i in range(keys, len(head)):
        if block and used + widths[i] > width:
            blocks.append(block)
            block, used = [], key_width
        block.append(i)
        used += widths[i] + 2
    blocks.append(block)
    for b, cols in enumerate(blocks):
        cols = [*range(keys), *cols]
        if b:
            print(file=file)
        for r in [head, *rows]:
            print("  ".join(str(r[i]).ljust(widths[i]) for i in cols).rstrip(), file=file)


def print_auxiliary(paired, file=None) -> None:
    """One line per method whose auxiliary files (depth, normals, ...) were left out of scoring."""
    file = file or sys.stderr
    for p in paired:
        for method, a in p.auxiliary_summary().items():
            where = p.scene.name if p.scene.dataset == "default" else f"{p.scene.dataset}/{p.scene.name}"
            print(f"scene {where}, method {method}: left out {a['count']} auxiliary file(s) "
                  f"({', '.join(a['suffixes'])}); --strict makes them an error", file=file)


def one_of(registry) -> dict:
    """``add_argument`` keywords for a name from an open registry (layouts, dataset kinds): its names listed as
    argparse lists choices, and a name that is not there refused with the registry's reason, which names a plugin
    that did not load and its error (argparse's own "invalid choice" could not)."""
    def parse(name: str) -> str:
        if name in registry:
            return name
        raise argparse.ArgumentTypeError(registry.unknown(name))

    parse.__name__ = registry.what  # argparse names the type in its message
    return {"type": parse, "metavar": "{" + ",".join(registry) + "}"}


def warn_plugins(args: argparse.Namespace | None = None) -> None:
    """One line per installed plugin package with an entry point that did not load (metrics, layouts, dataset kinds,
    protocols; the built-ins are unaffected). A package whose entry the command asks for (``--metrics``,
    ``--layout``, ``--dataset``, ``--protocol``) is left to the error that says the same, so it is said once."""
    from ..conventions.registry import METRICS
    from ..data.datasets import DATASET_KINDS
    from ..data.layouts import LAYOUTS
    from ..entrypoints import package_warnings

    registries = [METRICS, LAYOUTS, DATASET_KINDS]
    # the protocols module imports torch: only for the commands that score, and the one that lists them
    if hasattr(args, "protocol") or getattr(args, "command", None) == "protocols":
        from ..conventions.protocols import PROTOCOLS

        registries.append(PROTOCOLS)
    for registry in registries:
        len(registry)  # the plugins load on first use
    requested = set(str(getattr(args, "metrics", None) or "").split(","))
    requested |= {str(getattr(args, k, None)) for k in ("layout", "dataset", "protocol")}
    for line in package_warnings(requested):
        print(f"nvs-eval: warning: {line}", file=sys.stderr)


def method_paths(arg: str) -> list[tuple[str, Path]]:
    """``PATH``, ``NAME=PATH`` or ``NAME=PATH1,PATH2,...`` / ``NAME=GLOB`` (several runs: ``NAME#run=<run>``, the run
    named by its folder when those differ, else run1, run2, ...)."""
    import glob

    from ..errors import UsageError
    from ..results.aggregate import RUN_SEP, run_key

    if not ("=" in arg and not Path(arg).exists()):
        path = Path(arg)
        return [(path.resolve().name, path)]
    name, spec = arg.split("=", 1)
    if RUN_SEP in name:
        raise UsageError(f"{arg}: '{RUN_SEP}' separates a method from its run; choose another name")
    paths = []
    for part in filter(None, spec.split(",")):
        found = sorted(glob.glob(part)) if any(ch in part for ch in "*?[") else [part]
        if not found:
            raise UsageError(f"{arg}: {part} matches nothing")
        paths += [Path(p) for p in found]
    if len(paths) == 1:
        return [(name, paths[0])]
    labels = [p.name for p in paths]
    if len(set(labels)) != len(labels):
        labels = [p.parent.name for p in paths] if len({p.parent.name for p in paths}) == len(paths) else \
            [f"run{i + 1}" for i in range(len(paths))]
    return [(run_key(name, r), p) for r, p in zip(labels, paths)]


def scenes_of(args: argparse.Namespace) -> list:
    """The scenes of ``score``'s and ``explain``'s positional runs and ground-truth options
    (:func:`nvs_eval.api.scenes_from_paths`)."""
    from ..api import scenes_from_paths

    renders = [(name if "=" in a else None, path) for a in args.renders for name, path in method_paths(a)]
    if args.gt is not None:  # plain folders: each named by its folder (or NAME=)
        renders = [(name, path) for a in args.renders for name, path in method_paths(a)]
    return scenes_from_paths(renders, gt=args.gt, layout=args.layout, iteration=getattr(args, "iteration", None),
                             dataset=args.dataset, dataset_root=args.dataset_root,
                             eval_index=getattr(args, "eval_index", None), images=args.images,
                             scene=getattr(args, "scene", None))
