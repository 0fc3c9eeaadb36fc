"""Dynamic scenes: DyCheck's iPhone captures and its mPSNR / mSSIM / mLPIPS, against a float64 transcription of
dycheck/core/metrics/image.py (SciPy's convolve2d in place of jax.scipy's) and the lpips package with
``spatial=True``, on real photographs, with a capture and a run laid out as DyCheck writes them."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image
from scipy.signal import convolve2d

from nvs_eval.api import score_layout
from nvs_eval.data.layouts import GroundTruthSource, detect_layout, load_layout
from nvs_eval.errors import LayoutError

from conftest import lpips_reference, photo

H, W = 72, 96


def _masked_mean(x, mask):
    mask = np.broadcast_to(mask, x.shape)
    return (x * mask).sum() / max(mask.sum(), 1e-6)


def ref_psnr(a, b, mask):
    return float(-10.0 / np.log(10.0) * np.log(_masked_mean((a - b) ** 2, mask)))


def ref_ssim(a, b, mask):
    """compute_ssim (image.py:50-140) in NumPy float64."""
    m = mask[..., 0]
    f = np.exp(-0.5 * ((np.arange(11) - 5) / 1.5) ** 2)
    f /= f.sum()

    def conv(z, m, k):
        z_ = convolve2d(z * m, k, mode="valid")
        m_ = convolve2d(m, np.ones_like(k), mode="valid")
        with np.errstate(divide="ignore", invalid="ignore"):  # where() keeps the 0 of an empty window
            return np.where(m_ != 0, z_ * np.ones_like(k).sum() / m_, 0), (m_ != 0).astype(z.dtype)

    def filt(z, m):  # filt_fn1(*filt_fn2(z, m)): along the width, then the height, channel by channel
        out = []
        for c in range(z.shape[-1]):
            zc, mc = conv(z[..., c], m, f[None, :])
            out.append(conv(zc, mc, f[:, None])[0])
        return np.stack(out, -1)

    mu0, mu1 = filt(a, m), filt(b, m)
    s00 = np.maximum(0, filt(a**2, m) - mu0 * mu0)
    s11 = np.maximum(0, filt(b**2, m) - mu1 * mu1)
    s01 = filt(a * b, m) - mu0 * mu1
    s01 = np.sign(s01) * np.minimum(np.sqrt(s00 * s11), np.abs(s01))
    c1, c2 = 0.01**2, 0.03**2
    smap = (2 * mu0 * mu1 + c1) * (2 * s01 + c2) / ((mu0**2 + mu1**2 + c1) * (s00 + s11 + c2))
    return float(smap.mean())


def ref_lpips(model, a, b, mask):
    """get_compute_lpips: im2tensor(img * mask, factor=1/2), spatial map, masked mean."""
    def im2tensor(x):
        return torch.tensor((x / 0.5 - 1.0)[..., None].transpose(3, 2, 0, 1), dtype=torch.float32)

    with torch.no_grad():
        d = model(im2tensor((a * mask).astype(np.float32)), im2tensor((b * mask).astype(np.float32)))
    return float(_masked_mean(d.numpy()[0, 0, ..., None].astype(np.float64), mask))


@pytest.fixture(scope="module")
def capture(tmp_path_factory):
    """A DyCheck iPhone capture (rgb/2x, covisible/2x/val, splits/val.json, extra.json) and a run's renders."""
    from scipy.ndimage import gaussian_filter

    root = tmp_path_factory.mktemp("iphone")
    cap = root / "paper-windmill"
    frames = ["1_00000", "1_00005", "2_00000"]
    (cap / "splits").mkdir(parents=True)
    (cap / "splits" / "val.json").write_text(json.dumps({"frame_names": frames, "time_ids": [0, 5, 0],
                                                         "camera_ids": [1, 1, 2]}))
    (cap / "extra.json").write_text(json.dumps({"factor": 2, "fps": 30.0}))
    run = root / "run"
    rng = np.random.default_rng(1)
    data = {}
    yy, xx = np.mgrid[:H, :W]
    for i, (f, (name, off)) in enumerate(zip(frames, [("astronaut", (40, 150)), ("coffee", (100, 200)),
                                                      ("chelsea", (60, 120))])):
        gt = np.round(photo(name, (H, W), off) * 255).astype(np.uint8)
        render = np.clip(gaussian_filter(gt / 255, (1, 1, 0)) + rng.normal(0, 0.02, gt.shape), 0, 1)
        render = np.round(render * 255).astype(np.uint8)
        cov = (((yy - 30 - 5 * i) ** 2 + (xx - 40) ** 2) < 600 + 300 * i).astype(np.uint8) * 255
        for folder, img in ((cap / "rgb" / "2x", gt), (run / "results" / "rgb", render),
                            (cap / "covisible" / "2x" / "val", cov)):
            folder.mkdir(parents=True, exist_ok=True)
            Image.fromarray(img).save(folder / f"{f}.png")
        data[f] = (render / 255.0, gt / 255.0, (cov / 255.0)[..., None])
    (run / "results" / "mean_metrics_dict.json").write_text(json.dumps({"psnr": 20.0, "mpsnr": 21.0}))
    return cap, run, data


