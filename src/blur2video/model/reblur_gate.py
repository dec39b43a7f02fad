"""The reblur fallback: every non-middle frame falls back towards the blurred photo where the
restored frames do not average back to it (not in the paper; issue 24, "never worse than the blur").

A blurred photo is the mean of the sharp frames seen during the exposure, the very model the
paper's data is built on. Frames whose mean differs from the photo cannot all be right, so where
the reblur residual ``blur - mean(frames)`` is large the network has invented motion that the photo
does not show, and the blur itself is the safer guess of each frame. Unlike the learned gate
(confidence_gate.py) this needs no training data that shows the network failing: the photo checks
the frames. The map is ``exp(-(e / (scale + RELATIVE * d))^2)``: ``e`` is the residual's RMS over the
colour channels and a Gaussian window, so trust changes over regions, not from pixel to pixel, and
``d`` the RMS, over the same window, of the frames' own departure from the blur. Where the network
restores a large motion its frames move far from the blur, and a small mismatch of their mean is no
sign of invented motion: on held-out rotation blur of 2-3 degrees the absolute residual alone gave
back 0.1-0.2 dB of the network's gains, with the relative term almost nothing. Sensor noise in the
photo does not close it either: the network carries the photo's noise into its frames
(experiments/README.md, "the reblur fallback"). The middle frame is left alone: it depends on no
motion.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

SIGMA = 4.0  # pixels: about the width of an edge the network misplaces
RELATIVE = 0.2  # the share of the frames' own departure from the blur that their mean may miss it by


def _gaussian_blur(x: torch.Tensor, sigma: float) -> torch.Tensor:
    """(B, 1, H, W) smoothed by a separable Gaussian, borders reflected (replicated where the
    image is narrower than the window's radius)."""
    radius = max(1, math.ceil(3 * sigma))
    t = torch.arange(-radius, radius + 1, device=x.device, dtype=x.dtype)
    kernel = torch.exp(-0.5 * (t / sigma) ** 2)
    kernel = kernel / kernel.sum()
    h, w = x.shape[-2:]
    mode = "reflect" if min(h, w) > radius else "replicate"
    x = F.pad(x, (radius, radius, radius, radius), mode=mode)
    x = F.conv2d(x, kernel.view(1, 1, 1, -1))
    return F.conv2d(x, kernel.view(1, 1, -1, 1))


def reblur_confidence(
    blur: torch.Tensor, frames: torch.Tensor, scale: float, sigma: float = SIGMA, relative: float = RELATIVE
) -> torch.Tensor:
    """(B, 3, H, W) blur, (B, N, 3, H, W) frames -> (B, H, W) trust in [0, 1] of the frames'
    motion: 1 where their mean reproduces the blur, towards 0 where the residual's local RMS
    exceeds ``scale`` (in the images' 0..1 units) plus ``relative`` times the frames' local RMS
    departure from the blur."""
    blur, frames = blur.float(), frames.float()
    residual = (blur - frames.mean(1)).pow(2).mean(1, keepdim=True)
    departure = (frames - blur.unsqueeze(1)).pow(2).mean((1, 2)).unsqueeze(1)
    rms = _gaussian_blur(torch.cat([residual, departure], 0), sigma).clamp_min(0).sqrt()
    miss, moved = rms.chunk(2, 0)
    return torch.exp(-((miss / (scale + relative * moved)) ** 2))[:, 0]


def trust_middle(confidence: torch.Tensor) -> torch.Tensor:
    """(B, N, H, W) with the middle frame's trust set to 1: it depends on no motion."""
    n = confidence.shape[1]
    return torch.cat([confidence[:, : n // 2], torch.ones_like(confidence[:, :1]), confidence[:, n // 2 + 1 :]], 1)


def blend_towards_blur(blur: torch.Tensor, frames: torch.Tensor, confidence: torch.Tensor) -> torch.Tensor:
    """``blur + confidence * (frame - blur)`` for every frame but the middle, which stays bit for
    bit; ``confidence`` (B, N, H, W)."""
    n = frames.shape[1]
    gated = blur.unsqueeze(1) + confidence.unsqueeze(2).to(frames.dtype) * (frames - blur.unsqueeze(1))
    return torch.cat([gated[:, : n // 2], frames[:, n // 2 : n // 2 + 1], gated[:, n // 2 + 1 :]], 1)
