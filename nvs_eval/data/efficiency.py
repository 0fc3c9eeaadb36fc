"""Readers of the efficiency figures the training tools write (:mod:`nvs_eval.conventions.figures`).

Each reader returns :class:`Figure` values with the file each came from and that file's sha256, plus notes: a
file the tool should have written but that is missing or unreadable is named in a note (printed by ``score``,
never a silent "–"). nvs-eval re-measures nothing: every value is the tool's own, on the tool's GPU.

The formats, as the tools write them:

* **3DGS** (graphdeco-inria/gaussian-splatting): ``scene/__init__.py`` ``Scene.save`` writes
  ``point_cloud/iteration_{iteration}/point_cloud.ply`` through ``GaussianModel.save_ply``
  (``scene/gaussian_model.py``: ``PlyElement.describe(elements, 'vertex')``, ``PlyData([el]).write(path)``, plyfile's
  binary little-endian format): one vertex per Gaussian, so the header's ``element vertex N`` is the count; only the
  header is read. The model size is that file's bytes. 3DGS writes no times.
* **gsplat** ``examples/simple_trainer.py`` (nerfstudio-project/gsplat at 90d7b4b):

  - ``Runner.eval`` (lines 1212-1296) sums ``time.time() - tic`` around ``self.stage.render`` between two
    ``torch.cuda.synchronize()`` calls, divides by ``len(valloader)`` (line 1272) and writes
    ``stats/{stage}_step{step:04d}.json`` with ``ellipse_time`` (seconds per image) and ``num_GS`` (line 1295);
  - the training loop (lines 1040-1052) writes ``stats/train_step{step:04d}_rank{rank}.json`` with ``mem``
    (``torch.cuda.max_memory_allocated() / 1024**3``) and ``ellipse_time`` (``time.time() - global_tic``: wall
    time since training started, evaluations included), then ``ckpts/ckpt_{step}_rank{rank}.pt`` (line 1071);
  - ``run_compression`` (lines 1412-1420) writes the compressed model into ``compression/rank{rank}/``.

* **nerfstudio** ``ns-eval`` (``nerfstudio/scripts/eval.py`` lines 50-60 at 50e0e3c) writes ``output.json``
  ``{"experiment_name", "method_name", "checkpoint", "results": {...}}``; ``results`` comes from
  ``VanillaPipeline.get_average_eval_image_metrics`` (``pipelines/base_pipeline.py`` lines 380-410): per view,
  ``num_rays_per_sec = H * W / t`` and ``fps = num_rays_per_sec / (H * W)`` with ``t`` timing the render *and* the
  view's metrics (and the image writes when ``--render-output-path`` is given); each key is the mean over views,
  ``<key>_std`` the standard deviation. The mean of ``1/t`` is not ``1 / mean t``, and ``t`` is not known, so it is
  stored as ``mean_frame_fps``, never as ``fps`` or ``render_ms``.
* **NerfBaselines** (nerfbaselines/nerfbaselines at cde53bd): ``training.py`` lines 388-391 write
  ``results-{step}.json`` beside ``predictions-{step}.tar.gz``; its ``nb_info`` (``io.py`` lines 361-362) holds
  ``total_train_time`` (s) and ``resources_utilization.gpu_memory``: MB (MiB) from ``nvidia-smi
  --query-compute-apps=...used_memory`` summed over the trainer's processes (``training.py`` lines 122-146), the
  maximum over the samples taken during training (line 748); ``results.py`` lines 114-117 read the same two keys.
* **Anything else**: a CSV with columns ``method,scene,figure,value,unit,source`` (:func:`read_figure_table`).
"""

from __future__ import annotations

import csv
import hashlib
import json
import math
import re
from dataclasses import dataclass
from pathlib import Path

from ..errors import EfficiencyError
from ..util.hashing import sha256_file

PLY_HEADER_MAX = 1 << 16  # bytes: a 3DGS header is ~2 kB (62 properties); more means this is not a PLY header


