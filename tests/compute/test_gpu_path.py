"""The device-facing parts of the compute stage: 8-bit uploads converted exactly, one synchronisation per batch,
tiling decided by device memory, the memory cap, and the runner's decode pool. The CUDA tests are skipped
without a GPU (benchmarks/gpu_check.sh runs them on one)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from nvs_eval.api import score_folders
from nvs_eval.compute.evaluator import Evaluator, gpu_memory_cap
from nvs_eval.compute.runner import decode_workers
from nvs_eval.conventions.protocols import get_protocol
from nvs_eval.data.images import read_image
from nvs_eval.errors import UsageError

from helpers import img

CUDA = torch.cuda.is_available()
cuda_only = pytest.mark.skipif(not CUDA, reason="CUDA is not available on this machine")


def test_an_8_bit_file_read_as_bytes_converts_to_exactly_the_float_decode(tmp_path, device):
    """``raw8`` keeps an 8-bit RGB file as uint8; ``to_tensor`` turns it into the same float32 values, bit for
    bit, as the float decode (every one of the 256 levels), on the device the bytes were sent to."""
    levels = np.arange(256, dtype=np.uint8)
    arr = np.stack(np.meshgrid(levels, levels[::-1]), -1)[..., [0, 1, 0]].copy()  # every level in every channel
    path = tmp_path / "all-levels.png"
    from PIL import Image

    Image.fromarray(arr).save(path)
    raw = read_image(path, raw8=True)
    assert raw.dtype == np.uint8 and raw.shape == (256, 256, 3)
    ev = Evaluator(get_protocol("nvs-eval"), ("psnr",), device=device.type)
    got = ev.to_tensor(raw)
    want = ev.to_tensor(read_image(path))
    assert got.dtype == torch.float32 and got.device.type == device.type
    assert torch.equal(got, want)


def test_files_that_are_not_8_bit_rgb_stay_float(tmp_path):
    """Grey, alpha and 16-bit files need the decoder's arithmetic (replication, compositing, 65535): ``raw8``
    leaves them as float32."""
    for mode in ("L", "RGBA", "LA"):
        p = img(tmp_path / f"{mode}.png", mode=mode)
        x = read_image(p, raw8=True)
        assert x.dtype == np.float32 and x.shape[-1] == 3
        assert np.array_equal(x, read_image(p))


def test_validation_reads_back_once_and_still_names_the_problem():
    from nvs_eval.metrics.validate import check_image_batch

    x = torch.rand(2, 3, 8, 8)
    for bad, msg in ((float("nan"), "finite"), (float("inf"), "finite"), (-float("inf"), "finite"),
                     (1.25, r"\[0, 1\]"), (-0.5, r"\[0, 1\]")):
        y = x.clone()
        y[1, 2, 3, 4] = bad
        with pytest.raises(ValueError, match=msg):
            check_image_batch(y, "pred")
    assert check_image_batch(x, "pred") is x


def test_gpu_memory_cap_comes_from_the_argument_or_the_environment(monkeypatch):
    monkeypatch.delenv("NVS_EVAL_GPU_MEMORY", raising=False)
    assert gpu_memory_cap(None) is None
    assert gpu_memory_cap(8) == 8_000_000_000
    monkeypatch.setenv("NVS_EVAL_GPU_MEMORY", "2.5")
    assert gpu_memory_cap(None) == 2_500_000_000
    monkeypatch.setenv("NVS_EVAL_GPU_MEMORY", "lots")
    with pytest.raises(UsageError, match="NVS_EVAL_GPU_MEMORY"):
        gpu_memory_cap(None)
    with pytest.raises(UsageError, match="positive"):
        gpu_memory_cap(0)


def test_the_memory_model_tiles_4k_under_8_gb_but_not_800px():
    """The untiled estimate for the 3dgs metrics: an 800x800 view with three renders fits 8 GB; a 4K view does not
    (it tiles under such a cap) but fits an H200's 139 GB."""
    ev = Evaluator(get_protocol("3dgs"), device="cpu")
    assert ev.policy.untiled_bytes(800, 800, 3) < 8e9 * 0.9 / 2
    assert 8e9 < ev.policy.untiled_bytes(2160, 3840, 1) < 0.9 * 139e9


def test_decode_pool_feeds_a_gpu_and_stays_small_beside_cpu_compute():
    assert decode_workers(torch.device("cpu")) == 2
    assert 2 <= decode_workers(torch.device("cuda")) <= 8


@cuda_only
@pytest.mark.cuda
def test_a_capped_gpu_tiles_a_4k_view_within_the_cap_with_the_same_scores():
    """``gpu_memory`` is a hard cap: a 4K view that an uncapped H200 scores untiled is tiled under a 3 GB cap, the
    allocator never holds more, and the scores equal the untiled ones."""
    from skimage import data, transform

    gt = transform.resize(data.astronaut()[..., :3], (2160, 3840), anti_aliasing=False).astype(np.float32)
    pred = np.clip(gt + np.random.default_rng(0).normal(0, 0.03, gt.shape), 0, 1).astype(np.float32)
    proto = get_protocol("3dgs")
    whole = Evaluator(proto, device="cuda")
    t = whole.prepare(whole.to_tensor(gt))
    assert not t.tiled
    expected = whole.score(whole.to_tensor(pred), t)
    del whole, t
    torch.cuda.empty_cache()
    torch.cuda.reset_peak_memory_stats()
    try:
        capped = Evaluator(proto, device="cuda", gpu_memory=3.0)
        t = capped.prepare(capped.to_tensor(gt))
        got = capped.score(capped.to_tensor(pred), t)
        assert t.tiled
        assert torch.cuda.max_memory_allocated() <= 3e9
    finally:
        torch.cuda.set_per_process_memory_fraction(1.0)
    for m in expected:
        assert abs(float(got[m][0]) - float(expected[m][0])) < 1e-5, m


@cuda_only
@pytest.mark.cuda
def test_800px_views_stay_under_8_gb_with_the_default_settings(tmp_path):
    """Three methods at 800x800 with PSNR, SSIM, LPIPS-VGG and LPIPS-AlexNet, through the runner (8-bit uploads,
    the decode pool): under 8 GB of device memory, and the CPU's values."""
    for i in range(3):
        img(tmp_path / "gt" / f"{i}.png", h=800, w=800, seed=i)
        for m in range(3):
            img(tmp_path / f"m{m}" / f"{i}.png", h=800, w=800, seed=100 + 10 * m + i)  # none equals its gt
    renders = {f"m{m}": tmp_path / f"m{m}" for m in range(3)}
    metrics = ("psnr", "ssim", "lpips_vgg", "lpips_alex")
    torch.cuda.empty_cache()
    torch.cuda.reset_peak_memory_stats()
    gpu = score_folders(renders, tmp_path / "gt", "nvs-eval", metrics, device="cuda", progress=False)
    assert torch.cuda.max_memory_allocated() <= 8e9
    cpu = score_folders(renders, tmp_path / "gt", "nvs-eval", metrics, device="cpu", progress=False)
    # random-noise images: PSNR ~7.7 dB from a float32 mean over 1.9 M values summed in another order
    for m, tol in (("psnr", 1e-4), ("ssim", 1e-5), ("lpips_vgg", 1e-4), ("lpips_alex", 1e-4)):
        d = np.abs(gpu[m].to_numpy() - cpu[m].to_numpy()).max()
        assert d < tol, (m, d)
