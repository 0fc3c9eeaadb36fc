"""The training tools' own means beside nvs-eval's (``nvs-eval score`` prints them; its JSON keeps them)."""

from __future__ import annotations

import math

from ..conventions.registry import METRICS


def reported_comparison(paired, df, metrics) -> list[dict]:
    """Each mean a training tool reported for a scene (gsplat's stats JSON, multinerf's metric files: a loader
    puts them in ``scene.reported``) beside nvs-eval's mean of the same metric over the same method's views in
    ``df``, with the difference (nvs-eval's minus the tool's) and the page that says why they differ."""
    out = []
    for p in paired:
        for method, rep in p.scene.reported.items():
            mine = df[(df["scene"] == p.scene.name) & (df["method"] == method)]
            for key, value in rep.items():
                ours = key if key in metrics else next((m for m in metrics if METRICS[m].kind == key), None)
                if ours is None or mine.empty:
                    continue
                mean = float(mine[ours].mean())
                out.append({"scene": p.scene.name, "method": method, "metric": ours, "reported": value,
                            "nvs_eval": mean, "difference": mean - value, "doc": p.scene.reported_doc})
    return out


def _num(v: float):
    """``v``, or its text where JSON has no number for it (``inf``, ``nan``)."""
    return v if math.isfinite(v) else str(v)


def score_document(protocol, metrics, df, paired, reported, efficiency=None) -> dict:
    """``nvs-eval score --json``'s document: the protocol's settings, every view's values, each method's means,
    the auxiliary files set aside, the tools' own means (:func:`reported_comparison`), the spread over runs, and
    the efficiency figures where read."""
    from .aggregate import run_spread

    doc = {
        "protocol": protocol.settings(),
        "metrics": list(metrics),
        "views": [{"method": r["method"], "view": r["view"], **{m: _num(float(r[m])) for m in metrics}}
                  for r in df.to_dict("records")],
        "mean": {m: {k: _num(float(v)) for k, v in g[list(metrics)].mean().items()}
                 for m, g in df.groupby("method", sort=False)},
        "auxiliary": {f"{p.scene.name}/{m}": a for p in paired for m, a in p.auxiliary_summary().items()},
        "reported": reported,
        "runs": {m: {k: {key: v if key == "runs" else _num(v) for key, v in st.items()} for k, st in per.items()}
                 for m, per in run_spread(df, metrics).items()},
    }
    if efficiency is not None:
        from .efficiency import json_rows

        doc["efficiency"] = json_rows(efficiency)
    return doc
