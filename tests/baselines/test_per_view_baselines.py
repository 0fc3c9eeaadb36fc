"""NerfBaselines' published per-view values (issue 33): the 138 vendored files are the repository's bytes, decode
exactly, reproduce their printed means, and each value is attached to the dataset image it was computed on."""

from __future__ import annotations

import base64
import hashlib
import json
import struct

import numpy as np
import pytest


def test_the_vendored_files_are_the_138_files_of_the_results_branch_byte_for_byte():
    """Every file's sha256 and git blob id as the manifest records them (git's blob id is sha1 of "blob N\\0" +
    the bytes, so `git -C CLONE ls-tree 4c941b4 results` checks them against the repository itself)."""
    from nvs_eval.baselines.per_view import COMMIT, DATA, manifest

    m = manifest()
    assert m["repository"] == "github.com/nerfbaselines/nerfbaselines" and m["branch"] == "results"
    assert m["commit"] == COMMIT == "4c941b4b1437fafedd054f12b68aa0e00d1ce1a8"
    assert len(m["files"]) == 138
    on_disk = sorted(p.relative_to(DATA).as_posix() for p in (DATA / "results").rglob("*.json"))
    assert on_disk == sorted(e["path"] for e in m["files"])
    for e in m["files"]:
        data = (DATA / e["path"]).read_bytes()
        assert hashlib.sha256(data).hexdigest() == e["sha256"], e["path"]
        assert hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest() == e["git_blob"], e["path"]
        assert json.loads(data)["info"]["nb_version"] == e["nb_version"]
    counts = {}
    for e in m["files"]:
        counts[e["dataset"]] = counts.get(e["dataset"], 0) + 1
    assert counts == {"blender": 48, "mipnerf360": 54, "nerfstudio": 36}


def test_every_scene_mean_recomputed_from_its_per_view_values_is_the_printed_one():
    """NerfBaselines prints round(np.mean(values), 5) of the float64 values before packing them as float32: the mean
    of the decoded float32 values rounds to the same 5 decimals for all 690 (file, metric) pairs."""
    from nvs_eval.baselines.per_view import PRINTED_DECIMALS, load_per_view

    checked = 0
    for s in load_per_view():
        assert sorted(s.raw) == sorted(s.printed) == ["lpips", "mae", "mse", "psnr", "ssim"], s.path
        for metric, values in s.raw.items():
            assert values.dtype == np.float32 and len(values) == s.n_views
            mean = float(np.mean(values.astype(np.float64)))
            assert round(mean, PRINTED_DECIMALS) == s.printed[metric], (s.path, metric, mean)
            checked += 1
    assert checked == 690


def test_the_issue_example_3dgs_garden_has_24_views_and_mean_27_36601():
    from nvs_eval.baselines.per_view import load_per_view

    gs = {(s.method, s.scene): s for s in load_per_view("mipnerf360")}[("gaussian-splatting", "garden")]
    assert gs.n_views == 24 and gs.printed["psnr"] == 27.36601
    assert gs.info["total_train_time"] == 1684.75755 and gs.info["resources_utilization"]["gpu_memory"] == 16020


def test_decoding_keeps_the_float32_bits_exactly():
    """Re-encoding the decoded values as NerfBaselines does (struct.pack('f'), base64) gives back the file's text."""
    from nvs_eval.baselines.per_view import DATA, load_per_view

    for s in load_per_view():
        doc = json.loads((DATA / s.path).read_text())
        for metric, values in s.raw.items():
            packed = b"".join(struct.pack("<f", v) for v in values.tolist())
            assert base64.b64encode(packed).decode("ascii") == doc["metrics_raw"][metric], (s.path, metric)


def test_a_changed_vendored_file_is_refused_with_its_path(tmp_path, monkeypatch):
    from nvs_eval.baselines import per_view

    data = tmp_path / "d"
    src = per_view.DATA / "results/gaussian-splatting/mipnerf360/garden.json"
    (data / "results/gaussian-splatting/mipnerf360").mkdir(parents=True)
    (data / "results/gaussian-splatting/mipnerf360/garden.json").write_bytes(src.read_bytes().replace(b"27.36601",
                                                                                                      b"27.46601"))
    entry = next(e for e in per_view.manifest()["files"]
                 if e["path"] == "results/gaussian-splatting/mipnerf360/garden.json")
    monkeypatch.setattr(per_view, "DATA", data)
    with pytest.raises(per_view.PublishedDataError, match="differs from the one recorded") as e:
        per_view._read(entry)
    assert "garden.json" in str(e.value)


@pytest.mark.parametrize("text, why", [("AACAPwAAAA==", "whole number"), ("not base64!", "not base64")])
def test_a_malformed_metrics_raw_is_an_error_not_a_guess(text, why):
    from nvs_eval.baselines.per_view import PublishedDataError, decode_raw

    with pytest.raises(PublishedDataError, match=why):
        decode_raw(text, "x.json")


