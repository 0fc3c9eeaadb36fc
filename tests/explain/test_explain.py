"""``nvs-eval explain`` (issue 16): targets produced by nvs-eval itself under each preset and under non-preset
conventions, on real photographs, are traced back to the convention that produced them; impossible targets are
reported as such, with the closest variants; tool files (3DGS results.json / per_view.json) are read as targets."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import png
import pytest
from PIL import Image

from nvs_eval.conventions.protocols import PROTOCOLS
from nvs_eval.metrics.ssim import SSIM_SKIMAGE_DEFAULT, SSIMSpec

from conftest import photo
from helpers import cli

SIZE = (72, 96)


def _write_png16(path: Path, x: np.ndarray) -> None:
    rows = (x * 65535).round().astype(np.uint16).reshape(x.shape[0], -1)
    with open(path, "wb") as f:
        png.Writer(x.shape[1], x.shape[0], greyscale=False, bitdepth=16).write(f, rows)


@pytest.fixture(scope="module")
def scene(tmp_path_factory):
    """Three views: 8-bit ground truth (a range inside [0, 1], so 'data range from the pair' is not 1) and
    16-bit renders (so 8-bit rounding and truncation of the render change its values)."""
    from scipy.ndimage import gaussian_filter

    root = tmp_path_factory.mktemp("explain")
    (root / "gt").mkdir()
    (root / "r").mkdir()
    for i, (name, off) in enumerate((("astronaut", (40, 150)), ("coffee", (100, 200)), ("chelsea", (60, 120)))):
        gt = 0.04 + 0.9 * photo(name, SIZE, off)
        Image.fromarray((gt * 255).round().astype(np.uint8)).save(root / "gt" / f"{i:05d}.png")
        gt = np.asarray(Image.open(root / "gt" / f"{i:05d}.png"), dtype=np.float64) / 255
        render = np.clip(gaussian_filter(gt, (0.9, 0.9, 0)) * np.array([1.03, 0.98, 0.95]) + 0.004 * i, 0, 1)
        _write_png16(root / "r" / f"{i:05d}.png", render)
    return root


@pytest.fixture(scope="module")
def search(scene):
    from nvs_eval.cli.explain_cmd import _pairs
    from nvs_eval.explain import compute

    args = type("A", (), {"renders": [str(scene / "r")], "gt": str(scene / "gt"), "layout": None, "iteration": None,
                          "dataset": None, "dataset_root": None, "images": "images", "method": None})()
    return compute(_pairs(args), device="cpu", nets=["alex", "vgg"])


def _targets(scene, protocol, decimals=4):
    """The protocol's own numbers from the real pipeline (score_scenes), printed to ``decimals``."""
    from nvs_eval.api import score_scenes
    from nvs_eval.data.layouts import pairs_scene
    from nvs_eval.explain import parse_targets

    df = score_scenes([pairs_scene([("m", scene / "r")], scene / "gt")], protocol, protocol.metrics, device="cpu",
                      progress=False)
    values = {m: float(df[m].mean()) for m in protocol.metrics}
    if protocol.aggregation == "pooled-mse":
        values["psnr"] = float(-10 * np.log10(np.mean(10 ** (-df["psnr"].to_numpy() / 10))))
    # PSNR to 4 decimals always: ~30 dB to 6 would be 8 significant digits, beyond what float32 pipelines agree on
    return parse_targets(",".join(f"{m}={v:.{4 if m == 'psnr' else decimals}f}" for m, v in values.items())), df


NON_PRESETS = {
    "skimage-ssim": replace(PROTOCOLS["nvs-eval"], name="x1", ssim=SSIM_SKIMAGE_DEFAULT,
                            metrics=("psnr", "ssim", "lpips_vgg")),
    "3dgs-truncated-render-lpips-mapped": replace(PROTOCOLS["3dgs"], name="x2", quantize="truncate",
                                                  quantize_images="render", lpips_input="[-1,1]"),
    "mipnerf360-luma-pooled": replace(PROTOCOLS["mipnerf360"], name="x3", aggregation="pooled-mse",
                                      ssim=SSIMSpec(padding="valid", variance_floor=0.0, channels="luma")),
    "lpips-v0.0": replace(PROTOCOLS["nvs-eval"], name="x5", lpips_version="0.0", metrics=("psnr", "lpips_alex")),
    "gsplat-uniform-data-range-2": replace(PROTOCOLS["gsplat"], name="x4",
                                           ssim=SSIMSpec(window="uniform", size=7, padding="reflect-same",
                                                         data_range=2.0, clamp_variance_only=True)),
}


