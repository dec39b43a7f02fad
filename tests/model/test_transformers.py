"""The local warping layer's per-frame inference form against its grouped-convolution form."""

from __future__ import annotations

import torch

from blur2video.model.flops import count_flops
from blur2video.model.transformers import LocalWarpingLayer


def test_per_frame_flow_equals_the_grouped_form_in_values_and_flops() -> None:
    torch.manual_seed(0)
    estimator = LocalWarpingLayer(12, 6).eval()
    torch.nn.init.normal_(estimator.head.weight, std=0.05)  # leave the zero start: a real comparison
    x = torch.randn(2, 12, 20, 28).contiguous(memory_format=torch.channels_last)
    with torch.no_grad():
        per_frame, per_frame_flops = estimator(x), count_flops(lambda: estimator(x))
    grouped, grouped_flops = estimator(x), count_flops(lambda: estimator(x))  # gradients on: the grouped form
    assert per_frame.shape == (2, 6, 2, 20, 28)
    torch.testing.assert_close(per_frame, grouped, rtol=1e-5, atol=1e-6)
    assert per_frame_flops == grouped_flops
