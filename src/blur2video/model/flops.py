"""FLOP counting for benchmarks, tests and the model table (docs/benchmarks.md, "Model size")."""

from __future__ import annotations

from collections.abc import Callable

from torch.utils.flop_counter import FlopCounterMode


def count_flops(run: Callable[[], object]) -> int:
    """FLOPs (multiply-add = 2) of ``run()``: the model's own arithmetic, as torch counts it."""
    with FlopCounterMode(display=False) as counter:
        run()
    return counter.get_total_flops()
