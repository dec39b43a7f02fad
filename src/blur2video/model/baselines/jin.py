"""The sequential scheme of Jin et al. 2018, the paper's comparator.

A middle-frame network deblurs the input; then, for k = 1 .. N // 2, a network takes the blur and
every frame predicted so far and predicts the pair (N//2 - k, N//2 + k). Each stage waits for the
previous one, so errors of the middle frame propagate outward: the behaviour the paper's single
pass avoids. Built from the same encoder/decoder blocks; returns the same ``Restoration``.
"""

from __future__ import annotations

import torch
from torch import nn

from ..blocks import image_pyramid
from ..config import LEVELS, ModelConfig
from ..decoders import UNetDecoder
from ..encoder import Encoder
from ..network import Restoration, crop_scales, identity_affines, pad_to_levels


class FrameUNet(nn.Module):
    """Encoder + one decoder per output: (B, cin, H, W) -> images per scale (B, outputs*3, h, w)."""

    def __init__(self, cin: int, outputs: int, config: ModelConfig) -> None:
        super().__init__()
        w = config.widths
        self.outputs = outputs
        self.encoder = Encoder(w, in_channels=cin)
        self.decoders = nn.ModuleList(
            UNetDecoder(w, [w[4], w[3], w[2], w[1], w[0], cin], config.growth, config.dense_layers)
            for _ in range(outputs)
        )

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        e = self.encoder(x)
        skips = [[e[4]], [e[3]], [e[2]], [e[1]], [e[0]], [x]]
        bases = image_pyramid(x[:, :3], LEVELS)  # every output starts from the blur
        per_output = [decoder(skips, bases)[1] for decoder in self.decoders]
        return [torch.cat(images, dim=1) for images in zip(*per_output, strict=False)]


class JinSequential(nn.Module):
    def __init__(self, config: ModelConfig = ModelConfig()) -> None:
        super().__init__()
        self.config = config
        self.middle = FrameUNet(3, 1, config)
        # stage k sees the blur and the 2k - 1 frames predicted before it
        self.stages = nn.ModuleList(FrameUNet(3 + 3 * (2 * k - 1), 2, config) for k in range(1, config.middle + 1))

    def forward(self, blur: torch.Tensor) -> Restoration:
        b, _, h, w = blur.shape
        x = pad_to_levels(blur)
        seq = [s.unsqueeze(1) for s in self.middle(x)]  # per scale (B, 1, 3, h, w), grows outward
        for stage in self.stages:
            known = seq[-1].flatten(1, 2)  # full-scale frames so far (B, K*3, H, W)
            pairs = stage(torch.cat([x, known], dim=1))
            seq = [
                torch.cat([p[:, :3].unsqueeze(1), s, p[:, 3:].unsqueeze(1)], dim=1)
                for p, s in zip(pairs, seq, strict=False)
            ]
        scales = crop_scales(seq, h, w)
        affines = identity_affines(blur, b, self.config.frames, LEVELS)
        return Restoration(frames=scales[-1], scales=scales, affines=affines, image_affines=None, flows=[])
