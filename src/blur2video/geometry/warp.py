"""Differentiable image/feature warps used by the network's transformers.

Convention
----------
- backward warping: output pixel p samples the input at ``p + flow(p)`` (flow in pixels,
  channel 0 = x to the right, channel 1 = y down);
- affine ``theta`` (B, 2, 3) acts on normalised coordinates in [-1, 1] as in
  ``torch.nn.functional.affine_grid``: output point q samples the input at ``theta @ [q, 1]``;
- ``grid_sample(align_corners=False)``, bilinear, zero padding outside the input;
- nothing is cached: grids are built on the input's device and dtype at every call.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def pixel_grid(height: int, width: int, like: torch.Tensor) -> torch.Tensor:
    """Pixel-centre coordinates (1, H, W, 2) as (x, y), on ``like``'s device and dtype."""
    ys = torch.arange(height, device=like.device, dtype=like.dtype)
    xs = torch.arange(width, device=like.device, dtype=like.dtype)
    y, x = torch.meshgrid(ys, xs, indexing="ij")
    return torch.stack([x, y], dim=-1).unsqueeze(0)


def warp_flow(x: torch.Tensor, flow: torch.Tensor) -> torch.Tensor:
    """Backward-warp ``x`` (B, C, H, W) by a pixel ``flow`` (B, 2, H, W)."""
    _, _, h, w = x.shape
    pos = pixel_grid(h, w, flow) + flow.permute(0, 2, 3, 1)  # (B, H, W, 2) sample positions
    grid = torch.stack((_normalised(pos[..., 0], w), _normalised(pos[..., 1], h)), dim=-1)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)


def _normalised(pixels: torch.Tensor, size: int) -> torch.Tensor:
    """Pixel coordinates along a side of ``size`` -> ``grid_sample(align_corners=False)``'s: centre i
    sits at (2i + 1) / size - 1. A Python scale, not a tensor made here: torch's ONNX exporter
    failed on tensor constants made in forward at some input sizes."""
    return (pixels + 0.5) * (2.0 / size) - 1.0


def affine_grid(theta: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """The sampling grid (B, H, W, 2) of ``F.affine_grid(theta, (B, C, H, W), align_corners=False)``,
    within float rounding. Built here because torch's decomposition of ``affine_grid`` makes a
    tensor constant for a side of one pixel, which stops its ONNX exporter: a photo 32 pixels high
    is one pixel high at the coarsest level."""
    ys = _normalised(torch.arange(height, device=theta.device, dtype=theta.dtype), height)
    xs = _normalised(torch.arange(width, device=theta.device, dtype=theta.dtype), width)
    y, x = torch.meshgrid(ys, xs, indexing="ij")
    base = torch.stack([x, y, torch.ones_like(x)], dim=-1).view(1, height * width, 3)
    return torch.matmul(base, theta.transpose(1, 2)).view(theta.shape[0], height, width, 2)


def warp_affine(x: torch.Tensor, theta: torch.Tensor) -> torch.Tensor:
    """Warp ``x`` (B, C, H, W) by normalised affine parameters ``theta`` (B, 2, 3)."""
    grid = affine_grid(theta.to(x.dtype), x.shape[-2], x.shape[-1])
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)


def affine_to_flow(theta: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """The pixel flow (B, 2, H, W) that ``warp_flow`` would need to equal ``warp_affine(theta)``."""
    q = pixel_grid(height, width, theta)  # (1, H, W, 2)
    size = torch.tensor([width, height], device=theta.device, dtype=theta.dtype)
    qn = (q + 0.5) * 2.0 / size - 1.0
    src = torch.einsum("bij,hwj->bhwi", theta[:, :, :2], qn[0]) + theta[:, None, None, :, 2]
    src_px = (src + 1.0) * size / 2.0 - 0.5
    return (src_px - q).permute(0, 3, 1, 2)


class FlowWarp(nn.Module):
    """Module form of :func:`warp_flow`."""

    def forward(self, x: torch.Tensor, flow: torch.Tensor) -> torch.Tensor:
        return warp_flow(x, flow)


class AffineWarp(nn.Module):
    """Module form of :func:`warp_affine`."""

    def forward(self, x: torch.Tensor, theta: torch.Tensor) -> torch.Tensor:
        return warp_affine(x, theta)


def affine3(sx: float, sy: float, tx: float, ty: float) -> torch.Tensor:
    """The (3, 3) float64 matrix of a scale and translation."""
    return torch.tensor([[sx, 0.0, tx], [0.0, sy, ty], [0.0, 0.0, 1.0]], dtype=torch.float64)


def pixels_to_normalised(h: int, w: int) -> torch.Tensor:
    """Pixel centres -> normalised coordinates of ``grid_sample(align_corners=False)``."""
    return affine3(2.0 / w, 2.0 / h, 1.0 / w - 1.0, 1.0 / h - 1.0)


def conjugate(theta: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
    """theta (..., 2, 3) expressed in coordinates y = C x: C [theta; 0 0 1] C^-1, top two rows."""
    full = torch.cat([theta, torch.tensor([0.0, 0.0, 1.0], dtype=theta.dtype).expand(*theta.shape[:-2], 1, 3)], dim=-2)
    return (c @ full @ torch.linalg.inv(c))[..., :2, :]
