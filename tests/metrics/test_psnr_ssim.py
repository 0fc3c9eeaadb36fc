"""PSNR and SSIM against scikit-image, torchmetrics and a direct 2-D convolution, on real photographs."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from nvs_eval.metrics import SSIM_REFLECT, SSIM_SKIMAGE_DEFAULT, SSIM_VALID, SSIM_ZERO, psnr, ssim
from nvs_eval.metrics.ssim import SSIMSpec, ssim_with_moments, target_moments

from conftest import photo_pairs, to_nchw

PAIRS = photo_pairs()
IDS = [p[0] for p in PAIRS]


@pytest.mark.parametrize("case", PAIRS, ids=IDS)
@pytest.mark.parametrize("dtype,atol", [(torch.float32, 1e-5), (torch.float64, 1e-6)])
def test_psnr_matches_skimage(case, dtype, atol, device):
    _, pred, gt = case
    ref = peak_signal_noise_ratio(gt, pred, data_range=1.0)
    got = psnr(to_nchw(pred, dtype).to(device), to_nchw(gt, dtype).to(device))
    assert got.shape == (1,)
    assert abs(float(got[0]) - ref) < atol * max(1.0, abs(ref)) * 10  # dB scale: relative 1e-5 of ~30 dB


@pytest.mark.parametrize("case", PAIRS, ids=IDS)
@pytest.mark.parametrize("dtype,atol", [(torch.float32, 1e-5), (torch.float64, 1e-6)])
def test_ssim_valid_matches_skimage_gaussian(case, dtype, atol, device):
    _, pred, gt = case
    ref = structural_similarity(gt, pred, channel_axis=2, data_range=1.0, gaussian_weights=True, sigma=1.5,
                                use_sample_covariance=False)
    got = ssim(to_nchw(pred, dtype).to(device), to_nchw(gt, dtype).to(device), SSIM_VALID)
    assert abs(float(got[0]) - ref) < atol


@pytest.mark.parametrize("case", PAIRS, ids=IDS)
def test_ssim_skimage_default_variant_matches_skimage_defaults(case, device):
    _, pred, gt = case
    ref = structural_similarity(gt, pred, channel_axis=2, data_range=1.0)
    got = ssim(to_nchw(pred, torch.float64).to(device), to_nchw(gt, torch.float64).to(device), SSIM_SKIMAGE_DEFAULT)
    assert abs(float(got[0]) - ref) < 1e-6


@pytest.mark.parametrize("case", PAIRS, ids=IDS)
@pytest.mark.parametrize("dtype,atol", [(torch.float32, 1e-5), (torch.float64, 1e-6)])
def test_ssim_reflect_matches_torchmetrics(case, dtype, atol, device):
    """Against torchmetrics run in float64: in float32 torchmetrics' own 2-D convolution is off its float64 value
    by up to 2e-5 on these photographs (ours by at most 4e-6), so the float32 reference is not a 1e-5 yardstick."""
    from torchmetrics.functional.image import structural_similarity_index_measure as tm_ssim

    _, pred, gt = case
    p64, t64 = to_nchw(pred, torch.float64).to(device), to_nchw(gt, torch.float64).to(device)
    p, t = p64.to(dtype), t64.to(dtype)
    ref = tm_ssim(p64, t64, data_range=1.0)
    got = ssim(p, t, SSIMSpec(padding="reflect-same", clamp_variance_only=True))
    assert abs(float(got[0]) - float(ref)) < atol
    inferred = tm_ssim(p64, t64)  # data range inferred from the pair (nerfstudio's call)
    got2 = ssim(p, t, SSIMSpec(padding="reflect-same", data_range=None, clamp_variance_only=True))
    assert abs(float(got2[0]) - float(inferred)) < atol


def direct_2d_zero_padded_ssim(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """The 3DGS `_ssim` construction: an 11x11 2-D Gaussian window, zero padding 5, written out here."""
    g = torch.exp(-((torch.arange(11, dtype=torch.float64) - 5) ** 2) / (2 * 1.5**2))
    g = g / g.sum()
    w = (g[:, None] @ g[None, :]).to(x.dtype).to(x.device).expand(3, 1, 11, 11).contiguous()
    conv = lambda z: F.conv2d(z, w, padding=5, groups=3)  # noqa: E731
    mu1, mu2 = conv(x), conv(y)
    s1, s2, s12 = conv(x * x) - mu1**2, conv(y * y) - mu2**2, conv(x * y) - mu1 * mu2
    c1, c2 = 0.01**2, 0.03**2
    m = ((2 * mu1 * mu2 + c1) * (2 * s12 + c2)) / ((mu1**2 + mu2**2 + c1) * (s1 + s2 + c2))
    return m.flatten(1).mean(1)


@pytest.mark.parametrize("case", PAIRS, ids=IDS)
@pytest.mark.parametrize("dtype,atol", [(torch.float32, 1e-5), (torch.float64, 1e-6)])
def test_ssim_zero_same_matches_direct_2d_convolution(case, dtype, atol, device):
    _, pred, gt = case
    p64, t64 = to_nchw(pred, torch.float64).to(device), to_nchw(gt, torch.float64).to(device)
    ref = float(direct_2d_zero_padded_ssim(p64, t64)[0])
    assert abs(float(ssim(p64.to(dtype), t64.to(dtype), SSIM_ZERO)[0]) - ref) < atol


def test_ssim_golden_values_of_the_padding_conventions():
    """The same pair scores differently under each convention (values from this implementation, cross-checked
    above against skimage / torchmetrics / the direct convolution; pinned here to catch regressions)."""
    _, pred, gt = next(p for p in PAIRS if p[0] == "astronaut-blur")
    p, t = to_nchw(pred, torch.float64), to_nchw(gt, torch.float64)
    values = {name: float(ssim(p, t, spec)[0]) for name, spec in
              [("valid", SSIM_VALID), ("zero", SSIM_ZERO), ("reflect", SSIM_REFLECT),
               ("skimage", SSIM_SKIMAGE_DEFAULT)]}
    golden = GOLDEN_SSIM
    for k in golden:
        assert values[k] == pytest.approx(golden[k], abs=1e-9), (k, values[k])
    assert len({round(v, 4) for v in values.values()}) == 4


GOLDEN_SSIM = {"valid": 0.7864546236190483, "zero": 0.8068834556242929, "reflect": 0.7863942805445809,
               "skimage": 0.8163814096709265}


def test_ssim_map_shapes_follow_padding():
    x = torch.rand(2, 3, 40, 50)
    y = torch.rand(2, 3, 40, 50)
    assert ssim(x, y, SSIM_VALID, return_map=True)[1].shape == (2, 3, 30, 40)
    assert ssim(x, y, SSIM_ZERO, return_map=True)[1].shape == (2, 3, 40, 50)
    assert ssim(x, y, SSIM_REFLECT, return_map=True)[1].shape == (2, 3, 40, 50)


@pytest.mark.parametrize("spec", [SSIM_VALID, SSIM_ZERO, SSIM_REFLECT, SSIM_SKIMAGE_DEFAULT], ids=str)
def test_ssim_with_reused_target_moments_equals_direct_ssim(spec):
    _, pred, gt = PAIRS[1]
    p, t = to_nchw(pred, torch.float64), to_nchw(gt, torch.float64)
    both = torch.cat([p, t.flip(-1)])
    direct = torch.cat([ssim(both[i : i + 1], t, spec) for i in range(2)])
    reused = ssim_with_moments(both, target_moments(t, spec))
    torch.testing.assert_close(reused, direct, atol=1e-12, rtol=0)


DM_PIX = SSIMSpec(variance_floor=0.0)  # multinerf's dm_pix: variances floored, covariance clipped


def _textbook_map(mu_x, mu_y, xx, yy, xy, spec, rng=1.0):
    """The SSIM formula written out of place, term by term (the reference the in-place kernel must equal)."""
    var_x, var_y, cov = xx - mu_x * mu_x, yy - mu_y * mu_y, xy - mu_x * mu_y
    if spec.covariance == "sample":
        n = spec.size**2
        var_x, var_y, cov = var_x * (n / (n - 1.0)), var_y * (n / (n - 1.0)), cov * (n / (n - 1.0))
    if spec.variance_floor is not None:
        var_x, var_y = var_x.clamp_min(spec.variance_floor), var_y.clamp_min(spec.variance_floor)
        cov = torch.sign(cov) * torch.minimum(torch.sqrt(var_x * var_y), cov.abs())
    c1, c2 = (spec.k1 * rng) ** 2, (spec.k2 * rng) ** 2
    return ((2 * mu_x * mu_y + c1) * (2 * cov + c2)) / ((mu_x * mu_x + mu_y * mu_y + c1) * (var_x + var_y + c2))


@pytest.mark.parametrize("spec", [SSIM_VALID, SSIM_ZERO, SSIM_REFLECT, SSIM_SKIMAGE_DEFAULT, DM_PIX], ids=str)
def test_ssim_map_is_built_in_place_without_touching_the_target_moments(spec):
    """The map is formed in the prediction's own filter outputs: bit for bit the textbook formula, and the
    target's reused moments are the same after scoring as before (a second scoring gives the same value)."""
    from nvs_eval.metrics.ssim import window_filter

    _, pred, gt = PAIRS[1]
    p, t = to_nchw(pred), to_nchw(gt)
    p = torch.cat([p, t.flip(-1)])
    mom = target_moments(t, spec)
    mu, sq = mom.mu.clone(), mom.sq.clone()
    value, smap = ssim_with_moments(p, mom, return_map=True)
    assert torch.equal(mom.mu, mu) and torch.equal(mom.sq, sq)
    mu_x, xx, xy = window_filter(torch.cat([p, p * p, p * t]), spec).split(2)
    assert torch.equal(smap, _textbook_map(mu_x, mu, xx, sq, xy, spec))
    assert torch.equal(ssim_with_moments(p, mom), value)


