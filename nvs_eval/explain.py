"""``nvs-eval explain``: which evaluation convention reproduces a paper's (or a tool's) numbers?

The conventions that move PSNR, SSIM and LPIPS are data here (:class:`~nvs_eval.protocols.Protocol`), so they
can be searched. Given renders, their ground truth and target values, every combination of

* quantisation: none, or 8-bit ``round`` / ``truncate`` of the render, the ground truth or both;
* background for RGBA images: white, black, or the colour channels as stored (only when an image has transparent
  pixels);
* SSIM: Gaussian 11/1.5 or uniform 7 window; valid / zero-same / reflect-same padding; population or sample
  covariance; data range 1, 2 or from the pair; no variance floor, dm_pix's (0), NerfBaselines' (2^-46) or
  torchmetrics' clamp of the variances; RGB-mean or BT.601 luma;
* LPIPS: AlexNet, VGG (and SqueezeNet when its weights are on the machine), fed [-1, 1] or [0, 1] unmapped (v0.1
  linear layers, the only published ones);
* aggregation of PSNR: mean of per-view values or PSNR of the mean MSE;

is evaluated, and the combinations that reproduce every target within half a unit of its last printed digit are
ranked: fewest settings away from a preset first (a preset itself has none), then by the summed distance to the
targets in tolerance units. Unrounded targets (a tool's JSON, float32 values) are matched to
:data:`FLOAT_TOLERANCE`.

Work is shared so that the whole search costs a small multiple of one ``score``: each image is decoded once;
quantisation variants that leave an image unchanged (8-bit files under ``round``) are recognised as the same
tensor and scored once; LPIPS features are computed once per network, input mapping and distinct image; SSIM's
five filtered moments once per window, padding and channel choice, and every covariance / range / floor variant is
formed from them.
"""

from __future__ import annotations

import functools
import itertools
import json
import math
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import get_args

import numpy as np
import torch

from .data.images import WHITE
from .errors import UsageError
from .metrics.lpips import InputMapping, build_lpips
from .metrics.ssim import Channels, Covariance, Padding, SSIMSpec, _combine, _data_range, _filter, to_channels
from .metrics.weights import locate_backbone
from .protocols import PROTOCOLS, Protocol, Quantize, QuantizeImages
from .registry import DEFAULT_AGGREGATION

FLOAT_TOLERANCE = 1e-4  # targets given with more than 6 decimals (unrounded floats) match to this
QUANTIZATIONS = [("none", "none")] + [(m, w) for m in get_args(Quantize)[1:] for w in get_args(QuantizeImages)[1:]]
BACKGROUNDS = {"white": WHITE, "black": (0.0, 0.0, 0.0), "stored": "stored"}
SSIM_WINDOWS = {"gaussian-11": {"window": "gaussian", "size": 11, "sigma": 1.5},
                "uniform-7": {"window": "uniform", "size": 7, "sigma": 1.5}}
SSIM_PADDINGS, SSIM_CHANNELS, SSIM_COVARIANCES = get_args(Padding), get_args(Channels), get_args(Covariance)
SSIM_RANGES = (1.0, 2.0, None)
SSIM_FLOORS = {"none": {}, "dm_pix": {"variance_floor": 0.0}, "nerfbaselines": {"variance_floor": 2.0**-46},
               "torchmetrics": {"clamp_variance_only": True}}
LPIPS_INPUTS = get_args(InputMapping)
TARGET_METRICS = ("psnr", "ssim", "lpips", "lpips_alex", "lpips_vgg", "lpips_squeeze")


@dataclass
class TargetValue:
    """One target: a value (or per-view values) and how close counts as reproducing it."""

    metric: str
    value: float
    tolerance: float
    per_view: dict[str, float] | None = None


def tolerance_of(text: str) -> float:
    """Half a unit of the last printed digit (``"27.21"`` -> 0.005), or :data:`FLOAT_TOLERANCE` for
    unrounded floats (more than 6 decimals).

    >>> tolerance_of("27.21"), tolerance_of("0.815"), tolerance_of("0.81530499458")
    (0.005, 0.0005, 0.0001)
    """
    text = text.strip().lower()
    mantissa = text.split("e")[0]
    decimals = len(mantissa.split(".")[1]) if "." in mantissa else 0
    if decimals > 6:
        return FLOAT_TOLERANCE
    exp = int(text.split("e")[1]) if "e" in text else 0
    return 0.5 * 10.0 ** (exp - decimals)


