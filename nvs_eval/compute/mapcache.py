"""The per-pixel maps kept from scoring, for the report: ``<results>/maps/``, beside the store.

Scoring computes every render's maps (the absolute error, 1 - SSIM, each LPIPS spatial map, FLIP's) from the
values it already has: the LPIPS map comes from the render's features the score used, the error map from the
quantised render; only the SSIM map (the score is banded, the map is not) and FLIP's are drawn again, which is
cheap beside LPIPS. They are written reduced to the size the report shows (longest side at most
:data:`MAX_SIDE`, area mean) in float16, one ``.npy`` per map in an uncompressed ``.npz``; the report reads them
instead of decoding the view and running the networks again (docs/efficiency.md states the cost on disk).

A map is found only under the key of everything it depends on: the render's and the ground truth's sha256 (of the
files as they are when the report is written, so a render replaced since it was scored misses), the protocol's
settings digest and the weights of the maps' metrics (:func:`maps_signature`). A key that misses, an unreadable file
or one lacking a map the report needs is a miss: the report computes the maps as before and says so once. A map is
never shown stale.
"""

from __future__ import annotations

import hashlib
import io
import zipfile
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from ..conventions.registry import METRICS
from ..util.atomic import atomic_output
from .evaluator import weights_entry

MAPS_DIR = "maps"
MAX_SIDE = 640  # px: the report's largest use of a map (its viewer layers, report.pages.PREVIEW_MAX)
FORMAT = "1"  # bumped when what a file holds changes; part of every key


def map_kinds(metrics) -> tuple[str, ...]:
    """The maps :meth:`Evaluator.maps` draws for ``metrics``: ``abs``, then each plain built-in metric with a map."""
    return ("abs", *(m for m in metrics if METRICS[m].map_label and METRICS[m].family == "plain"
                     and METRICS[m].kind != "plugin"))


def maps_signature(evaluator) -> str:
    """What the maps depend on besides the images: the protocol's settings digest and the weights (and an opt-in
    precision) of the metrics with a map."""
    summary = evaluator.weights_summary()
    weights = ";".join(f"{m}={weights_entry(summary, m)}" for m in map_kinds(evaluator.metrics))
    return f"v{FORMAT}|{evaluator.protocol.key()}|{weights}"


def map_key(render_sha: str, gt_sha: str, signature: str) -> str:
    """The file name (sha256 hex) of one render's maps against one ground truth."""
    return hashlib.sha256(f"{render_sha}|{gt_sha}|{signature}".encode()).hexdigest()


def reduce_map(m: np.ndarray | torch.Tensor) -> np.ndarray:
    """A map as the report uses it: area mean down to a longest side of at most :data:`MAX_SIDE`, float16.

    >>> reduce_map(np.ones((1280, 640), np.float32)).shape
    (640, 320)
    """
    t = torch.as_tensor(m, dtype=torch.float32)
    h, w = t.shape
    scale = MAX_SIDE / max(h, w)
    if scale < 1:
        t = F.interpolate(t[None, None], size=(max(1, round(h * scale)), max(1, round(w * scale))), mode="area")[0, 0]
    return t.numpy().astype(np.float16)


class MapCache:
    """The maps of one results folder (``folder`` is ``<results>/maps``)."""

    def __init__(self, folder: Path | str):
        self.folder = Path(folder)

    @classmethod
    def beside(cls, store_path: Path | str) -> MapCache:
        """The maps of the store at ``store_path``; a shard's (``<out>/shards/...sqlite``, a ``torchrun`` rank's,
        :func:`.distributed.shard_path`) are those of the merged store in ``<out>``, where the report looks."""
        folder = Path(store_path).parent
        return cls((folder.parent if folder.name == "shards" else folder) / MAPS_DIR)

    def path(self, key: str) -> Path:
        return self.folder / key[:2] / f"{key}.npz"

    def put(self, key: str, maps: dict[str, np.ndarray]) -> None:
        """One render's reduced maps, written whole or not at all."""
        buf = io.BytesIO()
        np.savez(buf, **maps)
        with atomic_output(self.path(key)) as tmp:
            tmp.write_bytes(buf.getvalue())

    def get(self, key: str, kinds) -> dict[str, np.ndarray] | None:
        """The maps of ``kinds`` under ``key``, or ``None`` when any is missing or the file cannot be read."""
        path = self.path(key)
        if not path.is_file():
            return None
        try:
            with np.load(path) as z:
                if not set(kinds) <= set(z.files):
                    return None
                return {k: z[k] for k in kinds}
        except (OSError, ValueError, EOFError, zipfile.BadZipFile):  # truncated or foreign: a miss, computed again
            return None
