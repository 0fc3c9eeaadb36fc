"""Multi-scale evaluation: mip-NeRF's multi-scale Blender built as scripts/convert_blender_data.py writes it,
Mip-Splatting's multi-resolution renders as its render.py writes them, per-scale tables and mip-NeRF's Avg
against a transcription of scripts/summarize.ipynb."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from conftest import photo

BASE = 256  # 1/8 scale: 32 x 32, above the SSIM window and LPIPS-Alex's 31 pixels


def _down2(img):  # convert_blender_data.py down2
    sh = img.shape
    return np.mean(np.reshape(img, [sh[0] // 2, 2, sh[1] // 2, 2, -1]), (1, 3))


def _convert(src_images: list[np.ndarray], out) -> list[str]:
    """convert_to_nerfdata for the test split: each float32 RGBA image and its three box-downsampled levels,
    written with np.uint8(img * 255), listed in metadata.json."""
    (out / "images_test").mkdir(parents=True)
    meta = {k: [] for k in ("file_path", "width", "height", "label", "lossmult")}
    for i, img in enumerate(src_images):
        for j in range(4):
            fname = f"images_test/{i:03d}_d{j}.png"
            Image.fromarray(np.uint8(img * 255)).save(out / fname)
            for k, v in zip(meta, (fname, img.shape[1], img.shape[0], j, 4.0**j)):
                meta[k].append(v)
            img = _down2(img)
    (out / "metadata.json").write_text(json.dumps({"test": meta}))
    return meta["file_path"]


def _rgba(name, off, seed):
    rgb = photo(name, (BASE, BASE), off).astype(np.float32)
    yy, xx = np.mgrid[:BASE, :BASE]
    alpha = (((yy - 128) ** 2 + (xx - 112 - seed) ** 2) < 96**2).astype(np.float32)  # an object on transparency
    return np.concatenate([rgb, alpha[..., None]], -1)


@pytest.fixture(scope="module")
def multiblender(tmp_path_factory):
    """Two scenes of two test images each (8 views a scene), and mip-NeRF-style renders color_{idx:03d}.png."""
    from scipy.ndimage import gaussian_filter

    root = tmp_path_factory.mktemp("multiblender")
    rng = np.random.default_rng(4)
    for s, scene in enumerate(("lego", "ship")):
        files = _convert([_rgba("astronaut", (40 + 30 * s, 150), 0), _rgba("coffee", (100, 200 + 20 * s), 9)],
                         root / "data" / scene)
        preds = root / "mipnerf" / scene / "test_preds"
        preds.mkdir(parents=True)
        for idx, f in enumerate(files):
            rgba = np.asarray(Image.open(root / "data" / scene / f), np.float32) / 255
            gt = rgba[..., :3] * rgba[..., 3:] + (1 - rgba[..., 3:])  # mip-NeRF's white_bkgd composite
            blur = 0.5 + 0.5 * int(f[-5])  # coarser scales blurred more: per-scale values differ
            render = np.clip(gaussian_filter(gt, (blur, blur, 0)) + rng.normal(0, 0.01, gt.shape), 0, 1)
            Image.fromarray(np.round(render * 255).astype(np.uint8)).save(preds / f"color_{idx:03d}.png")
    return root


def test_the_dataset_kind_lists_the_test_files_in_metadata_order(multiblender):
    from nvs_eval.data.datasets import dataset_test_views
    from nvs_eval.results.scales import view_scale

    gt, background = dataset_test_views("blender-multiscale", multiblender / "data" / "lego")
    assert list(gt)[:5] == ["images_test/000_d0", "images_test/000_d1", "images_test/000_d2", "images_test/000_d3",
                            "images_test/001_d0"]
    assert [view_scale(v) for v in gt] == [1, 2, 4, 8] * 2 and background == (1.0, 1.0, 1.0)
    assert Image.open(gt["images_test/001_d3"]).size == (BASE // 8, BASE // 8)


def _notebook(per_view, metric_names, scenes, buckets=4):
    """summarize_results (scripts/summarize.ipynb): per scene the mean of each bucket over its images, the mean over
    scenes, then each metric's mean over buckets and the geometric mean of MSE, sqrt(1 - SSIM) and LPIPS."""
    results = []
    for scene in scenes:
        values = []
        for m in metric_names:
            v = per_view[per_view["scene"] == scene].sort_values("view")[m].to_numpy()
            values.append(np.mean(np.reshape(v, [-1, buckets]), 0))
        results.append(np.concatenate(values))
    avg_results = np.mean(np.array(results), 0)
    psnr, ssim, lpips = np.mean(np.reshape(avg_results, [-1, buckets]), 1)
    mse = np.exp(-0.1 * np.log(10.0) * psnr)
    dssim = np.sqrt(1 - ssim)
    return np.reshape(avg_results, [-1, buckets]), float(np.exp(np.mean(np.log(np.array([mse, dssim, lpips])))))


