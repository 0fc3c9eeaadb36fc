"""Reading images into float32 RGB in [0, 1], with every refusal naming the file.

Supported: PNG (1/8/16-bit; palette, grey, grey+alpha, RGB, RGBA), JPEG, BMP, TIFF (8/16-bit, float), WebP and
``.npy`` float arrays (H x W x 3 or 4, values in [0, 1]). Alpha is composited on the given background, never
dropped. Sizes are read from headers first, so decompression bombs are refused before pixels are decoded.
OpenEXR / Radiance HDR files are recognised and refused with a message (no tone mapping is guessed). Nothing is
resized, clamped or skipped silently.
"""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import ImageReadError, option

WHITE = (1.0, 1.0, 1.0)  # the default background alpha is composited on (protocols and datasets name theirs)

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp", ".npy", ".exr", ".hdr")
HDR_SUFFIXES = (".exr", ".hdr")  # recognised, so a folder of them is refused clearly rather than found empty
DEFAULT_MAX_PIXELS = 268_435_456  # 16384 x 16384


def max_pixels() -> int:
    """Largest accepted image (pixels); ``NVS_EVAL_MAX_PIXELS`` overrides."""
    return int(os.environ.get("NVS_EVAL_MAX_PIXELS", DEFAULT_MAX_PIXELS))


def is_image_file(path: Path) -> bool:
    return path.suffix.lower() in IMAGE_SUFFIXES


@dataclass(frozen=True)
class CanvasHalf:
    """One half of a side-by-side canvas file: gsplat's ``simple_trainer.py`` and nerfstudio's ``ns-eval
    --render-output-path`` write ground truth | render concatenated along the width in one file.

    It stands wherever a file path does (pairing, hashing, reading); ``str()`` is ``<file>#left`` or
    ``<file>#right``, which :func:`image_ref` turns back into a ``CanvasHalf``."""

    canvas: Path
    side: str  # "left" or "right"

    @property
    def name(self) -> str:
        return f"{self.canvas.name}#{self.side}"

    @property
    def suffix(self) -> str:
        return self.canvas.suffix

    def is_file(self) -> bool:
        return self.canvas.is_file()

    def __str__(self) -> str:
        return f"{self.canvas}#{self.side}"


def image_ref(text: str | Path) -> Path | CanvasHalf:
    """The image a stored path string names: a file, or one half of a canvas (``file#left``, ``file#right``)."""
    text = str(text)
    for side in ("left", "right"):
        if text.endswith(f"#{side}"):
            return CanvasHalf(Path(text[: -len(side) - 1]), side)
    return Path(text)


def image_sha256(ref: Path | CanvasHalf) -> str:
    """sha256 of the file, with ``#left`` / ``#right`` appended for a canvas half (the two halves of one canvas
    have different identities; both change when the file does)."""
    from ..util.hashing import sha256_file

    if isinstance(ref, CanvasHalf):
        return f"{sha256_file(ref.canvas)}#{ref.side}"
    return sha256_file(ref)


@dataclass(frozen=True)
class ImageHeader:
    """What the header says, before any pixel is decoded."""

    width: int
    height: int
    mode: str


def _png_bitdepth(path: Path) -> int | None:
    with open(path, "rb") as f:
        head = f.read(33)
    if len(head) >= 26 and head[:8] == b"\x89PNG\r\n\x1a\n" and head[12:16] == b"IHDR":
        return head[24]
    return None


