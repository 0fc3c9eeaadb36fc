"""``nvs-eval check``: which dataset image each view is, the split rule, the ground truth's provenance and the
verdict, on folders built the way each tool writes them (issue 23).

The dataset is built as Mip-NeRF 360 ships it: JPEG files in ``images/`` and ``images_2``/``images_4`` made by the
dataset's authors (here: box-filtered, as ImageMagick's ``-resize 50%`` averages), and a COLMAP ``sparse/0/images.txt``
whose order is not the sorted one. Runs are written as the tools write them: 3DGS ``test/ours_30000/gt/00000.png``
(the decoded training image saved as PNG), nerfstudio keeping the dataset's names.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from nvs_eval.data.provenance import check_scene
from nvs_eval.data.splits import linspace, nerfstudio_fraction
from nvs_eval.errors import PairingError

from helpers import cli

N = 24


def _content(i: int, h: int, w: int) -> np.ndarray:
    """A smooth image of its own (low-frequency noise upsampled), so thumbnails tell the images apart."""
    rng = np.random.default_rng(1000 + i)
    small = (rng.random((6, 8, 3)) * 255).astype(np.uint8)
    return np.asarray(Image.fromarray(small).resize((w, h), Image.BICUBIC))


def make_scene(root, name="room", n=N, size=(192, 128)) -> Path:
    scene = root / name
    w, h = size
    names = [f"DSC{7900 + (i * 7) % 97:05d}.JPG" for i in range(n)]
    for i, fname in enumerate(names):
        full = Image.fromarray(_content(i, h, w))
        for folder, factor in (("images", 1), ("images_2", 2), ("images_4", 4)):
            (scene / folder).mkdir(parents=True, exist_ok=True)
            img = full if factor == 1 else full.resize((w // factor, h // factor), Image.BOX)
            img.save(scene / folder / fname, quality=95)
    (scene / "sparse" / "0").mkdir(parents=True)
    lines = ["# Image list with two lines of data per image:"]
    for k, fname in enumerate(reversed(names)):  # COLMAP's id order, not the sorted one
        lines += [f"{k + 1} 1 0 0 0 0 0 0 1 {fname}", ""]
    (scene / "sparse" / "0" / "images.txt").write_text("\n".join(lines) + "\n")
    return scene


def sorted_names(scene) -> list[str]:
    return sorted(p.name for p in (scene / "images").iterdir())


def write_3dgs_gt(run, scene, indices, folder="images_2", resize=None) -> dict:
    """3DGS's render.py: ``gt/{idx:05d}.png`` for the test cameras, in sorted-name order."""
    gt = run / "test" / "ours_30000" / "gt"
    gt.mkdir(parents=True, exist_ok=True)
    out = {}
    for k, i in enumerate(indices):
        img = Image.open(scene / folder / sorted_names(scene)[i]).convert("RGB")
        if resize is not None:
            img = img.resize(resize, Image.BICUBIC)  # PILtoTorch: Image.resize, bicubic by default
        img.save(gt / f"{k:05d}.png")
        out[f"{k:05d}"] = gt / f"{k:05d}.png"
    return out


def test_3dgs_index_named_ground_truth_at_images_2_is_comparable_for_an_indoor_scene(tmp_path):
    scene = make_scene(tmp_path / "data")
    gt = write_3dgs_gt(tmp_path / "run", scene, range(0, N, 8))
    r = check_scene(gt, "mipnerf360", scene)
    names = sorted_names(scene)
    assert r.comparable and r.reasons == []
    assert r.split == {"rule": "every-8th", "standard": True, "test_views": names[::8], "missing": [], "extra": [],
                       "repeated": []}
    assert r.gt["source"] == "images_2" and r.gt["identical"] and r.gt["resampled_from"] is None
    assert [(v.view, v.dataset_image, v.match, v.max_abs_diff) for v in r.views] == \
        [(f"{k:05d}", names[8 * k].removesuffix(".JPG"), "exact", 0.0) for k in range(3)]


def test_the_published_resolution_is_checked_outdoor_scenes_use_images_4(tmp_path):
    scene = make_scene(tmp_path / "data", name="garden")
    r = check_scene(write_3dgs_gt(tmp_path / "run", scene, range(0, N, 8)), "mipnerf360", scene)
    assert not r.comparable and r.gt["identical"] and r.gt["source"] == "images_2"
    assert r.reasons == ["mipnerf360 garden is published at images_4 (48x32); this ground truth is images_2 (96x64)"]


