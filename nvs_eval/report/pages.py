"""Reports from the results store: LaTeX / Markdown / CSV tables, figures and a static HTML report.

The report is one relocatable folder: every link is relative and no file in it names an absolute path, so it can
be moved, zipped or published. It stays small whatever the views' resolution: the viewer's layers are WebP
previews whose longest side is at most :data:`PREVIEW_MAX` px, the original files of larger views are copied in
up to :data:`FULL_RES_BUDGET` bytes (the rest left out, with a note), and the comparison figures are JPEG. The demo
report went from 32 MB (full-resolution PNG layers) to the size stated in README.md.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sys
from pathlib import Path

import numpy as np

from ..conventions.registry import DEFAULT_AGGREGATION, DEFAULT_SIGNIFICANCE, MAP_LABELS, METRICS, STORE_NAME
from ..errors import StoreError, UsageError, option
from ..results.aggregate import RUN_SEP, display_name, first_runs, split_runs, with_run_column
from ..results.export import atomic_output, atomic_write_text, check_output_folder
from ..util.version import __version__
from .html import write_assets, write_page
from .latex import PACKAGES, render_document, render_latex
from .markdown import render_csv, render_markdown
from .table import build_tables
from .work import ReportWork, page_written

FORMATS = ("latex", "md", "csv", "html")
EXTRA_FORMATS = ("survey",)  # only when asked: the 3DGS compression survey's CSVs (report/survey.py)
REPORT_MARKER = ".nvs-eval-report"
PREVIEW_MAX = 640  # px, longest side of a viewer layer
PREVIEW_QUALITY = 85
NO_COMPARISONS = {"comparisons": [], "comparisons_note": "", "viewer_data": None, "missing": []}  # figures=False
FULL_RES_BUDGET = 16 << 20  # bytes of full-resolution copies of the viewer's layers per report


def _slug(text: str) -> str:
    safe = "".join(ch if ch.isalnum() or ch in "-_" else "_" for ch in text)[:40]
    return f"{safe}-{hashlib.sha256(text.encode()).hexdigest()[:8]}"


def write_report(store_path: Path | str, out: Path | str, formats: tuple[str, ...] = FORMATS, *, figures: bool = True,
                 protocol: str | None = None, worst_k: int = 2, device: str = "cpu",
                 precision: dict[str, int] | None = None, force: bool = False,
                 baselines: dict[str, str] | None = None, aggregation: str = DEFAULT_AGGREGATION,
                 significance: float | None = DEFAULT_SIGNIFICANCE,
                 allow_different_sets: bool = False, force_baselines: bool = False,
                 paired: bool = False, efficiency: bool = True,
                 full_res_budget: int = FULL_RES_BUDGET) -> dict[str, Path]:
    """Write the tables and (with ``html``) the browsable report into ``out``; returns the main paths.

    ``baselines``: the results' dataset -> a published baselines file (``mipnerf360``; :mod:`nvs_eval.baselines`)
    whose rows are printed below the methods in that dataset's tables. ``aggregation``: how per-view values become
    scene and dataset values (:data:`nvs_eval.conventions.registry.AGGREGATIONS`), stated in every caption.
    ``significance``: mark methods not significantly different from each column's best (``None``: no marks).

    ``out`` must be absent, empty, or a report nvs-eval wrote earlier from the same store (it keeps a
    ``.nvs-eval-report`` marker naming the store); anything else needs ``force``. The store's ``nvs-eval check``
    results go into the captions and the coverage list; published values beside a scene that is not comparable are
    flagged unless ``force_baselines``. ``paired``: pair each method, view by view, with NerfBaselines' published
    per-view results on the ``baselines`` datasets (:mod:`nvs_eval.report.paired`; refused scenes listed with the
    reason, an error when none can be paired). ``efficiency``: the store's efficiency figures (the tools' own number
    of Gaussians, size, render time, training time and memory) as columns after the metrics, one table each and, in
    the HTML report, their source files (``False`` leaves them out). ``full_res_budget``: :class:`FullResCopies`.
    """
    store_path = _store_file(store_path)
    unknown = [f for f in formats if f not in FORMATS + EXTRA_FORMATS]
    if unknown:
        raise UsageError(f"unknown report format(s) {unknown}; known: {', '.join(FORMATS + EXTRA_FORMATS)}")
    data = _read_store(store_path, protocol)
    _warn_incomplete(data["incomplete"], "html" in formats)
    protocol, per_view, tidy = data["protocol"], data["per_view"], data["tidy"]
    metrics = [m for m in METRICS if m in per_view.columns]
    tables = build_tables(per_view, protocol, metrics, precision, resolutions(tidy, data["gt_sizes"]),
                          _baseline_rows(baselines, per_view), aggregation, significance, allow_different_sets,
                          data["checks"], force_baselines, data["efficiency"] if efficiency else None)
    compared = _paired(per_view, data, protocol, baselines, significance, tables) if paired else []
    out = Path(out)
    _claim_output(out, store_path, force)
    paths = _write_tables(out, tables, per_view, formats)
    paths |= _write_extras(out, compared, formats, per_view, data, protocol, aggregation)
    if "html" in formats:
        with ReportWork(store_path, pages=per_view.groupby(["dataset", "scene"]).ngroups + 2,
                        figures=_planned_figures(per_view, metrics, worst_k) if figures else 0):
            extra = {**_index_extra(data, efficiency), "downloads": _downloads(out, paths)}
            paths["html"] = _write_html(out, per_view, tidy, tables, metrics, protocol, data["settings"], extra,
                                        figures, worst_k, device, aggregation, compared, full_res_budget,
                                        allow_different_sets)
    return paths


def _planned_figures(per_view, metrics: list[str], worst_k: int) -> int:
    """The figures the HTML report will draw, known before it starts (so its progress total does not grow): per
    scene its curves and distributions and, per view shown, a comparison and the viewer's previews; per dataset
    the statistics page's intervals."""
    key = _ranking_key(metrics)
    return sum(2 + 2 * len(_shown_views(g, key, worst_k))
               for _, g in per_view.groupby(["dataset", "scene"])) + per_view["dataset"].nunique()


