"""NerfBaselines' published per-view results: every test view's value, not only the scene means, so that a method
can be paired with a published one view by view (``nvs-eval baselines DATASET --per-view``,
``nvs-eval report --baselines DATASET --paired``).

The data are the 138 files ``results/<method>/<dataset>/<scene>.json`` of the ``results`` branch of
github.com/nerfbaselines/nerfbaselines at :data:`COMMIT` (February 2024), copied unchanged into
``nerfbaselines_4c941b4/`` by :mod:`nvs_eval.baselines._vendor_nerfbaselines`; ``MANIFEST.json`` beside them records
each file's path, git blob and sha256, checked whenever a file is read.

How NerfBaselines wrote them (``nerfbaselines/evaluate.py`` and ``render.py`` at every version the files name, from
0.0.9 to 0.0.16; docs/baselines.md has the table):

* ``render.py`` renders the dataset's test split and writes both the render and the ground truth through
  ``utils.image_to_srgb(..., np.uint8)``: composited on the dataset's background (Blender: white), then
  ``np.clip(x * 255, 0, 255).astype(np.uint8)``, which truncates. Each file is named after the dataset image,
  relative to the dataset's image folder, with the suffix ``.png`` (``color/test/r_0.png``, ``color/_DSC8679.png``).
* ``evaluate.py`` lists ``color/**/*``, **sorts the relative paths**, and scores each pair in that order: PSNR of
  the float32 MSE over RGB in [0, 1], ``metrics.dmpix_ssim`` (valid padding, variance floor float32 eps**2), and
  ``metrics.lpips``, which is ``lpips_alex``: ``LPIPS(net="alex", version="0.1")`` on inputs mapped to [-1, 1]
  (even ``metrics.lpips_vgg`` builds the AlexNet at these versions). ``metrics_raw`` is each metric's list of values
  in that order, packed with ``struct.pack("f", v)`` (native float32, little-endian on the machines used) and
  base64-encoded; ``metrics`` is ``round(np.mean(values), 5)`` of the float64 values before packing.

So the k-th value of a scene is the k-th test image in sorted file-name order: Mip-NeRF 360's test images are every
8th of the sorted names (``datasets/mipnerf360.py``, ``llffhold = 8``) at ``images_4`` outdoors and ``images_2``
indoors; Blender's are the 200 frames of ``transforms_test.json``, ``test/r_0.png`` ... ``test/r_199.png``, whose
sorted order is r_0, r_1, r_10, r_100, r_101, ..., not the file's order. The nerfstudio dataset's split (a 90 %
fraction of frames sorted by name, at a resolution chosen by the loader) is not reproduced here: its views are not
named, and it cannot be paired.
"""

from __future__ import annotations

import base64
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import NvsEvalError, UsageError

HERE = Path(__file__).parent
REPO = "nerfbaselines/nerfbaselines"
BRANCH = "results"
COMMIT = "4c941b4b1437fafedd054f12b68aa0e00d1ce1a8"
DATA = HERE / "nerfbaselines_4c941b4"
MANIFEST = DATA / "MANIFEST.json"
PROTOCOL = "nerfbaselines"  # the nvs-eval preset that reproduces NerfBaselines' evaluation at these versions
# NerfBaselines' metric names -> nvs-eval metric ids. mse and mae have no nvs-eval id: they are vendored and their
# means checked, but not listed or paired.
METRIC_IDS = {"psnr": "psnr", "ssim": "ssim", "lpips": "lpips_alex"}
PRINTED_DECIMALS = 5  # evaluate.py: round(np.mean(values), 5)
LLFF_HOLD = 8
BLENDER_TEST_FRAMES = 200
# Mip-NeRF 360's published resolution per scene: NerfBaselines datasets/mipnerf360.py (_scenes360_res).
MIPNERF360_FOLDER = {"bicycle": "images_4", "flowers": "images_4", "garden": "images_4", "stump": "images_4",
                     "treehill": "images_4", "bonsai": "images_2", "counter": "images_2", "kitchen": "images_2",
                     "room": "images_2"}
NAMED_DATASETS = ("mipnerf360", "blender")  # whose views this module can name (and so pair)


