"""Reports from the results store: LaTeX / Markdown / CSV tables, figures and a static HTML report.

The report stays small whatever the views' resolution: the viewer's layers are WebP previews whose longest side is
at most :data:`PREVIEW_MAX` px (the full-resolution render and ground truth are linked, not copied), and the
comparison figures are JPEG. The demo report went from 32 MB (full-resolution PNG layers) to the size stated in
README.md.
"""

from __future__ import annotations

import hashlib
import json
import os
from html import escape
from pathlib import Path

import numpy as np

from .. import __version__
from ..conventions.registry import DEFAULT_AGGREGATION, DEFAULT_SIGNIFICANCE, METRICS, STORE_NAME
from ..errors import StoreError, UsageError, option
from ..results.export import atomic_output, atomic_write_text, check_output_folder
from .html import page, table_html, viewer_html, write_assets
from .latex import render_document, render_latex
from .markdown import render_csv, render_markdown
from .table import build_tables

FORMATS = ("latex", "md", "csv", "html")
EXTRA_FORMATS = ("survey",)  # only when asked: the 3DGS compression survey's CSVs (report/survey.py)
REPORT_MARKER = ".nvs-eval-report"
PREVIEW_MAX = 640  # px, longest side of a viewer layer
PREVIEW_QUALITY = 85


def _slug(text: str) -> str:
    safe = "".join(ch if ch.isalnum() or ch in "-_" else "_" for ch in text)[:40]
    return f"{safe}-{hashlib.sha256(text.encode()).hexdigest()[:8]}"