def _ranking_key(metrics: list[str]) -> str:
    """The metric the shown views are ranked by: the first plain LPIPS, else PSNR, else the first metric."""
    plain = [m for m in metrics if METRICS[m].family == "plain"] or metrics
    return next((m for m in plain if METRICS[m].lpips_net), "psnr" if "psnr" in plain else plain[0])


def _warn_incomplete(incomplete: list[str], html: bool) -> None:
    """One line on standard error when some method of a scene lacks views (its tables average fewer views)."""
    if not incomplete:
        return
    n, shown = len(incomplete), "; ".join(incomplete[:3])
    more = "; the index lists them all under Coverage" if html else ""
    print(f"report: incomplete: {n} method(s) of a scene lack views, and their tables average only the views "
          f"scored ({shown}{'; ...' if n > 3 else ''}){more}", file=sys.stderr)


def _paired(per_view, data: dict, protocol, baselines, significance, tables: list) -> list:
    """Each method paired view by view with the published per-view results (their tables appended to ``tables``)."""
    from .paired import comparisons, paired_table

    compared = comparisons(per_view, data["checks"], protocol, baselines or {})
    tables += [t for t in (paired_table(c, significance) for c in compared) if t is not None]
    return compared


def _write_extras(out: Path, compared: list, formats, per_view, data: dict, protocol, aggregation) -> dict[str, Path]:
    """The paired comparison's Markdown and CSV, and the survey format, where asked for."""
    paths = {}
    if compared:
        from .paired import paired_csv, paired_markdown

        atomic_write_text(out / "paired_baselines.md", paired_markdown(compared))
        atomic_write_text(out / "csv" / "paired_baselines.csv", paired_csv(compared))
        paths["paired"] = out / "paired_baselines.md"
    if "survey" in formats:
        from .survey import write_survey

        paths["survey"], _ = write_survey(out, per_view, data["efficiency"], data["checks"], protocol, aggregation)
    return paths


def _store_file(store_path: Path | str) -> Path:
    store_path = Path(store_path)
    if store_path.is_dir():
        store_path = store_path / STORE_NAME
    if not store_path.is_file():
        raise StoreError(f"{store_path}: no results store here (run `nvs-eval evaluate` first)")
    return store_path


