"""Published per-scene results of widely compared methods, to print beside your own (``nvs-eval baselines``,
``nvs-eval report --baselines mipnerf360``).

One YAML file per dataset in this folder. Every entry records where its numbers come from (``source``: page or
file and commit), the protocol they were computed with (an nvs-eval preset, or ``unknown``) and the ``evidence``
for it, the per-scene values and the mean as the source prints it; ``decimals`` says how many digits the source
printed (YAML keeps values, not trailing zeros). tests/baselines/test_baselines.py recomputes every mean from its
per-scene values and checks it against the printed one, within the printing's rounding.

The files are generated from NerfBaselines' published results pages by :mod:`nvs_eval.baselines._extract` (values
as printed there, nothing recomputed): NerfBaselines' own evaluation of each method (protocol ``nerfbaselines``),
and the paper's per-scene values as NerfBaselines transcribed them (their means are NerfBaselines' mean of those
values: 27.20 for 3DGS on Mip-NeRF 360, whose paper prints 27.21).

The NerfBaselines entries also hold the training time and GPU memory the pages print, as the efficiency figures
``train_seconds`` and ``train_memory_gb`` (:mod:`nvs_eval.conventions.figures`) in the same per-scene rows and
printed mean; ``efficiency`` says what they are (NerfBaselines' own measurement on its GPU) and where they come from.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import yaml

from ..errors import UsageError

HERE = Path(__file__).parent


@dataclass(frozen=True)
class Baseline:
    """One method's published results on one dataset."""

    dataset: str
    name: str
    protocol: str
    evidence: str
    source: str
    scenes: dict[str, dict[str, float]]
    printed_mean: dict[str, float]
    decimals: dict[str, dict[str, int]]
    efficiency: str = ""  # what the efficiency figures among the values are and their source; "" when none

    def mean(self, metric: str, scenes: list[str]) -> float:
        """The mean over ``scenes`` (NaN unless every one has a value): the printed mean when they are exactly the
        source's scenes, else recomputed from the per-scene values."""
        if sorted(scenes) == sorted(self.scenes) and metric in self.printed_mean:
            return self.printed_mean[metric]
        vals = [self.scenes.get(s, {}).get(metric) for s in scenes]
        return float("nan") if not vals or any(v is None for v in vals) else sum(vals) / len(vals)


def datasets() -> list[str]:
    """The datasets with a baselines file."""
    return sorted(p.stem for p in HERE.glob("*.yaml"))


def load(dataset: str) -> list[Baseline]:
    """Every baseline of ``dataset`` (``mipnerf360``, ``blender``, ``tanksandtemples``).

    >>> [b.name for b in load("mipnerf360")][:2]
    ['3DGS (NerfBaselines)', '3DGS (paper)']
    """
    path = HERE / f"{dataset}.yaml"
    if not path.is_file():
        raise UsageError(f"no published baselines for {dataset!r}; available: {', '.join(datasets())}")
    doc = yaml.safe_load(path.read_text())
    return [Baseline(doc["dataset"], name, e["protocol"], e["evidence"], e["source"], e["scenes"], e["printed_mean"],
                     e["decimals"], e.get("efficiency", "")) for name, e in doc["methods"].items()]
