"""``report --format survey``: the 3DGS compression survey's per-scene CSVs (github.com/w-m/3dgs-compression-survey).

The survey keeps one folder per method, with ``<Dataset>/<scene>.csv`` files whose header is
``Submethod,PSNR,SSIM,LPIPS,Size [Bytes],#Gaussians`` (its ``sources/results_kerbl20233dgs/MipNeRF360/bicycle.csv``,
for example). The datasets are named ``MipNeRF360``, ``TanksAndTemples``, ``DeepBlending`` and ``SyntheticNeRF``.
Its conventions are the 3DGS paper's: all 9 Mip-NeRF 360 scenes, every 8th image held out, the longest side at
most 1,600 px, and 3DGS's ``metrics.py`` (LPIPS-VGG). A condition that the store cannot show to be met (no
``nvs-eval check`` of a scene, a scene that is not comparable, another protocol, a missing scene or figure) is
named on the command line and in a README beside the files. Nothing is left out silently.
"""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd

from ..conventions.registry import DEFAULT_AGGREGATION
from ..results.aggregate import scene_summary
from ..results.export import atomic_write_text

SURVEY_DATASETS = {"mipnerf360": "MipNeRF360", "tanksandtemples": "TanksAndTemples", "deepblending": "DeepBlending",
                   "blender": "SyntheticNeRF"}
HEADER = "Submethod,PSNR,SSIM,LPIPS,Size [Bytes],#Gaussians"


def _kind(dataset: str, checks: dict) -> str | None:
    from .table import _check_kind

    return _check_kind(dataset, checks)


def _num(v: float, digits: int) -> str:
    return "" if v is None or not math.isfinite(v) else f"{v:.{digits}f}"


def _scene_problems(dataset: str, name: str, kind: str | None, scenes: list[str], checks: dict) -> list[str]:
    """The survey's conditions a dataset's scenes do not meet: scenes of the dataset missing, scenes not checked
    or not comparable."""
    from ..data.datasets import DATASET_KINDS

    problems = []
    if kind in DATASET_KINDS:
        missing = [s for s in DATASET_KINDS[kind].scenes if s not in scenes]
        if missing:
            problems.append(f"{name}: {len(missing)} of the dataset's scenes missing: {', '.join(missing)}")
    for scene in scenes:
        check = checks.get((dataset, scene))
        if check is None:
            problems.append(f"{name}/{scene}: not checked (the split and resolution are unknown; score or "
                            "evaluate with the dataset root to check them)")
        elif not check["comparable"]:
            problems.append(f"{name}/{scene}: not comparable: {'; '.join(check['reasons'])}")
    return problems


def write_survey(out: Path, per_view: pd.DataFrame, efficiency: pd.DataFrame | None, checks: dict, protocol: str,
                 aggregation: str = DEFAULT_AGGREGATION) -> tuple[Path, list[str]]:
    """Write ``out/survey/<method>/<Dataset>/<scene>.csv`` and ``out/survey/README.md``; returns the folder and
    the conditions not met (also in the README)."""
    from ..results.efficiency import scene_values

    root = out / "survey"
    problems = []
    if not protocol.startswith("3dgs"):
        problems.append(f"protocol {protocol}, not 3dgs (the survey's numbers come from 3DGS's metrics.py)")
    summary = scene_summary(per_view, aggregation)
    eff = efficiency if efficiency is not None else pd.DataFrame(columns=["dataset", "scene", "method", "run",
                                                                          "figure", "value", "source", "detail"])
    for dataset, g in summary.groupby("dataset", sort=True):
        kind = _kind(dataset, checks)
        name = SURVEY_DATASETS.get(kind or "", dataset)
        if kind not in SURVEY_DATASETS:
            problems.append(f"dataset {dataset}: not one of the survey's ({', '.join(SURVEY_DATASETS.values())}); "
                            f"written as {name}")
        problems += _scene_problems(dataset, name, kind, sorted(g["scene"].unique()), checks)
        for method, mg in g.groupby("method", sort=True):
            for r in mg.to_dict("records"):
                figs = scene_values(eff, dataset, r["scene"], [method])
                size = figs.values.get((method, "model_bytes"), math.nan)
                count = figs.values.get((method, "num_gaussians"), math.nan)
                lp = r.get("lpips_vgg", math.nan)
                for what, v in (("LPIPS (lpips_vgg)", lp), ("Size [Bytes]", size), ("#Gaussians", count)):
                    if v is None or not math.isfinite(v):
                        problems.append(f"{method} on {name}/{r['scene']}: no {what}; its cell is empty")
                row = [method, _num(r.get("psnr", math.nan), 3), _num(r.get("ssim", math.nan), 3), _num(lp, 3),
                       _num(size, 0), _num(count, 0)]
                atomic_write_text(root / method / name / f"{r['scene']}.csv", HEADER + "\n" + ",".join(row) + "\n")
    readme = ["# nvs-eval results in the 3DGS compression survey's format", "",
              f"Protocol {protocol}; aggregation {aggregation}. PSNR, SSIM and LPIPS (lpips_vgg) are nvs-eval's, "
              "computed from the renders; Size [Bytes] and #Gaussians are the training tools' own figures "
              "(docs/efficiency.md), averaged over runs.", ""]
    readme += (["## Conditions not met", ""] + [f"- {p}" for p in problems] if problems
               else ["Every condition the store can show is met."])
    atomic_write_text(root / "README.md", "\n".join(readme) + "\n")
    return root, problems
