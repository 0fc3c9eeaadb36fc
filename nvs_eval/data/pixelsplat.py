"""Feed-forward NVS test outputs (pixelSplat, and MVSplat / DepthSplat, which share its data pipeline).

The renders: ``ModelWrapper.test_step`` (dcharatan/pixelsplat ``src/model/model_wrapper.py:183-192``) saves each
target view of a scene as ``<output_path>/<name>/<scene>/color/<index:0>6>.png`` (and the context views under
``context/``), through ``save_image`` (``src/misc/image_io.py:46-66``: ``(clip(0, 1) * 255).type(torch.uint8)``).

The ground truth is not a file: ``DatasetRE10k`` (``src/dataset/dataset_re10k.py``) reads ``<root>/test/index.json``
(scene key -> chunk file), loads the chunk (a list of dicts: ``key``, ``cameras`` (V, 18), ``images``: one
uint8 tensor of JPEG bytes per frame), takes the context and target frames the evaluation index names
(``assets/evaluation_index_re10k.json``: ``{scene: {"context": [...], "target": [...]} | null}``;
``src/dataset/view_sampler/view_sampler_evaluation.py``), decodes them with PIL and ``ToTensor``, and crops them
with the crop shim (``src/dataset/shims/crop_shim.py``): each image to uint8 by ``(x * 255).clip(0, 255)
.type(torch.uint8)``, resized with PIL ``LANCZOS`` so that the shorter side fits 256 (360 x 640 -> 256 x 455), and
centre-cropped to 256 x 256 (column offset ``(455 - 256) // 2``). The result is ``np.array(image) / 255`` in
float32: exactly an 8-bit image, so nvs-eval writes each target view once as a PNG into its cache and scores that
file, bit for bit the tensor pixelSplat scores.

A scene pixelSplat leaves out is left out here too, and named with the reason: null in the evaluation index,
a frame index beyond the scene's frames, frames that are not 360 x 640, a field of view over ``max_fov`` (100
degrees, ``config/dataset/re10k.yaml``) or a context baseline under ``baseline_epsilon`` (1e-3). Chunks are read with
``torch.load(weights_only=True)``: tensors, lists, dicts and strings only; a chunk that needs more is refused.
"""

from __future__ import annotations

import hashlib
import io
import json
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import LayoutError
from .discover import run_name
from .scene import Scene

IMAGE_SHAPE = (256, 256)  # config/experiment/re10k.yaml, acid.yaml: dataset.image_shape
SOURCE_SHAPE = (360, 640)  # dataset_re10k.py: examples of another shape are skipped
MAX_FOV = 100.0  # config/dataset/re10k.yaml
BASELINE_EPSILON = 1e-3
_FRAME = re.compile(r"(\d{6})\.png")


@dataclass(frozen=True)
class ChunkSource:
    """Where a pixelSplat run's ground truth comes from: the dataset root (with ``test/index.json`` and the
    ``.torch`` chunks) and the evaluation index JSON."""

    root: Path
    index: Path
    stage: str = "test"


@dataclass
class Skipped:
    scenes: dict[str, str] = field(default_factory=dict)  # scene -> why pixelSplat leaves it out

    def note(self) -> str:
        reasons = "; ".join(f"{s} ({why})" for s, why in list(self.scenes.items())[:10])
        more = f"; and {len(self.scenes) - 10} more" if len(self.scenes) > 10 else ""
        return f"{len(self.scenes)} scene(s) of the evaluation index left out, as pixelSplat leaves them out: " \
               f"{reasons}{more}"


def is_pixelsplat_run(path: Path) -> bool:
    """A folder of ``<scene>/color/NNNNNN.png`` (test_step's output)."""
    if not path.is_dir():
        return False
    for d in path.iterdir():
        color = d / "color"
        if color.is_dir() and any(_FRAME.fullmatch(f.name) for f in color.iterdir()):
            return True
    return False


def _read_json(path: Path, what: str):
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise LayoutError(f"{what} not found", path=path) from None
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise LayoutError(f"not valid JSON ({e})", path=path, expected=what) from None


