"""DenseBlock's fanned-out evaluation against the textbook dense block (concatenate, conv, repeat)."""

from __future__ import annotations

import pytest
import torch

from blur2video.model import blocks
from blur2video.model.blocks import DenseBlock


def textbook_dense(block: DenseBlock, x: torch.Tensor) -> torch.Tensor:
    feats = [x]
    for layer in block.convs:
        feats.append(layer(torch.cat(feats, dim=1)))
    return block.fuse(torch.cat(feats, dim=1))


def test_the_block_fans_out_only_without_gradients(monkeypatch) -> None:
    block, x = DenseBlock(5, 4, 2, 3), torch.randn(1, 5, 8, 8)
    used = []
    monkeypatch.setattr(DenseBlock, "fanned", lambda self, x: used.append("fanned") or x)
    monkeypatch.setattr(DenseBlock, "concatenating", lambda self, x: used.append("concatenating") or x)
    block(x)
    with torch.no_grad():
        block(x)
    with torch.inference_mode():
        block(x)
    assert used == ["concatenating", "fanned", "fanned"]


@pytest.mark.parametrize("layers", [1, 3, 5])
@pytest.mark.parametrize("channels_last", [False, True])
@pytest.mark.parametrize("pad_to", [1, 16])
def test_fanned_dense_block_matches_the_textbook_one(
    layers: int, channels_last: bool, pad_to: int, monkeypatch
) -> None:
    monkeypatch.setattr(blocks, "CPU_CHANNEL_BLOCK", pad_to)
    torch.manual_seed(layers)
    block = DenseBlock(21, 12, 8, layers).double()
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    x = torch.randn(2, 21, 13, 18, dtype=torch.float64, requires_grad=True)
    ours, ref = block.fanned(x.contiguous(memory_format=fmt)), textbook_dense(block, x.contiguous(memory_format=fmt))
    torch.testing.assert_close(ours, ref, rtol=1e-12, atol=1e-12)
    params = [x, *block.parameters()]
    for g_ours, g_ref in zip(
        torch.autograd.grad(ours.square().sum(), params), torch.autograd.grad(ref.square().sum(), params), strict=False
    ):
        torch.testing.assert_close(g_ours, g_ref, rtol=1e-10, atol=1e-10)
    torch.testing.assert_close(block.concatenating(x.contiguous(memory_format=fmt)), ref, rtol=1e-12, atol=1e-12)


def test_fanned_block_counts_the_same_flops_as_the_textbook_one() -> None:
    """count_flops must see the fanned block's piecewise convs and in-place addmm_ transition as the
    same arithmetic as the concatenating block's, or inference GFLOP/s would be misstated."""
    from blur2video.model.flops import count_flops

    block = DenseBlock(21, 12, 8).to(memory_format=torch.channels_last)
    x = torch.rand(1, 21, 32, 48).contiguous(memory_format=torch.channels_last)
    with torch.no_grad():
        fanned = count_flops(lambda: block(x))
    textbook = count_flops(lambda: block(x))
    expected = sum(2 * 9 * (21 + 8 * i) * 8 * 32 * 48 for i in range(5)) + 2 * (21 + 40) * 12 * 32 * 48
    assert fanned == textbook == expected


def test_cached_fanned_weights_follow_parameter_changes() -> None:
    """The fanned block caches its rearranged weights without gradients; an in-place change of a
    parameter (load_state_dict, an optimiser step) or a dtype change must rebuild them."""
    torch.manual_seed(0)
    block, x = DenseBlock(6, 5, 8, 3).eval(), torch.randn(1, 6, 9, 9)
    with torch.inference_mode():
        before = block(x)
    state = {k: v + 0.1 for k, v in block.state_dict().items()}
    block.load_state_dict(state)
    with torch.no_grad():
        after = block(x)
        torch.testing.assert_close(after, block.concatenating(x))
        assert not torch.allclose(before, after)
        block.double()
        torch.testing.assert_close(block(x.double()), block.concatenating(x.double()))
