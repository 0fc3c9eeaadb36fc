"""The statistics of a large synthetic store: every step a report runs, timed once each."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent


def stats_cost(scenes: int = 9, views: int = 200, methods: int = 10, runs: int = 3) -> list[str]:
    """The statistics of a large synthetic store: every step a report runs, timed once each (seconds)."""
    import pandas as pd

    from nvs_eval.report.table import build_tables
    from nvs_eval.results.aggregate import dataset_summary, run_key, split_runs
    from nvs_eval.results.stats import bootstrap_ci, pairwise

    rng = np.random.default_rng(0)
    difficulty = rng.normal(0, 1.5, (scenes, views)) + np.arange(scenes)[:, None]
    rows = []
    for m in range(methods):
        for r in range(runs):
            vals = 25 + 0.1 * m + difficulty + rng.normal(0, 0.3, (scenes, views))
            for s_ in range(scenes):
                rows += [{"dataset": "d", "scene": f"s{s_}", "method": run_key(f"m{m}", f"r{r}"), "view": f"{v:03d}",
                          "psnr": float(vals[s_, v]), "ssim": float(0.8 + vals[s_, v] / 1000)} for v in range(views)]
    per_view = pd.DataFrame(rows)
    averaged = split_runs(per_view).groupby(["dataset", "scene", "method", "view"], as_index=False)[["psnr"]].mean()
    steps = {}

    def timed(name, fn):
        t = time.perf_counter()
        fn()
        steps[name] = time.perf_counter() - t

    timed("mean ± std over runs, all metrics (dataset_summary)", lambda: dataset_summary(per_view))
    timed(f"95% two-level bootstrap CI, {methods} methods at once, 10,000 resamples (one metric)",
          lambda: bootstrap_ci(averaged, "psnr"))
    timed(f"all {methods * (methods - 1) // 2} paired tests + bootstrap CIs + Holm (one metric)",
          lambda: pairwise(averaged, "psnr"))
    timed("the report's tables (2 metrics: ± over runs, † significance vs the best)",
          lambda: build_tables(per_view, "nvs-eval", ["psnr", "ssim"]))
    n = len(per_view)
    return [f"Statistics of a synthetic store: {scenes} scenes x {views} views x {methods} methods x {runs} runs "
            f"({n:,} per-view rows per metric), cpu, one process:", "",
            "| step | s |", "|---|---:|"] + [f"| {k} | {v:.2f} |" for k, v in steps.items()] + [""]