def test_protocols_outside_the_search_are_named_and_never_offered_as_presets():
    from nvs_eval.explain.ranking import SEARCHED_PRESETS, outside_search

    outside = {n: outside_search(p) for n, p in PROTOCOLS.items() if outside_search(p)}
    assert set(outside) == {"nerfw", "dycheck"}
    assert "right half" in outside["nerfw"] and "upsampled spatial map" in outside["dycheck"]
    assert set(SEARCHED_PRESETS) == set(PROTOCOLS) - set(outside)


@pytest.mark.parametrize("name", [n for n in PROTOCOLS if n not in ("nerfw", "dycheck")] + list(NON_PRESETS))
def test_explain_ranks_the_producing_convention_first(name, scene, search):
    """The producing convention is found, and nothing whose values differ from it ranks above it. Conventions that
    give bit-identical values on these images (8-bit rounding of an 8-bit ground truth, a variance floor no pixel
    reaches) cannot be told apart by any search; among those the one closest to a preset is listed first.
    Presets' targets are printed to 4 decimals, as papers print them; the non-preset ones' SSIM and LPIPS to 6,
    because at 4 decimals three 72 x 96 views leave several SSIM conventions within half a unit of each other
    (explain then lists them all, and nothing tells which one a paper used)."""
    from nvs_eval.explain import explain
    from nvs_eval.explain.ranking import _flat

    producing = PROTOCOLS.get(name) or NON_PRESETS[name]
    targets, _ = _targets(scene, producing, 4 if name in PROTOCOLS else 6)
    result = explain(search, targets)
    assert result["matches"], result["closest"]
    keys = set(targets)
    nets = sorted(m for m in producing.metrics if m.startswith("lpips_"))
    ranks = [i for i, m in enumerate(result["matches"])
             if _flat(m["_protocol"], keys) == _flat(producing, keys)
             and sorted(x for x in m["_protocol"].metrics if x.startswith("lpips_")) == nets]
    assert ranks, "the producing convention is not among the matches"
    found = result["matches"][ranks[0]]
    assert all(m["values"] == found["values"] for m in result["matches"][: ranks[0]])
    if name in PROTOCOLS:
        assert ranks[0] == 0 and found["nearest_preset"] == name and found["differs_from_preset"] == {}
    else:
        assert result["matches"][0]["differs_from_preset"]
    assert all(abs(e) <= targets[m].tolerance for m, e in found["error"].items())


def test_explain_says_what_the_targets_establish_and_what_they_cannot_tell_apart(scene, search):
    """Printed to 3 decimals, several conventions reproduce 3DGS's numbers: every match agrees on what is
    "established" (and it is 3DGS's own setting), and each setting "undetermined" takes several values among them."""
    from nvs_eval.explain import explain
    from nvs_eval.explain.ranking import _flat, show_setting

    targets, _ = _targets(scene, PROTOCOLS["3dgs"], 3)
    result = explain(search, targets, limit=10**6)
    assert result["match_count"] == len(result["matches"]) > 1 and result["undetermined"], result["match_count"]
    keys = set(targets)
    flats = [_flat(m["_protocol"], keys) for m in result["matches"]]
    covered = set(result["settled"]) | set(result["undetermined"])
    assert covered <= set(flats[0]) | {"lpips_net"} and {"lpips_input", "ssim.padding"} <= covered
    assert {"ssim.k1", "ssim.k2"}.isdisjoint(covered)  # never varied by the search: not evidence either way
    producing = {**_flat(PROTOCOLS["3dgs"], keys), "lpips_net": "vgg"}
    for k, v in result["settled"].items():
        assert v == producing[k] and all(f.get(k, v) == v for f in flats), k
    for k, values in result["undetermined"].items():
        assert len(values) > 1 and show_setting(producing[k]) in values, k
        assert len({show_setting(f.get(k)) for f in flats}) == len(values) or k == "lpips_net"


