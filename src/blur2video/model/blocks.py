"""Reusable layers. Every block takes ``groups``: G independent copies (one per frame) run as
one grouped convolution over channels laid out frame-major, (B, G*C, H, W), so the non-middle
decoders of all frames execute as a single batched network instead of a Python loop."""

from __future__ import annotations

import torch
from torch import nn


def group_cat(tensors: list[torch.Tensor], groups: int) -> torch.Tensor:
    """Concatenate frame-major tensors channel-wise within each group (keeps the G*C layout)."""
    if groups == 1:
        return torch.cat(tensors, dim=1)
    b, _, h, w = tensors[0].shape
    parts = [t.reshape(b, groups, -1, h, w) for t in tensors]
    return torch.cat(parts, dim=2).reshape(b, -1, h, w)


def conv(cin: int, cout: int, stride: int = 1, groups: int = 1, dilation: int = 1, act: bool = True) -> nn.Sequential:
    """3x3 convolution (per group) followed by LeakyReLU(0.2)."""
    layers: list[nn.Module] = [
        nn.Conv2d(cin * groups, cout * groups, 3, stride, padding=dilation, dilation=dilation, groups=groups)
    ]
    if act:
        layers.append(nn.LeakyReLU(0.2, inplace=True))
    return nn.Sequential(*layers)


class EncoderBlock(nn.Sequential):
    """Two 3x3 convs, stride 2 then 1 (paper section 4.1)."""

    def __init__(self, cin: int, cout: int) -> None:
        super().__init__(conv(cin, cout, stride=2), conv(cout, cout))


class DenseBlock(nn.Module):
    """``layers`` densely connected 3x3 convs, then a 1x1 transition to ``cout`` channels."""

    def __init__(self, cin: int, cout: int, growth: int, layers: int = 5, groups: int = 1) -> None:
        super().__init__()
        self.groups = groups
        self.convs = nn.ModuleList(conv(cin + i * growth, growth, groups=groups) for i in range(layers))
        self.fuse = nn.Sequential(
            nn.Conv2d((cin + layers * growth) * groups, cout * groups, 1, groups=groups), nn.LeakyReLU(0.2, inplace=True)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        feats = [x]
        for layer in self.convs:
            feats.append(layer(group_cat(feats, self.groups)))
        return self.fuse(group_cat(feats, self.groups))


def bilinear_upsampler(channels: int, groups: int = 1) -> nn.ConvTranspose2d:
    """A 4x4 stride-2 transposed conv initialised to exact bilinear 2x upsampling (per channel),
    so a freshly built decoder passes its coarse image up unchanged."""
    up = nn.ConvTranspose2d(channels * groups, channels * groups, 4, 2, 1, groups=channels * groups, bias=False)
    k = torch.tensor([0.25, 0.75, 0.75, 0.25])
    with torch.no_grad():
        up.weight.copy_((k[:, None] * k[None, :]).expand_as(up.weight))
    return up


class DecoderBlock(nn.Module):
    """Upsample feature and image (4x4 transposed convs, stride 2), concatenate the skip, run a
    dense block and predict this scale's image as a residual on the upsampled one."""

    def __init__(self, cin: int, cskip: int, cout: int, growth: int, groups: int = 1) -> None:
        super().__init__()
        self.groups = groups
        self.up_feature = nn.Sequential(
            nn.ConvTranspose2d(cin * groups, cout * groups, 4, 2, 1, groups=groups), nn.LeakyReLU(0.2, inplace=True)
        )
        self.up_image = bilinear_upsampler(3, groups)
        self.dense = DenseBlock(cout + cskip + 3, cout, growth, groups=groups)
        self.to_image = nn.Conv2d(cout * groups, 3 * groups, 3, padding=1, groups=groups)

    def forward(self, feature: torch.Tensor, image: torch.Tensor, skip: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        image = self.up_image(image)
        feature = self.dense(group_cat([self.up_feature(feature), skip, image], self.groups))
        return feature, image + self.to_image(feature)


class RefineBlock(nn.Module):
    """Dilated convs (rates 1, 2, 4, 8, 1) over [feature, image]: a wide receptive field that
    corrects the full-scale image with a residual."""

    def __init__(self, cin: int, width: int) -> None:
        super().__init__()
        rates = (1, 2, 4, 8, 1)
        layers = [conv(cin + 3, width, dilation=rates[0])]
        layers += [conv(width, width, dilation=r) for r in rates[1:]]
        self.body = nn.Sequential(*layers)
        self.to_image = nn.Conv2d(width, 3, 3, padding=1)

    def forward(self, feature: torch.Tensor, image: torch.Tensor) -> torch.Tensor:
        return image + self.to_image(self.body(torch.cat([feature, image], dim=1)))
