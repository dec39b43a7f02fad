"""Warp functions: identity, exact integer shifts, function == module, gradcheck in float64."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from blur2video.geometry.warp import AffineWarp, FlowWarp, affine_grid, affine_to_flow, warp_affine, warp_flow


def test_affine_grid_is_torchs_at_every_size_down_to_one_pixel() -> None:
    """Ours (which torch's ONNX exporter takes at a side of one pixel) against F.affine_grid."""
    theta = torch.eye(2, 3).expand(4, 2, 3) + 0.2 * torch.randn(4, 2, 3, generator=torch.Generator().manual_seed(0))
    for h, w in [(1, 1), (1, 7), (5, 1), (2, 3), (32, 48)]:
        want = F.affine_grid(theta, [4, 1, h, w], align_corners=False)
        torch.testing.assert_close(affine_grid(theta, h, w), want, atol=1e-6, rtol=0)


def test_zero_flow_and_identity_affine_are_the_identity() -> None:
    x = torch.rand(2, 4, 9, 13, dtype=torch.float64)
    assert torch.allclose(warp_flow(x, torch.zeros(2, 2, 9, 13, dtype=torch.float64)), x, atol=1e-12)
    theta = torch.tensor([[1.0, 0, 0], [0, 1.0, 0]], dtype=torch.float64).expand(2, 2, 3)
    assert torch.allclose(warp_affine(x, theta), x, atol=1e-12)


def test_integer_shift_is_exact() -> None:
    """Exact up to float64 rounding of the normalised grid."""
    x = torch.rand(1, 3, 10, 12, dtype=torch.float64)
    flow = torch.zeros(1, 2, 10, 12, dtype=torch.float64)
    flow[:, 0] = 2.0  # sample 2 px to the right
    flow[:, 1] = -1.0  # and 1 px up
    out = warp_flow(x, flow)
    assert torch.allclose(out[:, :, 1:, :-2], x[:, :, :-1, 2:], atol=1e-12, rtol=0)
    assert out[:, :, :, -2:].abs().max() < 1e-12 and out[:, :, 0].abs().max() < 1e-12  # zero padding


def test_module_equals_function() -> None:
    x, flow = torch.rand(1, 2, 6, 7), torch.randn(1, 2, 6, 7)
    theta = torch.tensor([[[0.9, 0.1, 0.05], [-0.1, 1.1, 0.0]]])
    assert torch.equal(FlowWarp()(x, flow), warp_flow(x, flow))
    assert torch.equal(AffineWarp()(x, theta), warp_affine(x, theta))


def test_affine_equals_flow_warp_with_its_flow() -> None:
    x = torch.rand(1, 3, 16, 20, dtype=torch.float64)
    theta = torch.tensor([[[0.95, 0.05, 0.02], [-0.03, 1.02, -0.04]]], dtype=torch.float64)
    assert torch.allclose(warp_flow(x, affine_to_flow(theta, 16, 20)), warp_affine(x, theta), atol=1e-9)


def test_gradcheck_float64() -> None:
    x = torch.rand(1, 2, 5, 6, dtype=torch.float64, requires_grad=True)
    flow = (torch.rand(1, 2, 5, 6, dtype=torch.float64) * 0.6 + 0.2).requires_grad_()  # away from pixel kinks
    assert torch.autograd.gradcheck(warp_flow, (x, flow))
    # chosen so that no sample lands within 0.01 px of a pixel centre, where bilinear has kinks
    theta = torch.tensor([[[0.93, 0.11, 0.037], [-0.07, 1.05, 0.021]]], dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(warp_affine, (x, theta))
