"""The shared encoder: 5 blocks of two 3x3 convs (stride 2 then 1), every level's feature kept."""

from __future__ import annotations

import torch
from torch import nn

from .blocks import EncoderBlock


class Encoder(nn.Module):
    def __init__(self, widths: tuple[int, ...], in_channels: int = 3) -> None:
        super().__init__()
        chans = (in_channels, *widths)
        self.blocks = nn.ModuleList(EncoderBlock(chans[i], chans[i + 1]) for i in range(len(widths)))

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Features E_1..E_5 at 1/2 .. 1/32 of the input size."""
        feats = []
        for block in self.blocks:
            x = block(x)
            feats.append(x)
        return feats