def write_report(store_path: Path | str, out: Path | str, formats: tuple[str, ...] = FORMATS, *, figures: bool = True,
                 protocol: str | None = None, worst_k: int = 2, device: str = "cpu",
                 precision: dict[str, int] | None = None, force: bool = False,
                 baselines: dict[str, str] | None = None, aggregation: str = DEFAULT_AGGREGATION,
                 significance: float | None = DEFAULT_SIGNIFICANCE,
                 allow_different_sets: bool = False, force_baselines: bool = False,
                 paired: bool = False, efficiency: bool = True) -> dict[str, Path]:
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
    the HTML report, their source files (``False`` leaves them out).
    """
    store_path = _store_file(store_path)
    unknown = [f for f in formats if f not in FORMATS + EXTRA_FORMATS]
    if unknown:
        raise UsageError(f"unknown report format(s) {unknown}; known: {', '.join(FORMATS + EXTRA_FORMATS)}")
    data = _read_store(store_path, protocol)
    protocol, per_view, tidy = data["protocol"], data["per_view"], data["tidy"]
    metrics = [m for m in METRICS if m in per_view.columns]
    tables = build_tables(per_view, protocol, metrics, precision, resolutions(tidy, data["gt_sizes"]),
                          _baseline_rows(baselines, per_view), aggregation, significance, allow_different_sets,
                          data["checks"], force_baselines, data["efficiency"] if efficiency else None)
    compared = []
    if paired:
        from .paired import comparisons, paired_table

        compared = comparisons(per_view, data["checks"], protocol, baselines or {})
        tables += [t for t in (paired_table(c, significance) for c in compared) if t is not None]
    out = Path(out)
    _claim_output(out, store_path, force)
    paths = _write_tables(out, tables, per_view, formats)
    if compared:
        from .paired import paired_csv, paired_markdown

        atomic_write_text(out / "paired_baselines.md", paired_markdown(compared))
        atomic_write_text(out / "csv" / "paired_baselines.csv", paired_csv(compared))
        paths["paired"] = out / "paired_baselines.md"
    if "survey" in formats:
        from .survey import write_survey

        paths["survey"], _ = write_survey(out, per_view, data["efficiency"], data["checks"], protocol, aggregation)
    if "html" in formats:
        paths["html"] = _write_html(out, per_view, tidy, tables, metrics, protocol, data["settings"],
                                    _coverage_html(data["coverage"], data["auxiliary"], data["checks"], per_view)
                                    + (_efficiency_html(data["efficiency"]) if efficiency else ""),
                                    figures, worst_k, device,
                                    aggregation, compared)
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
                "tidy": tidy[tidy["protocol"] == protocol]}


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
        atomic_write_text(out / "tables.tex", "% needs \\usepackage{booktabs}\n" + latex)
        atomic_write_text(out / "tables_document.tex", render_document(tables))
        paths["latex"] = out / "tables.tex"
    if "md" in formats:
        atomic_write_text(out / "tables.md", "\n".join(render_markdown(t) for t in tables))
        paths["md"] = out / "tables.md"
    if "csv" in formats:
        for t in tables:
            atomic_write_text(out / "csv" / f"{_slug(t.key)}.csv", render_csv(t))
        atomic_write_text(out / "csv" / "per_view.csv", per_view.to_csv(index=False, float_format="%.10g"))
        paths["csv"] = out / "csv"
    return paths


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


def _coverage_html(coverage, auxiliary, checks=None, per_view=None) -> str:
    from .table import comparability, scene_coverage

    items = []
    if per_view is not None and not per_view.empty:
        for dataset, g in per_view.groupby("dataset", sort=True):
            scenes = sorted(g["scene"].unique())
            text = (scene_coverage(dataset, scenes, checks or {}) + comparability(dataset, scenes, checks or {})[0])
            if text:
                items.append(f"{escape(dataset)}:{escape(text)}")
    if not coverage.empty:
        for r in coverage[coverage["scored"] < coverage["total"]].itertuples():
            items.append(f"{escape(r.dataset)}/{escape(r.scene)} {escape(r.method)}: {r.scored} of {r.total} views")
    if not auxiliary.empty:
        for r in auxiliary[auxiliary["count"] > 0].itertuples():
            items.append(f"{escape(r.dataset)}/{escape(r.scene)} {escape(r.method)}: {r.count} auxiliary file(s) left "
                         f"out of scoring ({escape(r.suffixes.replace(',', ', '))})")
    return ("<h2>Coverage</h2><ul>" + "".join(f"<li>{i}</li>" for i in items) + "</ul>") if items else ""


def _efficiency_html(eff) -> str:
    """Where every efficiency figure came from: the file, its sha256 and what was read."""
    from ..conventions.figures import FIGURES, TOOL_NOTE

    if eff.empty:
        return ""
    rows = "".join(
        f"<tr><td>{escape(r['dataset'])}</td><td>{escape(r['scene'])}</td><td>{escape(r['method'])}</td>"
        f"<td>{escape(r['run'])}</td><td>{escape(r['figure'])}</td>"
        f"<td>{FIGURES[r['figure']].show(r['value']):.{FIGURES[r['figure']].precision}f} "
        f"{escape(FIGURES[r['figure']].display_unit)}</td><td><code>{escape(r['source'])}</code><br>"
        f"<small>sha256 {escape(r['source_sha256'][:16])}&hellip;; {escape(r['detail'])}</small></td></tr>"
        for r in eff.to_dict("records") if r["figure"] in FIGURES)
    return ("<h2>Efficiency figures and their sources</h2>"
            f"<p>Each figure is {escape(TOOL_NOTE)}; fps is 1000 / the mean render_ms.</p>"
            "<table><tr><th>dataset</th><th>scene</th><th>method</th><th>run</th><th>figure</th><th>value</th>"
            f"<th>source</th></tr>{rows}</table>")


def _provenance(tidy, settings, protocol) -> str:
    weights = sorted(tidy["weights"].unique()) if not tidy.empty else []
    versions = sorted(tidy["version"].unique()) if not tidy.empty else []
    keys = sorted(tidy["protocol_key"].unique()) if not tidy.empty else []
    proto = {k: v for k, v in settings.items() if k in keys}
    return ("<h2>Protocol and provenance</h2>"
            f"<p>Protocol <code>{escape(protocol)}</code>; nvs-eval version(s) {escape(', '.join(versions))}; "
            f"report written by nvs-eval {escape(__version__)}.</p>"
            f"<p>Weights (LPIPS backbone / linear-layer digests): <code>{escape(' | '.join(weights))}</code></p>"
            f"<pre>{escape(json.dumps(proto, indent=1, sort_keys=True))}</pre>")


def _write_html(out, per_view, tidy, tables, metrics, protocol, settings, coverage_html, figures, worst_k,
                device, aggregation=DEFAULT_AGGREGATION, compared=()) -> Path:
    write_assets(out)
    evaluator = None
    if figures:  # the networks for the heatmaps are built once for the whole report
        from ..evaluate.maps import map_evaluator

        evaluator = map_evaluator(protocol, metrics, device)
    scene_links, thumbs = [], []
    for (dataset, scene), g in per_view.groupby(["dataset", "scene"], sort=True):
        slug = _slug(dataset + "/" + scene)
        name = f"scenes/{slug}.html"
        title = f"{dataset} / {scene}"
        scene_links.append(f'<li><a href="{escape(name)}">{escape(title)}</a> '
                           f"({g['view'].nunique()} views, {g['method'].nunique()} methods)</li>")
        body = _scene_page(out, dataset, scene, g, tidy, metrics, evaluator, worst_k)
        atomic_write_text(out / name, page(title, body, depth=1))
        if evaluator is not None:
            thumbs.append(f'<figure><a href="{escape(name)}"><img src="figures/{slug}/curves.png" '
                          f'alt="per-view curves of {escape(title)}"></a>'
                          f"<figcaption>{escape(title)}</figcaption></figure>")
    summary_figs = ('<h2>Per-scene summaries</h2><div class="thumbs">' + "".join(thumbs) + "</div>") if thumbs else ""
    from ..conventions.registry import AGGREGATIONS
    from .paired import paired_html
    from .stats_page import stats_page

    stats = stats_page(out, per_view, metrics, aggregation) + (paired_html(list(compared)) if compared else "")
    atomic_write_text(out / "stats.html", page("nvs-eval statistics", stats))
    body = (f"<h1>nvs-eval report</h1><p>Protocol <code>{escape(protocol)}</code>. Aggregation "
            f"<code>{escape(aggregation)}</code>: {escape(AGGREGATIONS[aggregation])}. Bold: best; underlined: second "
            "best (ties share a rank). Click a column header to sort. Confidence intervals and pairwise tests: "
            '<a href="stats.html">statistics</a>.</p>'
            + "".join(table_html(t) for t in tables) + coverage_html + summary_figs
            + "<h2>Scenes</h2><ul>" + "".join(scene_links) + "</ul>" + _provenance(tidy, settings, protocol))
    atomic_write_text(out / "index.html", page("nvs-eval report", body))
    return out / "index.html"


def _scene_page(out, dataset, scene, g, tidy, metrics, evaluator, worst_k) -> str:
    from .figures import curves_figure, distribution_figure

    slug = _slug(dataset + "/" + scene)
    parts = [f"<p><a href=\"../index.html\">&larr; summary</a></p><h1>{escape(dataset)} / {escape(scene)}</h1>"]
    head = "".join(f"<th>{escape(METRICS[m].label)}</th>" for m in metrics)
    rows = "".join(
        f'<tr><td data-v="{escape(r["method"])}">{escape(r["method"])}</td><td data-v="{escape(r["view"])}">'
        f'{escape(r["view"])}</td>' + "".join(f'<td data-v="{float(r[m])!r}">{float(r[m]):.4f}</td>' for m in metrics)
        + "</tr>" for r in g.sort_values(["view", "method"]).to_dict("records"))
    parts.append(f'<h2>Per-view values</h2><table class="sortable"><thead><tr><th>Method</th><th>View</th>{head}'
                 f"</tr></thead><tbody>{rows}</tbody></table>")
    if evaluator is not None:
        fig_dir = out / "figures" / slug
        curves_figure(g, metrics, fig_dir / "curves.png", f"{dataset} / {scene}")
        distribution_figure(g, metrics, fig_dir / "distribution.png", f"{dataset} / {scene}")
        figs = f"../figures/{slug}"
        parts.append(f'<h2>Along the trajectory</h2><img class="fig" src="{figs}/curves.png" alt="per-view curves">'
                     f'<h2>Distributions</h2><img class="fig" src="{figs}/distribution.png" alt="distributions">')
        from ..results.aggregate import first_runs

        parts.append(_comparisons(out, slug, dataset, scene, first_runs(g), tidy, metrics, evaluator, worst_k))
    hashes = tidy[(tidy["dataset"] == dataset) & (tidy["scene"] == scene)][
        ["method", "view", "render_sha256", "gt_sha256"]].drop_duplicates().sort_values(["view", "method"])
    hrows = "".join(f"<tr><td>{escape(r.method)}</td><td>{escape(r.view)}</td><td><code>{r.render_sha256[:16]}</code>"
                    f"</td><td><code>{r.gt_sha256[:16]}</code></td></tr>" for r in hashes.itertuples())
    parts.append("<h2>Input hashes (sha256, first 16 hex digits)</h2><table><thead><tr><th>Method</th><th>View</th>"
                 f"<th>render</th><th>ground truth</th></tr></thead><tbody>{hrows}</tbody></table>")
    return "".join(parts)


def _comparisons(out, slug, dataset, scene, g, tidy, metrics, evaluator, worst_k) -> str:
    """Worst views per method (by the first LPIPS metric, else PSNR): figures and the viewer's layers."""
    from ..data.images import image_ref
    from ..evaluate.maps import view_maps
    from .figures import comparison_figure

    plain = [m for m in metrics if METRICS[m].family == "plain"] or metrics
    key = next((m for m in plain if METRICS[m].lpips_net), "psnr" if "psnr" in plain else plain[0])
    asc = METRICS[key].higher_is_better
    views: list[str] = []
    for _, gm in g.groupby("method", sort=True):
        for v in gm.sort_values(key, ascending=asc)["view"].head(worst_k):
            if v not in views:
                views.append(v)
    rows = tidy[(tidy["dataset"] == dataset) & (tidy["scene"] == scene) & tidy["method"].isin(g["method"].unique())]
    paths = rows.drop_duplicates(["method", "view"]).set_index(["method", "view"])[["render_path", "gt_path"]]
    images: dict[str, dict[str, str]] = {}
    full: dict[str, dict[str, str]] = {}
    figs, missing, layers = [], [], []
    for v in views:
        sub = paths.xs(v, level="view")
        gt_ref = image_ref(sub["gt_path"].iloc[0])
        refs = {m: image_ref(p) for m, p in sub["render_path"].items()}
        if not all(r.is_file() for r in (gt_ref, *refs.values())):
            missing.append(v)
            continue
        gt, renders, maps = view_maps(evaluator, gt_ref, refs)
        vslug = _slug(v)
        fig = comparison_figure(gt, renders, maps, out / "figures" / slug / f"compare-{vslug}.jpg",
                                f"{dataset} / {scene} / {v} (shared colour scales)")
        figs.append(f'<figure><img class="fig" src="../figures/{slug}/{fig.name}" alt="comparison {escape(v)}">'
                    f"<figcaption>{escape(v)}</figcaption></figure>")
        entry, links = _viewer_layers(out / "figures" / slug / vslug, f"../figures/{slug}/{vslug}", gt, gt_ref,
                                      renders, refs, maps)
        images[v], full[v] = entry, {k: u for k, u in links.items() if u}
        layers = list(entry)
    html = "<h2>Worst views: comparisons</h2>" + "".join(figs)
    if images:
        html += "<h2>Image viewer</h2>" + viewer_html(images, layers, full, PREVIEW_MAX)
    if missing:
        html += (f"<p>Images of {len(missing)} view(s) were not found at their recorded paths, so they are not shown: "
                 f"{escape(', '.join(missing))}</p>")
    return html


