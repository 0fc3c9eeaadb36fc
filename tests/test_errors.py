"""The bad-input corpus (issue 6), each case through the real CLI and through the Python API.

Every case is generated here, from a valid ground-truth folder of 8-bit RGB PNGs: the render folder gets one
defect. A case either fails with exit code 2 and one stderr line naming the file and the problem (``ValueError``
subclasses of :class:`NvsEvalError` in the API), or is read correctly: those renders hold the same pixels as the
ground truth in another encoding, so a correct reader gives an infinite PSNR (or a round-off one above 100 dB)
and SSIM 1. docs/reliability.md lists the same cases with their outcome.
"""

from __future__ import annotations

import json
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from nvs_eval.api import score_folders
from nvs_eval.errors import NvsEvalError

from helpers import cli

H, W = 36, 40
BG = np.array([1.0, 1.0, 1.0], np.float32)  # the default protocol's background


def _rgb(seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (H, W, 3), dtype=np.uint8)


def _save_gt(root: Path, views=("0001", "0002")) -> None:
    (root / "gt").mkdir(parents=True, exist_ok=True)
    (root / "r").mkdir(parents=True, exist_ok=True)
    for i, v in enumerate(views):
        Image.fromarray(_rgb(i)).save(root / "gt" / f"{v}.png")


def _copy_gt_renders(root: Path, skip=("0001",)) -> None:
    for p in sorted((root / "gt").iterdir()):
        if p.stem not in skip:
            (root / "r" / p.name).write_bytes(p.read_bytes())


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


# ---- the render of view 0001, one defect (or one other valid encoding) per case ---------------------------------

def zero_byte(root):
    (root / "r" / "0001.png").write_bytes(b"")


def truncated_png(root):
    (root / "r" / "0001.png").write_bytes((root / "gt" / "0001.png").read_bytes()[:300])