class PublishedDataError(NvsEvalError):
    """A vendored results file that does not match its manifest, or does not decode."""


@dataclass(frozen=True)
class PublishedScene:
    """One NerfBaselines results file: a method on one scene, every test view's value."""

    method: str  # NerfBaselines' method id: gaussian-splatting, zipnerf, mipnerf360, nerfacto, instant-ngp, tetra-nerf
    dataset: str
    scene: str
    path: str  # in the repository, e.g. results/gaussian-splatting/mipnerf360/garden.json
    sha256: str
    nb_version: str
    printed: dict[str, float]  # the file's "metrics": means rounded to 5 decimals
    raw: dict[str, np.ndarray]  # NerfBaselines' metric name -> float32 values, in sorted file-name order
    info: dict  # the file's "info": training time, GPU memory, nb_version, ...

    @property
    def n_views(self) -> int:
        return len(next(iter(self.raw.values())))

    def values(self, metric: str) -> np.ndarray:
        """The values of an nvs-eval metric id (``psnr``, ``ssim``, ``lpips_alex``)."""
        names = {v: k for k, v in METRIC_IDS.items()}
        if metric not in names:
            raise UsageError(f"NerfBaselines' per-view results have no {metric!r}; they have "
                             f"{', '.join(METRIC_IDS.values())}")
        return self.raw[names[metric]]


def decode_raw(text: str, path: str = "") -> np.ndarray:
    """One ``metrics_raw`` entry: base64 of little-endian float32 values, one per view (NerfBaselines
    ``evaluate._encode_values``, decoded in ``results.py:load_metrics_from_results``).

    >>> decode_raw("AACAPwAAAEA=").tolist()
    [1.0, 2.0]
    """
    try:
        data = base64.b64decode(text, validate=True)
    except (ValueError, TypeError) as exc:
        raise PublishedDataError(f"metrics_raw is not base64 ({exc})", path=path or None,
                                 expected="base64 of float32 values") from exc
    if len(data) % 4:
        raise PublishedDataError(f"metrics_raw holds {len(data)} bytes, not a whole number of float32 values",
                                 path=path or None, expected="4 bytes per view")
    return np.frombuffer(data, dtype="<f4").copy()


def manifest() -> dict:
    """The manifest of the vendored files (repository, branch, commit, and per file: path, git blob, sha256)."""
    return json.loads(MANIFEST.read_text())


def _read(entry: dict) -> PublishedScene:
    file = DATA / entry["path"]
    data = file.read_bytes()
    if hashlib.sha256(data).hexdigest() != entry["sha256"]:
        raise PublishedDataError("the vendored file differs from the one recorded in the manifest", path=file,
                                 expected=f"sha256 {entry['sha256']}",
                                 hint="re-run python -m nvs_eval.baselines._vendor_nerfbaselines on a clone")
    doc = json.loads(data)
    raw = {k: decode_raw(v, str(file)) for k, v in doc["metrics_raw"].items()}
    if len({len(v) for v in raw.values()}) != 1:
        raise PublishedDataError("metrics_raw entries of different lengths", path=file,
                                 expected="one value per test view for every metric")
    return PublishedScene(entry["method"], entry["dataset"], entry["scene"], entry["path"], entry["sha256"],
                          entry["nb_version"], doc["metrics"], raw, doc["info"])


def load_per_view(dataset: str | None = None) -> list[PublishedScene]:
    """Every vendored results file (of ``dataset``: ``mipnerf360``, ``blender``, ``nerfstudio``), checked against
    its sha256.

    >>> gs = {(s.method, s.scene): s for s in load_per_view("mipnerf360")}[("gaussian-splatting", "garden")]
    >>> gs.n_views, gs.printed["psnr"], round(float(gs.values("psnr").astype(np.float64).mean()), 5)
    (24, 27.36601, 27.36601)
    """
    entries = manifest()["files"]
    known = sorted({e["dataset"] for e in entries})
    if dataset is not None and dataset not in known:
        raise UsageError(f"no per-view published results for {dataset!r}; available: {', '.join(known)}")
    return [_read(e) for e in entries if dataset is None or e["dataset"] == dataset]


