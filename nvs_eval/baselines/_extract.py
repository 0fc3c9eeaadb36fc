"""Regenerate the baseline files from NerfBaselines' published results pages (a maintainer's tool, not run by
nvs-eval): ``python -m nvs_eval.baselines._extract CHECKOUT COMMIT`` with ``CHECKOUT`` a clone of
github.com/nerfbaselines/nerfbaselines.github.io at ``COMMIT``.

Each dataset page (``mipnerf360.html``, ``blender.html``, ``tanksandtemples.html``) has one results table: a row
per method with its mean over the scenes, then a row per scene; each cell holds NerfBaselines' value and, where
NerfBaselines transcribed it from the method's paper, the paper's value ("Paper's PSNR: 27.41"). Both are written
out as printed, with their source; nothing is computed here (the means are the page's own, which the tests check
against the per-scene values).

The pages also print NerfBaselines' own training time ("Time", as ``23m 25s``) and GPU memory ("GPU mem.", as
``11.14 GB``) per method and scene: NerfBaselines' measurement on its GPU (each run's ``info.total_train_time`` and
``info.resources_utilization.gpu_memory``). They are written as the efficiency figures ``train_seconds`` (the
printed hours, minutes and seconds, in seconds) and ``train_memory_gb`` (the printed GB; NerfBaselines'
``results.format_memory`` prints its MB divided by 1024, so GB = 2**30 bytes, as in
:mod:`nvs_eval.conventions.figures`), for the NerfBaselines rows only (the papers' values are quality only).
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import yaml

PAGES = {"mipnerf360": "mipnerf360.html", "blender": "blender.html", "tanksandtemples": "tanksandtemples.html"}
METHODS = {"gaussian-splatting": "3DGS", "zipnerf": "Zip-NeRF", "mipnerf360": "Mip-NeRF 360",
           "instant-ngp": "Instant-NGP"}
HEADERS = {"PSNR": "psnr", "SSIM": "ssim", "LPIPS (VGG)": "lpips_vgg", "LPIPS": "lpips_alex",
           "Time": "train_seconds", "GPU mem.": "train_memory_gb"}
# the efficiency figures among HEADERS (nvs_eval.conventions.figures), and how the page prints each
FIGURE_HEADERS = {"train_seconds": "Time", "train_memory_gb": "GPU mem."}
EFFICIENCY = ("NerfBaselines' own measurement on its GPU (each run's info.total_train_time and "
              "info.resources_utilization.gpu_memory): train_seconds is the page's 'Time' column (printed as hours, "
              "minutes, seconds), train_memory_gb its 'GPU mem.' column (printed in GB = NerfBaselines' MB / 1024)")
# The protocol each paper's own numbers were computed with (nvs-eval preset) and the evidence for it.
PAPER_PROTOCOL = {
    "gaussian-splatting": ("3dgs", "graphdeco-inria/gaussian-splatting metrics.py, the evaluation script the paper's "
                                   "numbers come from"),
    "zipnerf": ("mipnerf360", "jonbarron/camp_zipnerf eval.py, multinerf's evaluation (render rounded to 8 bits, "
                              "dm_pix SSIM, LPIPS-VGG)"),
    "mipnerf360": ("mipnerf360", "google-research/multinerf eval.py"),
    "instant-ngp": ("unknown", "the paper does not say how SSIM/LPIPS were computed; instant-ngp's scripts/run.py "
                               "computes PSNR (and SSIM) on its own linear/sRGB conversion, not reproduced here"),
}


def _text(html: str) -> str:
    return re.sub(r"<[^>]+>", "", html).strip()


def parse_page(html: str) -> tuple[list[str], dict]:
    """(metric ids in column order, {method id: {"mean": row, "scenes": {scene: row}}}); a row is
    ``{metric: (value, paper value or None)}``."""
    table = html[html.index("<table") : html.index("</table>")]
    headers = [HEADERS.get(_text(h).strip()) for h in re.findall(r"<th[^>]*>(.*?)</th>", table, re.S)[2:]]
    out: dict[str, dict] = {}
    for attrs, body in re.findall(r"<tr([^>]*)>(.*?)</tr>", table, re.S):
        cells = re.findall(r"<td[^>]*>(.*?)</td>", body, re.S)
        row = {}
        for metric, cell in zip(headers, cells[2:]):
            if metric is None:
                continue
            value = re.search(r'table__allowcopy">([^<]*)<', cell)
            paper = re.search(r"Paper's [^:]*: ([-0-9.]+)", cell)
            if value and value.group(1).strip() not in ("", "-"):
                row[metric] = (value.group(1).strip(), paper.group(1) if paper else None)
        if m := re.search(r'data-expand-id="([^"]+)"', attrs):
            out.setdefault(m.group(1), {"scenes": {}})["mean"] = row
        elif m := re.search(r'data-expand-by="([^"]+)"', attrs):
            out.setdefault(m.group(1), {"scenes": {}})["scenes"][_text(cells[1])] = row
    return [h for h in headers if h], out


def _decimals(text: str | None) -> int:
    m = re.search(r"\.(\d+)", text) if text else None
    return len(m.group(1)) if m else 0


def number(metric: str, text: str) -> float:
    """A printed cell as a number in the figure's stored unit: ``"1h 2m 3s"`` -> 3723.0 seconds, ``"11.14 GB"`` ->
    11.14 (``"512.00 MB"`` -> 0.5: NerfBaselines prints MB below 1 GB); a metric's text as is.

    >>> number("train_seconds", "14m 60s"), number("train_memory_gb", "11.14 GB"), number("psnr", "27.43")
    (900.0, 11.14, 27.43)
    """
    if metric == "train_seconds":
        m = re.fullmatch(r"(?:(\d+)h)?\s*(?:(\d+)m)?\s*(?:(\d+)s)?", text.strip())
        if not m or not any(m.groups()):
            raise ValueError(f"a 'Time' cell {text!r}: expected hours, minutes and seconds such as '23m 25s'")
        h, mi, sec = (int(g or 0) for g in m.groups())
        return float(3600 * h + 60 * mi + sec)
    if metric == "train_memory_gb":
        m = re.fullmatch(r"([0-9.]+) (GB|MB)", text.strip())
        if not m:
            raise ValueError(f"a 'GPU mem.' cell {text!r}: expected a number and GB or MB, such as '11.14 GB'")
        return float(m.group(1)) / (1024.0 if m.group(2) == "MB" else 1.0)
    return float(text)


def _printed(rows: list[dict], i: int) -> dict[str, int]:
    """Decimals printed per metric (the most among ``rows``; YAML keeps the value, not its trailing zeros)."""
    out: dict[str, int] = {}
    for row in rows:
        for k, v in row.items():
            if v[i] is not None:
                out[k] = max(out.get(k, 0), _decimals(v[i]))
    return out


# Transcribed by hand, not generated: the 3DGS paper's own per-scene values at 30K iterations (Kerbl et al., "3D
# Gaussian Splatting for Real-Time Radiance Field Rendering", SIGGRAPH 2023, arXiv:2308.04079, Appendix D "Per-Scene
# Error Metrics": SSIM Table 7, PSNR Table 8, LPIPS Table 9), with the two-scene means its Table 1 prints.
# tests/baselines/test_baselines.py checks that the means reproduce Table 1. build() adds them to what it generates.
GS_PAPER = {"protocol": "3dgs",
            "evidence": "graphdeco-inria/gaussian-splatting metrics.py, the evaluation script the paper's numbers "
                        "come from",
            "source": "Kerbl et al. 2023, arXiv:2308.04079, Appendix D (Tables 7-9: SSIM, PSNR, LPIPS per scene, "
                      "Ours-30K); means from Table 1",
            "decimals": {"scenes": {"psnr": 3, "ssim": 3, "lpips_vgg": 3}, "mean": {"psnr": 2, "ssim": 3,
                                                                                   "lpips_vgg": 3}}}
TRANSCRIBED = {
    "tanksandtemples": {"3DGS (paper)": {
        **GS_PAPER, "scenes": {"truck": {"psnr": 25.187, "ssim": 0.879, "lpips_vgg": 0.148},
                               "train": {"psnr": 21.097, "ssim": 0.802, "lpips_vgg": 0.218}},
        "printed_mean": {"psnr": 23.14, "ssim": 0.841, "lpips_vgg": 0.183}}},
    "deepblending": {"3DGS (paper)": {
        **GS_PAPER, "scenes": {"drjohnson": {"psnr": 28.766, "ssim": 0.899, "lpips_vgg": 0.244},
                               "playroom": {"psnr": 30.044, "ssim": 0.906, "lpips_vgg": 0.241}},
        "printed_mean": {"psnr": 29.41, "ssim": 0.903, "lpips_vgg": 0.243}}},
}


TRANSCRIBED_HEADER = ("# Written by `python -m nvs_eval.baselines._extract` from its TRANSCRIBED entries (a paper's "
                      "tables,\n# transcribed by hand; each entry's source names them).\n")


def with_transcribed(files: dict[str, dict]) -> dict[str, dict]:
    """The generated files plus :data:`TRANSCRIBED` (a dataset NerfBaselines does not publish gets its own file)."""
    for dataset, entries in TRANSCRIBED.items():
        doc = files.setdefault(dataset, {"dataset": dataset, "metrics": ["psnr", "ssim", "lpips_vgg"], "methods": {}})
        doc["metrics"] = list(dict.fromkeys([*doc["metrics"], "lpips_vgg"]))
        doc["methods"].update(entries)
    return files


def build(checkout: Path, commit: str) -> dict[str, dict]:
    files = {}
    for dataset, page in PAGES.items():
        html = (checkout / page).read_text()
        metrics, methods = parse_page(html)
        where = f"nerfbaselines/nerfbaselines.github.io {page} @ {commit}"
        entries = {}
        for mid, name in METHODS.items():
            if mid not in methods:
                continue
            m = methods[mid]
            scenes = {s: {k: number(k, v[0]) for k, v in row.items()} for s, row in m["scenes"].items()}
            entries[f"{name} (NerfBaselines)"] = {
                "protocol": "nerfbaselines",
                "evidence": "NerfBaselines' own evaluation (nerfbaselines/evaluation.py), which the nerfbaselines "
                            "preset reproduces",
                "source": f"{where}: the method's row and its per-scene rows",
                "scenes": scenes,
                "printed_mean": {k: number(k, v[0]) for k, v in m["mean"].items()},
                "decimals": {"scenes": _printed(list(m["scenes"].values()), 0), "mean": _printed([m["mean"]], 0)},
            }
            if any(f in m["mean"] for f in FIGURE_HEADERS):
                entries[f"{name} (NerfBaselines)"]["efficiency"] = f"{EFFICIENCY}; {where}"
            paper_scenes = {s: {k: float(v[1]) for k, v in row.items() if v[1] is not None}
                            for s, row in m["scenes"].items()}
            paper_scenes = {s: r for s, r in paper_scenes.items() if r}
            if paper_scenes:
                protocol, evidence = PAPER_PROTOCOL[mid]
                entries[f"{name} (paper)"] = {
                    "protocol": protocol, "evidence": evidence,
                    "source": f"{where}: the paper's values as NerfBaselines transcribed them (\"Paper's ...\"); "
                              f"also in nerfbaselines/nerfbaselines nerfbaselines/methods/*_spec.py _paper_results",
                    "scenes": paper_scenes,
                    "printed_mean": {k: float(v[1]) for k, v in m["mean"].items() if v[1] is not None},
                    "decimals": {"scenes": _printed(list(m["scenes"].values()), 1), "mean": _printed([m["mean"]], 1)},
                }
        files[dataset] = {"dataset": dataset, "metrics": [k for k in metrics if k not in FIGURE_HEADERS],
                          "figures": [k for k in metrics if k in FIGURE_HEADERS], "methods": entries}
    return with_transcribed(files)


def main() -> None:
    checkout, commit = Path(sys.argv[1]), sys.argv[2]
    here = Path(__file__).parent
    for dataset, doc in build(checkout, commit).items():
        text = (f"# Generated by `python -m nvs_eval.baselines._extract` from {PAGES[dataset]} of\n"
                f"# github.com/nerfbaselines/nerfbaselines.github.io at {commit}; values as printed there\n"
                f"# (Time in seconds, GPU mem. in GB = 2^30 bytes: figures train_seconds, train_memory_gb).\n"
                if dataset in PAGES else TRANSCRIBED_HEADER)
        (here / f"{dataset}.yaml").write_text(text + yaml.safe_dump(doc, sort_keys=False, width=120))
    subprocess.run(["git", "-C", str(here), "status", "--short", "."], check=False)


if __name__ == "__main__":
    main()
