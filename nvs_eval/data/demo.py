"""The embedded demo: a small benchmark made from the photographs scikit-image ships.

Each photograph is a scene; test views are crops along a sweeping trajectory; three "methods" reproduce
failure modes seen in novel-view synthesis: over-smoothing with a colour cast (under-fitted NeRF), noise with
floaters (3DGS artefacts), and a one-pixel misalignment with ghosting and JPEG compression. Every view has a mask
(an ellipse over the centre of the crop, as an object mask would be), so the report shows the masked and the
colour-corrected families beside the plain metrics; the colour cast of ``smooth-nerf`` is what CC metrics undo.
``floater-gs`` has three runs (seeds), so the tables print mean ± std over runs and the statistics page shows the
run-to-run spread beside the bootstrap intervals and the pairwise tests.

A second config, ``wild.yaml``, scores ``smooth-nerf`` as an in-the-wild method without an appearance embedding
would be scored: NerfBaselines' ``nerfw`` protocol (the right half of each view) with an affine appearance fit on
the left half, which undoes its colour cast (:mod:`nvs_eval.metrics.appearance`).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

SCENES = ("astronaut", "coffee", "chelsea", "rocket")
METHODS = ("smooth-nerf", "floater-gs", "ghost-jpeg")
# floater-gs is trained three times (its floaters fall elsewhere each run): tables print mean ± std over the runs
RUNS = {"floater-gs": ("seed0", "seed1", "seed2")}
DEMO_METRICS = ("psnr", "ssim", "lpips_alex", "lpips_vgg", "masked_psnr", "masked_ssim", "cc_psnr", "cc_ssim", "dists",
           "flip")
VIEW_SIZE = (156, 208)
VIEWS = 5  # test views per scene (`nvs-eval demo --views`); with VIEW_SIZE, what keeps the demo under 100 s
WILD_FIT, WILD_METRICS = "affine", ("psnr", "ssim", "lpips_alex")  # wild.yaml: nerfw with an appearance fit


def _mask() -> np.ndarray:
    h, w = VIEW_SIZE
    yy, xx = np.mgrid[:h, :w]
    return ((((yy - h / 2) / (0.42 * h)) ** 2 + ((xx - w / 2) / (0.38 * w)) ** 2) < 1).astype(np.float32)


def _photo(name: str) -> np.ndarray:
    from skimage import data

    img = getattr(data, name)()
    return img[..., :3].astype(np.float32) / 255.0


def _views(img: np.ndarray, n: int) -> list[tuple[int, int]]:
    h, w = VIEW_SIZE
    ys = np.linspace(2, img.shape[0] - h - 8, n).round().astype(int)
    xs = np.linspace(2, img.shape[1] - w - 8, n).round().astype(int)
    return list(zip(ys.tolist(), xs.tolist()))


def _blur(x: np.ndarray, sigma: float) -> np.ndarray:
    from scipy.ndimage import gaussian_filter

    return gaussian_filter(x, sigma=(sigma, sigma, 0), mode="reflect")


def _render(method: str, img: np.ndarray, y: int, x: int, rng: np.random.Generator) -> np.ndarray:
    h, w = VIEW_SIZE
    crop = img[y : y + h, x : x + w]
    if method == "smooth-nerf":
        out = _blur(crop, 1.4) * np.array([1.03, 1.0, 0.95], np.float32) + 0.01
    elif method == "floater-gs":
        out = crop + rng.normal(0, 0.025, crop.shape).astype(np.float32)
        for _ in range(4):
            cy, cx, r = rng.integers(0, h), rng.integers(0, w), rng.integers(6, 16)
            yy, xx = np.ogrid[:h, :w]
            blob = np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2.0 * r * r))[..., None]
            out = out * (1 - 0.7 * blob) + 0.7 * blob * rng.uniform(0.2, 0.9, 3).astype(np.float32)
    else:
        shifted = img[y + 1 : y + 1 + h, x + 1 : x + 1 + w]
        ghost = img[y + 4 : y + 4 + h, x + 6 : x + 6 + w]
        out = 0.85 * shifted + 0.15 * ghost
        out = _jpeg(np.clip(out, 0, 1), 70)
    return np.clip(out, 0.0, 1.0)


def _jpeg(x: np.ndarray, quality: int) -> np.ndarray:
    import io

    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray((x * 255).round().astype(np.uint8)).save(buf, format="JPEG", quality=quality)
    return np.asarray(Image.open(io.BytesIO(buf.getvalue())), dtype=np.float32) / 255.0


def _save(path: Path, x: np.ndarray) -> None:
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray((np.clip(x, 0, 1) * 255).round().astype(np.uint8)).save(path)


def build_demo(root: Path, views_per_scene: int = VIEWS, scenes: tuple[str, ...] = SCENES, seed: int = 0) -> Path:
    """Write ground truth, renders and ``benchmark.yaml`` under ``root``; returns the config path."""
    root = Path(root)
    rng = np.random.default_rng(seed)
    for scene in scenes:
        img = _photo(scene)
        for i, (y, x) in enumerate(_views(img, views_per_scene)):
            name = f"{i:04d}.png"
            _save(root / "gt" / scene / name, img[y : y + VIEW_SIZE[0], x : x + VIEW_SIZE[1]])
            _save(root / "masks" / scene / name, _mask()[..., None].repeat(3, axis=2))
            for method in METHODS:
                for run in RUNS.get(method, (None,)):
                    folder = root / "renders" / method / (run or "") / scene
                    _save(folder / name, _render(method, img, y, x, rng))
    config = root / "benchmark.yaml"
    lines = ["name: demo", "protocol: nvs-eval", f"metrics: [{', '.join(DEMO_METRICS)}]", "datasets:",
             "  - name: skimage-photos", "    kind: pairs", '    gt: "gt/{scene}"', '    masks: "masks/{scene}"',
             f"    scenes: [{', '.join(scenes)}]", "    methods:"]
    lines += [f'      - name: {m}\n        path: "renders/{m}/{{run}}/{{scene}}"\n        runs: [{", ".join(RUNS[m])}]'
              if m in RUNS else f'      - name: {m}\n        path: "renders/{m}/{{scene}}"' for m in METHODS]
    config.write_text("\n".join(lines) + "\n")
    (root / "wild.yaml").write_text("\n".join([
        "name: demo-wild", "protocol: nerfw", f"appearance_fit: {WILD_FIT}", f"metrics: [{', '.join(WILD_METRICS)}]",
        "datasets:", "  - name: skimage-photos", "    kind: pairs", '    gt: "gt/{scene}"',
        f"    scenes: [{', '.join(scenes)}]", "    methods:", '      - name: smooth-nerf',
        '        path: "renders/smooth-nerf/{scene}"']) + "\n")
    return config