def per_view_datasets() -> list[str]:
    """The datasets with per-view published results."""
    return sorted({e["dataset"] for e in manifest()["files"]})


def _png_key(name: str) -> str:
    # render.py names each file after the dataset image with the suffix .png; evaluate.py sorts those paths.
    return Path(name).with_suffix(".png").as_posix()


def view_names(dataset: str, scene: str, n_views: int, dataset_images: list[str] | None = None) -> list[str | None]:
    """The dataset image each published value was computed on, in the values' order (``None`` where this cannot be
    established). Blender: ``r_0.png``, ``r_1.png``, ``r_10.png``, ... (the test frames, in NerfBaselines' sorted
    order). Mip-NeRF 360: needs ``dataset_images``, the scene's image file names (any order): every 8th of the
    sorted names, in sorted order. The nerfstudio dataset: not named.

    >>> view_names("blender", "lego", 200)[:4]
    ['r_0.png', 'r_1.png', 'r_10.png', 'r_100.png']
    >>> view_names("mipnerf360", "garden", 2, [f"DSC{i:05d}.JPG" for i in range(9, -1, -1)])
    ['DSC00000.JPG', 'DSC00008.JPG']
    """
    if dataset == "blender":
        names = sorted((f"test/r_{i}.png" for i in range(BLENDER_TEST_FRAMES)), key=_png_key)
        if n_views != len(names):
            raise PublishedDataError(f"blender {scene}: {n_views} published values, not the {len(names)} test frames",
                                     expected=f"{len(names)} values")
        return [Path(n).name for n in names]
    if dataset == "mipnerf360" and dataset_images is not None:
        ordered = sorted(dataset_images, key=_png_key)
        test = sorted(ordered[::LLFF_HOLD], key=_png_key)
        if len(test) != n_views:
            raise UsageError(f"mipnerf360 {scene}: the dataset has {len(ordered)} images, so {len(test)} test views; "
                             f"NerfBaselines published {n_views}: is this the scene's full image set?")
        return test
    return [None] * n_views


def tidy_rows(dataset: str, dataset_images: dict[str, list[str]] | None = None) -> list[dict]:
    """``{"method", "dataset", "scene", "view", "index", "metric", "value"}`` for every published value of
    ``dataset`` with an nvs-eval metric id. ``view`` is the dataset image (``None`` where not established, see
    :func:`view_names`); ``index`` is the value's position in the file; ``dataset_images``: scene -> its image
    file names (Mip-NeRF 360)."""
    rows = []
    for s in load_per_view(dataset):
        names = view_names(dataset, s.scene, s.n_views, (dataset_images or {}).get(s.scene))
        for nb_metric, metric in METRIC_IDS.items():
            for i, (view, value) in enumerate(zip(names, s.raw[nb_metric].tolist())):
                rows.append({"method": s.method, "dataset": s.dataset, "scene": s.scene, "view": view, "index": i,
                             "metric": metric, "value": value})
    return rows


def dataset_images(dataset: str, scene_dir: Path) -> list[str]:
    """A Mip-NeRF 360 scene's image file names as NerfBaselines lists them (``datasets/colmap.py``: the images the
    COLMAP model registers, in the published folder ``images_4`` or ``images_2``; without a model, the folder's
    files)."""
    from ..data.discover import list_images
    from ..data.provenance import colmap_names

    scene_dir = Path(scene_dir)
    if dataset != "mipnerf360":
        raise UsageError(f"naming {dataset} views needs no dataset folder; only mipnerf360's do")
    folder = scene_dir / MIPNERF360_FOLDER.get(scene_dir.name, "")
    if scene_dir.name not in MIPNERF360_FOLDER or not folder.is_dir():
        raise NvsEvalError(f"no {MIPNERF360_FOLDER.get(scene_dir.name, 'images_4 or images_2')} folder", path=scene_dir,
                           expected="a Mip-NeRF 360 scene folder named after its scene (garden, bicycle, ...)",
                           hint="the dataset root holds one folder per scene")
    registered = colmap_names(scene_dir)
    return [Path(n).name for n in registered] if registered else sorted(p.name for p in list_images(folder).values())
