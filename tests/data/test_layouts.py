"""Output folders as today's tools write them (issue 13): auxiliary files, gsplat canvases, multinerf test
previews, ns-eval canvases, and resolution provenance. Every fixture is built the way its tool writes it."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from nvs_eval.api import evaluate, pair_scenes, read_results, score_folders, score_layout, score_scenes
from nvs_eval.data.layouts import GroundTruthSource, detect_layout, load_layout
from nvs_eval.data.pairing import likely_cause, pair_scene
from nvs_eval.errors import ImageReadError, LayoutError, PairingError

from conftest import photo
from helpers import cli

PHOTOS = [("astronaut", (20, 140)), ("coffee", (90, 200)), ("chelsea", (40, 100))]


def _u8(x: np.ndarray) -> np.ndarray:
    return np.round(np.clip(x, 0, 1) * 255).astype(np.uint8)


def _views(h=48, w=64):
    """(ground truth, render) float pairs from real photographs; the render is a blurred, noisy copy."""
    from scipy.ndimage import gaussian_filter

    rng = np.random.default_rng(7)
    out = []
    for name, off in PHOTOS:
        gt = photo(name, (h, w), off)
        out.append((gt, np.clip(gaussian_filter(gt, (1.0, 1.0, 0)) + rng.normal(0, 0.02, gt.shape), 0, 1)))
    return out


def _3dgs_run(root, aux: bool):
    """gaussian-splatting render.py: test/ours_<it>/{renders,gt}/<idx:05d>.png; a sparse-view fork adds depth."""
    d = root / "scene" / "test" / "ours_30000"
    (d / "renders").mkdir(parents=True)
    (d / "gt").mkdir()
    for i, (gt, render) in enumerate(_views()):
        Image.fromarray(_u8(gt)).save(d / "gt" / f"{i:05d}.png")
        Image.fromarray(_u8(render)).save(d / "renders" / f"{i:05d}.png")
        if aux:
            depth = np.linspace(0, 1, gt.shape[0] * gt.shape[1]).reshape(gt.shape[:2])
            Image.fromarray(_u8(depth)).save(d / "renders" / f"{i:05d}_depth.png")  # 8-bit grey
            Image.fromarray((depth * 65535).astype(np.uint16)).save(d / "renders" / f"{i:05d}-normal.png")  # 16-bit
            np.save(d / "renders" / f"{i:05d}_alpha.npy", depth.astype(np.float32))  # .npy, H x W
            Image.fromarray(depth.astype(np.float32)).save(d / "renders" / f"{i:05d}.conf.tiff")  # float TIFF
            (d / "renders" / "depth").mkdir(exist_ok=True)
            np.save(d / "renders" / "depth" / f"{i:05d}.npy", depth[..., None].repeat(3, 2).astype(np.float32))
    return root / "scene"


def test_auxiliary_files_beside_3dgs_renders_score_exactly_as_without_them(tmp_path):
    clean = score_layout(_3dgs_run(tmp_path / "clean", aux=False), protocol="3dgs", metrics=("psnr", "ssim"),
                         device="cpu", progress=False)
    run = _3dgs_run(tmp_path / "fork", aux=True)
    noisy = score_layout(run, protocol="3dgs", metrics=("psnr", "ssim"), device="cpu", progress=False)
    assert clean[["view", "psnr", "ssim"]].equals(noisy[["view", "psnr", "ssim"]])
    (paired,) = pair_scenes(load_layout(run))
    assert paired.auxiliary_summary() == {"scene": {"count": 15, "suffixes": ["alpha", "conf", "depth",
                                                                              "depth/", "normal"]}}


def test_strict_makes_auxiliary_files_an_error_naming_them(tmp_path):
    run = _3dgs_run(tmp_path, aux=True)
    with pytest.raises(PairingError, match=r"15 auxiliary file\(s\) \(--strict\): .*00000"):
        pair_scenes(load_layout(run), strict=True)


def test_a_render_that_is_neither_a_view_nor_an_auxiliary_stays_a_pairing_error(tmp_path):
    run = _3dgs_run(tmp_path, aux=True)
    renders = run / "test" / "ours_30000" / "renders"
    Image.fromarray(np.zeros((48, 64, 3), np.uint8)).save(renders / "00007.png")  # no such view
    Image.fromarray(np.zeros((48, 64, 3), np.uint8)).save(renders / "00001_2.png")  # a digit: another view
    with pytest.raises(PairingError, match=r"2 render\(s\) have no ground truth: 00001_2, 00007"):
        pair_scenes(load_layout(run))


def test_an_rgb_render_of_the_views_size_in_an_unknown_sub_folder_is_not_taken_for_an_auxiliary(tmp_path):
    run = _3dgs_run(tmp_path, aux=False)
    sub = run / "test" / "ours_30000" / "renders" / "extra"
    sub.mkdir()
    Image.fromarray(np.zeros((48, 64, 3), np.uint8)).save(sub / "00000.png")
    with pytest.raises(PairingError, match="have no ground truth: extra/00000"):
        pair_scenes(load_layout(run))


def test_auxiliary_files_reach_the_cli_summary_json_store_and_report(tmp_path):
    run = _3dgs_run(tmp_path / "runs", aux=True)
    r = cli("score", str(run), "--protocol", "3dgs", "--metrics", "psnr", "--json", str(tmp_path / "s.json"),
            "--device", "cpu")
    assert r.returncode == 0, r.stderr
    assert "scene scene, method scene: left out 15 auxiliary file(s) (alpha, conf, depth, depth/, normal)" in r.stderr
    doc = json.loads((tmp_path / "s.json").read_text())
    assert doc["auxiliary"] == {"scene/scene": {"count": 15, "suffixes": ["alpha", "conf", "depth", "depth/",
                                                                          "normal"]}}
    cfg = tmp_path / "b.yaml"
    cfg.write_text(f"name: b\nprotocol: 3dgs\nmetrics: [psnr]\ndatasets:\n  - name: d\n    kind: 3dgs\n"
                   f"    scenes: [scene]\n    methods:\n      - {{name: fork, path: '{tmp_path}/runs/{{scene}}'}}\n")
    r = cli("evaluate", str(cfg), "--out", str(tmp_path / "out"), "--device", "cpu")
    assert r.returncode == 0, r.stderr
    from nvs_eval.results.store import ResultsStore

    with ResultsStore(tmp_path / "out" / "results.sqlite") as store:
        aux = store.auxiliary()
    assert aux.to_dict("records") == [{"dataset": "d", "scene": "scene", "method": "fork", "count": 15,
                                       "suffixes": "alpha,conf,depth,depth/,normal"}]
    index = (tmp_path / "out" / "report" / "index.html").read_text()
    assert "15 auxiliary file(s) left out of scoring (alpha, conf, depth, depth/, normal)" in index


# --- gsplat ----------------------------------------------------------------------------------------------------


def _gsplat_result(root, steps=(6999, 29999), odd=False):
    """gsplat examples/simple_trainer.py Runner.eval: canvas = cat([pixels, colors], dim=2) of [1, H, W, 3]
    float tensors, written as (canvas * 255).astype(np.uint8); stats/val_step{step:04d}.json with its means."""
    (root / "renders").mkdir(parents=True)
    (root / "stats").mkdir()
    (root / "cfg.yml").write_text("data_dir: data/360_v2/garden\ndata_factor: 4\nlpips_net: alex\nmax_steps: 30000\n"
                                  f"result_dir: {root}\n")
    for step in steps:
        for i, (gt, render) in enumerate(_views(48, 64)):
            pixels = (_u8(gt).astype(np.float32) / np.float32(255.0))  # data["image"] / 255.0
            canvas = np.concatenate([pixels, render.astype(np.float32)], axis=1)
            if odd:  # not what gsplat writes: one column too many
                canvas = np.concatenate([canvas, canvas[:, :1]], axis=1)
            Image.fromarray((canvas * 255).astype(np.uint8)).save(root / "renders" / f"val_step{step}_{i:04d}.png")
        (root / "stats" / f"val_step{step:04d}.json").write_text(
            json.dumps({"psnr": 25.5, "ssim": 0.8, "lpips": 0.12, "ellipse_time": 0.01, "num_GS": 12345}))
    return root


def test_gsplat_layout_is_detected_paired_and_takes_the_latest_step(tmp_path):
    result = _gsplat_result(tmp_path / "mcmc-1M")
    assert detect_layout(result) == "gsplat"
    (scene,) = load_layout(result)  # the method is the run's folder, the scene cfg.yml's data_dir
    assert scene.name == "garden" and scene.origin == {"mcmc-1M": "step 29999 (mcmc-1M/renders/val_step29999_*.png)"}
    assert list(scene.renders) == ["mcmc-1M"] and list(scene.gt) == ["0000", "0001", "0002"]
    assert scene.reported["mcmc-1M"] == {"psnr": 25.5, "ssim": 0.8, "lpips": 0.12}
    assert "lpips_net=alex" in scene.notes[0]
    (early,) = load_layout(result, iteration=6999)
    assert list(early.renders) == ["mcmc-1M"] and "step 6999" in early.origin["mcmc-1M"]
    with pytest.raises(LayoutError, match=r"no renders/val_step5_\*.png; available iterations: \[6999, 29999\]"):
        load_layout(result, iteration=5)
    (result / "stats" / "val_step29999.json").write_text('{"psnr": 25.5, "ssim"')  # a run killed mid-write
    (cut,) = load_layout(result)
    assert cut.reported == {} and any("val_step29999.json: the tool's own means are not shown" in n for n in cut.notes)


def test_gsplat_canvases_score_as_their_two_halves_saved_as_separate_pngs(tmp_path):
    result = _gsplat_result(tmp_path / "garden", steps=(29999,))
    via_canvas = score_layout(result, protocol="gsplat", device="cpu", progress=False)
    for i in range(3):
        canvas = np.asarray(Image.open(result / "renders" / f"val_step29999_{i:04d}.png"))
        for side, half in (("gt", canvas[:, :64]), ("r", canvas[:, 64:])):
            (tmp_path / side).mkdir(exist_ok=True)
            Image.fromarray(half).save(tmp_path / side / f"{i:04d}.png")
    via_files = score_folders({"gsplat_step29999": tmp_path / "r"}, tmp_path / "gt", "gsplat", device="cpu",
                              progress=False)
    cols = ["view", "psnr", "ssim", "lpips_alex"]
    assert via_canvas[cols].equals(via_files[cols])


def test_gsplat_canvas_of_odd_width_is_an_error_naming_the_file(tmp_path):
    result = _gsplat_result(tmp_path / "garden", steps=(29999,), odd=True)
    with pytest.raises(ImageReadError, match=r"val_step29999_0000.png: a side-by-side canvas .* even width, got 129"):
        score_layout(result, metrics=("psnr",), device="cpu", progress=False)


def test_gsplat_cli_prints_the_trainers_own_means_and_the_difference(tmp_path):
    result = _gsplat_result(tmp_path / "garden", steps=(29999,))
    r = cli("score", str(result), "--protocol", "gsplat", "--metrics", "psnr,ssim", "--device", "cpu")
    assert r.returncode == 0, r.stderr
    assert "garden/garden: the tool's own mean psnr 25.5000, nvs-eval" in r.stdout
    assert "garden: step 29999 (garden/renders/val_step29999_*.png)" in r.stdout
    assert "difference" in r.stdout and "--protocol gsplat" in r.stderr


# --- ns-eval -----------------------------------------------------------------------------------------------------


def test_ns_eval_render_output_is_scored_from_its_canvases(tmp_path):
    """nerfstudio base_pipeline.py: Image.fromarray((val * 255).byte()).save(f"{idx:06d}-{key}.jpg") for every
    images_dict entry; nerfacto's "img" is cat([gt_rgb, predicted_rgb], dim=1)."""
    out = tmp_path / "ns-eval-out"
    out.mkdir()
    for i, (gt, render) in enumerate(_views()):
        canvas = np.concatenate([gt, render], axis=1).astype(np.float32)
        Image.fromarray((canvas * 255).astype(np.uint8)).save(out / f"{i:06d}-img.jpg")
        Image.fromarray((render * 255).astype(np.uint8)).save(out / f"{i:06d}-depth.jpg")
        Image.fromarray((render * 255).astype(np.uint8)).save(out / f"{i:06d}-accumulation.jpg")
    assert detect_layout(out) == "ns-eval"
    (scene,) = load_layout(out)
    (paired,) = pair_scenes([scene])
    assert [j.view for j in paired.jobs] == ["000000", "000001", "000002"]
    assert paired.auxiliary_summary() == {"ns-eval-out": {"count": 6, "suffixes": ["accumulation", "depth"]}}
    df = score_scenes([scene], "nerfstudio", ("psnr",), device="cpu", progress=False)
    assert len(df) == 3 and (df["psnr"] > 15).all()


