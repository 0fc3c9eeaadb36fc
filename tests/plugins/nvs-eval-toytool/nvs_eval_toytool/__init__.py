"""A made-up tool, its dataset and its protocol, as a third-party package adds them to nvs-eval.

* layout ``toytool``: a run folder with ``toytool.json`` and ``eval/<view>_pred.png`` beside ``eval/<view>_true.png``;
* dataset kind ``toyset``: a scene folder whose ``test.txt`` lists its test images (in ``images/``), in order;
* protocol ``toy-3dgs``: 3DGS's preset with both images truncated to 8 bits instead of rounded.
"""

from pathlib import Path

from nvs_eval.data.scene import Scene
from nvs_eval.plugin import dataset, layout, protocol


def _is_run(path: Path) -> bool:
    return (path / "toytool.json").is_file() and (path / "eval").is_dir()


def _views(path: Path, suffix: str) -> dict:
    return {f.name[: -len(suffix)]: f for f in sorted((path / "eval").glob(f"*{suffix}"))}


def _load(path: Path, *, method=None, dataset="default", **_) -> list:
    name = method or path.name
    return [Scene(dataset, path.name, _views(path, "_true.png"), {name: _views(path, "_pred.png")},
                  folders={"": path / "eval", name: path / "eval"})]


def _test_views(scene_dir: Path, images: str = "images") -> dict:
    names = (scene_dir / "test.txt").read_text().split()
    return {Path(n).stem: scene_dir / images / n for n in names}


toytool = layout("toytool", "toytool run: toytool.json, eval/<view>_pred.png and eval/<view>_true.png", _is_run, _load)
toyset = dataset("toyset", "toyset: the images test.txt lists, in its order", _test_views)
toy_3dgs = protocol("toy-3dgs", base="3dgs", source="toytool eval.py (uint8 cast)", quantize="truncate")
