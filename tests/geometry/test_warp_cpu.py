"""The one-pass C warps (blur2video.geometry.warp_cpu) against grid_sample's (geometry.warp), and
the transformers' use of them against their torch path."""

from __future__ import annotations

import pytest
import torch

from blur2video.geometry import warp_cpu
from blur2video.geometry.warp import warp_affine, warp_flow
from blur2video.model.transformers import FeatureTransformer, ImageTransformer, expand_frames

needs_kernel = pytest.mark.skipif(
    not warp_cpu.available(), reason="the C kernel was not built (no C compiler at install)"
)
CL = torch.channels_last


@needs_kernel
@pytest.mark.parametrize("channels", [3, 12, 7, 24])
def test_warps_match_grid_sample(channels: int) -> None:
    """Affine and flow warps of two batch items into channel slices of one output, with motions
    that push samples across every border (zero padding), against grid_sample per frame."""
    torch.manual_seed(channels)
    b, f, h, w = 2, 3, 11, 17
    x = torch.randn(b, channels, h, w).contiguous(memory_format=CL)
    theta = torch.tensor([1.0, 0, 0, 0, 1, 0]).repeat(b * f, 1).view(-1, 2, 3) + 0.3 * torch.randn(b * f, 2, 3)
    flow = 4 * torch.randn(b * f, 2, h, w)
    out = torch.full((b * f, 2 * channels + 2, h, w), float("nan")).contiguous(memory_format=CL)
    with torch.inference_mode():
        warp_cpu.warp_frames_into(out, 1, x, theta=theta)
        warp_cpu.warp_frames_into(out, channels + 1, x, flow=flow)
    copies = expand_frames(x, f)
    torch.testing.assert_close(out[:, 1 : channels + 1], warp_affine(copies, theta), rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(out[:, channels + 1 : 2 * channels + 1], warp_flow(copies, flow), rtol=1e-4, atol=1e-4)
    assert out[:, 0].isnan().all() and out[:, -1].isnan().all()  # nothing written outside the slices


@needs_kernel
def test_identity_and_integer_shift_are_exact() -> None:
    x = torch.randn(1, 12, 9, 13).contiguous(memory_format=CL)
    flow = torch.zeros(2, 2, 9, 13)
    flow[1, 0] = 2.0  # frame 1 samples two pixels to the right
    out = torch.empty(2, 12, 9, 13).contiguous(memory_format=CL)
    with torch.inference_mode():
        warp_cpu.warp_frames_into(out, 0, x, flow=flow)
    assert torch.equal(out[0], x[0])
    assert torch.equal(out[1, :, :, :11], x[0, :, :, 2:]) and not out[1, :, :, 11:].any()


@needs_kernel
def test_bad_tensors_are_refused() -> None:
    x = torch.randn(1, 4, 5, 5).contiguous(memory_format=CL)
    theta = torch.eye(2, 3).unsqueeze(0)
    with torch.inference_mode():
        for out in (
            torch.empty(1, 4, 5, 5),
            torch.empty(1, 4, 5, 6).contiguous(memory_format=CL),
            torch.empty(1, 3, 5, 5).contiguous(memory_format=CL),
        ):
            with pytest.raises(ValueError):
                warp_cpu.warp_frames_into(out, 0, x, theta=theta)
        assert not warp_cpu.usable(x.contiguous()) and not warp_cpu.usable(x.double())
    assert not warp_cpu.usable(x)  # gradients on: the differentiable torch path


@needs_kernel
def test_transformers_match_their_torch_path(monkeypatch) -> None:
    torch.manual_seed(0)
    ftn, itn = FeatureTransformer(12, 4).eval(), ImageTransformer(12, 4).eval()
    for module in (ftn.localizer.head, ftn.flow.head, itn.localizer.head):  # leave the identity/zero start
        torch.nn.init.normal_(module.weight, std=0.05)
    feature = torch.randn(1, 12, 10, 14).contiguous(memory_format=CL)
    image = torch.randn(1, 3, 10, 14)  # NCHW: the ITN takes either layout
    with torch.inference_mode():
        fast_f, fast_i = ftn(feature), itn(feature, image)
        monkeypatch.setattr(warp_cpu, "usable", lambda x: False)
        slow_f, slow_i = ftn(feature), itn(feature, image)
    for fast, slow in ((fast_f[0], slow_f[0]), (fast_i[0], slow_i[0])):
        assert fast.shape == slow.shape and fast[:, 0].is_contiguous(memory_format=CL)
        torch.testing.assert_close(fast, slow, rtol=1e-4, atol=1e-4)