def _read_store(store_path: Path, protocol: str | None) -> dict:
    """Everything a report shows of one protocol's results (that protocol chosen when the store holds one)."""
    from ..results.store import ResultsStore

    with ResultsStore(store_path) as store:
        tidy = store.frame()
        protocols = sorted(tidy["protocol"].unique()) if not tidy.empty else []
        if not protocols:
            raise StoreError(f"{store_path}: the store holds no results")
        if protocol is None:
            if len(protocols) > 1:
                raise UsageError(f"holds several protocols ({', '.join(protocols)})", path=store_path,
                                 hint=f"choose one with {option('protocol')}")
            protocol = protocols[0]
        elif protocol not in protocols:
            raise UsageError(f"{store_path}: no results for protocol {protocol!r}; it has {', '.join(protocols)}")
        return {"protocol": protocol, "per_view": store.wide(protocol), "settings": store.protocols(),
                "coverage": store.coverage(), "auxiliary": store.auxiliary(), "gt_sizes": store.gt_sizes(),
                "checks": store.checks(), "efficiency": store.efficiency(),
                "tidy": tidy[tidy["protocol"] == protocol], "incomplete": store.incomplete(protocol)}


def _baseline_rows(baselines: dict[str, str] | None, per_view) -> dict:
    """dataset -> its published rows (``--baselines NAME:DATASET``), checked against the results' datasets."""
    rows = {}
    if baselines:
        from ..baselines import load

        known = sorted(per_view["dataset"].unique())
        for dataset, name in baselines.items():
            if dataset not in known:
                raise UsageError(f"{option('baselines')} {name}:{dataset}: the results have no dataset {dataset!r}",
                                 expected=f"one of {', '.join(known)}")
            rows[dataset] = load(name)
    return rows


def _claim_output(out: Path, store_path: Path, force: bool) -> None:
    """``out`` is empty, absent or this store's earlier report (its marker says so), else ``force`` is needed.

    The marker names the store relative to ``out`` (``../results.sqlite``), so a results folder copied or moved
    whole keeps its report, and the folder discloses no absolute path; a marker written with an absolute path (by
    an earlier version) is still read."""
    marker = out / REPORT_MARKER
    check_output_folder(out, REPORT_MARKER, force)
    out.mkdir(parents=True, exist_ok=True)
    source = Path(os.path.relpath(store_path.resolve(), out.resolve())).as_posix()
    if not force and marker.exists():
        named = marker.read_text(encoding="utf-8").strip()
        if (out / named).resolve() != store_path.resolve():
            raise StoreError(f"holds a report of another store ({named})", path=out,
                             hint=f"choose another {option('out')} or pass {option('force')} to replace it")
    atomic_write_text(marker, source + "\n")


def _write_tables(out: Path, tables, per_view, formats) -> dict[str, Path]:
    paths: dict[str, Path] = {}
    if "latex" in formats:
        latex = "\n".join(render_latex(t) for t in tables)
        needs = ", ".join(f"\\usepackage{{{p}}}" for p in PACKAGES)
        atomic_write_text(out / "tables.tex", f"% needs {needs}\n" + latex)
        atomic_write_text(out / "tables_document.tex", render_document(tables))
        paths["latex"] = out / "tables.tex"
    if "md" in formats:
        atomic_write_text(out / "tables.md", "\n".join(render_markdown(t) for t in tables))
        paths["md"] = out / "tables.md"
    if "csv" in formats:
        for t in tables:
            atomic_write_text(out / "csv" / f"{_slug(t.key)}.csv", render_csv(t))
        atomic_write_text(out / "csv" / "per_view.csv",
                          with_run_column(per_view).to_csv(index=False, float_format="%.10g"))
        paths["csv"] = out / "csv"
    return paths


DOWNLOADS = {"latex": "LaTeX, booktabs and graphicx", "md": "Markdown",
             "csv": "CSV of every view; each table's CSV is beside it",
             "paired": "paired with published per-view results", "survey": "survey format"}


def _downloads(out: Path, paths: dict[str, Path]) -> list[dict]:
    """The index's links to the table files written beside it (relative, so the folder can move)."""
    files = {k: p / "per_view.csv" if p.is_dir() else p for k, p in paths.items()}
    return [{"href": p.relative_to(out).as_posix(), "text": DOWNLOADS[k]}
            for k, p in files.items() if k in DOWNLOADS and p.is_file() and p.is_relative_to(out)]


