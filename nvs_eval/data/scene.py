"""The unit every loader produces: one scene's ground-truth views and each method's renders."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from .images import CanvasHalf

ImageRef = Path | CanvasHalf


@dataclass
class Scene:
    """One scene: ground-truth views and, per method, its renders (both keyed by view id, in view order).

    Attributes:
        background: RGB that RGBA images are composited on, when the dataset fixes it (Blender: white).
        notes: what the loader noticed and the user should read (printed by ``score``).
        folders: where the ground truth (key ``""``) and each method were listed, for error messages.
        auxiliary: method -> {file left out of scoring: its suffix}, found by the loader (pairing adds the rest).
        reported: method -> the means the training tool itself reported (gsplat's stats JSON, multinerf's
            metric files), shown beside nvs-eval's numbers.
        reported_doc: the page that explains why the tool's own means differ from nvs-eval's.
        masks: view id -> its mask image (``--masks``), for the masked metrics.
        mask_from_gt_alpha: the masks are the ground truth's alpha channels instead.
        origin: method -> what of its run was read (``iteration 30000 (test/ours_30000)``), printed with the
            table, since the method is named by its run folder.
        efficiency: method -> the efficiency figures its training tool recorded
            (:class:`nvs_eval.data.efficiency.Figure`: the number of Gaussians, size, times, memory), each with its
            source file; the reasons a figure the tool should have written was not read are in ``notes``.
        source: the dataset scene the ground truth is checked against (``nvs-eval check``): ``(kind, scene folder,
            image folder, own)``, ``own`` when the ground truth *is* that dataset's files (a dataset kind, multinerf).
        signature: the installed packages that defined this scene's ground truth or pairing (a plugin layout or
            dataset kind: ``layout toy-tool: nvs-eval-toytool==0.3.0``), empty for the built-ins; part of every
            stored row's ground-truth identity, so an upgraded plugin never reuses stored rows silently.
    """

    dataset: str
    name: str
    gt: dict[str, ImageRef]
    renders: dict[str, dict[str, ImageRef]]
    background: tuple[float, float, float] | None = None
    notes: list[str] = field(default_factory=list)
    folders: dict[str, Path] = field(default_factory=dict)
    auxiliary: dict[str, dict[str, str]] = field(default_factory=dict)
    reported: dict[str, dict[str, float]] = field(default_factory=dict)
    reported_doc: str = "docs/layouts.md"
    masks: dict[str, Path] = field(default_factory=dict)
    mask_from_gt_alpha: bool = False
    source: tuple[str, Path, str, bool] | None = None
    origin: dict[str, str] = field(default_factory=dict)
    efficiency: dict[str, list] = field(default_factory=dict)
    signature: str = ""


def sign(scenes: list[Scene], what: str, plugin: str | None) -> list[Scene]:
    """Add ``what`` (``layout toy-tool``) from the package ``plugin`` (``name==version``) to each scene's
    :attr:`Scene.signature`; a built-in (``plugin`` ``None``) adds nothing."""
    if plugin:
        for s in scenes:
            entry = f"{what}: {plugin}"
            if entry not in s.signature.split("; "):
                s.signature = f"{s.signature}; {entry}" if s.signature else entry
    return scenes


def read_reported(path: Path, names: Mapping[str, str]) -> tuple[dict[str, float], list[str]]:
    """The means a training tool wrote as a JSON object (gsplat's ``stats/val_step*.json``, DyCheck's
    ``mean_metrics_dict.json``), its keys renamed by ``names`` (keys not in it are left out), and the note to print
    when the file cannot be read: such a file is never an error, but it is never skipped silently either."""
    try:
        stats = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(stats, dict):
            raise ValueError(f"a JSON {type(stats).__name__}, not an object")
    except (OSError, UnicodeDecodeError, ValueError) as e:
        return {}, [f"{path}: the tool's own means are not shown: not readable as a JSON object ({e})"]
    means = {names[k]: float(v) for k, v in stats.items()
             if k in names and isinstance(v, (int, float)) and not isinstance(v, bool)}
    odd = sorted(k for k, v in stats.items() if k in names and names[k] not in means)
    note = [f"{path}: {', '.join(odd)} not a number, left out of the tool's own means"] if odd else []
    return means, note
