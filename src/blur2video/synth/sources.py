"""Finding, validating and loading the source images synthesis draws from.

A source is a folder of images, one image file, ``skimage[:name,...]`` for the real photos
bundled with scikit-image (so the package runs on a fresh machine with no data at hand), or
``deadleaves[:COUNT]`` for procedural dead-leaves images (synth/dead_leaves.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import Blur2VideoError
from ..fileio import ImageTooLarge, array_to_float_rgb, probe_image, read_image

# Colour photos shipped inside scikit-image's wheel (no download needed).
SKIMAGE_PHOTOS = ("astronaut", "chelsea", "coffee", "rocket", "immunohistochemistry", "hubble_deep_field", "retina")
# Grey ones, named explicitly only (``skimage`` alone means the colour photos): more textures to
# train on, repeated to RGB.
SKIMAGE_GREY_PHOTOS = ("brick", "camera", "cell", "clock", "coins", "grass", "gravel", "moon", "page", "text")
DEAD_LEAVES_DEFAULT = 32  # images behind a bare ``deadleaves`` source


@dataclass(frozen=True)
class SourceRef:
    """One source image: a file path, a scikit-image photo name (``skimage:NAME``) or a
    dead-leaves image (``deadleaves:INDEX``)."""

    name: str
    path: Path | None

    def load(self) -> np.ndarray:
        """The image as float32 HxWx3 in [0, 1]."""
        if self.path is not None:
            return read_image(self.path)
        kind, _, name = self.name.partition(":")
        if kind == "deadleaves":
            from .dead_leaves import dead_leaves

            return dead_leaves(int(name))
        import skimage.data

        return array_to_float_rgb(getattr(skimage.data, self.name.split(":", 1)[1])(), name=self.name)

    def size(self) -> tuple[int, int]:
        """(width, height) without decoding the pixels where the format allows."""
        if self.path is not None:
            return probe_image(self.path)
        h, w = self.load().shape[:2]
        return w, h


def _skimage_refs(spec: str) -> list[SourceRef]:
    names = spec.split(":", 1)[1].split(",") if ":" in spec else list(SKIMAGE_PHOTOS)
    unknown = [n for n in names if n not in SKIMAGE_PHOTOS + SKIMAGE_GREY_PHOTOS]
    if unknown:
        raise Blur2VideoError(
            f"unknown scikit-image photo(s) {', '.join(unknown)}; choose from "
            f"{', '.join(SKIMAGE_PHOTOS + SKIMAGE_GREY_PHOTOS)}"
        )
    return [SourceRef(f"skimage:{n}", None) for n in names]


def _dead_leaves_refs(spec: str) -> list[SourceRef]:
    count = spec.split(":", 1)[1] if ":" in spec else str(DEAD_LEAVES_DEFAULT)
    if not count.isdigit() or int(count) < 1:
        raise Blur2VideoError(
            f"{spec}: give deadleaves:COUNT with COUNT a whole number of images >= 1, e.g. deadleaves:32"
        )
    return [SourceRef(f"deadleaves:{i}", None) for i in range(int(count))]


def discover_sources(spec: str, flag: str = "--source") -> list[SourceRef]:
    """List the images named by ``spec`` (folder, file, ``skimage[:a,b]`` or
    ``deadleaves[:COUNT]``), sorted by name; ``flag`` is what the messages tell the user to fix
    (scenes take their images from ``--textures``).

    Every file in a folder must be an image: the error names the ones that are not, since a
    silently skipped file usually means the wrong folder.
    """
    if spec == "skimage" or spec.startswith("skimage:"):
        return _skimage_refs(spec)
    if spec == "deadleaves" or spec.startswith("deadleaves:"):
        return _dead_leaves_refs(spec)
    root = Path(spec)
    if not root.exists():
        raise Blur2VideoError(f"{root}: source does not exist; pass {flag} a folder of images or an image file")
    files = (
        [root] if root.is_file() else sorted(p for p in root.iterdir() if p.is_file() and not p.name.startswith("."))
    )
    if not files:
        raise Blur2VideoError(f"{root}: source folder is empty; put images (PNG/JPEG/TIFF) in it")
    bad = []
    for path in files:
        try:
            probe_image(path)
        except ImageTooLarge:
            raise  # a different fix from "not an image": its own line
        except Blur2VideoError:
            bad.append(path.name)
    if bad and root.is_file():
        raise Blur2VideoError(f"{root}: not a readable image; pass {flag} a PNG, JPEG or TIFF file or a folder of them")
    if bad:
        shown = ", ".join(bad[:5]) + (f" and {len(bad) - 5} more" if len(bad) > 5 else "")
        raise Blur2VideoError(f"{root}: not images: {shown}; remove them or point {flag} at the images alone")
    return [SourceRef(str(p.relative_to(root)) if root.is_dir() else p.name, p) for p in files]


def check_panorama_shape(ref: SourceRef, force: bool) -> None:
    """Equirectangular panoramas are 2:1; anything else is refused unless ``force``."""
    width, height = ref.size()
    if abs(width - 2 * height) > max(2, 0.01 * width) and not force:
        raise Blur2VideoError(
            f"{ref.name}: {width}x{height} is not a 2:1 equirectangular panorama; "
            "use --kind photo for ordinary photos or --force to use it anyway"
        )
