"""Rotations, pinhole cameras, equirectangular projection, batched view rendering and warps.

Conventions (used everywhere in blur2video):
- camera axes: x right, y down, z forward; an orientation R maps camera rays to world rays;
- equirectangular: longitude in [-pi, pi) across the width, latitude in [-pi/2, pi/2] down the
  height (top row looks up), pixel centres at (i + 0.5);
- sampling with ``grid_sample(align_corners=False)``.
"""

from .camera import PinholeCamera
from .equirect import EquirectImage, directions_to_equirect_grid, render_equirect
from .homography import render_photo
from .rotations import (
    interpolate_orientations,
    random_motion,
    rotation_magnitude_deg,
    view_orientation,
)

__all__ = [
    "EquirectImage",
    "PinholeCamera",
    "directions_to_equirect_grid",
    "interpolate_orientations",
    "random_motion",
    "render_equirect",
    "render_photo",
    "rotation_magnitude_deg",
    "view_orientation",
]
