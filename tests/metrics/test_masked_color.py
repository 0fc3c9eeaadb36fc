"""Masked and colour-corrected metrics (issue 14), each checked against an independent float64 transcription
written here (colour correction's: in nvs_eval.compute.references, which the reference tester uses too), on real
photographs with irregular masks touching the border."""

from __future__ import annotations

import json
import sqlite3

import numpy as np
import pytest
import torch
from PIL import Image

from nvs_eval.compute.references import color_correct as numpy_color_correct  # multinerf, in NumPy float64
from nvs_eval.metrics.color import color_correct
from nvs_eval.metrics.masked import masked_psnr, masked_ssim
from nvs_eval.metrics.ssim import SSIM_REFLECT, SSIM_VALID, SSIM_ZERO, SSIMSpec, ssim

from conftest import photo, to_nchw
from helpers import bench, cli

SPECS = {"valid": SSIM_VALID, "zero-same": SSIM_ZERO, "reflect-same": SSIM_REFLECT,
         "dmpix": SSIMSpec(padding="valid", variance_floor=float.fromhex("0x1p-46"))}


def _pair(h=26, w=30, name="astronaut", off=(60, 170)):
    from scipy.ndimage import gaussian_filter

    gt = photo(name, (h, w), off)
    rng = np.random.default_rng(1)
    return np.clip(gaussian_filter(gt, (0.8, 0.8, 0)) + rng.normal(0, 0.03, gt.shape), 0, 1), gt


def _masks(h=26, w=30):
    """An irregular binary blob touching the top and left borders, and a soft (grey) version of it."""
    yy, xx = np.mgrid[:h, :w]
    blob = ((yy - 4) ** 2 / 90 + (xx - 3) ** 2 / 160 < 1) | ((yy - 18) ** 2 + (xx - 22) ** 2 < 30)
    soft = np.where(blob, 1.0, 0.0) * (0.4 + 0.6 * (xx / w))
    return {"binary": blob.astype(np.float64), "soft": soft}