def load_chunk(path: Path) -> list[dict]:
    """A dataset chunk, loaded with ``weights_only=True`` (never arbitrary unpickling)."""
    import pickle

    import torch

    try:
        with open(path, "rb") as f:
            magic = f.read(4)
        if not (magic.startswith(b"PK\x03\x04") or magic[:1] == b"\x80"):  # torch.save's zip, or its legacy pickle
            raise ValueError(f"it starts with {magic!r}, not as torch.save writes (a zip archive)")
        chunk = torch.load(path, weights_only=True, map_location="cpu")
    except FileNotFoundError:
        raise LayoutError("chunk file not found", path=path, hint="is the dataset root the one the index names?") \
            from None
    except pickle.UnpicklingError as e:  # weights_only's refusal of anything beyond tensors and containers
        raise LayoutError(f"refused: it cannot be loaded with weights_only=True ({_refusal(e)})",
                          path=path, expected="a list of dicts of tensors and strings, as the dataset's "
                                              "conversion script writes") from None
    except Exception as e:  # noqa: BLE001 (torch.load on broken bytes: OSError, EOFError, KeyError, struct.error...)
        raise LayoutError(f"not a readable torch.save file ({type(e).__name__}: {_first_line(e)})", path=path,
                          expected="a chunk as the dataset's conversion script writes it (torch.save)",
                          hint="a truncated or partly copied file? compare its size with the original") from None
    if not isinstance(chunk, list) or not all(isinstance(x, dict) and "key" in x for x in chunk):
        raise LayoutError("not a pixelSplat chunk", path=path, expected="a list of dicts with key, cameras, images")
    return chunk


def _first_line(e: BaseException | str) -> str:
    lines = str(e).strip().splitlines()
    return lines[0] if lines else "no message"


def _refusal(e: BaseException) -> str:
    """What weights_only refused, from torch's long message ("WeightsUnpickler error: Unsupported global: ...")."""
    text = re.sub(r"\x1b\[[0-9;]*m", "", str(e))
    found = re.search(r"WeightsUnpickler error: (.*?)(?:\. Please|\n|$)", text)
    return found.group(1) if found else _first_line(text)


def _fov_degrees(cameras) -> np.ndarray:
    """``get_fov`` (src/geometry/projection.py:233-247) of the normalised intrinsics in each camera row, in
    float32 as pixelSplat computes it: (V, 2) degrees."""
    import torch

    fx, fy, cx, cy = cameras[:, :4].float().T
    k = torch.eye(3).repeat(len(fx), 1, 1)
    k[:, 0, 0], k[:, 1, 1], k[:, 0, 2], k[:, 1, 2] = fx, fy, cx, cy
    inv = k.inverse()

    def ray(v):
        r = torch.einsum("bij,j->bi", inv, torch.tensor(v, dtype=torch.float32))
        return r / r.norm(dim=-1, keepdim=True)

    fov_x = (ray([0, 0.5, 1]) * ray([1, 0.5, 1])).sum(-1).acos()
    fov_y = (ray([0.5, 0, 1]) * ray([0.5, 1, 1])).sum(-1).acos()
    return torch.stack([fov_x, fov_y], -1).rad2deg().numpy()


def _baseline(cameras, context: list[int]) -> float | None:
    """The distance between the two context cameras (``make_baseline_1``), ``None`` unless two."""
    import torch

    if len(context) != 2:
        return None
    w2c = torch.eye(4).repeat(len(context), 1, 1)
    w2c[:, :3] = cameras[context, 6:].float().reshape(-1, 3, 4)
    a, b = w2c.inverse()[:, :3, 3]
    return float((a - b).norm())


def _open(jpeg):
    """The frame's JPEG, opened: its header read, its pixels not yet decoded."""
    from PIL import Image

    return Image.open(io.BytesIO(jpeg.numpy().tobytes()))


def _decode(jpeg) -> np.ndarray:
    return np.asarray(_open(jpeg).convert("RGB"))


def crop_shim(frame: np.ndarray, shape: tuple[int, int] = IMAGE_SHAPE) -> np.ndarray:
    """``rescale_and_crop`` of one decoded uint8 frame: its float32 ``ToTensor`` image back to uint8 by
    ``(x * 255).clip(0, 255).type(torch.uint8)`` (truncation), PIL LANCZOS to the scaled size, centre crop."""
    from PIL import Image

    h_in, w_in = frame.shape[:2]
    h_out, w_out = shape
    x = frame.astype(np.float32) / np.float32(255)  # ToTensor: img.float().div(255)
    u8 = np.clip(x * np.float32(255), 0, 255).astype(np.uint8)
    scale = max(h_out / h_in, w_out / w_in)
    h_s, w_s = round(h_in * scale), round(w_in * scale)
    resized = np.asarray(Image.fromarray(u8).resize((w_s, h_s), Image.LANCZOS))
    row, col = (h_s - h_out) // 2, (w_s - w_out) // 2
    return resized[row : row + h_out, col : col + w_out]


def _why_skipped(example: dict, entry: dict) -> str | None:
    """The reason pixelSplat's ``DatasetRE10k.__iter__`` skips this example, or ``None``."""
    fov = _fov_degrees(example["cameras"])
    if (fov > MAX_FOV).any():
        return f"field of view over {MAX_FOV:g} degrees"
    n = len(example["images"])
    frames = [*entry["context"], *entry["target"]]
    if any(not 0 <= i < n for i in frames):
        return f"a frame index beyond its {n} frames"
    headers = [_open(example["images"][i]) for i in frames]  # sizes from the headers: each target decoded once, later
    shapes = {(im.height, im.width) for im in headers}
    if shapes != {SOURCE_SHAPE}:
        return f"frames of {sorted(shapes)} pixels, not {SOURCE_SHAPE}"
    bands = {len(im.getbands()) for im in headers}
    if bands != {3}:  # ToTensor of a grey or CMYK frame is not (3, 360, 640) either
        return f"frames with {sorted(bands)} channel(s), not 3"
    baseline = _baseline(example["cameras"], list(entry["context"]))
    if baseline is not None and baseline < BASELINE_EPSILON:
        return f"context baseline {baseline:.6f} under {BASELINE_EPSILON:g}"
    return None