BAND_SPECS = [SSIM_VALID, SSIM_ZERO, SSIM_REFLECT, SSIM_SKIMAGE_DEFAULT,
              SSIMSpec(padding="reflect-same", data_range=None, clamp_variance_only=True)]


@pytest.mark.parametrize("spec", BAND_SPECS, ids=str)
@pytest.mark.parametrize("band", [1, 3, 5, 7, 64, 1000])
def test_ssim_in_row_bands_equals_the_whole_image(spec, band):
    """Bands shorter than the window's half-width, bands meeting either edge and one band larger than the map all
    give the whole-image moments bit for bit and the same SSIM (float64 accumulation of the mean)."""
    _, pred, gt = PAIRS[1]
    t = to_nchw(gt)[..., :101, :77]
    p = torch.cat([to_nchw(pred)[..., :101, :77], t.flip(-1)])
    whole, banded = target_moments(t, spec), target_moments(t, spec, band=band)
    assert torch.equal(banded.mu, whole.mu) and torch.equal(banded.sq, whole.sq)
    expected = ssim_with_moments(p, whole)
    got = ssim_with_moments(p, banded, band=band)
    assert got.shape == expected.shape and got.dtype == expected.dtype
    assert (got - expected).abs().max() <= 2e-7
    t64, p64 = t.double(), p.double()
    torch.testing.assert_close(ssim_with_moments(p64, target_moments(t64, spec, band=band), band=band),
                               ssim_with_moments(p64, target_moments(t64, spec)), atol=1e-13, rtol=0)