def test_dycheck_metrics_match_a_transcription_of_its_code(capture, backbones):
    cap, run, data = capture
    assert detect_layout(run) == "dycheck"
    df = score_layout(run, protocol="dycheck", gt_source=GroundTruthSource("iphone", cap), progress=False,
                      device="cpu")
    assert sorted(df["view"]) == sorted(data) and set(df["dataset"]) == {"iphone"}
    assert set(df["method"]) == {"run"} and set(df["scene"]) == {"paper-windmill"}  # the run folder; the capture
    model = lpips_reference("alex", backbones["alex"])
    model.spatial = True
    ones = np.ones((H, W, 1))
    for row in df.to_dict("records"):
        render, gt, cov = data[row["view"]]
        assert 0 < cov.mean() < 1
        ref = {"psnr": ref_psnr(gt, render, ones), "ssim": ref_ssim(gt, render, ones),
               "lpips_alex": ref_lpips(model, gt, render, ones), "masked_psnr": ref_psnr(gt, render, cov),
               "masked_ssim": ref_ssim(gt, render, cov), "masked_lpips_alex": ref_lpips(model, gt, render, cov)}
        for m, v in ref.items():
            tol = 1e-4 if "psnr" in m else 1e-5
            assert row[m] == pytest.approx(v, abs=tol), (m, row["view"])
        assert abs(row["masked_ssim"] - row["ssim"]) > 1e-3 and abs(row["masked_lpips_alex"] - row["lpips_alex"]) > 1e-3


def test_dycheck_masked_family_differs_from_nvs_evals_own(capture):
    """The same masks under nvs-eval's normalised convolution: fully masked-out windows do not count there."""
    from dataclasses import replace

    from nvs_eval.conventions.protocols import get_protocol

    cap, run, _ = capture
    src = GroundTruthSource("iphone", cap)
    dy = score_layout(run, protocol="dycheck", metrics=("masked_ssim",), gt_source=src, progress=False,
                      device="cpu")
    own = replace(get_protocol("dycheck"), name="dycheck-normalized", mask_convention="normalized")
    ours = score_layout(run, protocol=own, metrics=("masked_ssim",), gt_source=src, progress=False, device="cpu")
    assert (dy["masked_ssim"].to_numpy() - ours["masked_ssim"].to_numpy() > 0.01).all()  # windows outside count 1


def test_the_run_reads_its_own_means_and_masks(capture):
    cap, run, _ = capture
    (scene,) = load_layout(run, gt_source=GroundTruthSource("iphone", cap))
    assert scene.reported == {"run": {"psnr": 20.0, "masked_psnr": 21.0}}
    assert sorted(scene.masks) == ["1_00000", "1_00005", "2_00000"]
    assert all(p.parent == cap / "covisible" / "2x" / "val" for p in scene.masks.values())
    assert all(p.parent == cap / "rgb" / "2x" for p in scene.gt.values())


def test_a_capture_without_held_out_cameras_is_named(capture, tmp_path):
    cap, run, _ = capture
    single = tmp_path / "backpack"
    (single / "rgb" / "2x").mkdir(parents=True)
    with pytest.raises(LayoutError, match="no held-out cameras") as e:
        load_layout(run, gt_source=GroundTruthSource("iphone", single))
    assert "backpack" in str(e.value)
    (single / "splits").mkdir()
    (single / "splits" / "val.json").write_text(json.dumps({"frame_names": [], "time_ids": [], "camera_ids": []}))
    with pytest.raises(LayoutError, match="lists no frame"):
        load_layout(run, gt_source=GroundTruthSource("iphone", single))