def truncated_jpeg(root):
    Image.fromarray(_rgb(0)).save(root / "r" / "full.jpg", quality=95)
    data = (root / "r" / "full.jpg").read_bytes()
    (root / "r" / "full.jpg").unlink()
    (root / "r" / "0001.jpg").write_bytes(data[: len(data) // 2])


def text_as_png(root):
    (root / "r" / "0001.png").write_text("these are not the pixels you are looking for\n")


def bomb_header(root):
    ihdr = struct.pack(">IIBBBBB", 60000, 60000, 8, 2, 0, 0, 0)
    (root / "r" / "0001.png").write_bytes(b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", ihdr)
                                          + _png_chunk(b"IDAT", zlib.compress(b"\0" * 64)) + _png_chunk(b"IEND", b""))


def cmyk_jpeg(root):
    Image.fromarray(_rgb(0)).convert("CMYK").save(root / "r" / "0001.jpg")


def _npy(root, value):
    arr = _rgb(0).astype(np.float32) / 255
    arr[3, 4, 1] = value
    np.save(root / "r" / "0001.npy", arr)


def size_mismatch(root):
    Image.fromarray(_rgb(0)[:, :-2]).save(root / "r" / "0001.png")


def missing_render(root):
    pass  # the copied renders skip 0001 and nothing replaces it


def extra_render(root):
    Image.fromarray(_rgb(0)).save(root / "r" / "0001.png")
    Image.fromarray(_rgb(9)).save(root / "r" / "0003.png")


def duplicate_stems(root):
    Image.fromarray(_rgb(0)).save(root / "r" / "0001.png")
    Image.fromarray(_rgb(0)).save(root / "r" / "0001.jpg", quality=95)


def symlink_loop(root):
    Image.fromarray(_rgb(0)).save(root / "r" / "0001.png")
    (root / "r" / "loop").symlink_to(root / "r", target_is_directory=True)


def empty_folder(root):
    for p in (root / "r").iterdir():
        p.unlink()


def too_small(root):
    for d in ("gt", "r"):
        Image.fromarray(_rgb(0)[:8, :9]).save(root / d / "0001.png")


# valid encodings of the ground truth's pixels
def palette_png(root):
    Image.fromarray(_rgb(0)).quantize(colors=256, method=Image.Quantize.FASTOCTREE).save(root / "r" / "0001.png")
    # the palette image's own colours become the ground truth, so the comparison is exact
    Image.open(root / "r" / "0001.png").convert("RGB").save(root / "gt" / "0001.png")


def grey_png(root):
    g = _rgb(0)[..., 0]
    Image.fromarray(g, mode="L").save(root / "r" / "0001.png")
    Image.fromarray(np.repeat(g[..., None], 3, 2)).save(root / "gt" / "0001.png")


def grey_alpha_png(root):
    g, a = _rgb(0)[..., 0], _rgb(1)[..., 0]
    Image.fromarray(np.stack([g, a], -1), mode="LA").save(root / "r" / "0001.png")
    comp = (g / 255.0)[..., None] * (a / 255.0)[..., None] + BG * (1 - (a / 255.0)[..., None])
    np.save(root / "gt" / "0001.npy", comp.astype(np.float32))  # float ground truth: no 8-bit rounding to match
    (root / "gt" / "0001.png").unlink()


def rgba_png(root):
    rgb, a = _rgb(0), _rgb(1)[..., :1]
    Image.fromarray(np.concatenate([rgb, a], -1), mode="RGBA").save(root / "r" / "0001.png")
    comp = (rgb / 255.0) * (a / 255.0) + BG * (1 - a / 255.0)
    np.save(root / "gt" / "0001.npy", comp.astype(np.float32))
    (root / "gt" / "0001.png").unlink()


def png16_rgb(root):
    import png

    x = _rgb(0).astype(np.uint16) * 257  # v * 257 / 65535 == v / 255 exactly
    png.from_array(x.reshape(H, W * 3), "RGB;16").save(str(root / "r" / "0001.png"))


def png16_grey(root):
    import png

    g = _rgb(0)[..., 0]
    png.from_array(g.astype(np.uint16) * 257, "L;16").save(str(root / "r" / "0001.png"))
    Image.fromarray(np.repeat(g[..., None], 3, 2)).save(root / "gt" / "0001.png")


def unicode_and_spaces(root):
    for name in ("0001.png", "0002.png"):
        (root / "gt" / name).rename(root / "gt" / f"vue {name[:-4]} é 视图.png")
    for name in ("0002.png",):
        (root / "r" / name).unlink()
    for v in ("0001", "0002"):
        (root / "r" / f"vue {v} é 视图.png").write_bytes((root / "gt" / f"vue {v} é 视图.png").read_bytes())


CASES = [
    # (case, expected: needle of the one-line error, or None when read correctly)
    (zero_byte, "0001.png: empty file (0 bytes)"),
    (truncated_png, "0001.png: not a readable image"),
    (truncated_jpeg, "0001.jpg: not a readable image"),
    (text_as_png, "0001.png: not a readable image"),
    (bomb_header, "0001.png: header claims an absurd size, refused before decoding"),
    (cmyk_jpeg, "0001.jpg: CMYK colour space is not supported"),
    (lambda root: _npy(root, np.nan), "0001.npy: 1 NaN/Inf value(s)"),
    (lambda root: _npy(root, np.inf), "0001.npy: 1 NaN/Inf value(s)"),
    (lambda root: _npy(root, -0.25), "0001.npy: values in [-0.25, 1], expected [0, 1]"),
    (lambda root: _npy(root, 1.5), "0001.npy: values in [0, 1.5], expected [0, 1]"),
    (size_mismatch, "render 0001.png is 38x36 but ground truth 0001.png is 40x36"),
    (missing_render, "1 view(s) have no render: 0001"),
    (extra_render, "1 render(s) have no ground truth: 0003"),
    (duplicate_stems, "duplicate view '0001': 0001.jpg and 0001.png"),
    (symlink_loop, "symlink loop"),
    (empty_folder, "no image files"),
    (too_small, "gt/0001.png: cannot be scored: Expected images of at least 11x11 pixels for SSIM, got 8x9"),
    (palette_png, None),
    (grey_png, None),
    (grey_alpha_png, None),
    (rgba_png, None),
    (png16_rgb, None),
    (png16_grey, None),
    (unicode_and_spaces, None),
]
IDS = ["zero-byte", "truncated-png", "truncated-jpeg", "text-as-png", "bomb-header", "cmyk", "npy-nan", "npy-inf",
       "npy-negative", "npy-above-1", "size-mismatch", "missing-render", "extra-render", "duplicate-stems",
       "symlink-loop", "empty-folder", "too-small", "palette", "grey", "grey-alpha", "rgba", "png16-rgb", "png16-grey",
       "unicode-spaces"]


def _make(tmp_path, case) -> Path:
    _save_gt(tmp_path)
    _copy_gt_renders(tmp_path)
    case(tmp_path)
    return tmp_path


@pytest.mark.parametrize("case,needle", CASES, ids=IDS)
def test_bad_input_through_the_cli(tmp_path, case, needle):
    root = _make(tmp_path, case)
    out = tmp_path / "scores.json"
    r = cli("score", str(root / "r"), "--gt", str(root / "gt"), "--metrics", "psnr,ssim", "--device", "cpu",
            "--json", str(out))
    assert "Traceback" not in r.stderr, r.stderr
    if needle is None:
        assert r.returncode == 0, r.stderr
        views = json.loads(out.read_text())["views"]
        assert len(views) == 2
        for v in views:
            assert v["psnr"] == "inf" or v["psnr"] > 100, v
            assert abs(v["ssim"] - 1) < 1e-6, v
    else:
        assert r.returncode == 2, (r.stdout, r.stderr)
        lines = r.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("nvs-eval: error: ") and needle in lines[0], lines
        assert r.stdout == "" and not out.exists()  # no number, no partial file


@pytest.mark.parametrize("case,needle", CASES, ids=IDS)
def test_bad_input_through_the_api(tmp_path, case, needle):
    root = _make(tmp_path, case)
    if needle is None:
        df = score_folders({"r": root / "r"}, root / "gt", metrics=("psnr", "ssim"), device="cpu", progress=False)
        assert len(df) == 2 and (df["psnr"] > 100).all() and np.allclose(df["ssim"], 1, atol=1e-6)
    else:
        with pytest.raises(NvsEvalError) as info:
            score_folders({"r": root / "r"}, root / "gt", metrics=("psnr", "ssim"), device="cpu", progress=False)
        assert isinstance(info.value, ValueError) and needle in str(info.value)


# Flags of other tools, and commands, that messages may spell (they are not options of the call that failed)
FOREIGN = ("ns-eval --render-output-path", "nvs-eval weights --")


def test_lower_layers_name_options_not_flags_and_each_front_end_spells_them():
    """No error raised outside nvs_eval/cli spells a command-line flag: options are named with errors.option, the
    CLI prints them as flags and the API as keyword arguments."""
    import ast
    import re

    bad = []
    pkg = Path(__file__).resolve().parents[1] / "nvs_eval"
    for f in pkg.rglob("*.py"):
        if "cli" in f.relative_to(pkg).parts:
            continue
        tree = ast.parse(f.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            func = node.func if isinstance(node, ast.Call) else None
            name = getattr(func, "id", getattr(func, "attr", ""))
            message = isinstance(node, ast.Raise) or name.endswith("Error") or (  # raised, built, or a constant
                isinstance(node, ast.Assign) and all(getattr(t, "id", "").isupper() for t in node.targets))
            if message:
                for c in ast.walk(node):
                    if isinstance(c, ast.Constant) and isinstance(c.value, str):
                        text = c.value
                        for ok in FOREIGN:
                            text = text.replace(ok, "")
                        if re.search(r"(?<![\w-])--[a-z]", text):
                            bad.append(f"{f.relative_to(pkg)}:{c.lineno}: {c.value[:60]!r}")
    assert not bad, "\n".join(bad)


def test_a_structured_error_keeps_its_parts_and_is_spelled_per_front_end(tmp_path):
    import pickle

    from nvs_eval.errors import StoreError, render
    from nvs_eval.util.atomic import atomic_output

    out = tmp_path / "x.json"
    out.write_text("{}")
    with pytest.raises(StoreError) as err, atomic_output(out, force=False):
        pass
    e = err.value
    assert (e.path, e.message) == (out, "already exists") and "force" in e.hint
    assert str(e) == f"{out}: already exists; pass force=True to overwrite it"
    assert e.render("cli") == f"{out}: already exists; pass --force to overwrite it"
    again = pickle.loads(pickle.dumps(e))  # a rank's error crossing processes keeps its parts
    assert type(again) is StoreError and again.render("cli") == e.render("cli") and again.path == out
    assert "\x00" not in render(str(e), "cli")
    r = cli("score", str(tmp_path / "nowhere"), "--gt", str(tmp_path))  # the CLI prints flags
    assert r.returncode == 2 and "\x00" not in r.stderr


def test_the_cli_prints_flags_where_the_api_prints_keywords(tmp_path):
    from nvs_eval.api import score_folders

    gt = tmp_path / "gt"
    r = tmp_path / "r"
    for d in (gt, r):
        d.mkdir()
        Image.fromarray(_rgb(0)).save(d / "0.png")
    with pytest.raises(NvsEvalError) as err:
        score_folders({"m": r}, gt, metrics=["masked_psnr"])
    assert "masks=" in str(err.value) and "--masks" not in str(err.value)
    out = cli("score", str(r), "--gt", str(gt), "--metrics", "masked_psnr")
    assert out.returncode == 2 and "--masks DIR" in out.stderr and "--mask-from-gt-alpha" in out.stderr, out.stderr
