"""The motion-fit probe's frame sharpeners: the shock filter and the deconvolution along a path."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from experiments.motion_fit import deconvolve, shock_filter

from blur2video.motion_fit import reblur_along


def test_the_shock_filter_turns_a_blurred_edge_into_a_steeper_one() -> None:
    step = torch.zeros(1, 3, 16, 32)
    step[..., 16:] = 1.0
    blurred = F.avg_pool2d(F.pad(step, (3, 3, 0, 0), mode="replicate"), (1, 7), stride=1)
    sharpened = shock_filter(blurred)
    assert sharpened.min() >= 0 and sharpened.max() <= 1
    slope = lambda x: (x[..., 1:] - x[..., :-1]).abs().amax().item()  # noqa: E731
    assert slope(sharpened) > 1.5 * slope(blurred)
    # the edge stays where it was: the mean of the row is unchanged within a pixel's worth
    assert abs(sharpened.mean().item() - blurred.mean().item()) < 1 / 32


def test_deconvolving_along_the_true_motion_comes_closer_to_the_sharp_photo() -> None:
    sharp = F.interpolate(torch.rand(1, 3, 8, 8, generator=torch.Generator().manual_seed(0)), size=32, mode="bicubic")
    sharp = sharp.clamp(0, 1)
    motion = torch.tensor([[0.0, 0.0, 0.15], [0.0, 0.0, 0.0]])  # a horizontal shift of 2.4 px each way
    blurred = reblur_along(sharp, motion, 5)
    out = deconvolve(blurred, blurred, motion, frames=5, steps=150, tv=0.0)
    assert F.mse_loss(out, sharp) < 0.5 * F.mse_loss(blurred, sharp)
