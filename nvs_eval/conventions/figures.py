"""The efficiency figures: the one place each figure's name, unit, direction and definition is written.

A figure is what a training tool measured and wrote down (the number of Gaussians, the model's size, the time to
render an image, the training time and memory), read from its files by :mod:`nvs_eval.data.efficiency`, stored
with the file it came from and that file's sha256, and printed beside the quality metrics. nvs-eval never
re-measures a figure and never invents one: each is the tool's own measurement on its own GPU.

Stored values are in base units (``unit``); tables print ``value * scale`` in ``display_unit``. "GB" is 2**30 bytes
here, as both tools that write memory compute it (gsplat ``torch.cuda.max_memory_allocated() / 1024**3``;
NerfBaselines' MB from ``nvidia-smi``, printed as ``/ 1024`` GB by its ``results.format_memory``); model sizes are
printed in MB = 10**6 bytes (the 3DGS compression survey's ``Size [Bytes]`` divided by a million).

>>> FIGURES["fps"].higher_is_better, FIGURES["render_ms"].higher_is_better
(True, False)
>>> round(FIGURES["num_gaussians"].show(3_141_592), 6)
3.141592
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class FigureSpec:
    """One efficiency figure.

    Attributes:
        name: the id, as stored and in ``score --json``'s ``"efficiency"`` rows.
        label: the table header, with its display unit (``#G (M)``).
        unit: the stored unit.
        display_unit: the unit tables print.
        scale: stored value times ``scale`` is the displayed value.
        precision: decimals printed in tables.
        higher_is_better: the direction tables rank by (the arrow).
        definition: one sentence (docs/efficiency.md and the captions).
    """

    name: str
    label: str
    unit: str
    display_unit: str
    scale: float
    precision: int
    higher_is_better: bool
    definition: str

    def show(self, value: float) -> float:
        """``value`` (stored unit) in the display unit."""
        return value * self.scale


FIGURES: dict[str, FigureSpec] = {f.name: f for f in (
    FigureSpec("num_gaussians", "#G (M)", "count", "million", 1e-6, 2, False,
               "the number of Gaussians of the model scored (a 3DGS PLY's vertex count, gsplat's num_GS)"),
    FigureSpec("model_bytes", "Size (MB)", "bytes", "MB (10^6 bytes)", 1e-6, 1, False,
               "the model's size on disk: the file (or compressed folder) the tool saved at the iteration scored"),
    FigureSpec("render_ms", "Render (ms)", "ms", "ms", 1.0, 2, False,
               "milliseconds to render one test image, as the tool timed it (mean over the test views)"),
    FigureSpec("fps", "FPS", "1/s", "1/s", 1.0, 0, True,
               "1000 / the mean render_ms (over views, then over scenes or runs); never the mean of per-frame FPS"),
    FigureSpec("train_seconds", "Train (min)", "s", "min", 1 / 60, 1, False,
               "wall-clock seconds of training to the iteration scored, as the tool timed it"),
    FigureSpec("train_memory_gb", "Mem (GB)", "GB (2^30 bytes)", "GB", 1.0, 2, False,
               "peak GPU memory during training, as the tool measured it"),
    FigureSpec("mean_frame_fps", "Frame FPS (mean)", "1/s", "1/s", 1.0, 1, True,
               "the mean over test views of 1/t per view, as nerfstudio's ns-eval writes its 'fps' (t includes "
               "computing the view's metrics); not comparable with fps, which is 1000 / mean render_ms"),
)}

# the figures derived from others, never read from a file: fps from the mean render_ms
DERIVED = {"fps": "render_ms"}

TOOL_NOTE = ("the tool's own measurement on its own GPU, read from the file named, not re-measured by nvs-eval")


def figure(name: str) -> FigureSpec:
    """The spec of ``name``; a clear error naming the known figures otherwise."""
    from ..errors import UsageError

    if name not in FIGURES:
        raise UsageError(f"unknown efficiency figure {name!r}", expected=f"one of {', '.join(FIGURES)}")
    return FIGURES[name]