def resolutions(tidy, gt_sizes) -> dict[str, str]:
    """dataset -> the ground-truth resolution(s) its rows were computed at (``"779x520"``, or the range)."""
    if tidy.empty or gt_sizes.empty:
        return {}
    sizes = gt_sizes.set_index("gt_sha256")
    out = {}
    for dataset, g in tidy.groupby("dataset"):
        # a ground truth's identity may carry its mask or its plugin source after a '+': its size is the file's
        found = sizes.reindex(g["gt_sha256"].str.partition("+")[0].unique()).dropna()
        if found.empty:
            continue
        distinct = sorted({(int(w), int(h)) for w, h in zip(found["width"], found["height"])},
                          key=lambda x: x[0] * x[1])
        text = "x".join(map(str, distinct[0]))
        if len(distinct) > 1:
            text = f"{text} to {'x'.join(map(str, distinct[-1]))} ({len(distinct)} sizes)"
        out[dataset] = text
    return out


def _index_extra(data: dict, efficiency: bool) -> dict:
    """The index page's coverage list and efficiency sources."""
    return {"coverage": _coverage_items(data["coverage"], data["auxiliary"], data["checks"], data["per_view"]),
            "efficiency": _efficiency_context(data["efficiency"]) if efficiency else None}


def _coverage_items(coverage, auxiliary, checks=None, per_view=None) -> list[str]:
    """The index page's coverage list, as plain text (the template escapes it)."""
    from .table import comparability, scene_coverage

    items = []
    if per_view is not None and not per_view.empty:
        for dataset, g in per_view.groupby("dataset", sort=True):
            scenes = sorted(g["scene"].unique())
            text = (scene_coverage(dataset, scenes, checks or {}) + comparability(dataset, scenes, checks or {})[0])
            if text:
                items.append(f"{dataset}:{text}")
    if not coverage.empty:
        for r in coverage[coverage["scored"] < coverage["total"]].itertuples():
            items.append(f"{r.dataset}/{r.scene} {r.method}: {r.scored} of {r.total} views")
    if not auxiliary.empty:
        for r in auxiliary[auxiliary["count"] > 0].itertuples():
            items.append(f"{r.dataset}/{r.scene} {r.method}: {r.count} auxiliary file(s) left out of scoring "
                         f"({r.suffixes.replace(',', ', ')})")
    return items


def _efficiency_context(eff) -> dict | None:
    """Where every efficiency figure came from: the file, its sha256 and what was read."""
    from ..conventions.figures import FIGURES, TOOL_NOTE

    if eff.empty:
        return None
    rows = []
    for r in eff.to_dict("records"):
        if r["figure"] not in FIGURES:
            continue
        spec = FIGURES[r["figure"]]
        rows.append([r["dataset"], r["scene"], r["method"], r["run"], r["figure"],
                     f"{spec.show(r['value']):.{spec.precision}f} {spec.display_unit}",
                     {"text": r["source"], "code": True,
                      "small": f"sha256 {r['source_sha256'][:16]}\u2026; {r['detail']}"}])
    return {"note": TOOL_NOTE, "rows": rows,
            "head": ["dataset", "scene", "method", "run", "figure", "value", "source"]}


def _provenance(tidy, settings, protocol) -> dict:
    """The index's last section, readable: what was scored, each protocol's settings as rows, each network's
    weight digests, and the settings as stored (JSON) for a machine."""
    col = (lambda c: sorted(tidy[c].unique())) if not tidy.empty else (lambda c: [])
    nets: dict[str, set] = {}
    for w in col("weights"):
        for part in filter(None, str(w).split(";")):
            name, _, digest = part.partition(":")
            nets.setdefault(name, set()).add(digest)
    scored = set(col("metric"))
    metrics = [METRICS[m].label for m in METRICS if m in scored] + sorted(scored - set(METRICS))
    protocols = []
    for key in col("protocol_key"):
        stored = settings.get(key, {})
        rows = [[name, {"text": value, "code": True}] for name, value in _setting_rows(stored)]
        protocols.append({"key": key, "summary": stored.get("summary", ""), "rows": rows,
                          "sources": stored.get("sources", [])})
    return {"protocol": protocol, "versions": ", ".join(col("version")), "written_by": __version__,
            "metrics": ", ".join(metrics), "protocols": protocols,
            "weights": [[name, {"text": " | ".join(sorted(d)), "code": True}] for name, d in sorted(nets.items())],
            "settings": json.dumps({k: v for k, v in settings.items() if k in col("protocol_key")}, indent=1,
                                   sort_keys=True)}


