"""Comparable or not: which dataset image each test view is, the split rule, and where the ground truth came from.

``nvs-eval check`` (and ``score`` / ``evaluate`` given a dataset root) answer the commonest reason two papers'
numbers differ, which is not the metric but the images compared:

1. **Which dataset image each view is**, by decoded pixels, whatever the run named its files (3DGS writes
   ``00000.png``). A cheap index first: one 16 x 16 area thumbnail per dataset image, decoded from the smallest
   image folder (JPEG in draft mode, at 1/8 scale), and the run's ground truth thumbnailed the same way; the nearest
   thumbnails are then compared at full resolution against every image folder of that size.
2. **The split rule** that produces exactly these views from the dataset's sorted names
   (:func:`nvs_eval.data.splits.identify_split`), and whether it is the dataset's standard one.
3. **The ground truth's provenance**: the folder whose files it is (``images``, ``images_2``, ...) and whether it
   is identical to them; if not, which larger folder and which resampler of :data:`nvs_eval.data.resize.RESIZE_METHODS`
   reproduce it (3DGS's 1,600-px rule included: ``utils/camera_utils.py`` ``loadCam``, width 1,600 and PIL's bicubic
   ``Image.resize`` in ``utils/general_utils.py`` ``PILtoTorch``); and whether the resolution is the published one
   (Mip-NeRF 360: ``images_4`` outdoors, ``images_2`` indoors).

The verdict is ``comparable`` with one reason per departure from the standard protocol. docs/check.md has the rules.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import LayoutError, PairingError, option
from .datasets import dataset_kind
from .discover import list_images
from .images import WHITE, read_header, read_image
from .pairing import GS_MAX_WIDTH
from .resize import RESIZE_METHODS, resize_to
from .splits import every_nth, identify_split

THUMB = 16
CANDIDATES = 3  # nearest thumbnails compared at full resolution
NO_MATCH_RMS = 0.12  # a view whose nearest thumbnail is farther than this matches no dataset image
RESAMPLE_PROBES = 3  # views on which every source and resampler is tried; the best is then checked on all views
FOLDERS = ("images", "images_2", "images_4", "images_8")
# An RGBA dataset image composited on the background and stored in 8 bits by the trainer differs from nvs-eval's
# float composite by the 8-bit rounding: 3DGS truncates (``readCamerasFromTransforms``: ``np.array(arr * 255.0,
# dtype=np.byte)``), others round. Such a view is the dataset's own file, composited ("match": "composited").
ALPHA_MODES = ("RGBA", "LA", "PA")
COMPOSITE_TOLERANCE = 1 / 255 + 1e-6


@dataclass
class DatasetIndex:
    """A dataset scene's images: the sorted names, each image folder's files, and the thumbnail index."""

    scene_dir: Path
    kind: str
    names: list[str]  # dataset image ids, in the order the split rules count them
    folders: dict[str, dict[str, Path]]  # folder -> image id -> file
    thumbs: np.ndarray  # (N, THUMB, THUMB, 3) float32, one per name
    background: tuple[float, float, float] = WHITE


@dataclass
class ViewMatch:
    view: str
    gt: Path
    dataset_image: str
    match: str  # exact | resampled | approximate
    max_abs_diff: float
    folder: str | None = None  # the folder it is identical to (exact)
    dataset_file: str = ""  # the dataset image's file name


@dataclass
class CheckResult:
    scene: str
    kind: str
    split: dict
    gt: dict
    views: list[ViewMatch]
    reasons: list[str] = field(default_factory=list)

    @property
    def comparable(self) -> bool:
        return not self.reasons

    def to_json(self) -> dict:
        return {"scene": self.scene, "dataset": self.kind, "split": self.split, "gt": self.gt,
                "views": [{"view": v.view, "dataset_image": v.dataset_file, "match": v.match,
                           "max_abs_diff": v.max_abs_diff, "folder": v.folder} for v in self.views],
                "comparable": self.comparable, "reasons": self.reasons}

    def summary(self) -> str:
        """One line: the verdict and why."""
        if self.comparable:
            return f"{self.scene}: comparable with the standard protocol ({self.split['rule']}, {self.gt['source']})"
        return f"{self.scene}: not comparable with the standard protocol: {'; '.join(self.reasons)}"


def colmap_names(scene_dir: Path) -> list[str] | None:
    """The image names registered in ``sparse/0/images.bin`` (or ``images.txt``), or ``None`` without one."""
    sparse = scene_dir / "sparse" / "0"
    if (sparse / "images.bin").is_file():
        return _images_bin(sparse / "images.bin")
    if (sparse / "images.txt").is_file():
        lines = [x for x in (sparse / "images.txt").read_text(encoding="utf-8").splitlines() if not x.startswith("#")]
        # image lines alternate with their 2-D point lines (which may be empty)
        return [line.split()[9] for line in lines[::2] if len(line.split()) >= 10]
    return None


def _images_bin(path: Path) -> list[str]:
    """COLMAP's binary image records (``read_extrinsics_binary``): id, qvec, tvec, camera id, a NUL-terminated
    name, then the 2-D points (x, y as doubles, the 3-D point id as int64)."""
    data, names = path.read_bytes(), []
    try:
        (count,), pos = struct.unpack_from("<Q", data, 0), 8
        for _ in range(count):
            pos += 4 + 8 * 7 + 4
            end = data.index(b"\0", pos)
            names.append(data[pos:end].decode("utf-8"))
            (points,) = struct.unpack_from("<Q", data, end + 1)
            pos = end + 1 + 8 + points * 24
    except (struct.error, ValueError, UnicodeDecodeError) as e:
        raise LayoutError(f"not a COLMAP images.bin ({type(e).__name__}: {e})", path=path) from None
    return names


def _thumb(path: Path, background) -> np.ndarray:
    """A ``THUMB`` x ``THUMB`` area-averaged thumbnail (float32) of a dataset image, decoding a JPEG at reduced
    scale (draft mode)."""
    from PIL import Image

    with Image.open(path) as im:
        if im.format == "JPEG":
            im.draft("RGB", (THUMB * 8, THUMB * 8))
        if im.mode in ALPHA_MODES or (im.mode == "P" and "transparency" in im.info):
            rgba = np.asarray(im.convert("RGBA"), dtype=np.float32) / 255
            return _thumb_of(rgba[..., :3] * rgba[..., 3:] + np.asarray(background, np.float32) * (1 - rgba[..., 3:]))
        return _thumb_of(np.asarray(im.convert("RGB"), dtype=np.float32) / 255)


def _thumb_of(rgb: np.ndarray) -> np.ndarray:
    """The thumbnail of a decoded H x W x 3 image in [0, 1] (through 8 bits, as every image file is)."""
    from PIL import Image

    small = Image.fromarray(np.round(rgb * 255).astype(np.uint8)).resize((THUMB, THUMB), Image.BOX)
    return np.asarray(small, dtype=np.float32) / 255


# standard splits that are a list the dataset ships (its test files), not a rule over its images
LISTED_SPLITS = ("test", "val-json")


def build_index(kind: str, scene_dir: Path) -> DatasetIndex:
    """Index a dataset scene: its image names (COLMAP's registered images where there is a model, else the files
    of ``images/``; Blender: the test frames), every image folder, and a thumbnail per image from the smallest
    folder."""
    scene_dir = Path(scene_dir)
    spec = dataset_kind(kind)
    if spec.standard_split in LISTED_SPLITS:  # the test views are listed by the dataset (Blender, multi-scale, iPhone)
        test = spec.test_views(scene_dir, "images")
        folders = {Path(next(iter(test.values()))).parent.name: test}  # test/ (Blender), 2x/ (iPhone), ...
        names = list(test)
    else:
        folders = {f: list_images(scene_dir / f) for f in FOLDERS if (scene_dir / f).is_dir()}
        if not folders:
            raise LayoutError(f"no image folder ({', '.join(FOLDERS)})", path=scene_dir,
                              expected=f"a {kind} scene folder", hint=f"{option('dataset_root')} names one scene")
        registered = colmap_names(scene_dir)
        first = next(iter(folders.values()))
        names = sorted(Path(n).stem for n in registered) if registered else sorted(first)
        names = [n for n in names if n in first] or sorted(first)
    smallest = min(folders, key=lambda f: _pixels(folders[f][names[0]]))
    background = spec.background or WHITE
    thumbs = np.stack([_thumb(folders[smallest][n], background) for n in names])
    return DatasetIndex(scene_dir, kind, names, folders, thumbs, background)


def _pixels(path: Path) -> int:
    h = read_header(path)
    return h.width * h.height


def match_views(gt: dict[str, Path], index: DatasetIndex, background=None) -> list[ViewMatch]:
    """Each ground-truth view's dataset image: the nearest thumbnails, then exact equality against every folder
    holding that image at the view's size (the first exact one wins); else the nearest thumbnail, to be explained
    by :func:`provenance`. A view with no near thumbnail is an error naming it."""
    background = background or index.background
    out = []
    for view, path in gt.items():
        img = read_image(path, background)  # decoded once: thumbnail and exact comparison
        t = _thumb_of(img)
        dist = np.sqrt(((index.thumbs - t) ** 2).mean(axis=(1, 2, 3)))
        order = np.argsort(dist, kind="stable")[:CANDIDATES]
        if dist[order[0]] > NO_MATCH_RMS:
            raise PairingError(f"view {view} matches no image of the dataset (nearest: {index.names[order[0]]}, "
                               f"thumbnail RMS difference {dist[order[0]]:.3f})", path=path,
                               hint=f"is {option('dataset_root')} the scene this run was trained on?")
        m = _exact(view, path, img, [index.names[i] for i in order], index, background)
        m.dataset_file = _file_name(index, m.dataset_image)
        out.append(m)
    return out


def _exact(view: str, path: Path, img: np.ndarray, candidates: list[str], index: DatasetIndex,
           background) -> ViewMatch:
    h, w = img.shape[:2]
    for name in candidates:
        for folder, files in index.folders.items():
            f = files.get(name)
            if f is None:
                continue
            fh = read_header(f)
            if (fh.width, fh.height) != (w, h):
                continue
            diff = float(np.abs(read_image(f, background) - img).max())
            if diff == 0.0:
                return ViewMatch(view, path, name, "exact", 0.0, folder)
            if fh.mode in ALPHA_MODES and diff <= COMPOSITE_TOLERANCE:
                return ViewMatch(view, path, name, "composited", diff, folder)
    return ViewMatch(view, path, candidates[0], "approximate", float("nan"))


def gs_1600(width: int, height: int) -> tuple[int, int]:
    """3DGS's default resolution for an image wider than 1,600 px (``utils/camera_utils.py`` ``loadCam``,
    ``--resolution -1``): ``global_down = w / 1600``, size ``(int(w / global_down), int(h / global_down))``."""
    scale = width / GS_MAX_WIDTH
    return int(width / scale), int(height / scale)


def provenance(matches: list[ViewMatch], index: DatasetIndex) -> dict:
    """Where the ground truth's pixels come from: the folder it is identical to, or the larger folder and the
    resampler that reproduce it best (tried on :data:`RESAMPLE_PROBES` views, then checked on all)."""
    h = read_header(matches[0].gt)
    size = [h.width, h.height]
    own = ("exact", "composited")
    exact = {m.folder for m in matches if m.match in own}
    if len(exact) == 1 and all(m.match in own for m in matches):
        return {"source": exact.pop(), "identical": True, "resampled_from": None, "resampler": None, "rule": None,
                "max_abs_diff": max(m.max_abs_diff for m in matches), "size": size}
    approx = [m for m in matches if m.match not in own]
    best = _best_resampling(approx[:RESAMPLE_PROBES], index)
    if best is None:
        return {"source": None, "identical": False, "resampled_from": None, "resampler": None, "rule": None,
                "max_abs_diff": None, "size": size}
    folder, method = best
    worst = 0.0
    for m in approx:
        src = index.folders[folder][m.dataset_image]
        d = float(np.abs(resize_to(read_image(src, index.background), (h.height, h.width), method, src)
                         - read_image(m.gt, index.background)).max())
        m.match, m.max_abs_diff, worst = "resampled", d, max(worst, d)
    full = read_header(index.folders[folder][matches[0].dataset_image])
    rule = None
    if folder == "images" and method == "bicubic-pil":
        if (full.width > GS_MAX_WIDTH and tuple(size) == gs_1600(full.width, full.height)):
            rule = "3dgs-1600px"
        else:
            rule = next((f"3dgs-r{r}" for r in (2, 4, 8) if size == [round(full.width / r), round(full.height / r)]),
                        None)
    return {"source": folder, "identical": False, "resampled_from": folder, "resampler": method, "rule": rule,
            "max_abs_diff": worst, "size": size}


def _best_resampling(probes: list[ViewMatch], index: DatasetIndex) -> tuple[str, str] | None:
    """The (folder, resampler) whose resized images are nearest the probes' ground truth (mean absolute
    difference), among folders larger than it; ``None`` when nothing is near (above 2/255 on average)."""
    scores: dict[tuple[str, str], float] = {}
    for m in probes:
        gt = read_image(m.gt, index.background)
        for folder, files in index.folders.items():
            src = files.get(m.dataset_image)
            if src is None or _pixels(src) <= gt.shape[0] * gt.shape[1]:
                continue
            img = read_image(src, index.background)
            for method in RESIZE_METHODS:
                d = float(np.abs(resize_to(img, gt.shape[:2], method, src) - gt).mean())
                scores[folder, method] = scores.get((folder, method), 0.0) + d / len(probes)
    if not scores:
        return None
    key = min(scores, key=scores.get)
    return key if scores[key] <= 2 / 255 else None


def check_scene(gt: dict[str, Path], kind: str, scene_dir: Path, scene: str | None = None) -> CheckResult:
    """Match a run's ground truth to the dataset, name the split and the ground truth's provenance, and say whether
    the run is comparable with the dataset's standard protocol (one reason per departure)."""
    scene_dir = Path(scene_dir)
    spec = dataset_kind(kind)
    scene = scene or scene_dir.name
    index = build_index(kind, scene_dir)
    matches = match_views(gt, index)
    position = {n: i for i, n in enumerate(index.names)}
    indices = [position[m.dataset_image] for m in matches]
    split = _split(indices, index, spec)
    prov = provenance(matches, index)
    reasons = _reasons(split, prov, spec, scene, scene_dir)
    return CheckResult(scene, kind, split, prov, matches, reasons)


