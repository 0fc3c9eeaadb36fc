"""DISTS and FLIP (issue 14): each against its authors' own implementation on real photographs, through the
evaluator, the store and the CLI; and the masked LPIPS of views too large for whole-image features."""

from __future__ import annotations

import json
import sqlite3

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from conftest import PHOTOS, distortions, photo, to_nchw
from helpers import bench, cli


@pytest.fixture(scope="module")
def dists_model():
    from nvs_eval.metrics.dists import build_dists

    return build_dists(device="cpu")[0]


@pytest.mark.parametrize("name", list(PHOTOS))
def test_dists_equals_the_authors_implementation_on_photographs(name, reference_dists, dists_model):
    gt = photo(name, (150, 203), PHOTOS[name])  # odd sizes: the L2 pools' padding at the borders counts
    for kind, pred in distortions(gt).items():
        with torch.no_grad():
            expected = float(reference_dists(to_nchw(pred), to_nchw(gt)))
        got = float(dists_model(to_nchw(pred), to_nchw(gt))[0])
        assert got == pytest.approx(expected, abs=1e-5), kind
        assert 0.005 < got < 0.6, kind  # a real distance, not a degenerate one
    assert abs(float(dists_model(to_nchw(gt), to_nchw(gt))[0])) < 1e-6


def test_dists_in_tiles_equals_dists_of_the_whole_image(dists_model):
    from nvs_eval.compute.evaluator import Evaluator
    from nvs_eval.conventions.protocols import get_protocol

    # 3 x 3 tiles of 96 px (odd sizes: the last row and column partial); the corner tiles' context ends 112 px past
    # them, inside the image, so the halo alone must carry what their features need
    gt = photo("astronaut", (221, 263), (20, 30))
    preds = torch.cat([to_nchw(d) for d in list(distortions(gt).values())[:2]])
    whole = torch.cat([dists_model(p[None], to_nchw(gt)) for p in preds])
    ev = Evaluator(get_protocol("nvs-eval"), ("dists",), device="cpu", tile=96, tile_above=10_000)
    target = ev.prepare(to_nchw(gt))
    assert target.tiled
    tiled = ev.score(preds, target)["dists"]
    assert float((tiled - whole).abs().max()) < 1e-7, (tiled - whole)


def test_dists_does_not_reuse_lpips_vgg_features_because_they_are_not_identical(dists_model):
    """Checked, not assumed (issue 14.6). LPIPS's scaling layer is ImageNet's normalisation written for [-1, 1]
    inputs (0.458 = 2 x 0.229, (1 - 0.030) / 2 = 0.485, ...), so the two networks' inputs agree to float rounding
    only, and from relu2_2 on DISTS's L2 pools make the features different altogether. Sharing relu1_2 would
    change DISTS's value by whether LPIPS-VGG is also asked for; so nothing is shared."""
    from nvs_eval.metrics.lpips import build_lpips

    lp = build_lpips("vgg", device="cpu")[0]
    x = to_nchw(photo("astronaut", (64, 80), (40, 150)))
    with torch.no_grad():
        h = lp.slices[0]((x * 2 - 1 - lp.shift) / lp.scale)
        layers = list(dists_model._layers(x))
    ours = layers[1]
    assert not torch.equal(h, ours)  # not bit-identical ...
    assert float((h - ours).abs().max()) < 1e-4 * float(ours.abs().max())  # ... only float rounding apart
    assert float((lp.slices[1](h) - layers[2]).abs().max()) > 0.1 * float(layers[2].abs().max())  # L2 vs max pool


def test_dists_weights_come_from_the_pinned_wheel_and_a_wrong_one_is_refused(isolated_cache, tmp_path):
    from nvs_eval.errors import WeightsError
    from nvs_eval.metrics import weights as W

    with pytest.raises(WeightsError, match="DISTS weights are not on this machine.*nvs-eval weights --fetch"):
        W.load_dists(fetch=False)
    fake = tmp_path / W.DISTS_WHEEL_FILE
    fake.write_bytes(b"PK not the wheel")
    with pytest.raises(WeightsError, match="does not match dists-pytorch==0.1"):
        W.fetch_dists(fake)


def test_flip_equals_nvidias_package_reading_the_same_files(tmp_path):
    """Our FLIP (decoded by nvs-eval, through the evaluator) against flip-evaluator reading the PNGs itself:
    the mean and the map, pixel for pixel."""
    import flip_evaluator

    from nvs_eval.compute.evaluator import Evaluator
    from nvs_eval.conventions.protocols import get_protocol
    from nvs_eval.data.images import read_image

    gt = photo("coffee", (120, 161), PHOTOS["coffee"])
    ev = Evaluator(get_protocol("nvs-eval"), ("flip",), device="cpu")
    for kind, pred in distortions(gt).items():
        paths = {}
        for role, a in (("gt", gt), ("r", pred)):
            paths[role] = tmp_path / f"{kind}-{role}.png"
            Image.fromarray((a * 255).round().astype(np.uint8)).save(paths[role])
        emap, mean, params = flip_evaluator.evaluate(str(paths["gt"]), str(paths["r"]), "LDR", applyMagma=False)
        assert params["ppd"] == pytest.approx(67.0206, abs=1e-4)  # the standard viewing conditions
        r, g = (ev.to_tensor(read_image(paths[k])) for k in ("r", "gt"))
        target = ev.prepare(g)
        got = float(ev.score(r, target)["flip"][0])
        assert got == pytest.approx(mean, abs=1e-6), kind
        fmap = ev.maps(r, target)["flip"].numpy()
        assert np.abs(fmap - emap[..., 0]).max() <= 1e-6, kind
        assert 0.01 < got < 0.6