# stored with a protocol but not settings of the computation: its name, prose, references and the preset's default
# metric list (the metrics scored are listed from the rows themselves)
_NOT_SETTINGS = ("name", "summary", "sources", "metrics")


def _setting_rows(stored: dict, prefix: str = "") -> list[tuple[str, str]]:
    """A protocol's stored settings flattened to ``(name, value)`` rows (``ssim.window``), in name order."""
    rows = []
    for k in sorted(stored):
        v = stored[k]
        if not prefix and k in _NOT_SETTINGS:
            continue
        if isinstance(v, dict):
            rows += _setting_rows(v, f"{prefix}{k}.")
        else:
            rows.append((prefix + k, json.dumps(v) if not isinstance(v, str) else v))
    return rows


def _write_html(out, per_view, tidy, tables, metrics, protocol, settings, index_extra, figures, worst_k,
                device, aggregation=DEFAULT_AGGREGATION, compared=(), full_res_budget=FULL_RES_BUDGET,
                allow_different_sets=False) -> Path:
    from .html import environment, table_groups
    from .scene_page import scene_context

    env = environment()
    write_assets(out)
    evaluator = _map_evaluator(protocol, metrics, device) if figures else None
    full_res = FullResCopies(out, full_res_budget)
    scenes = []
    for (dataset, scene), g in per_view.groupby(["dataset", "scene"], sort=True):
        slug = _slug(dataset + "/" + scene)
        name = f"scenes/{slug}.html"
        scenes.append({"href": name, "title": f"{dataset} / {scene}", "views": g["view"].nunique(),
                       "methods": g["method"].astype(str).str.partition(RUN_SEP)[0].nunique(),
                       "runs": g["method"].nunique()})
        shown = (_comparisons(out, slug, dataset, scene, g, tidy, metrics, evaluator, worst_k,
                              full_res) if evaluator is not None else NO_COMPARISONS)
        if shown["comparisons"] or shown["viewer_data"]:
            shown = {**shown, "comparisons_note": shown["comparisons_note"] + _runs_shown(g)}
        ctx = scene_context(out, slug, dataset, scene, g, tidy, metrics, aggregation, figures)
        write_page(env, out / name, "scene.html", title=f"{dataset} / {scene}", root="../", **ctx, **shown)
        page_written()
    _write_stats(env, out, per_view, metrics, aggregation, compared, allow_different_sets)
    page_written()
    overview = None
    if figures:
        from .overview import overview_figure

        if overview_figure(per_view, metrics, out / "figures" / "overview.png", aggregation) is not None:
            overview = {"src": "figures/overview.png", "alt": "each scene's PSNR and LPIPS per method",
                        "caption": "Each scene's value per method (runs averaged); the tables below give every "
                                   "metric, the scene pages each view."}
    index = write_page(env, out / "index.html", "index.html", title="nvs-eval report", root="", protocol=protocol,
                       overview=overview, groups=table_groups(tables), scenes=scenes, **index_extra,
                       provenance=_provenance(tidy, settings, protocol))
    page_written()
    return index


def _map_evaluator(protocol, metrics, device):
    """The networks for the heatmaps, built once for the whole report."""
    from ..compute.maps import map_evaluator

    return map_evaluator(protocol, metrics, device)


def _runs_shown(g) -> str:
    """Which run of a method with several runs the images show (the tables above average all of them)."""
    runs = split_runs(g).groupby("method")["run"].agg(lambda r: sorted(set(r)))
    several = [f"{m}: {r[0]} of its {len(r)} runs" for m, r in runs.items() if len(r) > 1]
    return (f" The images (figures and viewer) show one run of each method with several ({'; '.join(several)}); "
            "the views are ranked, and the means above taken, over every run." if several else "")


