"""Equirectangular (360 x 180 degree) panoramas and perspective views rendered from them.

Convention: longitude in [-pi, pi) across the width (0 at the centre column, increasing to the
right), latitude in [-pi/2, pi/2] down the height; a world direction (x, y, z) with y down has
longitude atan2(x, z) and latitude atan2(y, hypot(x, z)). Pixel centres sit at (i + 0.5).
"""

from __future__ import annotations

import math

import numpy as np
from scipy.spatial.transform import Rotation

from .camera import PinholeCamera
from .sampling import render_views


def directions_to_equirect_pixels(directions: np.ndarray, width: int, height: int) -> tuple[np.ndarray, np.ndarray]:
    """Sampling coordinates (columns, rows), pixel centres at integers, of world directions (3, n).

    Columns address a panorama padded by one wrapped column on each side (see ``EquirectImage``),
    so bilinear sampling is seamless across longitude +-pi.
    """
    x, y, z = directions
    cols = np.arctan2(x, z)
    rows = np.arctan2(y, np.sqrt(x * x + z * z))  # np.hypot has no SIMD loop: 5x slower here
    # longitude 0 is the unpadded image's edge coordinate width / 2: its centre-based index is
    # width / 2 - 0.5, and the wrapped column on the left shifts it by one
    cols *= width / (2.0 * math.pi)
    cols += 0.5 * width + 0.5
    rows *= height / math.pi
    rows += 0.5 * height - 0.5
    return cols, rows


class EquirectImage:
    """A panorama held once, padded for wrap-around, ready to render many views from.

    ``image`` is an HxWxC float array in [0, 1].
    """

    def __init__(self, image: np.ndarray) -> None:
        pixels = np.asarray(image, dtype=np.float32)
        if pixels.ndim != 3 or pixels.shape[2] not in (1, 3, 4):
            raise ValueError(f"a panorama is an HxWxC array with 1, 3 or 4 channels, got shape {pixels.shape}")
        self.height, self.width, self.channels = pixels.shape
        self.padded = np.ascontiguousarray(np.concatenate([pixels[:, -1:], pixels, pixels[:, :1]], axis=1))

    def render(self, orientations: Rotation, camera: PinholeCamera) -> np.ndarray:
        """Render one perspective view per orientation: (V, camera.height, camera.width, C)."""
        return render_equirect(self, orientations, camera)


def render_equirect(pano: EquirectImage, orientations: Rotation, camera: PinholeCamera) -> np.ndarray:
    """Perspective views (V, h, w, C) float32 of ``pano`` for V camera orientations (camera -> world),
    rendered in parallel threads."""
    mats = np.asarray(orientations.as_matrix(), dtype=np.float32).reshape(-1, 3, 3)
    rays = camera.rays(np.float32)  # (3, h * w)
    return render_views(
        pano.padded,
        len(mats),
        camera.height,
        camera.width,
        lambda v: directions_to_equirect_pixels(mats[v] @ rays, pano.width, pano.height),
    )
