"""LPIPS against the `lpips` package (same backbone tensors): scalar, spatial map and gradient."""

from __future__ import annotations

import pytest
import torch

from nvs_eval.metrics.lpips import LPIPS
from nvs_eval.metrics.weights import load_lin

from conftest import photo_pairs, to_nchw

PAIRS = photo_pairs((64, 96))
IDS = [p[0] for p in PAIRS]


@pytest.fixture(scope="module")
def ours(backbones):
    return {(net, m): LPIPS(net, backbones[net], load_lin(net)[0], m)
            for net in ("alex", "vgg") for m in ("[-1,1]", "[0,1]")}


@pytest.mark.parametrize("net", ["alex", "vgg"])
@pytest.mark.parametrize("case", PAIRS, ids=IDS)
def test_lpips_matches_the_lpips_package(ours, reference_lpips, net, case, device):
    _, pred, gt = case
    p, t = to_nchw(pred).to(device), to_nchw(gt).to(device)
    model, ref = ours[(net, "[-1,1]")].to(device), reference_lpips[net].to(device)
    with torch.no_grad():
        expected = ref(p, t, normalize=True).flatten()
        got = model(p, t)
    assert abs(float(got[0]) - float(expected[0])) < 1e-5


@pytest.mark.parametrize("net", ["alex", "vgg"])
def test_lpips_spatial_map_matches_the_lpips_package(ours, reference_lpips, net, device):
    _, pred, gt = PAIRS[2]
    p, t = to_nchw(pred).to(device), to_nchw(gt).to(device)
    ref = reference_lpips[net].to(device)
    ref.spatial = True
    try:
        with torch.no_grad():
            expected = ref(p, t, normalize=True)[:, 0]
    finally:
        ref.spatial = False
    got = ours[(net, "[-1,1]")].to(device)(p, t, spatial=True)
    assert got.shape == (1, 64, 96)
    torch.testing.assert_close(got, expected, atol=1e-5, rtol=0)


@pytest.mark.parametrize("net", ["alex", "vgg"])
def test_lpips_gradient_matches_the_lpips_package(ours, reference_lpips, net):
    _, pred, gt = PAIRS[1]
    t = to_nchw(gt)
    p1 = to_nchw(pred).requires_grad_(True)
    p2 = to_nchw(pred).requires_grad_(True)
    ours[(net, "[-1,1]")](p1, t).sum().backward()
    reference_lpips[net](p2, t, normalize=True).sum().backward()
    assert p1.grad is not None and float(p1.grad.abs().max()) > 0
    torch.testing.assert_close(p1.grad, p2.grad, atol=1e-6, rtol=1e-4)


def test_lpips_fed_unmapped_inputs_matches_the_3dgs_call(ours, reference_lpips):
    """The 3DGS evaluation feeds [0, 1] images where [-1, 1] is expected (normalize=False on [0, 1] data)."""
    _, pred, gt = PAIRS[0]
    p, t = to_nchw(pred), to_nchw(gt)
    with torch.no_grad():
        expected = reference_lpips["vgg"](p, t, normalize=False).flatten()
        got = ours[("vgg", "[0,1]")](p, t)
        mapped = ours[("vgg", "[-1,1]")](p, t)
    assert abs(float(got[0]) - float(expected[0])) < 1e-5
    assert abs(float(got[0]) - float(mapped[0])) > 1e-3  # the convention matters


def test_lpips_is_zero_for_identical_images(ours):
    x = to_nchw(PAIRS[0][2])
    assert float(ours[("alex", "[-1,1]")](x, x)[0]) == pytest.approx(0.0, abs=1e-7)


def test_lpips_is_symmetric(ours):
    _, p, t = PAIRS[3]
    m = ours[("alex", "[-1,1]")]
    assert float(m(to_nchw(p), to_nchw(t))) == pytest.approx(float(m(to_nchw(t), to_nchw(p))), abs=1e-6)


def test_lpips_does_not_depend_on_batch_composition(ours):
    m = ours[("alex", "[-1,1]")]
    p = torch.cat([to_nchw(x) for _, x, _ in PAIRS[:3]])
    t = torch.cat([to_nchw(x) for _, _, x in PAIRS[:3]])
    torch.testing.assert_close(m(p, t), torch.cat([m(p[i : i + 1], t[i : i + 1]) for i in range(3)]), atol=1e-6, rtol=0)


def test_lpips_module_stays_in_eval_mode_with_frozen_weights(ours):
    m = ours[("alex", "[-1,1]")]
    m.train()
    assert not m.training
    assert all(not p.requires_grad for p in m.parameters())


def test_lpips_spatial_mean_is_close_to_but_not_the_scalar(ours):
    _, p, t = PAIRS[4]
    m = ours[("vgg", "[-1,1]")]
    scalar = float(m(to_nchw(p), to_nchw(t)))
    spatial = float(m(to_nchw(p), to_nchw(t), spatial=True).mean())
    assert abs(spatial - scalar) < 0.02 * scalar + 1e-3


