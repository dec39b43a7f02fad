"""One time order for frames restored separately.

A blurred photo and its time reversal are the same photo, so each restore picks forward or
backward on its own: two tiles of one photo, or two consecutive frames of a video, can come out
in opposite orders. Before they are blended or joined, each one is turned to agree with what is
already there, by comparing pixels.
"""

from __future__ import annotations

import torch


def matches_reversed(frames: torch.Tensor, reference: torch.Tensor, mask: torch.Tensor | None = None) -> bool:
    """True when ``frames`` (N, C, H, W) agree with ``reference`` (the same N frames of the same
    pixels, restored elsewhere) better in reverse order than as they are. ``mask`` (H, W) picks
    the pixels to compare; ties keep the order."""
    weight = torch.ones(frames.shape[-2:]) if mask is None else mask.float()
    if float(weight.sum()) == 0:
        return False
    as_is = ((frames - reference).abs().mean(1) * weight).sum()
    reversed_ = ((frames.flip(0) - reference).abs().mean(1) * weight).sum()
    return bool(reversed_ < as_is)


def continues_reversed(previous_last: torch.Tensor, frames: torch.Tensor) -> bool:
    """True when the frames (N, C, H, W) of a video's next blurred frame continue the previous
    one's last sub-frame ``previous_last`` (C, H, W) better backwards: the sub-frame that follows
    it in time is the nearer of the first and the last; ties keep the order."""
    first = (frames[0] - previous_last).abs().mean()
    last = (frames[-1] - previous_last).abs().mean()
    return bool(last < first)
