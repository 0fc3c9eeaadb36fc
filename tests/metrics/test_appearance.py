"""In-the-wild protocols: NerfBaselines' nerfw half-image protocol and the closed-form appearance fits, end to end
from files against float64 NumPy transcriptions (np.linalg.lstsq on the tall systems, multinerf's color_correct)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image
from test_protocols import ref_ssim_2d

from nvs_eval.api import score_folders
from nvs_eval.conventions.protocols import PROTOCOLS, get_protocol, load_protocol_file, protocol_yaml
from nvs_eval.errors import UsageError

from conftest import photo, to_nchw

H, W = 64, 97  # an odd width: the fit half (49 columns) and the scored half (49) share the middle column


def _u8(x):
    """NerfBaselines' image_to_srgb(..., np.uint8) of a float image: truncation."""
    return np.clip(x * 255.0, 0, 255).astype(np.uint8) / 255.0


@pytest.fixture(scope="module")
def wild(tmp_path_factory):
    """Two views of real photographs, rendered with a per-view exposure / white-balance change plus blur and
    noise (what an in-the-wild method without its appearance embedding produces), as 8-bit PNGs."""
    from scipy.ndimage import gaussian_filter

    root = tmp_path_factory.mktemp("wild")
    (root / "gt").mkdir()
    (root / "m").mkdir()
    rng = np.random.default_rng(5)
    views = {}
    for i, (name, off, gain, bias) in enumerate([("astronaut", (40, 150), (1.2, 0.9, 0.75), 0.04),
                                                 ("coffee", (100, 200), (0.8, 1.1, 1.0), -0.02)]):
        gt = photo(name, (H, W), off)
        render = np.clip(gaussian_filter(gt, (0.7, 0.7, 0)) * gain + bias + rng.normal(0, 0.01, gt.shape), 0, 1)
        for folder, x in (("gt", gt), ("m", render)):
            Image.fromarray(np.round(x * 255).astype(np.uint8)).save(root / folder / f"{i:03d}.png")
        views[f"{i:03d}"] = tuple(np.asarray(Image.open(root / f / f"{i:03d}.png"), np.float64) / 255
                                  for f in ("m", "gt"))
    return root, views


def _numpy_color_correct(img, ref, num_iters=5, eps=0.5 / 255):
    """multinerf internal/image.py color_correct in NumPy float64, returning each iteration's warp."""
    x, y = img.reshape(-1, 3), ref.reshape(-1, 3)
    ok = lambda z: (z >= eps) & (z <= 1 - eps)  # noqa: E731
    mask0, warps = ok(x), []
    for _ in range(num_iters):
        a = np.concatenate([*[x[:, c : c + 1] * x[:, c:] for c in range(3)], x, np.ones_like(x[:, :1])], -1)
        warp = []
        for c in range(3):
            m = mask0[:, c] & ok(x[:, c]) & ok(y[:, c])
            warp.append(np.linalg.lstsq(np.where(m[:, None], a, 0), np.where(m, y[:, c], 0), rcond=-1)[0])
        warps.append(np.stack(warp, -1))
        x = np.clip(a @ warps[-1], 0, 1)
    return warps


def _expand(x):
    return np.concatenate([*[x[:, c : c + 1] * x[:, c:] for c in range(3)], x, np.ones_like(x[:, :1])], -1)


