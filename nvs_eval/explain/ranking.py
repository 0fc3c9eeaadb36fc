"""Which combinations of conventions reproduce every target, ranked: fewest settings away from a preset
first, then the summed distance in tolerance units; each written back as a protocol."""

from __future__ import annotations

import functools
import itertools
import math
from dataclasses import replace

import numpy as np

from ..conventions.protocols import PROTOCOLS, Protocol
from ..conventions.registry import DEFAULT_AGGREGATION
from .search import BACKGROUNDS, Search
from .targets import TargetValue


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
    return {("lpips", n, inp, ver): (vals[("lpips", n, inp, ver)] if per_view
                                     else float(vals[("lpips", n, inp, ver)].mean()))
            for n in nets if n in search.nets for inp, ver in search.lpips_variants}


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
    lpips_version = base.lpips_version
    for key in choice.values():
        if key[0] == "psnr":
            metrics.append("psnr")
            aggregation = key[1]
        elif key[0] == "ssim":
            metrics.append("ssim")
            ssim = search.ssim_specs[key[1:]]
        else:
            metrics.append(f"lpips_{key[1]}")
            lpips_input, lpips_version = key[2], key[3]
    return replace(base, name="explained", quantize=mode, quantize_images=which if mode != "none" else "none",
                   background=BACKGROUNDS[bg], ssim=ssim, lpips_input=lpips_input, metrics=tuple(metrics),
                   aggregation=aggregation, summary="found by nvs-eval explain", sources=(),
                   lpips_version=lpips_version)


def _flat(p: Protocol, keys: set[str]) -> dict:
    s = p.settings()
    flat = {k: s[k] for k in ("quantize", "quantize_images", "background", "lpips_input", "lpips_version",
                              "aggregation")}
    flat.update({f"ssim.{k}": v for k, v in s["ssim"].items()})
    if p.quantize == "none":
        flat["quantize_images"] = "none"
    if not any(k.startswith("lpips") for k in keys):
        del flat["lpips_input"], flat["lpips_version"]
    if "ssim" not in keys:
        flat = {k: v for k, v in flat.items() if not k.startswith("ssim.")}
    if "psnr" not in keys:
        del flat["aggregation"]
    return flat


def outside_search(p: Protocol) -> str | None:
    """Why the search cannot produce protocol ``p``'s numbers (``None``: it can). The search varies whole-image
    conventions; a protocol that scores part of each image, fits the render first, or computes its plain metrics
    another way is not among its candidates, and is not offered as a nearest preset."""
    if p.crop != "none":
        return f"{p.name} scores the {p.crop.replace('-', ' ')} of each image only"
    if p.appearance_fit != "none":
        return f"{p.name} fits the render's appearance first"
    if p.mask_convention == "dycheck":
        return f"{p.name}'s LPIPS is the mean of the upsampled spatial map (DyCheck)"
    return None


SEARCHED_PRESETS = {name: p for name, p in PROTOCOLS.items() if outside_search(p) is None}


@functools.cache
def _preset_flats(keys: frozenset[str]) -> dict[str, dict]:
    """Every searchable preset's comparable settings (computed once per target set, not once per candidate)."""
    return {name: _flat(preset, set(keys)) for name, preset in SEARCHED_PRESETS.items()}


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
            if len({k[2:] for k in lpips}) > 1 or len({k[1] for k in lpips}) < len(lpips):
                continue  # one protocol feeds every LPIPS network the same way, and one network per target
            proto = protocol_for(setting, choice, search)
            preset, diff = nearest_preset(proto, sorted(k[1] for k in lpips), set(targets))
            values = {m: _agg(c[1]) for m, c in zip(per_metric, combo)}
            errors = {m: c[2] for m, c in zip(per_metric, combo)}
            matches.append({"distance": sum(c[3] for c in combo), "protocol": proto, "nearest_preset": preset,
                            "differs_from_preset": diff, "values": values, "error": errors})
    order = list(SEARCHED_PRESETS)
    matches.sort(key=lambda m: (len(m["differs_from_preset"]), round(m["distance"], 6),
                                order.index(m["nearest_preset"])))
    out_matches = []
    for rank, m in enumerate(matches[:limit], 1):
        proto = replace(m["protocol"], name=f"{m['nearest_preset']}-explained" if m["differs_from_preset"]
                        else m["nearest_preset"])
        out_matches.append({"rank": rank, "protocol": proto.settings(), "nearest_preset": m["nearest_preset"],
                            "differs_from_preset": m["differs_from_preset"], "values": m["values"],
                            "error": m["error"], "distance": m["distance"], "_protocol": proto})
    closest_out = {metric: _closest(metric, rows, search, targets[metric].tolerance)
                   for metric, rows in closest.items()}
    settled, open_ = agreement([m["protocol"] for m in matches], set(targets))
    fixed = {f"ssim.{k}" for k in vars(next(iter(search.ssim_specs.values())))
             if len({repr(getattr(s, k)) for s in search.ssim_specs.values()}) == 1}
    settled = {k: v for k, v in settled.items() if k not in fixed}  # never varied: not evidence of anything
    return {"targets": {m: {"value": t.value, "tolerance": t.tolerance, "per_view": t.per_view is not None}
                        for m, t in targets.items()},
            "views": len(search.views), "matches": out_matches, "match_count": len(matches), "closest": closest_out,
            "settled": settled, "undetermined": open_}


def agreement(protocols: list[Protocol], keys: set[str]) -> tuple[dict, dict]:
    """What every matching combination agrees on (``{setting: value}``: the targets establish it) and what they
    do not (``{setting: [the values among the matches]}``: no search on these numbers can tell which one a paper
    used; more printed digits, per-view targets or another metric can). Over every match, not only the listed."""
    if not protocols:
        return {}, {}
    flats = [_flat(p, keys) for p in protocols]
    nets = [",".join(sorted(m[6:] for m in p.metrics if m.startswith("lpips_"))) for p in protocols]
    if any(nets):
        flats = [{**f, "lpips_net": n} for f, n in zip(flats, nets)]
    seen = {k: list(dict.fromkeys(show_setting(f.get(k)) for f in flats)) for k in flats[0]}
    settled = {k: flats[0][k] for k, v in seen.items() if len(v) == 1}
    return settled, {k: v for k, v in seen.items() if len(v) > 1}


def show_setting(value) -> str:
    """A setting's value as the explain lines print it (floats to 6 significant digits: 2^-46 is 1.42109e-14)."""
    return f"{value:.6g}" if isinstance(value, float) else str(value)


def _closest(metric: str, rows: list, search: Search, tolerance: float) -> list[dict]:
    """The five variants nearest to one target, nearest first; of variants giving the same value, the one closest
    to a preset."""
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
                     "tolerance": tolerance, "distance": dist})
        if len(best) == 5:
            break
    return best


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
        d["lpips_net"], d["lpips_input"], d["lpips_version"] = key[1], key[2], key[3]
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