@dataclass(frozen=True)
class Figure:
    """One efficiency figure of one method on one scene, and where it came from.

    Attributes:
        figure: its name (:data:`nvs_eval.conventions.figures.FIGURES`).
        value: in the figure's stored unit.
        source: the file it was read from (a folder for a compressed model).
        sha256: that file's sha256 (a folder's: of its files' names and hashes).
        detail: what was read, in the tool's terms (``stats/val_step29999.json: ellipse_time 0.0061 s/image``).
    """

    figure: str
    value: float
    source: str
    sha256: str
    detail: str = ""

    def row(self) -> dict:
        return {"figure": self.figure, "value": self.value, "source": self.source, "detail": self.detail}


_PLY_TYPES = {"char": 1, "uchar": 1, "int8": 1, "uint8": 1, "short": 2, "ushort": 2, "int16": 2, "uint16": 2,
              "int": 4, "uint": 4, "int32": 4, "uint32": 4, "float": 4, "float32": 4, "double": 8, "float64": 8}


def ply_vertex_count(path: Path) -> int:
    """The ``element vertex N`` count of a PLY file, reading its header only (never the vertex data). For a binary
    PLY whose only element is ``vertex`` with scalar properties (3DGS's), the file's size is checked against the
    header, so a file cut short by a killed save is an error, not a count.

    Raises:
        EfficiencyError: not a PLY header, no vertex element, no ``end_header`` in the first 64 kB, or a size
            that does not match the header.

    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "point_cloud.ply"
    >>> _ = p.write_bytes(b"ply\\nformat binary_little_endian 1.0\\nelement vertex 2\\nproperty float x\\n"
    ...                   b"end_header\\n" + bytes(8))
    >>> ply_vertex_count(p)
    2
    """
    with open(path, "rb") as f:
        head = f.read(PLY_HEADER_MAX)
    end = head.find(b"end_header")
    if not head.startswith(b"ply") or end < 0:
        raise EfficiencyError("not a PLY header", path=path,
                              expected="'ply' ... 'end_header' within the first 64 kB (3DGS's point_cloud.ply)",
                              hint="the file may be truncated (training killed while saving?)")
    lines = head[:end].decode("ascii", "replace").splitlines()
    elements = [ln.split() for ln in lines if ln.startswith("element ")]
    vertex = [e for e in elements if len(e) == 3 and e[1] == "vertex" and e[2].isdigit()]
    if not vertex:
        raise EfficiencyError("PLY header has no 'element vertex N' line", path=path,
                              expected="a vertex element, one vertex per Gaussian")
    count = int(vertex[0][2])
    props = [ln.split() for ln in lines if ln.startswith("property ")]
    binary = any(ln.startswith("format binary") for ln in lines)
    if binary and len(elements) == 1 and props and all(len(p) == 3 and p[1] in _PLY_TYPES for p in props):
        body_start = end + len(b"end_header") + (2 if head[end + 10:end + 12] == b"\r\n" else 1)
        expected = body_start + count * sum(_PLY_TYPES[p[1]] for p in props)
        size = Path(path).stat().st_size
        if size != expected:
            raise EfficiencyError(f"{size} bytes, but its header describes {count} vertices of {len(props)} "
                                  f"properties: {expected} bytes", path=path,
                                  hint="the file is cut short or padded (training killed while saving?)")
    return count


def _tree_sha256(folder: Path) -> tuple[str, int]:
    """sha256 over a folder's files (relative name and content hash, sorted) and their total bytes."""
    h, total = hashlib.sha256(), 0
    for f in sorted(p for p in folder.rglob("*") if p.is_file()):
        h.update(f"{f.relative_to(folder).as_posix()}\0{sha256_file(f)}\n".encode())
        total += f.stat().st_size
    return h.hexdigest(), total


def _json_object(path: Path) -> dict:
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as e:
        raise EfficiencyError(f"not readable as JSON ({e})", path=path) from None
    if not isinstance(doc, dict):
        raise EfficiencyError(f"a JSON {type(doc).__name__}, not an object", path=path)
    return doc


def _number(doc: dict, key: str, path: Path, what: str) -> float | None:
    """``doc[key]`` as a finite number; ``None`` when absent; an error naming the file when not a number."""
    if key not in doc:
        return None
    v = doc[key]
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
        raise EfficiencyError(f"{key} is {v!r}, not a finite number", path=path, expected=what)
    return float(v)


