"""Test-split rules: which of a dataset's images each tool holds out for testing.

A rule turns the dataset's image names, in the order the tool sorts them, into the indices of its test views. Each
entry of :data:`SPLIT_RULES` cites where the tool does it; :func:`identify_split` names the rule that produces
exactly a given set of views (``custom`` when none does). docs/check.md explains each with its source.

* ``every-8th``: ``i % 8 == 0`` over the sorted names (``llffhold = 8``): 3DGS ``scene/dataset_readers.py``
  ``readColmapSceneInfo`` (cameras sorted by ``image_name``, test ``idx % llffhold == 0``), multinerf
  ``internal/datasets.py`` (``LLFF``: ``i_test = np.arange(n)[::config.llffhold]``), NerfBaselines
  ``nerfbaselines/datasets/colmap.py:234`` (``_select_indices_llff``) and ``datasets/mipnerf360.py:48-51``, and
  nerfstudio's ``interval`` mode with its default ``eval_interval = 8`` (below).
* ``test-list``: the names of a ``test_list.txt`` (NerfBaselines ``nerfbaselines/datasets/colmap.py:408-417``, which
  reads ``{split}_list.txt`` beside the scene) or a ``test.txt`` beside the dataset, one name per line.
* ``nerfstudio-fraction``: nerfstudio ``nerfstudio/data/utils/dataparsers_utils.py:23-43``
  (``get_train_eval_split_fraction``): ``ceil(n * 0.9)`` training indices ``linspace(0, n - 1, dtype=int)``, every
  other index is an eval view. The default ``eval_mode`` of nerfstudio's ``nerfstudio-data`` parser
  (``nerfstudio/data/dataparsers/nerfstudio_dataparser.py:62``, frames sorted by file name at line 130).
* ``nerfstudio-interval-N``: the same file, lines 71-87 (``get_train_eval_split_interval``): ``i % N == 0``; the
  default of the ``colmap`` parser (``colmap_dataparser.py:78`` and ``:88``). With N = 8 it is ``every-8th``.
* ``linspace-N``: sparse-view selections, ``np.linspace(0, n - 1, N)`` truncated to integers (the held-out or
  training views of few-shot papers: FSGS, DNGaussian, SparseNeRF).
* ``custom``: none of the above.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

LLFF_HOLD = 8
NERFSTUDIO_FRACTION = 0.9


@dataclass(frozen=True)
class SplitRule:
    """A named rule. ``match(test, names, scene_dir)`` gives its parameters when it produces exactly the sorted test
    indices ``test`` among ``names`` (``None`` when it does not); ``label`` names it with them."""

    name: str
    description: str
    source: str
    match: Callable[[list[int], list[str], Path | None], dict | None]
    label: Callable[[dict], str] = lambda params: ""


def every_nth(n: int, k: int = LLFF_HOLD) -> list[int]:
    return list(range(0, n, k))


def nerfstudio_fraction(n: int, fraction: float = NERFSTUDIO_FRACTION) -> list[int]:
    train = set(np.linspace(0, n - 1, math.ceil(n * fraction), dtype=int).tolist())
    return [i for i in range(n) if i not in train]


def linspace(n: int, k: int) -> list[int]:
    return sorted(set(np.linspace(0, n - 1, k).astype(int).tolist()))


def read_test_list(scene_dir: Path) -> tuple[Path, list[str]] | None:
    """A test list beside the dataset (``test_list.txt``, else ``test.txt``): its file and its names."""
    for name in ("test_list.txt", "test.txt"):
        p = Path(scene_dir) / name
        if p.is_file():
            return p, [line.strip() for line in p.read_text(encoding="utf-8").splitlines() if line.strip()]
    return None


def _test_list(got: list[int], names: list[str], scene_dir: Path | None) -> dict | None:
    listed = read_test_list(scene_dir) if scene_dir is not None else None
    if listed is None:
        return None
    path, wanted = listed
    stems = {Path(w).stem for w in wanted}
    return {"file": str(path)} if got == [i for i, nm in enumerate(names) if nm in wanted or Path(nm).stem in stems] \
        else None


def _interval(got: list[int], names: list[str], _) -> dict | None:
    return next(({"interval": k} for k in range(2, len(names)) if k != LLFF_HOLD and got == every_nth(len(names), k)),
                None)


def _when(ok: bool, params: dict | None = None) -> dict | None:
    return (params or {}) if ok else None


# In the order they are tried: the first that produces exactly the views names them.
SPLIT_RULES: dict[str, SplitRule] = {r.name: r for r in (
    SplitRule("every-8th", "i % 8 == 0 over the sorted image names (llffhold = 8)",
              "3DGS scene/dataset_readers.py readColmapSceneInfo; multinerf internal/datasets.py (llffhold); "
              "NerfBaselines datasets/colmap.py:234", lambda got, names, _: _when(got == every_nth(len(names)))),
    SplitRule("test-list", "the names listed in test_list.txt / test.txt beside the dataset",
              "NerfBaselines datasets/colmap.py:408-417 ({split}_list.txt)", _test_list),
    SplitRule("nerfstudio-fraction", "nerfstudio's default: linspace training indices (90%), the rest eval",
              "nerfstudio data/utils/dataparsers_utils.py:23-43 (get_train_eval_split_fraction)",
              lambda got, names, _: _when(bool(got) and got == nerfstudio_fraction(len(names)),
                                          {"fraction": NERFSTUDIO_FRACTION})),
    SplitRule("nerfstudio-interval", "i % N == 0 (nerfstudio's interval mode; N = 8 is every-8th)",
              "nerfstudio data/utils/dataparsers_utils.py:71-87 (get_train_eval_split_interval)", _interval,
              lambda params: f"-{params['interval']}"),
    SplitRule("linspace", "N views at np.linspace(0, n - 1, N) (sparse-view selections)", "FSGS / DNGaussian style",
              lambda got, names, _: _when(0 < len(got) < len(names) and got == linspace(len(names), len(got)),
                                          {"n": len(got)}),
              lambda params: f"-{params['n']}"),
    SplitRule("custom", "no known rule produces exactly these views", "", lambda got, names, _: None),
)}


def identify_split(indices: list[int], names: list[str], scene_dir: Path | None = None) -> tuple[str, dict]:
    """The first rule of :data:`SPLIT_RULES` that produces exactly ``indices`` (among the sorted ``names``): its
    name (with its parameter, ``linspace-3``) and its parameters.

    >>> identify_split([0, 8, 16], [f"{i:03d}.png" for i in range(20)])
    ('every-8th', {})
    >>> identify_split([0, 9, 19], [f"{i:03d}.png" for i in range(20)])
    ('linspace-3', {'n': 3})
    """
    got = sorted(indices)
    for rule in SPLIT_RULES.values():
        params = rule.match(got, names, scene_dir)
        if params is not None:
            return rule.name + rule.label(params), params
    return "custom", {}
