"""Paper Eqs. 1 and 2 against a reference written from the paper's text alone: every non-middle frame
is its decoder D_j run on the channel-wise concatenation [FTN(E_l) ; ITN(middle image) ; E_l], the
FTN being [STN warp ; LW warp] of E_l. The reference warps with its own sampling grids, joins the
parts with ``torch.cat`` and runs with gradients on (torch's layers); the network without them
(its one-pass CPU paths)."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from blur2video.model import Blur2Video, ModelConfig
from blur2video.model.network import decode_non_middle_frame
from blur2video.model.transformers import LocalWarpingLayer, SpatialTransformer

TINY = dict(base_channels=4, growth=8)


def _affine_warp(x: torch.Tensor, theta: torch.Tensor) -> torch.Tensor:
    """STN sampler: output point q (normalised, pixel centres) samples x at theta @ [q, 1]."""
    _, _, h, w = x.shape
    ys, xs = torch.meshgrid((torch.arange(h) * 2 + 1) / h - 1, (torch.arange(w) * 2 + 1) / w - 1, indexing="ij")
    q = torch.stack([xs, ys, torch.ones_like(xs)], -1)  # (h, w, 3)
    grid = torch.einsum("bij,hwj->bhwi", theta, q)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)


def _flow_warp(x: torch.Tensor, flow: torch.Tensor) -> torch.Tensor:
    """LW sampler: output pixel p samples x at p + flow(p), flow in pixels."""
    _, _, h, w = x.shape
    ys, xs = torch.meshgrid(torch.arange(h, dtype=x.dtype), torch.arange(w, dtype=x.dtype), indexing="ij")
    gx = (2 * (xs + flow[:, 0]) + 1) / w - 1
    gy = (2 * (ys + flow[:, 1]) + 1) / h - 1
    return F.grid_sample(x, torch.stack([gx, gy], -1), mode="bilinear", padding_mode="zeros", align_corners=False)


def _moving_model(frames: int, **switches: bool) -> Blur2Video:
    """A network whose transformers and image heads are no longer the identity / zero."""
    torch.manual_seed(0)
    model = Blur2Video(ModelConfig(frames=frames, **TINY, **switches)).eval()
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, (SpatialTransformer, LocalWarpingLayer)):
                torch.nn.init.normal_(m.head.weight, std=0.05)
        for name, p in model.named_parameters():
            if "image" in name and p.dim() == 4:
                torch.nn.init.normal_(p, std=0.02)
    return model


@pytest.mark.parametrize("switches", [{}, {"itn": False}, {"stn": False}, {"local_warp": False}], ids=str)
def test_every_non_middle_frame_is_eq2_of_eq1(switches: dict) -> None:
    model, blur = _moving_model(5, **switches), torch.rand(1, 3, 64, 96)
    with torch.no_grad():
        out = model(blur)
    cfg = model.config
    _, feats, middle = model.middle_path(blur)  # the encoder and the middle frame: Eq. 2's inputs
    feats, middle = [f.detach() for f in feats], [m.detach() for m in middle]
    others = [j for j in range(cfg.frames) if j != cfg.middle]
    for j, decoder in enumerate(model.frame_decoders):
        ftn = []  # Eq. 1 per level: [STN warp of E_l ; LW warp of E_l]
        for level, e in enumerate(feats):
            parts = []
            if cfg.stn:
                parts.append(_affine_warp(e, model.ftn[level].localizer(e)[:, j]))
            if cfg.local_warp:
                parts.append(_flow_warp(e, model.ftn[level].flow(e)[:, j]))
            ftn.append(torch.cat(parts, 1))
        itn = (
            [
                _affine_warp(image, model.itn[s].localizer(feats[level])[:, j])
                for s, (level, image) in enumerate(zip(model.itn_levels, middle, strict=True))
            ]
            if cfg.itn
            else None
        )
        skips = []  # Eq. 2: one tensor per scale, coarse (1/32, E_5) to fine (1, the blur)
        for s, level in enumerate((4, 3, 2, 1, 0)):
            skips.append([torch.cat([ftn[level], *([itn[s]] if itn else []), feats[level]], 1)])
        skips.append([torch.cat([blur, *([itn[5]] if itn else [])], 1)])
        _, images = decoder(skips, itn if itn else middle)
        for s, image in enumerate(images):
            torch.testing.assert_close(out.scales[s][:, others[j]], image.detach(), rtol=1e-4, atol=2e-5)
    assert not torch.allclose(out.frames[:, 0], out.frames[:, cfg.middle], atol=1e-3)  # the frames moved


def test_decode_non_middle_frame_concatenates_the_paper_parts_in_order() -> None:
    model = _moving_model(3)
    decoder = model.frame_decoders[0]
    torch.manual_seed(1)
    w, c = model.config.widths, model.ftn[0].out_channels // model.config.widths[0]
    shapes = [(32, 48), (16, 24), (8, 12), (4, 6), (2, 3)]
    encoded = [torch.rand(1, w[k], *shapes[k]) for k in range(5)]
    transformed = [torch.rand(1, c * w[k], *shapes[k]) for k in range(5)]
    sizes = [(2, 3), (4, 6), (8, 12), (16, 24), (32, 48), (64, 96)]
    warped = [torch.rand(1, 3, *hw) for hw in sizes]
    middle = [torch.rand(1, 3, *hw) for hw in sizes]
    blur = torch.rand(1, 3, 64, 96)
    with torch.no_grad():
        images = decode_non_middle_frame(decoder, encoded, blur, transformed, warped, middle)
        levels = (4, 3, 2, 1, 0)
        joined = [[torch.cat([transformed[k], warped[s], encoded[k]], 1)] for s, k in enumerate(levels)]
        _, expected = decoder([*joined, [torch.cat([blur, warped[5]], 1)]], warped)
    for got, want in zip(images, expected, strict=True):
        torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-6)
