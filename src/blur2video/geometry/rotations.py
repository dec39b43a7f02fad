"""Camera orientations and their interpolation, all through scipy's Rotation and Slerp."""

from __future__ import annotations

import numpy as np
from scipy.spatial.transform import Rotation, Slerp


def view_orientation(yaw_deg: float, pitch_deg: float, roll_deg: float = 0.0) -> Rotation:
    """Orientation of a camera turned right by ``yaw``, up by ``pitch``, then rolled clockwise.

    With y pointing down, turning right is a positive rotation about +y and looking up a positive
    rotation about +x (the forward axis tilts towards -y); the composition is intrinsic Y-X-Z.
    """
    return Rotation.from_euler("YXZ", [yaw_deg, pitch_deg, roll_deg], degrees=True)


def random_motion(rng: np.random.Generator, max_angle_deg: float) -> tuple[Rotation, np.ndarray]:
    """Draw a camera-shake rotation with Euler angles uniform in [-max, max] per axis.

    The rotation acts in the camera's own frame (intrinsic x-y-z), as a hand shake does.
    Returns the rotation and the Euler angles in degrees.
    """
    euler = rng.uniform(-max_angle_deg, max_angle_deg, size=3)
    return Rotation.from_euler("XYZ", euler, degrees=True), euler


def rotation_magnitude_deg(rot: Rotation) -> float:
    """Angle of the rotation about its axis, in degrees."""
    return float(np.degrees(rot.magnitude()))


def interpolate_orientations(start: Rotation, motion: Rotation, count: int) -> Rotation:
    """``count`` orientations from ``start`` to ``start * motion`` evenly spaced by quaternion Slerp."""
    if count < 2:
        raise ValueError("need at least two orientations")
    ends = Rotation.concatenate([start, start * motion])
    return Slerp([0.0, 1.0], ends)(np.linspace(0.0, 1.0, count))