def test_ground_truth_resized_by_the_trainer_with_pil_bicubic_is_found(tmp_path):
    scene = make_scene(tmp_path / "data")
    gt = write_3dgs_gt(tmp_path / "run", scene, range(0, N, 8), folder="images", resize=(96, 64))
    r = check_scene(gt, "mipnerf360", scene)
    assert r.gt["source"] == "images" and not r.gt["identical"]
    assert (r.gt["resampled_from"], r.gt["resampler"], r.gt["rule"]) == ("images", "bicubic-pil", "3dgs-r2")
    assert r.gt["max_abs_diff"] <= 1 / 255 + 1e-6  # reproduced to the 8-bit rounding
    assert {v.match for v in r.views} == {"resampled"} and r.split["standard"]
    assert not r.comparable and len(r.reasons) == 2
    assert "images/ resampled by the trainer (bicubic-pil, 3dgs-r2" in r.reasons[0]
    assert r.reasons[1].startswith("mipnerf360 room is published at images_2")


def test_3dgs_1600_pixel_rule_is_named(tmp_path):
    scene = make_scene(tmp_path / "data", n=9, size=(1700, 1134))
    gt = write_3dgs_gt(tmp_path / "run", scene, [0, 8], folder="images", resize=(1600, 1067))
    r = check_scene(gt, "mipnerf360", scene)
    assert (r.gt["resampled_from"], r.gt["resampler"], r.gt["rule"]) == ("images", "bicubic-pil", "3dgs-1600px")


def _named_gt(run, scene, indices, folder="images_2") -> dict:
    """nerfstudio / sparse-view tools that keep the dataset's names (as PNG)."""
    run.mkdir(parents=True, exist_ok=True)
    out = {}
    for i in indices:
        name = sorted_names(scene)[i]
        Image.open(scene / folder / name).convert("RGB").save(run / name.replace(".JPG", ".png"))
        out[name.removesuffix(".JPG")] = run / name.replace(".JPG", ".png")
    return out


def test_nerfstudio_fraction_split_is_named_and_not_standard(tmp_path):
    scene = make_scene(tmp_path / "data")
    idx = nerfstudio_fraction(N)
    # nerfstudio's get_train_eval_split_fraction, transcribed: ceil(n * 0.9) linspace training indices, the rest eval
    i_train = np.linspace(0, N - 1, math.ceil(N * 0.9), dtype=int)
    assert idx == np.setdiff1d(np.arange(N), i_train).tolist() == [11, 22]
    r = check_scene(_named_gt(tmp_path / "run", scene, idx), "mipnerf360", scene)
    assert r.split["rule"] == "nerfstudio-fraction" and not r.split["standard"]
    names = sorted_names(scene)
    assert r.split["missing"] == names[::8] and r.split["extra"] == [names[11], names[22]]
    assert r.reasons == ["test views follow nerfstudio-fraction, not the standard every-8th (3 standard view(s) "
                         "missing; 2 extra view(s))"]


@pytest.mark.parametrize("list_file", ["test_list.txt", "test.txt"])
def test_a_test_list_beside_the_dataset_is_the_rule(tmp_path, list_file):
    scene = make_scene(tmp_path / "data")
    names = sorted_names(scene)
    (scene / list_file).write_text("\n".join([names[3], names[11], names[20]]) + "\n")
    r = check_scene(_named_gt(tmp_path / "run", scene, [3, 11, 20]), "mipnerf360", scene)
    assert r.split["rule"] == "test-list" and not r.split["standard"]


def test_a_sparse_linspace_selection_is_named(tmp_path):
    scene = make_scene(tmp_path / "data")
    idx = linspace(N, 4)
    r = check_scene(_named_gt(tmp_path / "run", scene, idx), "mipnerf360", scene)
    assert r.split["rule"] == "linspace-4" and idx == [0, 7, 15, 23]


def test_a_view_that_matches_no_dataset_image_is_an_error_naming_it(tmp_path):
    scene = make_scene(tmp_path / "data")
    gt = write_3dgs_gt(tmp_path / "run", scene, [0, 8])
    Image.fromarray(_content(999, 64, 96)).save(gt["00001"])  # an image of another scene
    with pytest.raises(PairingError) as err:
        check_scene(gt, "mipnerf360", scene)
    assert str(gt["00001"]) in str(err.value) and "matches no image of the dataset" in str(err.value)


