"""``nvs-eval explain RENDERS --gt GT --target psnr=27.21,ssim=0.815``: which convention gives these numbers?"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from ._common import one_of, path_argument


def add_arguments(p: argparse.ArgumentParser) -> None:
    from ..data.datasets import DATASET_KINDS
    from ..data.layouts import LAYOUTS

    p.add_argument("renders", nargs="+", help="the renders: a folder (with --gt), or a layout folder as `score` takes")
    path_argument(p, "--gt", must_be="folder", default=None, help="ground-truth folder (omit to auto-detect a layout)")
    p.add_argument("--layout", default=None, **one_of(LAYOUTS), help="the folder layout (default: detected)")
    p.add_argument("--iteration", type=int, default=None, help="3dgs / gsplat / multinerf: which iteration or step")
    p.add_argument("--dataset", default=None, **one_of(DATASET_KINDS),
                   help="multinerf: the dataset kind whose held-out views are the ground truth")
    path_argument(p, "--dataset-root", must_be="folder", default=None, help="multinerf: that dataset's scene folder")
    p.add_argument("--images", default="images", help="llff / mipnerf360: the image folder (images_4, ...)")
    p.add_argument("--target", default=None,
                   help="the numbers to reproduce, e.g. psnr=27.21,ssim=0.815,lpips_vgg=0.214 (lpips: any network); "
                        "each is matched to half a unit of its last printed digit")
    path_argument(p, "--target-file", must_be="file", default=None,
                   help="targets from a 3DGS results.json / per_view.json, a NerfBaselines results JSON or the "
                        "--json of `nvs-eval score` (per-view values: every view must match)")
    p.add_argument("--target-method", default=None, help="which method of a --target-file (e.g. ours_30000)")
    p.add_argument("--method", default=None, help="which method of a layout holding several")
    p.add_argument("--json", default=None, help="write the ranked matches and the closest variants here")
    p.add_argument("--write-protocol", default=None, metavar="FILE.yaml",
                   help="write the best match as a protocol YAML that `score --protocol FILE` takes (nothing is "
                        "written unless asked; a file an earlier `explain` wrote is replaced, any other needs --force)")
    p.add_argument("--top", type=int, default=5, help="matches to print (default 5; --json has up to 200)")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N (default auto)")
    p.add_argument("--force", action="store_true", help="overwrite --json / --write-protocol files")


def _pairs(args):
    from ..api import pair_scenes
    from ..data.images import read_image
    from ..errors import UsageError
    from ..explain import ViewPair
    from ._common import scenes_of

    paired = pair_scenes(scenes_of(args))
    if len(paired) != 1:
        raise UsageError(f"explain takes one scene; got {len(paired)} ({', '.join(p.scene.name for p in paired)}): "
                         "give one scene's folder")
    jobs = paired[0].jobs
    methods = sorted({m for j in jobs for m in j.renders})
    method = args.method or (methods[0] if len(methods) == 1 else None)
    if method not in methods:
        raise UsageError(f"explain takes one method; this input holds {', '.join(methods)}: pick one with --method")
    out = []
    for j in jobs:
        if method in j.renders:
            out.append(ViewPair(j.view, read_image(j.renders[method], None), read_image(j.gt, None)))
            if out[-1].render.shape[:2] != out[-1].gt.shape[:2]:
                raise UsageError(f"{j.renders[method]}: {out[-1].render.shape[1]}x{out[-1].render.shape[0]}, but its "
                                 f"ground truth {j.gt} is {out[-1].gt.shape[1]}x{out[-1].gt.shape[0]}")
    return out


MARK = "# written by `nvs-eval explain`: the convention that reproduced the targets (nvs-eval score --protocol FILE)"
MARK_JSON = "nvs-eval explain"


def _ours(path: Path) -> bool:
    """Whether ``path`` is an earlier `explain`'s output (a re-run may replace it without --force)."""
    try:
        head = path.read_text(errors="replace")[:4096]
    except OSError:
        return False
    return head.startswith(MARK) or f'"written_by": "{MARK_JSON}"' in head


def _fmt_diff(diff: dict) -> str:
    return ", ".join(f"{k}: {a} -> {b}" for k, (a, b) in diff.items()) or "(the preset itself)"


