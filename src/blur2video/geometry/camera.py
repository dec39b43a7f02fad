"""The virtual pinhole camera: square pixels, principal point at the centre, focal from the FOV."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..conventions import check_fov


@dataclass(frozen=True)
class PinholeCamera:
    """A pinhole camera of ``width`` x ``height`` pixels and horizontal field of view ``fov_deg``."""

    width: int
    height: int
    fov_deg: float

    def __post_init__(self) -> None:
        check_fov(self.fov_deg)

    @property
    def focal(self) -> float:
        """Focal length in pixels: the image's half-width spans half the horizontal FOV."""
        return self.width / 2.0 / math.tan(math.radians(self.fov_deg) / 2.0)

    @property
    def intrinsics(self) -> np.ndarray:
        """The 3x3 matrix K mapping camera rays to homogeneous pixel coordinates (centres at i+0.5)."""
        f = self.focal
        return np.array([[f, 0.0, self.width / 2.0], [0.0, f, self.height / 2.0], [0.0, 0.0, 1.0]])

    @staticmethod
    def from_focal(width: int, height: int, focal: float) -> PinholeCamera:
        """The camera with a given focal length in pixels."""
        return PinholeCamera(width, height, math.degrees(2.0 * math.atan(width / 2.0 / focal)))

    def rays(self, dtype: np.dtype | type = np.float32) -> np.ndarray:
        """Unnormalised camera-frame rays (3, H*W) through every pixel centre, z = 1, row by row:
        one matrix product turns them all."""
        f = self.focal
        xs = (np.arange(self.width, dtype=np.float64) + 0.5 - self.width / 2.0) / f
        ys = (np.arange(self.height, dtype=np.float64) + 0.5 - self.height / 2.0) / f
        y, x = np.meshgrid(ys, xs, indexing="ij")
        return np.stack([x.ravel(), y.ravel(), np.ones(x.size)]).astype(dtype)

    def project(self, directions: np.ndarray) -> np.ndarray:
        """Pixel coordinates (..., 2) of camera-frame directions (..., 3) with z > 0."""
        d = np.asarray(directions, dtype=np.float64)
        return d[..., :2] / d[..., 2:3] * self.focal + np.array([self.width / 2.0, self.height / 2.0])