def test_per_scale_table_and_avg_match_the_notebook(multiblender, tmp_path):
    from nvs_eval.api import evaluate, read_results
    from nvs_eval.report.table import build_tables

    cfg = tmp_path / "ms.yaml"
    cfg.write_text("name: ms\nprotocol: mipnerf360\nmetrics: [psnr, ssim, lpips_alex]\ndatasets:\n"
                   "  - name: multiblender\n    kind: multinerf\n    gt_kind: blender-multiscale\n"
                   f"    root: {multiblender / 'data'}\n    scenes: [lego, ship]\n"
                   f"    methods:\n      - {{name: mipnerf, path: '{multiblender / 'mipnerf'}/{{scene}}'}}\n")
    evaluate(cfg, tmp_path / "out", progress=False, device="cpu")
    per_view = read_results(tmp_path / "out", "mipnerf360")
    assert len(per_view) == 16
    table = next(t for t in build_tables(per_view, "mipnerf360", ["psnr", "ssim", "lpips_alex"])
                 if t.key == "multiblender-scales")
    assert [c.label for c in table.columns] == [f"{m} {s}" for m in ("PSNR", "SSIM", "LPIPS (Alex)")
                                                for s in ("full", "1/2", "1/4", "1/8")] + ["Avg"]
    buckets, avg = _notebook(per_view, ["psnr", "ssim", "lpips_alex"], ["lego", "ship"])
    row = [c.value for c in table.cells[0]]
    assert np.allclose(row[:12], buckets.reshape(-1), rtol=0, atol=1e-12)
    assert row[12] == pytest.approx(avg, abs=1e-12) and table.cells[0][12].text == f"{avg:.4f}"
    assert buckets[0, 0] > buckets[0, 3] + 0.5  # the scales' PSNRs differ: the grouping is not a no-op
    assert "Avg: mip-NeRF's geometric mean" in table.caption


def _mipsplatting(root, folders: dict[int, list[int]]):
    """render.py's output: test/ours_30000/test_preds_<r>/{idx:05d}.png and gt_<r>/ (torchvision save_image)."""
    d = root / "lego" / "test" / "ours_30000"
    rng = np.random.default_rng(2)
    for r, sizes in folders.items():
        for idx, size in enumerate(sizes):
            gt = photo("astronaut", (size, size), (40, 150))
            for name, img in (("gt", gt), ("test_preds", np.clip(gt + rng.normal(0, 0.02, gt.shape), 0, 1))):
                (d / f"{name}_{r}").mkdir(parents=True, exist_ok=True)
                Image.fromarray(np.round(img * 255).astype(np.uint8)).save(d / f"{name}_{r}" / f"{idx:05d}.png")
    return root / "lego"


def test_mip_splatting_renders_are_read_per_scale(tmp_path):
    from nvs_eval.data.layouts import detect_layout, load_layout
    from nvs_eval.results.scales import view_scale

    one = _mipsplatting(tmp_path / "blender", {-1: [64, 32, 16, 8] * 2})  # multi-scale Blender: one folder
    assert detect_layout(one) == "mip-splatting"
    (scene,) = load_layout(one)
    assert list(scene.gt)[:4] == ["00000_d0", "00001_d1", "00002_d2", "00003_d3"]
    assert sorted(scene.renders["lego"]) == sorted(scene.gt)
    several = _mipsplatting(tmp_path / "360", {r: [96 // r] * 2 for r in (1, 2, 4, 8)})  # -r 1, 2, 4, 8
    (scene,) = load_layout(several)
    assert sorted({view_scale(v) for v in scene.gt}) == [1, 2, 4, 8] and "r8/00001" in scene.gt


def test_score_prints_the_per_scale_means(tmp_path, capsys):
    from nvs_eval.cli import main

    run = _mipsplatting(tmp_path / "360", {r: [96 // r] * 2 for r in (1, 2, 4, 8)})
    assert main(["score", str(run), "--metrics", "psnr,ssim", "--device", "cpu"]) == 0
    out = capsys.readouterr().out
    assert "PSNR (full)" in out and "PSNR (1/8)" in out
