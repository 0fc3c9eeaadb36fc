"""``nvs-eval baselines [DATASET] [--per-view [--json OUT]]``: the published results nvs-eval can print beside yours,
with their sources; ``--per-view`` lists NerfBaselines' value for every test view (nvs_eval.baselines.per_view)."""

from __future__ import annotations

import argparse
import sys


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("dataset", nargs="?", default=None, help="show one dataset's entries in full (per scene)")
    p.add_argument("--per-view", action="store_true",
                   help="NerfBaselines' published value of every test view (results branch @ 4c941b4)")
    p.add_argument("--json", default=None, metavar="OUT", help="with --per-view: write tidy rows "
                   '{"method", "dataset", "scene", "view", "index", "metric", "value"} to OUT')
    p.add_argument("--force", action="store_true", help="overwrite an existing --json file")
    p.add_argument("--dataset-root", default=None, metavar="DIR",
                   help="with --per-view mipnerf360: the folder holding one folder per scene, to name each view")
    p.add_argument("--method", default=None, help="with --per-view: one NerfBaselines method id (zipnerf, ...)")
    p.add_argument("--scene", default=None, help="with --per-view: one scene")


def run(args: argparse.Namespace) -> int:
    if args.per_view:
        return _per_view(args)
    from ..baselines import datasets, load
    from ..errors import UsageError

    if args.json or args.dataset_root or args.method or args.scene:
        raise UsageError("--json, --dataset-root, --method and --scene go with --per-view")
    for name in [args.dataset] if args.dataset else datasets():
        entries = load(name)
        print(f"{name}  (nvs-eval report --baselines {name}; config: baselines: {name})")
        _print_means(entries)
        if args.dataset:
            said: dict[str, str] = {}  # efficiency note -> the first method it was printed for
            for b in entries:
                _print_entry(b, said)
        print()
    return 0


def _print_means(entries) -> None:
    """One row per published method: its scenes, protocol and printed means, in blocks that fit the terminal."""
    from ..conventions.figures import FIGURES
    from ..conventions.registry import METRICS
    from ._common import _print_rows

    keys = list(dict.fromkeys(k for b in entries for k in b.printed_mean if k in METRICS or k in FIGURES))
    counts = {len(b.scenes) for b in entries}
    if len(counts) == 1:  # the same scenes for every method: said once, and the table fits one block
        print(f"  means over the {counts.pop()} scenes")
    head = ["  method", *(["scenes"] if counts else []), "protocol",
            *(METRICS[k].label if k in METRICS else FIGURES[k].label for k in keys)]
    rows = [[f"  {b.name}", *([len(b.scenes)] if counts else []), b.protocol, *(_printed(b, k) for k in keys)]
            for b in entries]
    _print_rows(head, rows, sys.stdout, keys=1)


def _printed(b, key: str, row: dict | None = None, decimals: str = "mean") -> str:
    """A published value as the source prints it (its decimals), or '' where the source has none: the printed
    mean, or with ``row`` a scene's value (``decimals="scenes"``)."""
    from ..conventions.figures import FIGURES

    values = b.printed_mean if row is None else row
    if key not in values:
        return ""
    v = values[key]
    if key in FIGURES:
        return f"{FIGURES[key].show(v):.{FIGURES[key].precision}f}"
    return f"{v:.{b.decimals.get(decimals, {}).get(key, 3)}f}"


def _print_entry(b, said: dict[str, str]) -> None:
    """One method's evidence, source and efficiency note, wrapped to the terminal (a note printed for an earlier
    method is referred to, not repeated), then its per-scene values as a table."""
    from ..conventions.figures import FIGURES
    from ..conventions.registry import METRICS
    from ..util.text import fill
    from ._common import _print_rows

    def say(text: str, indent: int = 14) -> None:
        print(fill(text, subsequent=" " * indent))

    print(f"\n  {b.name}")
    say(f"    evidence: {b.evidence}")
    say(f"    source:   {b.source}")
    if b.efficiency:
        figures = ", ".join(FIGURES[k].name for k in b.printed_mean if k in FIGURES)
        say(f"    efficiency ({figures}): " + (f"as for {said[b.efficiency]} above" if b.efficiency in said
                                                else b.efficiency))
        said.setdefault(b.efficiency, b.name)
    keys = list(dict.fromkeys(k for row in b.scenes.values() for k in row if k in METRICS or k in FIGURES))
    head = ["    scene", *(METRICS[k].label if k in METRICS else FIGURES[k].label for k in keys)]
    rows = [[f"    {scene}", *(_printed(b, k, row, "scenes") for k in keys)] for scene, row in b.scenes.items()]
    _print_rows(head, rows, sys.stdout, keys=1)