def test_broken_capture_and_run_files_are_named_never_skipped(capture, tmp_path):
    """A damaged extra.json, a co-visibility mask missing for one frame and an unreadable mean_metrics_dict.json
    each name their file; none is passed over in silence (1x images, masks dropped, the tool's means vanishing)."""
    import shutil

    from nvs_eval.errors import PairingError

    cap, run, _ = capture
    c, r = tmp_path / cap.name, tmp_path / "run"
    shutil.copytree(cap, c)
    shutil.copytree(run, r)
    (c / "extra.json").write_text('{"factor": ')
    with pytest.raises(LayoutError, match="not readable for the capture's factor") as e:
        load_layout(r, gt_source=GroundTruthSource("iphone", c))
    assert "extra.json" in str(e.value)
    (c / "extra.json").write_text(json.dumps({"factor": 2}))
    (c / "covisible" / "2x" / "val" / "1_00005.png").unlink()
    with pytest.raises(PairingError, match="1 of 3 co-visibility masks missing, e.g. 1_00005.png"):
        load_layout(r, gt_source=GroundTruthSource("iphone", c))
    shutil.rmtree(c / "covisible")  # no masks at all: the plain metrics are still scored (masked ones need --masks)
    (r / "results" / "mean_metrics_dict.json").write_text('{"psnr": 20.0, "mpsnr": "n/a"')
    (scene,) = load_layout(r, gt_source=GroundTruthSource("iphone", c))
    assert scene.reported == {} and not scene.masks
    assert any("mean_metrics_dict.json: the tool's own means are not shown" in n for n in scene.notes)
    (r / "results" / "mean_metrics_dict.json").write_text(json.dumps({"psnr": 20.0, "mpsnr": "n/a"}))
    (scene,) = load_layout(r, gt_source=GroundTruthSource("iphone", c))
    assert scene.reported == {"run": {"psnr": 20.0}} and any("mpsnr not a number" in n for n in scene.notes)


def test_score_cli_prints_dychecks_own_means_beside(capture, capsys):
    from nvs_eval.cli import main

    cap, run, _ = capture
    assert main(["score", str(run), "--dataset", "iphone", "--dataset-root", str(cap), "--protocol", "dycheck",
                 "--device", "cpu"]) == 0
    out = capsys.readouterr().out
    assert "the tool's own mean masked_psnr 21.0000" in out and "the tool's own mean psnr 20.0000" in out


def test_a_config_scores_the_run_with_the_captures_masks(capture, tmp_path):
    from nvs_eval.api import evaluate

    cap, run, data = capture
    cfg = tmp_path / "dy.yaml"
    cfg.write_text(f"name: dy\nprotocol: dycheck\nmetrics: [masked_psnr]\ndatasets:\n  - name: iphone\n"
                   f"    kind: dycheck\n    gt_kind: iphone\n    root: {cap.parent}\n    scenes: [{cap.name}]\n"
                   f"    methods:\n      - {{name: m, path: '{run}'}}\n")
    res = evaluate(cfg, tmp_path / "out", progress=False, device="cpu")
    for row in res.per_view.to_dict("records"):
        render, gt, cov = data[row["view"]]
        assert row["masked_psnr"] == pytest.approx(ref_psnr(gt, render, cov), abs=1e-4)


def test_a_batch_spanning_views_scores_each_view_as_alone(capture):
    """Views with partial and all-ones masks in one batch, a view repeated: each render keeps its own value."""
    from nvs_eval.compute.evaluator import Evaluator
    from nvs_eval.conventions.protocols import get_protocol

    from conftest import to_nchw

    _, _, data = capture
    (r0, g0, m0), (r1, g1, _) = list(data.values())[:2]
    ev = Evaluator(get_protocol("dycheck"), device="cpu")
    gts = torch.cat([to_nchw(g0), to_nchw(g1)])
    masks = torch.stack([torch.from_numpy(m0[..., 0]).float(), torch.ones(H, W)])[:, None]
    renders = torch.cat([to_nchw(r0), to_nchw(r1), to_nchw(r0)])
    together = ev.score(renders, ev.prepare(gts, masks), views=[0, 1, 0])
    for j, v in enumerate([0, 1, 0]):
        alone = ev.score(renders[j : j + 1], ev.prepare(gts[v : v + 1], masks[v : v + 1]))
        for m, value in alone.items():
            assert float(together[m][j]) == pytest.approx(float(value[0]), abs=1e-6), (m, j)


def test_check_matches_copied_ground_truth_to_the_held_out_frames(capture, tmp_path):
    """`nvs-eval check` against an iPhone capture: the listed val frames are the standard split, at 2x."""
    import shutil

    from nvs_eval.data.provenance import check_scene, own_files_check

    cap, _, data = capture
    gt = {}
    for i, frame in enumerate(sorted(data)):
        gt[f"{i:05d}"] = shutil.copy(cap / "rgb" / "2x" / f"{frame}.png", tmp_path / f"{i:05d}.png")
    result = check_scene({k: tmp_path / f"{k}.png" for k in gt}, "iphone", cap)
    assert result.comparable and result.split["rule"] == "val-json" and result.gt["source"] == "2x"
    own = own_files_check("iphone", cap, "1x", {f: cap / "rgb" / "2x" / f"{f}.png" for f in data}, cap.name)
    assert own.comparable and own.gt["source"] == "2x"
