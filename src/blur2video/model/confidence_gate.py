"""The confidence gate: every restored frame falls back towards the blurred photo where the
network cannot tell the motion (not in the paper; issue 24, "never worse than the blur").

A blurred photo is the mean of its frames, so under uncertainty about the motion the blur itself
is the safest guess of every frame: a frame invented with the wrong motion is further from the
truth than the blur is. On real dynamic blur the network's end frames were up to 2.8 dB below the
blur (experiments/README.md). The gate reads the blur and each restored frame and returns a smooth
map g in [0, 1] per frame; the frame it outputs is ``blur + g * (frame - blur)``. Its map is the
model's own confidence in that frame, which ``restore`` reports in ``motion.json``. The middle
frame is left alone (confidence 1): it depends on no motion, and the kernel-bank head already
falls back to the blur (its length-0 kernel) where the spectrum shows no blur.

It is trained alone on the frames' error with the network frozen (``train.part = "gate"``), so it
learns where the network's frames are worse than the blur, on whatever data it is trained on.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .reblur_gate import blend_towards_blur, trust_middle

POOL = 4  # the gate looks at the frames at 1/4 scale: it decides where to trust, not what to draw
INITIAL_TRUST = 3.0  # logit of the untrained gate: sigmoid(3) = 0.95, close to the ungated network


class ConfidenceGate(nn.Module):
    """(blur (B, 3, H, W), frames (B, N, 3, H, W)) -> (gated frames, confidence (B, N, H, W)).

    One small CNN shared by all frames. Its input per frame: the blur, the frame, their
    difference and the frame's distance in time from the middle (-1 .. 1), so it can learn that
    the end frames are the least certain. A context branch averages features over the whole
    image, so the confidence can depend on how much motion the photo as a whole shows."""

    def __init__(self, frames: int, width: int = 16) -> None:
        super().__init__()
        self.frames = frames
        self.local = nn.Sequential(
            nn.Conv2d(10, width, 3, padding=1),
            nn.ReLU(inplace=True),
            nn.Conv2d(width, 2 * width, 3, stride=2, padding=1),
            nn.ReLU(inplace=True),
            nn.Conv2d(2 * width, 2 * width, 3, stride=2, padding=1),
            nn.ReLU(inplace=True),
        )
        self.head = nn.Conv2d(4 * width, 1, 1)
        nn.init.normal_(self.head.weight, std=1e-3)
        nn.init.constant_(self.head.bias, INITIAL_TRUST)

    def confidence(self, blur: torch.Tensor, frames: torch.Tensor) -> torch.Tensor:
        """(B, N, H, W) trust in each frame, 1 for the middle."""
        b, n, c, h, w = frames.shape
        small_blur = F.avg_pool2d(blur.float(), POOL, ceil_mode=True)
        small_frames = F.avg_pool2d(frames.float().flatten(0, 1), POOL, ceil_mode=True)
        sh, sw = small_blur.shape[-2:]
        repeated = small_blur.repeat_interleave(n, 0)
        time = torch.linspace(-1.0, 1.0, n, device=blur.device).repeat(b).view(b * n, 1, 1, 1).expand(-1, 1, sh, sw)
        features = self.local(torch.cat([repeated, small_frames, small_frames - repeated, time], 1))
        context = features.mean((2, 3), keepdim=True).expand_as(features)
        logits = self.head(torch.cat([features, context], 1))
        confidence = torch.sigmoid(F.interpolate(logits, size=(h, w), mode="bilinear", align_corners=False)).view(
            b, n, h, w
        )
        return trust_middle(confidence)

    def forward(self, blur: torch.Tensor, frames: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        confidence = self.confidence(blur, frames)
        return blend_towards_blur(blur, frames, confidence), confidence