@pytest.mark.parametrize("net", ["alex", "vgg"])
def test_tiled_lpips_equals_the_untiled_value(ours, reference_lpips, net, device):
    """Tiles with the halo give the whole-image value (odd sizes, several tiles each way, a batch of renders)."""
    from conftest import photo_pairs as pairs

    cases = pairs((173, 231))[:3]
    preds = torch.cat([to_nchw(p) for _, p, _ in cases]).to(device)
    gt = to_nchw(cases[0][2]).to(device)
    model = ours[(net, "[-1,1]")].to(device)
    with torch.inference_mode():
        whole = model.distance(model.features(preds), model.features(gt))
        expected = reference_lpips[net].to(device)(preds, gt.expand_as(preds), normalize=True).flatten()
        for tile, chunk in ((80, 1), (112, 2)):
            tiled = model.tiled_distance(preds, gt, tile=tile, chunk=chunk)
            assert (tiled - whole).abs().max() <= 1e-6, (tile, (tiled - whole).abs().max())
            assert (tiled - expected).abs().max() <= 1e-5


def test_tiling_refuses_what_it_cannot_do_exactly(ours):
    model = ours[("vgg", "[-1,1]")]
    x = torch.rand(1, 3, 64, 64)
    with pytest.raises(ValueError, match="multiple of 16"):
        model.tiled_distance(x, x, tile=50)


@pytest.fixture(scope="module")
def ours_v00(backbones):
    return {net: LPIPS(net, backbones[net], load_lin(net, version="0.0")[0], "[-1,1]", "0.0")
            for net in ("alex", "vgg")}


@pytest.fixture(scope="module")
def reference_v00(backbones):
    """The `lpips` package's LPIPS(version='0.0'): its own v0.0 layers, no scaling layer; our backbone tensors."""
    from conftest import lpips_reference

    return {net: lpips_reference(net, backbones[net], version="0.0") for net in ("alex", "vgg")}


@pytest.mark.parametrize("net", ["alex", "vgg"])
@pytest.mark.parametrize("case", PAIRS, ids=IDS)
def test_lpips_v00_matches_the_lpips_package(ours_v00, reference_v00, net, case):
    _, pred, gt = case
    p, t = to_nchw(pred), to_nchw(gt)
    with torch.no_grad():
        expected = float(reference_v00[net](p, t, normalize=True).flatten()[0])
        got = float(ours_v00[net](p, t)[0])
    assert abs(got - expected) < 1e-5, (got, expected)


def test_lpips_v00_layers_are_the_lpips_packages_own_files():
    """The layers fetched from the lpips wheel on PyPI are byte for byte the installed package's v0.0 files, and
    differ from v0.1's (so the version changes the number)."""
    import hashlib
    from pathlib import Path

    import lpips

    from nvs_eval.metrics.weights import LIN_V00_SHA256, lin_v00_path

    for net, sha in LIN_V00_SHA256.items():
        installed = Path(lpips.__file__).parent / "weights" / "v0.0" / f"{net}.pth"
        assert hashlib.sha256(installed.read_bytes()).hexdigest() == sha
        if net != "squeeze":
            load_lin(net, version="0.0")
            assert lin_v00_path(net).read_bytes() == installed.read_bytes()
    a, b = load_lin("alex", version="0.0")[0], load_lin("alex")[0]
    assert not torch.equal(a["lin0.model.1.weight"], b["lin0.model.1.weight"])


def test_a_tampered_lpips_wheel_is_refused_with_its_name(tmp_path):
    from nvs_eval.errors import WeightsError
    from nvs_eval.metrics.weights import LPIPS_WHEEL_FILE, fetch_lin_v00

    bad = tmp_path / LPIPS_WHEEL_FILE
    bad.write_bytes(b"PK\x05\x06" + b"\0" * 18)
    with pytest.raises(WeightsError, match=str(bad)):
        fetch_lin_v00(bad)


@pytest.mark.parametrize("net", ["alex", "vgg"])
def test_backbones_are_torchvisions_features_module_for_module(net):
    """nvs-eval builds AlexNet / VGG16 ``features`` itself (no torchvision import on the CLI's path); each must be
    torchvision's stack: the same modules in the same places, the same state-dict keys and shapes."""
    import torchvision

    from nvs_eval.metrics.backbones import features

    theirs = (torchvision.models.alexnet if net == "alex" else torchvision.models.vgg16)(weights=None).features
    ours = features(net)
    assert repr(ours) == repr(theirs)
    assert {k: v.shape for k, v in ours.state_dict().items()} == {k: v.shape for k, v in theirs.state_dict().items()}


def test_the_cli_path_does_not_import_torchvision():
    import subprocess
    import sys

    code = "import sys, nvs_eval.api, nvs_eval.cli; print('torchvision' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"