def test_blender_values_follow_sorted_file_names_not_the_transforms_order():
    """evaluate.py sorts the rendered files' paths, so value k is the k-th of r_0, r_1, r_10, r_100, ... The data
    agree: put back in camera order (r_0 ... r_199, a continuous orbit), every one of the 48 Blender files' PSNR
    sequences is smoother (smaller sum of squared steps) than in the file's order."""
    from nvs_eval.baselines.per_view import load_per_view, view_names

    files = load_per_view("blender")
    assert len(files) == 48
    for s in files:
        names = view_names("blender", s.scene, s.n_views)
        assert names[:5] == ["r_0.png", "r_1.png", "r_10.png", "r_100.png", "r_101.png"] and len(set(names)) == 200
        frame = [int(n[2:-4]) for n in names]
        in_camera_order = np.empty(s.n_views)
        in_camera_order[frame] = s.values("psnr")
        as_stored = np.sum(np.diff(s.values("psnr").astype(float)) ** 2)
        assert np.sum(np.diff(in_camera_order) ** 2) < as_stored, (s.method, s.scene)


def test_mipnerf360_views_are_every_8th_sorted_name_and_a_wrong_image_count_is_refused():
    from nvs_eval.baselines.per_view import load_per_view, view_names
    from nvs_eval.errors import UsageError

    gs = {(s.method, s.scene): s for s in load_per_view("mipnerf360")}[("gaussian-splatting", "garden")]
    images = [f"DSC{7956 + i:05d}.JPG" for i in range(185)][::-1]  # 185 images: 24 test views, any listing order
    names = view_names("mipnerf360", "garden", gs.n_views, images)
    assert names[:3] == ["DSC07956.JPG", "DSC07964.JPG", "DSC07972.JPG"] and len(names) == 24
    with pytest.raises(UsageError, match="full image set"):
        view_names("mipnerf360", "garden", gs.n_views, images[:150])
    assert view_names("mipnerf360", "garden", 24) == [None] * 24  # no dataset: not named, never guessed
    assert view_names("nerfstudio", "poster", 3) == [None] * 3


def test_cli_per_view_writes_tidy_rows_with_nvs_eval_metric_ids_and_dataset_image_names(tmp_path):
    from helpers import cli

    out = tmp_path / "pv.json"
    r = cli("baselines", "blender", "--per-view", "--method", "gaussian-splatting", "--scene", "lego",
            "--json", str(out))
    assert r.returncode == 0, r.stderr
    said = " ".join(r.stdout.split())  # the header wraps at 100 columns
    assert "@ 4c941b4b1437fafedd054f12b68aa0e00d1ce1a8" in said and "r_100.png" in r.stdout
    assert ("LPIPS = lpips_alex (the files' `lpips` is AlexNet LPIPS; the website's means, `nvs-eval baselines "
            "blender`, print LPIPS (VGG): another network, never compare the two)") in said
    doc = json.loads(out.read_text())
    assert doc["source"]["commit"] == "4c941b4b1437fafedd054f12b68aa0e00d1ce1a8" and doc["protocol"] == "nerfbaselines"
    assert doc["files"][0]["path"] == "results/gaussian-splatting/blender/lego.json"
    rows = doc["rows"]
    assert len(rows) == 600 and {r["metric"] for r in rows} == {"psnr", "ssim", "lpips_alex"}
    assert set(rows[0]) == {"method", "dataset", "scene", "view", "index", "metric", "value"}
    psnr = [r for r in rows if r["metric"] == "psnr"]
    assert [r["view"] for r in psnr[:3]] == ["r_0.png", "r_1.png", "r_10.png"]
    printed = json.loads(_file("gaussian-splatting", "blender", "lego"))["metrics"]
    assert round(float(np.mean([r["value"] for r in psnr])), 5) == printed["psnr"]  # the values, exactly as decoded


def _file(method, dataset, scene):
    from nvs_eval.baselines.per_view import DATA

    return (DATA / "results" / method / dataset / f"{scene}.json").read_text()


def test_cli_per_view_names_mipnerf360_views_from_the_dataset_root(tmp_path):
    from helpers import cli, folder

    folder(tmp_path / "360" / "stump" / "images_4", [f"IMG_{i:04d}.JPG" for i in range(125)], h=8, w=8)
    out = tmp_path / "pv.json"
    r = cli("baselines", "mipnerf360", "--per-view", "--method", "zipnerf", "--scene", "stump", "--dataset-root",
            str(tmp_path / "360"), "--json", str(out))
    assert r.returncode == 0, r.stderr
    views = [row["view"] for row in json.loads(out.read_text())["rows"] if row["metric"] == "psnr"]
    assert views[:3] == ["IMG_0000.JPG", "IMG_0008.JPG", "IMG_0016.JPG"] and len(views) == 16
    r = cli("baselines", "mipnerf360", "--per-view", "--scene", "stump", "--dataset-root", str(tmp_path / "none"))
    assert r.returncode == 2 and "images_4" in r.stderr
