"""Image reading and atomic writing: the file layer under everything else (synthesizers, datasets,
checkpoints, restore's outputs), so that none of them imports another for it.

Images enter the library as float32 HxWx3 arrays in [0, 1] whatever the file held (8/16-bit,
grayscale, RGBA, EXIF-rotated JPEG), so nothing downstream needs to care about formats. Files
and folders are written under a temporary name and renamed whole, so a reader, a resumed run or
a killed one never sees half of one.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import struct
import tempfile
import warnings
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps

from .errors import Blur2VideoError

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp", ".webp", ".gif"}


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


def first_line(exc: BaseException) -> str:
    """An exception as one line: its first line of text, or its type when it has none."""
    text = str(exc).strip()
    return text.splitlines()[0] if text else exc.__class__.__name__


class ImageTooLarge(Blur2VideoError):
    """An image whose header claims more pixels than PIL agrees to decode (a decompression
    bomb, or a genuine giant photo the user must scale down first): its own type, so callers
    that list unreadable files can still give this different fix."""


def too_large_error(path: str | os.PathLike, exc: Image.DecompressionBombError) -> ImageTooLarge:
    """The one line for an image PIL refuses as a possible decompression bomb."""
    return ImageTooLarge(
        f"{path}: refused to decode, too many pixels ({first_line(exc).rstrip('.')}); if the image is genuine, "
        f"scale it down first"
    )


def holds_16bit_colour(img: Image.Image) -> bool:
    """True for a 16-bit RGB(A) or grey+alpha PNG: PIL opens those as 8-bit modes, silently
    dropping the low byte, so they must be decoded another way to keep their precision."""
    tile = getattr(img, "tile", None) or []
    rawmode = str(tile[0][3]) if tile and img.format == "PNG" else ""
    return rawmode.endswith(";16B") and not img.mode.startswith("I")


def _orient(arr: np.ndarray, img: Image.Image) -> np.ndarray:
    """Apply the EXIF orientation of ``img`` to an array decoded without PIL (what
    ``ImageOps.exif_transpose`` does to PIL images)."""
    orientation = img.getexif().get(0x0112, 1)
    turns = {
        2: lambda a: a[:, ::-1],
        3: lambda a: a[::-1, ::-1],
        4: lambda a: a[::-1],
        5: lambda a: a.transpose(1, 0, 2),
        6: lambda a: np.rot90(a, -1),
        7: lambda a: a[::-1, ::-1].transpose(1, 0, 2),
        8: lambda a: np.rot90(a, 1),
    }
    return np.ascontiguousarray(turns[orientation](arr)) if orientation in turns else arr


def _read_png16(path: Path, img: Image.Image, notes: list[str]) -> np.ndarray:
    """A 16-bit colour PNG at full precision, decoded by the ffmpeg that imageio-ffmpeg ships
    (PIL has no 48-bit mode). The bytes go through a pipe, so no file name is ever parsed. Where
    ffmpeg fails on a file PIL reads, PIL's 8-bit reading is used and ``notes`` says so."""
    import subprocess

    import imageio_ffmpeg

    img.load()  # PIL's decoder first: a truncated or corrupt file gets PIL's clear message
    w, h = img.size  # newer ffmpeg would apply the EXIF orientation, older not: we apply it, as for other files
    cmd = [
        imageio_ffmpeg.get_ffmpeg_exe(),
        "-v",
        "error",
        "-noautorotate",
        "-f",
        "png_pipe",
        "-i",
        "pipe:0",
        "-frames:v",
        "1",
        "-f",
        "rawvideo",
        "-pix_fmt",
        "rgb48le",
        "pipe:1",
    ]
    done = subprocess.run(cmd, input=path.read_bytes(), capture_output=True, check=False)
    if done.returncode != 0 or len(done.stdout) != w * h * 6:
        notes.append(
            f"{path}: read at 8 bits per channel, not 16 (ffmpeg cannot decode it); save it as 16-bit TIFF to keep "
            f"the precision"
        )
        return _to_float_rgb(ImageOps.exif_transpose(img))
    arr = np.frombuffer(done.stdout, "<u2").reshape(h, w, 3).astype(np.float32) / 65535.0
    return _orient(arr, img)