def reference_fit(kind, render, gt):
    """(fitted right half, parameters): fitted on columns [:W - W//2], applied to [W//2:], clipped, float64."""
    w = render.shape[1]
    xl, yl = render[:, : w - w // 2].reshape(-1, 3), gt[:, : w - w // 2].reshape(-1, 3)
    xr = render[:, w // 2 :]
    flat = xr.reshape(-1, 3)
    if kind == "gain-bias":
        p = np.stack([np.linalg.lstsq(np.stack([xl[:, c], np.ones(len(xl))], 1), yl[:, c], rcond=None)[0]
                      for c in range(3)])  # (3, 2)
        out = flat * p[:, 0] + p[:, 1]
    elif kind == "affine":
        p = np.linalg.lstsq(np.concatenate([xl, np.ones((len(xl), 1))], 1), yl, rcond=None)[0].T  # (3, 4)
        out = flat @ p[:, :3].T + p[:, 3]
    else:
        p = np.stack(_numpy_color_correct(render[:, : w - w // 2], gt[:, : w - w // 2]))  # (5, 10, 3)
        out = flat
        for warp in p:
            out = np.clip(_expand(out) @ warp, 0, 1)
    return np.clip(out, 0, 1).reshape(xr.shape), p


def _metrics(render, gt):
    x, y = to_nchw(render, torch.float64), to_nchw(gt, torch.float64)
    return {"psnr": float(-10 * np.log10(np.mean((render - gt) ** 2))), "ssim": ref_ssim_2d(x, y, "dmpix")}


def test_nerfw_scores_the_right_half_of_both_images_in_uint8(wild, reference_lpips):
    root, views = wild
    df = score_folders({"m": root / "m"}, root / "gt", "nerfw", progress=False, device="cpu")
    for row in df.to_dict("records"):
        render, gt = views[row["view"]]
        r, g = _u8(render)[:, W // 2 :], _u8(gt)[:, W // 2 :]
        assert r.shape[1] == 49
        ref = _metrics(r, g)
        with torch.no_grad():
            for net in ("alex", "vgg"):
                ref[f"lpips_{net}"] = float(reference_lpips[net](to_nchw(r), to_nchw(g), normalize=True))
        for m in PROTOCOLS["nerfw"].metrics:
            assert row[m] == pytest.approx(ref[m], abs=1e-4 if m == "psnr" else 1e-5), (m, row["view"])
    whole = score_folders({"m": root / "m"}, root / "gt", "nerfbaselines", ("psnr",), progress=False, device="cpu")
    assert abs(whole["psnr"].mean() - df["psnr"].mean()) > 0.01  # the crop is not a no-op on these views


@pytest.mark.parametrize("kind", ["gain-bias", "affine", "color-correct"])
def test_appearance_fit_matches_a_float64_transcription(wild, kind):
    from nvs_eval.compute.evaluator import Evaluator

    root, views = wild
    protocol = get_protocol(f"nerfw+appearance_fit={kind}")
    df = score_folders({"m": root / "m"}, root / "gt", protocol, ("psnr", "ssim"), progress=False, device="cpu")
    raw = score_folders({"m": root / "m"}, root / "gt", "nerfw", ("psnr",), progress=False, device="cpu")
    assert df["psnr"].mean() > raw["psnr"].mean() + 3  # the fit undoes the exposure change
    ev = Evaluator(protocol, ("psnr",), device="cpu")
    for row in df.to_dict("records"):
        render, gt = views[row["view"]]
        fitted, params = reference_fit(kind, render, gt)
        ref = _metrics(_u8(fitted), _u8(gt)[:, W // 2 :])  # the fitted render is then quantised as the protocol says
        assert row["psnr"] == pytest.approx(ref["psnr"], abs=1e-4)
        assert row["ssim"] == pytest.approx(ref["ssim"], abs=1e-5)
        ev.score(to_nchw(render), ev.prepare(to_nchw(gt)))
        # the fit sees the decoder's float32 pixels (k / 255 rounded to float32): so does the transcription here
        params32 = reference_fit(kind, *(v.astype(np.float32).astype(np.float64) for v in (render, gt)))[1]
        assert np.abs(ev.fitted[0].numpy() - params32).max() < 1e-6 * max(1.0, np.abs(params).max())


def test_fits_of_a_batch_spanning_views_equal_each_view_alone(wild):
    from nvs_eval.compute.evaluator import Evaluator

    _, views = wild
    ev = Evaluator(get_protocol("nerfw+appearance_fit=affine"), ("psnr", "ssim", "lpips_alex"), device="cpu")
    renders = torch.cat([to_nchw(v[0]) for v in views.values()])
    gts = torch.cat([to_nchw(v[1]) for v in views.values()])
    together = ev.score(renders[[1, 0, 1]], ev.prepare(gts), views=[1, 0, 1])
    fitted = ev.fitted
    for j, v in enumerate([1, 0, 1]):
        alone = ev.score(renders[v : v + 1], ev.prepare(gts[v : v + 1]))
        for m in alone:  # as the metric tester's check_views: batched kernels agree to 1e-6
            value = float(alone[m][0])
            assert float(together[m][j]) == pytest.approx(value, abs=1e-6 * max(1, abs(value)))
        assert torch.allclose(fitted[j], ev.fitted[0], rtol=0, atol=1e-12)


def test_the_fit_is_stored_per_view_and_named_in_every_caption(wild, tmp_path):
    from nvs_eval.api import evaluate, read_results
    from nvs_eval.results.store import ResultsStore

    root, views = wild
    cfg = tmp_path / "wild.yaml"
    cfg.write_text(f"name: wild\nprotocol: nerfw\nappearance_fit: gain-bias\nmetrics: [psnr, ssim]\n"
                   f"datasets:\n  - name: phototourism\n    kind: pairs\n    scenes: [brandenburg]\n"
                   f"    gt: {root / 'gt'}\n"
                   f"    methods:\n      - {{name: m, path: {root / 'm'}}}\n")
    evaluate(cfg, tmp_path / "out", progress=False, device="cpu")
    store = ResultsStore(tmp_path / "out" / "results.sqlite")
    fits = store.fits()
    assert sorted(fits["view"]) == sorted(views) and set(fits["protocol"]) == {"nerfw+appearance_fit=gain-bias"}
    for row in fits.to_dict("records"):
        render, gt = views[row["view"]]
        assert row["fit"] == "gain-bias"
        assert np.abs(np.array(row["params"]) - reference_fit("gain-bias", render, gt)[1]).max() < 1e-6
    assert set(store.frame()["protocol"]) == {"nerfw+appearance_fit=gain-bias"}
    from nvs_eval.report.table import build_tables

    table = build_tables(read_results(store, "nerfw+appearance_fit=gain-bias"), "nerfw+appearance_fit=gain-bias",
                         ["psnr", "ssim"])[0]
    assert "right half of each image" in table.caption and "fitted by gain-bias on the left half" in table.caption


def test_score_prints_raw_and_fitted_side_by_side(wild, tmp_path, capsys):
    from nvs_eval.cli import main

    root, _ = wild
    out = tmp_path / "s.json"
    assert main(["score", f"m={root / 'm'}", "--gt", str(root / "gt"), "--protocol", "nerfw", "--appearance-fit",
                 "affine", "--compare-raw", "--metrics", "psnr,ssim", "--device", "cpu", "--json", str(out)]) == 0
    text = capsys.readouterr().out
    assert "PSNR (raw)" in text and "PSNR (affine)" in text and "right half of each image" in text
    doc = json.loads(out.read_text())
    assert doc["protocol"]["appearance_fit"] == "affine" and doc["protocol"]["crop"] == "right-half"
    assert set(doc) == {"protocol", "metrics", "views", "mean", "auxiliary", "reported", "runs", "efficiency"}


def test_a_fit_needs_the_half_image_protocol_and_round_trips_through_yaml(tmp_path):
    with pytest.raises(UsageError, match="needs crop: right-half"):
        get_protocol("3dgs+appearance_fit=affine")
    with pytest.raises(UsageError, match="not a setting a name may carry"):
        get_protocol("nerfw+crop=left")
    p = get_protocol("nerfw+appearance_fit=color-correct")
    (tmp_path / "p.yaml").write_text(protocol_yaml(p))
    back = load_protocol_file(tmp_path / "p.yaml")
    assert back.key() == p.key() and back.appearance_fit == "color-correct"
    assert get_protocol("nerfw").key() != get_protocol("nerfbaselines").key() != p.key()
    assert get_protocol("nerfw+appearance_fit=affine").with_appearance_fit("none").key() == get_protocol("nerfw").key()