# --- multinerf ---------------------------------------------------------------------------------------------------


def _mipnerf360_scene(root, n_images=24, h=48, w=64):
    """A Mip-NeRF 360 scene folder: images_4/ with every 8th image held out (llffhold = 8)."""
    (root / "images_4").mkdir(parents=True)
    views = _views(h, w)
    for k in range(n_images):
        Image.fromarray(_u8(views[(k // 8) % 3][0])).save(root / "images_4" / f"DSC{k:05d}.JPG.png")
    return root


def _multinerf_eval(ckpt, n_test=3, render_py=False):
    """multinerf eval.py: checkpoint_dir/test_preds/color_{idx:03d}.png (utils.save_img_u8) plus color_cc_,
    distance_mean_/distance_median_ (.tiff), normals_, acc_ and metric_{name}_{step}.txt; render.py instead writes
    render/test_preds_step_{step}/color_{idx}.png."""
    folder = ckpt / "render" / "test_preds_step_25000" if render_py else ckpt / "test_preds"
    folder.mkdir(parents=True)
    for idx, (_, render) in enumerate(_views()[:n_test]):
        Image.fromarray((np.clip(np.nan_to_num(render), 0.0, 1.0) * 255.0).astype(np.uint8)).save(
            folder / f"color_{idx:03d}.png")
        Image.fromarray(_u8(render)).save(folder / f"color_cc_{idx:03d}.png")
        Image.fromarray(np.zeros((48, 64), np.float32)).save(folder / f"distance_mean_{idx:03d}.tiff")
        Image.fromarray(np.zeros((48, 64), np.float32)).save(folder / f"acc_{idx:03d}.tiff")
    if not render_py:
        (folder / "metric_psnr_25000.txt").write_text("24.0 25.0 26.0")
        (folder / "metric_ssim_25000.txt").write_text("0.7 0.8 0.9")
    return ckpt


def test_multinerf_test_previews_pair_by_index_with_the_datasets_held_out_views(tmp_path):
    scene = _mipnerf360_scene(tmp_path / "data" / "garden")
    ckpt = _multinerf_eval(tmp_path / "zipnerf-garden")
    assert detect_layout(ckpt) == "multinerf"
    with pytest.raises(LayoutError, match="multinerf writes no ground truth; name the dataset"):
        load_layout(ckpt)
    src = GroundTruthSource("mipnerf360", scene, "images_4")
    (s,) = load_layout(ckpt, gt_source=src)
    assert list(s.gt) == ["DSC00000.JPG", "DSC00008.JPG", "DSC00016.JPG"]
    assert s.name == "garden" and list(s.renders) == ["zipnerf-garden"]  # the scene is the dataset's
    assert [p.name for p in s.renders["zipnerf-garden"].values()] == ["color_000.png", "color_001.png",
                                                                      "color_002.png"]
    assert s.reported["zipnerf-garden"] == pytest.approx({"psnr": 25.0, "ssim": 0.8})
    (paired,) = pair_scenes([s])
    assert paired.auxiliary_summary()["zipnerf-garden"] == {"count": 9, "suffixes": ["acc", "color_cc",
                                                                                       "distance_mean"]}
    r = cli("score", str(ckpt), "--dataset", "mipnerf360", "--dataset-root", str(scene), "--images", "images_4",
            "--protocol", "mipnerf360", "--metrics", "psnr,ssim", "--device", "cpu")
    assert r.returncode == 0, r.stderr
    assert "the tool's own mean psnr 25.0000" in r.stdout


def test_multinerf_render_py_folders_and_an_index_beyond_the_test_views(tmp_path):
    scene = _mipnerf360_scene(tmp_path / "data" / "garden", n_images=16)  # 2 test views
    ckpt = _multinerf_eval(tmp_path / "ckpt", render_py=True)
    with pytest.raises(LayoutError, match=r"1 render\(s\) have an index beyond the 2 test view\(s\).*color_002.png"):
        load_layout(ckpt, gt_source=GroundTruthSource("mipnerf360", scene, "images_4"))


def test_multinerf_in_a_config(tmp_path):
    _mipnerf360_scene(tmp_path / "data" / "garden")
    _multinerf_eval(tmp_path / "runs" / "garden")
    cfg = tmp_path / "b.yaml"
    cfg.write_text("name: b\nprotocol: mipnerf360\nmetrics: [psnr]\ndatasets:\n  - name: m360\n    kind: multinerf\n"
                   "    gt_kind: mipnerf360\n    root: data\n    images: images_4\n    scenes: [garden]\n"
                   "    methods:\n      - {name: mipnerf360, path: 'runs/{scene}'}\n")
    res = evaluate(cfg, tmp_path / "out", device="cpu", progress=False)
    assert len(res.per_view) == 3 and set(res.per_view["method"]) == {"mipnerf360"}


# --- resolution provenance ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("render,gt,words", [
    ((400, 300), (800, 600), "the ground truth looks 2x larger than the render: renders from images_2 scored "
                             "against images?"),
    ((200, 150), (800, 600), "the ground truth looks 4x larger than the render: renders from images_4"),
    ((1600, 1067), (4946, 3298), "3DGS rescales images wider than 1600 px to 1600"),
    ((800, 600), (400, 300), "the render looks 2x larger than the ground truth"),
    ((640, 480), (650, 480), ""),
])
def test_size_mismatch_names_the_likely_cause(render, gt, words):
    assert likely_cause(render, gt) == words if not words else words in likely_cause(render, gt)


def test_size_mismatch_error_names_both_sizes_and_the_cause(tmp_path):
    from helpers import img

    img(tmp_path / "gt" / "0.png", 64, 96)
    img(tmp_path / "r" / "0.png", 16, 24)
    from nvs_eval.data.layouts import pairs_scene

    with pytest.raises(PairingError, match=r"render 0.png is 24x16 but ground truth 0.png is 96x64 \(the ground "
                                           r"truth looks 4x larger than the render: renders from images_4"):
        pair_scene(pairs_scene([("r", tmp_path / "r")], tmp_path / "gt"))


def test_resize_gt_is_an_explicit_opt_in_recorded_in_the_protocol_and_store(tmp_path):
    gt, render = _views(96, 128)[0]
    (tmp_path / "gt").mkdir()
    (tmp_path / "r").mkdir()
    Image.fromarray(_u8(gt)).save(tmp_path / "gt" / "0.png")
    small = Image.fromarray(_u8(render)).resize((64, 48), Image.BICUBIC)
    small.save(tmp_path / "r" / "0.png")
    r = cli("score", str(tmp_path / "r"), "--gt", str(tmp_path / "gt"), "--metrics", "psnr", "--device", "cpu")
    assert r.returncode == 2 and "2x larger" in r.stderr  # never resized by default
    cfg = tmp_path / "b.yaml"
    cfg.write_text("name: b\nprotocol: 3dgs\nresize_gt: bicubic-pil\nmetrics: [psnr, ssim]\ndatasets:\n"
                   "  - name: d\n    kind: pairs\n    gt: gt\n    scenes: [s]\n    methods:\n"
                   "      - {name: m, path: r}\n")
    res = evaluate(cfg, tmp_path / "out", device="cpu", progress=False)
    assert res.protocol.name == "3dgs+resize_gt=bicubic-pil"
    assert res.protocol.settings()["resize_gt"] == "bicubic-pil"
    from nvs_eval.results.store import ResultsStore

    with ResultsStore(res.store) as store:
        assert list(store.protocols().values())[0]["resize_gt"] == "bicubic-pil"
        assert store.gt_sizes()[["width", "height"]].values.tolist() == [[128, 96]]  # the file as it is on disk
    expected = np.asarray(Image.fromarray(_u8(gt)).resize((64, 48), Image.BICUBIC), np.float64) / 255
    mine = np.round(np.asarray(small, np.float64) / 255 * 255) / 255
    psnr = -10 * np.log10(np.mean((mine - expected) ** 2))
    assert read_results(res.store)["psnr"].iloc[0] == pytest.approx(psnr, abs=1e-4)
    from nvs_eval.report import write_report

    write_report(res.store, tmp_path / "rep", ("md",), figures=False)
    tables = (tmp_path / "rep" / "tables.md").read_text()
    assert r"protocol 3dgs+resize\_gt=bicubic-pil" in tables and "Ground truth at 128x96" in tables
