"""Views of an ordinary photo under pure camera rotation: the homography K_src R K_view^-1."""

from __future__ import annotations

import numpy as np
from scipy.spatial.transform import Rotation

from .camera import PinholeCamera
from .sampling import render_views

BEHIND = -1e6  # the coordinate of a ray behind the source camera: far outside, its edge pixel


def photo_pixel_coords(source: PinholeCamera, orientation: np.ndarray, rays: np.ndarray) -> np.ndarray:
    """Source-photo pixel coordinates (2, n), centres at i + 0.5, of view-camera ``rays`` (3, n).

    ``orientation`` (3x3) maps view-camera rays to the source camera's frame. Rays that point
    behind the source camera get coordinates far outside the photo.
    """
    d = np.asarray(orientation, dtype=np.float64) @ rays
    z = d[2]
    behind = z <= 1e-9
    uv = d[:2] / np.where(behind, 1.0, z) * source.focal
    uv += np.array([[source.width / 2.0], [source.height / 2.0]])
    uv[:, behind] = BEHIND
    return uv


def render_photo(photo: np.ndarray, source: PinholeCamera, orientations: Rotation, camera: PinholeCamera) -> np.ndarray:
    """Views (V, h, w, C) float32 of ``photo`` (H, W, C) for V orientations, rendered in parallel
    threads."""
    mats = np.asarray(orientations.as_matrix()).reshape(-1, 3, 3)
    rays = camera.rays(np.float64)
    # centres at i + 0.5 to the sampler's centres at i, in float32 as the sampler takes them
    return render_views(
        np.ascontiguousarray(photo, dtype=np.float32),
        len(mats),
        camera.height,
        camera.width,
        lambda v: (photo_pixel_coords(source, mats[v], rays) - 0.5).astype(np.float32),
    )