def _metric_name(name: str) -> str:
    m = name.strip().lower()
    if m not in TARGET_METRICS:
        raise UsageError(f"unknown target metric {name!r}; expected one of {', '.join(TARGET_METRICS)} "
                         "(lpips: any network)")
    return m


def parse_targets(text: str) -> dict[str, TargetValue]:
    """``"psnr=27.21,ssim=0.815,lpips_vgg=0.214"`` -> targets (tolerances from the printed digits).

    >>> t = parse_targets("psnr=27.21, lpips=0.2140")
    >>> t["psnr"].tolerance, t["lpips"].tolerance
    (0.005, 5e-05)
    """
    out = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        name, sep, value = part.partition("=")
        if not sep:
            raise UsageError(f"--target: expected METRIC=VALUE, got {part!r}")
        try:
            v = float(value)
        except ValueError:
            raise UsageError(f"--target: {part!r}: {value!r} is not a number") from None
        out[_metric_name(name)] = TargetValue(_metric_name(name), v, tolerance_of(value))
    if not out:
        raise UsageError("--target: no targets given")
    return out




def _float_target(metric: str, values, views: list[str] | None, source: str) -> TargetValue:
    if isinstance(values, dict):  # per view, by file name
        per = {Path(str(k)).stem: float(v) for k, v in values.items()}
        return TargetValue(metric, float(np.mean(list(per.values()))), FLOAT_TOLERANCE, per)
    if isinstance(values, list):
        if views is not None and len(values) != len(views):
            raise UsageError(f"{source}: {metric} has {len(values)} per-view values but {len(views)} views are "
                             "paired")
        per = dict(zip(views or [str(i) for i in range(len(values))], map(float, values)))
        return TargetValue(metric, float(np.mean(values)), FLOAT_TOLERANCE, per)
    return TargetValue(metric, float(values), FLOAT_TOLERANCE)


def targets_from_file(path: str | Path, views: list[str] | None = None, method: str | None = None
                      ) -> dict[str, TargetValue]:
    """Targets from a tool's own output:

    * 3DGS ``results.json`` (``{"ours_30000": {"SSIM": ..., "PSNR": ..., "LPIPS": ...}}``) and ``per_view.json``
      (the same with ``{"00000.png": value}`` per metric: every view must match);
    * a NerfBaselines results JSON (``metrics_raw``: per-view float32 values, base64, in view order);
    * the ``--json`` of ``nvs-eval score`` (per view; ``method`` picks one when it holds several).
    """
    import base64
    import struct

    path = Path(path)
    try:
        doc = json.loads(path.read_text())
    except FileNotFoundError:
        raise UsageError(f"{path}: target file not found") from None
    except json.JSONDecodeError as e:
        raise UsageError(f"{path}: not JSON ({e})") from None
    out: dict[str, TargetValue] = {}
    if isinstance(doc, dict) and "metrics_raw" in doc:  # NerfBaselines
        for k, v in doc["metrics_raw"].items():
            if k in TARGET_METRICS:
                data = base64.b64decode(v)
                values = list(struct.unpack(f"<{len(data) // 4}f", data))
                out[k] = _float_target(k, values, views, str(path))
    elif isinstance(doc, dict) and "views" in doc and "metrics" in doc:  # nvs-eval score --json
        rows = doc["views"]
        methods = list(dict.fromkeys(r["method"] for r in rows))
        pick = method or (methods[0] if len(methods) == 1 else None)
        if pick is None:
            raise UsageError(f"{path}: holds methods {', '.join(methods)}; name one with --target-method")
        rows = [r for r in rows if r["method"] == pick]
        for m in doc["metrics"]:
            if m in TARGET_METRICS:
                out[m] = _float_target(m, {r["view"]: r[m] for r in rows}, None, str(path))
    elif isinstance(doc, dict) and doc and all(isinstance(v, dict) for v in doc.values()):  # 3DGS
        keys = sorted(doc)
        pick = method or (keys[-1] if len(keys) == 1 or method is None else None)
        if pick not in doc:
            raise UsageError(f"{path}: no method {pick!r}; it holds {', '.join(keys)}")
        for k, v in doc[pick].items():
            name = k.lower()
            if name in TARGET_METRICS:
                out[name] = _float_target(name, v, views, str(path))
    if not out:
        raise UsageError(f"{path}: no PSNR, SSIM or LPIPS values found (expected a 3DGS results.json / "
                         "per_view.json, a NerfBaselines results JSON or the --json of nvs-eval score)")
    return out


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
    ssim_specs: dict[tuple, SSIMSpec] = field(default_factory=_ssim_specs)
    # (background, quantize, quantize_images) -> {"mse" | ssim key | ("lpips", net, input): np.ndarray[views]}
    values: dict[tuple, dict] = field(default_factory=dict)


