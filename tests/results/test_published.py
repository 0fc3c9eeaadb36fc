"""Paired tests against a published method (issue 33): a run whose views are a Mip-NeRF 360 scene's test images is
paired with NerfBaselines' per-view values by dataset image name; a shuffled split, a wrong resolution, another
protocol or an unchecked scene is refused with the reason."""

from __future__ import annotations

import shutil

import numpy as np
import pandas as pd
import pytest

from helpers import img

N_STUMP = 125  # images of Mip-NeRF 360 stump: NerfBaselines publishes 16 test views (every 8th)


@pytest.fixture(scope="module")
def stump(tmp_path_factory):
    """A synthetic stump: 125 distinct images in images_4 (the published folder) and, twice their size, images_2."""
    from PIL import Image

    root = tmp_path_factory.mktemp("m360") / "stump"
    (root / "images_2").mkdir(parents=True)
    for i in range(N_STUMP):
        small = img(root / "images_4" / f"IMG_{i:04d}.png", h=24, w=32, seed=1000 + i)
        big = np.repeat(np.repeat(np.asarray(Image.open(small)), 2, 0), 2, 1)
        Image.fromarray(big).save(root / "images_2" / f"IMG_{i:04d}.png")
    return root


def _run(tmp_path, stump, images, folder="images_4"):
    """A run's ground truth: the given dataset images, named 00000.png ... in a permuted order (as a trainer that
    numbers its views might), so pairing by position would pair the wrong images."""
    order = np.random.default_rng(3).permutation(len(images))
    gt = {}
    for k, j in enumerate(order):
        p = tmp_path / "gt" / f"{k:05d}.png"
        p.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(stump / folder / images[j], p)
        gt[f"{k:05d}"] = p
    return gt


def _published(method="zipnerf"):
    from nvs_eval.baselines.per_view import load_per_view

    return {s.method: s for s in load_per_view("mipnerf360") if s.scene == "stump"}[method]


def _per_view(check, delta, method="mine"):
    """A method whose value on each dataset image is the published Zip-NeRF value there plus ``delta``."""
    pub = _published()
    names = [f"IMG_{i:04d}.png" for i in range(0, N_STUMP, 8)]
    by_name = {n: {m: float(pub.values(m)[k]) for m in ("psnr", "ssim", "lpips_alex")} for k, n in enumerate(names)}
    rows = [{"dataset": "mipnerf360", "scene": "stump", "method": method, "view": v["view"],
             **{m: by_name[v["dataset_image"]][m] + d for m, d in delta.items()}} for v in check["views"]]
    return pd.DataFrame(rows)


def _check(gt, stump):
    from nvs_eval.data.provenance import check_scene

    return check_scene(gt, "mipnerf360", stump, "stump").to_json()


def test_a_run_on_the_published_test_images_is_paired_by_name_with_the_published_method(tmp_path, stump):
    from nvs_eval.results.published import ALL_SCENES, compare_with_published

    test_images = [f"IMG_{i:04d}.png" for i in range(0, N_STUMP, 8)]
    check = _check(_run(tmp_path, stump, test_images), stump)
    assert check["comparable"], check["reasons"]
    pv = _per_view(check, {"psnr": 0.25, "ssim": 0.0, "lpips_alex": -0.01})
    cmp = compare_with_published(pv, {("mipnerf360", "stump"): check}, "nerfbaselines", "mipnerf360", "mipnerf360",
                                 resamples=2000)
    assert cmp.refused == []
    r = cmp.rows.set_index(["published", "metric", "scene"])
    z = r.loc[("Zip-NeRF (NerfBaselines)", "psnr", "stump")]
    assert z["difference"] == pytest.approx(0.25, abs=1e-12) and z["lo"] == pytest.approx(0.25, abs=1e-9)
    assert z["views"] == 16 and z["p"] < 1e-3 and z["p_holm"] >= z["p"]
    assert r.loc[("Zip-NeRF (NerfBaselines)", "ssim", "stump")]["difference"] == 0.0
    assert r.loc[("Zip-NeRF (NerfBaselines)", "ssim", "stump")]["p"] == 1.0
    assert r.loc[("Zip-NeRF (NerfBaselines)", "lpips_alex", ALL_SCENES)]["difference"] == pytest.approx(-0.01)
    # against 3DGS: the difference is the published Zip-NeRF minus 3DGS, view by view, plus 0.25
    gs, zn = _published("gaussian-splatting"), _published("zipnerf")
    expected = float(np.mean(zn.values("psnr").astype(float) - gs.values("psnr").astype(float))) + 0.25
    assert r.loc[("3DGS (NerfBaselines)", "psnr", "stump")]["difference"] == pytest.approx(expected, abs=1e-9)
    assert set(cmp.rows["published"]) == {"3DGS (NerfBaselines)", "Zip-NeRF (NerfBaselines)",
                                          "Mip-NeRF 360 (NerfBaselines)", "nerfacto (NerfBaselines)",
                                          "Instant-NGP (NerfBaselines)", "Tetra-NeRF (NerfBaselines)"}