def test_the_cli_prints_the_verdict_and_writes_the_json(tmp_path):
    scene = make_scene(tmp_path / "data", name="garden")
    run = tmp_path / "run"
    write_3dgs_gt(run, scene, range(0, N, 8), folder="images_4")
    (run / "test" / "ours_30000" / "renders").mkdir()
    for f in (run / "test" / "ours_30000" / "gt").iterdir():
        (run / "test" / "ours_30000" / "renders" / f.name).write_bytes(f.read_bytes())
    out = cli("check", str(run), "--dataset", "mipnerf360", "--dataset-root", str(scene), "--json",
              str(tmp_path / "check.json"))
    assert out.returncode == 0, out.stderr
    assert "comparable with the standard protocol" in out.stdout
    doc = json.loads((tmp_path / "check.json").read_text())
    assert {"split", "gt", "views", "comparable", "reasons"} <= set(doc)
    assert doc["comparable"] is True and doc["split"]["rule"] == "every-8th" and doc["gt"]["source"] == "images_4"
    assert doc["views"][0] == {"view": "00000", "dataset_image": sorted_names(scene)[0], "match": "exact",
                               "max_abs_diff": 0.0, "folder": "images_4"}


def _3dgs_run(run, scene, indices, **kw):
    """A 3DGS model folder: test/ours_30000/{gt,renders} (the renders a slightly brighter ground truth)."""
    gt = write_3dgs_gt(run, scene, indices, **kw)
    renders = run / "test" / "ours_30000" / "renders"
    renders.mkdir(parents=True, exist_ok=True)
    for path in gt.values():
        arr = np.asarray(Image.open(path)).astype(np.int16) + 3
        Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8)).save(renders / path.name)
    return gt


def test_evaluate_stores_the_check_and_the_report_says_why_published_rows_are_flagged(tmp_path):
    """Two Mip-NeRF 360 scenes trained by 3DGS: room at its published images_2 (comparable), garden at images_2
    too (published at images_4: not comparable). The store keeps each check; the captions say which scene is not
    comparable and why; published values beside garden are flagged, or printed plainly with --unflag-baselines
    (never by --force, which only lets the report write into a folder holding other files); the average over 2 of
    the 9 scenes says so."""
    data = tmp_path / "data"
    for name in ("room", "garden"):
        _3dgs_run(tmp_path / "runs" / name, make_scene(data, name=name), range(0, N, 8))
    cfg = tmp_path / "bench.yaml"
    cfg.write_text("name: t\nprotocol: 3dgs\nmetrics: [psnr]\ndatasets:\n  - name: mipnerf360\n    kind: 3dgs\n"
                   f"    gt_kind: mipnerf360\n    root: {data}\n    scenes: [room, garden]\n    methods:\n"
                   '      - {name: mine, path: "runs/{scene}"}\n')
    out = tmp_path / "out"
    r = cli("evaluate", str(cfg), "--out", str(out), "--no-report", "--device", "cpu")
    assert r.returncode == 0, r.stderr
    from nvs_eval.results.store import ResultsStore

    with ResultsStore(out / "results.sqlite") as store:
        checks = store.checks()
    assert checks[("mipnerf360", "room")]["comparable"] is True
    assert checks[("mipnerf360", "garden")]["reasons"] == [
        "mipnerf360 garden is published at images_4 (48x32); this ground truth is images_2 (96x64)"]
    rep = cli("report", "--results", str(out), "--out", str(tmp_path / "rep"), "--format", "md,html", "--no-figures",
              "--baselines", "mipnerf360")
    assert rep.returncode == 0, rep.stderr
    md = (tmp_path / "rep" / "tables.md").read_text().replace("\\_", "_")  # Markdown escapes underscores
    assert "Not comparable with the standard protocol: garden: mipnerf360 garden is published at images_4" in md
    assert "2 of 9 mipnerf360 scenes; missing: bicycle, flowers, stump, treehill, bonsai, counter, kitchen." in md
    row = next(line for line in md.splitlines() if line.startswith("| *3DGS (paper)*") and "27.41" in line)
    assert "27.41‡" in row  # garden's published PSNR, flagged
    html = (tmp_path / "rep" / "index.html").read_text()
    assert "Not comparable with the standard protocol: garden" in html  # the coverage list
    only_force = cli("report", "--results", str(out), "--out", str(tmp_path / "rep"), "--format", "md",
                     "--no-figures", "--baselines", "mipnerf360", "--force")  # --force is about the folder only
    assert only_force.returncode == 0 and "27.41‡" in (tmp_path / "rep" / "tables.md").read_text(), only_force.stderr
    forced = cli("report", "--results", str(out), "--out", str(tmp_path / "rep"), "--format", "md", "--no-figures",
                 "--baselines", "mipnerf360", "--unflag-baselines")
    assert forced.returncode == 0, forced.stderr
    md = (tmp_path / "rep" / "tables.md").read_text()
    assert "‡" not in md and "including garden, which are not comparable with them (--unflag-baselines)" in md


