"""Feed-forward NVS: pixelSplat's test outputs and dataset chunks, built as its code writes them, scored under the
``pixelsplat`` protocol against a transcription of its data pipeline (crop shim) and metrics (metrics.py)."""

from __future__ import annotations

import io
import json

import numpy as np
import pytest
import torch
from PIL import Image

from nvs_eval.api import score_layout
from nvs_eval.data.layouts import detect_layout
from nvs_eval.data.pixelsplat import ChunkSource
from nvs_eval.errors import LayoutError

FX = 0.8  # normalised intrinsics: a 64-degree field of view


def _frames(seed: int, n: int = 5, shape=(360, 640)) -> list[np.ndarray]:
    """``n`` frames of a slow pan over a real photograph (skimage's rocket, 427 x 640)."""
    from skimage import data

    img = data.rocket()
    h, w = shape
    return [np.ascontiguousarray(img[4 * i + seed : 4 * i + seed + h, :w]) for i in range(n)]


def _jpeg(frame: np.ndarray) -> torch.Tensor:
    buf = io.BytesIO()
    Image.fromarray(frame).save(buf, format="JPEG", quality=90)
    return torch.frombuffer(bytearray(buf.getvalue()), dtype=torch.uint8)


def _example(key: str, frames, fx=FX, step=0.05) -> dict:
    """One scene as the RealEstate10K conversion writes it: cameras (V, 18) = fx fy cx cy, 2 unused, w2c 3x4."""
    cams = torch.zeros(len(frames), 18)
    cams[:, :4] = torch.tensor([fx, fx * 16 / 9, 0.5, 0.5])
    for i in range(len(frames)):
        w2c = torch.eye(4)[:3]
        w2c[0, 3] = -step * i
        cams[i, 6:] = w2c.flatten()
    return {"url": f"https://www.youtube.com/watch?v={key}", "timestamps": torch.arange(len(frames)) * 33366,
            "cameras": cams, "images": [_jpeg(f) for f in frames], "key": key}


@pytest.fixture(scope="module")
def re10k(tmp_path_factory):
    """A dataset root with two chunks, an evaluation index and a run's test output."""
    root = tmp_path_factory.mktemp("re10k")
    test = root / "datasets" / "re10k" / "test"
    test.mkdir(parents=True)
    scenes = {"5aca87f95a9412c6": _example("5aca87f95a9412c6", _frames(0)),
              "322261824c4a3003": _example("322261824c4a3003", _frames(30)),
              "e74ceac9043aa1b8": _example("e74ceac9043aa1b8", _frames(10)),  # null in the index
              "aa91dfdd5f4ad32b": _example("aa91dfdd5f4ad32b", _frames(20), fx=0.3),  # too wide
              "bc95e5c7e357f1b7": _example("bc95e5c7e357f1b7", _frames(40, shape=(300, 400))),  # another size
              "f7c0fa5b81552d35": _example("f7c0fa5b81552d35", _frames(50), step=0.0)}  # no baseline
    keys = list(scenes)
    torch.save([scenes[k] for k in keys[:3]], test / "000000.torch")
    torch.save([scenes[k] for k in keys[3:]], test / "000001.torch")
    (test / "index.json").write_text(json.dumps({k: f"00000{i // 3}.torch" for i, k in enumerate(keys)}))
    entry = {"context": [0, 4], "target": [1, 2, 3]}
    index = {k: (None if k == "e74ceac9043aa1b8" else entry) for k in keys}
    (root / "evaluation_index_re10k.json").write_text(json.dumps(index))
    run = root / "outputs" / "test" / "re10k"
    rng = np.random.default_rng(0)
    for k in keys:  # ModelWrapper.test_step: path / scene / f"color/{index:0>6}.png", via save_image
        for i in entry["target"]:
            gt = reference_target(scenes[k]["images"][i]).numpy()
            if gt.shape[1:] != (256, 256):
                continue
            render = torch.from_numpy(gt + rng.normal(0, 0.03, gt.shape).astype(np.float32))
            png = (render.clip(min=0, max=1) * 255).type(torch.uint8).permute(1, 2, 0).numpy()
            (run / k / "color").mkdir(parents=True, exist_ok=True)
            Image.fromarray(png).save(run / k / "color" / f"{i:0>6}.png")
    return root, run, scenes, ChunkSource(root / "datasets" / "re10k", root / "evaluation_index_re10k.json")