def test_layer_weights_carry_the_mask_back_through_pytorchs_bilinear_upsampling():
    """sum(m * upsample(d)) == sum(layer_weights(m) * d) for layer maps of every size LPIPS produces (float32
    maps, as LPIPS's are: the taps are computed as PyTorch computes them for float32)."""
    from nvs_eval.metrics.masked import layer_weights

    g = torch.Generator().manual_seed(3)
    m = torch.rand(1, 1, 75, 101, generator=g, dtype=torch.float64)
    for h, w in ((75, 101), (37, 50), (18, 25), (9, 12), (4, 6), (8, 11), (1, 1)):
        d = torch.rand(1, h, w, generator=g)
        up = F.interpolate(d[:, None], size=(75, 101), mode="bilinear", align_corners=False)[:, 0].double()
        assert float((layer_weights(m, (h, w)) * d).sum()) == pytest.approx(float((m[:, 0] * up).sum()), rel=1e-7)


@pytest.mark.parametrize("net", ["alex", "vgg"])
def test_masked_lpips_in_tiles_equals_the_whole_images(net):
    from nvs_eval.compute.evaluator import Evaluator
    from nvs_eval.conventions.protocols import get_protocol

    gt = photo("chelsea", (250, 333), (20, 30))
    preds = torch.cat([to_nchw(d) for d in list(distortions(gt).values())[:2]])
    yy, xx = np.mgrid[:250, :333]
    mask = torch.from_numpy(((yy - 100) ** 2 / 9000 + (xx - 40) ** 2 / 20000 < 1) * (0.3 + 0.7 * xx / 333))
    mask = mask.float()[None, None]
    metric = f"masked_lpips_{net}"
    whole = Evaluator(get_protocol("nvs-eval"), (metric,), device="cpu")
    tiled = Evaluator(get_protocol("nvs-eval"), (metric,), device="cpu", tile=96, tile_above=10_000)
    a = whole.score(preds, whole.prepare(to_nchw(gt), mask))[metric]
    t_target = tiled.prepare(to_nchw(gt), mask)
    assert t_target.tiled
    b = tiled.score(preds, t_target)[metric]
    assert torch.allclose(a, b, rtol=0, atol=1e-7), (a, b)
    assert float(a.min()) > 0.01


def _mask_folder(path, names, h=64, w=72):
    path.mkdir(parents=True, exist_ok=True)
    yy, xx = np.mgrid[:h, :w]
    for n in names:
        Image.fromarray((((yy - 30) ** 2 + (xx - 20) ** 2 < 500) * 255).astype(np.uint8)).save(path / n)


def test_score_the_new_families_end_to_end_and_heatmap_flip(tmp_path):
    bench(tmp_path, views=2)
    _mask_folder(tmp_path / "masks", ["000.png", "001.png"])
    out = tmp_path / "s.json"
    metrics = "psnr,masked_psnr,cc_psnr,dists,flip"
    r = cli("score", str(tmp_path / "r" / "m1" / "s1"), "--gt", str(tmp_path / "gt" / "s1"), "--metrics", metrics,
            "--masks", str(tmp_path / "masks"), "--json", str(out), "--device", "cpu")
    assert r.returncode == 0, r.stderr
    doc = json.loads(out.read_text())
    assert doc["metrics"] == metrics.split(",") and len(doc["views"]) == 2
    assert all(0 < v["dists"] < 1 and 0 < v["flip"] < 1 for v in doc["views"])
    assert "DISTS" in r.stdout and "FLIP" in r.stdout
    npy = tmp_path / "flip.npy"
    r = cli("heatmap", str(tmp_path / "r" / "m1" / "s1" / "000.png"), str(tmp_path / "gt" / "s1" / "000.png"),
            "--metric", "flip", "--out", str(tmp_path / "flip.png"), "--save-map", str(npy), "--device", "cpu")
    assert r.returncode == 0, r.stderr
    fmap = np.load(npy)
    assert fmap.shape == (64, 72) and float(fmap.mean()) == pytest.approx(doc["views"][0]["flip"], abs=1e-5)


def test_adding_dists_and_flip_to_a_stored_benchmark_computes_only_them(tmp_path):
    cfg = bench(tmp_path, views=2, metrics="psnr, lpips_vgg")
    out = tmp_path / "out"
    assert cli("evaluate", str(cfg), "--out", str(out), "--no-report", "--device", "cpu").returncode == 0
    con = sqlite3.connect(out / "results.sqlite")
    before = {(m, v, k): (val, c) for m, v, k, val, c in
              con.execute("SELECT method, view, metric, value, created FROM results")}
    con.close()
    cfg.write_text(cfg.read_text().replace("metrics: [psnr, lpips_vgg]", "metrics: [psnr, lpips_vgg, dists, flip]"))
    r = cli("evaluate", str(cfg), "--out", str(out), "--no-report", "--device", "cpu")
    assert r.returncode == 0, r.stderr
    con = sqlite3.connect(out / "results.sqlite")
    rows = {(m, v, k): (val, c, w) for m, v, k, val, c, w in
            con.execute("SELECT method, view, metric, value, created, weights FROM results")}
    con.close()
    assert all(rows[k][:2] == v for k, v in before.items())  # PSNR and LPIPS rows untouched
    assert len(rows) == 2 * 2 * 4
    assert {rows[k][2] for k in rows if k[2] == "flip"} and all("flip:flip-evaluator==" in rows[k][2]
                                                               for k in rows if k[2] == "flip")
