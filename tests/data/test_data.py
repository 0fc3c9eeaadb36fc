"""Image reading, layout detection and every pairing error, on tiny files built on disk."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from nvs_eval.data.datasets import dataset_scene
from nvs_eval.data.images import read_image
from nvs_eval.data.layouts import detect_layout, load_layout, pairs_scene
from nvs_eval.data.pairing import pair_scene
from nvs_eval.errors import ImageReadError, LayoutError, PairingError

from helpers import folder, img


def test_rgba_is_composited_on_the_background_not_dropped(tmp_path):
    arr = np.zeros((4, 4, 4), np.uint8)
    arr[..., 0] = 255
    arr[..., 3] = 0
    arr[0, 0, 3] = 255
    Image.fromarray(arr).save(tmp_path / "a.png")
    white = read_image(tmp_path / "a.png", (1.0, 1.0, 1.0))
    black = read_image(tmp_path / "a.png", (0.0, 0.0, 0.0))
    assert white[1, 1].tolist() == [1.0, 1.0, 1.0] and black[1, 1].tolist() == [0.0, 0.0, 0.0]
    assert white[0, 0].tolist() == [1.0, 0.0, 0.0]


@pytest.mark.parametrize("mode", ["L", "LA", "RGB", "RGBA"])
def test_common_modes_read_as_float_rgb(tmp_path, mode):
    x = read_image(img(tmp_path / "x.png", mode=mode))
    assert x.shape == (36, 40, 3) and x.dtype == np.float32 and 0 <= x.min() <= x.max() <= 1


def test_palette_png_reads_its_colours(tmp_path):
    im = Image.new("P", (5, 5))
    im.putpalette([0, 0, 0, 255, 0, 0] + [0] * 762)
    im.putpixel((2, 2), 1)
    im.save(tmp_path / "p.png")
    x = read_image(tmp_path / "p.png")
    assert x[2, 2].tolist() == [1.0, 0.0, 0.0] and x[0, 0].tolist() == [0.0, 0.0, 0.0]


def test_16_bit_png_keeps_its_precision(tmp_path):
    import png

    a = np.arange(4 * 5 * 3, dtype=np.uint16).reshape(4, 5, 3) * 1000 + 7
    with open(tmp_path / "x.png", "wb") as f:
        png.Writer(5, 4, greyscale=False, bitdepth=16).write(f, a.reshape(4, -1).tolist())
    np.testing.assert_allclose(read_image(tmp_path / "x.png"), a / 65535, atol=1e-7)


@pytest.mark.parametrize("suffix", [".jpg", ".bmp", ".tif", ".webp"])
def test_other_formats_read(tmp_path, suffix):
    arr = np.random.default_rng(0).integers(0, 256, (8, 9, 3), dtype=np.uint8)
    Image.fromarray(arr).save(tmp_path / f"x{suffix}")
    x = read_image(tmp_path / f"x{suffix}")
    assert x.shape == (8, 9, 3)
    if suffix in (".bmp", ".tif"):
        np.testing.assert_array_equal(np.round(x * 255).astype(np.uint8), arr)


def test_npy_float_arrays_are_read_and_checked(tmp_path):
    np.save(tmp_path / "ok.npy", np.full((4, 4, 3), 0.25, np.float32))
    ok = read_image(tmp_path / "ok.npy")
    assert ok.mean() == pytest.approx(0.25)
    assert ok.flags.writeable and ok.flags.owndata  # in memory, not a read-only view of the file's memory map
    np.save(tmp_path / "nan.npy", np.full((4, 4, 3), np.nan, np.float32))
    with pytest.raises(ImageReadError, match="nan.npy: 48 NaN/Inf"):
        read_image(tmp_path / "nan.npy")
    np.save(tmp_path / "big.npy", np.full((4, 4, 3), 1.5, np.float32))
    with pytest.raises(ImageReadError, match=r"big.npy: values in \[1.5, 1.5\], expected \[0, 1\]"):
        read_image(tmp_path / "big.npy")


def test_cmyk_is_refused_clearly(tmp_path):
    Image.new("CMYK", (4, 4)).save(tmp_path / "c.jpg")
    with pytest.raises(ImageReadError, match="c.jpg: CMYK colour space is not supported"):
        read_image(tmp_path / "c.jpg")


def test_decompression_bomb_header_is_refused_before_decoding(tmp_path):
    import struct
    import zlib

    def chunk(t, d):
        return struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d) & 0xFFFFFFFF)

    data = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 60000, 60000, 8, 2, 0, 0, 0))
    data += chunk(b"IDAT", zlib.compress(b"\x00" * 100)) + chunk(b"IEND", b"")
    (tmp_path / "bomb.png").write_bytes(data)
    with pytest.raises(ImageReadError, match="bomb.png: .*(60000x60000|decompression bomb)"):
        read_image(tmp_path / "bomb.png")


def test_pairs_layout_pairs_by_relative_path_without_extension(tmp_path):
    folder(tmp_path / "gt", ["0001.png", "sub/0002.png"])
    folder(tmp_path / "r", ["0001.jpg", "sub/0002.png"])
    paired = pair_scene(pairs_scene([("r", tmp_path / "r")], tmp_path / "gt"))
    assert [j.view for j in paired.jobs] == ["0001", "sub/0002"]


def test_missing_extra_and_mismatched_views_are_all_named(tmp_path):
    folder(tmp_path / "gt", ["a.png", "b.png", "c.png"])
    folder(tmp_path / "r", ["a.png", "b.png", "z.png"])
    with pytest.raises(PairingError) as e:
        pair_scene(pairs_scene([("r", tmp_path / "r")], tmp_path / "gt"))
    msg = str(e.value)
    assert "1 view(s) have no render: c" in msg and "1 render(s) have no ground truth: z" in msg


def test_size_mismatch_names_both_sizes(tmp_path):
    img(tmp_path / "gt" / "a.png", 36, 40)
    img(tmp_path / "r" / "a.png", 32, 40)
    with pytest.raises(PairingError, match=r"1 of 1 view\(s\) differ in size from the ground truth, e.g. r: render "
                                           r"a.png is 40x32 but ground truth a.png is 40x36"):
        pair_scene(pairs_scene([("r", tmp_path / "r")], tmp_path / "gt"))


@pytest.mark.parametrize("gt_folder,fix", [("images", "images=images_2"), ("gt", "resize_gt METHOD")])
def test_a_size_mismatch_of_many_views_is_one_short_sentence(tmp_path, gt_folder, fix):
    """Six (or sixty) mismatched views give one sentence under 300 characters: the count, one example with both
    sizes, the likely cause and the fix as an option (the image folder at the render's size for a dataset's
    ``images``, the protocol's resize opt-in otherwise)."""
    for n in (6, 60):
        for i in range(n):
            img(tmp_path / str(n) / gt_folder / f"v{i:03d}.png", 40, 48)
            img(tmp_path / str(n) / "run" / f"v{i:03d}.png", 20, 24)
        with pytest.raises(PairingError) as e:
            pair_scene(pairs_scene([("run", tmp_path / str(n) / "run")], tmp_path / str(n) / gt_folder))
        msg = str(e.value)
        assert len(msg) < 300 and "v001" not in msg, msg  # one example, not one sentence per view
        assert f"{n} of {n} view(s) differ in size" in msg
        assert "render v000.png is 24x20 but ground truth v000.png is 48x40" in msg
        assert "ground truth looks 2x larger than the render" in msg and fix in msg


def test_a_missing_render_names_the_run_and_the_way_on(tmp_path):
    folder(tmp_path / "garden" / "images", ["a.png", "b.png"])
    folder(tmp_path / "runA", ["a.png"])
    with pytest.raises(PairingError) as e:
        pair_scene(pairs_scene([("runA", tmp_path / "runA")], tmp_path / "garden" / "images"))
    msg = str(e.value)
    assert msg.startswith("scene garden: method runA (") and "1 view(s) have no render: b" in msg, msg
    assert "allow_missing" in msg and "coverage" in msg


def test_allow_missing_scores_what_exists_and_records_coverage(tmp_path):
    folder(tmp_path / "gt", ["a.png", "b.png"])
    folder(tmp_path / "r", ["a.png"])
    paired = pair_scene(pairs_scene([("r", tmp_path / "r")], tmp_path / "gt"), allow_missing=True)
    assert paired.coverage == {"r": (1, 2)} and [j.view for j in paired.jobs] == ["a"]


def test_duplicate_stems_are_refused(tmp_path):
    folder(tmp_path / "r", ["0001.png", "0001.jpg"])
    folder(tmp_path / "gt", ["0001.png"])
    with pytest.raises(PairingError, match="duplicate view '0001'"):
        pairs_scene([("r", tmp_path / "r")], tmp_path / "gt")


def test_symlink_loop_is_refused(tmp_path):
    folder(tmp_path / "r", ["a.png"])
    (tmp_path / "r" / "loop").symlink_to(tmp_path / "r")
    with pytest.raises(LayoutError, match="symlink loop"):
        pairs_scene([("r", tmp_path / "r")], tmp_path / "r")


def test_3dgs_layout_takes_the_latest_iteration_and_several_scenes(tmp_path):
    for scene in ("lego", "ship"):
        for it in (7000, 30000):
            base = tmp_path / scene / "test" / f"ours_{it}"
            folder(base / "renders", ["00000.png", "00001.png"])
            folder(base / "gt", ["00000.png", "00001.png"])
    assert detect_layout(tmp_path) == "3dgs"
    scenes = load_layout(tmp_path)  # a folder of model folders: the method is that folder, each model a scene
    assert [s.name for s in scenes] == ["lego", "ship"] and list(scenes[0].renders) == [tmp_path.name]
    (lego,) = load_layout(tmp_path / "lego", iteration=7000)
    assert list(lego.renders) == ["lego"] and lego.origin == {"lego": "iteration 7000 (lego/test/ours_7000)"}
    with pytest.raises(LayoutError, match=r"no test/ours_5; available iterations: \[7000, 30000\]"):
        load_layout(tmp_path / "lego", iteration=5)


def test_nerfstudio_layout(tmp_path):
    folder(tmp_path / "renders" / "test" / "rgb", ["frame_00001.jpg"])
    folder(tmp_path / "renders" / "test" / "gt-rgb", ["frame_00001.jpg"])
    assert detect_layout(tmp_path / "renders") == "nerfstudio"
    (s,) = load_layout(tmp_path / "renders")
    assert list(s.gt) == ["frame_00001"]


def test_nerfbaselines_layout_folder_and_archive(tmp_path):
    import tarfile

    folder(tmp_path / "pred" / "color", ["a.png"])
    folder(tmp_path / "pred" / "gt-color", ["a.png"])
    assert detect_layout(tmp_path / "pred") == "nerfbaselines"
    with tarfile.open(tmp_path / "pred.tar.gz", "w:gz") as tar:
        tar.add(tmp_path / "pred" / "color", "color")
        tar.add(tmp_path / "pred" / "gt-color", "gt-color")
    (s,) = load_layout(tmp_path / "pred.tar.gz")
    assert s.name == "pred" and list(s.gt) == ["a"]


def test_unknown_layout_says_what_was_looked_for(tmp_path):
    (tmp_path / "x").mkdir()
    with pytest.raises(LayoutError, match=r"layout not recognised; expected one of: 3dgs \(3DGS model folder"):
        detect_layout(tmp_path / "x")


def test_blender_ground_truth_from_transforms_test_json(tmp_path):
    scene = tmp_path / "lego"
    folder(scene / "test", ["r_0.png", "r_1.png"], mode="RGBA")
    (scene / "transforms_test.json").write_text(json.dumps({"frames": [{"file_path": "./test/r_0"},
                                                                       {"file_path": "./test/r_1"}]}))
    folder(tmp_path / "renders", ["00000.png", "00001.png"])
    s = dataset_scene("blender", scene, {"m": tmp_path / "renders"})
    assert list(s.gt) == ["test/r_0", "test/r_1"] and s.background == (1.0, 1.0, 1.0)
    assert s.renders["m"]["test/r_1"].name == "00001.png"


def test_llff_holds_out_every_8th_image(tmp_path):
    folder(tmp_path / "fern" / "images_4", [f"IMG_{i:03d}.png" for i in range(17)])
    folder(tmp_path / "r", ["0.png", "1.png", "2.png"])
    s = dataset_scene("llff", tmp_path / "fern", {"m": tmp_path / "r"}, images="images_4")
    assert list(s.gt) == ["IMG_000", "IMG_008", "IMG_016"]
    folder(tmp_path / "r2", ["0.png"])
    with pytest.raises(PairingError, match="1 render\\(s\\) but .* has 3 test view"):
        dataset_scene("llff", tmp_path / "fern", {"m": tmp_path / "r2"}, images="images_4")


def test_plain_folders_progress_is_named_by_the_scene_not_default_gt(tmp_path):
    """``score runs/garden/mine --gt data/garden/gt``: the progress line says ``score garden``, never ``default/gt``."""
    from nvs_eval.compute.runner import _progress

    folder(tmp_path / "garden" / "gt", ["a.png"])
    folder(tmp_path / "mine", ["a.png"])
    scene = pairs_scene([("mine", tmp_path / "mine")], tmp_path / "garden" / "gt")
    with _progress(1, scene, None) as bar:
        assert bar.desc == "score garden" and scene.name == "garden"


def test_renders_named_otherwise_than_the_ground_truth_are_told_how_views_pair(tmp_path):
    """``0.png ...`` against ``00000.png ...``: no view pairs, and --allow-missing would not help; the message says
    that views pair by file name and shows both namings."""
    folder(tmp_path / "garden" / "gt", [f"{i:05d}.png" for i in range(3)])
    folder(tmp_path / "r", [f"{i}.png" for i in range(3)])
    with pytest.raises(PairingError) as e:
        pair_scene(pairs_scene([("r", tmp_path / "r")], tmp_path / "garden" / "gt"), allow_missing=True)
    msg = str(e.value)
    assert "views pair by file name without the extension" in msg and "0, 1, 2" in msg and "00000" in msg, msg
    assert "allow_missing" not in msg