def _write_stats(env, out, per_view, metrics, aggregation, compared, allow_different_sets=False) -> None:
    from .paired import paired_context
    from .stats_page import stats_context

    paired = paired_context(list(compared)) if compared else None
    write_page(env, out / "stats.html", "stats.html", title="nvs-eval statistics", root="",
               **stats_context(out, per_view, metrics, aggregation, allow_different_sets=allow_different_sets),
               paired=paired)


def _comparisons(out, slug, dataset, scene, g, tidy, metrics, evaluator, worst_k, full_res=None) -> dict:
    """The worst views per method and the median view (by the first LPIPS metric, else PSNR; a method's runs
    averaged per view, as the tables average them): comparison figures and the viewer's layers of each method's
    first run, as the scene template reads them."""
    from ..data.images import image_ref
    from .figures import comparison_figure
    from .work import draw

    key = _ranking_key(metrics)
    views = _shown_views(g, key, worst_k)
    shown = first_runs(g)["method"].unique()
    rows = tidy[(tidy["dataset"] == dataset) & (tidy["scene"] == scene) & tidy["method"].isin(shown)]
    paths = rows.drop_duplicates(["method", "view"]).set_index(["method", "view"])[["render_path", "gt_path"]]
    images: dict[str, dict[str, str]] = {}
    full: dict[str, dict[str, str]] = {}
    figs, missing, layers = [], [], []
    for v, why in views.items():
        sub = paths.xs(v, level="view")
        gt_ref = image_ref(sub["gt_path"].iloc[0])
        refs = {display_name(m): image_ref(p) for m, p in sub["render_path"].items()}
        if not all(r.is_file() for r in (gt_ref, *refs.values())):
            missing.append(v)
            continue
        gt, renders, maps = _view_maps(evaluator, gt_ref, refs)
        vslug = _slug(v)
        fig = out / "figures" / slug / f"compare-{vslug}.jpg"
        draw(comparison_figure, gt, renders, maps, fig, f"{dataset} / {scene} / {v} (shared colour scales)")
        figs.append({"src": f"../figures/{slug}/{fig.name}", "alt": f"comparison {v}", "caption": f"{v}: {why}"})
        entry, links = _viewer_layers(out / "figures" / slug / vslug, f"../figures/{slug}/{vslug}", gt, gt_ref,
                                      renders, refs, maps, full_res)
        images[v], full[v] = entry, {k: u for k, u in links.items() if u}
        layers = list(entry)
    viewer = None
    if images:
        viewer = {"data": {"images": images, "layers": layers, "full": full},
                  "note": full_res.note() if full_res is not None else ""}
    return {"comparisons": figs, "comparisons_note": f"Views ranked by {METRICS[key].label}.",
            "viewer_data": viewer, "missing": missing}


def _view_maps(evaluator, gt_ref, refs):
    """One view's decoded images and every method's maps: ``(gt, {method: render}, {method: {map: array}})``, the
    maps kept from scoring when the store has them (:func:`.work.view_maps`)."""
    from .work import view_maps

    return view_maps(evaluator, gt_ref, refs)