def test_banded_ssim_refuses_a_map_and_a_bad_band():
    t = torch.rand(1, 3, 40, 40)
    m = target_moments(t)
    with pytest.raises(ValueError, match="needs the whole SSIM map"):
        ssim_with_moments(t, m, band=8, return_map=True)
    with pytest.raises(ValueError, match="positive SSIM band"):
        target_moments(t, band=0)
    with pytest.raises(ValueError, match="at least 11x11"):
        target_moments(torch.rand(1, 3, 10, 40), band=2)


def test_ssim_is_symmetric():
    _, pred, gt = PAIRS[0]
    p, t = to_nchw(pred, torch.float64), to_nchw(gt, torch.float64)
    assert float(ssim(p, t)) == pytest.approx(float(ssim(t, p)), abs=1e-12)


def test_ssim_is_one_and_psnr_is_inf_for_identical_images():
    x = to_nchw(PAIRS[0][2])
    assert float(ssim(x, x)[0]) == pytest.approx(1.0, abs=1e-6)
    assert torch.isinf(psnr(x, x)).all()


def test_batch_of_one_keeps_its_batch_dimension():
    x, y = torch.rand(1, 3, 16, 16), torch.rand(1, 3, 16, 16)
    assert psnr(x, y).shape == (1,)
    assert ssim(x, y).shape == (1,)


def test_results_do_not_depend_on_batch_composition():
    imgs = [(to_nchw(p), to_nchw(t)) for _, p, t in PAIRS[:4]]
    p = torch.cat([a for a, _ in imgs])
    t = torch.cat([b for _, b in imgs])
    batched = ssim(p, t)
    single = torch.cat([ssim(a, b) for a, b in imgs])
    torch.testing.assert_close(batched, single, atol=1e-6, rtol=0)
    torch.testing.assert_close(psnr(p, t), torch.cat([psnr(a, b) for a, b in imgs]), atol=1e-5, rtol=0)


@pytest.mark.parametrize("bad,err", [
    (torch.rand(3, 16, 16), "NCHW"),
    (torch.rand(1, 4, 16, 16), "3 channels"),
    (torch.randint(0, 255, (1, 3, 16, 16)), "floating point"),
    (torch.full((1, 3, 16, 16), float("nan")), "NaN"),
    (torch.full((1, 3, 16, 16), 1.5), r"\[0, 1\]"),
])
def test_invalid_inputs_raise_with_what_was_expected(bad, err):
    good = torch.rand(1, 3, 16, 16)
    with pytest.raises((ValueError, TypeError), match=err):
        ssim(bad, good if bad.ndim == 4 and bad.shape[1] == 3 else good)


def test_psnr_fails_for_different_shapes():
    with pytest.raises(ValueError, match="same shape"):
        psnr(torch.rand(1, 3, 16, 16), torch.rand(1, 3, 16, 17))


def test_half_precision_inputs_are_computed_in_float32():
    x, y = torch.rand(1, 3, 32, 32), torch.rand(1, 3, 32, 32)
    h = ssim(x.half(), y.half())
    assert h.dtype == torch.float32
    assert float(h) == pytest.approx(float(ssim(x.half().float(), y.half().float())), abs=1e-7)


def test_nerfstudio_like_inferred_range_differs_from_fixed_range():
    x = torch.rand(1, 3, 32, 32) * 0.5
    y = torch.rand(1, 3, 32, 32) * 0.5
    a = ssim(x, y, SSIMSpec(padding="reflect-same", data_range=None))
    b = ssim(x, y, SSIMSpec(padding="reflect-same"))
    assert float(a) != pytest.approx(float(b), abs=1e-4)