def read_header(path: Path | CanvasHalf) -> ImageHeader:
    """Width, height and mode from the file header; refuses empty, unreadable and oversized files."""
    if isinstance(path, CanvasHalf):
        h = read_header(path.canvas)
        _check_canvas_width(path.canvas, h.width)
        return ImageHeader(h.width // 2, h.height, h.mode)
    path = Path(path)
    try:
        size = path.stat().st_size
    except OSError as e:
        raise ImageReadError(f"{path}: cannot read ({e.strerror or e})") from None
    if size == 0:
        raise ImageReadError(f"{path}: empty file (0 bytes), expected an image")
    if path.suffix.lower() in HDR_SUFFIXES:
        raise ImageReadError(f"{path}: high-dynamic-range images ({path.suffix}) are not scored: LDR metrics need a "
                             "tone mapping, which would be a protocol choice; save the renders as 16-bit PNG or as "
                             "float .npy in [0, 1]")
    if path.suffix.lower() == ".npy":
        arr = _open_npy(path)
        return ImageHeader(arr.shape[1], arr.shape[0], f"npy:{arr.dtype}")
    from PIL import Image

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # e.g. corrupt EXIF: metadata only, pixels are checked
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as im:
                w, h, mode = im.width, im.height, im.mode
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as e:
        raise ImageReadError(f"{path}: header claims an absurd size, refused before decoding (decompression bomb: "
                             f"{e})") from None
    except Exception as e:  # noqa: BLE001 - PIL raises many types for corrupt files
        raise ImageReadError(f"{path}: not a readable image ({type(e).__name__}: {e})") from None
    _check_size(path, w, h)
    return ImageHeader(w, h, mode)


def _check_canvas_width(path: Path, width: int) -> None:
    if width % 2:
        raise ImageReadError(f"{path}: a side-by-side canvas (ground truth | render) must have an even width, got "
                             f"{width} px; is this a canvas written by gsplat or ns-eval?")


def _check_size(path: Path, w: int, h: int) -> None:
    if w <= 0 or h <= 0:
        raise ImageReadError(f"{path}: header gives an empty image ({w}x{h})")
    if w * h > max_pixels():
        raise ImageReadError(
            f"{path}: header claims {w}x{h} pixels, more than the limit of {max_pixels()} "
            "(decompression bomb?); set NVS_EVAL_MAX_PIXELS to raise it"
        )


def _open_npy(path: Path) -> np.ndarray:
    try:
        arr = np.load(path, mmap_mode="r", allow_pickle=False)
    except Exception as e:  # noqa: BLE001
        raise ImageReadError(f"{path}: not a readable .npy array ({type(e).__name__}: {e})") from None
    if arr.ndim != 3 or arr.shape[2] not in (3, 4):
        raise ImageReadError(f"{path}: expected an H x W x 3 (or 4) array, got shape {arr.shape}")
    if arr.dtype.kind != "f":
        raise ImageReadError(f"{path}: expected a float array with values in [0, 1], got dtype {arr.dtype}")
    _check_size(path, arr.shape[1], arr.shape[0])
    return arr


def _composite(rgb: np.ndarray, alpha: np.ndarray, background: tuple[float, float, float]) -> np.ndarray:
    bg = np.asarray(background, dtype=np.float32)
    return rgb * alpha[..., None] + bg * (1.0 - alpha[..., None])


def _from_channels(arr: np.ndarray, scale: float, background, path: Path) -> np.ndarray:
    """uint/float H x W [x C] array to float32 RGB in [0, 1] (grey replicated, alpha composited); with
    ``background=None``, the channels as stored (H x W x C, for :func:`read_alpha`)."""
    x = arr.astype(np.float32) / np.float32(scale) if scale != 1 else arr.astype(np.float32, copy=False)
    if x.ndim == 2:
        x = x[..., None]
    return x if background is None else to_rgb(x, background, path)


def to_rgb(x: np.ndarray, background: tuple[float, float, float] | str, path: Path | str = "image") -> np.ndarray:
    """Stored channels (H x W x C float32, as ``read_image(path, None)`` gives them) to RGB: grey replicated,
    alpha composited on ``background``, the same arithmetic as :func:`read_image` (``nvs-eval explain`` decodes
    once and composites on several backgrounds). ``background="stored"``: the colour channels as stored, the alpha
    channel ignored (what code that reads RGBA files as RGB computes)."""
    c = x.shape[2]
    if background == "stored" and c in (2, 4):
        x = x[..., : c - 1]
        c -= 1
    if c == 1:
        return np.repeat(x, 3, axis=2)
    if c == 2:
        return _composite(np.repeat(x[..., :1], 3, axis=2), x[..., 1], background)
    if c == 3:
        return x
    if c == 4:
        return _composite(x[..., :3], x[..., 3], background)
    raise ImageReadError(f"{path}: expected 1 to 4 channels, got {c}")


def _read_png16(path: Path) -> tuple[np.ndarray, int]:
    import png  # pypng: Pillow cannot hold 16-bit RGB(A)

    try:
        w, h, rows, info = png.Reader(filename=str(path)).asDirect()
        arr = np.vstack([np.asarray(r, dtype=np.uint16) for r in rows])
    except Exception as e:  # noqa: BLE001
        raise ImageReadError(f"{path}: corrupt 16-bit PNG ({type(e).__name__}: {e})") from None
    return arr.reshape(h, w, info["planes"]), (1 << info["bitdepth"]) - 1


def read_images(refs: dict, background: tuple[float, float, float] = WHITE, *,
                raw8: bool = False) -> dict:
    """:func:`read_image` of every value of ``refs`` (keys kept), decoding each canvas file only once.
    ``raw8``: 8-bit RGB files stay uint8 (H x W x 3; the device converts them, see ``Evaluator.to_tensor``)."""
    canvases: dict[Path, np.ndarray] = {}
    out = {}
    for key, ref in refs.items():
        if isinstance(ref, CanvasHalf):
            if ref.canvas not in canvases:
                canvases[ref.canvas] = read_image(ref.canvas, background, raw8=raw8)
            out[key] = _half(canvases[ref.canvas], ref)
        else:
            out[key] = read_image(ref, background, raw8=raw8)
    return out


def _half(canvas: np.ndarray, ref: CanvasHalf) -> np.ndarray:
    w = canvas.shape[1]
    _check_canvas_width(ref.canvas, w)
    return np.ascontiguousarray(canvas[:, : w // 2] if ref.side == "left" else canvas[:, w // 2 :])


def read_image(path: Path | str | CanvasHalf, background: tuple[float, float, float] = WHITE, *,
               raw8: bool = False) -> np.ndarray:
    """Decode ``path`` to a float32 H x W x 3 array in [0, 1] (``raw8``: an 8-bit RGB file as its uint8 array,
    ``k`` standing for ``k / 255``; every other file as float32).

    Raises:
        ImageReadError: empty, truncated, corrupt, oversized, CMYK or otherwise unsupported files, and ``.npy``
            arrays with NaN, Inf or values outside [0, 1]. The message names the file and the problem.

    Example:
        >>> import tempfile, numpy as np
        >>> from PIL import Image
        >>> path = Path(tempfile.mkdtemp()) / "grey.png"
        >>> Image.fromarray(np.full((2, 3), 51, np.uint8)).save(path)
        >>> x = read_image(path)
        >>> x.shape, x.dtype, round(float(x[0, 0, 0]), 6)
        ((2, 3, 3), dtype('float32'), 0.2)
    """
    if isinstance(path, CanvasHalf):
        return _half(read_image(path.canvas, background, raw8=raw8), path)
    return _decode(Path(path), background, raw8)


def _decode(path: Path, background, raw8: bool = False) -> np.ndarray:
    """:func:`read_image`'s decoding (``background=None``: the stored channels, alpha not composited)."""
    header = read_header(path)
    suffix = path.suffix.lower()
    if suffix == ".npy":
        # read into memory once: never a read-only view of the memory map (the evaluator may quantise a batch in
        # place, and the file must not be read again, lazily, after it was hashed)
        arr = np.array(_open_npy(path))
        if not np.isfinite(arr).all():
            bad = int((~np.isfinite(arr)).sum())
            raise ImageReadError(f"{path}: {bad} NaN/Inf value(s); expected finite values in [0, 1]")
        lo, hi = float(arr.min()), float(arr.max())
        if lo < 0.0 or hi > 1.0:
            raise ImageReadError(f"{path}: values in [{lo:.6g}, {hi:.6g}], expected [0, 1] (nothing is clamped)")
        return np.ascontiguousarray(_from_channels(arr, 1, background, path), dtype=np.float32)
    if suffix == ".png" and _png_bitdepth(path) == 16 and header.mode not in ("I;16", "I;16B", "I;16L", "I"):
        arr, peak = _read_png16(path)
        return _from_channels(arr, peak, background, path)
    if suffix in (".tif", ".tiff"):
        return _read_tiff(path, background)
    return _read_pil(path, header, background, raw8)


def _read_tiff(path: Path, background) -> np.ndarray:
    import tifffile

    try:
        arr = tifffile.imread(path)
    except Exception as e:  # noqa: BLE001
        raise ImageReadError(f"{path}: not a readable TIFF ({type(e).__name__}: {e})") from None
    if arr.ndim == 3 and arr.shape[0] in (3, 4) and arr.shape[2] not in (1, 2, 3, 4):
        arr = np.moveaxis(arr, 0, -1)
    if arr.ndim not in (2, 3):
        raise ImageReadError(f"{path}: expected a single-page 2-D image, got array shape {arr.shape}")
    if arr.dtype == np.uint8:
        return _from_channels(arr, 255, background, path)
    if arr.dtype == np.uint16:
        return _from_channels(arr, 65535, background, path)
    if arr.dtype.kind == "f":
        if not np.isfinite(arr).all() or arr.min() < 0 or arr.max() > 1:
            raise ImageReadError(f"{path}: float TIFF with values outside [0, 1] or non-finite values")
        return _from_channels(arr, 1, background, path)
    raise ImageReadError(f"{path}: unsupported TIFF sample type {arr.dtype}; expected uint8, uint16 or float")


def _read_pil(path: Path, header: ImageHeader, background, raw8: bool = False) -> np.ndarray:
    from PIL import Image

    mode = header.mode
    if mode in ("CMYK", "YCbCr", "LAB", "HSV"):
        raise ImageReadError(f"{path}: {mode} colour space is not supported; expected an RGB, RGBA or greyscale image")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # e.g. corrupt EXIF: metadata only, pixels are checked
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as im:
                im.load()
                if mode == "P":
                    im = im.convert("RGBA" if "transparency" in im.info else "RGB")
                elif mode == "PA":
                    im = im.convert("RGBA")
                elif mode == "1":
                    im = im.convert("L")
                arr = np.asarray(im)
    except ImageReadError:
        raise
    except Exception as e:  # noqa: BLE001 - truncated or corrupt data
        raise ImageReadError(f"{path}: not a readable image ({type(e).__name__}: {e})") from None
    if arr.dtype == np.uint8:
        if raw8 and arr.ndim == 3 and arr.shape[2] == 3:
            return arr if arr.flags.writeable and arr.flags.c_contiguous else np.array(arr)
        return _from_channels(arr, 255, background, path)
    if arr.dtype in (np.uint16, np.int32) and mode.startswith("I"):
        peak = 65535 if (mode.startswith("I;16") or _png_bitdepth(path) == 16) else None
        if peak is None:
            raise ImageReadError(f"{path}: 32-bit integer images are not supported; expected 8 or 16 bits")
        return _from_channels(arr.astype(np.uint16), peak, background, path)
    raise ImageReadError(f"{path}: unsupported pixel format {mode} ({arr.dtype})")



def _check_mask(m: np.ndarray, path: Path, size: tuple[int, int], what: str) -> np.ndarray:
    if m.shape != tuple(size):
        raise ImageReadError(f"{path}: {what} is {m.shape[1]}x{m.shape[0]} but its view is {size[1]}x{size[0]}")
    if not m.any():
        raise ImageReadError(f"{path}: {what} selects no pixel (all zero); a masked metric has nothing to average")
    return np.ascontiguousarray(m, dtype=np.float32)


def read_mask(path: Path | str, size: tuple[int, int]) -> np.ndarray:
    """A mask image as (H, W) float32 weights in [0, 1]: white (or any non-zero value) evaluates, grey is a soft
    weight, black leaves the pixel out. A colour mask counts by the mean of its channels; transparent pixels are
    black. ``size`` is the view's (height, width), which the mask must match.

    Raises:
        ImageReadError: unreadable, of another size than the view, or all zero (naming the file).
    """
    path = Path(path)
    return _check_mask(read_image(path, (0.0, 0.0, 0.0)).mean(axis=2), path, size, "mask")


def read_alpha(path: Path | str, size: tuple[int, int]) -> np.ndarray:
    """The alpha channel of an RGBA ground truth as (H, W) float32 in [0, 1] (``--mask-from-gt-alpha``).

    Raises:
        ImageReadError: the image has no alpha channel, or its alpha is all zero.
    """
    path = Path(path)
    channels = _decode(path, None)  # decoded once, alpha as stored
    if channels.shape[2] not in (2, 4):
        raise ImageReadError(f"has no alpha channel ({channels.shape[2]} channel(s))", path=path,
                             hint=f"{option('mask_from_gt_alpha')} needs RGBA ground truth")
    return _check_mask(channels[..., -1], path, size, "alpha channel")