def test_a_shuffled_split_is_refused_with_the_reason(tmp_path, stump):
    from nvs_eval.results.published import compare_with_published

    shifted = [f"IMG_{i:04d}.png" for i in range(1, N_STUMP, 8)]  # every 8th, from the second image
    check = _check(_run(tmp_path, stump, shifted), stump)
    pv = pd.DataFrame([{"dataset": "mipnerf360", "scene": "stump", "method": "mine", "view": v["view"], "psnr": 30.0}
                       for v in check["views"]])
    cmp = compare_with_published(pv, {("mipnerf360", "stump"): check}, "nerfbaselines", "mipnerf360", "mipnerf360")
    assert cmp.rows.empty
    assert len(cmp.refused) == 1 and "not the standard every-8th" in cmp.refused[0]["reason"]


def test_a_wrong_resolution_run_is_refused_with_the_reason(tmp_path, stump):
    from nvs_eval.results.published import compare_with_published

    test_images = [f"IMG_{i:04d}.png" for i in range(0, N_STUMP, 8)]
    check = _check(_run(tmp_path, stump, test_images, folder="images_2"), stump)
    pv = pd.DataFrame([{"dataset": "mipnerf360", "scene": "stump", "method": "mine", "view": v["view"], "psnr": 30.0}
                       for v in check["views"]])
    cmp = compare_with_published(pv, {("mipnerf360", "stump"): check}, "nerfbaselines", "mipnerf360", "mipnerf360")
    assert cmp.rows.empty and "published at images_4" in cmp.refused[0]["reason"]


def test_another_protocol_or_an_unchecked_scene_is_refused(tmp_path, stump):
    from nvs_eval.results.published import compare_with_published

    test_images = [f"IMG_{i:04d}.png" for i in range(0, N_STUMP, 8)]
    check = _check(_run(tmp_path, stump, test_images), stump)
    pv = _per_view(check, {"psnr": 0.0})
    other = compare_with_published(pv, {("mipnerf360", "stump"): check}, "3dgs", "mipnerf360", "mipnerf360")
    assert other.rows.empty and "a different protocol" in other.refused[0]["reason"]
    unchecked = compare_with_published(pv, {}, "nerfbaselines", "mipnerf360", "mipnerf360")
    assert unchecked.rows.empty and unchecked.refused[0]["reason"].startswith("unchecked")
    fewer = compare_with_published(pv.iloc[:-1], {("mipnerf360", "stump"): check}, "nerfbaselines", "mipnerf360",
                                   "mipnerf360")
    assert fewer.rows.empty and "1 published view(s) missing" in fewer.refused[0]["reason"]
    nerfstudio = compare_with_published(pv, {("mipnerf360", "stump"): check}, "nerfbaselines", "mipnerf360",
                                        "nerfstudio")
    assert nerfstudio.rows.empty and "can name" in nerfstudio.refused[0]["reason"]


def _store(tmp_path, check, pv, protocol="nerfbaselines"):
    from nvs_eval.results.store import ResultsStore, Row

    path = tmp_path / "results.sqlite"
    with ResultsStore(path) as store:
        store.register_protocol("k", protocol, {"name": protocol})
        metrics = ("psnr", "ssim", "lpips_alex")
        store.put([Row("mipnerf360", "stump", r["method"], r["view"], m, protocol, float(r[m]), "r", "g", "r.png",
                       "g.png", "k", "test", "w") for r in pv.to_dict("records") for m in metrics])
        store.put_check("mipnerf360", "stump", check)
    return path


def test_report_paired_writes_the_comparison_and_refuses_an_unchecked_run(tmp_path, stump):
    from nvs_eval.errors import UsageError
    from nvs_eval.report import write_report

    test_images = [f"IMG_{i:04d}.png" for i in range(0, N_STUMP, 8)]
    check = _check(_run(tmp_path, stump, test_images), stump)
    store = _store(tmp_path, check, _per_view(check, {"psnr": 0.25, "ssim": 0.0, "lpips_alex": -0.01}))
    paths = write_report(store, tmp_path / "rep", ("md", "csv", "html"), figures=False,
                         baselines={"mipnerf360": "mipnerf360"}, paired=True)
    md = paths["paired"].read_text()
    assert "| mine | Zip-NeRF (NerfBaselines) | psnr | stump | +0.25 | [+0.25, +0.25] |" in md
    tables = (tmp_path / "rep" / "tables.md").read_text()
    assert "mine − Zip-NeRF (NerfBaselines)" in tables and "views paired by dataset image name" in tables
    assert "Paired with published per-view results" in (tmp_path / "rep" / "stats.html").read_text()
    assert "paired_baselines.csv" in {p.name for p in (tmp_path / "rep" / "csv").iterdir()}
    other = tmp_path / "other"
    other.mkdir()
    bad = dict(check, comparable=False, reasons=["test views follow custom, not the standard every-8th"])
    with pytest.raises(UsageError, match="no scene can be paired.*stump: not comparable.*every-8th"):
        same = _per_view(check, {"psnr": 0.0, "ssim": 0.0, "lpips_alex": 0.0})
        write_report(_store(other, bad, same), other / "rep", ("md",), figures=False,
                     baselines={"mipnerf360": "mipnerf360"}, paired=True)


def test_paired_without_baselines_is_a_usage_error_naming_the_option(tmp_path):
    from nvs_eval.errors import UsageError
    from nvs_eval.report.paired import comparisons

    from helpers import cli

    with pytest.raises(UsageError, match="needs"):
        comparisons(pd.DataFrame(), {}, "nerfbaselines", {})
    r = cli("baselines", "--json", str(tmp_path / "x.json"))
    assert r.returncode == 2 and "--per-view" in r.stderr
