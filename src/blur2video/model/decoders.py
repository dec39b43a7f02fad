"""The U-Net decoder used for the middle frame and, one instance per frame, for the others.

Both are U-Net decoders over the encoder levels: a bottom conv at 1/32 scale, then 5 decoder
blocks up to full scale, each predicting an image at its scale. Skips at level k are E_k for
the middle decoder and [FTN(E_k), ITN(middle image), E_k] for the frame decoders (paper Eq. 2,
``network.decode_non_middle_frame``);
at full scale, where no encoder feature exists, the blurred input (and the ITN image) serve.

Each scale's image is a base image plus a residual pyramid the decoder builds coarse to fine
(upsampled residual + this scale's correction). The bases are the blur at that scale for the
middle frame and the ITN-warped middle image for the others, and the image heads start at zero:
a fresh network outputs the blur (middle) and identity-warped middle frames, about 30 dB on
small blur instead of noise, which shortens CPU training a lot.
"""

from __future__ import annotations

import torch
from torch import nn

from .blocks import DecoderBlock, conv, zero_conv


class UNetDecoder(nn.Module):
    """``skip_channels[k]``: channels of the skip input at scales 1/32 .. 1; ``layers``: dense
    convs of the blocks at 1/16 .. 1."""

    def __init__(
        self, widths: tuple[int, ...], skip_channels: list[int], growth: int, layers: tuple[int, ...] = (5,) * 5
    ) -> None:
        super().__init__()
        self.bottom = conv(skip_channels[0], widths[-1])
        self.bottom_image = zero_conv(widths[-1], 3)
        outs = [*reversed(widths[:-1]), widths[0]]  # widths of the blocks at 1/16, 1/8, 1/4, 1/2, 1
        ins = [widths[-1], *outs[:-1]]
        self.blocks = nn.ModuleList(
            DecoderBlock(cin, cskip, cout, growth, n)
            for cin, cskip, cout, n in zip(ins, skip_channels[1:], outs, layers, strict=False)
        )

    def forward(
        self, skips: list[list[torch.Tensor]], bases: list[torch.Tensor]
    ) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """``skips`` (each a list of parts, concatenated by the blocks) and ``bases`` from coarse
        (1/32) to fine (1). Returns the last feature and the images (base + residual) at every
        scale, coarse to fine."""
        feature = self.bottom(skips[0][0] if len(skips[0]) == 1 else torch.cat(skips[0], dim=1))
        residual = self.bottom_image(feature)
        images = [bases[0] + residual]
        for block, skip, base in zip(self.blocks, skips[1:], bases[1:], strict=False):
            feature, residual = block(feature, residual, skip)
            images.append(base + residual)
        return feature, images
