"""Shared fixtures: real photographs with NVS-like distortions, devices, and reference LPIPS models."""

from __future__ import annotations

import io
import os
from pathlib import Path

import numpy as np
import pytest
import torch

torch.backends.cuda.matmul.allow_tf32 = False
torch.backends.cudnn.allow_tf32 = False

CUDA = torch.cuda.is_available()


@pytest.fixture(params=["cpu", pytest.param("cuda", marks=pytest.mark.cuda)])
def device(request):
    if request.param == "cuda" and not CUDA:
        pytest.skip("CUDA is not available on this machine")
    return torch.device(request.param)


def photo(name: str, size=(96, 128), offset=(0, 0)) -> np.ndarray:
    from skimage import data

    img = getattr(data, name)()[..., :3].astype(np.float64) / 255.0
    y, x = offset
    return img[y : y + size[0], x : x + size[1]]


def jpeg(x: np.ndarray, q: int) -> np.ndarray:
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray((x * 255).round().astype(np.uint8)).save(buf, format="JPEG", quality=q)
    return np.asarray(Image.open(io.BytesIO(buf.getvalue())), dtype=np.float64) / 255.0


def distortions(img: np.ndarray, seed: int = 0) -> dict[str, np.ndarray]:
    from scipy.ndimage import gaussian_filter, shift

    rng = np.random.default_rng(seed)
    return {
        "blur": gaussian_filter(img, (1.5, 1.5, 0)),
        "noise": np.clip(img + rng.normal(0, 0.05, img.shape), 0, 1),
        "jpeg": jpeg(img, 30),
        "shift": np.clip(shift(img, (1.3, -0.7, 0), mode="nearest"), 0, 1),
        "colour": np.clip(img * np.array([1.08, 0.97, 0.9]) + 0.02, 0, 1),
    }


PHOTOS = {"astronaut": (40, 150), "coffee": (100, 200), "chelsea": (60, 120)}


def photo_pairs(size=(96, 128)):
    """(id, pred, target) for each photograph and distortion, float64 HxWx3."""
    out = []
    for name, off in PHOTOS.items():
        img = photo(name, size, off)
        for kind, d in distortions(img).items():
            out.append((f"{name}-{kind}", d, img))
    return out


def to_nchw(x: np.ndarray, dtype=torch.float32) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(x)).permute(2, 0, 1)[None].to(dtype)


@pytest.fixture(scope="session")
def backbones():
    """AlexNet and VGG16 feature weights (fetched once into the cache on a fresh machine)."""
    from nvs_eval.metrics.weights import load_backbone

    return {net: load_backbone(net)[0] for net in ("alex", "vgg")}


def lpips_reference(net: str, backbone: dict, version: str = "0.1"):
    """The `lpips` package's LPIPS (its own linear layers of ``version``), with ``backbone`` loaded into its
    slices: the reference the LPIPS adapter names (:func:`nvs_eval.compute.references.lpips_model`)."""
    from nvs_eval.compute.references import lpips_model

    return lpips_model(net, backbone, version)


@pytest.fixture(scope="session")
def reference_lpips(backbones):
    """The `lpips` package's LPIPS, with the same backbone tensors loaded into its slices."""
    return {net: lpips_reference(net, backbones[net]) for net in ("alex", "vgg")}


@pytest.fixture(scope="session")
def reference_dists(backbones):
    """The authors' DISTS (PyPI ``dists-pytorch`` 0.1) with torchvision's VGG16 tensors in place of its hub download:
    the reference the DISTS adapter names (:func:`nvs_eval.compute.references.dists_model`)."""
    from nvs_eval.compute.references import dists_model

    return dists_model(backbones["vgg"])


@pytest.fixture
def isolated_cache(tmp_path, monkeypatch):
    """An empty weights cache and torch hub folder (nothing provisioned)."""
    monkeypatch.setenv("NVS_EVAL_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.delenv("NVS_EVAL_SQUEEZENET", raising=False)
    return tmp_path / "cache"


def pytest_report_header(config):
    cache = os.environ.get("NVS_EVAL_CACHE", "(default)")
    return f"torch {torch.__version__}, CUDA available: {CUDA}, NVS_EVAL_CACHE={cache}"


@pytest.fixture(scope="session")
def demo_report(tmp_path_factory):
    """The demo's output folder, which these tests only read. `.ci/run` runs README's `nvs-eval demo` (5 views) just
    before the tests and names its folder in ``NVS_EVAL_DEMO_OUT``: the tests check that very run rather than
    repeat it. Without it they run the demo here, at 3 views."""
    done = os.environ.get("NVS_EVAL_DEMO_OUT")
    if done:
        out = Path(done)
        assert (out / "report" / "index.html").is_file() and (out / "results-wild").is_dir(), (
            f"NVS_EVAL_DEMO_OUT={done} is not a finished `nvs-eval demo` output")
        return out
    from helpers import cli

    out = tmp_path_factory.mktemp("demo")
    r = cli("demo", "--out", str(out), "--views", "3", "--device", "cpu")
    assert r.returncode == 0, r.stderr
    return out
