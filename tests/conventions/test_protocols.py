"""Each protocol end to end against the convention it names, quantisation included (16-bit renders on disk)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from nvs_eval.api import score_folders
from nvs_eval.conventions.protocols import PROTOCOLS, get_protocol
from nvs_eval.errors import UsageError

from conftest import photo, to_nchw


def write_png16(path, x):
    import png

    h, w, _ = x.shape
    arr = np.round(x * 65535).astype(np.uint16)
    with open(path, "wb") as f:
        png.Writer(w, h, greyscale=False, bitdepth=16).write(f, arr.reshape(h, -1).tolist())
    return arr.astype(np.float64) / 65535  # exactly what the file holds


def write_png8(path, x):
    from PIL import Image

    arr = np.round(x * 255).astype(np.uint8)
    Image.fromarray(arr).save(path)
    return arr.astype(np.float64) / 255


@pytest.fixture(scope="module")
def scene(tmp_path_factory):
    """Two views: 16-bit renders (so rounding and truncation differ) against 8-bit ground truth."""
    from scipy.ndimage import gaussian_filter

    root = tmp_path_factory.mktemp("proto")
    (root / "gt").mkdir()
    (root / "method").mkdir()
    rng = np.random.default_rng(3)
    views = {}
    for i, (name, off) in enumerate([("astronaut", (30, 120)), ("coffee", (90, 210))]):
        img = photo(name, (72, 96), off)
        gt = write_png8(root / "gt" / f"{i:03d}.png", img)
        render = np.clip(gaussian_filter(img, (1.0, 1.0, 0)) + rng.normal(0, 0.01, img.shape), 0, 1)
        views[f"{i:03d}"] = (write_png16(root / "method" / f"{i:03d}.png", render), gt)
    return root, views


def ref_ssim_2d(x, y, padding):
    """A direct 2-D Gaussian-window SSIM (float64) with zero padding or valid cropping."""
    g = torch.exp(-((torch.arange(11, dtype=torch.float64) - 5) ** 2) / 4.5)
    w = (g[:, None] @ g[None, :] / g.sum() ** 2).expand(3, 1, 11, 11).contiguous()
    pad = 5 if padding == "zero" else 0
    conv = lambda z: F.conv2d(z, w, padding=pad, groups=3)  # noqa: E731
    mu1, mu2 = conv(x), conv(y)
    s1, s2, s12 = conv(x * x) - mu1**2, conv(y * y) - mu2**2, conv(x * y) - mu1 * mu2
    if padding == "dmpix":
        s1, s2 = s1.clamp_min(0), s2.clamp_min(0)
        s12 = torch.sign(s12) * torch.minimum(torch.sqrt(s1 * s2), s12.abs())
    m = ((2 * mu1 * mu2 + 1e-4) * (2 * s12 + 9e-4)) / ((mu1**2 + mu2**2 + 1e-4) * (s1 + s2 + 9e-4))
    return float(m.mean())


def reference(protocol, render, gt, reference_lpips):
    """The convention as the cited code computes it (rounding / truncation / padding / LPIPS input)."""
    if protocol == "3dgs":
        render, gt = np.round(render * 255) / 255, np.round(gt * 255) / 255
    elif protocol == "mipnerf360":
        render = np.round(render * 255) / 255
    elif protocol in ("nerfbaselines", "nerfw"):
        render = np.clip(render * 255.0, 0, 255).astype(np.uint8) / 255.0
        gt = np.clip(gt * 255.0, 0, 255).astype(np.uint8) / 255.0
    if protocol == "nerfw":  # phototourism.py NerfWEvaluationProtocol.evaluate: color_srgb[:, (w//2):]
        w = gt.shape[1]
        render, gt = render[:, w // 2 :], gt[:, w // 2 :]
    x, y = to_nchw(render, torch.float64), to_nchw(gt, torch.float64)
    out = {"psnr": float(-10 * np.log10(np.mean((render - gt) ** 2)))}
    if protocol == "3dgs":
        out["ssim"] = ref_ssim_2d(x, y, "zero")
    elif protocol == "nerfstudio":
        from torchmetrics.functional.image import structural_similarity_index_measure as tm_ssim

        out["ssim"] = float(tm_ssim(x, y))
    elif protocol in ("gsplat", "gsplat-vgg"):  # simple_trainer.py Runner.__init__, called as Runner.eval calls them
        from torchmetrics.image import PeakSignalNoiseRatio, StructuralSimilarityIndexMeasure

        out["ssim"] = float(StructuralSimilarityIndexMeasure(data_range=1.0).to(torch.float64)(x, y))
        out["psnr"] = float(PeakSignalNoiseRatio(data_range=1.0).to(torch.float64)(x, y))
    elif protocol == "pixelsplat":  # src/evaluation/metrics.py compute_ssim
        from skimage.metrics import structural_similarity

        out["ssim"] = float(structural_similarity(gt, render, win_size=11, gaussian_weights=True, channel_axis=2,
                                                  data_range=1.0))
    else:
        out["ssim"] = ref_ssim_2d(x, y, "dmpix" if protocol in ("mipnerf360", "nerfbaselines", "nerfw") else "valid")
    xf, yf = x.float(), y.float()
    with torch.no_grad():
        for net in ("alex", "vgg"):
            if protocol in ("3dgs", "gsplat-vgg"):  # LPIPS fed [0, 1] unmapped (gsplat: normalize=False for vgg)
                out[f"lpips_{net}"] = float(reference_lpips[net](xf, yf, normalize=False))
            else:
                out[f"lpips_{net}"] = float(reference_lpips[net](xf, yf, normalize=True))
    return out


# dycheck's default metrics need co-visibility masks: tests/data/test_dycheck.py reproduces it on an iPhone capture
@pytest.mark.parametrize("name", [n for n in PROTOCOLS if n != "dycheck"])
def test_protocol_reproduces_its_convention(scene, name, reference_lpips):
    root, views = scene
    protocol = get_protocol(name)
    df = score_folders({"method": root / "method"}, root / "gt", protocol, progress=False, device="cpu")
    assert set(df["view"]) == set(views)
    for row in df.to_dict("records"):
        render, gt = views[row["view"]]
        ref = reference(name, render, gt, reference_lpips)
        for m in protocol.metrics:
            tol = 1e-4 if m == "psnr" else 1e-5  # PSNR in dB: float32 MSE, relative 3e-6
            assert row[m] == pytest.approx(ref[m], abs=tol), (name, m, row["view"])


def test_rounding_and_truncation_give_different_numbers(scene):
    root, _ = scene
    a = score_folders({"m": root / "method"}, root / "gt", "3dgs", ("psnr",), progress=False, device="cpu")
    b = score_folders({"m": root / "method"}, root / "gt", "nerfbaselines", ("psnr",), progress=False, device="cpu")
    assert abs(a["psnr"].mean() - b["psnr"].mean()) > 0.01


def test_every_protocol_names_its_sources_and_settings():
    for p in PROTOCOLS.values():
        s = p.settings()
        assert s["name"] == p.name and p.sources and s["ssim"]["size"] == 11
        assert p.key().startswith(p.name + "@")
    assert len({p.key() for p in PROTOCOLS.values()}) == len(PROTOCOLS)


def test_adding_settings_never_changes_a_stored_protocols_signature():
    """Keys as the first version computed them: settings added since (resize_gt) are left out at their default,
    so every row stored before still reuses."""
    pinned = {"nvs-eval": "nvs-eval@3b863aaff31a", "mipnerf360": "mipnerf360@4aad91bbfa44", "3dgs": "3dgs@caf5c73c5fc1",
              "nerfbaselines": "nerfbaselines@f689118e839f", "nerfstudio": "nerfstudio@98cfb734584e"}
    assert {k: PROTOCOLS[k].key() for k in pinned} == pinned
    resized = get_protocol("3dgs").with_resize_gt("area")
    assert resized.name == "3dgs+resize_gt=area" and resized.key() != pinned["3dgs"]
    assert get_protocol("3dgs+resize_gt=area") == resized


@pytest.mark.parametrize("written", ["'0.0'", "0.0"])
def test_lpips_version_0_0_is_a_protocol_setting_with_its_own_key_and_weights(tmp_path, written, backbones):
    """``lpips_version: '0.0'`` in a protocol YAML: the lpips package's v0.0 LPIPS (its layers, no scaling layer),
    checked against the package itself; a key and a weights signature of its own, so its rows are never mixed
    with v0.1 rows; the built-in protocols' keys do not move (test above)."""
    import yaml

    from nvs_eval.compute.evaluator import Evaluator
    from nvs_eval.conventions.protocols import load_protocol_file

    from conftest import lpips_reference

    settings = {**PROTOCOLS["nvs-eval"].settings(), "name": "v00", "metrics": ["lpips_alex"]}
    text = yaml.safe_dump(settings).replace("lpips_version: '0.1'", f"lpips_version: {written}")
    assert f"lpips_version: {written}" in text
    (tmp_path / "v00.yaml").write_text(text)
    v00 = load_protocol_file(tmp_path / "v00.yaml")
    v01 = load_protocol_file(tmp_path / "v00.yaml").__class__(**{**vars(v00), "lpips_version": "0.1"})
    assert v00.lpips_version == "0.0" and v00.key() != v01.key()
    gt = to_nchw(photo("coffee", (64, 96)))
    pred = to_nchw(photo("coffee", (64, 96), offset=(3, 2)))
    ev = Evaluator(v00, ("lpips_alex",), "cpu")
    got = float(ev.score(pred, ev.prepare(gt))["lpips_alex"][0])
    ref = lpips_reference("alex", backbones["alex"], version="0.0")
    with torch.no_grad():
        want = float(ref(pred, gt, normalize=True).flatten()[0])
    assert abs(got - want) < 1e-5
    plain = Evaluator(v01, ("lpips_alex",), "cpu")
    assert abs(float(plain.score(pred, plain.prepare(gt))["lpips_alex"][0]) - got) > 1e-3  # it changes the number
    assert "/18720f55913d0af8" in ev.weights_summary() and ev.weights_summary() != plain.weights_summary()
    with pytest.raises(ValueError, match="lpips_version"):
        (tmp_path / "bad.yaml").write_text(text.replace(f"lpips_version: {written}", "lpips_version: '0.2'"))
        load_protocol_file(tmp_path / "bad.yaml")