def _shown_views(g, key: str, worst_k: int) -> dict[str, str]:
    """view -> why it is shown: each method's ``worst_k`` worst views by ``key``, then the view whose mean over
    the methods is the median (the view a typical reader would see); a method's runs are averaged per view first
    (its worst views are not its first run's)."""
    label = METRICS[key].label
    g = split_runs(g).groupby(["method", "view"], as_index=False)[key].mean()
    asc = METRICS[key].higher_is_better
    why: dict[str, list[str]] = {}
    for method, gm in g.groupby("method", sort=True):
        for v in gm.sort_values(key, ascending=asc)["view"].head(worst_k):
            why.setdefault(v, []).append(method)
    shown = {v: f"worst {label} of {', '.join(ms)}" for v, ms in why.items()}
    means = g.groupby("view")[key].mean().sort_values(ascending=asc, kind="stable")
    if len(means):
        median = means.index[len(means) // 2]
        shown[median] = (shown[median] + "; " if median in shown else "") + f"median {label} over the methods"
    return shown


class FullResCopies:
    """The viewer's links to full-resolution layers: copies of the original files inside the report (never an
    absolute path), up to ``budget`` bytes for the whole report. A layer whose image fits its preview
    (longest side at most :data:`PREVIEW_MAX`) needs no copy: its preview already has every pixel. Files beyond
    the budget, and halves of a canvas (no file of their own), are left out; :meth:`note` says so on the page."""

    def __init__(self, out: Path, budget: int):
        self.out, self.budget, self.used = out, budget, 0
        self.copied, self.left_out, self.small = 0, 0, 0

    def link(self, ref, shape, dest: Path, rel: str) -> str:
        """A URL relative to the scene page for ``ref`` copied to ``dest`` (``rel`` names ``dest`` from the
        page), or ``""`` when it is not copied."""
        from ..data.images import CanvasHalf

        if max(shape[:2]) <= PREVIEW_MAX:
            self.small += 1
            return ""
        size = Path(ref.canvas if isinstance(ref, CanvasHalf) else ref).stat().st_size
        if isinstance(ref, CanvasHalf) or self.used + size > self.budget:
            self.left_out += 1
            return ""
        dest = dest.with_suffix(Path(ref).suffix.lower())
        dest.parent.mkdir(parents=True, exist_ok=True)
        with atomic_output(dest) as tmp:
            shutil.copyfile(ref, tmp)
        self.used += size
        self.copied += 1
        return f"{rel}{dest.suffix}"

    def note(self) -> str:
        parts = [f"Layers are previews (longest side at most {PREVIEW_MAX} px)."]
        if self.small:
            parts.append("Images no larger than that are shown at their own size but lossily compressed (WebP, "
                         f"quality {PREVIEW_QUALITY}: the finest detail may differ from the file); their original "
                         "files are not copied.")
        if self.copied:
            parts.append(f"Larger ones link their original file, copied into the report ({self.copied} file(s), "
                         f"{self.used / 2**20:.1f} MB).")
        if self.left_out:
            parts.append(f"{self.left_out} original file(s) are left out (the report's budget for full-resolution "
                         f"copies is {self.budget / 2**20:.0f} MB, or the image is half of a canvas file); open them "
                         "from the results' data.")
        return " ".join(parts)


def _viewer_layers(vdir: Path, rel: str, gt, gt_ref, renders: dict, refs: dict, maps: dict, full_res=None):
    """One view's previews for the image viewer (ground truth, each render, each map on the view's shared colour
    scales): ``({layer: preview url}, {layer: url of its full-resolution copy, or ""})``."""
    from .figures import colour_map, shared_limits

    link = (lambda ref, x, name: full_res.link(ref, x.shape, vdir / name, f"{rel}/{name}")) if full_res else (
        lambda ref, x, name: "")
    from .work import draw

    lim = shared_limits(maps)
    vdir.mkdir(parents=True, exist_ok=True)
    previews = [(gt, vdir / "gt.webp")]
    entry, links = {"ground truth": f"{rel}/gt.webp"}, {"ground truth": link(gt_ref, gt, "full-gt")}
    for i, (m, r) in enumerate(renders.items()):
        previews.append((r, vdir / f"render{i}.webp"))
        entry[m], links[m] = f"{rel}/render{i}.webp", link(refs[m], r, f"full-render{i}")
        for k, mp in maps[m].items():
            previews.append((colour_map(mp, lim[k]), vdir / f"map{i}-{k}.webp"))
            entry[f"{m}: {MAP_LABELS.get(k, k)}"] = f"{rel}/map{i}-{k}.webp"  # named as the figures name it
    draw(_save_previews, previews)  # WebP encoding is most of a viewer's cost: in the figures' pool
    return entry, links


def _save_previews(previews: list[tuple[np.ndarray, Path]]) -> None:
    for x, path in previews:
        _save_preview(x, path)


def _save_preview(x: np.ndarray, path: Path) -> None:
    """An RGB image (float in [0, 1] or uint8) as a WebP preview whose longest side is at most PREVIEW_MAX."""
    from PIL import Image

    u8 = x if x.dtype == np.uint8 else (np.clip(x, 0, 1) * 255).round().astype(np.uint8)
    im = Image.fromarray(u8)
    scale = PREVIEW_MAX / max(im.size)
    if scale < 1:
        im = im.resize((max(1, round(im.width * scale)), max(1, round(im.height * scale))), Image.LANCZOS)
    with atomic_output(path) as tmp:  # whole or not at all; a full disk's error names the preview
        im.save(tmp, format="WEBP", quality=PREVIEW_QUALITY, method=4)
