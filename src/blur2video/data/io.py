"""Image reading and atomic writing.

Images enter the library as float32 HxWx3 arrays in [0, 1] whatever the file held (8/16-bit,
grayscale, RGBA, EXIF-rotated JPEG), so nothing downstream needs to care about formats.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from ..errors import Blur2VideoError

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp", ".webp"}


def _to_float_rgb(img: Image.Image) -> np.ndarray:
    """Convert any PIL mode to float32 RGB in [0, 1], keeping 16-bit precision."""
    if img.mode in ("I;16", "I;16B", "I;16L", "I"):
        arr = np.asarray(img, dtype=np.float32) / 65535.0
        arr = np.repeat(arr[..., None], 3, axis=2)
    elif img.mode == "F":
        arr = np.repeat(np.asarray(img, dtype=np.float32)[..., None], 3, axis=2)
    else:
        arr = np.asarray(img.convert("RGB"), dtype=np.float32) / 255.0
    return np.ascontiguousarray(np.clip(arr, 0.0, 1.0), dtype=np.float32)


def read_image(path: str | os.PathLike) -> np.ndarray:
    """Read an image file as float32 HxWx3 in [0, 1], with EXIF orientation applied.

    16-bit grayscale PNG and 16-bit TIFF (via tifffile) keep their precision. Raises Blur2VideoError naming the file when it cannot be read.
    """
    path = Path(path)
    if not path.is_file():
        raise Blur2VideoError(f"{path}: no such file")
    if path.stat().st_size == 0:
        raise Blur2VideoError(f"{path}: file is empty (0 bytes); give an image file")
    if path.suffix.lower() in (".tif", ".tiff"):
        return _read_tiff(path)
    try:
        with Image.open(path) as img:
            return _to_float_rgb(ImageOps.exif_transpose(img))
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise Blur2VideoError(f"{path}: not a readable image ({exc}); give a PNG, JPEG or TIFF file") from None


def _read_tiff(path: Path) -> np.ndarray:
    """TIFF via tifffile (ships with scikit-image) so 16-bit RGB survives."""
    import tifffile

    try:
        arr = tifffile.imread(path)
    except Exception as exc:  # tifffile raises many types for broken files
        raise Blur2VideoError(f"{path}: not a readable TIFF ({exc})") from None
    return array_to_float_rgb(arr, name=str(path))


def array_to_float_rgb(arr: np.ndarray, name: str = "image") -> np.ndarray:
    """Normalise an HxW, HxWx1, HxWx3 or HxWx4 array of any integer/float dtype to float32 RGB."""
    arr = np.asarray(arr)
    if arr.ndim == 2:
        arr = arr[..., None]
    if arr.ndim != 3 or arr.shape[2] not in (1, 3, 4):
        raise Blur2VideoError(f"{name}: expected an HxW, HxWx3 or HxWx4 image, got shape {arr.shape}")
    if arr.shape[2] == 1:
        arr = np.repeat(arr, 3, axis=2)
    arr = arr[..., :3]
    if arr.dtype == np.uint8:
        out = arr.astype(np.float32) / 255.0
    elif arr.dtype == np.uint16:
        out = arr.astype(np.float32) / 65535.0
    elif arr.dtype == bool:
        out = arr.astype(np.float32)
    elif np.issubdtype(arr.dtype, np.floating):
        out = arr.astype(np.float32)
    else:
        raise Blur2VideoError(f"{name}: unsupported pixel type {arr.dtype}")
    return np.ascontiguousarray(np.clip(out, 0.0, 1.0))


def probe_image(path: str | os.PathLike) -> tuple[int, int]:
    """Return (width, height) from the header only, raising Blur2VideoError for non-images."""
    path = Path(path)
    try:
        with Image.open(path) as img:
            img = ImageOps.exif_transpose(img) if path.suffix.lower() in (".jpg", ".jpeg") else img
            return img.size
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError):
        raise Blur2VideoError(f"{path}: not an image") from None


def to_uint8(img: np.ndarray) -> np.ndarray:
    """Quantise float [0, 1] to uint8 with rounding (not truncation, which darkens by 0.5/255);
    uint8 input is returned as is."""
    if np.asarray(img).dtype == np.uint8:
        return np.asarray(img)
    return np.clip(np.rint(np.asarray(img) * 255.0), 0, 255).astype(np.uint8)


def new_file_mode() -> int:
    """The mode ``open()`` gives a new file (0o666 less the umask). ``mkstemp`` makes its files
    0600, which would leave atomically written reports and weights unreadable to a shared group."""
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    """Write via a temporary file in the same folder and rename, so readers never see half a file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.chmod(tmp, new_file_mode())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def write_png(path: str | os.PathLike, img: np.ndarray) -> None:
    """Write a float [0,1] or uint8 HxWx3 image as an 8-bit PNG (non-atomic: callers write into
    a temporary folder that is renamed as a whole)."""
    arr = img if img.dtype == np.uint8 else to_uint8(img)
    Image.fromarray(arr).save(path, format="PNG", compress_level=1)
