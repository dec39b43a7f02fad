"""FLOP counting for benchmarks, tests and the model table (docs/benchmarks.md, "Model size")."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch.utils.flop_counter import FlopCounterMode

from . import blocks, dense_cpu


def count_flops(run: Callable[[], object]) -> int:
    """FLOPs (multiply-add = 2) of ``run()``: the model's own arithmetic. On CPU the dense blocks
    pad their convs with zero output rows (blocks.CPU_CHANNEL_BLOCK) that cost no time but would
    count as work; they are switched off while counting so achieved GFLOP/s are not inflated.
    In-place ``addmm_`` (the dense blocks' fanned 1x1 transition) counts like ``addmm``; the dense
    blocks' C kernels are switched off, as torch cannot see their arithmetic."""
    previous, blocks.CPU_CHANNEL_BLOCK = blocks.CPU_CHANNEL_BLOCK, 1
    try:
        with (
            dense_cpu.disabled(),
            FlopCounterMode(display=False, custom_mapping={torch.ops.aten.addmm_: _addmm_flop}) as counter,
        ):
            run()
    finally:
        blocks.CPU_CHANNEL_BLOCK = previous
    return counter.get_total_flops()


def _addmm_flop(
    self_shape: torch.Size,
    a_shape: torch.Size,
    b_shape: torch.Size,
    *args: object,
    out_shape: object = None,
    **kwargs: object,
) -> int:
    """FLOPs of (in-place) addmm given its operands' shapes, as torch counts addmm."""
    return 2 * a_shape[0] * a_shape[1] * b_shape[1]
