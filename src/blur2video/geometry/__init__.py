"""Rotations, pinhole cameras, equirectangular projection, batched view rendering and warps.

Conventions (used everywhere in blur2video):
- camera axes: x right, y down, z forward; an orientation R maps camera rays to world rays;
- equirectangular: longitude in [-pi, pi) across the width, latitude in [-pi/2, pi/2] down the
  height (top row looks up), pixel centres at (i + 0.5);
- synthesis renders sample bilinearly with OpenCV's ``remap`` (``sampling``), the network warps
  with ``grid_sample(align_corners=False)`` (``warp``).

The names below are imported on first use: the network needs only the warps (``warp``), and
restoring a photo should not pay for scipy's rotations, which only the synthesizers use.
"""

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .camera import PinholeCamera
    from .equirect import EquirectImage, directions_to_equirect_pixels, render_equirect
    from .homography import render_photo
    from .rotations import interpolate_orientations, random_motion, rotation_magnitude_deg, view_orientation

_LAZY = {
    "PinholeCamera": "camera",
    "EquirectImage": "equirect",
    "directions_to_equirect_pixels": "equirect",
    "render_equirect": "equirect",
    "render_photo": "homography",
    "interpolate_orientations": "rotations",
    "random_motion": "rotations",
    "rotation_magnitude_deg": "rotations",
    "view_orientation": "rotations",
}

__all__ = [
    "EquirectImage",
    "PinholeCamera",
    "directions_to_equirect_pixels",
    "interpolate_orientations",
    "random_motion",
    "render_equirect",
    "render_photo",
    "rotation_magnitude_deg",
    "view_orientation",
]


def __getattr__(name: str) -> Any:
    """Import a name's module when the name is first asked for (PEP 562)."""
    if name in _LAZY:
        value = getattr(import_module(f".{_LAZY[name]}", __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *_LAZY})