# --- 3DGS ----------------------------------------------------------------------------------------------------


def threedgs_figures(model: Path, iteration: int) -> tuple[list[Figure], list[str]]:
    """``num_gaussians`` and ``model_bytes`` of ``model/point_cloud/iteration_<iteration>/point_cloud.ply``."""
    ply = model / "point_cloud" / f"iteration_{iteration}" / "point_cloud.ply"
    if not ply.is_file():
        return [], [f"{ply}: absent: num_gaussians and model_bytes not read (3DGS saves the PLY at each "
                    f"--save_iterations; the renders scored are of iteration {iteration})"]
    try:
        count = ply_vertex_count(ply)
    except EfficiencyError as e:
        return [], [f"{e}: num_gaussians and model_bytes not read"]
    sha, size = sha256_file(ply), ply.stat().st_size
    rel = f"point_cloud/iteration_{iteration}/point_cloud.ply"
    return [Figure("num_gaussians", float(count), str(ply), sha, f"{rel}: element vertex {count}"),
            Figure("model_bytes", float(size), str(ply), sha, f"{rel}: {size} bytes")], []


# --- gsplat --------------------------------------------------------------------------------------------------


def _stats_file(result: Path, stem: str) -> Path | None:
    f = result / "stats" / f"{stem}.json"
    return f if f.is_file() else None


def _gsplat_val(result: Path, step: int) -> tuple[list[Figure], list[str]]:
    f = _stats_file(result, f"val_step{step:04d}")
    if f is None:
        return [], [f"{result / 'stats' / f'val_step{step:04d}.json'}: absent: num_gaussians and render_ms not read"]
    try:
        doc = _json_object(f)
        n = _number(doc, "num_GS", f, "gsplat's number of Gaussians")
        t = _number(doc, "ellipse_time", f, "gsplat's seconds per rendered image")
    except EfficiencyError as e:
        return [], [f"{e}: num_gaussians and render_ms not read"]
    sha, out, notes = sha256_file(f), [], []
    if n is not None:
        out.append(Figure("num_gaussians", n, str(f), sha, f"stats/{f.name}: num_GS {int(n)}"))
    if t is not None:
        if t <= 0:
            notes.append(f"{f}: ellipse_time {t} is not a positive time: render_ms not read")
        else:
            out.append(Figure("render_ms", 1000 * t, str(f), sha, f"stats/{f.name}: ellipse_time {t:.6g} s/image"))
    missing = [k for k, v in (("num_GS", n), ("ellipse_time", t)) if v is None]
    if missing:
        notes.append(f"{f}: no {', '.join(missing)} (an older gsplat?): not read")
    return out, notes


def _gsplat_train(result: Path, step: int) -> tuple[list[Figure], list[str]]:
    files = sorted((result / "stats").glob(f"train_step{step:04d}_rank*.json"))
    if not files:
        return [], [f"{result / 'stats' / f'train_step{step:04d}_rank0.json'}: absent: train_seconds and "
                    "train_memory_gb not read (gsplat writes it at each --save-steps)"]
    secs, mems = [], []
    try:
        for f in files:
            doc = _json_object(f)
            secs.append((_number(doc, "ellipse_time", f, "seconds since training started"), f))
            mems.append((_number(doc, "mem", f, "GB of peak GPU memory"), f))
    except EfficiencyError as e:
        return [], [f"{e}: train_seconds and train_memory_gb not read"]
    out = []
    ranks = f" (the largest of {len(files)} ranks)" if len(files) > 1 else ""
    for name, vals, key, unit in (("train_seconds", secs, "ellipse_time", "s"), ("train_memory_gb", mems, "mem", "GB")):
        present = [(v, f) for v, f in vals if v is not None]
        if present:
            v, f = max(present, key=lambda p: p[0])
            out.append(Figure(name, v, str(f), sha256_file(f), f"stats/{f.name}: {key} {v:.6g} {unit}{ranks}"))
    return out, []


