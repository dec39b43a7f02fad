"""Reusable layers: plain convolutions, LeakyReLU(0.2), dense blocks and the refining block.

Per-frame networks are separate instances of these blocks, not one grouped convolution: on CPU
grouped convolutions of a few channels per group run 1.7-2.5x slower than the same work as
separate convolutions (measured forward and backward, widths 12-96; see
experiments/README.md, "Speed history")."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def conv(cin: int, cout: int, stride: int = 1, dilation: int = 1, act: bool = True) -> nn.Sequential:
    """3x3 convolution followed by LeakyReLU(0.2)."""
    layers: list[nn.Module] = [nn.Conv2d(cin, cout, 3, stride, padding=dilation, dilation=dilation)]
    if act:
        layers.append(nn.LeakyReLU(0.2, inplace=True))
    return nn.Sequential(*layers)


def zero_conv(cin: int, cout: int) -> nn.Conv2d:
    """3x3 conv starting at zero: an image head whose first prediction is "no correction"."""
    layer = nn.Conv2d(cin, cout, 3, padding=1)
    nn.init.zeros_(layer.weight)
    nn.init.zeros_(layer.bias)
    return layer


def image_pyramid(image: torch.Tensor, levels: int) -> list[torch.Tensor]:
    """(B, C, H, W) with H, W multiples of 2**levels -> area-averaged copies at 1/2**levels .. 1."""
    return [F.avg_pool2d(image, 2**k) if k else image for k in range(levels, -1, -1)]


class EncoderBlock(nn.Sequential):
    """Two 3x3 convs, stride 2 then 1 (paper section 4.1)."""

    def __init__(self, cin: int, cout: int) -> None:
        super().__init__(conv(cin, cout, stride=2), conv(cout, cout))


class DenseBlock(nn.Module):
    """``layers`` densely connected 3x3 convs (each reads the concatenation of the input and every
    feature so far), then a 1x1 transition to ``cout`` channels. One form for training and
    inference: the inference-only rewrite (one conv per piece, summed, with C kernels for the
    joins) ran slower than this one on an AVX2 host, and an engine fuses the joins itself
    (docs/benchmarks.md, "Inference engines")."""

    def __init__(self, cin: int, cout: int, growth: int, layers: int = 5) -> None:
        super().__init__()
        self.growth = growth
        self.convs = nn.ModuleList(conv(cin + i * growth, growth) for i in range(layers))
        self.fuse = nn.Sequential(nn.Conv2d(cin + layers * growth, cout, 1), nn.LeakyReLU(0.2, inplace=True))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        feats, joined = [x], x  # a cat of one tensor would still copy it
        for layer in self.convs:
            feats.append(layer(joined))
            joined = torch.cat(feats, dim=1)
        return self.fuse(joined)


def bilinear_upsampler(channels: int) -> nn.ConvTranspose2d:
    """A 4x4 stride-2 transposed conv initialised to exact bilinear 2x upsampling (per channel),
    so a freshly built decoder passes its coarse image up unchanged."""
    up = nn.ConvTranspose2d(channels, channels, 4, 2, 1, groups=channels, bias=False)
    k = torch.tensor([0.25, 0.75, 0.75, 0.25])
    with torch.no_grad():
        up.weight.copy_((k[:, None] * k[None, :]).expand_as(up.weight))
    return up


class DecoderBlock(nn.Module):
    """Upsample the feature and the residual image (4x4 transposed convs, stride 2), concatenate
    the skip, run a dense block and add this scale's correction to the residual. The correction
    conv starts at zero, so a fresh decoder outputs its base images unchanged (see UNetDecoder)."""

    def __init__(self, cin: int, cskip: int, cout: int, growth: int, layers: int = 5) -> None:
        super().__init__()
        self.up_feature = nn.Sequential(nn.ConvTranspose2d(cin, cout, 4, 2, 1), nn.LeakyReLU(0.2, inplace=True))
        self.up_image = bilinear_upsampler(3)
        self.dense = DenseBlock(cout + cskip + 3, cout, growth, layers)
        self.to_image = zero_conv(cout, 3)

    def forward(
        self, feature: torch.Tensor, residual: torch.Tensor, skip: list[torch.Tensor]
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """``skip``: the skip input's parts, concatenated here with the upsampled feature and
        residual in one pass (channels-last parts give a channels-last result)."""
        residual = self.up_image(residual)
        feature = self.dense(torch.cat([self.up_feature(feature), *skip, residual], dim=1))
        return feature, residual + self.to_image(feature)


class RefineBlock(nn.Module):
    """Dilated convs (rates 1, 2, 4, 8, 1) over [feature, image]: a wide receptive field that
    corrects the full-scale image with a residual."""

    def __init__(self, cin: int, width: int) -> None:
        super().__init__()
        rates = (1, 2, 4, 8, 1)
        layers = [conv(cin + 3, width, dilation=rates[0])]
        layers += [conv(width, width, dilation=r) for r in rates[1:]]
        self.body = nn.Sequential(*layers)
        self.to_image = zero_conv(width, 3)

    def forward(self, feature: torch.Tensor, image: torch.Tensor) -> torch.Tensor:
        return image + self.to_image(self.body(torch.cat([feature, image], dim=1)))
