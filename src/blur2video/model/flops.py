"""FLOP counting for benchmarks, tests and the README's model table."""

from __future__ import annotations

from typing import Callable

from torch.utils.flop_counter import FlopCounterMode

from . import blocks


def count_flops(run: Callable[[], object]) -> int:
    """FLOPs (multiply-add = 2) of ``run()``: the model's own arithmetic. On CPU the dense blocks
    pad their convs with zero output rows (blocks.CPU_CHANNEL_BLOCK) that cost no time but would
    count as work; they are switched off while counting so achieved GFLOP/s are not inflated."""
    previous, blocks.CPU_CHANNEL_BLOCK = blocks.CPU_CHANNEL_BLOCK, 1
    try:
        with FlopCounterMode(display=False) as counter:
            run()
    finally:
        blocks.CPU_CHANNEL_BLOCK = previous
    return counter.get_total_flops()