def read_image(path: str | os.PathLike, notes: list[str] | None = None) -> np.ndarray:
    """Read an image file as float32 HxWx3 in [0, 1], with EXIF orientation applied.

    16-bit PNG (grey or colour) and 16-bit TIFF (via tifffile) keep their precision. What is
    dropped is said in ``notes`` (an alpha channel, the frames after the first of an animation).
    Raises Blur2VideoError naming the file when it cannot be read: any failure of the decoder on
    a file is a bad file, whatever exception type the decoder picked.
    """
    path = Path(path)
    if not path.is_file():
        raise Blur2VideoError(f"{path}: no such file")
    if path.stat().st_size == 0:
        raise Blur2VideoError(f"{path}: file is empty (0 bytes); give an image file")
    if path.suffix.lower() in (".tif", ".tiff"):
        return _read_tiff(path, notes)
    dropped: list[str] = []
    with warnings.catch_warnings(record=True) if notes is not None else contextlib.nullcontext() as caught:
        if notes is not None:  # PIL's warnings become notes
            warnings.simplefilter("always")
        try:
            with Image.open(path) as img:
                if "A" in img.getbands():
                    dropped.append(f"{path}: alpha channel dropped (the model restores RGB)")
                count = getattr(img, "n_frames", 1)
                if count > 1:
                    dropped.append(
                        f"{path}: animated image with {count} frames; only the first frame is used (extract "
                        f"another frame to use it)"
                    )
                arr = (
                    _read_png16(path, img, dropped)
                    if holds_16bit_colour(img)
                    else _to_float_rgb(ImageOps.exif_transpose(img))
                )
        except Blur2VideoError:
            raise
        except Image.DecompressionBombError as exc:
            raise too_large_error(path, exc) from None
        except Exception as exc:  # PIL raises OSError, SyntaxError, ValueError, struct.error, ... for broken files
            raise Blur2VideoError(
                f"{path}: not a readable image ({first_line(exc)}); give a PNG, JPEG or TIFF file"
            ) from None
    if notes is not None:  # one line each (corrupt EXIF, a very large image), where a warning prints two
        notes += dropped + [
            f"{path}: {first_line(w.message)}" for w in caught or [] if not issubclass(w.category, DeprecationWarning)
        ]
    return arr


def _read_tiff(path: Path, notes: list[str] | None = None) -> np.ndarray:
    """TIFF via tifffile (ships with scikit-image) so 16-bit RGB survives."""
    import tifffile

    try:
        arr = tifffile.imread(path)
    except Exception as exc:  # tifffile raises many types for broken files
        raise Blur2VideoError(f"{path}: not a readable TIFF ({first_line(exc)})") from None
    if notes is not None and arr.ndim == 3 and arr.shape[2] == 4:
        notes.append(f"{path}: alpha channel dropped (the model restores RGB)")
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
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the header is all we read here; read_image says what matters
            with Image.open(path) as img:
                img = ImageOps.exif_transpose(img) if path.suffix.lower() in (".jpg", ".jpeg") else img
                return img.size
    except Image.DecompressionBombError as exc:
        raise too_large_error(path, exc) from None
    except Exception:  # any decoder failure on a file means the file is not a usable image
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


