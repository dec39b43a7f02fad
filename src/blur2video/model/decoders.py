"""The U-Net decoder used for the middle frame and, one instance per frame, for the others.

Both are U-Net decoders over the encoder levels: a bottom conv at 1/32 scale, then 5 decoder
blocks up to full scale, each predicting an image at its scale. Skips at level k are E_k for
the middle decoder and [FTN(E_k), ITN(middle image), E_k] for the frame decoders (paper Eq. 2);
at full scale, where no encoder feature exists, the blurred input (and the ITN image) serve.
"""

from __future__ import annotations

import torch
from torch import nn

from .blocks import DecoderBlock, conv


class UNetDecoder(nn.Module):
    """``skip_channels[k]``: channels of the skip input at scales 1/32 .. 1."""

    def __init__(self, widths: tuple[int, ...], skip_channels: list[int], growth: int) -> None:
        super().__init__()
        self.bottom = conv(skip_channels[0], widths[-1])
        self.bottom_image = nn.Conv2d(widths[-1], 3, 3, padding=1)
        outs = [*reversed(widths[:-1]), widths[0]]  # widths of the blocks at 1/16, 1/8, 1/4, 1/2, 1
        ins = [widths[-1], *outs[:-1]]
        self.blocks = nn.ModuleList(
            DecoderBlock(cin, cskip, cout, growth) for cin, cskip, cout in zip(ins, skip_channels[1:], outs)
        )

    def forward(self, skips: list[torch.Tensor], base: torch.Tensor | None = None) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """``skips`` from coarse (1/32) to fine (1); an optional ``base`` image is added to the
        coarsest prediction. Returns the last feature and the images at every scale, coarse to fine."""
        feature = self.bottom(skips[0])
        image = self.bottom_image(feature)
        if base is not None:
            image = image + base
        images = [image]
        for block, skip in zip(self.blocks, skips[1:]):
            feature, image = block(feature, image, skip)
            images.append(image)
        return feature, images