def test_a_target_no_convention_can_produce_is_reported_with_the_closest_variants(scene, search):
    from nvs_eval.explain import explain, parse_targets

    targets, _ = _targets(scene, PROTOCOLS["3dgs"])
    impossible = parse_targets(f"psnr={targets['psnr'].value + 3:.4f},ssim={targets['ssim'].value:.4f}")
    result = explain(search, impossible)
    assert result["matches"] == [] and result["match_count"] == 0
    psnr = result["closest"]["psnr"][0]
    assert -3.5 < psnr["miss"] < -2.0 and psnr["distance"] > 1  # every variant is ~3 dB short: PSNR is the one off
    assert result["closest"]["ssim"][0]["distance"] <= 1  # SSIM alone is reproducible


def test_target_files_from_3dgs_results_and_per_view_json_and_the_written_protocol(scene, tmp_path):
    """3DGS metrics.py writes results.json (means) and per_view.json (every view, by file name); both are read, the
    per-view file must match view by view, and the protocol explain writes reproduces the numbers in `score`."""
    _, df = _targets(scene, PROTOCOLS["3dgs"])
    per_view = {"ours_30000": {k: {f"{v}.png": float(x) for v, x in zip(df["view"], df[m])}
                               for k, m in (("SSIM", "ssim"), ("PSNR", "psnr"), ("LPIPS", "lpips_vgg"))}}
    results = {"ours_30000": {k: float(np.mean(list(v.values()))) for k, v in per_view["ours_30000"].items()}}
    for name, doc in (("results.json", results), ("per_view.json", per_view)):
        (tmp_path / name).write_text(json.dumps(doc))
        out, yaml_out = tmp_path / f"{name}.explain.json", tmp_path / f"{name}.yaml"
        r = cli("explain", str(scene / "r"), "--gt", str(scene / "gt"), "--target-file", str(tmp_path / name),
                "--json", str(out), "--write-protocol", str(yaml_out), "--device", "cpu")
        assert r.returncode == 0, r.stderr
        assert "\r" not in r.stderr + r.stdout  # not a terminal (a log): plain progress lines, never a bar
        doc = json.loads(out.read_text())
        assert ("they cannot tell apart:" in r.stdout) == bool(doc["undetermined"])
        assert "the targets establish:" in r.stdout and doc["settled"]["lpips_input"] == "[0,1]"
        best = doc["matches"][0]
        assert best["nearest_preset"] == "3dgs" and best["differs_from_preset"] == {}, r.stdout
        assert doc["targets"]["psnr"]["per_view"] is (name == "per_view.json")
        assert set(best["protocol"]) >= {"quantize", "ssim", "lpips_input", "metrics", "aggregation"}
    r = cli("protocols", str(yaml_out))
    assert r.returncode == 0 and "zero-same" in r.stdout
    s = tmp_path / "s.json"
    r = cli("score", str(scene / "r"), "--gt", str(scene / "gt"), "--protocol", str(yaml_out), "--json", str(s),
            "--device", "cpu")
    assert r.returncode == 0, r.stderr
    views = json.loads(s.read_text())["views"]
    assert [v["psnr"] for v in views] == pytest.approx(list(df["psnr"]), abs=1e-9)
    # per-view targets: two views off by +-0.01 dB in opposite directions leave the mean unchanged, but not a match
    shifted = json.loads(json.dumps(per_view))
    names = sorted(shifted["ours_30000"]["PSNR"])
    shifted["ours_30000"]["PSNR"][names[0]] += 0.01
    shifted["ours_30000"]["PSNR"][names[1]] -= 0.01
    (tmp_path / "shifted.json").write_text(json.dumps(shifted))
    r = cli("explain", str(scene / "r"), "--gt", str(scene / "gt"), "--target-file", str(tmp_path / "shifted.json"),
            "--write-protocol", "", "--device", "cpu")
    assert r.returncode == 0 and "no combination reproduces every target" in r.stdout


def test_custom_protocol_files_are_validated_with_the_file_and_key_named(tmp_path):
    bad = tmp_path / "p.yaml"
    bad.write_text("name: x\nquantize: sometimes\nquantize_images: both\nbackground: [1, 1, 1]\nssim: {}\n"
                   "lpips_input: '[0,1]'\nmetrics: [psnr]\n")
    r = cli("protocols", str(bad))
    assert r.returncode == 2 and "p.yaml: quantize: 'sometimes' is not one of none, round, truncate" in r.stderr
    bad.write_text(bad.read_text().replace("sometimes", "round").replace("ssim: {}", "ssim: {padding: same}"))
    r = cli("protocols", str(bad))
    assert r.returncode == 2 and "p.yaml: ssim: Expected SSIM padding valid, zero-same or reflect-same" in r.stderr


