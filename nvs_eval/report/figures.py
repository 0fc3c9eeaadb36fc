"""Figures: comparison heatmaps (composed with PIL), per-view curves, distributions and intervals (matplotlib, Agg).

Every map comes from the metric kernels themselves (:meth:`Evaluator.maps`); a figure uses one colour scale per
map type for all methods shown on the same view, so the methods can be compared by eye.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from ..conventions.registry import MAP_LABELS, METRICS
from ..results.aggregate import display_name
from ..util.atomic import atomic_output


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(plt, fig, out: Path, dpi: int | None = None) -> None:
    """``fig`` to ``out``, whole or not at all (a full disk's error names ``out``), then closed."""
    try:
        with atomic_output(out) as tmp:
            fmt = out.suffix.lstrip(".").lower()
            if fmt == "png":  # a plot has few colours: 256 of them make its PNG ~3x smaller, and look the same
                import io

                from PIL import Image

                buf = io.BytesIO()
                fig.savefig(buf, dpi=dpi or DPI, format="png")
                im = Image.open(buf).convert("RGB").quantize(256, method=Image.Quantize.FASTOCTREE)
                im.save(tmp, format="PNG", optimize=True)
            else:
                fig.savefig(tmp, dpi=dpi or DPI, format=fmt,
                            **({"pil_kwargs": {"quality": 88}} if fmt in ("jpg", "jpeg") else {}))
    finally:
        plt.close(fig)


COMPARISON_DPI = 90


def shared_limits(maps_by_method: dict[str, dict[str, np.ndarray]]) -> dict[str, float]:
    """One upper colour limit per map type, shared by every method (99.5th percentile of all of them)."""
    kinds = next(iter(maps_by_method.values())).keys()
    return {k: float(max(np.percentile(m[k], 99.5) for m in maps_by_method.values()) or 1e-6) for k in kinds}


PANEL_PX = 200  # the comparison mosaic: each image's longest side (the demo's report stays under 8 MB)
LABEL_PX = 16  # its text height


def comparison_figure(gt: np.ndarray, renders: dict[str, np.ndarray], maps: dict[str, dict[str, np.ndarray]],
                      out: Path, title: str) -> Path:
    """GT | render | abs error | LPIPS map(s) | 1 - SSIM | FLIP, one row per method, each map column on one colour
    scale shared by every method (its colour bar under the column, 0 to the 99.5th percentile of all of them).

    Composed with PIL, not matplotlib: the panels are images, and drawing them as axes cost ~2.6 s a figure (most
    of the report's figure time); this is ~50x less, the same panels and scales."""
    from PIL import Image, ImageDraw

    kinds = list(next(iter(maps.values())).keys())
    lim = shared_limits(maps)
    h, w = gt.shape[:2]
    pw, ph = (PANEL_PX, max(1, round(PANEL_PX * h / w))) if w >= h else (max(1, round(PANEL_PX * w / h)), PANEL_PX)
    gap, line = 6, LABEL_PX + 6
    cols, rows = 2 + len(kinds), len(renders)
    bar = 12 + 2 * line  # a colour bar and its two labels under each map column
    canvas = Image.new("RGB", (cols * (pw + gap) + gap, line * 2 + rows * (ph + line + gap) + bar), "white")
    draw, font = ImageDraw.Draw(canvas), _font(LABEL_PX)
    draw.text((gap, 4), title, fill="black", font=_font(LABEL_PX + 2))
    for r, (method, img) in enumerate(renders.items()):
        y = line * 2 + r * (ph + line + gap)
        panels = [("ground truth" if r == 0 else "", gt), (method, img)] + [
            (MAP_LABELS.get(k, k), colour_map(maps[method][k], lim[k])) for k in kinds]
        for c, (label, x) in enumerate(panels):
            px = gap + c * (pw + gap)
            draw.text((px, y), _fit(draw, label, font, pw), fill="black", font=font)
            canvas.paste(_panel(x, pw, ph), (px, y + line))
    y = line * 2 + rows * (ph + line + gap)
    ramp = colour_map(np.tile(np.linspace(0, 1, pw, dtype=np.float32), (12, 1)), 1.0)
    for c, k in enumerate(kinds):
        px = gap + (2 + c) * (pw + gap)
        canvas.paste(Image.fromarray(ramp), (px, y))
        draw.text((px, y + 14), "0", fill="black", font=font)
        high = f"{lim[k]:.3g}"
        draw.text((px + pw - draw.textlength(high, font=font), y + 14), high, fill="black", font=font)
    with atomic_output(out) as tmp:
        canvas.save(tmp, format="JPEG", quality=88)
    return out


def _font(px: int):
    from PIL import ImageFont

    try:
        return ImageFont.load_default(size=px)
    except TypeError:  # Pillow without a scalable default font (before 10.1): its fixed bitmap font
        return ImageFont.load_default()


def _fit(draw, text: str, font, width: int) -> str:
    """``text``, cut with an ellipsis to fit ``width`` px."""
    if draw.textlength(text, font=font) <= width:
        return text
    while text and draw.textlength(text + "…", font=font) > width:
        text = text[:-1]
    return text + "…"


def _panel(x: np.ndarray, pw: int, ph: int):
    """An image (float in [0, 1] or uint8) as a ``pw`` x ``ph`` panel (a smaller SSIM 'valid' map is stretched by
    its border of 5 px at most, as imshow did)."""
    from PIL import Image

    u8 = x if x.dtype == np.uint8 else (np.clip(np.nan_to_num(x), 0, 1) * 255).round().astype(np.uint8)
    return Image.fromarray(u8).resize((pw, ph), Image.LANCZOS)


def colour_map(m: np.ndarray, vmax: float) -> np.ndarray:
    """A map coloured with inferno on [0, vmax] as H x W x 3 uint8 (NaN, where SSIM is undefined, is black).

    Through inferno's 256-entry table, indexed as matplotlib indexes it (``floor(x * 256)``, 1.0 in the last entry),
    so the colours are matplotlib's own, at a fraction of its cost."""
    from matplotlib import colormaps

    lut = (colormaps["inferno"](np.arange(256))[:, :3] * 255).round().astype(np.uint8)
    x = np.nan_to_num(np.clip(np.asarray(m, np.float32) / np.float32(max(vmax, 1e-12)), 0, 1), nan=0.0)
    return lut[np.minimum((x * 256).astype(np.int32), 255)]


# Small multiples legible where they are shown: the pages are at most 1,200 px wide and read at 1,000 px, so a
# figure is FIGURE_WIDTH_IN x DPI = 1,000 px wide (shown at its own size, never scaled down), at most
# MAX_PANELS_PER_ROW panels a row, no text under MIN_TEXT_PX at that width (SMALL_PT, 9 pt, is 12.5 px at 100 dpi;
# tests/report/test_report.py measures every text), and never wider than MAX_ASPECT : 1.
DPI = 100
DISPLAY_WIDTH_PX = 1000
FIGURE_WIDTH_IN = DISPLAY_WIDTH_PX / DPI
MAX_PANELS_PER_ROW = 3
MIN_TEXT_PX = 10
MAX_ASPECT = 4.0
TEXT_PT = 10
SMALL_PT = 9
PANEL_HEIGHT_IN = 2.7


def small_multiples(plt, n: int, title: str, legend_rows: int = 0, panel_height: float = PANEL_HEIGHT_IN):
    """A figure of ``n`` panels, at most :data:`MAX_PANELS_PER_ROW` a row, :data:`FIGURE_WIDTH_IN` wide, with room
    on top for the title and ``legend_rows`` rows of a shared legend: ``(fig, [axes of the n panels], top)``, where
    ``top`` is the fraction of the height below that room (for ``tight_layout(rect=...)``)."""
    cols = min(MAX_PANELS_PER_ROW, max(1, n))
    rows = -(-max(1, n) // cols)
    header = 0.45 + 0.3 * legend_rows
    height = max(rows * panel_height + header, FIGURE_WIDTH_IN / MAX_ASPECT)
    fig, axes = plt.subplots(rows, cols, figsize=(FIGURE_WIDTH_IN, height), squeeze=False)
    flat = list(axes.flat)
    for ax in flat[n:]:
        ax.set_visible(False)
    fig.suptitle(title, fontsize=TEXT_PT + 1)
    return fig, flat[:n], 1 - header / height


def _horizontal() -> dict:
    """Horizontal box plots, spelt as the installed matplotlib wants (``vert`` is deprecated from 3.11)."""
    import matplotlib

    major, minor = (int(x) for x in matplotlib.__version__.split(".")[:2])
    return {"orientation": "horizontal"} if (major, minor) >= (3, 10) else {"vert": False}


def _direction(m: str) -> str:
    return "higher" if METRICS[m].higher_is_better else "lower"


def curves_build(scene_df: pd.DataFrame, metrics: list[str], title: str):
    """The figure of :func:`curves_figure` (not saved)."""
    plt = _plt()
    methods = sorted(scene_df["method"].unique())
    ncol = min(MAX_PANELS_PER_ROW, len(methods))
    fig, axes, top = small_multiples(plt, len(metrics), title, -(-len(methods) // ncol))
    for ax, m in zip(axes, metrics):
        for method, g in scene_df.groupby("method", sort=True):
            g = g.sort_values("view")
            ax.plot(range(len(g)), g[m].to_numpy(), marker="o", ms=3, label=display_name(method))
        ax.set_title(f"{METRICS[m].label} ({_direction(m)} is better)", fontsize=TEXT_PT)
        ax.set_xlabel("test view (sorted)", fontsize=SMALL_PT)
        ax.tick_params(labelsize=SMALL_PT)
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="upper center", bbox_to_anchor=(0.5, 1 - 0.4 / fig.get_figheight()),
               ncol=ncol, fontsize=SMALL_PT, frameon=False)
    fig.tight_layout(rect=(0, 0, 1, top))
    return fig


def curves_figure(scene_df: pd.DataFrame, metrics: list[str], out: Path, title: str) -> Path:
    """Per-view metric values along the test trajectory, one line per method, one panel per metric."""
    _save(_plt(), curves_build(scene_df, metrics, title), out)
    return out


def distribution_build(scene_df: pd.DataFrame, metrics: list[str], title: str):
    """The figure of :func:`distribution_figure` (not saved)."""
    plt = _plt()
    methods = sorted(scene_df["method"].unique())
    fig, axes, top = small_multiples(plt, len(metrics), title,
                                     panel_height=max(PANEL_HEIGHT_IN, 0.9 + 0.3 * len(methods)))
    for k, (ax, m) in enumerate(zip(axes, metrics)):
        data = [scene_df.loc[scene_df["method"] == x, m].replace([np.inf], np.nan).dropna().to_numpy()
                for x in methods]
        ax.boxplot(data, showfliers=False, **_horizontal())
        for i, d in enumerate(data, 1):
            ax.scatter(d, np.full(len(d), i), s=8, alpha=0.6)
        first = k % MAX_PANELS_PER_ROW == 0  # method names on the first panel of each row only
        names = [display_name(x) for x in methods] if first else [""] * len(methods)
        ax.set_yticks(range(1, len(methods) + 1), names, fontsize=SMALL_PT)
        ax.invert_yaxis()
        ax.set_title(f"{METRICS[m].label} ({_direction(m)} is better)", fontsize=TEXT_PT)
        ax.tick_params(labelsize=SMALL_PT)
    fig.tight_layout(rect=(0, 0, 1, top))
    return fig


def distribution_figure(scene_df: pd.DataFrame, metrics: list[str], out: Path, title: str) -> Path:
    """Per-method distributions of per-view values (box plots with the points), one panel per metric."""
    _save(_plt(), distribution_build(scene_df, metrics, title), out)
    return out


def ci_build(ci: pd.DataFrame, metrics: list[str]):
    """Each method's value with its 95% interval, one panel per metric (the statistics page's figure)."""
    plt = _plt()
    n_methods = ci["method"].nunique()
    fig, axes, top = small_multiples(plt, len(metrics), "95% intervals",
                                     panel_height=max(1.8, 0.9 + 0.35 * n_methods))
    for k, (ax, m) in enumerate(zip(axes, metrics)):
        rows = ci[ci["metric"] == m].sort_values("method", ascending=False)
        y = np.arange(len(rows))
        err = np.vstack([rows["value"] - rows["lo"], rows["hi"] - rows["value"]])
        ax.errorbar(rows["value"], y, xerr=err, fmt="o", color="#1f5fa8", capsize=3)
        first = k % MAX_PANELS_PER_ROW == 0
        ax.set_yticks(y, rows["method"] if first else [""] * len(rows), fontsize=SMALL_PT)
        ax.set_title(f"{METRICS[m].label} ({_direction(m)} is better)", fontsize=TEXT_PT)
        ax.tick_params(labelsize=SMALL_PT)
        ax.grid(axis="x", alpha=0.3)
    fig.tight_layout(rect=(0, 0, 1, top))
    return fig


def ci_figure(ci: pd.DataFrame, metrics: list[str], out: Path) -> Path:
    """:func:`ci_build`, saved to ``out``."""
    _save(_plt(), ci_build(ci, metrics), out)
    return out