def _file_name(index: DatasetIndex, name: str) -> str:
    return next(files[name].name for files in index.folders.values() if name in files)


def _split(indices: list[int], index: DatasetIndex, spec) -> dict:
    if spec.standard_split in LISTED_SPLITS:
        rule = spec.standard_split if indices == list(range(len(index.names))) else "custom"
        standard_set = list(range(len(index.names)))
    else:
        rule, _ = identify_split(indices, index.names, index.scene_dir)
        standard_set = every_nth(len(index.names))
    got = set(indices)
    return {"rule": rule, "standard": rule == spec.standard_split and len(got) == len(indices),
            "test_views": [_file_name(index, index.names[i]) for i in indices],
            "missing": [_file_name(index, index.names[i]) for i in standard_set if i not in got],
            "extra": [_file_name(index, index.names[i]) for i in sorted(got - set(standard_set))],
            "repeated": sorted({_file_name(index, index.names[i]) for i in indices if indices.count(i) > 1})}


def _reasons(split: dict, prov: dict, spec, scene: str, scene_dir: Path) -> list[str]:
    reasons = []
    if spec.scenes and scene not in spec.scenes:
        reasons.append(f"{scene!r} is not one of the {len(spec.scenes)} {spec.name} scenes ({', '.join(spec.scenes)}), "
                       "so its published protocol is unknown; the scene is the dataset root's folder name, or the one "
                       "named with --scene (a config: the scene folder's name)")
    if not split["standard"]:
        what = [f"{len(split['missing'])} standard view(s) missing"] if split["missing"] else []
        what += [f"{len(split['extra'])} extra view(s)"] if split["extra"] else []
        what += [f"view(s) repeated: {', '.join(split['repeated'])}"] if split["repeated"] else []
        reasons.append(f"test views follow {split['rule']}, not the standard {spec.standard_split}"
                       + (f" ({'; '.join(what)})" if what else ""))
    if prov["source"] is None:
        reasons.append("the ground truth is not any image folder's files, nor one of them resampled by a known "
                       f"resampler ({', '.join(RESIZE_METHODS)})")
    elif not prov["identical"]:
        how = f", {prov['rule']}" if prov["rule"] else ""
        reasons.append(f"the ground truth is not the dataset's own files: {prov['resampled_from']}/ resampled by the "
                       f"trainer ({prov['resampler']}{how}; largest difference {prov['max_abs_diff'] * 255:.1f}/255)")
    published = spec.published_images(scene) if spec.published_images else None
    if published and prov["source"] is not None and prov["source"] != published:
        folder = Path(scene_dir) / published
        first = next(iter(list_images(folder).values()), None) if folder.is_dir() else None
        expected = read_header(first) if first is not None else None
        at = f" ({expected.width}x{expected.height})" if expected else ""
        reasons.append(f"{spec.name} {scene} is published at {published}{at}; this ground truth is "
                       f"{prov['source']} {'resampled ' if not prov['identical'] else ''}"
                       f"({prov['size'][0]}x{prov['size'][1]})")
    return reasons


def own_files_check(kind: str, scene_dir: Path, images: str, gt: dict[str, Path], scene: str) -> CheckResult:
    """The check of a ground truth that *is* the dataset's test views (a dataset kind, multinerf's held-out views):
    the split and the files are the standard ones by construction; only the resolution can depart from the
    published one. Nothing is decoded."""
    spec = dataset_kind(kind)
    first = read_header(next(iter(gt.values())))
    files = [Path(p).name for p in gt.values()]
    split = {"rule": spec.standard_split, "standard": True, "test_views": files, "missing": [], "extra": [],
             "repeated": []}
    listed = spec.standard_split in LISTED_SPLITS  # the folder of the listed files: test/ (Blender), 2x/ (iPhone)
    prov = {"source": Path(next(iter(gt.values()))).parent.name if listed else images, "identical": True,
            "resampled_from": None,
            "resampler": None, "rule": None, "max_abs_diff": 0.0, "size": [first.width, first.height]}
    views = [ViewMatch(v, Path(p), Path(p).stem, "exact", 0.0, prov["source"], Path(p).name) for v, p in gt.items()]
    return CheckResult(scene, kind, split, prov, views, _reasons(split, prov, spec, scene, scene_dir))