def test_a_two_line_protocol_file_overrides_one_setting_of_a_preset_and_its_caption_spells_out_every_setting(
        tmp_path):
    from nvs_eval.conventions.protocols import load_protocol_file

    (tmp_path / "3dgs-v00.yaml").write_text("base: 3dgs\nlpips_version: '0.0'\n")
    p = load_protocol_file(tmp_path / "3dgs-v00.yaml")
    base = PROTOCOLS["3dgs"]
    assert (p.name, p.lpips_version) == ("3dgs-v00", "0.0")
    assert {k: v for k, v in p.settings().items() if k not in ("name", "summary", "lpips_version")} == \
        {k: v for k, v in base.settings().items() if k not in ("name", "summary", "lpips_version")}
    assert p.key() != base.key() and not p.is_preset() and base.is_preset()
    assert p.caption() == f"3dgs-v00 ({p.describe()})"
    for words in ("quantize round (both)", "zero-same", "LPIPS v0.0 fed [0,1]"):
        assert words in p.caption()
    assert p.summary == "3dgs with lpips_version 0.0"


def test_a_protocol_file_needs_no_key_its_metrics_do_not_use(tmp_path):
    """A protocol of PSNR alone sets neither SSIM nor LPIPS: absent keys take the default protocol's values."""
    from nvs_eval.conventions.protocols import load_protocol_file

    (tmp_path / "psnr8.yaml").write_text("quantize: round\nquantize_images: both\nmetrics: [psnr]\n")
    p = load_protocol_file(tmp_path / "psnr8.yaml")
    assert (p.name, p.quantize, p.metrics, p.sources) == ("psnr8", "round", ("psnr",), ())
    assert p.ssim == PROTOCOLS["nvs-eval"].ssim


