"""DenseBlock: the textbook dense block (concatenate, conv, repeat), counted as such."""

from __future__ import annotations

import torch

from blur2video.model.blocks import DenseBlock
from blur2video.model.flops import count_flops


def test_dense_block_counts_its_convolutions_flops() -> None:
    """count_flops sees every dense conv over its growing concatenation and the 1x1 transition, so
    inference GFLOP/s are stated against the block's real arithmetic."""
    block = DenseBlock(21, 12, 8).to(memory_format=torch.channels_last)
    x = torch.rand(1, 21, 32, 48).contiguous(memory_format=torch.channels_last)
    with torch.no_grad():
        flops = count_flops(lambda: block(x))
    expected = sum(2 * 9 * (21 + 8 * i) * 8 * 32 * 48 for i in range(5)) + 2 * (21 + 40) * 12 * 32 * 48
    assert flops == expected


def test_dense_block_is_one_function_with_and_without_gradients() -> None:
    torch.manual_seed(0)
    block, x = DenseBlock(6, 5, 8, 3), torch.randn(1, 6, 9, 9)
    with torch.inference_mode():
        inference = block(x)
    torch.testing.assert_close(block(x), inference, rtol=0, atol=0)
