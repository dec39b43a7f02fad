"""Reusable layers: plain convolutions, LeakyReLU(0.2), dense blocks and the refining block.

Per-frame networks are separate instances of these blocks, not one grouped convolution: on CPU
grouped convolutions of a few channels per group run 1.7-2.5x slower than the same work as
separate convolutions (measured forward and backward, widths 12-96; see
experiments/README.md, "Speed history")."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from . import dense_cpu

CPU_CHANNEL_BLOCK = 16  # oneDNN's AVX-512 convs compute output channels in blocks of 16


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
    """``layers`` densely connected 3x3 convs, then a 1x1 transition to ``cout`` channels.

    Without gradients (restore, eval) the block runs "fanned out": a conv over the concatenation
    of x_0..x_i is the sum of one conv per piece, so each new feature x_k runs through one conv
    holding its weights for every later layer, added into an accumulator; the 1x1 transition is
    summed piece by piece too (see _fanned_fuse). No concatenation at all instead of ``layers``
    growing ones, and convs with 8-40 outputs instead of ``growth``; on CPU the outputs are padded
    to CPU_CHANNEL_BLOCK (a 21->8 conv takes as long as 21->16). A full-scale 720p block drops from
    390 to ~230 ms (earlier host; 145 ms on the Zen 5 one). Training keeps the plain concatenating
    form: there the fanned one's in-place accumulation makes backward slower (0.44 vs 0.37 s per
    step at 96x96; experiments/README.md, "Speed history").
    """

    def __init__(self, cin: int, cout: int, growth: int, layers: int = 5) -> None:
        super().__init__()
        self.growth = growth
        self._fanned_cache: tuple[tuple, list] = ((), [])
        self.convs = nn.ModuleList(conv(cin + i * growth, growth) for i in range(layers))
        self.fuse = nn.Sequential(nn.Conv2d(cin + layers * growth, cout, 1), nn.LeakyReLU(0.2, inplace=True))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fanned(x) if not torch.is_grad_enabled() else self.concatenating(x)

    def concatenating(self, x: torch.Tensor) -> torch.Tensor:
        """The textbook dense block: concatenate everything so far, conv, repeat."""
        feats, joined = [x], x  # a cat of one tensor would still copy it
        for layer in self.convs:
            feats.append(layer(joined))
            joined = torch.cat(feats, dim=1)
        return self.fuse(joined)

    def fanned(self, x: torch.Tensor) -> torch.Tensor:
        """The same function with one conv per input piece (see the class docstring). On CPU the
        accumulation and the transition run as one-pass C kernels where they were built
        (:mod:`blur2video.model.dense_cpu`), else as torch ops."""
        g, n = self.growth, len(self.convs)
        native = dense_cpu.usable(x, g)
        feats, acc, last = [x], x, None
        for k, (weight, bias) in enumerate(self.fanned_weights(x.device.type)):
            out = F.conv2d(feats[k], weight, bias, padding=1)
            acc = out if k == 0 else acc
            if native and k == n - 1 and k:  # only the transition reads the last feature: it is computed there
                last = (acc, k * g, out)
                break
            feat = dense_cpu.step(acc, k * g, None if k == 0 else out, g, (n - k - 1) * g, 0.2) if native else None
            if feat is None:
                if k:
                    acc[:, k * g : n * g] += out[:, : (n - k) * g]
                # a channel slice of a channels-last tensor is strided: copy it out, then activate in place
                feat = F.leaky_relu_(acc[:, k * g : (k + 1) * g].contiguous(memory_format=torch.channels_last), 0.2)
            feats.append(feat)
        weight = self.fuse[0].weight.flatten(1).t()
        fused = dense_cpu.fuse(feats, weight, self.fuse[0].bias, 0.2, last) if native else None
        if fused is None and last is not None:  # the kernel declined after all: finish the torch way
            acc, offset, out = last
            feats.append(
                F.leaky_relu_(acc[:, offset : offset + g] + out[:, :g], 0.2).contiguous(
                    memory_format=torch.channels_last
                )
            )
        return fused if fused is not None else self._fanned_fuse(feats)

    def _fanned_fuse(self, feats: list[torch.Tensor]) -> torch.Tensor:
        """The 1x1 transition over the concatenation, as a sum of one matrix product per piece
        (pixels x channels, a view of a channels-last tensor) accumulated in place: a channel
        concatenation of narrow channels-last pieces copies at a third of memory speed, so this
        takes 20 instead of 37 ms for a full-scale 720p block."""
        b, _, h, w = feats[0].shape
        weight = self.fuse[0].weight.flatten(1)
        out, start = None, 0
        for piece in feats:
            rows = piece.permute(0, 2, 3, 1).reshape(-1, piece.shape[1])  # a view when channels-last
            part = weight[:, start : start + piece.shape[1]].t()
            out = torch.addmm(self.fuse[0].bias, rows, part) if out is None else out.addmm_(rows, part)
            start += piece.shape[1]
        return F.leaky_relu_(out, 0.2).view(b, h, w, -1).permute(0, 3, 1, 2)

    def fanned_weights(self, device_type: str) -> list[tuple[torch.Tensor, torch.Tensor | None]]:
        """Every layer's fanned weights (k, then padded rows on CPU). Without gradients they are
        rebuilt only when a parameter changed (in place, as ``load_state_dict`` and optimisers do,
        or replaced): rebuilding them took about 1 ms per block, 35 ms of a 720p forward of the
        small preset. Blur2Video asks for them before its first activation, so the cached tensors
        sit below the activations in the heap instead of between them (interleaved, they
        fragmented it: +500 MB peak memory at 720p)."""
        pad_to = CPU_CHANNEL_BLOCK if device_type == "cpu" else 1
        cin = self.convs[0][0].in_channels
        widths = [cin] + [self.growth] * (len(self.convs) - 1)
        starts = [sum(widths[:k]) for k in range(len(widths))]
        if torch.is_grad_enabled():  # differentiable, never cached
            return [
                self._fanned_weights(k, start, width, pad_to)
                for k, (start, width) in enumerate(zip(starts, widths, strict=False))
            ]
        key = (pad_to, cin, *((id(p), p.data_ptr(), p._version, p.dtype, p.device) for p in self.parameters()))
        if self._fanned_cache[0] != key:
            with torch.inference_mode(False):  # ordinary tensors, usable in and out of inference mode
                weights = [
                    self._fanned_weights(k, start, width, pad_to)
                    for k, (start, width) in enumerate(zip(starts, widths, strict=False))
                ]
            self._fanned_cache = (key, weights)
        return self._fanned_cache[1]

    def _fanned_weights(self, k: int, start: int, width: int, pad_to: int) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Weights of layers k.. for input channels [start, start + width): (rows, width, 3, 3)."""
        weight = torch.cat([c[0].weight[:, start : start + width] for c in self.convs[k:]])
        bias = torch.cat([c[0].bias for c in self.convs]) if k == 0 else None
        pad = -weight.shape[0] % pad_to
        if pad:
            weight = F.pad(weight, (0, 0, 0, 0, 0, 0, 0, pad))
            bias = F.pad(bias, (0, pad)) if bias is not None else None
        return weight, bias


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
        up = self.up_feature[0](feature)  # activated inside the concatenation (slope of up_feature[1])
        feature = self.dense(
            dense_cpu.cat([up, *skip, residual], [self.up_feature[1].negative_slope] + [1.0] * (len(skip) + 1))
        )
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
        return image + self.to_image(self.body(dense_cpu.cat([feature, image])))