def _cache_folder(chunk: Path) -> Path:
    from ..metrics.weights import cache_dir

    st = chunk.stat()
    key = hashlib.sha256(f"{chunk.resolve()}|{st.st_size}|{st.st_mtime_ns}".encode()).hexdigest()[:16]
    return cache_dir() / "pixelsplat-gt" / key


def _targets(example: dict, entry: dict, folder: Path) -> dict[str, Path]:
    """The scene's target views as PNG files in the cache (written once, atomically)."""
    from PIL import Image

    from ..util.atomic import atomic_write_bytes

    out = {}
    for i in entry["target"]:
        path = folder / example["key"] / f"{i:06d}.png"
        if not path.is_file():
            buf = io.BytesIO()
            Image.fromarray(crop_shim(_decode(example["images"][i]))).save(buf, format="PNG")
            path.parent.mkdir(parents=True, exist_ok=True)
            atomic_write_bytes(path, buf.getvalue())
        out[f"{i:06d}"] = path
    return out


def load_pixelsplat(path: Path, *, method: str | None = None, dataset: str = "default",
                    gt_source: ChunkSource | None = None, **_) -> list[Scene]:
    """One scene per scene folder of the run that the evaluation index names, its target views paired with the
    ground truth cut from the dataset's chunks exactly as pixelSplat's test loader cuts it."""
    if not isinstance(gt_source, ChunkSource):
        raise LayoutError("a pixelSplat run holds no ground truth", path=path,
                          hint="name the dataset root (with test/index.json and the .torch chunks) and the "
                               "evaluation index JSON (assets/evaluation_index_re10k.json)")
    runs = {d.name: d / "color" for d in sorted(path.iterdir()) if (d / "color").is_dir()}
    index = _read_json(gt_source.index, "the evaluation index: {scene: {context: [...], target: [...]} | null}")
    chunks = _read_json(gt_source.root / gt_source.stage / "index.json", "the dataset index: {scene: chunk file}")
    unknown = sorted(set(runs) - set(index))
    if unknown:
        raise LayoutError(f"{len(unknown)} rendered scene(s) are not in the evaluation index, e.g. {unknown[0]}",
                          path=gt_source.index, hint="is it the index the run was rendered with?")
    skipped = Skipped({s: "null in the evaluation index" for s, e in index.items() if e is None})
    by_chunk: dict[str, list[str]] = {}
    for scene in runs:
        if index[scene] is None:
            continue
        if scene not in chunks:
            raise LayoutError(f"scene {scene} is not in the dataset's index", path=gt_source.root / gt_source.stage
                              / "index.json")
        by_chunk.setdefault(chunks[scene], []).append(scene)
    scenes = []
    if dataset == "default":  # named by its index, as pixelSplat names them: evaluation_index_<dataset>.json
        m = re.fullmatch(r"evaluation_index_(\w+?)(?:_video)?\.json", gt_source.index.name)
        dataset = m.group(1) if m else dataset
    # <output_path>/<name>/<scene>: <name> is the experiment's (re10k), the output path the run's own (mvsplat)
    name = method or run_name(path, skip=(dataset,))
    for chunk_name, wanted in sorted(by_chunk.items()):
        chunk_path = gt_source.root / gt_source.stage / chunk_name
        examples = {e["key"]: e for e in load_chunk(chunk_path)}
        for scene in wanted:
            why = _why_skipped(examples[scene], index[scene]) if scene in examples else "not in its chunk"
            if why:
                skipped.scenes[scene] = why
                continue
            gt = _targets(examples[scene], index[scene], _cache_folder(chunk_path))
            renders = {m.group(1): f for f in sorted(runs[scene].iterdir()) if (m := _FRAME.fullmatch(f.name))}
            scenes.append(Scene(dataset, scene, gt, {name: renders}, background=(0.0, 0.0, 0.0),
                                folders={"": chunk_path, name: runs[scene]}))
    not_rendered = sorted(s for s, e in index.items() if e is not None and s not in runs)
    skipped.scenes.update(dict.fromkeys(not_rendered, "no renders in the run"))
    if not scenes:
        raise LayoutError("no scene to score: " + skipped.note(), path=path)
    if skipped.scenes:
        scenes[0].notes.append(skipped.note())
    return scenes
