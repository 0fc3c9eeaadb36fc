"""One pair's error map as a figure (``nvs-eval heatmap``): ground truth, render and the map side by side."""

from __future__ import annotations

from pathlib import Path

from ..errors import StoreError, option
from ..util.atomic import atomic_output


def write_heatmap(render: Path, gt: Path, metric: str, out: Path, protocol: str | None = None,
                  device: str = "auto", save_map: Path | None = None, force: bool = False) -> float:
    """Draw ``metric``'s per-pixel map of ``render`` against ``gt`` beside both images to ``out`` (and the raw
    float32 H x W map to ``save_map`` as .npy); returns the map's mean. Neither file is overwritten unless
    ``force``."""
    import numpy as np

    from ..compute.maps import pair_map

    for path in (out, save_map):
        if path and Path(path).exists() and not force:
            raise StoreError("already exists", path=Path(path), hint=f"pass {option('force')} to overwrite it")
    r, g, m = pair_map(Path(render), Path(gt), metric, protocol, device)
    if save_map:
        with atomic_output(save_map) as tmp, open(tmp, "wb") as f:
            np.save(f, m)
    _draw(r, g, m, Path(render).name, metric, Path(out))
    return float(np.nanmean(m))


def _draw(r, g, m, render_name: str, metric: str, out: Path) -> None:
    import numpy as np

    from ..conventions.registry import MAP_LABELS
    from .figures import _plt

    plt = _plt()
    fig, axes = plt.subplots(1, 3, figsize=(11, 3.6))
    axes[0].imshow(g)
    axes[0].set_title("ground truth")
    axes[1].imshow(r)
    axes[1].set_title(render_name)
    im = axes[2].imshow(m, cmap="inferno", vmin=0)
    axes[2].set_title(f"{MAP_LABELS.get(metric, metric)} (mean {np.nanmean(m):.4f})")
    fig.colorbar(im, ax=axes[2], fraction=0.046)
    for ax in axes:
        ax.set_xticks([])
        ax.set_yticks([])
    fig.tight_layout()
    with atomic_output(out) as tmp:
        fig.savefig(tmp, dpi=100, format=out.suffix.lstrip(".") or "png")
    plt.close(fig)