def _variants(x: torch.Tensor) -> tuple[list[torch.Tensor], dict[str, int]]:
    """The distinct images among ``x`` unquantised, rounded and truncated to 8 bits, and which is which."""
    from .evaluate.evaluator import quantize

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
    :func:`~nvs_eval.metrics.ssim._combine`) and the sum corrected."""
    out = {}
    groups: dict[tuple, list[tuple]] = {}
    for key in specs:
        groups.setdefault(key[:3], []).append(key)
    top_floor = max(f.get("variance_floor") or 0.0 for f in SSIM_FLOORS.values())
    for keys in groups.values():
        base = specs[keys[0]]
        x, y = to_channels(r, base), to_channels(g, base)
        mu_x, mu_y, xx, yy, xy = _filter(torch.cat([x, y, x * x, y * y, x * y], dim=0), base).split(x.shape[0])
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
            rng = _data_range(x, y, spec)
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
                fixed = _combine(m_x, m_y, e_xx, e_yy, e_xy, rng, spec)
                out[key] = (total - float(plain_special.double().sum()) + float(fixed.double().sum())) / npx
    return out


def compute(pairs: list[ViewPair], *, device: str = "cpu", nets: list[str] | None = None,
            progress=None) -> Search:
    """Evaluate every metric variant on every view under every background and quantisation."""
    from .data.images import to_rgb

    dev = torch.device(device)
    if nets is None:
        nets = [n for n in ("alex", "vgg", "squeeze") if n != "squeeze" or locate_backbone("squeeze") is not None]
    models = {(n, inp): build_lpips(n, inp, device=dev)[0] for n in nets for inp in LPIPS_INPUTS}
    has_alpha = any(a.shape[2] in (2, 4) and float(a[..., -1].min()) < 1.0 for p in pairs for a in (p.render, p.gt))
    backgrounds = list(BACKGROUNDS) if has_alpha else ["white"]
    search = Search([p.view for p in pairs], backgrounds, nets)
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
                        for (net, inp), model in models.items():
                            for side, k, img in (("r", a, x), ("g", b, y)):
                                if (side, k, net, inp) not in features:
                                    features[(side, k, net, inp)] = model.features(img)
                            d = model.distance(features[("r", a, net, inp)], features[("g", b, net, inp)])
                            vals[("lpips", net, inp)] = float(d[0])
                    done[(a, b)] = vals
                per_setting.setdefault((bg, mode, which), []).append(done[(a, b)])
        if progress:
            progress(i + 1, len(pairs))
    for setting, rows in per_setting.items():
        search.values[setting] = {k: np.array([r[k] for r in rows], dtype=np.float64) for k in rows[0]}
    return search


def _psnr(mse: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore"):
        return -10.0 * np.log10(mse)


def _candidates(search: Search, setting: tuple, metric: str, per_view: bool) -> dict[tuple, np.ndarray | float]:
    """Every variant of ``metric`` under one shared setting: per-view arrays, or aggregated values."""
    vals = search.values[setting]
    if metric == "psnr":
        if per_view:
            return {("psnr", DEFAULT_AGGREGATION): _psnr(vals["mse"])}
        return {("psnr", DEFAULT_AGGREGATION): float(np.mean(_psnr(vals["mse"]))),
                ("psnr", "pooled-mse"): float(_psnr(np.array([vals["mse"].mean()]))[0])}
    if metric == "ssim":
        return {("ssim", *k): (vals[k] if per_view else float(vals[k].mean())) for k in search.ssim_specs}
    nets = search.nets if metric == "lpips" else [metric.split("_", 1)[1]]
    return {("lpips", n, inp): (vals[("lpips", n, inp)] if per_view else float(vals[("lpips", n, inp)].mean()))
            for n in nets if n in search.nets for inp in LPIPS_INPUTS}


def _error(value, target: TargetValue, views: list[str]) -> tuple[float, float]:
    """(signed miss, distance in tolerance units): the mean's, or the worst view's for per-view targets."""
    if target.per_view is not None:
        miss = np.array([value[views.index(v)] - t for v, t in target.per_view.items() if v in views])
        worst = int(np.argmax(np.abs(miss)))
        return float(miss[worst]), float(abs(miss[worst]) / target.tolerance)
    return float(value - target.value), abs(float(value - target.value)) / target.tolerance


def protocol_for(setting: tuple, choice: dict[str, tuple], search: Search) -> Protocol:
    """The protocol one combination is (``name`` is filled in by the caller)."""
    bg, mode, which = setting
    base = PROTOCOLS["nvs-eval"]
    metrics, ssim, lpips_input, aggregation = [], base.ssim, base.lpips_input, DEFAULT_AGGREGATION
    for key in choice.values():
        if key[0] == "psnr":
            metrics.append("psnr")
            aggregation = key[1]
        elif key[0] == "ssim":
            metrics.append("ssim")
            ssim = search.ssim_specs[key[1:]]
        else:
            metrics.append(f"lpips_{key[1]}")
            lpips_input = key[2]
    return replace(base, name="explained", quantize=mode, quantize_images=which if mode != "none" else "none",
                   background=BACKGROUNDS[bg], ssim=ssim, lpips_input=lpips_input, metrics=tuple(metrics),
                   aggregation=aggregation, summary="found by nvs-eval explain", sources=())


def _flat(p: Protocol, keys: set[str]) -> dict:
    s = p.settings()
    flat = {k: s[k] for k in ("quantize", "quantize_images", "background", "lpips_input", "aggregation")}
    flat.update({f"ssim.{k}": v for k, v in s["ssim"].items()})
    if p.quantize == "none":
        flat["quantize_images"] = "none"
    if not any(k.startswith("lpips") for k in keys):
        del flat["lpips_input"]
    if "ssim" not in keys:
        flat = {k: v for k, v in flat.items() if not k.startswith("ssim.")}
    if "psnr" not in keys:
        del flat["aggregation"]
    return flat


@functools.cache
def _preset_flats(keys: frozenset[str]) -> dict[str, dict]:
    """Every preset's comparable settings (computed once per target set, not once per candidate)."""
    return {name: _flat(preset, set(keys)) for name, preset in PROTOCOLS.items()}


