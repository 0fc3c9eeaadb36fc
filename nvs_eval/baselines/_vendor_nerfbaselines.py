"""Copy NerfBaselines' per-view results files into nvs-eval, byte for byte (a maintainer's tool, not run by
nvs-eval): ``python -m nvs_eval.baselines._vendor_nerfbaselines GIT_DIR`` with ``GIT_DIR`` a clone of
github.com/nerfbaselines/nerfbaselines that holds commit :data:`~nvs_eval.baselines.per_view.COMMIT` of its
``results`` branch.

Every ``results/<method>/<dataset>/<scene>.json`` of that commit is written unchanged under
``nerfbaselines_4c941b4/`` (the file as ``git show COMMIT:PATH`` prints it), and ``MANIFEST.json`` records for each
one the repository, branch, commit, path, git blob id, sha256 of the bytes, and the ``nb_version`` the file names.
Nothing is decoded or recomputed here; tests/baselines/test_per_view_baselines.py checks the files against the
manifest and the means against the per-view values.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path

from .per_view import BRANCH, COMMIT, DATA, MANIFEST, REPO


def _git(git_dir: str, *args: str) -> bytes:
    return subprocess.run(["git", "-C", git_dir, *args], check=True, capture_output=True).stdout


def vendor(git_dir: str) -> dict:
    """Write every results file of :data:`COMMIT` under :data:`DATA` and return the manifest."""
    files = []
    for line in _git(git_dir, "ls-tree", "-r", COMMIT, "results").decode().splitlines():
        meta, path = line.split("\t", 1)
        if not path.endswith(".json"):
            continue
        blob = meta.split()[2]
        data = _git(git_dir, "cat-file", "blob", blob)
        out = DATA / path
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_bytes(data)
        method, dataset, scene = Path(path).with_suffix("").parts[1:]
        files.append({"method": method, "dataset": dataset, "scene": scene, "path": path, "git_blob": blob,
                      "sha256": hashlib.sha256(data).hexdigest(),
                      "nb_version": json.loads(data)["info"]["nb_version"]})
    manifest = {"repository": f"github.com/{REPO}", "branch": BRANCH, "commit": COMMIT, "files": files}
    MANIFEST.write_text(json.dumps(manifest, indent=1) + "\n")
    return manifest


if __name__ == "__main__":
    print(f"{len(vendor(sys.argv[1])['files'])} files written under {DATA}")