def brute_masked_ssim(x, y, m, spec: SSIMSpec) -> float:
    """The definition, window by window in float64: mask-weighted moments, the SSIM formula, weight m."""
    g = np.exp(-((np.arange(spec.size) - spec.size // 2) ** 2) / (2 * spec.sigma**2))
    win = np.outer(g, g) / g.sum() ** 2
    p = spec.size // 2
    if spec.padding == "valid":
        xp, yp, mp, centres = x, y, m, [(i, j) for i in range(p, x.shape[0] - p) for j in range(p, x.shape[1] - p)]
    else:
        image_mode, mask_mode = ("constant", "edge") if spec.padding == "zero-same" else ("reflect", "reflect")
        xp, yp = (np.pad(a, ((p, p), (p, p), (0, 0)), mode=image_mode) for a in (x, y))
        mp = np.pad(m, p, mode=mask_mode)
        centres = [(i + p, j + p) for i in range(x.shape[0]) for j in range(x.shape[1])]
    c1, c2 = (spec.k1 * spec.data_range) ** 2, (spec.k2 * spec.data_range) ** 2
    num = den = 0.0
    for i, j in centres:
        wm = win * mp[i - p : i + p + 1, j - p : j + p + 1]
        s = wm.sum()
        if s <= 1e-6:
            continue
        for c in range(3):
            a, b = xp[i - p : i + p + 1, j - p : j + p + 1, c], yp[i - p : i + p + 1, j - p : j + p + 1, c]
            mx, my = (wm * a).sum() / s, (wm * b).sum() / s
            vx, vy = (wm * a * a).sum() / s - mx**2, (wm * b * b).sum() / s - my**2
            cov = (wm * a * b).sum() / s - mx * my
            if spec.variance_floor is not None:
                vx, vy = max(vx, spec.variance_floor), max(vy, spec.variance_floor)
                cov = np.sign(cov) * min(np.sqrt(vx * vy), abs(cov))
            val = ((2 * mx * my + c1) * (2 * cov + c2)) / ((mx**2 + my**2 + c1) * (vx + vy + c2))
            num += mp[i, j] * val
            den += mp[i, j]
    return num / den


@pytest.mark.parametrize("mask_kind", ["binary", "soft"])
@pytest.mark.parametrize("padding", list(SPECS))
def test_masked_ssim_matches_a_brute_force_float64_loop_over_windows(padding, mask_kind):
    x, y = _pair()
    m = _masks()[mask_kind]
    ref = brute_masked_ssim(x, y, m, SPECS[padding])
    mt = torch.from_numpy(m)[None, None]
    got64 = float(masked_ssim(to_nchw(x, torch.float64), to_nchw(y, torch.float64), mt, SPECS[padding])[0])
    got32 = float(masked_ssim(to_nchw(x), to_nchw(y), mt.float(), SPECS[padding])[0])
    assert got64 == pytest.approx(ref, abs=1e-10)
    assert got32 == pytest.approx(ref, abs=1e-5)


@pytest.mark.parametrize("padding", list(SPECS))
def test_an_all_ones_mask_gives_the_protocols_unmasked_ssim(padding):
    x, y = (to_nchw(a, torch.float64) for a in _pair())
    ones = torch.ones(1, 1, *x.shape[-2:], dtype=torch.float64)
    assert float(masked_ssim(x, y, ones, SPECS[padding])[0]) == pytest.approx(float(ssim(x, y, SPECS[padding])[0]),
                                                                             abs=1e-12)


def test_masked_psnr_is_the_mse_over_the_masked_pixels():
    x, y = _pair()
    for m in _masks().values():
        mse = (m[..., None] * (x - y) ** 2).sum() / (3 * m.sum())
        got = float(masked_psnr(to_nchw(x, torch.float64), to_nchw(y, torch.float64), torch.from_numpy(m)[None, None]))
        assert got == pytest.approx(10 * np.log10(1 / mse), abs=1e-10)


def test_a_mask_that_excludes_a_corrupted_region_gives_exactly_the_clean_values():
    x, y = _pair()
    m = _masks()["binary"]
    corrupted = x.copy()
    corrupted[m == 0] = np.random.default_rng(5).random(corrupted[m == 0].shape)  # garbage where m = 0
    mt = torch.from_numpy(m)[None, None].float()
    for spec in SPECS.values():
        a = masked_ssim(to_nchw(x), to_nchw(y), mt, spec)
        b = masked_ssim(to_nchw(corrupted), to_nchw(y), mt, spec)
        assert torch.equal(a, b)
    assert torch.equal(masked_psnr(to_nchw(x), to_nchw(y), mt), masked_psnr(to_nchw(corrupted), to_nchw(y), mt))


def test_masked_lpips_is_the_lpips_packages_spatial_map_averaged_with_the_mask(reference_lpips):
    from nvs_eval.compute.evaluator import Evaluator
    from nvs_eval.conventions.protocols import get_protocol

    x, y = _pair(64, 80, "coffee", (100, 200))
    yy, xx = np.mgrid[:64, :80]
    m = ((yy - 30) ** 2 / 600 + (xx - 10) ** 2 / 900 < 1).astype(np.float32) * (0.5 + 0.5 * (yy / 64))
    ev = Evaluator(get_protocol("nvs-eval"), ("masked_lpips_alex", "masked_lpips_vgg"), device="cpu")
    got = ev.score(to_nchw(x), ev.prepare(to_nchw(y), torch.from_numpy(m)[None, None]))
    for net in ("alex", "vgg"):
        ref = reference_lpips[net]
        ref.spatial = True
        try:
            with torch.no_grad():
                smap = ref(to_nchw(x), to_nchw(y), normalize=True)[0, 0].double().numpy()
        finally:
            ref.spatial = False
        expected = (smap * m).sum() / m.sum()
        assert float(got[f"masked_lpips_{net}"][0]) == pytest.approx(expected, abs=1e-6)


def test_an_all_ones_mask_gives_exactly_the_unmasked_values_in_the_evaluator():
    from nvs_eval.compute.evaluator import Evaluator
    from nvs_eval.conventions.protocols import get_protocol

    x, y = _pair(64, 80)
    plain = ("psnr", "ssim", "lpips_alex")
    ev = Evaluator(get_protocol("3dgs"), (*plain, *(f"masked_{m}" for m in plain)), device="cpu")
    got = ev.score(to_nchw(x), ev.prepare(to_nchw(y), torch.ones(1, 1, 64, 80)))
    for m in plain:
        assert torch.equal(got[m], got[f"masked_{m}"]), m


@pytest.mark.parametrize("name,off", [("astronaut", (40, 150)), ("chelsea", (60, 120)), ("coffee", (100, 200))])
def test_color_correct_matches_a_float64_numpy_transcription_of_multinerf(name, off):
    gt = photo(name, (96, 128), off)
    rng = np.random.default_rng(2)
    render = np.clip(gt * np.array([1.15, 0.92, 0.8]) + 0.03 + rng.normal(0, 0.02, gt.shape), 0, 1)  # cast + noise
    expected = numpy_color_correct(render, gt)
    got = color_correct(to_nchw(render, torch.float64), to_nchw(gt, torch.float64))[0].permute(1, 2, 0).numpy()
    assert np.abs(got - expected).max() < 1e-6  # float32 output of a float64 fit


def test_colour_corrected_metrics_undo_a_known_quadratic_colour_transform():
    from nvs_eval.compute.evaluator import Evaluator
    from nvs_eval.conventions.protocols import get_protocol

    gt = photo("astronaut", (96, 128), (40, 150))
    a, b, c = np.array([0.2, -0.15, 0.1]), np.array([0.6, 1.0, 0.7]), np.array([0.15, 0.0, 0.18])
    render = a * gt**2 + b * gt + c  # per channel, inside [0, 1] (0.004 to 0.93 here)
    ev = Evaluator(get_protocol("nvs-eval"), ("psnr", "cc_psnr", "ssim", "cc_ssim"), device="cpu")
    got = {k: float(v[0]) for k, v in ev.score(to_nchw(render), ev.prepare(to_nchw(gt))).items()}
    assert got["psnr"] < 25 and got["cc_psnr"] > 60 and got["cc_ssim"] > 0.9999  # ~identity after the warp


def _mask_folder(path, views, h=64, w=72):
    path.mkdir(parents=True)
    yy, xx = np.mgrid[:h, :w]
    for v in views:
        Image.fromarray(np.where((yy - 20) ** 2 + (xx - 30) ** 2 < 400, 255, 0).astype(np.uint8)).save(path / v)


def test_score_with_masked_and_colour_corrected_metrics_end_to_end(tmp_path):
    cfg = bench(tmp_path, views=2)
    _mask_folder(tmp_path / "masks", ["000.png", "001.png"])
    out = tmp_path / "s.json"
    r = cli("score", str(tmp_path / "r" / "m1" / "s1"), "--gt", str(tmp_path / "gt" / "s1"), "--metrics",
            "psnr,masked_psnr,masked_ssim,cc_psnr", "--masks", str(tmp_path / "masks"), "--json", str(out),
            "--device", "cpu")
    assert r.returncode == 0, r.stderr
    doc = json.loads(out.read_text())
    assert doc["metrics"] == ["psnr", "masked_psnr", "masked_ssim", "cc_psnr"] and len(doc["views"]) == 2
    assert "Masked PSNR" in r.stdout and "CC-PSNR" in r.stdout
    r = cli("score", str(tmp_path / "r" / "m1" / "s1"), "--gt", str(tmp_path / "gt" / "s1"), "--metrics",
            "masked_psnr", "--device", "cpu")
    assert r.returncode == 2 and "masked_psnr need masks: give --masks DIR" in r.stderr
    Image.fromarray(np.zeros((64, 72), np.uint8)).save(tmp_path / "masks" / "001.png")
    r = cli("score", str(tmp_path / "r" / "m1" / "s1"), "--gt", str(tmp_path / "gt" / "s1"), "--metrics",
            "masked_psnr", "--masks", str(tmp_path / "masks"), "--device", "cpu")
    assert r.returncode == 2 and "001.png: mask selects no pixel (all zero)" in r.stderr
    (tmp_path / "masks" / "001.png").unlink()
    r = cli("score", str(tmp_path / "r" / "m1" / "s1"), "--gt", str(tmp_path / "gt" / "s1"), "--metrics",
            "masked_psnr", "--masks", str(tmp_path / "masks"), "--device", "cpu")
    assert r.returncode == 2 and "1 view(s) have no mask" in r.stderr and "001" in r.stderr
    assert cfg.exists()


def _rows(db):
    con = sqlite3.connect(db)
    try:
        return {(m, v, k): (val, c) for m, v, k, val, c in
                con.execute("SELECT method, view, metric, value, created FROM results")}
    finally:
        con.close()


def test_adding_a_metric_computes_only_that_metric_and_keeps_the_stored_ones(tmp_path):
    cfg = bench(tmp_path, views=3, metrics="psnr")
    out = tmp_path / "out"
    assert cli("evaluate", str(cfg), "--out", str(out), "--no-report", "--device", "cpu").returncode == 0
    before = _rows(out / "results.sqlite")
    cfg.write_text(cfg.read_text().replace("metrics: [psnr]", "metrics: [psnr, lpips_alex, cc_psnr]"))
    r = cli("evaluate", str(cfg), "--out", str(out), "--no-report", "--device", "cpu")
    assert r.returncode == 0, r.stderr  # stored PSNR rows are not 'stale' because LPIPS weights joined the run
    after = _rows(out / "results.sqlite")
    assert all(after[k] == v for k, v in before.items())  # the same values, not rewritten
    assert len(after) == 3 * 2 * 3 and "3 views: 6 render(s) computed, 0 reused" in r.stderr


def test_the_ground_truths_alpha_channel_is_the_same_mask_as_a_mask_file(tmp_path):
    from nvs_eval.api import attach_masks, score_scenes
    from nvs_eval.data.layouts import pairs_scene

    render, gt = _pair(48, 64, "chelsea", (60, 120))
    yy, xx = np.mgrid[:48, :64]
    alpha = np.where((yy - 20) ** 2 + (xx - 25) ** 2 < 300, 255, 0).astype(np.uint8)
    rgb = (gt * 255).round().astype(np.uint8)
    for folder, arr in (("gt", np.dstack([rgb, np.full_like(alpha, 255)])), ("gt_rgba", np.dstack([rgb, alpha])),
                        ("r", (render * 255).round().astype(np.uint8)), ("masks", alpha)):
        (tmp_path / folder).mkdir()
        Image.fromarray(arr).save(tmp_path / folder / "0.png")
    scores = {}
    for how in ("file", "alpha"):
        scene = pairs_scene([("m", tmp_path / "r")], tmp_path / ("gt" if how == "file" else "gt_rgba"))
        attach_masks([scene], tmp_path / "masks" if how == "file" else None, from_gt_alpha=how == "alpha")
        # the RGBA ground truth is composited on white where it is transparent; masked metrics never look there
        scores[how] = score_scenes([scene], "nvs-eval", ("masked_psnr", "masked_ssim"), device="cpu", progress=False)
    for m in ("masked_psnr", "masked_ssim"):
        assert scores["file"][m].iloc[0] == pytest.approx(scores["alpha"][m].iloc[0], abs=1e-6)
    scene = pairs_scene([("m", tmp_path / "r")], tmp_path / "gt_rgba")
    Image.fromarray(rgb).save(tmp_path / "gt_rgba" / "0.png")  # now without alpha
    attach_masks([scene], from_gt_alpha=True)
    with pytest.raises(Exception, match="0.png: has no alpha channel"):
        score_scenes([scene], "nvs-eval", ("masked_psnr",), device="cpu", progress=False)


def test_the_masks_a_dataset_ships_are_used_without_flags(tmp_path):
    """NeRF-synthetic's RGBA test images carry their masks (alpha); an LLFF / Mip-NeRF 360 scene may have a
    masks_N/ folder beside images_N/. Both score exactly as the same masks given explicitly."""
    from nvs_eval.api import attach_masks, score_scenes
    from nvs_eval.data.datasets import dataset_scene

    from helpers import folder

    scene = tmp_path / "lego"
    folder(scene / "test", ["r_0.png", "r_1.png"], mode="RGBA", h=40, w=48)
    (scene / "transforms_test.json").write_text(json.dumps({"frames": [{"file_path": "./test/r_0"},
                                                                       {"file_path": "./test/r_1"}]}))
    folder(tmp_path / "renders", ["00000.png", "00001.png"], seed=7, h=40, w=48)
    metrics = ("psnr", "masked_psnr", "masked_ssim")
    shipped = dataset_scene("blender", scene, {"m": tmp_path / "renders"})
    assert shipped.mask_from_gt_alpha
    explicit = dataset_scene("blender", scene, {"m": tmp_path / "renders"})
    attach_masks([explicit], None, from_gt_alpha=True)
    a, b = (score_scenes([s], "nvs-eval", metrics, device="cpu", progress=False) for s in (shipped, explicit))
    assert a[list(metrics)].equals(b[list(metrics)]) and (a["masked_psnr"] != a["psnr"]).all()

    folder(tmp_path / "fern" / "images_4", [f"IMG_{i:03d}.png" for i in range(9)], h=40, w=48)
    folder(tmp_path / "r", ["0.png", "1.png"], seed=3, h=40, w=48)
    _mask_folder(tmp_path / "fern" / "masks_4", ["IMG_000.png", "IMG_008.png"], h=40, w=48)
    shipped = dataset_scene("llff", tmp_path / "fern", {"m": tmp_path / "r"}, images="images_4")
    assert set(shipped.masks) == {"IMG_000", "IMG_008"}
    explicit = dataset_scene("llff", tmp_path / "fern", {"m": tmp_path / "r"}, images="images_4")
    explicit.masks = {}
    attach_masks([explicit], tmp_path / "fern" / "masks_4")
    a, b = (score_scenes([s], "nvs-eval", metrics, device="cpu", progress=False) for s in (shipped, explicit))
    assert a[list(metrics)].equals(b[list(metrics)]) and (a["masked_psnr"] != a["psnr"]).all()
    (tmp_path / "fern" / "masks_4" / "IMG_008.png").unlink()  # one view without a mask: the folder is not used
    assert not dataset_scene("llff", tmp_path / "fern", {"m": tmp_path / "r"}, images="images_4").masks