@pytest.mark.parametrize("text,needle", [
    ("base: 3dgs\nssim: {paddding: same}\n", "p.yaml: ssim: unknown key 'paddding'; did you mean 'padding'?"),
    ("base: 3dgs\nmetrics: [psnr, lpips_alx]\n", "p.yaml: metrics: unknown metric 'lpips_alx'; did you mean "
                                                 "'lpips_alex'?"),
    ("base: 3gds\n", "p.yaml: base: unknown preset '3gds'; did you mean '3dgs'?"),
    ("quantise: round\n", "p.yaml: unknown protocol setting 'quantise'; did you mean 'quantize'?"),
])
def test_a_typo_in_a_protocol_file_is_pointed_at_with_the_closest_valid_word(tmp_path, text, needle):
    from nvs_eval.conventions.protocols import load_protocol_file

    (tmp_path / "p.yaml").write_text(text)
    with pytest.raises(UsageError) as e:
        load_protocol_file(tmp_path / "p.yaml")
    assert str(e.value).startswith(str(tmp_path / needle))


def test_an_unknown_metric_is_pointed_at_not_answered_with_the_whole_list():
    from nvs_eval.conventions.registry import parse_metric_list

    with pytest.raises(UsageError) as e:
        parse_metric_list("psnr,lpips_alx", ("psnr",))
    assert str(e.value) == "unknown metric(s) lpips_alx; did you mean 'lpips_alex'?"
    assert "lpips_vgg" not in str(e.value)


def test_docs_protocols_page_lists_every_key_of_a_protocol_file():
    """The table of keys, their meaning and defaults in docs/protocols.md is the one the code declares."""
    from pathlib import Path

    from nvs_eval.conventions.protocols import settings_table

    page = (Path(__file__).parents[2] / "docs" / "protocols.md").read_text()
    assert settings_table() in page


@pytest.mark.parametrize("typo,meant", [("gsplt", "gsplat"), ("3DGS", "3dgs")])
def test_a_mistyped_protocol_name_is_pointed_at(typo, meant):
    from nvs_eval.errors import UsageError

    with pytest.raises(UsageError, match=f"unknown protocol '{typo}'; did you mean '{meant}'"):
        get_protocol(typo)