def _lpips_note(dataset: str) -> str:
    """Which LPIPS the per-view files hold, and, where the dataset's published means print another, that the two
    do not compare (a reader putting the files' values beside the website's table would otherwise mix networks)."""
    from ..baselines import datasets, load

    vgg = dataset in datasets() and any("lpips_vgg" in b.printed_mean for b in load(dataset))
    return ("LPIPS = lpips_alex (the files' `lpips` is AlexNet LPIPS" +
            (f"; the website's means, `nvs-eval baselines {dataset}`, print LPIPS (VGG): another network, never "
             "compare the two)" if vgg else ")"))


def _view_rows(dataset: str, wanted: list, images: dict, lines: list[str]) -> list[dict]:
    """Every published per-view value of the ``wanted`` files as rows; their lines appended to ``lines``."""
    from ..baselines import per_view as pv

    rows = []
    for s in wanted:
        names = pv.view_names(dataset, s.scene, s.n_views, images.get(s.scene))
        lines.append(f"  {s.method} {s.scene}: {s.n_views} views, NerfBaselines {s.nb_version}, {s.path} "
                     f"sha256 {s.sha256[:12]}")
        for i, view in enumerate(names):
            vals = {metric: float(s.values(metric)[i]) for metric in pv.METRIC_IDS.values()}
            label = view if view is not None else f"#{i} (unnamed)"
            lines.append(f"    {label:16s} " + "  ".join(f"{k} {v:.5f}" for k, v in vals.items()))
            rows += [{"method": s.method, "dataset": s.dataset, "scene": s.scene, "view": view, "index": i,
                      "metric": k, "value": v} for k, v in vals.items()]
    return rows


def _per_view(args: argparse.Namespace) -> int:
    import json
    from pathlib import Path

    from ..baselines import per_view as pv
    from ..errors import UsageError
    from ._common import wrap

    if args.dataset is None:
        raise UsageError(f"--per-view needs a DATASET: one of {', '.join(pv.per_view_datasets())}")
    if args.json and Path(args.json).exists() and not args.force:
        from ..errors import StoreError, option

        raise StoreError("already exists", path=args.json, hint=f"pass {option('force')} to overwrite it")
    scenes = pv.load_per_view(args.dataset)
    wanted = [s for s in scenes if args.method in (None, s.method) and args.scene in (None, s.scene)]
    if not wanted:
        raise UsageError(f"no published {args.dataset} results for {args.method or 'any method'} "
                         f"on {args.scene or 'any scene'}; "
                         f"methods: {', '.join(sorted({s.method for s in scenes}))}; "
                         f"scenes: {', '.join(sorted({s.scene for s in scenes}))}")
    images = {s.scene: pv.dataset_images(args.dataset, Path(args.dataset_root) / s.scene)
              for s in wanted} if args.dataset_root else {}
    m = pv.manifest()
    lines = [wrap(f"{args.dataset}: NerfBaselines per-view results, {m['repository']} branch {m['branch']} @ "
                  f"{m['commit']}; protocol {pv.PROTOCOL}; {_lpips_note(args.dataset)}")]
    rows = _view_rows(args.dataset, wanted, images, lines)
    if any(r["view"] is None for r in rows):
        lines.append("  unnamed views: " + ("give --dataset-root (one folder per scene) to name them from the "
                                            "dataset's sorted image names" if args.dataset == "mipnerf360" else
                                            "NerfBaselines' split of this dataset is not reproduced by nvs-eval"))
    if args.json:  # written before anything is printed: a reader that stops early (`| head`) loses no file
        out = {"source": {k: m[k] for k in ("repository", "branch", "commit")}, "protocol": pv.PROTOCOL,
               "files": [{k: getattr(s, k) for k in ("method", "dataset", "scene", "path", "sha256", "nb_version")}
                         for s in wanted], "rows": rows}
        from ..util.atomic import atomic_write_text

        atomic_write_text(Path(args.json), json.dumps(out, indent=1) + "\n")
        lines.append(f"wrote {len(rows)} rows to {args.json}")
    print("\n".join(lines))
    return 0