def _viewer_layers(vdir: Path, rel: str, gt, gt_ref, renders: dict, refs: dict, maps: dict):
    """One view's previews for the image viewer (ground truth, each render, each map on the view's shared colour
    scales): ``({layer: preview url}, {layer: full-resolution file url})``."""
    from .figures import colour_map, shared_limits

    lim = shared_limits(maps)
    vdir.mkdir(parents=True, exist_ok=True)
    _save_preview(gt, vdir / "gt.webp")
    entry, links = {"ground truth": f"{rel}/gt.webp"}, {"ground truth": _file_url(gt_ref)}
    for i, (m, r) in enumerate(renders.items()):
        _save_preview(r, vdir / f"render{i}.webp")
        entry[m], links[m] = f"{rel}/render{i}.webp", _file_url(refs[m])
        for k, mp in maps[m].items():
            _save_preview(colour_map(mp, lim[k]), vdir / f"map{i}-{k}.webp")
            entry[f"{m}: {k}"] = f"{rel}/map{i}-{k}.webp"
    return entry, links


def _file_url(ref) -> str:
    """A link to the full-resolution file (``""`` for half of a canvas, which has no file of its own)."""
    from ..data.images import CanvasHalf

    return "" if isinstance(ref, CanvasHalf) else Path(ref).resolve().as_uri()


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