def reference_target(jpeg: torch.Tensor) -> torch.Tensor:
    """dataset_re10k.py convert_images + crop_shim.py rescale_and_crop, transcribed with torch and PIL."""
    import torchvision.transforms as tf

    image = tf.ToTensor()(Image.open(io.BytesIO(jpeg.numpy().tobytes())))
    h_in, w_in = image.shape[1:]
    scale = max(256 / h_in, 256 / w_in)
    h_s, w_s = round(h_in * scale), round(w_in * scale)
    u8 = (image * 255).clip(min=0, max=255).type(torch.uint8).permute(1, 2, 0).numpy()
    resized = np.array(Image.fromarray(u8).resize((w_s, h_s), Image.LANCZOS)) / 255
    out = torch.tensor(resized, dtype=torch.float32).permute(2, 0, 1)
    row, col = (h_s - 256) // 2, (w_s - 256) // 2
    return out[:, row : row + 256, col : col + 256]


def reference_metrics(gt: torch.Tensor, pred: torch.Tensor, lpips_vgg) -> dict[str, float]:
    """src/evaluation/metrics.py for one view (float32, as pixelSplat runs it)."""
    from skimage.metrics import structural_similarity

    g, p = gt.clip(min=0, max=1), pred.clip(min=0, max=1)
    psnr = float(-10 * ((g - p) ** 2).mean().log10())
    ssim = structural_similarity(gt.numpy(), pred.numpy(), win_size=11, gaussian_weights=True, channel_axis=0,
                                 data_range=1.0)
    with torch.no_grad():
        lp = float(lpips_vgg(gt[None], pred[None], normalize=True))
    return {"psnr": psnr, "ssim": float(ssim), "lpips_vgg": lp}


def test_the_run_is_detected_and_paired_with_the_chunks_targets(re10k):
    root, run, scenes, source = re10k
    assert detect_layout(run) == "pixelsplat"
    from nvs_eval.data.layouts import load_layout

    found = load_layout(run, gt_source=source)
    assert sorted(s.name for s in found) == ["322261824c4a3003", "5aca87f95a9412c6"]
    for s in found:
        assert s.dataset == "re10k" and list(s.gt) == ["000001", "000002", "000003"]
        assert "re10k" not in s.renders and "test" not in s.renders  # the run, never the dataset pixelSplat names
        for view, path in s.gt.items():  # the cached target is bit for bit pixelSplat's tensor
            ours = torch.from_numpy(np.asarray(Image.open(path), np.float32) / np.float32(255)).permute(2, 0, 1)
            assert torch.equal(ours, reference_target(scenes[s.name]["images"][int(view)]))
    note = " ".join(n for s in found for n in s.notes)
    for key, why in [("e74ceac9043aa1b8", "null in the evaluation index"), ("aa91dfdd5f4ad32b", "field of view"),
                     ("bc95e5c7e357f1b7", "frames of [(300, 400)] pixels"),
                     ("f7c0fa5b81552d35", "context baseline 0.000000")]:
        assert f"{key} ({why}" in note


def test_pixelsplat_protocol_reproduces_its_metrics(re10k, reference_lpips):
    root, run, scenes, source = re10k
    df = score_layout(run, protocol="pixelsplat", gt_source=source, progress=False, device="cpu")
    assert len(df) == 6
    for row in df.to_dict("records"):
        gt = reference_target(scenes[row["scene"]]["images"][int(row["view"])])
        pred = torch.from_numpy(np.asarray(Image.open(run / row["scene"] / "color" / f"{row['view']}.png"),
                                           np.float32) / 255).permute(2, 0, 1)
        ref = reference_metrics(gt, pred, reference_lpips["vgg"])
        assert row["psnr"] == pytest.approx(ref["psnr"], abs=1e-4)
        assert row["ssim"] == pytest.approx(ref["ssim"], abs=1e-4)  # scikit-image in float32, as pixelSplat calls it
        assert row["lpips_vgg"] == pytest.approx(ref["lpips_vgg"], abs=1e-5)
        from skimage.metrics import structural_similarity

        exact = structural_similarity(gt.double().numpy(), pred.double().numpy(), win_size=11, gaussian_weights=True,
                                      channel_axis=0, data_range=1.0)
        assert row["ssim"] == pytest.approx(exact, abs=1e-5)  # and the float64 value to 1e-5


