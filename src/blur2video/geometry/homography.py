"""Views of an ordinary photo under pure camera rotation: the homography K_src R K_view^-1."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from scipy.spatial.transform import Rotation

from .camera import PinholeCamera


def photo_pixel_coords(source: PinholeCamera, orientations: Rotation, camera: PinholeCamera) -> torch.Tensor:
    """Source-photo pixel coordinates (V, h, w, 2) seen by each view pixel.

    ``orientations`` map view-camera rays to the source camera's frame. Rays that point behind
    the source camera get coordinates far outside the photo.
    """
    mats = torch.as_tensor(np.atleast_3d(orientations.as_matrix()).reshape(-1, 3, 3), dtype=torch.float64)
    rays = camera.rays(torch.float64)
    d = torch.einsum("vij,hwj->vhwi", mats, rays)
    z = d[..., 2:3]
    behind = z <= 1e-9
    uv = d[..., :2] / torch.where(behind, torch.ones_like(z), z) * source.focal
    uv = uv + torch.tensor([source.width / 2.0, source.height / 2.0], dtype=torch.float64)
    return torch.where(behind, torch.full_like(uv, -1e6), uv)


def render_photo(
    photo: torch.Tensor, source: PinholeCamera, orientations: Rotation, camera: PinholeCamera
) -> torch.Tensor:
    """Views (V, C, h, w) of ``photo`` (C, H, W) for V orientations, in one ``grid_sample`` call."""
    uv = photo_pixel_coords(source, orientations, camera)
    size = torch.tensor([source.width, source.height], dtype=torch.float64)
    grid = (uv / size * 2.0 - 1.0).to(torch.float32)
    source = photo.unsqueeze(0).expand(grid.shape[0], -1, -1, -1)  # zero-copy batch: all cores work
    return F.grid_sample(source, grid, mode="bilinear", padding_mode="border", align_corners=False)