def run(args: argparse.Namespace) -> int:
    from ..compute.evaluator import resolve_device
    from ..errors import StoreError, UsageError
    from ..explain import compute, explain, json_ready, parse_targets, targets_from_file
    from ..util.atomic import atomic_write_text

    if (args.target is None) == (args.target_file is None):
        raise UsageError("give the numbers to reproduce: --target psnr=...,ssim=... or --target-file FILE")
    for path in (args.json, args.write_protocol):
        if path and Path(path).exists() and not args.force and not _ours(Path(path)):
            raise StoreError(f"{path}: already exists and was not written by `nvs-eval explain`; pass --force to "
                             "overwrite it")
    pairs = _pairs(args)
    views = [p.view for p in pairs]
    targets = parse_targets(args.target) if args.target else targets_from_file(args.target_file, views,
                                                                              args.target_method)
    for t in targets.values():
        if t.per_view is not None:
            missing = sorted(set(t.per_view) - set(views))
            if missing:
                raise UsageError(f"{args.target_file}: {t.metric} has values for view(s) not paired here: "
                                 f"{', '.join(missing[:5])}")
    device = resolve_device(args.device)
    print(f"explain: {len(pairs)} view(s); targets " + ", ".join(
        f"{m}={t.value:.6g} (±{t.tolerance:g}{', per view' if t.per_view else ''})" for m, t in targets.items()),
        file=sys.stderr)
    from ..progress import Progress

    with Progress(len(pairs), "explain", "view") as bar:
        search = compute(pairs, device=str(device), progress=lambda i, n: bar.update(1))
    result = explain(search, targets)
    n_settings = len(search.values)
    variants = ", ".join(f"v{ver} {inp}" for inp, ver in search.lpips_variants)
    print(f"searched {n_settings} background/quantisation setting(s) x {len(search.ssim_specs)} SSIM x "
          f"{len(search.lpips_variants) * len(search.nets)} LPIPS ({variants}) x 2 PSNR aggregations; "
          f"{result['match_count']} combination(s) reproduce every target")
    _print_result(args, result, targets)
    if args.json:
        atomic_write_text(Path(args.json), json.dumps({"written_by": MARK_JSON, **json_ready(result)}, indent=1))
    return 0


def _agreement(result: dict) -> str:
    """What the targets establish and, when several combinations match, what they cannot tell apart."""
    from ..explain.ranking import show_setting
    from ._common import wrap

    settled = "; ".join(f"{k} {show_setting(v)}" for k, v in result["settled"].items())
    text = wrap(f"the targets establish: {settled or 'none of the searched settings'}")
    if result["undetermined"]:
        open_ = "; ".join(f"{k} ({' / '.join(v)})" for k, v in result["undetermined"].items())
        text += "\n" + wrap(f"they cannot tell apart: {open_}: each gives the same numbers at the targets' "
                            "precision; more printed digits, per-view targets (--target-file) or another metric can "
                            "separate them")
    return text


def _print_result(args: argparse.Namespace, result: dict, targets: dict) -> None:
    """The ranked matches (and the best written as a protocol when asked), or the closest variants."""
    from ..conventions.protocols import protocol_yaml
    from ..util.atomic import atomic_write_text

    if result["matches"]:
        print(_agreement(result))
        shown = min(args.top, len(result["matches"]))
        if result["match_count"] > shown:
            print(f"the {shown} closest to a preset of the {result['match_count']} (--top N shows more):")
        for m in result["matches"][: args.top]:
            values = "  ".join(f"{k} {v:.6g} ({m['error'][k]:+.2g})" for k, v in m["values"].items())
            print(f"{m['rank']:3d}. nearest preset {m['nearest_preset']}: {_fmt_diff(m['differs_from_preset'])}\n"
                  f"     {values}")
        if args.write_protocol:
            atomic_write_text(Path(args.write_protocol),
                              MARK + "\n" + protocol_yaml(result["matches"][0]["_protocol"]))
            print(f"best match written to {args.write_protocol} (nvs-eval score ... --protocol {args.write_protocol})")
    else:
        print("no combination reproduces every target. Closest per metric (miss = value - target):")
        for metric, rows in result["closest"].items():
            t = targets[metric]
            print(f"  {metric} (target {t.value:.6g} ±{t.tolerance:g}):")
            for r in rows[:3]:
                print(f"    {r['value']:.6g}, miss {r['miss']:+.4g} ({r['distance']:.1f}x tolerance): nearest preset "
                      f"{r['nearest_preset']}, {_fmt_diff(r['differs_from_preset'])}")
