"""``nvs-eval check RUN --dataset KIND --dataset-root SCENE``: is this run comparable with the dataset's standard
protocol? Which dataset image each test view is, the split rule, where the ground truth came from, and a verdict
with its reasons (:mod:`nvs_eval.data.provenance`).

Exit status: 0 comparable, 3 (:data:`nvs_eval.cli.NOT_COMPARABLE`) not comparable (so a CI job or a paper's build
can stop on it), 2 a user error (a missing folder, a view that is no dataset image), 1 a bug."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from . import NOT_COMPARABLE
from ._common import one_of, path_argument


def add_arguments(p: argparse.ArgumentParser) -> None:
    from ..data.datasets import DATASET_KINDS
    from ..data.layouts import LAYOUTS

    path_argument(p, "run", help="a run folder in any layout score reads (its ground-truth images are checked)")
    p.add_argument("--layout", default=None, **one_of(LAYOUTS), help="the run's layout (default: detected)")
    path_argument(p, "--gt", must_be="folder", default=None, help="pairs layout: the run's ground-truth folder")
    p.add_argument("--iteration", type=int, default=None, help="3dgs / gsplat: which iteration (default latest)")
    p.add_argument("--dataset", required=True, **one_of(DATASET_KINDS), help="the dataset the run was trained on")
    path_argument(p, "--dataset-root", must_be="folder", required=True,
                   help="that dataset's scene folder (with several scenes in the run: the folder of scene folders)")
    p.add_argument("--scene", default=None,
                   help="the dataset scene (default: the --dataset-root folder's name; never the run folder's)")
    p.add_argument("--json", default=None, help="write the verdict, split, provenance and view matches here")
    p.add_argument("--force", action="store_true", help="overwrite an existing --json file")


def run(args: argparse.Namespace) -> int:
    from ..api import check_scenes
    from ..data.layouts import load_layout, pairs_scene
    from ..errors import StoreError, option
    from ..util.atomic import atomic_write_text

    out = Path(args.json) if args.json else None
    if out is not None and out.exists() and not args.force:
        raise StoreError("already exists", path=out, hint=f"pass {option('force')} to overwrite it")
    run_dir = Path(args.run)
    scenes = ([pairs_scene([("run", run_dir)], Path(args.gt))] if args.gt is not None else
              load_layout(run_dir, args.layout, iteration=args.iteration))
    results = check_scenes(scenes, args.dataset, Path(args.dataset_root), args.scene)
    for r in results:
        print(r.summary() if r.comparable else f"{r.scene}: not comparable with the standard protocol:")
        for reason in r.reasons:
            print(f"  - {reason}")
        standard = "the standard split" if r.split["standard"] else "not the standard split"
        source = r.gt["source"] or "no dataset image folder"
        print(f"  split: {r.split['rule']} ({len(r.split['test_views'])} views; {standard}); "
              f"ground truth: {source}{' (identical)' if r.gt['identical'] else ''} "
              f"{r.gt['size'][0]}x{r.gt['size'][1]}")
    if out is not None:
        doc = results[0].to_json() if len(results) == 1 else {"scenes": {r.scene: r.to_json() for r in results}}
        atomic_write_text(out, json.dumps(doc, indent=1))
    return 0 if all(r.comparable for r in results) else NOT_COMPARABLE
