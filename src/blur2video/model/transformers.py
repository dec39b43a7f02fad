"""The paper's spatial transformer network (STN), local warping (LW) layer and the FTN/ITN built
from them (paper section 4.2), for F frames at once.

Every module here serves all F non-middle frames of one level in one pass: the motion heads are
small grouped convolutions over a shared trunk, the warps one batched ``grid_sample`` over B*F
copies, and the outputs (B, F, ...). Warps follow the conventions of :mod:`blur2video.geometry.warp`.
"""

from __future__ import annotations

import torch
from torch import nn

from ..geometry.warp import warp_affine, warp_flow

IDENTITY = (1.0, 0.0, 0.0, 0.0, 1.0, 0.0)


def expand_frames(x: torch.Tensor, frames: int) -> torch.Tensor:
    """(B, C, H, W) -> (B*F, C, H, W): one copy per frame, ready to be warped differently."""
    b, c, h, w = x.shape
    return x.unsqueeze(1).expand(b, frames, c, h, w).reshape(b * frames, c, h, w)


def to_frames_channels_last(parts: list[torch.Tensor], batch: int, frames: int) -> torch.Tensor:
    """(B*F, C_i, H, W) warps (grid_sample writes NCHW) -> (B, F, sum C_i, H, W) whose per-frame
    slices [:, j] are channels-last, so a frame decoder concatenates them with its other inputs
    in one pass and its convs get the layout they run fastest in (see model.network)."""
    joined = parts[0] if len(parts) == 1 else torch.cat(parts, dim=1)
    _, c, h, w = joined.shape
    return joined.contiguous(memory_format=torch.channels_last).view(batch, frames, c, h, w)


class SpatialTransformer(nn.Module):
    """The paper's STN [Jaderberg et al.]: feature -> F global affine matrices (B, F, 2, 3), one per
    non-middle frame. This module is the STN's localisation network; its sampler is the batched
    affine warp its users (FTN, ITN) run. The last layer starts at zero weights and an identity
    bias, so every transformer is the identity at initialisation. Its parameters keep the
    state-dict names of the weights already trained (``localizer.body``, ``localizer.head`` inside
    an FTN or ITN)."""

    def __init__(self, cin: int, frames: int, hidden: int = 16) -> None:
        super().__init__()
        self.frames = frames
        self.body = nn.Sequential(
            nn.Conv2d(cin, hidden * frames, 3, 2, 1),
            nn.LeakyReLU(0.2, inplace=True),
            nn.Conv2d(hidden * frames, hidden * frames, 3, 2, 1, groups=frames),
            nn.LeakyReLU(0.2, inplace=True),
            nn.AdaptiveAvgPool2d(1),
        )
        self.head = nn.Conv2d(hidden * frames, 6 * frames, 1, groups=frames)
        nn.init.zeros_(self.head.weight)
        with torch.no_grad():
            self.head.bias.copy_(torch.tensor(IDENTITY).repeat(frames))

    def forward(self, feature: torch.Tensor) -> torch.Tensor:
        return self.head(self.body(feature)).view(feature.shape[0], self.frames, 2, 3)


class LocalWarpingLayer(nn.Module):
    """The paper's local warping (LW) layer: feature -> F per-pixel motion flows (B, F, 2, H, W) in
    pixels of this level, for the locally varying motion a global affine cannot follow; zero at
    initialisation. The FTN warps the feature by them (Eq. 1). State-dict names: ``flow.body``,
    ``flow.head`` inside an FTN."""

    def __init__(self, cin: int, frames: int, hidden: int = 16) -> None:
        super().__init__()
        self.frames = frames
        self.body = nn.Sequential(
            nn.Conv2d(cin, hidden * frames, 3, 1, 1),
            nn.LeakyReLU(0.2, inplace=True),
            nn.Conv2d(hidden * frames, hidden * frames, 3, 1, 1, groups=frames),
            nn.LeakyReLU(0.2, inplace=True),
        )
        self.head = nn.Conv2d(hidden * frames, 2 * frames, 3, 1, 1, groups=frames)
        nn.init.zeros_(self.head.weight)
        nn.init.zeros_(self.head.bias)

    def forward(self, feature: torch.Tensor) -> torch.Tensor:
        b, _, h, w = feature.shape
        return self.head(self.body(feature)).view(b, self.frames, 2, h, w)


class FeatureTransformer(nn.Module):
    """FTN (paper Eq. 1): [STN warp of E_l ; LW warp of E_l] for each non-middle frame, "a locally
    transformed feature which is concatenated with the globally transformed feature"."""

    def __init__(self, channels: int, frames: int, stn: bool = True, local_warp: bool = True) -> None:
        super().__init__()
        self.frames = frames
        self.localizer = SpatialTransformer(channels, frames) if stn else None  # names kept: the weights' keys
        self.flow = LocalWarpingLayer(channels, frames) if local_warp else None
        self.out_channels = channels * (int(stn) + int(local_warp))

    def forward(
        self, feature: torch.Tensor, theta: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor | None]:
        """Return (warped features (B, F, C', H, W), affines (B, F, 2, 3) or None, flows or None).
        A given ``theta`` (B, F, 2, 3) replaces the estimated affine (tiled inference)."""
        b, _, h, w = feature.shape
        if self.localizer is None:
            theta = None
        elif theta is None:
            theta = self.localizer(feature)
        flow = self.flow(feature) if self.flow is not None else None
        copies = expand_frames(feature, self.frames)
        parts = [warp_affine(copies, theta.reshape(-1, 2, 3))] if theta is not None else []
        if flow is not None:
            parts.append(warp_flow(copies, flow.reshape(-1, 2, h, w)))
        return to_frames_channels_last(parts, b, self.frames), theta, flow


class ImageTransformer(nn.Module):
    """ITN: an STN that warps the middle frame's image at one scale for each non-middle frame,
    its motion estimated from the encoder feature of that scale."""

    def __init__(self, channels: int, frames: int) -> None:
        super().__init__()
        self.frames = frames
        self.localizer = SpatialTransformer(channels, frames)

    def forward(
        self, feature: torch.Tensor, image: torch.Tensor, theta: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Return (warped images (B, F, 3, h, w), affines (B, F, 2, 3)); a given ``theta`` replaces the estimate."""
        b = image.shape[0]
        theta = self.localizer(feature) if theta is None else theta
        warped = warp_affine(expand_frames(image, self.frames), theta.reshape(-1, 2, 3))
        return to_frames_channels_last([warped], b, self.frames), theta
