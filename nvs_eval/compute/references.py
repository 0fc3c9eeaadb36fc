"""Independent reference implementations that the metric adapters name for the reference tester
(``tests/metric_tester.py``, :meth:`nvs_eval.compute.adapters.Adapter.reference`).

Each is the published implementation of its metric where one is installable (scikit-image, the ``lpips`` package,
the authors' DISTS, NVIDIA's flip-evaluator), else a direct NumPy transcription, and takes one render and its ground
truth as float64 H x W x 3 arrays in [0, 1], returning the value. The ``lpips`` and ``dists-pytorch`` packages are
test dependencies (``pip install nvs-eval[test]``): they are imported only when such a reference is built.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

from ..errors import PreconditionError, UsageError
from ..metrics.ssim import SSIMSpec

Reference = Callable[[np.ndarray, np.ndarray], float]  # (render, ground truth) float64 H x W x 3 -> value


def _nchw(x: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(x)).permute(2, 0, 1)[None].to(torch.float32)


def _test_package(name: str, pip: str):
    import importlib

    try:
        return importlib.import_module(name)
    except ImportError:
        raise UsageError(f"the reference implementation needs the {pip!r} package: pip install 'nvs-eval[test]'") \
            from None


def psnr(pred: np.ndarray, gt: np.ndarray) -> float:
    """``10 log10(1 / MSE)`` in float64 NumPy."""
    return float(10 * np.log10(1.0 / np.mean((pred - gt) ** 2)))


def ssim(spec: SSIMSpec) -> Reference:
    """scikit-image's ``structural_similarity`` with ``spec``'s window, sigma and covariance, for the settings it
    expresses (a Gaussian window, valid padding, RGB, a fixed data range, no variance clamps)."""
    from skimage.metrics import structural_similarity

    plain = SSIMSpec(window="gaussian", size=spec.size, sigma=spec.sigma, covariance=spec.covariance, k1=spec.k1,
                     k2=spec.k2, data_range=spec.data_range)
    if spec != plain or spec.data_range is None:
        raise PreconditionError(f"no scikit-image reference for SSIM settings {spec}: it has Gaussian windows, valid "
                                "padding, RGB and a fixed data range only")

    def ref(pred, gt):
        return float(structural_similarity(gt, pred, channel_axis=2, data_range=spec.data_range, gaussian_weights=True,
                                           sigma=spec.sigma, win_size=spec.size, K1=spec.k1, K2=spec.k2,
                                           use_sample_covariance=spec.covariance == "sample"))
    return ref


def _torchvision_stub(net: str, backbone: dict):
    """A stand-in for torchvision's model constructors that returns ``backbone`` (a ``features`` state dict) in the
    ``features`` stack, for the reference packages' hub downloads (which need the network), built without the
    classifier (a VGG16 with its classifier takes seconds to initialise)."""
    import types

    from ..metrics.backbones import features

    feats = features(net)
    feats.load_state_dict(backbone)
    model = lambda *args, **kwargs: types.SimpleNamespace(features=feats)  # noqa: E731
    return types.SimpleNamespace(alexnet=model, vgg16=model, squeezenet1_1=model)


def lpips_model(net: str, backbone: dict, version: str = "0.1"):
    """The ``lpips`` package's LPIPS (its own linear layers of ``version``), with ``backbone`` (torchvision's
    ``features`` tensors) in its slices in place of its torchvision download."""
    import warnings

    LPIPS = _test_package("lpips", "lpips").LPIPS  # a test extra, imported by name: not a dependency of nvs-eval
    pretrained_networks = _test_package("lpips.pretrained_networks", "lpips")

    real, pretrained_networks.tv = pretrained_networks.tv, _torchvision_stub(net, backbone)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return LPIPS(net=net, version=version, pretrained=True, pnet_rand=True, verbose=False).eval()
    finally:
        pretrained_networks.tv = real


def lpips(net: str, version: str, input_mapping: str) -> Reference:
    """The ``lpips`` package's LPIPS with the cached backbone, its inputs mapped as the protocol maps them."""
    from ..metrics.weights import load_backbone

    model = lpips_model(net, load_backbone(net)[0], version)
    normalize = input_mapping == "[-1,1]"  # lpips maps [0, 1] to [-1, 1] itself with normalize=True
    return lambda pred, gt: float(model(_nchw(pred), _nchw(gt), normalize=normalize).detach())


def dists_model(backbone: dict):
    """The authors' DISTS (``DISTS_pytorch/DISTS_pt.py``, PyPI ``dists-pytorch`` 0.1) with torchvision's VGG16
    tensors ``backbone`` in place of its hub download (``models.vgg16(pretrained=True)``, which needs the network)."""
    dists_pt = _test_package("DISTS_pytorch.DISTS_pt", "dists-pytorch")
    real, dists_pt.models = dists_pt.models, _torchvision_stub("vgg", backbone)
    try:
        return dists_pt.DISTS().eval()
    finally:
        dists_pt.models = real


def dists() -> Reference:
    """The authors' DISTS with the cached VGG16 backbone."""
    from ..metrics.weights import load_backbone

    model = dists_model(load_backbone("vgg")[0])
    return lambda pred, gt: float(model(_nchw(pred), _nchw(gt), batch_average=True).detach())


def flip(pred: np.ndarray, gt: np.ndarray) -> float:
    """NVIDIA's flip-evaluator called directly: LDR-FLIP's mean at 67 pixels per degree."""
    import flip_evaluator

    _, mean, _ = flip_evaluator.evaluate(np.ascontiguousarray(gt, np.float32), np.ascontiguousarray(pred, np.float32),
                                         "LDR", inputsRGB=True, applyMagma=False, computeMeanError=True,
                                         parameters={"ppd": 67.02064514160156})
    return float(mean)


def color_correct(img: np.ndarray, ref: np.ndarray, num_iters: int = 5, eps: float = 0.5 / 255) -> np.ndarray:
    """multinerf internal/image.py color_correct, transcribed to NumPy float64 (np.linalg.lstsq, rcond=-1)."""
    img, ref = img.astype(np.float64), ref.astype(np.float64)
    num_channels = img.shape[-1]
    img_mat, ref_mat = img.reshape([-1, num_channels]), ref.reshape([-1, num_channels])

    def is_unclipped(z):
        return (z >= eps) & (z <= (1 - eps))

    mask0 = is_unclipped(img_mat)
    for _ in range(num_iters):
        a_mat = [img_mat[:, c : (c + 1)] * img_mat[:, c:] for c in range(num_channels)]
        a_mat = np.concatenate([*a_mat, img_mat, np.ones_like(img_mat[:, :1])], axis=-1)
        warp = []
        for c in range(num_channels):
            b = ref_mat[:, c]
            mask = mask0[:, c] & is_unclipped(img_mat[:, c]) & is_unclipped(b)
            ma_mat = np.where(mask[:, None], a_mat, 0)
            mb = np.where(mask, b, 0)
            warp.append(np.linalg.lstsq(ma_mat, mb, rcond=-1)[0])
        img_mat = np.clip(a_mat @ np.stack(warp, axis=-1), 0, 1)
    return img_mat.reshape(img.shape)


def color_corrected(reference: Reference) -> Reference:
    """``reference`` of the render colour-corrected to the ground truth first (the ``cc_*`` family)."""
    return lambda pred, gt: reference(color_correct(pred, gt), gt)
