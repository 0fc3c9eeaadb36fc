"""What writing the report costs beside scoring, in one run: the demo scored, then its report written.

Timed in this one process, one after the other, so both see the same machine: scoring the demo (keeping the maps
for the report, as ``evaluate`` does), scoring it again without keeping them (the cost of keeping), the report
(maps read from the kept ones, figures in the process pool), and the report as before this change would compute
the maps (the kept maps moved aside). Then ``nvs-eval demo`` end to end in a subprocess. The load average is
printed before and after: on a shared machine it decides the absolute times; the ratio is what is compared.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from functools import partial
from pathlib import Path


def _dir_bytes(p: Path) -> int:
    return sum(f.stat().st_size for f in p.rglob("*") if f.is_file())


def _timed(fn) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def _score(config, out: Path, keep_maps: bool) -> float:
    import nvs_eval.api as api
    from nvs_eval.compute.runner import run_scene

    api.run_scene = partial(run_scene, keep_maps=keep_maps)  # evaluate() always keeps; this turns it off
    try:
        return _timed(lambda: api.evaluate(config, out, device="cpu", progress=False))
    finally:
        api.run_scene = run_scene


def report_cost(views: int | None = None, demo: bool = True, smoke: bool = False) -> list[str]:
    """The demo's scoring and report times, their ratio, the kept maps' disk cost, and the demo's wall time (at
    ``views`` per scene; default the demo's own). ``smoke``: the harness only (CI): one scene, PSNR, SSIM and
    LPIPS-Alex, so it runs in seconds."""
    from nvs_eval.compute.mapcache import MAPS_DIR
    from nvs_eval.data.demo import VIEWS, build_demo

    views = VIEWS if views is None else views
    from nvs_eval.report import write_report
    from nvs_eval.report.work import figure_workers

    load0 = os.getloadavg()
    root = Path(tempfile.mkdtemp(prefix="nvs-report-cost-"))
    try:
        if smoke:
            from nvs_eval.data.demo import SCENES

            config = build_demo(root / "data", views_per_scene=views, scenes=SCENES[:1])
            text = config.read_text()
            first = next(line for line in text.splitlines() if line.startswith("metrics:"))
            config.write_text(text.replace(first, "metrics: [psnr, ssim, lpips_alex]"))
        else:
            config = build_demo(root / "data", views_per_scene=views)
        t = {"score, maps kept": _score(config, root / "results", True),
             "score, maps not kept": _score(config, root / "results-plain", False)}
        store = root / "results" / "results.sqlite"
        t["report, maps read"] = _timed(lambda: write_report(store, root / "report"))
        maps = root / "results" / MAPS_DIR
        shutil.move(maps, root / "maps-aside")
        t["report, maps computed"] = _timed(lambda: write_report(store, root / "report2"))
        shutil.move(root / "maps-aside", maps)
        kept_bytes, files = _dir_bytes(maps), len(list(maps.rglob("*.npz")))
        report_bytes = _dir_bytes(root / "report")
        if demo:
            t["nvs-eval demo (whole, subprocess)"] = _timed(lambda: subprocess.run(
                [sys.executable, "-m", "nvs_eval", "demo", "--out", str(root / "demo"), "--views", str(views)],
                check=True, capture_output=True))
    finally:
        shutil.rmtree(root, ignore_errors=True)
    load1 = os.getloadavg()
    ratio = t["report, maps read"] / t["score, maps kept"]
    return [f"Report cost beside scoring, the demo ({views} views per scene), cpu, figures in {figure_workers()} "
            f"process(es); load average (1, 5, 15 min) {load0[0]:.1f}, {load0[1]:.1f}, {load0[2]:.1f} before and "
            f"{load1[0]:.1f}, {load1[1]:.1f}, {load1[2]:.1f} after, on {os.cpu_count()} cores:", "",
            "| step | s |", "|---|---:|"] + [f"| {k} | {v:.1f} |" for k, v in t.items()] + [
            "", f"**report / score = {ratio:.2f}** (maps kept; before: "
            f"{t['report, maps computed'] / t['score, maps not kept']:.2f} with the maps computed by the report). "
            f"Keeping the maps costs scoring {t['score, maps kept'] / t['score, maps not kept'] - 1:+.0%}. "
            f"Kept maps on disk: {kept_bytes / 2**20:.1f} MiB in {files} files "
            f"({kept_bytes / max(files, 1) / 2**10:.0f} KiB per render); the report: {report_bytes / 2**20:.1f} MiB.",
            ""]
