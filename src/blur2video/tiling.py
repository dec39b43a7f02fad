"""Where the tiles of a large photo go, and how much each tile's pixels count where tiles overlap.

A tile's frames other than the middle one are warps of the tile's own content. Near an edge of the
tile that lies inside the photo they read from outside the tile, where a tile has nothing (the
warps read zeros), so a band as wide as the motion there is wrong in the end frames and right in
the middle frame: the seams of issue 22. Each tile's weight is zero over that band and rises
linearly over the rest of the overlap, and tiles overlap by enough that a neighbour always covers
the band.
"""

from __future__ import annotations

import math

import torch

CONTEXT = 8  # pixels beyond the global motion: the local warp's own displacement and the convolutions' reach
MIN_RAMP = 32  # pixels of linear ramp left in an overlap once both neighbours' bands are cut off
FLOOR = 1e-6  # the least weight, so that a pixel is never divided by zero


def tile_starts(size: int, tile: int, overlap: int) -> list[int]:
    """Start offsets covering [0, size) with tiles of ``tile`` overlapping by at least ``overlap``."""
    if size <= tile:
        return [0]
    count = math.ceil((size - overlap) / (tile - overlap))
    return [round(i * (size - tile) / (count - 1)) for i in range(count)]


def tile_overlap(overlap: int, margin: int) -> int:
    """The overlap to cut tiles with: at least ``overlap``, and wide enough that two neighbours'
    cut-off bands of ``margin`` leave a ramp of ``MIN_RAMP`` between them."""
    return max(overlap, 2 * margin + MIN_RAMP)


def blend_weight(length: int, overlap: int, margin: int, open_start: bool, open_end: bool) -> torch.Tensor:
    """1-D weight of a tile's pixels along one axis: at an edge inside the photo (``open_start``,
    ``open_end``) zero over ``margin`` pixels, then a linear ramp reaching 1 at ``overlap``; flat 1
    at the photo's own borders, where a one-pass restore has the same border."""
    x = torch.arange(length, dtype=torch.float32) + 0.5
    w = torch.ones(length)
    ramp = max(overlap - margin, 1)
    if open_start:
        w = torch.minimum(w, ((x - margin) / ramp).clamp(min=0))
    if open_end:
        w = torch.minimum(w, ((length - x - margin) / ramp).clamp(min=0))
    return w.clamp(min=FLOOR)


def warp_reach(affines_px: torch.Tensor, height: int, width: int) -> int:
    """How far, in whole pixels, the pixel affines (N, 2, 3) move any point of a ``height`` x
    ``width`` photo: the width of the band a tile's warps read from outside the tile. An affine
    moves points farthest at the photo's corners."""
    corners = torch.tensor(
        [[0.0, 0.0, 1.0], [width - 1.0, 0.0, 1.0], [0.0, height - 1.0, 1.0], [width - 1.0, height - 1.0, 1.0]],
        dtype=affines_px.dtype,
    ).T  # (3, 4)
    moved = affines_px @ corners  # (N, 2, 4)
    return math.ceil(float((moved - corners[:2]).abs().max()))