def _gsplat_size(result: Path, step: int) -> tuple[list[Figure], list[str]]:
    comp = result / "compression" / "rank0"
    if comp.is_dir() and any(comp.iterdir()):
        sha, size = _tree_sha256(comp)
        return [Figure("model_bytes", float(size), str(comp), sha,
                       f"compression/rank0/: {size} bytes (gsplat compression ran; the val_step renders scored are "
                       "of the model before compression)")], []
    ckpt = result / "ckpts" / f"ckpt_{step}_rank0.pt"
    if not ckpt.is_file():
        return [], [f"{ckpt}: absent: model_bytes not read"]
    size = ckpt.stat().st_size
    return [Figure("model_bytes", float(size), str(ckpt), sha256_file(ckpt), f"ckpts/{ckpt.name}: {size} bytes")], []


def gsplat_figures(result: Path, step: int) -> tuple[list[Figure], list[str]]:
    """Every figure a gsplat ``simple_trainer.py`` result folder records for ``step`` (the step scored)."""
    figures, notes = [], []
    for read in (_gsplat_val, _gsplat_train, _gsplat_size):
        f, n = read(result, step)
        figures += f
        notes += n
    return figures, notes


# --- nerfstudio ns-eval --------------------------------------------------------------------------------------


def find_ns_eval_output(folder: Path) -> Path | None:
    """``output.json`` written by ``ns-eval`` in ``folder`` or the folder above it (``--render-output-path``
    is usually beside ``--output-path``)."""
    for cand in (folder / "output.json", folder.parent / "output.json"):
        if cand.is_file():
            return cand
    return None


def ns_eval_figures(path: Path) -> tuple[list[Figure], list[str]]:
    """``mean_frame_fps`` (ns-eval's ``fps``, with its ``_std`` and ``num_rays_per_sec`` in the detail)."""
    try:
        doc = _json_object(path)
        results = doc.get("results")
        if not isinstance(results, dict):
            raise EfficiencyError("no 'results' object", path=path,
                                  expected="ns-eval's output.json: {experiment_name, method_name, checkpoint, results}")
        fps = _number(results, "fps", path, "ns-eval's mean of per-view FPS")
        std = _number(results, "fps_std", path, "its standard deviation over views")
        rays = _number(results, "num_rays_per_sec", path, "ns-eval's mean of per-view rays per second")
        rays_std = _number(results, "num_rays_per_sec_std", path, "its standard deviation over views")
    except EfficiencyError as e:
        return [], [f"{e}: mean_frame_fps not read"]
    if fps is None:
        return [], [f"{path}: results has no fps (ns-eval before it timed views?): mean_frame_fps not read"]
    detail = f"{path.name}: results.fps {fps:.6g}" + (f" ± {std:.3g} (std over views)" if std is not None else "")
    if rays is not None:
        detail += f"; num_rays_per_sec {rays:.6g}" + (f" ± {rays_std:.3g}" if rays_std is not None else "")
    detail += "; mean over views of 1/t, t including the view's metrics"
    return [Figure("mean_frame_fps", fps, str(path), sha256_file(path), detail)], []


# --- NerfBaselines -------------------------------------------------------------------------------------------


def find_nerfbaselines_results(predictions: Path) -> Path | None:
    """``results-{step}.json`` beside ``predictions-{step}[.tar.gz]`` (NerfBaselines ``training.py`` 388-391),
    else ``results.json`` beside or inside a ``predictions`` folder."""
    name = predictions.name.removesuffix(".tar.gz")
    m = re.fullmatch(r"predictions-(\d+)(-\w+)?", name)
    cands = [predictions.parent / f"results-{m.group(1)}{m.group(2) or ''}.json"] if m else []
    cands += [predictions.parent / "results.json", predictions / "results.json"]
    return next((c for c in cands if c.is_file()), None)