@contextlib.contextmanager
def atomic_file(path: str | os.PathLike, suffix: str = ".tmp") -> Iterator[Path]:
    """Yield a temporary path beside ``path`` to write; it replaces ``path`` (with the mode
    ``open()`` would give) when the block ends, and is removed if the block fails, so readers never
    see half a file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=suffix)
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
        os.chmod(tmp, new_file_mode())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    """Write ``data`` to ``path`` whole or not at all (see ``atomic_file``)."""
    with atomic_file(path) as tmp:
        tmp.write_bytes(data)


def remove_tree(folder: Path) -> None:
    """``rmtree`` of a leftover temporary folder, or of the earlier version of a folder about to be
    replaced, ignoring errors: what cannot go makes the ``mkdir`` or rename that follows fail."""
    shutil.rmtree(folder, ignore_errors=True)


def replace_tree(tmp: Path, final: Path) -> None:
    """Put the finished folder ``tmp`` in place of ``final``, removing an earlier ``final``."""
    remove_tree(final)
    os.replace(tmp, final)


@contextlib.contextmanager
def atomic_folder(
    tmp: Path,
    final: Path,
    remove: Callable[[Path], object] = remove_tree,
    land: Callable[[Path, Path], None] = replace_tree,
) -> Iterator[Path]:
    """Yield the folder ``tmp`` (made fresh, after ``remove`` clears a leftover one) to fill; when
    the block ends it becomes ``final`` whole (``land``), and if the block fails it is removed, so
    ``final`` is never half-written. ``remove`` and ``land`` let a caller that must touch only its
    own files (restore's outputs) say how."""
    if os.path.lexists(tmp):
        remove(tmp)
    tmp.mkdir(parents=True)
    try:
        yield tmp
        land(tmp, final)
    except BaseException:
        remove(tmp)
        raise


PNG_COLOUR_TYPES = {1: 0, 2: 4, 3: 2, 4: 6}  # channels -> PNG colour type: grey, grey+alpha, RGB, RGBA
PNG_ZLIB_LEVEL = 1


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def encode_png(img: np.ndarray) -> bytes:
    """An 8-bit HxW, HxWx1, HxWx3 or HxWx4 uint8 array as a lossless PNG file's bytes.

    Every row takes PNG's Average filter (each byte minus the mean of the same channel of the
    pixel to its left and the one above) and the rows are deflated with zlib's run-length
    strategy: on photographs and renders the file is as small as Pillow's at level 1, and it is
    made faster, since Pillow tries all five filters on every row (benchmarks/synth_rotation.py).
    zlib runs without the GIL, so encodes in threads overlap with each other and with torch."""
    arr = np.asarray(img)
    if arr.dtype != np.uint8:
        raise ValueError(f"encode_png takes uint8 images, got {arr.dtype}")
    if arr.ndim == 2:
        arr = arr[..., None]
    if arr.ndim != 3 or arr.shape[2] not in PNG_COLOUR_TYPES:
        raise ValueError(f"encode_png takes HxW or HxWxC images with C in 1..4, got shape {arr.shape}")
    h, w, c = arr.shape
    rows = np.ascontiguousarray(arr).reshape(h, w * c)
    padded = np.zeros((h + 1, (w + 1) * c), np.uint16)  # zeros above the first row and left of the first pixel
    padded[1:, c:] = rows
    prediction = padded[1:, :-c] + padded[:-1, c:]
    prediction >>= 1
    filtered = np.empty((h, w * c + 1), np.uint8)
    filtered[:, 0] = 3  # the Average filter
    np.subtract(rows, prediction, out=filtered[:, 1:], casting="unsafe")  # modulo 256, as PNG wants
    deflate = zlib.compressobj(PNG_ZLIB_LEVEL, zlib.DEFLATED, 15, 9, zlib.Z_RLE)
    header = struct.pack(">IIBBBBB", w, h, 8, PNG_COLOUR_TYPES[c], 0, 0, 0)
    return b"".join(
        (
            b"\x89PNG\r\n\x1a\n",
            _png_chunk(b"IHDR", header),
            _png_chunk(b"IDAT", deflate.compress(filtered) + deflate.flush()),
            _png_chunk(b"IEND", b""),
        )
    )


def write_png(path: str | os.PathLike, img: np.ndarray) -> None:
    """Write a float [0,1] or uint8 HxWx3 image as an 8-bit PNG (non-atomic: callers write into
    a temporary folder that is renamed as a whole)."""
    arr = img if img.dtype == np.uint8 else to_uint8(img)
    Path(path).write_bytes(encode_png(arr))