def test_score_with_a_dataset_root_prints_the_check(tmp_path):
    scene = make_scene(tmp_path / "data", name="garden")
    _3dgs_run(tmp_path / "runs" / "garden", scene, range(0, N, 8), folder="images", resize=(96, 64))
    r = cli("score", str(tmp_path / "runs" / "garden"), "--dataset", "mipnerf360", "--dataset-root", str(scene),
            "--metrics", "psnr", "--device", "cpu")
    assert r.returncode == 0, r.stderr
    line = next(x for x in r.stdout.splitlines() if x.startswith("check: "))
    assert "garden: not comparable with the standard protocol: the ground truth is not the dataset's own files: " \
           "images/ resampled by the trainer (bicubic-pil, 3dgs-r2" in line
    d = tmp_path / "runs" / "garden" / "test" / "ours_30000"  # plain folders with --gt: checked the same way
    r = cli("score", str(d / "renders"), "--gt", str(d / "gt"), "--dataset", "mipnerf360", "--dataset-root",
            str(scene), "--metrics", "psnr", "--device", "cpu", "--json", str(tmp_path / "s.json"))
    assert r.returncode == 0, r.stderr
    line = next(x for x in r.stdout.splitlines() if x.startswith("check: "))
    assert "garden: not comparable with the standard protocol: the ground truth is not the dataset's own files" in line


def test_blender_ground_truth_composited_by_3dgs_is_the_datasets_own_test_split(tmp_path):
    """NeRF-synthetic: RGBA test frames of transforms_test.json; 3DGS composites them on white and stores 8 bits by
    truncation (``readCamerasFromTransforms``: ``np.array(arr * 255.0, dtype=np.byte)``), then render.py writes
    ``gt/00000.png``. That is the dataset's own test split, composited (within the 8-bit rounding)."""
    scene = tmp_path / "lego"
    (scene / "test").mkdir(parents=True)
    frames = []
    for i in range(4):
        rgb = _content(i, 40, 40)
        yy, xx = np.mgrid[:40, :40]
        alpha = np.clip(255 - 6 * np.hypot(yy - 20, xx - 20), 0, 255).astype(np.uint8)
        Image.fromarray(np.dstack([rgb, alpha])).save(scene / "test" / f"r_{i}.png")
        frames.append({"file_path": f"./test/r_{i}", "transform_matrix": np.eye(4).tolist()})
    (scene / "transforms_test.json").write_text(json.dumps({"camera_angle_x": 0.69, "frames": frames}))
    gt_dir = tmp_path / "run" / "test" / "ours_30000" / "gt"
    gt_dir.mkdir(parents=True)
    gt = {}
    for i in range(4):
        rgba = np.asarray(Image.open(scene / "test" / f"r_{i}.png"), dtype=np.float64) / 255
        arr = rgba[..., :3] * rgba[..., 3:] + 1.0 * (1 - rgba[..., 3:])
        Image.fromarray(np.floor(arr * 255.0).astype(np.uint8)).save(gt_dir / f"{i:05d}.png")
        gt[f"{i:05d}"] = gt_dir / f"{i:05d}.png"
    r = check_scene(gt, "blender", scene)
    assert r.comparable, r.reasons
    assert r.split["rule"] == "test" and r.split["test_views"] == [f"r_{i}.png" for i in range(4)]
    assert {v.match for v in r.views} <= {"exact", "composited"} and "composited" in {v.match for v in r.views}
    assert r.gt["identical"] and r.gt["source"] == "test" and r.gt["max_abs_diff"] <= 1 / 255 + 1e-6
    shuffled = {k: gt[k] for k in ("00001", "00000", "00002")}  # another order, a view left out
    r = check_scene(shuffled, "blender", scene)
    assert r.split["rule"] == "custom" and r.split["missing"] == ["r_3.png"] and not r.comparable


