"""Fuzzing the two parsers of untrusted input: the image reader and the benchmark config loader.

Random bytes and mutated valid files must either read correctly or raise the documented error type
(:class:`ImageReadError` for images, :class:`ConfigError` for configs); anything else (an ``IndexError`` from
deep inside a decoder, a ``RecursionError``, a NaN in the pixels) fails the test.

CI runs a short pass. For a long run, set the example count::

    NVS_EVAL_FUZZ_EXAMPLES=20000 .venv/bin/python -m pytest -q tests/test_fuzz.py

(docs/reliability.md records the long runs made so far).
"""

from __future__ import annotations

import io
import os
from pathlib import Path

import numpy as np
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from nvs_eval.config import load_config
from nvs_eval.data.images import IMAGE_SUFFIXES, read_image
from nvs_eval.errors import ConfigError, ImageReadError

EXAMPLES = int(os.environ.get("NVS_EVAL_FUZZ_EXAMPLES", "150"))
FUZZ = settings(max_examples=EXAMPLES, deadline=None, derandomize="NVS_EVAL_FUZZ_EXAMPLES" not in os.environ,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


def _valid_files() -> dict[str, bytes]:
    rng = np.random.default_rng(0)
    rgb = rng.integers(0, 256, (12, 10, 3), dtype=np.uint8)
    out = {}
    for suffix, kw in ((".png", {}), (".jpg", {"quality": 90}), (".bmp", {}), (".webp", {"lossless": True}),
                       (".tif", {})):
        buf = io.BytesIO()
        Image.fromarray(rgb).save(buf, format={".jpg": "JPEG", ".tif": "TIFF"}.get(suffix, suffix[1:].upper()), **kw)
        out[suffix] = buf.getvalue()
    buf = io.BytesIO()
    Image.fromarray(np.concatenate([rgb, rgb[..., :1]], -1), mode="RGBA").save(buf, format="PNG")
    out["rgba.png"] = buf.getvalue()
    import png

    buf = io.BytesIO()
    png.from_array(rgb.astype(np.uint16).reshape(12, 30) * 257, "RGB;16").write(buf)
    out["16.png"] = buf.getvalue()
    buf = io.BytesIO()
    np.save(buf, rgb.astype(np.float32) / 255)
    out[".npy"] = buf.getvalue()
    return out


VALID = _valid_files()


@st.composite
def mutated(draw) -> tuple[str, bytes]:
    key = draw(st.sampled_from(sorted(VALID)))
    data = bytearray(VALID[key])
    for _ in range(draw(st.integers(1, 8))):
        op = draw(st.sampled_from(["flip", "truncate", "insert", "delete", "zero"]))
        i = draw(st.integers(0, max(0, len(data) - 1)))
        if op == "flip" and data:
            data[i] ^= 1 << draw(st.integers(0, 7))
        elif op == "truncate":
            del data[i:]
        elif op == "insert":
            data[i:i] = draw(st.binary(min_size=1, max_size=16))
        elif op == "delete":
            del data[i : i + draw(st.integers(1, 64))]
        elif op == "zero" and data:
            data[i : i + 4] = b"\0\0\0\0"
    suffix = "." + key.rsplit(".", 1)[-1]
    return suffix, bytes(data)


def _check_read(path: Path) -> None:
    try:
        x = read_image(path)
    except ImageReadError as e:
        assert str(path) in str(e)  # names the file
        return
    assert x.dtype == np.float32 and x.ndim == 3 and x.shape[2] == 3
    assert np.isfinite(x).all() and x.min() >= 0 and x.max() <= 1


@pytest.fixture
def small_limit(monkeypatch):
    monkeypatch.setenv("NVS_EVAL_MAX_PIXELS", str(4096 * 4096))  # a mutated header must not allocate gigabytes


@FUZZ
@given(suffix=st.sampled_from(IMAGE_SUFFIXES), data=st.binary(max_size=2048))
def test_reader_on_random_bytes(tmp_path, small_limit, suffix, data):
    path = tmp_path / f"x{suffix}"
    path.write_bytes(data)
    _check_read(path)


@FUZZ
@given(case=mutated())
def test_reader_on_mutated_valid_files(tmp_path, small_limit, case):
    suffix, data = case
    path = tmp_path / f"x{suffix}"
    path.write_bytes(data)
    _check_read(path)


BASE = {
    "name": "fuzz",
    "protocol": "3dgs",
    "metrics": ["psnr", "ssim"],
    "datasets": [{"name": "d", "kind": "pairs", "gt": "gt/{scene}", "scenes": ["s"],
                  "methods": [{"name": "m", "path": "r/{scene}"}]}],
}

leaf = st.one_of(st.none(), st.booleans(), st.integers(-2**40, 2**40), st.floats(allow_nan=True),
                 st.text(max_size=40), st.sampled_from(["", "..", "/", "{scene}", "a\0b", "x" * 300, "gt/{scene}",
                                                        "pairs", "blender", "3dgs", "nvs-eval"]))
value = st.recursive(leaf, lambda inner: st.one_of(st.lists(inner, max_size=4),
                                                    st.dictionaries(st.text(max_size=12), inner, max_size=4)),
                     max_leaves=12)


@st.composite
def mutated_config(draw):
    import copy

    doc = copy.deepcopy(BASE)
    for _ in range(draw(st.integers(1, 4))):
        # walk to a random container inside the document and replace, drop or add one entry
        node = doc
        for _ in range(draw(st.integers(0, 4))):
            kids = list(node.values()) if isinstance(node, dict) else node if isinstance(node, list) else []
            kids = [k for k in kids if isinstance(k, (dict, list))]
            if not kids:
                break
            node = draw(st.sampled_from(kids))
        if isinstance(node, dict):
            keys = sorted(node, key=str) + ["extra"]
            key = draw(st.sampled_from(keys))
            if draw(st.booleans()) and key in node:
                del node[key]
            else:
                node[key] = draw(value)
        elif isinstance(node, list):
            if node and draw(st.booleans()):
                node[draw(st.integers(0, len(node) - 1))] = draw(value)
            else:
                node.append(draw(value))
    return doc


@pytest.fixture
def bench(tmp_path):
    (tmp_path / "gt" / "s").mkdir(parents=True)
    (tmp_path / "r" / "s").mkdir(parents=True)
    return tmp_path


def _check_config(path: Path) -> None:
    try:
        cfg = load_config(path)
    except ConfigError as e:
        assert str(path) in str(e)
        return
    assert cfg.datasets and all(d.methods and d.scenes for d in cfg.datasets)


@FUZZ
@given(doc=mutated_config())
def test_config_loader_on_mutated_configs(bench, doc):
    path = bench / "bench.yaml"
    path.write_text(yaml.safe_dump(doc, allow_unicode=True), encoding="utf-8")
    _check_config(path)


@FUZZ
@given(text=st.one_of(st.text(max_size=400), st.binary(max_size=400).map(lambda b: b.decode("latin-1")),
                      st.builds(lambda d, cut: yaml.safe_dump(d)[:cut], st.just(BASE), st.integers(0, 300))))
def test_config_loader_on_random_text(bench, text):
    path = bench / "bench.yaml"
    path.write_bytes(text.encode("utf-8", "surrogatepass"))
    _check_config(path)


def test_a_valid_config_and_a_valid_file_pass_the_checks(bench, tmp_path):
    """The fuzz bases are themselves valid, so the mutations start from something the parsers accept."""
    path = bench / "bench.yaml"
    path.write_text(yaml.safe_dump(BASE))
    assert load_config(path).protocol == "3dgs"
    for key, data in VALID.items():
        p = tmp_path / f"ok{'.' + key.rsplit('.', 1)[-1]}"
        p.write_bytes(data)
        assert read_image(p).shape == (12, 10, 3), key
