"""The true motion of synthesized samples, as backward flow fields relative to the middle frame.

For camera-rotation blur (panorama or photo) the renders are pinhole views under pure rotation,
so frame j relates to the middle frame by the homography K R_j^m K^-1 with
R_j^m = motion^(t_j - t_mid), t_j = j / (N - 1): the view direction cancels. The field of frame j
says, for each pixel p of frame j, where its content sits in the middle frame, minus p (the
convention of :mod:`blur2video.geometry.warp`).
"""

from __future__ import annotations

import numpy as np
import torch
from scipy.spatial.transform import Rotation


def rotation_flows(meta: dict, frames: int, height: int, width: int) -> torch.Tensor | None:
    """(N, 2, H, W) true backward flows of a rotation sample, or None if ``meta`` is not one."""
    if meta.get("kind") != "rotation" or "euler_deg" not in meta or "focal_px" not in meta:
        return None
    motion = Rotation.from_euler("XYZ", meta["euler_deg"], degrees=True).as_rotvec()
    f = float(meta["focal_px"])
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float64)
    rays = np.stack([(xs + 0.5 - width / 2) / f, (ys + 0.5 - height / 2) / f, np.ones_like(xs)], -1)  # (H, W, 3)
    mid = frames // 2
    out = np.empty((frames, 2, height, width), np.float32)
    for j in range(frames):
        rel = Rotation.from_rotvec(motion * (j - mid) / (frames - 1)).as_matrix()
        d = rays @ rel.T  # direction in the middle camera
        u = d[..., 0] / d[..., 2] * f + width / 2 - 0.5
        v = d[..., 1] / d[..., 2] * f + height / 2 - 0.5
        out[j, 0], out[j, 1] = u - xs, v - ys
    return torch.from_numpy(out)


def end_point_error(pred: torch.Tensor, truth: torch.Tensor, border: int = 0) -> torch.Tensor:
    """Mean end-point error in pixels per frame of (N, 2, H, W) fields, ignoring ``border`` pixels."""
    if border:
        pred, truth = pred[..., border:-border, border:-border], truth[..., border:-border, border:-border]
    return (pred - truth).norm(dim=1).mean(dim=(1, 2))