@pytest.mark.parametrize("run_name", ["runC", "kitchen", "3f2a9c1e-7"])
def test_the_verdict_is_about_the_dataset_scene_whatever_the_run_folder_is_called(tmp_path, run_name):
    """The published resolution is looked up by the dataset root's scene, never by the run folder's name: garden's
    full-size images/ are not comparable (published at images_4), whether the run is called runC, kitchen (an
    indoor scene, published at images_2) or by a UUID as 3DGS names its model folders; check exits 3."""
    scene = make_scene(tmp_path / "data", name="garden")
    run = tmp_path / run_name
    _3dgs_run(run, scene, range(0, N, 8), folder="images")
    out = cli("check", str(run), "--dataset", "mipnerf360", "--dataset-root", str(scene), "--json",
              str(tmp_path / "check.json"))
    assert out.returncode == 3, out.stderr
    assert out.stdout.startswith("garden: not comparable with the standard protocol:")
    doc = json.loads((tmp_path / "check.json").read_text())
    assert doc["scene"] == "garden" and doc["comparable"] is False
    assert doc["reasons"] == ["mipnerf360 garden is published at images_4 (48x32); this ground truth is images "
                              "(192x128)"]
    score = cli("score", str(run), "--dataset", "mipnerf360", "--dataset-root", str(scene), "--metrics", "psnr",
                "--device", "cpu")
    assert score.returncode == 0, score.stderr
    assert "check: garden: not comparable with the standard protocol: mipnerf360 garden is published at images_4" \
        in score.stdout


def test_a_dataset_root_that_is_no_scene_of_the_dataset_is_not_comparable_and_scene_names_it(tmp_path):
    """A dataset root named otherwise than its scene (``garden_copy``) is no scene of the benchmark: the verdict
    cannot be "comparable", and says how to name the scene; ``scene=`` gives the verdict of that scene."""
    scene = make_scene(tmp_path / "data", name="garden_copy")
    gt = write_3dgs_gt(tmp_path / "run", scene, range(0, N, 8), folder="images_4")
    r = check_scene(gt, "mipnerf360", scene)
    assert not r.comparable and r.reasons[0].startswith("'garden_copy' is not one of the 9 mipnerf360 scenes")
    assert "--scene" in r.reasons[0] and "\x00" not in r.reasons[0]  # stored and printed as is: plain text
    from nvs_eval.api import check_scenes
    from nvs_eval.data.layouts import load_layout

    (tmp_path / "run" / "test" / "ours_30000" / "renders").mkdir()
    scenes = load_layout(tmp_path / "run")
    (named,) = check_scenes(scenes, "mipnerf360", scene, "garden")
    assert named.scene == "garden" and named.comparable, named.reasons
    from nvs_eval.errors import UsageError

    with pytest.raises(UsageError, match=r"scene=gardn: not one of the 9 mipnerf360 scenes .*did you mean 'garden'"):
        check_scenes(scenes, "mipnerf360", scene, "gardn")  # a typo is the user's error (exit 2), not a verdict
    (outdoor,) = check_scenes(scenes, "mipnerf360", scene, "room")
    assert outdoor.reasons == ["mipnerf360 room is published at images_2 (96x64); this ground truth is images_4 "
                               "(48x32)"]


@pytest.mark.parametrize("kind", ["llff", "mipnerf360", "tanksandtemples", "deepblending"])
def test_every_every_8th_dataset_kind_judges_the_dataset_scene_not_the_run_folder(tmp_path, kind):
    """For each dataset kind with a published resolution, the same files give the same verdict under any run
    folder name; the verdict follows the scene of the dataset root."""
    from nvs_eval.data.datasets import DATASET_KINDS

    spec = DATASET_KINDS[kind]
    name = spec.scenes[0]
    scene = make_scene(tmp_path / "data", name=name, n=9)
    published = spec.published_images(name)
    folder = "images_2" if published != "images_2" else "images_4"  # a folder other than the published one
    from nvs_eval.api import check_scenes
    from nvs_eval.data.layouts import load_layout

    verdicts = set()
    for run_name in ("runC", spec.scenes[-1], "0b9e4c2a-1"):
        _3dgs_run(tmp_path / run_name, scene, [0, 8], folder=folder)
        (r,) = check_scenes(load_layout(tmp_path / run_name), kind, scene)
        verdicts.add((r.scene, r.comparable, tuple(r.reasons)))
    assert len(verdicts) == 1
    ((scene_name, comparable, reasons),) = verdicts
    assert scene_name == name and not comparable and reasons[-1].startswith(f"{kind} {name} is published at")
