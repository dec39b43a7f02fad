"""The dense blocks' C kernels (blur2video.model.dense_cpu) against the textbook dense block."""

from __future__ import annotations

import shutil
import sysconfig

import pytest
import torch

from blur2video.model import dense_cpu
from blur2video.model.blocks import DenseBlock

from .test_blocks import textbook_dense

needs_kernels = pytest.mark.skipif(
    not dense_cpu.available(), reason="the C kernels were not built (no C compiler at install)"
)
CL = torch.channels_last


def test_kernels_are_built_where_a_compiler_exists() -> None:
    if shutil.which(sysconfig.get_config_var("CC").split()[0] if sysconfig.get_config_var("CC") else "cc"):
        assert dense_cpu.available(), "pip install -e . should have built blur2video/model/_dense_cpu.c"


@needs_kernels
@pytest.mark.parametrize(
    "cin, cout, growth, layers",
    [(21, 12, 8, 5), (54, 24, 8, 3), (18, 12, 8, 1), (5, 7, 16, 2), (390, 96, 8, 5), (30, 100, 8, 2), (9, 260, 8, 2)],
)
def test_kernel_block_matches_the_textbook_one(cin: int, cout: int, growth: int, layers: int, monkeypatch) -> None:
    """Every span the kernel specialises (16, 24, 96), the generic one (104) and one too wide for
    it (264: the torch transition, which then also computes the last feature), batch 2, a size
    that is no multiple of the kernels' tiles, and inputs of both signs (the activation once was
    sign-dependent)."""
    torch.manual_seed(cout)
    block = DenseBlock(cin, cout, growth, layers).eval().to(memory_format=CL)
    x = torch.randn(2, cin, 13, 19).contiguous(memory_format=CL)
    monkeypatch.setattr(dense_cpu, "MIN_PIXELS", 1)
    calls = {"step": 0, "fuse": 0}
    for name in calls:
        real = getattr(dense_cpu, name)
        monkeypatch.setattr(
            dense_cpu,
            name,
            lambda *a, _real=real, _name=name, **k: calls.__setitem__(_name, calls[_name] + 1) or _real(*a, **k),
        )
    with torch.inference_mode():
        ours = block(x)
    ref = textbook_dense(block.double(), x.double())
    assert calls == {"step": max(layers - 1, 1), "fuse": 1}  # the last feature is computed inside the transition
    assert ours.is_contiguous(memory_format=CL)
    torch.testing.assert_close(ours, ref.float(), rtol=1e-5, atol=1e-5)


@needs_kernels
def test_kernels_are_bypassed_where_they_do_not_apply(monkeypatch) -> None:
    """Float64, a growth that is no multiple of 8, NCHW input, gradients, or the switch off: the torch path."""
    monkeypatch.setattr(dense_cpu, "step", lambda *a, **k: pytest.fail("the kernel path was taken"))
    cases = [
        (DenseBlock(6, 4, 8, 2).double(), torch.randn(1, 6, 8, 8, dtype=torch.float64).contiguous(memory_format=CL)),
        (DenseBlock(6, 4, 12, 2), torch.randn(1, 6, 8, 8).contiguous(memory_format=CL)),
        (DenseBlock(6, 4, 8, 2), torch.randn(1, 6, 8, 8)),
    ]
    for block, x in cases:
        with torch.no_grad():
            torch.testing.assert_close(block(x), textbook_dense(block, x))
    block, x = cases[0][0].float(), cases[0][1].float()
    block(x)  # gradients on: the concatenating form
    with torch.no_grad(), dense_cpu.disabled():
        block(x)


@needs_kernels
def test_step_and_fuse_refuse_tensors_they_cannot_take() -> None:
    acc = torch.randn(1, 24, 4, 4).contiguous(memory_format=CL)
    with torch.inference_mode():
        assert dense_cpu.step(acc.contiguous(), 0, None, 8, 16, 0.2) is None  # NCHW
        assert dense_cpu.step(acc, 0, None, 8, 24, 0.2) is None  # past the accumulator's channels
        assert dense_cpu.step(acc, 0, None, 8, 4, 0.2) is None  # not a multiple of 8
        assert dense_cpu.step(acc, 0, None, 8, 8, 2.0) is None  # not a LeakyReLU slope in [0, 1]
        assert (
            dense_cpu.fuse([acc, acc[:, :8].contiguous()], torch.randn(30, 4), torch.zeros(4), 0.2) is None
        )  # weight rows
        feat = dense_cpu.step(acc, 8, None, 8, 8, 0.2)
    torch.testing.assert_close(feat, torch.nn.functional.leaky_relu(acc[:, 8:16], 0.2))


@needs_kernels
@pytest.mark.parametrize("slopes", [None, [0.2, 1.0, 0.0]])
def test_cat_matches_torch(slopes, monkeypatch) -> None:
    """The concatenation kernel against torch.cat of the activated parts, with a part that is a
    strided view (the torch path) and with dense parts (the kernel)."""
    monkeypatch.setattr(dense_cpu, "MIN_PIXELS", 1)
    parts = [torch.randn(2, c, 5, 7).contiguous(memory_format=CL) for c in (12, 3, 5)]
    acts = slopes or [1.0] * 3
    ref = torch.cat([torch.nn.functional.leaky_relu(p, s) for p, s in zip(parts, acts, strict=False)], dim=1)
    with torch.inference_mode():
        got = dense_cpu.cat(parts, slopes)
        strided = dense_cpu.cat([parts[0][:, :6], *parts[1:]], slopes)
    assert got.is_contiguous(memory_format=CL)
    torch.testing.assert_close(got, ref, rtol=0, atol=0)
    torch.testing.assert_close(strided, torch.cat([ref[:, :6], ref[:, 12:]], dim=1), rtol=0, atol=0)