def test_score_cli_reads_the_run_and_reports_the_left_out_scenes(re10k, tmp_path, capsys):
    from nvs_eval.cli import main

    root, run, _, source = re10k
    out = tmp_path / "s.json"
    assert main(["score", str(run), "--dataset-root", str(source.root), "--eval-index", str(source.index),
                 "--protocol", "pixelsplat", "--device", "cpu", "--metrics", "psnr,ssim", "--json", str(out)]) == 0
    captured = capsys.readouterr()
    assert "4 scene(s) of the evaluation index left out" in captured.err
    doc = json.loads(out.read_text())
    assert doc["protocol"]["name"] == "pixelsplat" and len(doc["views"]) == 6
    # the chunks' root without the index: the error says what --dataset-root goes with
    assert main(["score", str(run), "--dataset-root", str(source.root), "--protocol", "pixelsplat"]) == 2
    assert "--eval-index INDEX.json (pixelSplat's chunks)" in capsys.readouterr().err


def test_a_chunk_that_needs_unpickling_is_refused(re10k, tmp_path):
    root, run, _, source = re10k
    bad = tmp_path / "data" / "test"
    bad.mkdir(parents=True)
    (bad / "index.json").write_text(json.dumps(dict.fromkeys(json.loads(source.index.read_text()), "000000.torch")))
    # a chunk holding an object outside weights_only's allowed types (a NumPy array needs arbitrary unpickling)
    torch.save([{"key": "5aca87f95a9412c6", "images": np.zeros(3)}], bad / "000000.torch")
    with pytest.raises(LayoutError, match="weights_only=True") as e:
        score_layout(run, protocol="pixelsplat", gt_source=ChunkSource(tmp_path / "data", source.index),
                     progress=False, device="cpu")
    assert "000000.torch" in str(e.value)


@pytest.mark.parametrize("damage", ["truncated", "cut-short", "empty", "not-torch", "legacy-cut-short"])
def test_a_broken_chunk_is_named_with_the_likely_cause(re10k, tmp_path, damage):
    """Chunks are large downloads; a partly copied one must name itself, not fail with a bare errno."""
    root, run, _, source = re10k
    bad = tmp_path / "data" / "test"
    bad.mkdir(parents=True)
    for name in ("index.json", "000001.torch"):
        (bad / name).write_bytes((source.root / "test" / name).read_bytes())
    whole = (source.root / "test" / "000000.torch").read_bytes()
    (bad / "000000.torch").write_bytes({"truncated": whole[: len(whole) // 2], "cut-short": whole[:5000], "empty": b"",
                                        "not-torch": b"<html>403 Forbidden</html>\n",
                                        "legacy-cut-short": b"\x80\x02junk"}[damage])
    with pytest.raises(LayoutError, match="not a readable torch.save file") as e:
        score_layout(run, protocol="pixelsplat", gt_source=ChunkSource(tmp_path / "data", source.index),
                     progress=False, device="cpu")
    assert "000000.torch" in str(e.value) and "truncated or partly copied" in str(e.value)


def test_a_rendered_scene_missing_from_the_index_is_an_error(re10k, tmp_path):
    root, run, _, source = re10k
    index = json.loads(source.index.read_text())
    del index["5aca87f95a9412c6"]
    (tmp_path / "evaluation_index_re10k.json").write_text(json.dumps(index))
    with pytest.raises(LayoutError, match="not in the evaluation index, e.g. 5aca87f95a9412c6"):
        score_layout(run, gt_source=ChunkSource(source.root, tmp_path / "evaluation_index_re10k.json"),
                     progress=False, device="cpu")


def test_a_config_scores_every_scene_the_run_rendered(re10k, tmp_path):
    from nvs_eval.api import evaluate

    root, run, _, source = re10k
    cfg = tmp_path / "re10k.yaml"
    cfg.write_text(f"name: ff\nprotocol: pixelsplat\nmetrics: [psnr]\ndatasets:\n  - name: re10k\n"
                   f"    kind: pixelsplat\n    root: {source.root}\n    eval_index: {source.index}\n"
                   f"    scenes: all\n    methods:\n      - {{name: pixelsplat, path: {run}}}\n")
    res = evaluate(cfg, tmp_path / "out", progress=False, device="cpu")
    assert sorted(res.per_view["scene"].unique()) == ["322261824c4a3003", "5aca87f95a9412c6"]
    assert len(res.per_view) == 6 and set(res.per_view["dataset"]) == {"re10k"}