def nerfbaselines_figures(path: Path) -> tuple[list[Figure], list[str]]:
    """``train_seconds`` (``nb_info.total_train_time``) and ``train_memory_gb`` (``nb_info.resources_utilization.
    gpu_memory`` MB / 1024) of a NerfBaselines results JSON."""
    try:
        doc = _json_object(path)
        info = doc.get("nb_info")
        if not isinstance(info, dict):
            raise EfficiencyError("no 'nb_info' object", path=path, expected="a NerfBaselines results JSON")
        secs = _number(info, "total_train_time", path, "seconds of training")
        util = info.get("resources_utilization")
        mem = _number(util, "gpu_memory", path, "MB of GPU memory") if isinstance(util, dict) else None
    except EfficiencyError as e:
        return [], [f"{e}: train_seconds and train_memory_gb not read"]
    sha, out = sha256_file(path), []
    if secs is not None:
        out.append(Figure("train_seconds", secs, str(path), sha, f"{path.name}: nb_info.total_train_time {secs:g} s"))
    if mem is not None:
        gpu = util.get("gpu_name", "")
        out.append(Figure("train_memory_gb", mem / 1024, str(path), sha,
                          f"{path.name}: nb_info.resources_utilization.gpu_memory {mem:g} MB"
                          + (f" on {gpu}" if gpu else "")))
    missing = [k for k, v in (("total_train_time", secs), ("resources_utilization.gpu_memory", mem)) if v is None]
    return out, [f"{path}: nb_info has no {', '.join(missing)}: not read"] if missing else []


# --- a CSV for anything else ---------------------------------------------------------------------------------

# unit -> factor to the figure's stored unit
UNITS: dict[str, dict[str, float]] = {
    "num_gaussians": {"count": 1, "M": 1e6, "million": 1e6},
    "model_bytes": {"bytes": 1, "B": 1, "KB": 1e3, "MB": 1e6, "GB": 1e9, "MiB": 2 ** 20, "GiB": 2 ** 30},
    "render_ms": {"ms": 1, "s": 1000},
    "train_seconds": {"s": 1, "min": 60, "h": 3600},
    "train_memory_gb": {"GB": 1, "GiB": 1, "MB": 1 / 1024, "MiB": 1 / 1024},
    "mean_frame_fps": {"1/s": 1, "fps": 1},
}
TABLE_COLUMNS = ("method", "scene", "figure", "value", "unit", "source")


def read_figure_table(path: Path) -> dict[tuple[str, str], list[Figure]]:
    """``{(method, scene): figures}`` from a CSV with the header ``method,scene,figure,value,unit,source``, for
    tools that record nothing (each ``source`` says where the number came from: a log line, the paper's table).

    Raises:
        EfficiencyError: a missing column, an unknown figure or unit, a value that is not a number, a row given
            twice; each names the file and the line.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise EfficiencyError(f"not readable ({e})", path=path) from None
    reader = csv.DictReader(text.splitlines())
    if reader.fieldnames is None or any(c not in reader.fieldnames for c in TABLE_COLUMNS):
        raise EfficiencyError(f"header {reader.fieldnames}", path=path,
                              expected=f"the columns {','.join(TABLE_COLUMNS)}")
    sha, out, seen = sha256_file(path), {}, set()
    for line, row in enumerate(reader, start=2):
        where = f"line {line}"
        name, unit = row["figure"].strip(), row["unit"].strip()
        if name not in UNITS:
            raise EfficiencyError(f"{where}: figure {name!r}", path=path,
                                  expected=f"one of {', '.join(UNITS)} (fps is derived from render_ms)")
        if unit not in UNITS[name]:
            raise EfficiencyError(f"{where}: unit {unit!r} for {name}", path=path,
                                  expected=f"one of {', '.join(UNITS[name])}")
        try:
            value = float(row["value"])
        except ValueError:
            value = float("nan")
        if not math.isfinite(value) or value < 0:
            raise EfficiencyError(f"{where}: value {row['value']!r}", path=path, expected="a finite number >= 0")
        key = (row["method"].strip(), row["scene"].strip(), name)
        if key in seen:
            raise EfficiencyError(f"{where}: {name} of {key[0]} on {key[1]} given twice", path=path)
        seen.add(key)
        source = row["source"].strip()
        if not source:
            raise EfficiencyError(f"{where}: empty source", path=path, expected="where the number came from")
        out.setdefault(key[:2], []).append(
            Figure(name, value * UNITS[name][unit], str(path), sha, f"{path.name} {where}: {row['value']} {unit}; "
                                                                     f"source: {source}"))
    return out