def nearest_preset(p: Protocol, lpips_nets: list[str], keys: set[str]) -> tuple[str, dict]:
    """The preset with the fewest differing settings (in preset order on ties) and those differences
    (``{setting: [preset's, this one's]}``)."""
    mine = _flat(p, keys)
    best = None
    for name, theirs in _preset_flats(frozenset(keys)).items():
        preset = PROTOCOLS[name]
        diff = {k: [theirs[k], v] for k, v in mine.items() if theirs.get(k) != v}
        if any(f"lpips_{n}" not in preset.metrics for n in lpips_nets):
            diff["lpips_net"] = [",".join(m[6:] for m in preset.metrics if m.startswith("lpips_")),
                                 ",".join(lpips_nets)]
        if best is None or len(diff) < len(best[1]):
            best = (name, diff)
    return best


def explain(search: Search, targets: dict[str, TargetValue], *, limit: int = 200) -> dict:
    """Rank the combinations that reproduce every target; the closest variants per metric when none does."""
    matches = []
    closest: dict[str, list] = {m: [] for m in targets}
    for setting in search.values:
        per_metric = {}
        for metric, target in targets.items():
            cands = _candidates(search, setting, metric, target.per_view is not None)
            scored = [(key, value, *_error(value, target, search.views)) for key, value in cands.items()]
            closest[metric] += [(dist, miss, setting, key, value) for key, value, miss, dist in scored]
            per_metric[metric] = [s for s in scored if s[3] <= 1.0]
        if not all(per_metric.values()):
            continue
        for combo in itertools.product(*per_metric.values()):
            choice = {m: c[0] for m, c in zip(per_metric, combo)}
            lpips = [k for k in choice.values() if k[0] == "lpips"]
            if len({k[2] for k in lpips}) > 1 or len({k[1] for k in lpips}) < len(lpips):
                continue  # one protocol feeds every LPIPS network the same way, and one network per target
            proto = protocol_for(setting, choice, search)
            preset, diff = nearest_preset(proto, sorted(k[1] for k in lpips), set(targets))
            values = {m: _agg(c[1]) for m, c in zip(per_metric, combo)}
            errors = {m: c[2] for m, c in zip(per_metric, combo)}
            matches.append({"distance": sum(c[3] for c in combo), "protocol": proto, "nearest_preset": preset,
                            "differs_from_preset": diff, "values": values, "error": errors})
    order = list(PROTOCOLS)
    matches.sort(key=lambda m: (len(m["differs_from_preset"]), round(m["distance"], 6),
                                order.index(m["nearest_preset"])))
    out_matches = []
    for rank, m in enumerate(matches[:limit], 1):
        proto = replace(m["protocol"], name=f"{m['nearest_preset']}-explained" if m["differs_from_preset"]
                        else m["nearest_preset"])
        out_matches.append({"rank": rank, "protocol": proto.settings(), "nearest_preset": m["nearest_preset"],
                            "differs_from_preset": m["differs_from_preset"], "values": m["values"],
                            "error": m["error"], "distance": m["distance"], "_protocol": proto})
    closest_out = {}
    for metric, rows in closest.items():
        # nearest first; of the variants giving the same value, the one closest to a preset
        described = []
        for dist, miss, setting, key, value in rows:
            proto = protocol_for(setting, {metric: key}, search)
            preset, diff = nearest_preset(proto, [key[1]] if key[0] == "lpips" else [], {metric})
            described.append((round(dist, 9), len(diff), dist, miss, setting, key, value, preset, diff))
        described.sort(key=lambda r: r[:2])
        seen, best = set(), []
        for _, _, dist, miss, setting, key, value, preset, diff in described:
            if round(_agg(value), 12) in seen:
                continue
            seen.add(round(_agg(value), 12))
            best.append({"setting": _describe(setting, key, search), "nearest_preset": preset,
                         "differs_from_preset": diff, "value": _agg(value), "miss": miss,
                         "tolerance": targets[metric].tolerance, "distance": dist})
            if len(best) == 5:
                break
        closest_out[metric] = best
    return {"targets": {m: {"value": t.value, "tolerance": t.tolerance, "per_view": t.per_view is not None}
                        for m, t in targets.items()},
            "views": len(search.views), "matches": out_matches, "match_count": len(matches), "closest": closest_out}


def _agg(value) -> float:
    return float(np.mean(value)) if isinstance(value, np.ndarray) else float(value)


def _describe(setting: tuple, key: tuple, search: Search) -> dict:
    bg, mode, which = setting
    d = {"background": bg, "quantize": mode, "quantize_images": which if mode != "none" else "none"}
    if key[0] == "psnr":
        d["aggregation"] = key[1]
    elif key[0] == "ssim":
        spec = search.ssim_specs[key[1:]]
        d["ssim"] = dict(vars(spec))
    else:
        d["lpips_net"], d["lpips_input"] = key[1], key[2]
    return d


def json_ready(result: dict) -> dict:
    """The result without the Protocol objects, infinities as strings (``--json``)."""
    def clean(v):
        if isinstance(v, float) and not math.isfinite(v):
            return str(v)
        if isinstance(v, dict):
            return {str(k): clean(x) for k, x in v.items() if not str(k).startswith("_")}
        if isinstance(v, (list, tuple)):
            return [clean(x) for x in v]
        return v
    return clean(result)