def test_every_ssim_variant_of_the_search_equals_ssim_of_its_spec():
    """The shared-moment SSIM variants (floors recomputed only where they bite) against ssim() spec by spec, on a
    photograph with flat white areas (zero variance, where the floors matter)."""
    import torch

    from nvs_eval.explain.search import _ssim_specs, _ssim_values
    from nvs_eval.metrics.ssim import ssim

    from conftest import to_nchw

    g = to_nchw(photo("astronaut", (64, 80), (40, 150)))
    r = (g + 0.03 * torch.randn(g.shape, generator=torch.Generator().manual_seed(0))).clamp(0, 1)
    g[..., :20, :30] = 1.0
    r[..., :15, :25] = 1.0
    specs = _ssim_specs()
    values = _ssim_values(r, g, specs)
    assert len(values) == 288
    worst = max(abs(float(ssim(r, g, spec)[0]) - values[k]) for k, spec in specs.items())
    assert worst < 5e-7, worst


@pytest.mark.parametrize("background", [(1.0, 1.0, 1.0), (0.0, 0.0, 0.0), "stored"])
def test_the_background_of_rgba_ground_truth_is_found(background, tmp_path):
    """RGBA ground truth (transparent pixels whose stored colour is neither white nor black), RGB renders: a
    target computed on a white, black or as-stored background is traced back to it."""
    from nvs_eval.cli.explain_cmd import _pairs
    from nvs_eval.explain import compute, explain

    rng = np.random.default_rng(0)
    (tmp_path / "gt").mkdir()
    (tmp_path / "r").mkdir()
    yy, xx = np.mgrid[:SIZE[0], :SIZE[1]]
    for i, (name, off) in enumerate((("astronaut", (40, 150)), ("coffee", (100, 200)))):
        rgb = (photo(name, SIZE, off) * 255).round().astype(np.uint8)
        alpha = np.where((yy - 36) ** 2 / 900 + (xx - 48) ** 2 / 1600 < 1, 255, 0).astype(np.uint8)
        alpha[::7] = 128  # some partial transparency too
        Image.fromarray(np.dstack([rgb, alpha])).save(tmp_path / "gt" / f"{i}.png")
        render = np.clip(rgb / 255 + rng.normal(0, 0.03, rgb.shape), 0, 1)
        Image.fromarray((render * 255).round().astype(np.uint8)).save(tmp_path / "r" / f"{i}.png")
    producing = replace(PROTOCOLS["nvs-eval"], name="bg", background=background)
    targets, _ = _targets(tmp_path, producing)
    args = type("A", (), {"renders": [str(tmp_path / "r")], "gt": str(tmp_path / "gt"), "layout": None,
                          "iteration": None, "dataset": None, "dataset_root": None, "images": "images",
                          "method": None})()
    search = compute(_pairs(args), device="cpu", nets=["alex", "vgg"])
    assert search.backgrounds == ["white", "black", "stored"]
    best = explain(search, targets)["matches"][0]
    assert best["protocol"]["background"] == (background if isinstance(background, str) else list(background))


def test_explain_writes_a_protocol_only_when_asked_and_a_rerun_replaces_its_own_files(scene, tmp_path):
    """A first `explain` writes nothing unasked into the current folder; with --write-protocol / --json, a re-run
    (other targets) replaces what the earlier explain wrote, but never a file it did not write (--force does)."""
    _, df = _targets(scene, PROTOCOLS["3dgs"])
    target = f"psnr={df['psnr'].mean():.4f}"
    base = ("explain", str(scene / "r"), "--gt", str(scene / "gt"), "--device", "cpu")
    r = cli(*base, "--target", target, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert list(tmp_path.iterdir()) == []
    out = ("--write-protocol", str(tmp_path / "p.yaml"), "--json", str(tmp_path / "e.json"))
    for t in (target, f"psnr={df['psnr'].mean():.3f}"):
        r = cli(*base, "--target", t, *out)
        assert r.returncode == 0, r.stderr
    assert cli("protocols", str(tmp_path / "p.yaml")).returncode == 0
    foreign = tmp_path / "mine.yaml"
    foreign.write_text("my notes\n")
    r = cli(*base, "--target", target, "--write-protocol", str(foreign))
    assert r.returncode == 2 and "not written by `nvs-eval explain`" in r.stderr
    assert foreign.read_text() == "my notes\n"
    assert cli(*base, "--target", target, "--write-protocol", str(foreign), "--force").returncode == 0
